"""A run killed with SIGKILL mid-step leaves a readable record holding every completed step."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from benchbot.results.reader import open_record
from tests._resume import kill_at_point

PLAN = Path(__file__).parent / "data" / "two_step_plan.yaml"
POINTS_PER_ROW = 34


def test_sigkill_mid_step_keeps_completed_steps(tmp_path: Path) -> None:
    # SIGKILL inside step 2, after its first frequency row was committed and a few points of
    # the next were measured
    partial = kill_at_point(PLAN, "simulated", tmp_path, 2 * POINTS_PER_ROW + 5)
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
