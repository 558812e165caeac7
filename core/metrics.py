"""Prometheus metrics: requests by route and status, latency, in-flight; summed over workers when multiprocess."""

import os
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.config import Settings

# With PROMETHEUS_MULTIPROC_DIR set (several workers on one port) every worker writes its samples there and a
# scrape, answered by whichever worker, sums them; without it the process's own registry is served.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("http_requests_in_progress", "HTTP requests being answered", multiprocess_mode="livesum")


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded labels, no raw paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            IN_FLIGHT.dec()
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status_code)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _allowed(request: Request, settings: Settings) -> bool:
    allowed = {address.strip() for address in settings.metrics_allow_ips.split(",")}
    client = request.client.host if request.client else ""
    return "*" in allowed or client in allowed


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """With METRICS_ENABLED: the middleware and GET /metrics for the addresses in METRICS_ALLOW_IPS."""
    if not settings.metrics_enabled:
        return
    app.add_middleware(MetricsMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not _allowed(request, settings):
            return Response('{"detail":"Not Found"}', 404, media_type="application/json")
        registry = None
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry) if registry else generate_latest()
        return Response(body, media_type=CONTENT_TYPE_LATEST)
