"""/aaa: authentication, authorization and accounting."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from core import audit, login, users
from core.auth import Admin, CurrentUser
from core.db import read_transaction, utcnow, write_transaction
from core.deps import EngineDep, RequestContextDep, SettingsDep
from core.fast_route import FastRoute
from core.openapi import WRITE, errors
from core.schemas import (
    AuditPage,
    Me,
    PlainInt,
    Token,
    UserCreate,
    Username,
    UserPublic,
    UserUpdate,
)
from core.security import (
    KNOWN_SCOPES,
    create_access_token,
    hash_password,
)

router = APIRouter(prefix="/aaa", tags=["aaa"], route_class=FastRoute)

UsernamePath = Annotated[Username, Path(description="User name")]


@router.get("", summary="What the AAA service offers")
@router.get("/", include_in_schema=False)
def describe(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Endpoints, scopes and token parameters."""
    return {
        "service": "aaa",
        "token_url": "/aaa/token",
        "grant_types": ["password"],
        "token_type": "bearer",
        "algorithm": settings.jwt_algorithm,
        "key_ids": request.app.state.keys.key_ids,
        "issues_tokens": request.app.state.keys.signing_key is not None,
        "issuer": settings.jwt_issuer,
        "audience": settings.jwt_audience,
        "expires_in": settings.access_token_expire_minutes * 60,
        "scopes": KNOWN_SCOPES,
        "endpoints": {
            "token": "POST /aaa/token",
            "me": "GET /aaa/me",
            "audit": "GET /aaa/audit",
            "users": "GET, POST /aaa/users; PATCH, DELETE /aaa/users/{username}",
        },
    }


@router.post(
    "/token",
    response_model=Token,
    summary="Log in (OAuth2 password flow)",
    responses=errors(
        400, 401, 413, 429, 503, e400="Unknown scope requested (`invalid_scope`)", e401="Wrong user name or password"
    ),
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
    ctx: RequestContextDep,
) -> dict[str, Any]:
    """Exchange a user name and password for a bearer token; `scope` may ask for fewer scopes."""
    if request.app.state.keys.signing_key is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "This instance only verifies tokens; log in where tokens are issued"
        )
    unknown = [scope for scope in form.scopes if scope not in KNOWN_SCOPES]
    if unknown:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, {"error": "invalid_scope", "unknown_scopes": unknown[:10]})
    try:
        user = login.authenticate(engine, settings, ctx, form.username.strip().lower(), form.password)
    except login.LoginThrottled as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many failed logins for this user; try again later",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except login.LoginFailed:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Incorrect username or password", headers={"WWW-Authenticate": "Bearer"}
        ) from None
    scopes = [s for s in user["scopes"] if s in form.scopes] if form.scopes else user["scopes"]
    token, expires_in = create_access_token(settings, request.app.state.keys, user["username"], scopes)
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": " ".join(scopes)}


@router.get("/me", response_model=Me, summary="Who am I", responses=errors(401))
def me(user: CurrentUser) -> dict[str, Any]:
    """The caller and the scopes in force."""
    return {
        "username": user.username,
        "scopes": user.scopes,
        "token_scopes": user.token_scopes,
        "expires_at": user.expires_at,
    }


@router.get("/audit", response_model=AuditPage, summary="Read the audit trail", responses=errors(401, 403))
def read_audit(
    _: Admin,
    engine: EngineDep,
    limit: Annotated[PlainInt, Query(ge=1, le=500)] = 50,
    offset: Annotated[PlainInt, Query(ge=0, le=2**31)] = 0,
) -> dict[str, Any]:
    """Every write and login attempt, newest first."""
    with read_transaction(engine) as conn:
        records = audit.list_records(conn, limit=limit, offset=offset)
    return {"records": records, "limit": limit, "offset": offset}


@router.get("/users", response_model=list[UserPublic], summary="List users", responses=errors(401, 403))
def list_users(_: Admin, engine: EngineDep) -> list[dict[str, Any]]:
    """Every user, by name."""
    with read_transaction(engine) as conn:
        return users.list_users(conn)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    summary="Create a user",
    responses=errors(*WRITE, 409, e409="User exists"),
)
def create_user(body: UserCreate, admin: Admin, engine: EngineDep, ctx: RequestContextDep) -> dict[str, Any]:
    """Add a user with a password and scopes."""
    password = hash_password(body.password)
    with write_transaction(engine) as conn:
        try:
            user, code = users.create_user(conn, body.username, password, body.scopes), 201
        except users.UserExists:
            user, code = None, 409
        audit.record(conn, ctx, actor=admin.username, action="user.create", target=body.username, status_code=code)
    if user is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"User {body.username} exists")
    return user


@router.patch(
    "/users/{username}",
    response_model=UserPublic,
    summary="Change a user's scopes, password or disabled flag",
    responses=errors(*WRITE, 404, e404="No such user"),
)
def update_user(
    username: UsernamePath,
    body: UserUpdate,
    admin: Admin,
    engine: EngineDep,
    ctx: RequestContextDep,
) -> dict[str, Any]:
    """Disabling a user stops their tokens on every port at once."""
    changes = body.model_dump(exclude_unset=True)
    if "password" in changes:
        changes["password_hash"] = hash_password(changes.pop("password"))
        changes["tokens_valid_after"] = utcnow()  # a new password revokes the tokens issued before it
    with write_transaction(engine) as conn:
        user = users.update_user(conn, username, changes) if users.get_user(conn, username) else None
        code = 200 if user else 404
        audit.record(conn, ctx, actor=admin.username, action="user.update", target=username, status_code=code)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"User {username} not found")
    return user


@router.delete(
    "/users/{username}", status_code=204, summary="Delete a user", responses=errors(*WRITE, 404, e404="No such user")
)
def delete_user(username: UsernamePath, admin: Admin, engine: EngineDep, ctx: RequestContextDep) -> Response:
    """The user's tokens stop working on every port at once."""
    with write_transaction(engine) as conn:
        code = 204 if users.delete_user(conn, username) else 404
        audit.record(conn, ctx, actor=admin.username, action="user.delete", target=username, status_code=code)
    if code == 404:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"User {username} not found")
    return Response(status_code=204)
