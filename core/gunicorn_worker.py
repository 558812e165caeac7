"""The gunicorn worker class: uvicorn_worker's UvicornWorker with the service's draining HTTP protocol."""

import signal
import sys

from uvicorn_worker import UvicornWorker


class DrainingUvicornWorker(UvicornWorker):
    """UvicornWorker serving with `core.serving.DrainingHttpToolsProtocol`, without uvicorn's access log."""

    # The app writes its own access line (as `--no-access-log` on the uvicorn path).
    CONFIG_KWARGS = {"loop": "auto", "http": "core.serving:DrainingHttpToolsProtocol", "access_log": False}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn SIGKILLs a stopping worker after graceful_timeout; end in-flight requests a second earlier so
        # the lifespan shutdown still runs.
        self.config.timeout_graceful_shutdown = max(self.cfg.graceful_timeout - 1, 1)

    def handle_exit(self, sig, frame) -> None:
        """SIGQUIT from the master (its SIGINT or SIGQUIT shutdown): stop gracefully, as on SIGTERM."""
        # UvicornWorker only marks itself not alive here, which the uvicorn server never reads: the worker would
        # keep accepting connections until gunicorn SIGKILLs it.
        super().handle_exit(sig, frame)
        signal.raise_signal(signal.SIGTERM)

    def init_process(self) -> None:
        """Forget the `core` modules the master imported to load this class, then load the app fresh."""
        # Without this, workers started by a SIGHUP reload would run the master's old copy of `core`
        # (its __version__ included) next to the new routers.
        for name in [name for name in sys.modules if name == "core" or name.startswith("core.")]:
            del sys.modules[name]
        super().init_process()
