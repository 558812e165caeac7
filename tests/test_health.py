"""/health, the factory, the request id and the secret file."""

import os
import stat

from core.config import Settings
from core.secret import load_jwt_secret


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
