"""Many writers on both ports, lost updates, crashes, restarts, reloads, a taken port: nothing acknowledged is lost."""

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.dbs import ON_POSTGRES
from tests.load import Hammer, run_calls
from tests.procs import PM2_BIN, ROOT, Pm2, free_ports, manage, service_env, uvicorn_processes, wait_healthy

pytestmark = pytest.mark.slow
needs_pm2 = pytest.mark.skipif(not PM2_BIN.exists(), reason="pm2 not installed: run scripts/test.sh")


def writer_headers(env) -> dict[str, str]:
    manage(env, "create-user", "loader", "--scopes", "items:write", "--no-password", "--if-missing")
    return {"Authorization": f"Bearer {manage(env, 'token', 'loader')}"}


def db_path(env) -> str:
    return env["DATABASE_URL"].removeprefix("sqlite:///")


def test_concurrent_creates_and_updates_on_both_ports_are_exact(tmp_path):
    ports = free_ports(2)
    env = service_env(tmp_path)
    manage(env, "init")
    headers = writer_headers(env)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    with uvicorn_processes(env, ports):
        creates = [
            (
                lambda s, n=n: s.post(
                    f"{urls[n % 2]}/items", json={"name": f"item {n}", "price": n / 100}, headers=headers
                )
            )
            for n in range(1000)
        ]
        created = run_calls(creates, threads=32)
        assert created.errors == []
        assert created.server_errors == []
        assert created.statuses.count(201) == 1000
        ids = sorted(item["id"] for item in created.acked)
        assert len(set(ids)) == 1000

        updates = [
            (lambda s, i=i, n=n: s.patch(f"{urls[n % 2]}/items/{i}", json={"price": n + 0.25}, headers=headers))
            for n, i in enumerate(ids)
        ]
        updated = run_calls(updates, threads=32)
        assert updated.errors == []
        assert updated.server_errors == []
        assert updated.statuses.count(200) == 1000
        expected = {item["id"]: item["price"] for item in updated.acked}

        page, seen = 0, {}
        while True:
            body = requests.get(f"{urls[1]}/items", params={"limit": 100, "offset": page * 100}, timeout=10).json()
            seen.update({item["id"]: item["price"] for item in body["items"]})
            if len(body["items"]) < 100:
                break
            page += 1
        assert body["total"] == 1000
        assert seen == expected
        assert all(price == n + 0.25 for n, price in enumerate(seen[i] for i in ids))


def test_racing_if_match_updates_on_two_ports_have_one_winner(tmp_path):
    ports = free_ports(2)
    env = service_env(tmp_path)
    manage(env, "init")
    headers = writer_headers(env)
    with uvicorn_processes(env, ports):
        item = requests.post(
            f"http://127.0.0.1:{ports[0]}/items", json={"name": "contested", "price": 1}, headers=headers, timeout=10
        ).json()
        for round_number in range(20):
            etag = requests.get(f"http://127.0.0.1:{ports[0]}/items/{item['id']}", timeout=10).headers["etag"]
            barrier = threading.Barrier(2)

            def race(port, price, etag=etag, barrier=barrier):
                barrier.wait()
                return requests.put(
                    f"http://127.0.0.1:{port}/items/{item['id']}",
                    json={"name": "contested", "price": price},
                    headers=headers | {"If-Match": etag},
                    timeout=10,
                )

            with ThreadPoolExecutor(2) as pool:
                results = list(pool.map(race, ports, [round_number + 0.5, round_number + 0.75]))
            assert sorted(r.status_code for r in results) == [200, 412]
            winner = next(r for r in results if r.status_code == 200).json()
            assert requests.get(f"http://127.0.0.1:{ports[1]}/items/{item['id']}", timeout=10).json() == winner


@pytest.fixture
def pm2(tmp_path):
    """A private pm2 with two free ports; yields (pm2, ports, env)."""
    ports = free_ports(2)
    env = service_env(tmp_path, API_PORTS=",".join(map(str, ports)))
    manage(env, "init")
    manager = Pm2(tmp_path / "pm2home", env)
    try:
        yield manager, ports, manager.env
    finally:
        manager.close()


def start_all(manager, ports):
    manager.run("start", "ecosystem.config.js")
    apps = {port: manager.wait_online(f"api-{port}") for port in ports}
    for port in ports:
        wait_healthy(port)
    return apps


@needs_pm2
def test_kill_9_mid_burst_loses_no_acknowledged_write(pm2):
    manager, ports, env = pm2
    headers = writer_headers(env)
    apps = start_all(manager, ports)
    victim = apps[ports[0]]["pid"]
    calls = [
        (
            lambda s, n=n: s.post(
                f"http://127.0.0.1:{ports[n % 2]}/items",
                json={"name": f"burst {n}", "price": 1},
                headers=headers,
                timeout=10,
            )
        )
        for n in range(1200)
    ]
    killer = threading.Timer(0.8, os.kill, (victim, signal.SIGKILL))
    killer.start()
    outcome = run_calls(calls, threads=16)
    killer.join()
    assert outcome.server_errors == []
    assert outcome.errors, "the kill landed after the burst; nothing was in flight"
    manager.wait_online(f"api-{ports[0]}", not_pid=victim)
    wait_healthy(ports[0], not_pid=victim)

    for item in outcome.acked:
        response = requests.get(f"http://127.0.0.1:{ports[0]}/items/{item['id']}", timeout=10)
        assert response.status_code == 200
        assert response.json()["name"] == item["name"]
    count = requests.get(f"http://127.0.0.1:{ports[1]}/items", timeout=10).json()["total"]
    assert len(outcome.acked) <= count <= len(outcome.acked) + len(outcome.errors)
    if not ON_POSTGRES:
        with sqlite3.connect(db_path(env)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@needs_pm2
def test_pm2_restart_lets_in_flight_requests_finish(pm2):
    manager, ports, env = pm2
    for n in range(12):  # one user each: a user name has at most LOGIN_MAX_FAILURES attempts in flight
        manage(env, "create-user", f"slow{n}", "--password", "slow-password-1")
    apps = start_all(manager, ports)
    port = ports[0]

    def login(n):
        data = {"username": f"slow{n}", "password": "slow-password-1"}
        return requests.post(f"http://127.0.0.1:{port}/aaa/token", data=data, timeout=20)

    # argon2 makes each login take tens of milliseconds: twelve at once are still running when pm2 restarts.
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(login, n) for n in range(12)]
        time.sleep(0.15)
        manager.run("restart", f"api-{port}")
        results = [future.result() for future in futures]
    assert [r.status_code for r in results] == [200] * 12
    wait_healthy(port, not_pid=apps[port]["pid"])


@needs_pm2
def test_reload_script_drops_no_request(pm2):
    manager, ports, _ = pm2
    manager.env["API_WORKERS"] = "2"
    start_all(manager, ports)
    with Hammer([ports[0]], threads=6) as load:
        reload = subprocess.run(
            ["bash", "scripts/reload.sh"], cwd=ROOT, env=manager.env, capture_output=True, text=True, timeout=120
        )
        deadline = time.monotonic() + 30
        while load.sent < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert "SIGHUP" in reload.stdout
    assert load.sent >= 1000
    assert load.errors == []
    assert set(load.statuses) == {200}


@needs_pm2
def test_taken_port_is_reported_and_other_port_keeps_serving(pm2):
    manager, (taken, free), env = pm2
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", taken))
    squatter.listen()
    try:
        started = subprocess.run(
            ["bash", "scripts/start.sh"],
            cwd=ROOT,
            env=env | {"WAIT_HEALTHY_SECONDS": "8"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert started.returncode != 0
        assert f"port {taken}: not healthy" in started.stderr
        assert "address already in use" in (started.stdout + started.stderr).lower()
        assert wait_healthy(free)["port"] == free
        deadline = time.monotonic() + 90
        while manager.apps()[f"api-{taken}"]["pm2_env"]["status"] != "errored":
            assert time.monotonic() < deadline, "pm2 kept restarting the app on the taken port"
            time.sleep(0.5)
        assert manager.apps()[f"api-{free}"]["pm2_env"]["status"] == "online"
        assert requests.get(f"http://127.0.0.1:{free}/items", timeout=5).status_code == 200
    finally:
        squatter.close()
