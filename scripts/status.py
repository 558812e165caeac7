"""Status of every configured port: pm2's view of its app (api-<port>) next to what the port's /health says."""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PM2 = ROOT / "node_modules" / ".bin" / "pm2"
COLUMNS = ["app", "status", "pid", "restarts", "uptime", "memory", "cpu", "health", "flag"]


def pm2_home() -> Path:
    """PM2_HOME as pm2 resolves it."""
    return Path(os.environ.get("PM2_HOME") or Path.home() / ".pm2")


def daemon_running(home: Path) -> bool:
    """True if the pm2 daemon of `home` is alive (so `pm2 jlist` will not spawn a new one)."""
    try:
        os.kill(int((home / "pm2.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def pm2_apps(daemon: bool) -> dict[str, dict]:
    """`pm2 jlist` by app name ({} when no daemon runs); exits with pm2's error if it fails."""
    if not daemon:
        return {}
    if not PM2.exists():
        sys.exit(f"error: {PM2} not found: run scripts/start.sh first")
    result = subprocess.run([str(PM2), "jlist"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    out = result.stdout
    try:
        return {app["name"]: app for app in json.loads(out[out.index("[") :])}
    except (ValueError, KeyError, TypeError):
        sys.exit(f"error: pm2 jlist failed: {(result.stderr or out).strip()[-500:]}")


def parent_pid(pid: int) -> int | None:
    """The parent of `pid`, from /proc (Linux) or ps (elsewhere); None if it is gone."""
    if Path("/proc/self/stat").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            return int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    ps = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    return int(ps.stdout.strip()) if ps.stdout.strip().isdigit() else None


def descends_from(pid: int | None, ancestor: int | None) -> bool:
    """True if `pid` is `ancestor` or one of its children (uvicorn --workers, gunicorn) or grandchildren."""
    for _ in range(8):
        if not pid or not ancestor or pid == 1:
            return False
        if pid == ancestor:
            return True
        pid = parent_pid(pid)
    return False


def health(host: str, port: int, timeout: float) -> dict:
    """GET /health: {"ok", "instance", "pid", ...} or {"ok": False, "error"}."""
    try:
        response = requests.get(f"http://{host}:{port}/health", timeout=timeout)
    except requests.Timeout:
        return {"ok": False, "error": f"timed out after {timeout:g} s"}
    except requests.RequestException as exc:
        refused = "refused" in str(exc).lower()
        return {"ok": False, "error": "connection refused" if refused else f"{type(exc).__name__}: {str(exc)[:120]}"}
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        return {"ok": False, "error": f"HTTP {response.status_code}"}
    return {"ok": True, "instance": body.get("instance"), "pid": body.get("pid"), "port": body.get("port")}


def pm2_view(app: dict | None) -> dict | None:
    """The few pm2 facts shown (never pm2_env's environment, which may hold secrets)."""
    if app is None:
        return None
    env, monit = app.get("pm2_env", {}), app.get("monit", {})
    online = env.get("status") == "online"
    return {
        "status": env.get("status"),
        "pid": app.get("pid") or None,
        "restarts": env.get("restart_time", 0),
        "uptime_s": round(time.time() - env["pm_uptime"] / 1000) if online and env.get("pm_uptime") else None,
        "memory_bytes": monit.get("memory") if online else None,
        "cpu_percent": monit.get("cpu") if online else None,
    }


def port_status(host: str, port: int, apps: dict[str, dict], timeout: float) -> dict:
    """One port: pm2's app, its /health, whether the two agree, and what is wrong."""
    name = f"api-{port}"
    pm2, checked = pm2_view(apps.get(name)), health(host, port, timeout)
    pid = pm2["pid"] if pm2 else None
    mismatch = checked["ok"] and not descends_from(checked["pid"], pid)
    problems = []
    if pm2 is None:
        problems.append("not in pm2")
    elif pm2["status"] != "online":
        problems.append(f"pm2 status {pm2['status']}")
    if not checked["ok"]:
        problems.append(f"unhealthy: {checked['error']}")
    if mismatch:
        owner = f"pm2's pid {pid} or a child of it" if pid else "a process pm2 runs"
        problems.append(f"/health answered from pid {checked['pid']}, not {owner}")
    return {"app": name, "port": port, "pm2": pm2, "health": checked, "mismatch": mismatch, "problems": problems}


def human_uptime(seconds: int | None) -> str:
    """3d 4h, 2h 5m, 4m 10s, 12s."""
    if seconds is None:
        return "-"
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def row(entry: dict) -> list[str]:
    """One table row."""
    pm2, checked = entry["pm2"] or {}, entry["health"]
    memory = pm2.get("memory_bytes")
    cpu = pm2.get("cpu_percent")
    return [
        entry["app"],
        pm2.get("status") or "missing",
        str(pm2.get("pid") or "-"),
        str(pm2["restarts"]) if pm2 else "-",
        human_uptime(pm2.get("uptime_s")),
        f"{memory / 2**20:.1f} MiB" if memory is not None else "-",
        f"{cpu:g}%" if cpu is not None else "-",
        f"ok {checked['instance']} pid {checked['pid']}" if checked["ok"] else checked["error"],
        "MISMATCH" if entry["mismatch"] else "",
    ]


def table(entries: list[dict]) -> str:
    """The entries as an aligned text table."""
    rows = [COLUMNS, *(row(entry) for entry in entries)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in rows)


def main() -> int:
    """Print the status table (or JSON); exit 1 if any port's app is missing, not online, unhealthy or mismatched."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", default=os.environ.get("API_PORTS") or "8001,8002")
    parser.add_argument("--host", default=os.environ.get("API_HOST") or "127.0.0.1")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds for each /health (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    ports = [p.strip() for p in args.ports.split(",") if p.strip()]
    if not ports or not all(p.isascii() and p.isdigit() and 0 < int(p) < 65536 for p in ports):
        sys.exit(f"error: --ports {args.ports!r}: expected comma-separated port numbers")
    host = f"[{args.host}]" if ":" in args.host else args.host
    daemon = daemon_running(pm2_home())
    apps = pm2_apps(daemon)
    entries = [port_status(host, int(port), apps, args.timeout) for port in ports]
    ok = not any(entry["problems"] for entry in entries)
    if args.json:
        print(json.dumps({"ok": ok, "pm2_home": str(pm2_home()), "pm2_daemon": daemon, "apps": entries}, indent=2))
        return 0 if ok else 1
    print(table(entries))
    if not daemon:
        print(f"\npm2 daemon not running (PM2_HOME={pm2_home()})")
    for entry in entries:
        for problem in entry["problems"]:
            print(f"{entry['app']}: {problem}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
