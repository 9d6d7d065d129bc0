"""Kill a real `benchbot run` with SIGKILL, resume it with `benchbot run --resume`, and compare
its metrics with an uninterrupted run of the same plan on the same simulated bench."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchbot.cli import main
from benchbot.limits import MetricResult
from benchbot.plan import load_plan
from benchbot.results.reader import open_record

# Runs a plan on a built-in simulated bench and stalls (marker written) at its N-th completed
# point, counted over the whole run, so the parent can SIGKILL it there.
RUNNER = """
import sys, time
from pathlib import Path
from benchbot import simbench
from benchbot.bench import builtin_bench_path, load_bench
from benchbot.engine import SilentListener
from benchbot.plan import load_plan
from benchbot.runner import RunRequest, run

plan_path, bench_name = sys.argv[1], sys.argv[5]
results, marker, stall_at = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])

class Stall(SilentListener):
    points = 0
    def point_done(self, index):
        self.points += 1
        if self.points == stall_at:
            marker.write_text("stalled")
            time.sleep(600)

bench_path = builtin_bench_path(bench_name)
bench = load_bench(bench_path)
plan = load_plan(plan_path)
with simbench.running(bench, plan.dut.part_number) as (served, _):
    request = RunRequest(plan, Path(plan_path).read_text(), served, Path(bench_path).read_text(),
                         results, simulated=True,
                         simulator_seed=(bench.simulation or {}).get("seed"))
    run(request, Stall())
"""


def total_points(plan_path: Path) -> int:
    """Points of the whole plan, as the engine's progress counts them."""
    return sum(step.total_points() for step in load_plan(plan_path).steps)


def kill_at_point(plan_path: Path, bench: str, results_dir: Path, point: int,
                  timeout_s: float = 180.0) -> Path:
    """Run the plan in a child process, SIGKILL it once its `point`-th point is done; returns
    the `.h5.partial` it left."""
    results_dir.mkdir(parents=True, exist_ok=True)
    marker = results_dir / "stalled"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(plan_path), str(results_dir),
                             str(marker), str(point), bench])
    try:
        deadline = time.monotonic() + timeout_s
        while not marker.exists():
            assert proc.poll() is None, f"the run ended before point {point}"
            assert time.monotonic() < deadline, f"the run never reached point {point}"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    marker.unlink()
    (partial,) = results_dir.glob("*.h5.partial")
    return partial


def kill_after(plan_path: Path, bench: str, results_dir: Path, delay_s: float,
               timeout_s: float = 120.0) -> Path:
    """SIGKILL `benchbot run` `delay_s` after its record appeared, wherever it is then
    (mid-SCPI transaction, mid-flush...); returns the record it left (`.h5.partial`). The
    delay must be shorter than the run, or the assertion says the run ended first."""
    results_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "benchbot.cli", "run", str(plan_path),
                             "--bench", bench, "--results-dir", str(results_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while not list(results_dir.glob("*.h5.partial")):
            assert proc.poll() is None, "the run ended before its record appeared"
            assert time.monotonic() < deadline, "the run never created its record"
            time.sleep(0.01)
        time.sleep(delay_s)
        assert proc.poll() is None, f"the run ended less than {delay_s} s after its start"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (partial,) = results_dir.glob("*.h5.partial")
    return partial


def resume(record: Path) -> tuple[int, Path]:
    """`benchbot run --resume RECORD` in this process; (exit status, the closed record)."""
    status = main(["run", "--resume", str(record)])
    name = record.name.removesuffix(".partial")
    return status, record.with_name(name)


def run_plan(plan_path: Path, bench: str, results_dir: Path) -> tuple[int, Path]:
    """`benchbot run PLAN --bench BENCH` in this process; (exit status, the record)."""
    status = main(["run", str(plan_path), "--bench", bench, "--results-dir", str(results_dir)])
    (record,) = results_dir.glob("*.h5")
    return status, record


def metrics_by_key(record: Path) -> dict[tuple[str, str, str], MetricResult]:
    """(step, metric, condition) -> the recorded result."""
    out = {}
    for step in open_record(record).steps:
        for row in step.metrics:
            result = MetricResult.from_record_row(step.name, row)
            out[(step.name, result.metric, str(sorted(result.condition.items())))] = result
    return out


def differences(resumed: Path, reference: Path,
                tolerance: Callable[[MetricResult], float]) -> list[str]:
    """Each metric of `resumed` that is missing from `reference`, or differs from it by more
    than `tolerance(metric)` (both NaN counts as equal)."""
    a, b = metrics_by_key(resumed), metrics_by_key(reference)
    problems = [f"{key} only in one record" for key in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        x, y = a[key].value, b[key].value
        if math.isnan(x) and math.isnan(y):
            continue
        if not abs(x - y) <= tolerance(a[key]):
            problems.append(f"{key}: resumed {x:.6g} vs uninterrupted {y:.6g} "
                            f"(tolerance {tolerance(a[key]):.3g} {a[key].unit})")
    return problems
