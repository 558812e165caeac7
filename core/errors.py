"""Exception handlers: validation errors that always serialise, database trouble as 503, JSON 500s."""

import logging
import math
import traceback
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger("app")

SECRET_FIELDS = {"password", "access_token", "token", "client_secret"}
_MAX_TEXT = 200
_MAX_ITEMS = 20
_MAX_DEPTH = 3


def _safe(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of client input, with secrets masked."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**18 else "<large integer>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {
            _safe(k): "***" if str(k) in SECRET_FIELDS else _safe(v, depth + 1)
            for k, v in list(value.items())[:_MAX_ITEMS]
        }
    if isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in value[:_MAX_ITEMS]]
    return f"<{type(value).__name__}>"


def _safe_error(error: dict[str, Any]) -> dict[str, Any]:
    safe = {"type": error["type"], "loc": [_safe(part) for part in error["loc"]], "msg": _safe(error["msg"])}
    if "input" in error:
        secret = any(str(part) in SECRET_FIELDS for part in error["loc"])
        safe["input"] = "***" if secret else _safe(error["input"])
    if "ctx" in error:
        safe["ctx"] = {
            str(k): _safe(v if isinstance(v, str | int | float) else str(v)) for k, v in error["ctx"].items()
        }
    return safe


_MAX_ERRORS = 50


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's usual 422 body, with echoed input made JSON-safe, bounded and free of secrets."""
    errors = exc.errors()
    body: dict[str, Any] = {"detail": [_safe_error(error) for error in errors[:_MAX_ERRORS]]}
    if len(errors) > _MAX_ERRORS:
        body["more_errors"] = len(errors) - _MAX_ERRORS
    return JSONResponse(body, status_code=422)


async def database_busy(request: Request, exc: OperationalError | PoolTimeout) -> JSONResponse:
    """A locked or unreachable database is a 503 the client may retry, not a 500."""
    logger.warning("database error on %s %s: %s", request.method, request.url.path, getattr(exc, "orig", exc))
    return JSONResponse({"detail": "Database busy, retry shortly"}, status_code=503, headers={"Retry-After": "1"})


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the traceback; the client gets a JSON 500 without internals."""
    trace = "".join(traceback.format_tb(exc.__traceback__))
    # Validation messages quote their input, which may be a token or a password: log only the type.
    message = "" if "ValidationError" in type(exc).__name__ else f": {exc}"
    logger.error(
        "unhandled error on %s %s\n%s%s%s", request.method, request.url.path, trace, type(exc).__name__, message
    )
    # The server drops the connection after a 500: say so, so a client does not send its next request into it.
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500, headers={"Connection": "close"})


HANDLERS = {
    RequestValidationError: validation_error,
    OperationalError: database_busy,
    PoolTimeout: database_busy,
    Exception: unexpected_error,
}
