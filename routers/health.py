"""/health: liveness and readiness."""

import os
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core import __version__
from core.db import read_transaction
from core.deps import EngineDep, SettingsDep
from core.fast_route import FastRoute

router = APIRouter(prefix="/health", tags=["health"], route_class=FastRoute)


@router.get("", summary="Liveness")
async def health(request: Request) -> dict[str, Any]:
    """This process is up: instance, port, pid, version."""
    settings = request.app.state.settings
    server = request.scope.get("server")
    return {
        "status": "ok",
        "instance": settings.app_instance,
        "port": settings.app_port or (server[1] if server else 0),
        "pid": os.getpid(),
        "version": __version__,
    }


@router.get(
    "/ready",
    summary="Readiness",
    responses={503: {"description": "Database unreachable"}},
)
def ready(engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """The database answers."""
    try:
        with read_transaction(engine) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Database unavailable") from exc
    return {
        "status": "ready",
        "instance": settings.app_instance,
        "database": engine.dialect.name,
    }
