"""GET /metrics: off unless enabled, loopback only by default, counts by route template."""

import shutil
import subprocess

import pytest
import requests
from fastapi.testclient import TestClient

from main import create_app
from tests.procs import PM2_BIN, ROOT, Pm2, free_ports, manage, service_env


@pytest.fixture
def metrics_client(settings):
    app = create_app(settings.model_copy(update={"metrics_enabled": True, "metrics_allow_ips": "testclient"}))
    with TestClient(app) as client:
        yield client


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{wanted}}}")


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_count_requests_by_route_and_status(metrics_client, writer):
    before = metrics_client.get("/metrics").text
    try:
        base = sample(before, "http_requests_total", method="GET", route="/items/{item_id}", status="404")
    except AssertionError:
        base = 0.0
    for item_id in (5, 6, 7):
        assert metrics_client.get(f"/items/{item_id}").status_code == 404
    response = metrics_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "http_requests_total", method="GET", route="/items/{item_id}", status="404") == base + 3
    assert sample(text, "http_request_duration_seconds_count", method="GET", route="/items/{item_id}") >= 3
    assert "http_requests_in_progress" in text
    assert "/items/5" not in text


def test_metrics_refused_to_other_addresses(settings):
    app = create_app(settings.model_copy(update={"metrics_enabled": True}))
    with TestClient(app) as client:  # TestClient's address is "testclient", not loopback
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


@pytest.mark.slow
@pytest.mark.skipif(not PM2_BIN.exists(), reason="pm2 not installed: run scripts/test.sh")
@pytest.mark.parametrize("runner", ["uvicorn", "gunicorn"])
def test_metrics_sum_every_worker_of_a_port(tmp_path, runner):
    ports = free_ports(2)
    env = service_env(tmp_path, API_PORTS=",".join(map(str, ports)), API_WORKERS="2", METRICS_ENABLED="true")
    env["API_RUNNER"] = runner
    manage(env, "init")
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        subprocess.run(["bash", "scripts/start.sh"], cwd=ROOT, env=manager.env, check=True, capture_output=True)
        port = ports[0]
        pids = set()
        for _ in range(40):
            response = requests.get(f"http://127.0.0.1:{port}/items/999", headers={"Connection": "close"}, timeout=5)
            assert response.status_code == 404
            pids.add(requests.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}).json()["pid"])
        assert len(pids) == 2, "both workers should have answered"
        for _ in range(4):  # whichever worker answers the scrape, the sum is the same
            text = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Connection": "close"}, timeout=5).text
            assert sample(text, "http_requests_total", method="GET", route="/items/{item_id}", status="404") == 40
    finally:
        manager.close()
        for port in ports:
            shutil.rmtree(ROOT / "data" / "metrics" / f"api-{port}", ignore_errors=True)
