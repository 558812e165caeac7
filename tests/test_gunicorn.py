"""gunicorn under pm2 (API_RUNNER=gunicorn): two workers per port, logs, stop, zero-drop reload, control sockets."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.load import Hammer
from tests.procs import PM2_BIN, ROOT, VENV_BIN, Pm2, free_ports, is_listening, manage, service_env, wait_healthy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PM2_BIN.exists(), reason="pm2 not installed: run scripts/test.sh"),
]


@pytest.fixture
def pm2(tmp_path):
    """Two gunicorn apps with two workers each under a private pm2 and HOME, online and healthy; yields (pm2, ports)."""
    ports = free_ports(2)
    home = tmp_path / "home"
    home.mkdir()
    env = service_env(
        tmp_path, API_PORTS=",".join(map(str, ports)), API_RUNNER="gunicorn", API_WORKERS="2", HOME=str(home)
    )
    env.pop("XDG_RUNTIME_DIR", None)  # gunicorn's default control socket is then ~/.gunicorn/gunicorn.ctl
    manage(env, "init")
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        manager.run("start", "ecosystem.config.js")
        for port in ports:
            manager.wait_online(f"api-{port}")
            wait_healthy(port)
        yield manager, ports
    finally:
        manager.close()
        for port in ports:
            control_socket(port).unlink(missing_ok=True)


def control_socket(port: int) -> Path:
    return ROOT / "data" / f"gunicorn-{port}.ctl"


def children(pid: int) -> set[int]:
    """Pids whose parent is `pid`."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(line) for line in out.split()}


def serving_pids(port: int, want: int = 2, tries: int = 200) -> set[int]:
    """The pids /health reports over up to `tries` fresh connections, stopping once `want` distinct ones answered."""
    pids = set()
    for _ in range(tries):
        response = requests.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
        pids.add(response.json()["pid"])
        if len(pids) >= want:
            break
    return pids


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_both_apps_online_with_two_workers_each(pm2):
    manager, ports = pm2
    apps = manager.apps()
    assert sorted(apps) == sorted(f"api-{port}" for port in ports)
    for port in ports:
        app = apps[f"api-{port}"]
        assert app["pm2_env"]["status"] == "online"
        assert Path(app["pm2_env"]["pm_exec_path"]).name == "gunicorn"
        health = wait_healthy(port)
        assert health["instance"] == f"api-{port}"
        assert health["port"] == port
        workers = serving_pids(port)
        assert len(workers) == 2
        assert workers == children(app["pid"]), "the pids answering are the gunicorn master's workers"


def test_access_line_reaches_out_log_and_error_log_has_no_info(pm2):
    manager, ports = pm2
    port = ports[0]
    app = manager.apps()[f"api-{port}"]
    request_id = f"gunicorn-{uuid.uuid4().hex}"
    assert requests.get(f"http://127.0.0.1:{port}/items", headers={"X-Request-ID": request_id}).status_code == 200
    out_log = Path(app["pm2_env"]["pm_out_log_path"])
    deadline, line = time.monotonic() + 2, None
    while time.monotonic() < deadline and line is None:
        line = next((ln for ln in out_log.read_text().splitlines() if request_id in ln), None)
        time.sleep(0.05)
    assert line is not None, "access line not in the pm2 out log within 2 s"
    assert f"INFO [api-{port}] rid={request_id} app.access: port={port} client=127.0.0.1:" in line
    assert '"GET /items" 200' in line
    out = out_log.read_text()
    assert f"INFO [api-{port}] rid=- gunicorn.error: Booting worker with pid" in out, (
        "gunicorn's INFO lines go to stdout"
    )
    assert "uvicorn.access" not in out
    error_log = Path(app["pm2_env"]["pm_err_log_path"]).read_text()
    assert "INFO" not in error_log


def test_pm2_stop_leaves_no_worker_and_other_port_serves(pm2):
    manager, (port, other) = pm2
    master = manager.apps()[f"api-{port}"]["pid"]
    workers = serving_pids(port) | children(master)
    assert len(workers) == 2
    manager.run("stop", f"api-{port}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (is_listening(port) or any(map(is_alive, [master, *workers]))):
        time.sleep(0.1)
    assert not is_listening(port)
    assert [pid for pid in [master, *workers] if is_alive(pid)] == []
    assert manager.apps()[f"api-{port}"]["pm2_env"]["status"] == "stopped"
    assert not control_socket(port).exists(), "a clean stop removes the control socket"
    assert requests.get(f"http://127.0.0.1:{other}/health", timeout=5).status_code == 200


def test_reload_script_drops_no_request(pm2):
    manager, ports = pm2
    before = {port: children(manager.apps()[f"api-{port}"]["pid"]) for port in ports}
    with Hammer(ports, threads=8) as load:
        reload = subprocess.run(
            ["bash", "scripts/reload.sh"], cwd=ROOT, env=manager.env, capture_output=True, text=True, timeout=120
        )
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert reload.stdout.count("SIGHUP to gunicorn") == 2, reload.stdout
    assert load.sent >= 1000, "fewer than 1000 requests while reload.sh ran"
    assert load.errors == []
    assert set(load.statuses) == {200}
    for port in ports:
        after = children(manager.apps()[f"api-{port}"]["pid"])
        assert len(after) == 2
        assert not after & before[port], "every worker was replaced"
        assert serving_pids(port) == after


def test_control_socket_is_per_app(pm2):
    manager, ports = pm2
    assert not (Path(manager.env["HOME"]) / ".gunicorn").exists(), "the shared default socket was not opened"
    for port in ports:
        path = control_socket(port)
        assert path.is_socket()
        shown = subprocess.run(
            [str(VENV_BIN / "gunicornc"), "-s", str(path), "-c", "show workers", "-j"],
            env=manager.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        pids = {worker["pid"] for worker in json.loads(shown.stdout)["workers"]}
        assert pids == children(manager.apps()[f"api-{port}"]["pid"]), "each socket answers for its own app"
