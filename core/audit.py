"""The audit trail: who did what, where, with which result."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from core.db import audit_log, utcnow
from core.prepared import Prepared

_COLUMNS = ("at", "actor", "action", "target", "result", "status_code", "instance", "request_id", "client", "detail")
_INSERT = Prepared(audit_log.insert().values({name: bindparam(name) for name in _COLUMNS}).returning(audit_log.c.id))


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from and which instance served it."""

    instance: str
    request_id: str | None
    client: str | None


def safe_text(value: str | None, length: int) -> str | None:
    """Printable and within the column's length, whatever a client sent (a NUL, say, or a huge header)."""
    if value is None:
        return None
    return value.encode("unicode_escape").decode("ascii")[:length]


def record(
    conn: Connection,
    ctx: RequestContext,
    *,
    actor: str | None,
    action: str,
    target: str | None,
    status_code: int,
    detail: str | None = None,
) -> int:
    """Append one record in the caller's transaction; its id."""
    row = _INSERT.first(
        conn,
        dict(
            at=utcnow(),
            actor=safe_text(actor, 64),
            action=action,
            target=safe_text(target, 200),
            result=_result(status_code),
            status_code=status_code,
            instance=ctx.instance,
            request_id=ctx.request_id,
            client=safe_text(ctx.client, 64),
            detail=detail,
        ),
    )
    return row["id"]


def _result(status_code: int) -> str:
    return "ok" if status_code < 400 else "denied" if status_code in (401, 403, 429) else "failed"


def settle(conn: Connection, record_id: int, *, status_code: int) -> None:
    """Change a record's outcome (a login counted as failed until its password was checked)."""
    values = {"status_code": status_code, "result": _result(status_code)}
    conn.execute(audit_log.update().where(audit_log.c.id == record_id).values(**values))


def list_records(conn: Connection, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Newest first."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    return [dict(row._mapping) for row in conn.execute(query)]


def recent_times(
    conn: Connection, *, action: str, target: str, status_code: int, since: datetime, limit: int
) -> list[datetime]:
    """When `action` on `target` last ended with `status_code` after `since`, newest first."""
    query = (
        select(audit_log.c.at)
        .where(
            audit_log.c.action == action,
            audit_log.c.target == target,
            audit_log.c.status_code == status_code,
            audit_log.c.at > since,
        )
        .order_by(audit_log.c.at.desc())
        .limit(limit)
    )
    return list(conn.execute(query).scalars())
