"""Two real uvicorn processes on free ports sharing one database and one secret."""

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.dbs import ON_POSTGRES
from tests.procs import free_ports, manage, service_env, uvicorn_processes

pytestmark = pytest.mark.slow
ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


@pytest.fixture
def pair(tmp_path):
    """Two uvicorn processes of main:app; yields (port_a, port_b, env)."""
    ports = free_ports(2)
    env = service_env(tmp_path)
    manage(env, "init")
    with uvicorn_processes(env, ports):
        yield ports[0], ports[1], env


def test_write_on_one_port_reads_on_the_other(pair):
    port_a, port_b, env = pair
    manage(env, "create-user", "alice", "--scopes", "items:write", "--password", "alice-password")
    login = requests.post(
        f"http://127.0.0.1:{port_b}/aaa/token", data={"username": "alice", "password": "alice-password"}, timeout=10
    )
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    created = requests.post(f"http://127.0.0.1:{port_a}/items", json=ITEM, headers=headers, timeout=10)
    assert created.status_code == 201
    item_id = created.json()["id"]
    read = requests.get(f"http://127.0.0.1:{port_b}/items/{item_id}", timeout=10)
    assert read.status_code == 200
    assert read.json() == created.json()

    patched = requests.patch(f"http://127.0.0.1:{port_b}/items/{item_id}", json={"price": 7.25}, headers=headers)
    assert patched.status_code == 200
    assert requests.get(f"http://127.0.0.1:{port_a}/items/{item_id}", timeout=10).json()["price"] == 7.25


def test_token_from_one_port_works_on_the_other(pair):
    port_a, port_b, env = pair
    manage(env, "create-user", "bob", "--scopes", "items:write", "--password", "bob-password")
    token = requests.post(
        f"http://127.0.0.1:{port_b}/aaa/token", data={"username": "bob", "password": "bob-password"}, timeout=10
    ).json()["access_token"]
    me = requests.get(f"http://127.0.0.1:{port_a}/aaa/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200
    assert me.json()["username"] == "bob"
    health_a = requests.get(f"http://127.0.0.1:{port_a}/health", timeout=10).json()
    health_b = requests.get(f"http://127.0.0.1:{port_b}/health", timeout=10).json()
    assert (health_a["port"], health_b["port"]) == (port_a, port_b)
    assert health_a["pid"] != health_b["pid"]


def test_cli_token_is_accepted_and_disable_applies_on_every_port(pair):
    port_a, port_b, env = pair
    manage(env, "create-user", "svc", "--scopes", "items:write", "--no-password")
    headers = {"Authorization": f"Bearer {manage(env, 'token', 'svc')}"}
    for port in (port_a, port_b):
        assert requests.get(f"http://127.0.0.1:{port}/aaa/me", headers=headers, timeout=10).status_code == 200
    manage(env, "update-user", "svc", "--disable")
    for port in (port_a, port_b):
        response = requests.get(f"http://127.0.0.1:{port}/aaa/me", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_login_burst_keeps_memory_bounded(pair):
    port_a, _, env = pair
    manage(env, "create-user", "carol", "--password", "carol-password")
    health = requests.get(f"http://127.0.0.1:{port_a}/health", timeout=10).json()

    def attempt(n):
        return requests.post(
            f"http://127.0.0.1:{port_a}/aaa/token",
            data={"username": f"nobody{n}" if n % 2 else "carol", "password": "carol-password"},
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(attempt, range(64)))
    # carol's parallel logins beyond LOGIN_MAX_FAILURES in flight get 429; the point here is memory
    assert set(statuses) <= {200, 401, 429}
    assert statuses.count(401) >= 32
    peak_kib = int(Path(f"/proc/{health['pid']}/status").read_text().split("VmHWM:")[1].split()[0])
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib // 1024} MiB during a login burst"


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's file lock")
def test_event_loop_keeps_answering_while_another_process_holds_the_write_lock(pair):
    port, _, env = pair
    manage(env, "create-user", "locker", "--scopes", "items:write", "--no-password")
    headers = {"Authorization": f"Bearer {manage(env, 'token', 'locker')}"}
    base = f"http://127.0.0.1:{port}"
    item = requests.post(f"{base}/items", json={"name": "locked", "price": 1}, headers=headers, timeout=10).json()
    holder = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process now holds SQLite's write lock
    try:
        with ThreadPoolExecutor(1) as pool:
            write = pool.submit(
                requests.patch, f"{base}/items/{item['id']}", json={"price": 2}, headers=headers, timeout=20
            )
            slowest = 0.0
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                for path in ("/health", f"/items/{item['id']}"):
                    started = time.monotonic()
                    assert requests.get(f"{base}{path}", timeout=5).status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.02)
            assert not write.done(), "the write should be waiting for the lock"
            holder.execute("COMMIT")
            assert write.result().status_code == 200
    finally:
        holder.close()
    assert slowest < 0.05, f"a read took {slowest * 1000:.0f} ms while the lock was held"
    assert requests.get(f"{base}/items/{item['id']}", timeout=5).json()["price"] == 2


def test_parallel_login_guesses_across_ports_are_throttled_together(pair):
    port_a, port_b, env = pair
    manage(env, "create-user", "victim", "--password", "victim-password")

    def guess(n):
        port = (port_a, port_b)[n % 2]
        data = {"username": "victim", "password": f"guess-{n}"}
        return requests.post(f"http://127.0.0.1:{port}/aaa/token", data=data, timeout=60).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 25
    right = requests.post(
        f"http://127.0.0.1:{port_b}/aaa/token", data={"username": "victim", "password": "victim-password"}, timeout=10
    )
    assert right.status_code == 429
