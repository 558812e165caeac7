"""uvicorn's httptools protocol with a shutdown that does not drop just-accepted connections."""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How long an idle connection may still deliver a request after shutdown begins.
SHUTDOWN_GRACE_SECONDS = 0.5


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """On shutdown, an idle connection gets a moment to send the request it may already have in flight.

    Stock uvicorn closes idle connections at once, so a connection accepted just before a worker is retired
    (SIGHUP reload, restart) is closed without a response. Here it is served with `Connection: close` instead.
    """

    draining = False

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.draining = True
            self.loop.call_later(SHUTDOWN_GRACE_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()
