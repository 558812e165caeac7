"""gunicorn settings: `gunicorn -c gunicorn.conf.py main:app` runs the app on uvicorn workers, configured by env."""

#   WEB_CONCURRENCY           worker processes (default 2)
#   GUNICORN_BIND             bind address; default API_HOST:APP_PORT (127.0.0.1:8000)
#   UVICORN_GRACEFUL_SECONDS  time in-flight requests get on stop or reload (default 3)
#   LOG_LEVEL                 gunicorn's own log level (default info)

import logging
import os
import shutil
from pathlib import Path

_host = os.environ.get("API_HOST", "127.0.0.1")
_port = os.environ.get("APP_PORT", "8000")
bind = [os.environ.get("GUNICORN_BIND") or f"{f'[{_host}]' if ':' in _host else _host}:{_port}"]

# The port actually bound names the app; a unix socket bind has none.
_bound_port = bind[0].rpartition(":")[2] if not bind[0].startswith(("unix:", "fd://")) else ""
if _bound_port.isdigit():
    os.environ.setdefault("APP_PORT", _bound_port)
    os.environ.setdefault("APP_INSTANCE", f"api-{_bound_port}")

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "core.gunicorn_worker.DrainingUvicornWorker"
# In-flight requests get UVICORN_GRACEFUL_SECONDS (the worker stops a second before this), like the uvicorn
# path; it stays below pm2's kill_timeout of UVICORN_GRACEFUL_SECONDS + 2 s.
graceful_timeout = int(os.environ.get("UVICORN_GRACEFUL_SECONDS", "3")) + 1
timeout = 30
keepalive = 5

# gunicorn 27 opens a control socket (for gunicornc) at $XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl, one path for
# every gunicorn of the user: each new one unlinks and takes over the last one's socket. One per bound port instead.
if _bound_port.isdigit():
    control_socket = str(Path(__file__).resolve().parent / "data" / f"gunicorn-{_bound_port}.ctl")
else:
    control_socket_disable = True

accesslog = None  # the app writes its own access line
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class _BelowWarning(logging.Filter):
    """Passes records below WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


# As the app's core.logging: INFO (start, workers booting, reloads) to stdout, warnings and errors to stderr.
_format = f"%(levelname)s [{os.environ.get('APP_INSTANCE', 'api')}] rid=- %(name)s: %(message)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"below_warning": {"()": _BelowWarning}},
    "formatters": {"plain": {"format": _format}},
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
    # Until the app configures logging in each worker, other loggers (alembic at import) stay quiet below WARNING.
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout", "stderr"], "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}


def on_starting(server) -> None:
    """Start with an empty multiprocess metrics directory, so no dead worker's samples are summed."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker) -> None:
    """Drop an exited worker's live gauges (in-flight requests) from the summed metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
