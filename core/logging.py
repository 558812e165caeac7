"""Log set-up, request ids and the access-log middleware."""

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import logging.config
import os
import re
import sys
import time
import weakref
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings

access_logger = logging.getLogger("app.access")
slow_logger = logging.getLogger("app.slow")
REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# The request being served, for every log line written while serving it (threadpool included).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# A pipe write up to this size is atomic: workers sharing pm2's stdout pipe never splice each other's lines.
PIPE_BUF = 4096


class LoopBatchedStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes the access lines of one turn of the event loop together.

    Under load, a write per access line was a system call per request (and a read per line in pm2). Access lines
    logged on the event loop are written right after the loop's current callbacks (call_soon), in writes of at
    most PIPE_BUF bytes of whole lines. Every other line (start, stop, warnings), and lines from other threads or
    with no loop running, are written at once, after what is pending: a process that a signal ends right after
    logging loses no line but the access lines of that one turn.
    """

    def __init__(self, stream=None, batched: tuple[str, ...] = ("app.access",)) -> None:
        super().__init__(stream)
        self.batched = frozenset(batched)
        self._pending: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None
        _handlers.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging's own policy for a record that cannot be formatted
            self.handleError(record)
            return
        self._pending.append(line)
        loop = _running_loop() if record.name in self.batched else None
        if loop is None:
            self.flush()
        elif self._flush_on is not loop:  # one flush per loop turn; a loop that closed meanwhile never ran it
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is pending, then flush the stream."""
        with self.lock:
            self._flush_on = None
            pending, self._pending = self._pending, []
            try:
                for chunk in _chunks(pending):
                    self.stream.write(chunk)
                    self.stream.flush()  # one write per chunk
                if not pending and hasattr(self.stream, "flush"):
                    self.stream.flush()
            except Exception:  # noqa: BLE001 - as logging's handleError: report on stderr, never raise
                _report_lost(pending)

    def forget_pending(self) -> None:
        """Drop what is pending (in a forked child: the parent writes it)."""
        self._pending, self._flush_on = [], None


_handlers: "weakref.WeakSet[LoopBatchedStreamHandler]" = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [handler.forget_pending() for handler in _handlers])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _chunks(lines: list[str]) -> list[str]:
    """`lines` joined into chunks of at most PIPE_BUF bytes of whole lines (a longer line is a chunk alone)."""
    chunks, current, size = [], [], 0
    for line in lines:
        length = len(line) if line.isascii() else len(line.encode())
        if current and size + length > PIPE_BUF:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append("".join(current))
    return chunks


def _report_lost(lines: list[str]) -> None:
    if lines and logging.raiseExceptions:
        with contextlib.suppress(OSError):
            sys.stderr.write(f"--- Logging error: {len(lines)} lines could not be written\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, instance, request id, message, and any access fields."""

    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "instance": self.instance,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "access", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """INFO and below to stdout, warnings and errors to stderr, plain (pm2 adds timestamps) or JSON lines."""
    # Line buffering: lines reach pm2 at once, and whole, even under interpreter "none".
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    # The logging HOWTO's optimisations: no format here uses the caller's file and line, thread or process.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    plain = {"format": f"%(levelname)s [{settings.app_instance}] rid=%(request_id)s %(name)s: %(message)s"}
    formatter = {"()": JsonFormatter, "instance": settings.app_instance} if settings.log_format == "json" else plain
    handler = {"()": LoopBatchedStreamHandler, "formatter": "main", "filters": ["request_id"]}
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"below_warning": {"()": _BelowWarning}, "request_id": {"()": _RequestId}},
            "formatters": {"main": formatter},
            "handlers": {
                "stdout": handler | {"stream": "ext://sys.stdout", "filters": ["request_id", "below_warning"]},
                "stderr": handler | {"stream": "ext://sys.stderr", "level": "WARNING"},
            },
            "root": {"handlers": ["stdout", "stderr"], "level": settings.log_level.upper()},
            "loggers": {
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": False},
            },
        }
    )


class _RequestIds:
    """Unique request ids without a system call each: 64 random bits per process, then a counter."""

    def __init__(self) -> None:
        self._start()
        os.register_at_fork(after_in_child=self._start)  # gunicorn's workers each get their own prefix

    def _start(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        """The next id: 32 hex digits, as uuid4().hex."""
        return f"{self._prefix}{next(self._counter):016x}"


_ids = _RequestIds()


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return value.decode()
    return _ids.next()


def _escaped(text: str) -> str:
    """`text` with control and non-ASCII characters escaped, so a client cannot forge log lines or fields."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # the common case, checked in C
    return text.encode("unicode_escape").decode("ascii")


class AccessLogMiddleware:
    """Assigns a request id, echoes it, and writes one access line per request (and a warning if slow)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.default_port = settings.app_port
        self.slow_ms = settings.slow_request_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_code = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            self._log(scope, status_code, (time.perf_counter() - started) * 1000, state.get("user", "-"))
            request_id_var.reset(token)

    def _log(self, scope: Scope, status_code: int, duration_ms: float, user: str) -> None:
        client, server = scope.get("client"), scope.get("server")
        fields = {
            "port": self.default_port or (server[1] if server else None),
            # The client host may come from X-Forwarded-For: escaped, so it cannot forge other fields.
            "client": _escaped(f"{client[0]}:{client[1]}")[:100] if client else "-",
            "method": scope["method"],
            "path": _escaped(scope["path"]),  # no log injection
            "status": status_code,
            "duration_ms": round(duration_ms, 1),
            "user": user,
        }
        access_logger.info(
            'port=%(port)s client=%(client)s "%(method)s %(path)s" %(status)d %(duration_ms).1fms user=%(user)s',
            fields,
            extra={"access": fields},
        )
        if duration_ms >= self.slow_ms:
            slow_logger.warning(
                'slow request: "%s %s" took %.0fms (SLOW_REQUEST_MS=%d)',
                fields["method"],
                fields["path"],
                duration_ms,
                self.slow_ms,
                extra={"access": fields},
            )
