"""Password hashing and JWT issue/verify."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError

from core.config import Settings

SCOPE_ITEMS_WRITE = "items:write"
SCOPE_AAA_ADMIN = "aaa:admin"
KNOWN_SCOPES = {
    SCOPE_ITEMS_WRITE: "Create, change and delete items.",
    SCOPE_AAA_ADMIN: "Manage users and read the audit trail.",
}

password_hash = PasswordHash.recommended()
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = password_hash.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Argon2 hash of a password."""
    return password_hash.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """True if `password` matches `hashed`; a missing hash never matches."""
    if hashed is None:
        password_hash.verify(password, _DUMMY_HASH)
        return False
    try:
        return password_hash.verify(password, hashed)
    except (PwdlibError, ValueError):  # a corrupt stored hash must not become a 500
        return False


def create_access_token(
    settings: Settings,
    secret: str,
    subject: str,
    scopes: list[str],
    expires_minutes: int | None = None,
) -> tuple[str, int]:
    """Sign a token for `subject` with `scopes`; returns the token and its lifetime in seconds."""
    lifetime = timedelta(minutes=expires_minutes or settings.access_token_expire_minutes)
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, secret, algorithm=settings.jwt_algorithm)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, secret: str, token: str) -> dict[str, Any]:
    """Verify signature and claims; raises jwt.InvalidTokenError on any fault."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=[settings.jwt_algorithm],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway=settings.jwt_leeway_seconds,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
    if not isinstance(claims.get("scope", ""), str):
        raise jwt.InvalidTokenError("scope must be a string")
    return claims
