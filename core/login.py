"""Password login with per-user throttling, counted in the shared audit trail so every port agrees."""

import math
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

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


def _retry_after(conn: Connection, settings: Settings, username: str) -> int:
    """Seconds until this user may try again; 0 if not throttled."""
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
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


def _reserve_attempt(conn: Connection, settings: Settings, ctx: RequestContext, username: str) -> tuple[int, int]:
    """Count this attempt as a failure before the password is checked: (record id, 0), or (0, retry after).

    Counting first, in a transaction that concurrent attempts for the same name take in turn, is what stops a
    burst of parallel guesses: each one sees the ones before it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"login:{username}"})
    retry_after = _retry_after(conn, settings, username)
    if retry_after:
        audit.record(conn, ctx, actor=username, action=LOGIN, target=username, status_code=429)
        return 0, retry_after
    return audit.record(conn, ctx, actor=username, action=LOGIN, target=username, status_code=401), 0


def authenticate(
    engine: Engine, settings: Settings, ctx: RequestContext, username: str, password: str
) -> dict[str, Any]:
    """Return the user, or raise LoginThrottled / LoginFailed; every attempt is audited."""
    # No user name is longer or holds a control character; throttling and the audit trail key on a printable,
    # bounded form of what was sent (PostgreSQL refuses a NUL outright).
    valid_name = len(username) <= MAX_USERNAME and username.isprintable()
    username = audit.safe_text(username, MAX_USERNAME)
    with write_transaction(engine) as conn:
        attempt, retry_after = _reserve_attempt(conn, settings, ctx, username)
    if retry_after:
        raise LoginThrottled(retry_after)
    with read_transaction(engine) as conn:
        user = users.get_user(conn, username) if valid_name else None
    if not verify_password(password, user["password_hash"] if user else None) or user["disabled"]:
        raise LoginFailed
    with write_transaction(engine) as conn:
        audit.settle(conn, attempt, status_code=200)
    return user
