"""What routes take from the app: Annotated dependencies for most, plain functions of the request for hot paths.

Every FastAPI dependency costs a few microseconds of solving per request; the item routes and the token check
take `request: Request` (free) and call the plain functions instead.
"""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from core.audit import RequestContext
from core.config import Settings
from core.database import Database


def database(request: Request) -> Database:
    """The app's database runner."""
    return request.app.state.db


def request_context(request: Request) -> RequestContext:
    """Instance, request id and client address for the audit trail."""
    state = request.scope.get("state", {})
    client = request.client.host if request.client else None
    return RequestContext(request.app.state.settings.app_instance, state.get("request_id"), client)


async def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_request_context(request: Request) -> RequestContext:
    """Instance, request id and client address for the audit trail."""
    return request_context(request)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RequestContextDep = Annotated[RequestContext, Depends(get_request_context)]
