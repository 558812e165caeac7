"""Helpers for tests that start real processes: free ports, health polling, pm2 with a private home."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.dbs import fresh_database_url

ROOT = Path(__file__).resolve().parent.parent
PM2_BIN = ROOT / "node_modules" / ".bin" / "pm2"
VENV_BIN = Path(sys.executable).parent


def free_ports(count: int) -> list[int]:
    """Ports the kernel says are free right now, distinct."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def is_listening(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_healthy(port: int, timeout: float = 30, not_pid: int | None = None) -> dict:
    """Poll /health until it answers 200 (from a pid other than `not_pid`); return its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
            if response.status_code == 200 and response.json()["pid"] != not_pid:
                return response.json()
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"port {port} not healthy after {timeout}s")


def service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a private copy of the service: its own database and secret file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PM2_", "API_", "APP_", "JWT_", "DATABASE_"))}
    env.update(
        DATABASE_URL=fresh_database_url(tmp_path),
        JWT_SECRET_FILE=str(tmp_path / "jwt_secret"),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run the operator CLI with `env`; return its stdout."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def terminate(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def kill_pid(pid: int) -> None:
    """SIGKILL a pid we started, if it is still there."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def uvicorn_processes(env: dict[str, str], ports: list[int], cwd: Path = ROOT, extra: tuple[str, ...] = ()):
    """One uvicorn process of main:app per port (working directory `cwd`), healthy on entry, stopped on exit."""
    procs = []
    command = [sys.executable, "-m", "uvicorn", "main:app", "--app-dir", str(ROOT), "--host", "127.0.0.1", *extra]
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [*command, "--port", str(port)],
                    cwd=cwd,
                    env=env | {"APP_PORT": str(port), "APP_INSTANCE": f"api-{port}"},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            wait_healthy(port)
        yield procs
    finally:
        for proc in procs:
            terminate(proc)


class Pm2:
    """The pinned pm2 with a private PM2_HOME; `close` stops its daemon and every app it started."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env | {"PM2_HOME": str(home)}

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a pm2 command in the project directory."""
        return subprocess.run(
            [str(PM2_BIN), *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def apps(self) -> dict[str, dict]:
        """`pm2 jlist` by app name."""
        out = self.run("jlist").stdout
        return {app["name"]: app for app in json.loads(out[out.index("[") :])}

    def wait_online(self, name: str, timeout: float = 30, not_pid: int | None = None) -> dict:
        """Poll until `name` is online with a pid other than `not_pid`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app = self.apps().get(name)
            if app and app["pm2_env"]["status"] == "online" and app["pid"] not in (0, not_pid):
                return app
            time.sleep(0.2)
        raise TimeoutError(f"{name} not online after {timeout}s: {self.apps().get(name)}")

    def close(self) -> None:
        """Delete every app and stop the daemon; SIGKILL any pid that survives."""
        pids = []
        try:
            pids = [app["pid"] for app in self.apps().values() if app.get("pid")]
            self.run("delete", "all", check=False)
        except (subprocess.SubprocessError, ValueError, OSError):
            pass
        daemon = self.home / "pm2.pid"
        if daemon.exists():
            pids.append(int(daemon.read_text().strip() or 0))
        self.run("kill", check=False)
        for pid in pids:
            if pid:
                kill_pid(pid)
