"""/health, the factory, the request id and the secret file."""

import os
import stat

import pytest
from fastapi.testclient import TestClient

from core.config import Settings
from core.secret import load_jwt_secret
from main import create_app


def test_health_reports_instance(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "ok", "instance": "api-test", "port": 8001, "pid": os.getpid(), "version": "0.1.0"}


def test_ready_touches_database(client, app):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "instance": "api-test", "database": app.state.engine.dialect.name}
    assert app.state.engine.dialect.name in ("sqlite", "postgresql")


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert len(generated) == 32
    assert generated.isalnum()


def test_every_router_is_included(app):
    paths = set(app.openapi()["paths"])
    assert {"/items", "/items/{item_id}", "/aaa", "/aaa/token", "/aaa/me", "/aaa/audit", "/health"} <= paths


def test_generated_secret_is_0600_and_shared(tmp_path):
    settings = Settings(jwt_secret="", jwt_secret_file=tmp_path / "sub" / "jwt_secret", _env_file=None)
    first = load_jwt_secret(settings)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(settings.jwt_secret_file).st_mode) == 0o600
    assert load_jwt_secret(settings) == first


def test_env_secret_wins(tmp_path):
    settings = Settings(jwt_secret="from-env-" + "z" * 30, jwt_secret_file=tmp_path / "s", _env_file=None)
    assert load_jwt_secret(settings) == "from-env-" + "z" * 30
    assert not (tmp_path / "s").exists()


def test_log_lines_carry_the_request_id(client, writer, caplog):
    caplog.set_level("INFO")
    client.post("/items", json={"name": "x", "price": 1}, headers=writer | {"X-Request-ID": "trace-42"})
    access = [r for r in caplog.records if r.name == "app.access" and getattr(r, "request_id", "") == "trace-42"]
    assert len(access) == 1
    assert access[0].access["status"] == 201
    assert access[0].access["path"] == "/items"


def test_json_log_format(capsys):
    import json
    import logging

    from core.logging import JsonFormatter, request_id_var

    formatter = JsonFormatter("api-9")
    token = request_id_var.set("rid-7")
    try:
        record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "GET %s", ("/items",), None)
        record.request_id = request_id_var.get()
        record.access = {"status": 200, "path": "/items"}
        line = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert line["level"] == "INFO"
    assert (line["instance"], line["request_id"], line["message"], line["status"]) == (
        "api-9",
        "rid-7",
        "GET /items",
        200,
    )


@pytest.fixture
def slow_client(settings):
    """A client of an app that calls every request over 1 ms slow."""
    with TestClient(create_app(settings.model_copy(update={"slow_request_ms": 1}))) as test_client:
        yield test_client


def test_slow_request_is_flagged_as_warning(slow_client, caplog):
    caplog.set_level("INFO")
    slow_client.get("/items")
    slow = [r for r in caplog.records if r.name == "app.slow"]
    assert slow and slow[0].levelname == "WARNING"
    assert '"GET /items"' in slow[0].getMessage()


def test_settings_accept_lower_case_levels():
    assert Settings(log_level="debug", log_format="JSON", _env_file=None).log_level == "DEBUG"
