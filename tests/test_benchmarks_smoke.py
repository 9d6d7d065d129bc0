"""Smoke test of `benchmarks/`: each benchmark runs in quick mode and returns sane numbers.

No timing assertions: the figures are only checked to be finite and positive. Each benchmark
runs in its own interpreter (`benchmarks/run.py --quick --only NAME --json FILE`): the
benchmarks pin CPUs, patch `benchbot.runner.RunRecord` for the duration of a run and create the
process's cached pyvisa-py ResourceManager, none of which should leak into the test session
(another test closing a ResourceManager in-process would otherwise invalidate that cache).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


@pytest.mark.parametrize("name", ["query_overhead", "plan_walltime", "trace_fetch", "nr_analysis",
                                  "s_matrix_fetch", "service_load"])
def test_quick_run_returns_finite_positive_numbers(name: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", name, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert list(results) == [name]
    result = results[name]
    assert len(result) > 1
    for key, value in result.items():
        assert isinstance(value, int | float), key
        assert math.isfinite(value) and value > 0, (key, value)
    assert "benchmark" in proc.stdout and "ratio" in proc.stdout  # the table was printed
    if name == "service_load":  # every request of every phase answered as expected
        for key, sent in result.items():
            if key.endswith(".sent"):
                assert result[key.removesuffix(".sent") + ".ok"] == sent, (key, proc.stderr)
