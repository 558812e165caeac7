"""Password hashing and JWT issue/verify."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

from core.config import Settings
from core.keys import KeyRing

SCOPE_ITEMS_WRITE = "items:write"
SCOPE_AAA_ADMIN = "aaa:admin"
KNOWN_SCOPES = {
    SCOPE_ITEMS_WRITE: "Create, change and delete items.",
    SCOPE_AAA_ADMIN: "Manage users and read the audit trail.",
}

# OWASP's argon2id baseline (19 MiB, t=2, p=1): each hash holds its memory while it runs.
password_hash = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
# Two dedicated threads do all hashing: at most two hashes run at once, and since malloc keeps an arena per
# thread, only two threads ever hold argon2's buffers. A burst of logins queues instead of exhausting memory.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _HASHING.submit(password_hash.hash, "not-a-real-password").result()

# Numeric date claims must be plain integers or floats in this range (up to the year 9999).
_MAX_TIMESTAMP = 253402300799
_MAX_SUBJECT_LENGTH = 64


def hash_password(password: str) -> str:
    """Argon2 hash of a password."""
    return _HASHING.submit(password_hash.hash, password).result()


def _verify_password(password: str, hashed: str | None) -> bool:
    if hashed is None:
        password_hash.verify(password, _DUMMY_HASH)
        return False
    try:
        return password_hash.verify(password, hashed)
    except (PwdlibError, ValueError):  # a corrupt stored hash must not become a 500
        return False


def verify_password(password: str, hashed: str | None) -> bool:
    """True if `password` matches `hashed`; a missing hash never matches."""
    return _HASHING.submit(_verify_password, password, hashed).result()


class CannotSign(Exception):
    """This process holds only verification keys."""


def create_access_token(
    settings: Settings,
    keys: KeyRing,
    subject: str,
    scopes: list[str],
    expires_minutes: int | None = None,
) -> tuple[str, int]:
    """Sign a token for `subject` with `scopes`; returns the token and its lifetime in seconds."""
    if keys.signing_key is None:
        raise CannotSign
    lifetime = timedelta(minutes=expires_minutes or settings.access_token_expire_minutes)
    issued = time.time()
    claims = {
        "sub": subject,
        "scope": " ".join(scopes),
        # Sub-second `iat` (RFC 7519 allows fractions): a password change revokes a token issued the same second.
        "iat": issued,
        "nbf": int(issued),
        "exp": datetime.fromtimestamp(issued, UTC) + lifetime,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    headers = {"kid": keys.signing_kid} if keys.signing_kid else None
    token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)
    return token, int(lifetime.total_seconds())


def _check_claim_types(claims: dict[str, Any]) -> None:
    """Reject claims that verify but that later code could not use."""
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _MAX_TIMESTAMP:
            raise jwt.InvalidTokenError(f"{name} must be a timestamp")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= _MAX_SUBJECT_LENGTH or not subject.isprintable():
        raise jwt.InvalidTokenError("sub must be a user name")
    try:
        subject.encode()
    except UnicodeEncodeError:
        raise jwt.InvalidTokenError("sub must be a user name") from None
    if not isinstance(claims.get("scope", ""), str):
        raise jwt.InvalidTokenError("scope must be a string")


_VERIFIED_CACHE_SIZE = 4096


def decode_access_token(settings: Settings, keys: KeyRing, token: str) -> dict[str, Any]:
    """Verify signature and claims; raises jwt.InvalidTokenError on any fault."""
    claims = keys.verified.get(token)
    if claims is not None:
        # Same token, same keys: only the clock can have changed the answer since it was verified.
        if time.time() > claims["exp"] + settings.jwt_leeway_seconds:
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims
    claims = _verify_token(settings, keys, token)
    if len(keys.verified) >= _VERIFIED_CACHE_SIZE:
        keys.verified.clear()
    keys.verified[token] = claims
    return claims


def _verify_token(settings: Settings, keys: KeyRing, token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            keys.verification_key(token),
            algorithms=[keys.algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except (TypeError, ValueError, OverflowError) as exc:  # odd claim values PyJWT does not map itself
        raise jwt.InvalidTokenError(f"malformed claims: {type(exc).__name__}") from exc
    _check_claim_types(claims)
    return claims
