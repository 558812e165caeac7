"""pm2 for real, with a private PM2_HOME and free ports: start, logs, crash recovery, delete, start.sh."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.procs import PM2_BIN, ROOT, Pm2, free_ports, is_listening, service_env, wait_healthy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PM2_BIN.exists(), reason="pm2 not installed: run scripts/test.sh"),
]


@pytest.fixture
def pm2(tmp_path):
    """A private pm2 with API_PORTS set to two free ports; yields (pm2, ports)."""
    ports = free_ports(2)
    env = service_env(tmp_path, API_PORTS=",".join(map(str, ports)))
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        yield manager, ports
    finally:
        manager.close()


def out_log(app: dict) -> Path:
    return Path(app["pm2_env"]["pm_out_log_path"])


def test_ecosystem_starts_both_apps_online(pm2):
    manager, ports = pm2
    manager.run("start", "ecosystem.config.js")
    for port in ports:
        app = manager.wait_online(f"api-{port}")
        assert app["pm2_env"]["exec_mode"] == "fork_mode"
        health = wait_healthy(port)
        assert health["instance"] == f"api-{port}"
        assert health["port"] == port
        assert health["pid"] == app["pid"]
    assert sorted(manager.apps()) == sorted(f"api-{port}" for port in ports)


def test_access_line_reaches_pm2_log_within_2_seconds(pm2):
    manager, ports = pm2
    manager.run("start", "ecosystem.config.js")
    port = ports[0]
    app = manager.wait_online(f"api-{port}")
    wait_healthy(port)
    request_id = f"logcheck-{uuid.uuid4().hex}"
    assert requests.get(f"http://127.0.0.1:{port}/items", headers={"X-Request-ID": request_id}).status_code == 200
    sent = time.monotonic()
    line = None
    while time.monotonic() - sent < 2 and line is None:
        line = next((ln for ln in out_log(app).read_text().splitlines() if request_id in ln), None)
        time.sleep(0.05)
    assert line is not None, "access line not in the pm2 out log within 2 s"
    assert '"GET /items" 200' in line
    assert f"port={port}" in line
    assert line[:4].isdigit(), "pm2 timestamp missing"
    error_log = Path(app["pm2_env"]["pm_err_log_path"]).read_text()
    assert "INFO" not in error_log


def test_kill_9_is_restarted_while_other_port_keeps_answering(pm2):
    manager, (port_a, port_b) = pm2
    manager.run("start", "ecosystem.config.js")
    victim = manager.wait_online(f"api-{port_a}")
    manager.wait_online(f"api-{port_b}")
    wait_healthy(port_a)
    wait_healthy(port_b)

    failures, answered, stop = [], [], threading.Event()

    def poll_other_port():
        while not stop.is_set():
            try:
                answered.append(requests.get(f"http://127.0.0.1:{port_b}/health", timeout=2).status_code)
            except requests.RequestException as exc:
                failures.append(exc)
            time.sleep(0.02)

    poller = threading.Thread(target=poll_other_port)
    poller.start()
    try:
        os.kill(victim["pid"], signal.SIGKILL)
        restarted = manager.wait_online(f"api-{port_a}", not_pid=victim["pid"])
        wait_healthy(port_a, not_pid=victim["pid"])
    finally:
        stop.set()
        poller.join()
    assert restarted["pm2_env"]["restart_time"] >= 1
    assert failures == []
    assert answered and set(answered) == {200}


def test_delete_all_leaves_nothing_listening(pm2):
    manager, ports = pm2
    manager.run("start", "ecosystem.config.js")
    pids = [manager.wait_online(f"api-{port}")["pid"] for port in ports]
    for port in ports:
        wait_healthy(port)
    manager.run("delete", "all")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_listening(port) for port in ports):
        time.sleep(0.1)
    assert not any(is_listening(port) for port in ports)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_start_script_is_idempotent_and_client_succeeds(pm2):
    manager, ports = pm2
    env = manager.env
    pids = []
    for _ in range(2):
        started = subprocess.run(
            ["bash", "scripts/start.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert started.returncode == 0, started.stdout + started.stderr
        for port in ports:
            assert f"http://127.0.0.1:{port}/items" in started.stdout
        pids.append({name: app["pid"] for name, app in manager.apps().items()})
    assert sorted(manager.apps()) == sorted(f"api-{port}" for port in ports)
    assert pids[0] == pids[1], "a second start.sh must not restart running apps"
    assert "already running" in started.stdout
    client = subprocess.run(
        [
            sys.executable,
            "scripts/client.py",  # its default URLs come from API_PORTS, as start.sh's do
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert client.returncode == 0, client.stdout + client.stderr
    assert f"PUT http://127.0.0.1:{ports[0]}/items/" in client.stdout
    assert f"GET http://127.0.0.1:{ports[1]}/aaa/me" in client.stdout
    assert '"name": "Updated Item"' in client.stdout
    assert '"price": 19.99' in client.stdout

    stopped = subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert manager.apps() == {}


def test_json_logs_under_pm2_are_one_object_per_line(pm2):
    manager, ports = pm2
    manager.env["LOG_FORMAT"] = "json"
    manager.run("start", "ecosystem.config.js")
    port = ports[0]
    app = manager.wait_online(f"api-{port}")
    wait_healthy(port)
    requests.get(f"http://127.0.0.1:{port}/items", headers={"X-Request-ID": "json-check-1"}, timeout=5)
    deadline = time.monotonic() + 2
    lines = []
    while time.monotonic() < deadline and not any("json-check-1" in line for line in lines):
        lines = [line for line in out_log(app).read_text().splitlines() if line.strip()]
        time.sleep(0.05)
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e.get("request_id") == "json-check-1"]
    assert len(access) == 1
    assert (access[0]["logger"], access[0]["status"], access[0]["path"]) == ("app.access", 200, "/items")
    assert access[0]["instance"] == f"api-{port}"
    assert any(e["message"].startswith("started api-") for e in entries)


def test_pm2_jlist_holds_no_secret(pm2):
    manager, ports = pm2
    manager.run("start", "ecosystem.config.js")
    for port in ports:
        manager.wait_online(f"api-{port}")
        wait_healthy(port)
    secret = Path(manager.env["JWT_SECRET_FILE"]).read_text().strip()
    assert len(secret) >= 32
    assert secret not in manager.run("jlist").stdout
    for log in (manager.home / "logs").iterdir():
        assert secret not in log.read_text()


@pytest.mark.parametrize(("trusted", "expected_client"), [("127.0.0.1", "203.0.113.9"), ("10.9.9.9", "127.0.0.1")])
def test_forwarded_for_is_believed_only_from_trusted_proxies(pm2, trusted, expected_client):
    manager, ports = pm2
    manager.env["API_FORWARDED_ALLOW_IPS"] = trusted
    manager.run("start", "ecosystem.config.js")
    port = ports[0]
    app = manager.wait_online(f"api-{port}")
    wait_healthy(port)
    rid = f"xff-{uuid.uuid4().hex}"
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": rid}
    assert requests.get(f"http://127.0.0.1:{port}/items", headers=headers, timeout=5).status_code == 200
    deadline = time.monotonic() + 2
    line = None
    while line is None and time.monotonic() < deadline:
        line = next((ln for ln in out_log(app).read_text().splitlines() if rid in ln), None)
        time.sleep(0.05)
    assert line is not None
    assert f"client={expected_client}:" in line
