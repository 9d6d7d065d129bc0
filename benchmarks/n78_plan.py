"""(e) The full n78 PA characterisation plan on both simulated benches: wall time and the share
spent inside the simulators.

`test_plans/n78_pa_characterisation.yaml` (CW compression, ACLR/EVM/OBW vs Pout with 100 MHz NR
at three frequencies, harmonics, two-tone) runs through `benchbot.runner.run` on the built-in
Keysight bench and on the R&S bench, with the simulated sweep/settling times scaled by the
benches' `time_scale` (0.02). Issue 3's target: ≤ 15 s per run on this 2-core machine. The
baseline column is the time spent inside the simulators' SCPI handling (wall, simulated waits
included), measured in the same run; `--quick` runs each bench once (else 3×, medians).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._harness import ROOT, Row, median
from benchmarks.plan_walltime import run_once

PLAN = ROOT / "test_plans" / "n78_pa_characterisation.yaml"
BENCHES = ("simulated", "simulated-rs")
TARGET_S = 15.0


def measure(quick: bool = False) -> dict[str, float]:
    repeats = 1 if quick else 3
    text = PLAN.read_text(encoding="utf-8")
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="benchbot-n78-") as tmp:
        for bench in BENCHES:
            runs = [run_once(text, Path(tmp) / f"{bench}{i}", PLAN, bench)
                    for i in range(repeats)]
            for key in ("wall_s", "sim_cpu_s", "sim_wall_s", "hdf5_s", "scpi_messages"):
                result[f"{bench}.{key}"] = median([r[key] for r in runs])
    return result


def rows(result: dict[str, float]) -> list[Row]:
    out: list[Row] = []
    for bench in BENCHES:
        wall = result[f"{bench}.wall_s"]
        out.append(Row(
            f"(e) n78 plan on {bench}, {int(result[f'{bench}.scpi_messages'])} SCPI messages",
            f"{wall:.2f} s wall", "—", None, f"≤ {TARGET_S:g} s", wall <= TARGET_S))
        out.append(Row(f"(e) {bench}: in simulators incl. simulated waits / wall",
                       f"{result[f'{bench}.sim_wall_s']:.2f} s", f"{wall:.2f} s",
                       result[f"{bench}.sim_wall_s"] / wall, "info", None, percent=True))
        out.append(Row(f"(e) {bench}: simulators' CPU / wall",
                       f"{result[f'{bench}.sim_cpu_s']:.2f} s", f"{wall:.2f} s",
                       result[f"{bench}.sim_cpu_s"] / wall, "info", None, percent=True))
    return out
