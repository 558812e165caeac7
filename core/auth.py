"""The Bearer dependency and scope checks."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import jwt
from fastapi import HTTPException, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from core import users
from core.deps import database
from core.security import (
    KNOWN_SCOPES,
    SCOPE_AAA_ADMIN,
    SCOPE_ITEMS_WRITE,
    decode_access_token,
)


def unauthorized(detail: str, error: str | None = "invalid_token") -> HTTPException:
    """401 with the RFC 6750 challenge."""
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    username: str
    scopes: list[str]
    token_scopes: list[str]
    expires_at: datetime


def _issued_too_early(issued_at: float, user: dict) -> bool:
    """Whether a token predates the user (a same-name user's old token) or their last password change."""
    since = max(filter(None, (user["created_at"], user.get("tokens_valid_after")))).timestamp()
    # Tokens of this service carry a fractional `iat`; a whole-second one (another issuer) gets whole seconds.
    return issued_at < (since if isinstance(issued_at, float) else math.floor(since))


@dataclass(frozen=True)
class Access:
    """What the database says of a token: its principal and the route's missing scopes, or why it is refused."""

    principal: Principal | None
    refused: str | None = None
    missing: tuple[str, ...] = ()


def _access(conn, subject: str, issued_at: float, scope: str, expires: float, required: tuple[str, ...]) -> Access:
    """The token's subject as the database has it now, checked against the token and the route's scopes."""
    user = users.get_user(conn, subject)
    if user is None or user["disabled"]:
        return Access(None, "Invalid token: user is unknown or disabled")
    if _issued_too_early(issued_at, user):
        return Access(None, "Invalid token: issued before the user was created or last changed password")
    token_scopes = scope.split()
    granted = sorted(set(token_scopes) & set(user["scopes"]))
    principal = Principal(user["username"], granted, token_scopes, datetime.fromtimestamp(expires, UTC))
    return Access(principal, missing=tuple(scope for scope in required if scope not in granted))


async def get_principal(request: Request, required_scopes: list[str], token: str) -> Principal:
    """Verify the token, check the user is still active, and enforce the route's scopes."""
    try:
        claims = decode_access_token(request.app.state.settings, request.app.state.keys, token)
    except jwt.InvalidTokenError as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
    # Cached only until the next commit to the database: a disable or password change applies at once.
    facts = (claims["sub"], claims["iat"], claims.get("scope", ""), claims["exp"], tuple(required_scopes))
    access = await database(request).cached(_access, *facts)
    if access.principal is None:
        raise unauthorized(access.refused)
    request.scope.setdefault("state", {})["user"] = access.principal.username
    if access.missing:
        missing = " ".join(access.missing)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Missing scope: {missing}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{missing}"'},
        )
    return access.principal


def _token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`; 401 for a missing, repeated or malformed header."""
    values = request.headers.getlist("authorization")
    if not values:
        raise unauthorized("Not authenticated", error=None)
    if len(values) > 1:
        raise unauthorized("Send exactly one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise unauthorized("Authorization scheme must be Bearer")
    if not token or " " in token:
        raise unauthorized("Bearer token is empty or malformed")
    return token


class BearerToken(OAuth2PasswordBearer):
    """The caller of `Authorization: Bearer <JWT>`, with the route's scopes; also drives /docs' Authorize button.

    One dependency does the whole check: every nested FastAPI dependency costs solving time on each request.
    """

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> Principal:  # type: ignore[override]
        return await get_principal(request, security_scopes.scopes, _token(request))


bearer_token = BearerToken(tokenUrl="/aaa/token", scopes=KNOWN_SCOPES, auto_error=True)
CurrentUser = Annotated[Principal, Security(bearer_token)]
ItemWriter = Annotated[Principal, Security(bearer_token, scopes=[SCOPE_ITEMS_WRITE])]
Admin = Annotated[Principal, Security(bearer_token, scopes=[SCOPE_AAA_ADMIN])]
