"""The operator scripts against pm2 for real (private PM2_HOME, free ports): smoke.py, status.py, logrotate.sh."""

import json
import shutil
import subprocess
import sys

import pytest
import requests

from tests.procs import PM2_BIN, ROOT, Pm2, free_ports, manage, service_env, uvicorn_processes, wait_healthy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PM2_BIN.exists(), reason="pm2 not installed: run scripts/test.sh"),
]


def healthy(manager: Pm2, port: int) -> dict:
    """Wait until api-<port> is online and its /health answers; fail with the app's pm2 log if it does not."""
    try:
        app = manager.wait_online(f"api-{port}")
        wait_healthy(port)
    except TimeoutError as exc:
        logs = manager.run("logs", f"api-{port}", "--lines", "30", "--nostream", check=False).stdout
        pytest.fail(f"{exc}\n{logs}")
    return app


@pytest.fixture
def service(tmp_path):
    """Both apps online under a private pm2 on two free ports; yields (pm2, ports)."""
    ports = free_ports(2)
    env = service_env(tmp_path, API_PORTS=",".join(map(str, ports)))
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        manage(env, "init")
        manager.run("start", "ecosystem.config.js")
        for port in ports:
            healthy(manager, port)
        yield manager, ports
    finally:
        manager.close()


def run(manager: Pm2, *command: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run a script from the project directory with the private pm2's environment."""
    if command[0].endswith(".py"):
        command = (sys.executable, *command)
    else:
        command = ("bash", *command)
    return subprocess.run(
        command, cwd=ROOT, env=manager.env | env, capture_output=True, text=True, timeout=timeout, check=False
    )


def total_items(port: int) -> int:
    """The catalogue's size as the public list reports it."""
    return requests.get(f"http://127.0.0.1:{port}/items", timeout=5).json()["total"]


def status_json(manager: Pm2) -> tuple[int, dict]:
    """status.py --json: its exit code and the parsed report."""
    result = run(manager, "scripts/status.py", "--json")
    return result.returncode, json.loads(result.stdout)


def test_smoke_passes_on_both_ports_and_leaves_no_item(service):
    manager, ports = service
    before = total_items(ports[0])
    result = run(manager, "scripts/smoke.py")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for port, line in zip(ports, lines, strict=True):
        assert line.startswith(f"port {port}: OK (health "), line
        assert "write+cleanup" in line
    assert total_items(ports[0]) == before
    assert total_items(ports[1]) == before
    assert requests.get(f"http://127.0.0.1:{ports[0]}/items", params={"q": "smoke-"}, timeout=5).json()["total"] == 0


def test_smoke_fails_for_the_stopped_port_only(service):
    manager, (stopped, running) = service
    manager.run("stop", f"api-{stopped}")
    result = run(manager, "scripts/smoke.py")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"port {stopped}: FAIL (health: connection refused)" in lines
    assert any(line.startswith(f"port {running}: OK (") for line in lines), lines
    assert len(lines) == 2


def test_status_all_online_and_healthy(service):
    manager, ports = service
    result = run(manager, "scripts/status.py")
    assert result.returncode == 0, result.stdout + result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["app", "status", "pid", "restarts", "uptime", "memory", "cpu", "health", "flag"]
    apps = manager.apps()
    for port, line in zip(ports, rows, strict=True):
        pid = apps[f"api-{port}"]["pid"]
        assert line.split()[:3] == [f"api-{port}", "online", str(pid)], line
        assert f"ok api-{port} pid {pid}" in line
        assert "MISMATCH" not in line

    code, report = status_json(manager)
    assert code == 0
    assert report["ok"] is True
    assert [entry["app"] for entry in report["apps"]] == [f"api-{port}" for port in ports]
    for entry in report["apps"]:
        assert entry["pm2"]["status"] == "online"
        assert entry["health"]["ok"] is True
        assert entry["pm2"]["pid"] == entry["health"]["pid"] == apps[entry["app"]]["pid"]
        assert entry["mismatch"] is False
        assert entry["problems"] == []


def test_status_fails_when_an_app_is_stopped_and_flags_a_foreign_listener(service, tmp_path):
    manager, (stopped, running) = service
    manager.run("stop", f"api-{stopped}")
    result = run(manager, "scripts/status.py")
    assert result.returncode == 1
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith(f"api-{stopped} "))
    assert line.split()[1] == "stopped"
    assert "connection refused" in line
    assert f"api-{stopped}: pm2 status stopped" in result.stderr

    code, report = status_json(manager)
    assert code == 1
    entries = {entry["app"]: entry for entry in report["apps"]}
    assert entries[f"api-{running}"]["problems"] == []
    assert entries[f"api-{stopped}"]["health"] == {"ok": False, "error": "connection refused"}

    # Something pm2 does not run answers on the stopped app's port: flagged, still a failure.
    with uvicorn_processes(manager.env, [stopped]) as (stranger,):
        code, report = status_json(manager)
        entry = next(entry for entry in report["apps"] if entry["app"] == f"api-{stopped}")
        assert code == 1
        assert entry["health"]["ok"] is True
        assert entry["health"]["pid"] == stranger.pid
        assert entry["mismatch"] is True
        assert "MISMATCH" in run(manager, "scripts/status.py").stdout


def test_status_accepts_worker_pids_as_pm2_children(tmp_path):
    (port,) = free_ports(1)
    env = service_env(tmp_path, API_PORTS=str(port), API_WORKERS="2")
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        manage(env, "init")
        manager.run("start", "ecosystem.config.js")
        supervisor = healthy(manager, port)["pid"]
        worker = wait_healthy(port)["pid"]
        assert worker != supervisor
        code, report = status_json(manager)
        assert code == 0, report
        assert report["apps"][0]["mismatch"] is False
    finally:
        manager.close()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_logrotate_installs_and_configures_the_module(tmp_path):
    manager = Pm2(tmp_path / "pm2home", service_env(tmp_path))
    try:
        first = run(manager, "scripts/logrotate.sh", timeout=300, LOGROTATE_RETAIN="7")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "installing pm2-logrotate@2.7.0" in first.stdout
        assert "pm2-logrotate:retain = 7 (set)" in first.stdout
        assert "#201" not in first.stderr  # the default version honours compress

        module = manager.apps()["pm2-logrotate"]
        assert module["pm2_env"]["status"] == "online"
        assert module["pm2_env"].get("pmx_module") is True
        conf = manager.run("conf", "pm2-logrotate").stdout
        expected = {
            "max_size": "10M",
            "retain": "7",
            "compress": "true",
            "dateFormat": "YYYY-MM-DD_HH-mm-ss",
            "rotateInterval": "0 0 * * *",
            "workerInterval": "30",
            "rotateModule": "true",
        }
        for key, value in expected.items():
            assert f"$ pm2 set pm2-logrotate:{key} {value}\n" in conf, conf
        assert "10M" in manager.run("get", "pm2-logrotate:max_size").stdout

        # Again with the defaults: no reinstall, no module restart for unchanged values, retain back to 14.
        second = run(manager, "scripts/logrotate.sh", timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "already installed and online" in second.stdout
        assert "pm2-logrotate:retain = 14 (set)" in second.stdout
        assert "pm2-logrotate:max_size = 10M (unchanged)" in second.stdout
        assert "$ pm2 set pm2-logrotate:retain 14\n" in manager.run("conf", "pm2-logrotate").stdout
        assert manager.apps()["pm2-logrotate"]["pm2_env"]["status"] == "online"

        bad = run(manager, "scripts/logrotate.sh", LOGROTATE_MAX_SIZE="ten")
        assert bad.returncode == 1
        assert "LOGROTATE_MAX_SIZE=ten" in bad.stderr
    finally:
        manager.close()
