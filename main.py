"""The application: one app, every router, the same on every port."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from core import __version__
from core.config import Settings, get_settings
from core.db import create_schema, make_engine
from core.limits import BodySizeLimitMiddleware
from core.logging import AccessLogMiddleware, configure_logging
from core.secret import load_jwt_secret
from routers import aaa, health, items

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the schema on start, release connections on stop."""
    settings: Settings = app.state.settings
    create_schema(app.state.engine)
    logger.info(
        "started %s on port %s (database %s)",
        settings.app_instance,
        settings.app_port,
        app.state.engine.url.render_as_string(hide_password=True),
    )
    yield
    app.state.engine.dispose()
    logger.info("stopped %s", settings.app_instance)


async def database_busy(request: Request, exc: OperationalError) -> JSONResponse:
    """A locked or unreachable database is a 503 the client may retry, not a 500."""
    logger.warning("database error on %s %s: %s", request.method, request.url.path, exc.orig)
    return JSONResponse(
        {"detail": "Database busy, retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the traceback; the client gets a JSON 500 without internals."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app from settings (the environment by default)."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(
        title="FastAPI pm2 service",
        version=__version__,
        description="Item catalogue (`/items`) and authentication, authorization and accounting (`/aaa`).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.jwt_secret = load_jwt_secret(settings)
    for module in (items, aaa, health):
        app.include_router(module.router)
    app.add_exception_handler(OperationalError, database_busy)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware, settings=settings)  # added last: outermost, sees every response
    return app


app = create_app()
