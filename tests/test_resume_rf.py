"""SIGKILL a real run inside each resumable RF and network step (modulated sweep, harmonics,
two-tone, noise figure, network paths) after at least one committed row, resume it with
`benchbot run --resume`, and compare it with an uninterrupted run of the same plan.

Each kind is killed twice: at a point chosen here, and at a point drawn at random among the
step's points that leave at least one committed row. The draw's seed is new every session and
is printed in every assertion message; `BENCHBOT_RESUME_SEED=<seed>` replays it.

The simulated bench is seeded, so an uninterrupted run is repeatable bit for bit (two runs of
each plan here have identical metrics). Hence:

- a row committed before the kill was measured exactly as in the reference run; it is kept,
  not measured again, so its data is bit-identical to what the killed run left and its
  metrics are *equal* to the reference's;
- a row measured again after the resume draws other noise (the simulators restart from their
  seed): its metrics agree with the reference's within the simulator's noise, `TOLERANCE`.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchbot.cli import main
from benchbot.console import RichProgress
from benchbot.limits import MetricResult
from benchbot.plan import load_plan
from benchbot.results.reader import open_record
from tests._resume import differences, kill_at_point, resume, run_plan

DATA = Path(__file__).parent / "data"
SHIPPED = Path(__file__).parents[1] / "test_plans"

#: the random kill points' seed: new every session, or the one to replay
SEED = int(os.environ.get("BENCHBOT_RESUME_SEED") or random.SystemRandom().randrange(2**32))

# Tolerance on a metric measured again after the resume, in its unit: 3 x the range (max - min)
# of that metric over six uninterrupted runs with simulator seeds 20261123..28 (20261124..29 on
# the network bench), worst condition of the plan, rounded up. The range of six normal draws is
# about 2.5 sigma and the difference of two runs has sigma x 1.41, so this is about 5 sigma of
# the difference: never reached by noise, while a row measured wrongly (another frequency's or
# state's settings, a missing level: NaN) is off by far more or not comparable at all.
# Ranges measured (plan steps as in tests/data/resume_*.yaml, test_plans/n78_fem.yaml and
# test_plans/sp3t_switch.yaml):
TOLERANCE: dict[str, float] = {
    # modulated sweep, 20 MHz TM3.1a: range 0.12 dB, ACLR1/2 0.65/0.76 dB, EVM 0.049 %,
    # OBW 75 kHz, PAE 0.074 %, Pout at the ACLR/EVM limit 0.15/0.12 dB, SEM margin 0.43 dB
    "modulated_gain_db": 0.4, "aclr1_db_at_rated_pout": 2.5, "aclr2_db_at_rated_pout": 2.5,
    "evm_pct_at_rated_pout": 0.15, "obw_hz_at_rated_pout": 250e3,
    "pae_at_rated_pout_pct": 0.25, "pout_at_aclr_limit_dbm": 0.5, "pout_at_evm_limit_dbm": 0.4,
    "sem_margin_db_at_rated_pout": 1.3,
    # harmonics: H2 0.038 dB, H3 0.067 dB
    "h2_dbc": 0.12, "h3_dbc": 0.2,
    # two-tone (IQ): OIP3 0.13 dB, IIP3 0.16 dB, IM3 slope 0.23 dB/dB, IMD3 0.22 dB, IMD5 0.43 dB
    "oip3_dbm": 0.4, "iip3_dbm": 0.5, "im3_slope_db_per_db": 0.7,
    "imd3_dbc_at_rated_pout": 0.7, "imd5_dbc_at_rated_pout": 1.3,
    # noise figure (n78 FEM, RX state): NF 0.053 dB, gain 0.12 dB
    "noise_figure_db": 0.16, "noise_figure_max_db": 0.16, "gain_db": 0.36,
    # SP3T paths: insertion loss 0.016 dB, isolation 0.028 dB, return loss 0.026 dB
    "insertion_loss_db": 0.05, "isolation_db": 0.1, "return_loss_db": 0.1,
}


@dataclass(frozen=True)
class Case:
    """One resumable step of a plan and how its progress points map to committed rows."""

    plan: Path
    bench: str
    step: str
    row_axis: str  # the step's leading axis (its rows)
    #: the step's 1-based point -> the rows committed when the run stalls there
    committed: Callable[[Any, int], list[int]]
    chosen: int  # the chosen kill point, counted within the step

    @property
    def id(self) -> str:
        return f"{self.plan.stem}:{self.step}"


def by_level_sweep(step: Any, point: int) -> list[int]:
    """A frequency row commits after its last level (and the spectrum kept at its top)."""
    levels = step.total_points() // len(step.frequencies_hz)
    return list(range((point - 1) // levels))


def by_dut_reading(step: Any, point: int) -> list[int]:
    """The receiver pass first (nothing committed), then each frequency through the DUT,
    committed before its progress point."""
    first_dut = step.total_points() - len(step.frequencies_hz) + 1
    return list(range(point - first_dut + 1)) if point >= first_dut else []


def by_state(step: Any, point: int) -> list[int]:
    """One point per state, committed before its progress point."""
    return list(range(point))


CASES = [
    # killed at the 4th level of the middle frequency: row 0 kept, row 1 measured again
    Case(DATA / "resume_modulated.yaml", "simulated", "aclr_evm", "frequency_hz",
         by_level_sweep, chosen=9 + 4),
    # at the top level of the last frequency: rows 0 and 1 kept
    Case(DATA / "resume_harmonics_two_tone.yaml", "simulated", "harmonics", "frequency_hz",
         by_level_sweep, chosen=3 * 8),
    # at the first level of the second frequency
    Case(DATA / "resume_harmonics_two_tone.yaml", "simulated", "imd", "frequency_hz",
         by_level_sweep, chosen=13 + 1),
    # after the DUT reading at the 2nd of 3 frequencies (the receiver pass done before)
    Case(SHIPPED / "n78_fem.yaml", "simulated-network", "rx_noise_figure", "frequency_hz",
         by_dut_reading, chosen=3 + 2),
    # after the 2nd of 4 switch states
    Case(SHIPPED / "sp3t_switch.yaml", "simulated-network", "paths", "state", by_state,
         chosen=2),
]


@dataclass(frozen=True)
class StepData:
    """What a record holds of one step: its committed rows, its data datasets (by leading
    axis) and its traces (y)."""

    committed_rows: list[int]
    data: dict[str, tuple[str | None, np.ndarray]]  # name -> (leading axis, values)
    traces: dict[str, np.ndarray]

    def over(self, axis: str) -> dict[str, np.ndarray]:
        """The datasets whose leading axis is ``axis``."""
        return {name: values for name, (lead, values) in self.data.items() if lead == axis}


def step_data(record: Path, group: str) -> StepData:
    with h5py.File(record, "r") as f:
        g = f["steps"][group]
        data = {name: (leading_axis(ds), ds[()]) for name, ds in g.items()
                if isinstance(ds, h5py.Dataset) and not ds.is_scale and ds.ndim
                and ds.dtype.kind == "f"}
        traces = {name: t[t.attrs["y"]][()] for name, t in g.get("traces", {}).items()}
        committed = sorted(int(r) for r in g.attrs.get("committed_rows", []))
    return StepData(committed, data, traces)


def leading_axis(ds: h5py.Dataset) -> str | None:
    """The dimension scale a data dataset's first dimension is attached to."""
    return next(iter(ds.dims[0].keys()), None)


def rows_of(step: Any) -> int:
    """The step's rows: its frequencies, or its DUT states."""
    return len(step.frequencies_hz) if hasattr(step, "frequencies_hz") else len(step.states)


@pytest.fixture
def points_done(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Progress points per step index of every run made in this process from now on, as the
    engine reports them to the CLI's progress display."""
    counts: Counter[int] = Counter()
    original = RichProgress.point_done

    def point_done(self: RichProgress, index: int) -> None:
        counts[index] += 1
        original(self, index)

    monkeypatch.setattr(RichProgress, "point_done", point_done)
    return counts


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], tuple[int, Path]]:
    """The uninterrupted run of a case's plan (exit status, record), run once per plan."""
    runs: dict[Path, tuple[int, Path]] = {}

    def get(case: Case) -> tuple[int, Path]:
        if case.plan not in runs:
            runs[case.plan] = run_plan(case.plan, case.bench, tmp_path_factory.mktemp("ref"))
        return runs[case.plan]

    return get


@pytest.mark.parametrize("draw", ["chosen", "random"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sigkill_inside_the_step_then_resume(case: Case, draw: str, tmp_path: Path,
                                             reference: Callable[[Case], tuple[int, Path]],
                                             points_done: Counter[int]) -> None:
    """Killed inside the step with rows committed, resumed: the committed rows kept bit for
    bit and not measured again, the others measured, the record valid and complete, every
    metric as in the uninterrupted run (kept rows exactly, measured ones within noise)."""
    plan = load_plan(case.plan)
    index = next(i for i, s in enumerate(plan.steps) if s.name == case.step)
    step = plan.steps[index]
    offset = sum(s.total_points() for s in plan.steps[:index])
    valid = [p for p in range(1, step.total_points() + 1) if case.committed(step, p)]
    point = case.chosen if draw == "chosen" else random.Random(f"{SEED}:{case.id}").choice(valid)
    where = (f"{case.id}, killed at point {point} of the step (of {valid[0]}..{valid[-1]}), "
             f"seed {SEED}")
    assert point in valid, where
    expected = case.committed(step, point)

    ref_status, ref = reference(case)
    partial = kill_at_point(case.plan, case.bench, tmp_path / "run", offset + point)
    group = next(s.group for s in open_record(partial).steps if s.name == case.step)
    before = step_data(partial, group)
    assert before.committed_rows == expected, where

    points_done.clear()
    status, record = resume(partial)
    assert status == ref_status, where
    # the resumed session measured the rows not committed and the later steps, nothing else
    # (with the simulator's seed it draws the noise the killed run drew: a kept row measured
    # again would be bit-identical too, so its data alone cannot tell)
    again = step.total_points() * (rows_of(step) - len(expected)) // rows_of(step)
    planned = {index: again, **{i: s.total_points() for i, s in enumerate(plan.steps)
                                if i > index}}
    assert dict(points_done) == {i: n for i, n in planned.items() if n}, where
    summary = open_record(record)
    assert summary.status == "completed" and not summary.partial, where
    assert [(r["step"], r["rows_kept"]) for r in summary.interruptions] == [
        (group, len(expected))], where
    assert main(["results", "check", str(record)]) == 0, where

    after = step_data(record, group)
    assert_kept(before, after, case.row_axis, expected, where)
    assert_complete(after, step_data(ref, group), where)
    kept = kept_metric(plan, index, expected)
    # a metric without a TOLERANCE entry is an error: measure its spread first
    problems = differences(record, ref, lambda m: 0.0 if kept(m) else TOLERANCE[m.metric])
    assert not problems, f"{where}:\n" + "\n".join(problems)


def assert_kept(before: StepData, after: StepData, row_axis: str, rows: list[int],
                where: str) -> None:
    """The committed rows and the traces the killed run left are in the resumed record bit
    for bit."""
    kept = after.over(row_axis)
    for name, values in before.over(row_axis).items():
        for r in rows:
            assert np.array_equal(kept[name][r], values[r], equal_nan=True), \
                f"{name}[{r}] changed by the resume; {where}"
    for name, y in before.traces.items():
        assert np.array_equal(after.traces[name], y, equal_nan=True), f"trace {name}; {where}"


def assert_complete(after: StepData, reference: StepData, where: str) -> None:
    """Every value and trace the uninterrupted run has, the resumed one has (nothing left
    NaN, nothing extra)."""
    assert sorted(after.data) == sorted(reference.data), where
    for name, (_, values) in reference.data.items():
        assert np.array_equal(np.isnan(after.data[name][1]), np.isnan(values)), \
            f"{name}: NaN where the uninterrupted run has data (or the reverse); {where}"
    assert sorted(after.traces) == sorted(reference.traces), where


def kept_metric(plan: Any, index: int, rows: list[int]) -> Callable[[MetricResult], bool]:
    """Whether a metric comes from what the killed run measured (a step completed before the
    killed one, or a committed row of it): then it equals the reference's exactly."""
    names = [s.name for s in plan.steps]
    step = plan.steps[index]
    kept_frequencies = {float(step.frequencies_hz[r]) for r in rows
                        if hasattr(step, "frequencies_hz")}
    kept_states = {step.states[r].state for r in rows if hasattr(step, "states")}

    def kept(metric: MetricResult) -> bool:
        position = names.index(metric.step)
        if position != index:
            return position < index
        condition = metric.condition
        if "frequency_hz" in condition:
            return any(math.isclose(float(condition["frequency_hz"]), f)
                       for f in kept_frequencies)
        return condition.get("state") in kept_states

    return kept
