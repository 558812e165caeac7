"""Annotated dependency aliases shared by the routers."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from core.audit import RequestContext
from core.config import Settings
from core.database import Database


async def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


async def get_database(request: Request) -> Database:
    """The app's database runner."""
    return request.app.state.db


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_request_context(request: Request) -> RequestContext:
    """Instance, request id and client address for the audit trail."""
    state = request.scope.get("state", {})
    client = request.client.host if request.client else None
    return RequestContext(request.app.state.settings.app_instance, state.get("request_id"), client)


EngineDep = Annotated[Engine, Depends(get_engine)]
DbDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RequestContextDep = Annotated[RequestContext, Depends(get_request_context)]
