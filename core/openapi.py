"""Documented error responses for the OpenAPI schema."""

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """An error: `detail` is a message, or for OAuth2 errors an object with `error`."""

    detail: str | dict[str, Any]


_CHALLENGE = {"WWW-Authenticate": {"description": "RFC 6750 challenge", "schema": {"type": "string"}}}
_RETRY = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
_ERRORS: dict[int, dict[str, Any]] = {
    400: {"description": "The body could not be parsed, or the request is malformed"},
    401: {"description": "Missing or invalid bearer token", "headers": _CHALLENGE},
    403: {"description": "The token lacks the scope this route needs", "headers": _CHALLENGE},
    404: {"description": "Not found"},
    409: {"description": "Conflicts with an existing resource"},
    412: {"description": "If-Match does not match the current ETag"},
    413: {"description": "Request body larger than MAX_BODY_BYTES"},
    429: {"description": "Too many failed logins for this user", "headers": _RETRY},
    503: {"description": "Database busy or unavailable; retry", "headers": _RETRY},
}


def errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these status codes; `descriptions` (as `e404="..."`) override the wording."""
    return {
        code: {"model": ErrorBody, **_ERRORS[code]}
        | ({"description": descriptions[f"e{code}"]} if f"e{code}" in descriptions else {})
        for code in codes
    }


WRITE = (400, 401, 403, 413, 503)
