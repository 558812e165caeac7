"""Smoke-test every configured port: health, a public read, an authenticated write and its cleanup."""

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SMOKE_USER = "smoke"


class Failed(Exception):
    """A check failed: `step` names the phase, the message says why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step


def describe(exc: requests.RequestException, timeout: float) -> str:
    """A short, human reason for a request that got no response."""
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g} s"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "reset" in text.lower() or "RemoteDisconnected" in text or "aborted" in text.lower():
        return "connection reset"
    return f"{type(exc).__name__}: {text[:120]}"


def mint_token() -> str:
    """Create the password-less `smoke` writer if missing and mint its token with the operator CLI."""
    manage = [sys.executable, str(ROOT / "scripts" / "manage.py")]
    create = [*manage, "create-user", SMOKE_USER, "--scopes", "items:write", "--no-password", "--if-missing"]
    for command in (create, [*manage, "token", SMOKE_USER]):
        try:
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise Failed("write", f"cannot mint a token: {exc}") from exc
        if result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()[-1]
            raise Failed("write", f"cannot mint a token: {last}")
    return result.stdout.strip()


class Port:
    """One port's HTTP calls, each with a timeout, each failure raised as `Failed`."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base, self.timeout, self.session = base, timeout, requests.Session()

    def call(self, step: str, method: str, path: str, expect: int, **kwargs) -> requests.Response:
        """Send one request; raise `Failed` unless the status is `expect`."""
        try:
            response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise Failed(step, describe(exc, self.timeout)) from exc
        if response.status_code != expect:
            raise Failed(step, f"{method} {path} -> {response.status_code}, expected {expect}")
        return response

    def json(self, step: str, response: requests.Response) -> dict:
        """The response's JSON object, or `Failed`."""
        try:
            body = response.json()
        except ValueError as exc:
            raise Failed(step, f"{response.request.method} {response.request.path_url}: not JSON") from exc
        if not isinstance(body, dict):
            raise Failed(step, f"{response.request.path_url}: JSON is not an object")
        return body


def check_health(api: Port, port: int) -> None:
    """GET /health: 200, status ok, and the port it reports is this one."""
    body = api.json("health", api.call("health", "GET", "/health", 200))
    if body.get("status") != "ok" or body.get("port") != port:
        raise Failed("health", f"answered status={body.get('status')!r} port={body.get('port')!r}")


def check_read(api: Port) -> None:
    """GET /items?limit=1: 200 with a page of items."""
    body = api.json("read", api.call("read", "GET", "/items?limit=1", 200))
    if not isinstance(body.get("items"), list):
        raise Failed("read", "GET /items?limit=1: no items list")


def check_write(api: Port, port: int, token: str | Failed) -> None:
    """POST a uniquely named item, read it back, DELETE it (204), then it is 404; deleted even if a check fails."""
    if isinstance(token, Failed):
        raise Failed(token.step, str(token))
    auth = {"Authorization": f"Bearer {token}"}
    name = f"smoke-{port}-{uuid.uuid4().hex}"
    item = {"name": name, "price": 0.01, "in_stock": False}
    created = api.call("write", "POST", "/items", 201, json=item, headers=auth)
    item_id = api.json("write", created).get("id")
    if not isinstance(item_id, int):
        raise Failed("write", "POST /items: no id in the response")
    path = f"/items/{item_id}"
    try:
        if api.json("write", api.call("write", "GET", path, 200)).get("name") != name:
            raise Failed("write", f"GET {path}: not the item just created")
    finally:
        api.call("cleanup", "DELETE", path, 204, headers=auth)
    api.call("cleanup", "GET", path, 404)


def timed(check, *args) -> float:
    """Run a check; its duration in milliseconds."""
    start = time.perf_counter()
    check(*args)
    return (time.perf_counter() - start) * 1000


def smoke_port(host: str, port: int, timeout: float, token: str | Failed) -> str:
    """Every check against one port; its verdict line."""
    api = Port(f"http://{host}:{port}", timeout)
    try:
        health = timed(check_health, api, port)
        read = timed(check_read, api)
        write = timed(check_write, api, port, token)
    except Failed as failed:
        return f"port {port}: FAIL ({failed.step}: {failed})"
    finally:
        api.session.close()
    return f"port {port}: OK (health {health:.0f} ms, read {read:.0f} ms, write+cleanup {write:.0f} ms)"


def parse_ports(text: str) -> list[int]:
    """'8001, 8002' -> [8001, 8002]; exits on anything that is not a port."""
    ports = [p.strip() for p in text.split(",") if p.strip()]
    if not ports or not all(p.isascii() and p.isdigit() and 0 < int(p) < 65536 for p in ports):
        sys.exit(f"error: --ports {text!r}: expected comma-separated port numbers")
    return [int(p) for p in ports]


def main() -> int:
    """Smoke-test each port; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", default=os.environ.get("API_PORTS") or "8001,8002")
    parser.add_argument("--host", default=os.environ.get("API_HOST") or "127.0.0.1")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    args = parser.parse_args()
    host = f"[{args.host}]" if ":" in args.host else args.host
    ports = parse_ports(args.ports)
    try:
        token: str | Failed = mint_token()
    except Failed as failed:
        token = failed
    ok = True
    for port in ports:
        verdict = smoke_port(host, port, args.timeout, token)
        ok &= ": OK (" in verdict
        print(verdict, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
