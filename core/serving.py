"""uvicorn's httptools protocol, hardened: bounded request headers, a header deadline, and a draining shutdown."""

import json
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# How long an idle connection may still deliver a request after shutdown begins.
SHUTDOWN_GRACE_SECONDS = 0.5
# uvicorn itself bounds neither: a client could send megabytes of headers, or send them one byte a minute.
MAX_HEADER_BYTES = int(os.environ.get("MAX_HEADER_BYTES", 64 * 1024))
HEADER_TIMEOUT_SECONDS = float(os.environ.get("HEADER_TIMEOUT_SECONDS", 10))


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """Stock uvicorn, plus: 431 for headers over MAX_HEADER_BYTES, 408 when a request's headers take longer than
    HEADER_TIMEOUT_SECONDS (slow or silent clients), and on shutdown an idle connection gets a moment to send the
    request it may already have in flight (stock uvicorn closes it unanswered).
    """

    draining = False
    _header_bytes = 0
    _header_timer = None
    _awaiting_headers = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._expect_headers()

    def connection_lost(self, exc) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        self._awaiting_headers, self._header_bytes = True, 0
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._awaiting_headers and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(
                431, "Request Header Fields Too Large", f"Request headers larger than {MAX_HEADER_BYTES} bytes"
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._awaiting_headers:  # the next request on a kept-alive connection
            self._expect_headers()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._stop_header_timer()
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._awaiting_headers = False

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and (self.cycle is None or self.cycle.response_complete):
            if self._header_bytes:
                self._refuse(
                    408, "Request Timeout", f"Request headers not received within {HEADER_TIMEOUT_SECONDS:g} s"
                )
            elif not self.transport.is_closing():
                self.transport.close()  # a connection that never sent anything gets no answer

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps({"detail": detail}).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.draining = True
            self.loop.call_later(SHUTDOWN_GRACE_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()
