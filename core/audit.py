"""The audit trail: who did what, where, with which result."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.db import audit_log, utcnow

_INSERT = audit_log.insert()


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from and which instance served it."""

    instance: str
    request_id: str | None
    client: str | None


def record(
    conn: Connection,
    ctx: RequestContext,
    *,
    actor: str | None,
    action: str,
    target: str | None,
    status_code: int,
    detail: str | None = None,
) -> None:
    """Append one record in the caller's transaction."""
    conn.execute(
        _INSERT,
        dict(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target,
            result="ok" if status_code < 400 else "denied" if status_code in (401, 403, 429) else "failed",
            status_code=status_code,
            instance=ctx.instance,
            request_id=ctx.request_id,
            client=ctx.client,
            detail=detail,
        ),
    )


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
