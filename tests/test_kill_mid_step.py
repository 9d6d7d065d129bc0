"""A run killed with SIGKILL mid-step leaves a readable record holding every completed step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from benchbot.results.reader import open_record

PLAN = Path(__file__).parent / "data" / "two_step_plan.yaml"
POINTS_PER_ROW = 34

# Runs the plan on the built-in simulated bench and stalls (marker written) inside step 2,
# after its first frequency row has been committed and a few points of the next were measured.
RUNNER = """
import sys, time
from pathlib import Path
from benchbot import simbench
from benchbot.bench import builtin_bench_path, load_bench
from benchbot.engine import SilentListener
from benchbot.plan import load_plan
from benchbot.runner import RunRequest, run

plan_path, results, marker = (Path(a) for a in sys.argv[1:4])
stall_at = int(sys.argv[4])

class StallInStep2(SilentListener):
    points = 0
    def point_done(self, index):
        self.points += 1
        if self.points == stall_at:
            marker.write_text("stalled")
            time.sleep(600)

bench_path = builtin_bench_path()
with simbench.running(load_bench(bench_path)) as (served, _):
    request = RunRequest(load_plan(plan_path), plan_path.read_text(), served,
                         Path(bench_path).read_text(), results, simulated=True)
    run(request, StallInStep2())
"""


def test_sigkill_mid_step_keeps_completed_steps(tmp_path: Path) -> None:
    marker = tmp_path / "stalled"
    stall_at = 2 * POINTS_PER_ROW + 5
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(PLAN), str(tmp_path), str(marker), str(stall_at)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "runner exited before reaching the stall point"
            assert time.monotonic() < deadline, "runner never reached the stall point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    (partial,) = tmp_path.glob("*.h5.partial")
    assert not list(tmp_path.glob("*.h5"))
    with h5py.File(partial, "r") as f:  # plain h5py, no benchbot
        assert f.attrs["status"] == "running"
        centre = f["steps/000_centre"]
        assert centre.attrs["status"] == "completed"
        assert np.isfinite(centre["output_power_dbm"][()]).all()
        assert len(centre["metrics"]) > 0
        edges = f["steps/001_edges"]["output_power_dbm"][()]
        assert np.isfinite(edges[0]).all(), "the committed first row of step 2 is lost"
    summary = open_record(partial)
    assert summary.interrupted
    assert [s.name for s in summary.steps] == ["centre", "edges"]
