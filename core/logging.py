"""Log set-up, request ids and the access-log middleware."""

import logging
import logging.config
import re
import sys
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings

access_logger = logging.getLogger("app.access")
REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def configure_logging(settings: Settings) -> None:
    """INFO and below to stdout, warnings and errors to stderr; pm2 adds the timestamps."""
    # Line buffering: lines reach pm2 at once, and whole, even under interpreter "none".
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    fmt = f"%(levelname)s [{settings.app_instance}] %(name)s: %(message)s"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"below_warning": {"()": _BelowWarning}},
            "formatters": {"plain": {"format": fmt}},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stdout",
                    "formatter": "plain",
                    "filters": ["below_warning"],
                },
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "plain",
                    "level": "WARNING",
                },
            },
            "root": {
                "handlers": ["stdout", "stderr"],
                "level": settings.log_level.upper(),
            },
            "loggers": {
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": False},
            },
        }
    )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


class AccessLogMiddleware:
    """Assigns a request id, echoes it, and writes one access line per request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.default_port = settings.app_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_code = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            client, server = scope.get("client"), scope.get("server")
            access_logger.info(
                'port=%s rid=%s client=%s "%s %s" %d %.1fms user=%s',
                self.default_port or (server[1] if server else "-"),
                request_id,
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                scope["path"].encode("unicode_escape").decode("ascii"),  # no log injection
                status_code,
                (time.perf_counter() - started) * 1000,
                state.get("user", "-"),
            )
