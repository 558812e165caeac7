"""The application: one app, every router, the same on every port."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from core import __version__, gc_tuning
from core.config import Settings, get_settings
from core.database import Database
from core.db import make_engine
from core.docs import install_docs
from core.errors import HANDLERS
from core.keys import load_keyring
from core.limits import BodySizeLimitMiddleware
from core.logging import AccessLogMiddleware, configure_logging
from core.metrics import install_metrics
from core.migrations import upgrade
from routers import aaa, health, items

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the schema if needed (a no-op at head), release connections on stop."""
    settings: Settings = app.state.settings
    upgrade(app.state.engine)
    logger.info(
        "started %s on port %s (database %s)",
        settings.app_instance,
        settings.app_port,
        app.state.engine.url.render_as_string(hide_password=True),
    )
    with gc_tuning.settled(settings.gc_threshold):
        yield
    app.state.db.close()
    app.state.engine.dispose()
    logger.info("stopped %s", settings.app_instance)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put copies of a router's routes on the app itself.

    `include_router` keeps the router as one nested route that matches its whole route list twice per request
    (about a third of a small request's time); the router's routes already carry its prefix and tags.
    """
    app.router.routes.extend(route.for_app(app) for route in router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app from settings (the environment by default)."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(
        title="FastAPI pm2 service",
        version=__version__,
        description="Item catalogue (`/items`) and authentication, authorization and accounting (`/aaa`).",
        lifespan=lifespan,
        redirect_slashes=False,  # a 307 drops Authorization in some clients; /items and /items/ both answer
        docs_url=None,  # /docs and /redoc come from install_docs, with local assets
        redoc_url=None,
        # Off, FastAPI still asks the OTel providers on every request whether to trace it (7 us each).
        telemetry=None if settings.otel_enabled else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.db = Database(app.state.engine, settings.read_cache_entries)
    app.state.keys = load_keyring(settings)
    for module in (items, aaa, health):
        add_routes(app, module.router)
    install_docs(app)
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_metrics(app, settings)
    app.add_middleware(AccessLogMiddleware, settings=settings)  # added last: outermost, sees every response
    return app


app = create_app()
