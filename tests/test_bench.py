"""scripts/bench.py --short end to end: wrk against the reference and the service, JSON written."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dbs import ON_POSTGRES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ON_POSTGRES, reason="benchmarks both databases itself: runs once, in the SQLite pass"),
]

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "scripts" / "bench.py"


def load_bench():
    """scripts/bench.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_bench_short_writes_every_target(tmp_path: Path) -> None:
    bench = load_bench()
    try:
        bench.ensure_wrk()
    except bench.BenchError as exc:
        pytest.skip(f"wrk not available: {exc}")

    result = subprocess.run(
        [sys.executable, str(BENCH), "--short", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    keys = [target.key for target in bench.TARGETS]
    if "postgres_url" in report["commands"]:
        keys += [target.key for target in bench.POSTGRES_TARGETS]
    assert list(report["summary"]) == keys
    assert len(report["rounds"]) == 2
    for one in report["rounds"]:
        assert all(one["targets"][key]["rps"] > 0 for key in keys)
    assert all(report["summary"][key]["rps"] > 0 for key in keys)
    assert "GET /items/{id}" in result.stdout
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "bench.png").stat().st_size > 0
