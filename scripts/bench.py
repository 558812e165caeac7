"""Benchmark: wrk on loopback against a bare FastAPI reference and the service, in interleaved rounds.

Every target runs once per round, rounds repeat (default 2). The summary per target is the median over rounds;
ratios divide medians from the same invocation. One-worker runs pin the server and wrk to different CPUs; the
both-ports run (two instances, a one-thread wrk on each at once: the client threads of a one-port run) is
unpinned. Prints a table and the issue's goals (informational: the exit code is 0 unless the benchmark itself
failed), writes <out>/bench.json and <out>/bench.png.

    .venv/bin/python scripts/bench.py [--short] [--duration S] [--rounds N] [--connections N] [--out DIR]
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
HOST = "127.0.0.1"
THREADS = 2
SEED_ITEMS = 100
ITEM_BODY = {"name": "Bench Item", "price": 19.99, "in_stock": True}
FALLBACK_SERVICE_ARGS = [
    "main:app",
    "--host",
    HOST,
    "--port",
    "{port}",
    "--no-access-log",
    "--http",
    "core.serving:DrainingHttpToolsProtocol",
    "--timeout-graceful-shutdown",
    "3",
]
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class Target:
    """One measured path: which server, which request."""

    key: str
    label: str
    server: str
    path: str
    method: str = "GET"


TARGETS = [
    Target("reference", "reference GET /hello", "reference", "/hello"),
    Target("get_item", "GET /items/{id}", "service", "/items/{get_id}"),
    Target("list_items", "GET /items?limit=20", "service", "/items?limit=20"),
    Target("put_item", "PUT /items/{id}", "service", "/items/{put_id}", "PUT"),
    Target("post_item", "POST /items", "service", "/items", "POST"),
    Target("health", "GET /health", "service", "/health"),
    Target("both_ports", "both ports GET /items/{id}", "pair", "/items/{get_id}"),
]
# The same paths on the service backed by PostgreSQL, when one answers (--postgres, or the test database).
POSTGRES_TARGETS = [
    Target("pg_get_item", "PostgreSQL GET /items/{id}", "postgres", "/items/{pg_get_id}"),
    Target("pg_list_items", "PostgreSQL GET /items?limit=20", "postgres", "/items?limit=20"),
    Target("pg_put_item", "PostgreSQL PUT /items/{id}", "postgres", "/items/{pg_put_id}", "PUT"),
    Target("pg_post_item", "PostgreSQL POST /items", "postgres", "/items", "POST"),
]
LABELS = {target.key: target.label for target in TARGETS + POSTGRES_TARGETS}
GOALS = [("get_item", 0.9, 15.0), ("list_items", 0.6, 25.0), ("put_item", 0.5, 30.0), ("post_item", 0.5, 30.0)]
BOTH_PORTS_GOAL = 1.6


class BenchError(Exception):
    """The benchmark could not run."""


class Processes:
    """Every child process started here; `close` stops each by its pid: SIGTERM, then SIGKILL."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """Start and remember a child."""
        proc = subprocess.Popen(cmd, **kwargs)
        self.procs.append(proc)
        return proc

    def close(self, timeout: float = 10) -> None:
        """Stop every child still running; Ctrl-C and SIGTERM wait until this is done."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            running = [proc for proc in self.procs if proc.poll() is None]
            for proc in running:
                proc.terminate()
            deadline = time.monotonic() + timeout
            for proc in running:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the table)."""
    print(message, file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: apt-get install -y wrk")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "wrk"]
    try:
        if subprocess.run(install, env=env, capture_output=True, timeout=300).returncode != 0:
            log("install failed: apt-get update, then again")
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
            subprocess.run(install, env=env, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"cannot install wrk: {exc}") from exc
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is missing and apt-get could not install it")
    return found


def pick_cpus() -> tuple[int, int] | None:
    """(server CPU, wrk CPU) for the pinned runs, or None if there are not two CPUs or no taskset."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return None
    return cpus[0], cpus[1]


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """`cmd` run on one CPU (taskset execs it, so the pid stays the command's)."""
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that are free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def service_env(tmp: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a private service: its own database (SQLite file by default) and secret file."""
    prefixes = ("PM2_", "API_", "APP_", "JWT_", "DATABASE_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    return env | {"DATABASE_URL": url, "JWT_SECRET_FILE": str(tmp / "jwt_secret")}


def postgres_url(requested: str | None) -> str | None:
    """The PostgreSQL database to benchmark on, emptied first; None if none answers."""
    if requested == "none":
        return None
    url = requested
    if url is None:
        env = os.environ | {"TEST_PG_DATABASE": "fastapi_pm2_bench"}
        found = subprocess.run(
            [PYTHON, str(ROOT / "scripts" / "pg_test_db.py")], env=env, capture_output=True, text=True, timeout=30
        )
        if found.returncode != 0:
            log("PostgreSQL targets skipped: no server answers (see scripts/pg_test_db.py)")
            return None
        url = found.stdout.strip()
    reset = "import sqlalchemy as s, sys; e = s.create_engine(sys.argv[1], isolation_level='AUTOCOMMIT')\n"
    reset += "with e.connect() as c: c.exec_driver_sql('DROP SCHEMA IF EXISTS public CASCADE'); "
    reset += "c.exec_driver_sql('CREATE SCHEMA public')"
    subprocess.run([PYTHON, "-c", reset, url], check=True, timeout=60)
    return url


def manage(env: dict[str, str], *args: str) -> str:
    """Run the operator CLI; its stdout."""
    cmd = [PYTHON, str(ROOT / "scripts" / "manage.py"), *args]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def prepare_database(env: dict[str, str]) -> str:
    """Schema, secret and a password-less writer; its token."""
    manage(env, "init")
    manage(env, "create-user", "bench", "--scopes", "items:write", "--no-password")
    return manage(env, "token", "bench")


def ecosystem_app(port: int) -> tuple[list[str], dict[str, str], str]:
    """ecosystem.config.js's command and env for one worker on `port`, and where they came from."""
    js = "const a = require(process.argv[1]).apps[0]; console.log(JSON.stringify([a.script, a.args, a.env]));"
    env = os.environ | {"API_PORTS": str(port), "API_HOST": HOST, "API_RUNNER": "uvicorn", "API_WORKERS": "1"}
    try:
        out = subprocess.run(
            ["node", "-e", js, str(ROOT / "ecosystem.config.js")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        script, args, app_env = json.loads(out)
        return [script, *args], {key: str(value) for key, value in app_env.items()}, "ecosystem.config.js"
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log(f"warning: cannot read ecosystem.config.js with node ({exc}); using the built-in copy of its args")
    args = [arg.replace("{port}", str(port)) for arg in FALLBACK_SERVICE_ARGS]
    return [str(VENV_BIN / "uvicorn"), *args], {"APP_PORT": str(port), "APP_INSTANCE": f"api-{port}"}, "fallback"


def reference_command(port: int) -> list[str]:
    """The reference app under uvicorn's defaults (access log on, uvloop, httptools), one worker."""
    return [PYTHON, "-m", "uvicorn", "--app-dir", "scripts", "bench_reference:app", "--host", HOST, "--port", str(port)]


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_server(procs: Processes, cmd: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen:
    """Start a server with its output in `logfile`."""
    with logfile.open("wb") as out:
        return procs.start(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen, url: str, logfile: Path, timeout: float = 30) -> None:
    """Poll `url` until it answers 200; fail if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server for {url} exited with {proc.returncode}:\n{tail(logfile)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"server for {url} not ready after {timeout:.0f}s:\n{tail(logfile)}")


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    """One JSON request with urllib; the decoded body."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except OSError as exc:
        raise BenchError(f"{method} {url} failed: {exc}") from exc


def seed_items(base: str, token: str, count: int) -> list[int]:
    """Create `count` items over HTTP; their ids."""
    return [http_json("POST", f"{base}/items", ITEM_BODY, token)["id"] for _ in range(count)]


def write_lua(tmp: Path, method: str, token: str) -> Path:
    """A wrk script sending `method` with the item body and the bearer token."""
    path = tmp / f"{method.lower()}.lua"
    path.write_text(
        f'wrk.method = "{method}"\n'
        f"wrk.body = '{json.dumps(ITEM_BODY)}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    return path


def to_ms(text: str) -> float:
    """A wrk duration such as 812.00us, 3.41ms or 1.20s, in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise BenchError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * TIME_UNITS_MS[match.group(2)]


def parse_wrk(out: str) -> dict:
    """requests/s, p50/p99 in ms, request count and errors from wrk --latency output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rps and p50 and p99 and total):
        raise BenchError(f"cannot parse wrk output:\n{out}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = map(int, sockets.groups()) if sockets else (0, 0, 0, 0)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = {
        "rps": float(rps.group(1)),
        "p50_ms": to_ms(p50.group(1)),
        "p99_ms": to_ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors,
    }
    result["errors"] = result["non2xx"] + sum(result["socket_errors"].values())
    return result


class Bench:
    """The servers of one invocation and how to load them."""

    def __init__(self, procs: Processes, wrk: str, cpus: tuple[int, int] | None, args: argparse.Namespace) -> None:
        self.procs = procs
        self.wrk = wrk
        self.server_cpu, self.wrk_cpu = cpus or (None, None)
        self.args = args
        self.ports: dict[str, list[int]] = {}
        self.scripts: dict[str, Path] = {}
        self.ids: dict[str, int] = {}
        self.commands: dict[str, object] = {}
        self.targets = list(TARGETS)

    def wrk_command(
        self, port: int, path: str, script: Path | None, seconds: int, cpu: int | None, threads: int = THREADS
    ) -> list[str]:
        """The wrk command line for one run."""
        cmd = [self.wrk, f"-t{threads}", f"-c{self.args.connections}", f"-d{seconds}s", "--latency"]
        cmd += ["-s", str(script)] if script else []
        return pinned([*cmd, f"http://{HOST}:{port}{path}"], cpu)

    def load(self, target: Target, seconds: int) -> dict:
        """Run wrk against every port of the target's server at once; the figures (summed over ports)."""
        path = target.path.format(**self.ids)
        script = self.scripts.get(f"pg:{target.method}" if target.server == "postgres" else target.method)
        ports = self.ports[target.server]
        cpu = None if target.server == "pair" else self.wrk_cpu
        # Each port gets the connections of a one-port run; the wrk threads in all are those of a one-port run.
        threads = max(1, THREADS // len(ports))
        runs = [
            self.procs.start(
                self.wrk_command(port, path, script, seconds, cpu, threads),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            for port in ports
        ]
        outputs = []
        for run in runs:
            try:
                outputs.append(run.communicate(timeout=seconds + 30)[0])
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"wrk did not finish: {' '.join(run.args)}") from exc
            if run.returncode != 0:
                raise BenchError(f"wrk exited with {run.returncode}: {outputs[-1]}")
        return combine([parse_wrk(out) for out in outputs])

    def start(self, tmp: Path) -> None:
        """Prepare the database, start every server, seed items, write the wrk scripts."""
        env = service_env(tmp)
        token = prepare_database(env)
        ref, one, *pair = free_ports(4)
        self.ports = {"reference": [ref], "service": [one], "pair": pair}
        pin = self.server_cpu
        servers = {"reference": (ref, pin), "service": (one, pin), "pair_a": (pair[0], None), "pair_b": (pair[1], None)}
        pending = [self.launch(name, port, cpu, env, tmp) for name, (port, cpu) in servers.items()]
        for proc, url, logfile in pending:
            wait_ready(proc, url, logfile)
        ids = seed_items(self.base("service"), token, SEED_ITEMS)
        self.ids = {"get_id": ids[len(ids) // 2], "put_id": ids[0]}
        self.scripts = {method: write_lua(tmp, method, token) for method in ("PUT", "POST")}
        pg_url = postgres_url(self.args.postgres)
        if pg_url:
            pg_env = service_env(tmp, pg_url)
            pg_token = prepare_database(pg_env)
            (pg_port,) = free_ports(1)
            self.ports["postgres"] = [pg_port]
            proc, url, logfile = self.launch("postgres", pg_port, pin, pg_env, tmp)
            wait_ready(proc, url, logfile)
            pg_ids = seed_items(self.base("postgres"), pg_token, SEED_ITEMS)
            self.ids |= {"pg_get_id": pg_ids[len(pg_ids) // 2], "pg_put_id": pg_ids[0]}
            (tmp / "pg").mkdir()
            self.scripts |= {f"pg:{method}": write_lua(tmp / "pg", method, pg_token) for method in ("PUT", "POST")}
            self.commands["postgres_url"] = pg_url
            self.targets += POSTGRES_TARGETS

    def launch(self, name: str, port: int, cpu: int | None, env: dict[str, str], tmp: Path) -> tuple:
        """Start one server (the reference, or the service as pm2 would); (process, readiness URL, log file)."""
        if name == "reference":
            cmd, server_env, ready, extra = reference_command(port), os.environ.copy(), "/hello", {}
        else:
            cmd, app_env, source = ecosystem_app(port)
            server_env, ready, extra = env | app_env, "/health", {"env": app_env, "source": source}
        cmd = pinned(cmd, cpu)
        self.commands[name] = {"argv": cmd, **extra}
        logfile = tmp / f"{name}.log"
        return start_server(self.procs, cmd, server_env, logfile), f"http://{HOST}:{port}{ready}", logfile

    def base(self, server: str) -> str:
        """The URL of a server's first port."""
        return f"http://{HOST}:{self.ports[server][0]}"

    def item_count(self) -> int:
        """How many items the catalogue holds now."""
        return http_json("GET", f"{self.base('service')}/items?limit=1")["total"]

    def warm_up(self, seconds: int) -> None:
        """A short unrecorded load on every server."""
        for target in (TARGETS[0], TARGETS[1], TARGETS[-1]):
            self.load(target, seconds)

    def round(self, number: int) -> dict:
        """Every target once; the raw figures."""
        results = {"round": number, "items_at_start": self.item_count(), "targets": {}}
        for target in self.targets:
            figures = self.load(target, self.args.duration)
            results["targets"][target.key] = figures
            flag = f", {figures['errors']} errors" if figures["errors"] else ""
            log(f"round {number} {target.label}: {figures['rps']:.0f} req/s, p99 {figures['p99_ms']:.2f} ms{flag}")
        return results


def combine(runs: list[dict]) -> dict:
    """One figure for simultaneous wrk runs: summed rates and counts, the worst latencies, each run kept."""
    if len(runs) == 1:
        return runs[0]
    keys = ("connect", "read", "write", "timeout")
    return {
        "rps": sum(run["rps"] for run in runs),
        "p50_ms": max(run["p50_ms"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
        "non2xx": sum(run["non2xx"] for run in runs),
        "socket_errors": {key: sum(run["socket_errors"].get(key, 0) for run in runs) for key in keys},
        "errors": sum(run["errors"] for run in runs),
        "per_port": runs,
    }


def summarize(rounds: list[dict]) -> dict:
    """Per target: medians over rounds, the best rate, summed errors, the ratio to the reference."""
    summary = {}
    for key in rounds[0]["targets"]:
        figures = [one["targets"][key] for one in rounds]
        summary[key] = {
            "label": LABELS[key],
            "rps": statistics.median(f["rps"] for f in figures),
            "rps_best": max(f["rps"] for f in figures),
            "p50_ms": statistics.median(f["p50_ms"] for f in figures),
            "p99_ms": statistics.median(f["p99_ms"] for f in figures),
            "errors": sum(f["errors"] for f in figures),
        }
    for entry in summary.values():
        entry["ratio"] = entry["rps"] / summary["reference"]["rps"]
    summary["both_ports"]["vs_one_port"] = summary["both_ports"]["rps"] / summary["get_item"]["rps"]
    return summary


def check_goals(summary: dict) -> list[dict]:
    """The issue's targets, each with the measured value and whether it was met (no errors allowed)."""
    goals = []
    for key, min_ratio, max_p99 in GOALS:
        entry = summary[key]
        met = entry["ratio"] >= min_ratio and entry["p99_ms"] < max_p99 and entry["errors"] == 0
        goals.append(
            {
                "target": key,
                "goal": f"{LABELS[key]}: >= {min_ratio} x reference, p99 < {max_p99:g} ms",
                "measured": f"{entry['ratio']:.2f} x, p99 {entry['p99_ms']:.2f} ms, {entry['errors']} errors",
                "pass": met,
            }
        )
    both = summary["both_ports"]
    goals.append(
        {
            "target": "both_ports",
            "goal": f"{LABELS['both_ports']}: >= {BOTH_PORTS_GOAL} x one port",
            "measured": f"{both['vs_one_port']:.2f} x one port, {both['errors']} errors",
            "pass": both["vs_one_port"] >= BOTH_PORTS_GOAL and both["errors"] == 0,
        }
    )
    return goals


def render(summary: dict, goals: list[dict], rounds: int) -> str:
    """The table and the goals, as printed."""
    lines = [
        f"median of {rounds} rounds; x ref = requests/s / reference requests/s (same invocation)",
        f"{'target':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x ref':>6} {'errors':>8}",
    ]
    for entry in summary.values():
        errors = f"{entry['errors']} !" if entry["errors"] else "0"
        lines.append(
            f"{entry['label']:<28} {entry['rps']:>9.0f} {entry['p50_ms']:>8.2f} {entry['p99_ms']:>8.2f} "
            f"{entry['ratio']:>6.2f} {errors:>8}"
        )
    if any(entry["errors"] for entry in summary.values()):
        lines.append("! = non-2xx responses or socket errors (details per round in bench.json)")
    lines += ["", "goals (informational):"]
    lines += [f"  {'PASS' if g['pass'] else 'FAIL'}  {g['goal']}  [{g['measured']}]" for g in goals]
    return "\n".join(lines)


def machine_info(wrk: str) -> dict:
    """CPU, cores, date and the versions that matter."""
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace") if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    probe = (
        "import importlib.metadata as m, json, platform; "
        "print(json.dumps({'python': platform.python_version(), "
        "**{p: m.version(p) for p in ('uvicorn', 'fastapi', 'starlette', 'uvloop', 'httptools')}}))"
    )
    versions = json.loads(subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, check=True).stdout)
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kernel": platform.release(),
        "wrk": wrk_version[0] if wrk_version else "",
        **versions,
    }


def write_chart(summary: dict, path: Path, title: str) -> bool:
    """Bars of requests/s (labelled with the ratio to the reference) and of p99; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("warning: matplotlib is not installed (pip install -r requirements-dev.txt): no chart")
        return False
    entries = list(summary.values())
    xs = range(len(entries))
    labels = [entry["label"] for entry in entries]
    fig, (rate, p99) = plt.subplots(1, 2, figsize=(14, 5.5))
    bars = rate.bar(xs, [entry["rps"] for entry in entries], color="tab:blue")
    rate.bar_label(bars, labels=[f"x{entry['ratio']:.2f}" for entry in entries], padding=2)
    rate.set_title("requests/s (label: ratio to reference)")
    bars = p99.bar(xs, [entry["p99_ms"] for entry in entries], color="tab:orange")
    p99.bar_label(bars, fmt="%.1f", padding=2)
    keys = list(summary)
    for key, _, max_p99 in GOALS:
        x = keys.index(key)
        p99.hlines(max_p99, x - 0.4, x + 0.4, colors="red", linestyles="dashed")
    p99.set_title("p99 latency, ms (dashed: goal)")
    for axis in (rate, p99):
        axis.set_xticks(list(xs), labels, rotation=30, ha="right")
        axis.margins(y=0.15)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run(args: argparse.Namespace) -> dict:
    """Start everything, run the rounds, stop everything; the report."""
    wrk = ensure_wrk()
    cpus = pick_cpus()
    if cpus is None:
        log("warning: fewer than two CPUs or no taskset: runs are not pinned")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, Processes() as procs:
        bench = Bench(procs, wrk, cpus, args)
        bench.start(Path(tmp))
        bench.warm_up(args.warmup)
        rounds = [bench.round(number) for number in range(1, args.rounds + 1)]
        commands, ids = bench.commands, bench.ids
    summary = summarize(rounds)
    return {
        "machine": machine_info(wrk),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "threads": THREADS,
            "connections": args.connections,
            "pinning": {"server_cpu": cpus[0], "wrk_cpu": cpus[1]} if cpus else None,
            "statistic": "median over rounds",
            "seed_items": SEED_ITEMS,
            "item_ids": ids,
        },
        "commands": commands,
        "elapsed_s": round(time.monotonic() - started, 1),
        "rounds": rounds,
        "summary": summary,
        "goals": check_goals(summary),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="2 s per target and round (default 10 s)")
    parser.add_argument("--duration", type=int, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds, at least 2 (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32, 2 threads)")
    parser.add_argument(
        "--postgres",
        help="SQLAlchemy URL of a PostgreSQL database to wipe and benchmark on as well; 'none' to skip "
        "(default: the local test server, if one answers)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench", help="where bench.json/png go")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (targets are interleaved over rounds)")
    if args.connections < THREADS:
        parser.error(f"--connections must be at least {THREADS} (one per wrk thread)")
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1")
    args.duration = args.duration or (2 if args.short else 10)
    args.warmup = 1 if args.short else 2
    return args


def interrupted(signum: int, frame) -> None:
    """SIGTERM acts like Ctrl-C, so the cleanup runs."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if it ran, whatever the goals say."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        report = run(args)
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; every process started here was stopped")
        return 130
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    machine = report["machine"]
    title = f"{machine['cpu_model']}, {machine['cores']} cores, -t{THREADS} -c{args.connections}, {machine['date']}"
    chart = write_chart(report["summary"], args.out / "bench.png", title)
    print(render(report["summary"], report["goals"], args.rounds))
    print(f"\nwrote {args.out / 'bench.json'}" + (f" and {args.out / 'bench.png'}" if chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
