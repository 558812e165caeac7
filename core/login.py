"""Password login with per-user throttling, counted in the shared audit trail so every port agrees."""

import math
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from core import audit, users
from core.audit import RequestContext
from core.config import Settings
from core.db import read_transaction, utcnow, write_transaction
from core.security import verify_password

LOGIN = "aaa.login"
MAX_USERNAME = 64


class LoginFailed(Exception):
    """Wrong user name or password, or a disabled user."""


class LoginThrottled(Exception):
    """Too many recent failures for this user name."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _retry_after(engine: Engine, settings: Settings, username: str) -> int:
    """Seconds until this user may try again; 0 if not throttled."""
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    with read_transaction(engine) as conn:
        last_ok = audit.recent_times(conn, action=LOGIN, target=username, status_code=200, since=now - window, limit=1)
        failures = audit.recent_times(
            conn,
            action=LOGIN,
            target=username,
            status_code=401,
            since=last_ok[0] if last_ok else now - window,
            limit=settings.login_max_failures,
        )
    if len(failures) < settings.login_max_failures:
        return 0
    return max(1, math.ceil((failures[-1] + window - now).total_seconds()))


def authenticate(
    engine: Engine, settings: Settings, ctx: RequestContext, username: str, password: str
) -> dict[str, Any]:
    """Return the user, or raise LoginThrottled / LoginFailed; every attempt is audited."""
    too_long = len(username) > MAX_USERNAME
    username = username[:MAX_USERNAME]  # throttling and the audit trail key on at most this much
    retry_after = _retry_after(engine, settings, username)
    user = None
    if not retry_after:
        with read_transaction(engine) as conn:
            user = None if too_long else users.get_user(conn, username)
        valid = verify_password(password, user["password_hash"] if user else None)
        if not valid or user["disabled"]:
            user = None
    status_code = 429 if retry_after else 200 if user else 401
    with write_transaction(engine) as conn:
        audit.record(conn, ctx, actor=username, action=LOGIN, target=username, status_code=status_code)
    if retry_after:
        raise LoginThrottled(retry_after)
    if user is None:
        raise LoginFailed
    return user
