"""GaN HEMT DC measurements through the whole stack: plan -> engine -> bias kernel -> B2902A
driver -> SCPI simulator -> the GaN HEMT model, and the I-V figures of the record.

The extracted figures are compared with what the simulated device *is*
(`GanHemt.reference_values(vds, self_heating=True)`: the DC steady state, computed from the
model, not fitted), so a wrong sweep, a wrong dataset or a wrong extraction shows up as a wrong
number. Grids are coarse where nothing is extracted and fine where something is (the tolerance
of each figure says why it is what it is).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from benchbot import simbench
from benchbot.bench import load_bench
from benchbot.engine import RunOutcome, SilentListener
from benchbot.limits import Verdict
from benchbot.plan import load_plan
from benchbot.plots.render import render_record
from benchbot.runner import RunRequest, run
from simulators.gan_hemt import GanHemt

ROOT = Path(__file__).parent.parent
BASE_PLAN = ROOT / "test_plans" / "gan_hemt_dc_pulsed.yaml"
BENCH = ROOT / "benchbot" / "benches" / "simulated-gan.yaml"
TRANSFER_VDS_V = 5.0
#: the gate of the breakdown sweep: Vth(1 mA/mm) - 5 V, where reference_values() defines BV
BREAKDOWN_VGS_V = -7.75
#: the plan's drain compliance: above Idss (0.58 A at 5 V) and the pulsed Id (0.66 A), below the
#: +1 V output curve's saturation (0.79 A from 3 V), which therefore ends at the compliance
DRAIN_LIMIT_A = 0.75
OUTPUT_VGS_V = [-2.0, 0.0, 1.0]
OUTPUT_VDS_V = [0.0, 0.05, 0.1, 0.15, 0.2, 1.0, 2.0, 3.0, 5.0]
#: a fine drain grid through the expected BV: 1 V steps, so a point lands between the 1 mA/mm
#: criterion and the 1.5 mA compliance (the soft breakdown rises e-fold per 8 V: ln 1.5·8 V
#: = 3.2 V of Vds between the two) and BV is interpolated, not bracketed
BREAKDOWN_VDS_V = [0.0, 40.0, 80.0, 110.0, 130.0, 140.0, *np.arange(142.0, 160.5, 1.0).tolist()]

# ----------------------------------------------------------------------------- tolerances
#: Vth (both methods): 50 mV = half a step of the 0.1 V transfer sweep. The constant-current
#: crossing is interpolated in log Id (exact to ≈ 1 mV), but a DC sweep sees the traps at their
#: equilibrium for each bias (occupancy ≈ 0.3 near pinch-off, none at Vgs = 0 V): ≈ 8 % less
#: subthreshold current than the trap-free reference, Vth(1 mA/mm) ≈ +12 mV. The gm-peak
#: extrapolation moves with the 7-point Savitzky-Golay smoothing (≈ 10 mV at 0.1 V steps)
VTH_TOL_V = 0.05
#: gm,max: the 7-point (0.6 V) Savitzky-Golay window flattens the peak by ≈ 1 % at 0.1 V steps
GM_TOL = 0.05
#: Idss is a measured point (Vgs = 0 V is on the grid): only the SMU reading error remains
IDSS_TOL = 0.03
#: Ron: a line fitted over 0..0.2 V sees the tanh(α·Vds) curvature of the channel (≈ +1 %)
RON_TOL = 0.05
#: BV: the log-linear interpolation between 1 V steps of an exponential rise is exact to
#: ≪ 1 V (the off-state current has no trap or heating error at ~0.1 W); 3 V leaves room for a
#: coarser grid or SMU reading error without hiding a wrong gate voltage or criterion
BV_TOL_V = 3.0


@dataclass
class Run:
    outcome: RunOutcome
    hemt: GanHemt
    bench: Any
    pngs: list[Path]
    seconds: dict[str, float]


def _plan(tmp: Path, steps: list[dict], *, drain_limit_a: float | None = None) -> Path:
    """The shipped GaN plan with other steps and a coarse drain ramp (fewer SMU changes)."""
    data = yaml.safe_load(BASE_PLAN.read_text())
    data["steps"] = steps
    bias = data["conditions"]["bias"]
    bias["ramp_step_v"] = 10.0
    bias["gate_step_v"] = 1.0
    if drain_limit_a is not None:
        bias["drain_current_limit_a"] = drain_limit_a
    path = tmp / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(plan_path: Path, results: Path) -> Run:
    """Run the plan on a fresh simulated GaN bench; time each step; render the figures."""
    class Timer(SilentListener):
        def __init__(self) -> None:
            self.started: dict[str, float] = {}
            self.seconds: dict[str, float] = {}

        def step_started(self, index: int, name: str, total_points: int) -> None:
            self.started[name] = time.perf_counter()

        def step_finished(self, index: int, name: str, verdict: Verdict) -> None:
            self.seconds[name] = time.perf_counter() - self.started[name]

    plan = load_plan(plan_path)
    bench = load_bench(BENCH)
    timer = Timer()
    with simbench.running(bench, plan.dut.part_number) as (served, simulated):
        outcome = run(RunRequest(plan=plan, plan_text=plan_path.read_text(), bench=served,
                                 bench_text=BENCH.read_text(), results_dir=results,
                                 simulated=True), timer)
        state = simulated.bench
    pngs = render_record(outcome.record_path, results / "plots")
    return Run(outcome, state.hemt, state, pngs, timer.seconds)


def _metric(outcome: RunOutcome, step: str, name: str) -> float:
    (value,) = [m.value for m in outcome.metrics if m.step == step and m.metric == name]
    return value


@pytest.fixture(scope="module")
def dc_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One run of every I-V step kind on one simulated bench (a bench start, a power-up and a
    watchdog per step are the slow parts, so the steps share the run)."""
    tmp = tmp_path_factory.mktemp("hemt_dc")
    steps = [
        {"name": "transfer", "kind": "transfer_curve", "drain_voltage_v": TRANSFER_VDS_V,
         "gate_voltage_v": {"start_v": -3.5, "stop_v": 0.0, "step_v": 0.1}},
        {"name": "output", "kind": "output_family", "gate_voltages_v": OUTPUT_VGS_V,
         "drain_voltage_v": OUTPUT_VDS_V, "ron_gate_voltage_v": 0.0,
         "limits": {"ron_ohm_mm": {"max": 4.0}}},
        {"name": "leakage", "kind": "leakage", "gate_voltage_v": -6.0,
         "drain_voltage_v": [0.0, 10.0, 20.0, 40.0], "drain_current_limit_a": 0.01,
         "limits": {"gate_leakage_a_per_mm": {"max": 1e-4},
                    "drain_leakage_a_per_mm": {"max": 1e-4}}},
        {"name": "breakdown", "kind": "off_state_breakdown", "gate_voltage_v": BREAKDOWN_VGS_V,
         "drain_voltage_v": BREAKDOWN_VDS_V, "criterion_a_per_mm": 1e-3,
         "drain_current_limit_a": 1.5e-3, "limits": {"breakdown_voltage_v": {"min": 120.0}}},
        {"name": "pulsed", "kind": "pulsed_iv",  # last: the lead's step, the figure is ours
         "stress_points": [{"gate_voltage_v": -5.0, "drain_voltage_v": 20.0}],
         "gate_voltages_v": [-1.0, 0.0], "drain_voltage_v": [0.0, 0.1, 0.2, 2.0, 5.0, 10.0],
         "pulse_width_s": 1e-4, "pulse_period_s": 1e-2},
    ]
    yield _run(_plan(tmp, steps, drain_limit_a=DRAIN_LIMIT_A), tmp)


@pytest.fixture(scope="module")
def reference() -> Any:
    """The simulated device's true DC figures at the transfer step's Vds."""
    return GanHemt.from_config({"gate_width_mm": 1.0}).reference_values(
        TRANSFER_VDS_V, self_heating=True)


# ----------------------------------------------------------------------------- figures of merit
def test_the_run_passes_and_leaves_the_device_intact(dc_run: Run) -> None:
    out = dc_run.outcome
    assert out.status == "completed" and out.verdict is Verdict.PASS, out.error
    assert dc_run.hemt.damaged is False, dc_run.hemt.damage_reason
    smu = dc_run.bench.smu
    assert not smu[("smu", 1)].output_on and not smu[("smu", 2)].output_on  # left safe
    print({name: round(s, 2) for name, s in dc_run.seconds.items()})


def test_transfer_figures_match_the_device(dc_run: Run, reference: Any) -> None:
    out = dc_run.outcome
    assert _metric(out, "transfer", "vth_constant_current_v") == pytest.approx(
        reference.vth_cc_v, abs=VTH_TOL_V)
    assert _metric(out, "transfer", "vth_max_gm_v") == pytest.approx(
        reference.vth_gm_v, abs=VTH_TOL_V)
    assert _metric(out, "transfer", "gm_max_s_per_mm") == pytest.approx(
        reference.gm_max_s_per_mm, rel=GM_TOL)
    assert _metric(out, "transfer", "idss_a") == pytest.approx(reference.idss_a, rel=IDSS_TOL)


def test_output_family_ron_and_id_max(dc_run: Run, reference: Any) -> None:
    out = dc_run.outcome
    assert _metric(out, "output", "ron_ohm_mm") == pytest.approx(reference.ron_ohm_mm,
                                                                  rel=RON_TOL)
    with h5py.File(out.record_path, "r") as f:
        step = f["steps/001_output"]
        i_d, comp = step["id_a"][()], step["drain_in_compliance"][()]
        stopped = step["curve_stopped_by_compliance"][()]
        assert step.attrs["extraction_ron_method"].startswith("linear fit of Id(Vds)")
        assert "NaN where not reached" in step["id_a"].attrs["long_name"]
    # the +1 V curve ran into the 0.75 A compliance and ended there; the others are whole
    np.testing.assert_array_equal(stopped, [0.0, 0.0, 1.0])
    assert np.isfinite(i_d[:2]).all() and not comp[:2].any()
    n = int(np.isfinite(i_d[2]).sum())
    assert 1 < n < len(OUTPUT_VDS_V) and comp[2, n - 1] == 1 and not comp[2, : n - 1].any()
    assert np.isnan(i_d[2, n:]).all()
    assert i_d[2, n - 1] == pytest.approx(DRAIN_LIMIT_A, rel=1e-3)  # the clamp reads its limit
    # Id,max: the highest reading *not* clamped (the compliance reading is the limit, not Id)
    id_max = _metric(out, "output", "id_max_a")
    assert id_max == pytest.approx(float(np.nanmax(np.where(comp == 1, np.nan, i_d))))
    assert id_max < DRAIN_LIMIT_A
    model = float(dc_run.hemt.currents(1.0, OUTPUT_VDS_V[n - 2])[1])  # last +1 V point read
    assert id_max == pytest.approx(model, rel=IDSS_TOL)


def test_leakage_is_the_reading_at_the_highest_drain_voltage(dc_run: Run) -> None:
    out = dc_run.outcome
    with h5py.File(out.record_path, "r") as f:
        step = f["steps/002_leakage"]
        ig, i_d, vds = step["ig_a"][()], step["id_a"][()], step["vds_v"][()]
    assert _metric(out, "leakage", "gate_leakage_a") == pytest.approx(abs(ig[-1]))
    assert _metric(out, "leakage", "drain_leakage_a_per_mm") == pytest.approx(abs(i_d[-1]))
    # ...and what the device leaks there (reverse gate diodes + buffer, model truth)
    model_ig, model_id = dc_run.hemt.currents(-6.0, vds[-1])
    assert abs(ig[-1]) == pytest.approx(abs(float(model_ig)), rel=0.05)
    assert abs(i_d[-1]) == pytest.approx(abs(float(model_id)), rel=0.05)
    assert 1e-6 < abs(ig[-1]) < 1e-4  # tens of µA/mm at 40 V: a leaky but healthy gate


def test_breakdown_voltage_and_the_compliance_stop(dc_run: Run) -> None:
    out = dc_run.outcome
    bv = _metric(out, "breakdown", "breakdown_voltage_v")
    true_bv = dc_run.hemt.reference_values(TRANSFER_VDS_V, self_heating=True).bv_v
    assert bv == pytest.approx(true_bv, abs=BV_TOL_V)
    with h5py.File(out.record_path, "r") as f:
        step = f["steps/003_breakdown"]
        assert bool(step.attrs["stopped_by_compliance"]) is True
        i_d = step["id_a"][()]
        comp = step["drain_in_compliance"][()]
        assert "NaN where not reached" in step["id_a"].attrs["long_name"]
        assert step.attrs["extraction_bv_value"] == pytest.approx(bv)
    n = int(np.isfinite(i_d).sum())
    assert 0 < n < len(BREAKDOWN_VDS_V)  # stopped before the end ...
    assert np.isfinite(i_d[:n]).all() and np.isnan(i_d[n:]).all()  # ... the rest never measured
    assert comp[n - 1] == 1 and not comp[: n - 1].any()  # the stop is the last point read
    assert BREAKDOWN_VDS_V[n - 2] > bv  # a measured point passed the criterion: interpolated


def test_record_holds_every_point(dc_run: Run) -> None:
    with h5py.File(dc_run.outcome.record_path, "r") as f:
        expect = {"000_transfer": (36,), "001_output": (3, len(OUTPUT_VDS_V)),
                  "002_leakage": (4,)}
        for group, shape in expect.items():
            step = f[f"steps/{group}"]
            for name in ("vgs_v", "vds_v", "ig_a", "id_a", "drain_in_compliance", "pdiss_w"):
                values = step[name][()]
                assert values.shape == shape, (group, name)
                if group != "001_output":  # (its +1 V curve ended at the compliance)
                    assert np.isfinite(values).all(), (group, name)  # every point stored
            assert step["id_a"].attrs["units"] == "A"
        out = f["steps/001_output"]
        scales = [d[0].name.rsplit("/", 1)[-1] for d in out["id_a"].dims]
        assert scales == ["gate_voltage_v", "drain_voltage_v"]
        np.testing.assert_allclose(out["vgs_v"][()][:, 0], OUTPUT_VGS_V, atol=1e-3)
        np.testing.assert_allclose(out["vds_v"][()][1], out["drain_voltage_v"][()], atol=1e-3)
        pulsed = f["steps/004_pulsed"]
        assert pulsed["id_a"].shape == (2, 2, 6) and np.isfinite(pulsed["id_a"][()]).all()


def test_figures_render(dc_run: Run) -> None:
    names = sorted(p.name for p in dc_run.pngs)
    assert names == ["000_transfer_transfer.png", "001_output_output_family.png",
                     "002_leakage_leakage.png", "003_breakdown_breakdown.png",
                     "004_pulsed_pulsed_iv.png"]
    for png in dc_run.pngs:
        assert png.stat().st_size > 40_000, png  # a drawn 150 dpi figure, not an empty canvas
        with png.open("rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figures_show_what_was_extracted(dc_run: Run) -> None:
    """The figures draw the stored figures: Ron line, BV, the Q families and the knee."""
    from benchbot.plots.data import load_record
    from benchbot.plots.render import step_figures

    record = load_record(dc_run.outcome.record_path)
    figs = {name: fig for step in record.steps for name, fig in step_figures(record, step)}

    def legend(name: str) -> list[str]:
        return [t.get_text() for ax in figs[name].axes if ax.get_legend()
                for t in ax.get_legend().get_texts()]

    ron = _metric(dc_run.outcome, "output", "ron_ohm_mm")
    assert any(f"Ron = {ron:.3g} Ω·mm at Vgs = 0 V" in t for t in legend("output_family"))
    assert "in compliance (excluded)" in legend("output_family")
    bv = _metric(dc_run.outcome, "breakdown", "breakdown_voltage_v")
    assert f"BV = {bv:.1f} V" in legend("breakdown")
    assert figs["breakdown"].axes[0].get_yscale() == "log"
    assert figs["breakdown"].axes[0].get_ylabel() == "|I| (mA/mm)"
    assert any(t.startswith("limit |Ig|, |Id| ≤ 0.1 mA/mm") for t in legend("leakage"))
    pulsed = legend("pulsed_iv")
    assert "Q (0 V, 0 V) (reference)" in pulsed and "Q (-5 V, 20 V)" in pulsed
    assert any(t.startswith("knee: collapse") for t in pulsed)
