"""Modulated power sweep (NR TM3.1a, ACLR/EVM/OBW vs Pout) and the engine's step registry.

End to end: plan → engine → registry → modulated_sweep → drivers → pyvisa-py → simulators, on
the built-in simulated bench (a Rapp PA, p = 2, with a little linear memory). Expectations come
from the PA model (`simulated_bench.state.dut`) and from the physics of odd-order regrowth.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchbot.limits import MetricResult, Verdict
from benchbot.measurements import modulated_sweep, registry
from benchbot.measurements.base import BenchView, StepContext
from benchbot.plan import STEP_TYPES, ModulatedPowerSweepStep, parse_plan
from instruments.interfaces import DCSupply, SignalAnalyzer, SignalGenerator

DATA = Path(__file__).parent / "data"
PLAN = DATA / "modulated_sweep_plan.yaml"
POWER_SWEEP_PLAN = DATA.parent.parent / "test_plans" / "pa_power_sweep.yaml"
F_HZ = 3.55e9


def metric(outcome: Any, name: str) -> MetricResult:
    (found,) = [m for m in outcome.metrics if m.metric == name]
    return found


# -- registry ---------------------------------------------------------------------------------

def test_every_plan_step_kind_has_a_measurement() -> None:
    assert set(registry.kinds()) == set(STEP_TYPES)
    assert registry.measurement_for("modulated_power_sweep") is modulated_sweep
    with pytest.raises(KeyError, match="no measurement runs step kind 'vna_sweep'; known kinds"):
        registry.measurement_for("vna_sweep")


def test_a_kind_runs_with_one_measurement_only() -> None:
    with pytest.raises(ValueError, match="already runs with"):
        registry.register("power_sweep", modulated_sweep)
    with pytest.raises(TypeError, match="has no declare"):
        registry.register("not_a_kind_yet", object())  # type: ignore[arg-type]
    registry.register("power_sweep", registry.measurement_for("power_sweep"))  # same: fine


class _Recorder:
    """A measurement that only looks at what the engine hands it."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def declare(self, step: Any, bench: BenchView) -> tuple[dict, dict]:
        axes = {"frequency_hz": (np.asarray(step.frequencies_hz), "Hz")}
        return axes, {"probe": (("frequency_hz",), "1", "what the fake measurement wrote")}

    def run(self, step: Any, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
        self.seen.update(
            generator=isinstance(bench.generator, SignalGenerator),
            analyzer=isinstance(bench.analyzer, SignalAnalyzer),
            losses=sorted(bench.path_losses), max_in=bench.max_rf_input_dbm,
            supplies=bench.supply_names,
            supply_is_dc=all(isinstance(s, DCSupply) for _, s in bench.supplies))
        for i in range(len(step.frequencies_hz)):
            ctx.write("probe", (i,), float(i))
            ctx.point_done()
        ctx.commit()
        return [MetricResult.judge(step.name, "psat_dbm", "dBm", 1.0)]


def test_the_engine_runs_a_step_by_its_registered_measurement(
    run_plan: Any, simulated_bench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _Recorder()
    monkeypatch.setitem(registry._MEASUREMENTS, "power_sweep", fake)
    outcome = run_plan(POWER_SWEEP_PLAN, tmp_path)
    assert outcome.status == "completed" and outcome.verdict is Verdict.PASS
    assert fake.seen == {"generator": True, "analyzer": True, "max_in": 10.0,
                         "losses": ["power_meter", "signal_analyzer", "signal_generator"],
                         "supplies": ["vcc"], "supply_is_dc": True}
    with h5py.File(outcome.record_path, "r") as f:
        assert list(f["steps/000_compression/probe"][()]) == [0.0, 1.0, 2.0]
    assert simulated_bench.state.generator.rf_on is False


# -- end to end -------------------------------------------------------------------------------

@pytest.fixture
def modulated_run(run_plan: Any, simulated_bench: Any, tmp_path: Path) -> tuple[Any, Any, Path]:
    outcome = run_plan(PLAN, tmp_path)
    return outcome, simulated_bench.state, outcome.record_path


def test_modulated_sweep_follows_the_pa_model(modulated_run: tuple[Any, Any, Path]) -> None:
    outcome, state, path = modulated_run
    assert outcome.status == "completed", outcome.error
    with h5py.File(path, "r") as f:
        g = f["steps/000_aclr_evm"]
        pin = g["input_power_dbm"][0]
        pout = g["output_power_dbm"][0]
        aclr1 = -np.maximum(g["aclr_lower_dbc"][0, :, 0], g["aclr_upper_dbc"][0, :, 0])
        evm = g["evm_pct"][0]
        assert list(g["aclr_offset_hz"][()]) == [20e6, 40e6]
    # small-signal modulated gain = the model's CW small-signal gain (RMS in, RMS out)
    assert metric(outcome, "modulated_gain_db").value == pytest.approx(
        state.dut.small_signal_gain_db(F_HZ), abs=0.2)
    # near compression, odd-order regrowth worsens ACLR by about 2-3 dB per dB of drive
    top = slice(-4, None)
    slopes = -np.diff(aclr1[top]) / np.diff(pin[top])
    assert np.all(slopes > 1.8) and np.all(slopes < 3.2), slopes
    assert 2.0 <= np.mean(slopes) <= 3.0
    # EVM rises with drive once above the analyzer/generator floor
    rising = pin >= -8.0
    assert np.all(np.diff(evm[rising]) > 0), evm
    assert evm[0] < 1.0 < evm[-1]
    # Pout tracks the model's RMS compression: within 0.5 dB of the CW curve below P1dB
    cw = np.array([state.dut.output_power_dbm(p, F_HZ) for p in pin])
    assert np.all(np.abs(pout - cw)[pin <= -10] < 0.3)
    assert np.all(pout[-2:] < cw[-2:])  # the envelope peaks compress earlier than CW


def test_metrics_read_at_rated_pout_and_thresholds(modulated_run: tuple[Any, Any, Path]) -> None:
    outcome, _, path = modulated_run
    with h5py.File(path, "r") as f:
        g = f["steps/000_aclr_evm"]
        pout = g["output_power_dbm"][0]
        aclr1 = -np.maximum(g["aclr_lower_dbc"][0, :, 0], g["aclr_upper_dbc"][0, :, 0])
        evm = g["evm_pct"][0]
    rated = 24.0
    assert metric(outcome, "aclr1_db_at_rated_pout").value == pytest.approx(
        np.interp(rated, pout, aclr1))
    assert metric(outcome, "evm_pct_at_rated_pout").value == pytest.approx(
        np.interp(rated, pout, evm))
    at_aclr = metric(outcome, "pout_at_aclr_limit_dbm")
    assert np.interp(at_aclr.value, pout, aclr1) == pytest.approx(45.0, abs=1e-6)
    at_evm = metric(outcome, "pout_at_evm_limit_dbm").value
    assert np.interp(at_evm, pout, evm) == pytest.approx(3.5, abs=1e-6)
    assert at_aclr.value < at_evm < rated + 2  # ACLR limits this PA before EVM does
    aclr = metric(outcome, "aclr1_db_at_rated_pout")
    assert aclr.verdict is Verdict.FAIL and aclr.limit is not None  # ~38 dB < 45 dB
    assert aclr.limit.source == "3GPP TS 38.104 Table 6.6.3.5.2-1 (BS category A)"
    assert metric(outcome, "obw_hz_at_rated_pout").value == pytest.approx(18.36e6, rel=0.02)
    assert outcome.verdict is Verdict.FAIL


def test_record_holds_arrays_traces_and_limit_sources(
    modulated_run: tuple[Any, Any, Path], simulated_bench: Any
) -> None:
    _, state, path = modulated_run
    with h5py.File(path, "r") as f:
        g = f["steps/000_aclr_evm"]
        n_levels = g["drive_level_dbm"].shape[0]
        assert g["evm_per_symbol_pct"].shape == (1, n_levels, 14)
        assert g["evm_per_subcarrier_pct"].shape == (1, n_levels, 51 * 12)
        per_sc = g["evm_per_subcarrier_pct"][0]
        per_sym = g["evm_per_symbol_pct"][0]
        evm = g["evm_pct"][0]
        assert np.all(np.isfinite(per_sc)) and np.all(np.isfinite(per_sym))
        # the overall EVM is the reference-power-weighted RMS of the parts (QAM symbols differ
        # in power, so the plain RMS of the parts is only close to it)
        assert np.sqrt(np.mean(per_sc**2, axis=1)) == pytest.approx(evm, rel=0.05)
        assert np.sqrt(np.mean(per_sym**2, axis=1)) == pytest.approx(evm, rel=0.05)
        assert g["evm_256qam_pct"][0] == pytest.approx(evm)
        # ACLR1 from the IQ capture agrees with the analyzer's ACP where regrowth dominates
        # (ACLR2 and low drive: the analyzer's noise correction reads lower than the IQ PSD)
        for side in ("lower", "upper"):
            iq, acp = g[f"aclr_iq_{side}_dbc"][0, :, 0], g[f"aclr_{side}_dbc"][0, :, 0]
            assert np.all(np.abs(iq - acp)[-3:] < 1.0), (iq, acp)
        assert np.all(np.diff(g["pae_pct"][0]) > 0)
        assert np.all(np.abs(g["obw_hz"][0] - 18.36e6) < 0.5e6)
        (trace,) = g["traces"].values()
        assert trace.attrs["detector"] == "rms" and trace.attrs["output_power_dbm"] > 22
        assert trace["x"][0] < F_HZ - 2.5 * 20e6 and trace["x"][-1] > F_HZ + 2.5 * 20e6
        rows = {r["metric"].decode(): r for r in g["metrics"][()]}
        source = rows["evm_pct_at_rated_pout"]["limit_source"].decode()
        assert source == "3GPP TS 38.104 Table 6.5.2.2-1 (256QAM)"
        assert rows["evm_pct_at_rated_pout"]["max"] == 3.5
        events = [e.decode() for e in f["events"]["message"]]
        assert any("ARB bb_aclr_evm" in e and "PAPR" in e for e in events)
    assert state.generator.rf_on is False and state.generator.modulation_on is False
    assert not any(state.supply.outputs.values()) and state.dut.damaged is False


def test_power_meter_ue_and_iq_only_variant(run_plan: Any, simulated_bench: Any,
                                            tmp_path: Path) -> None:
    text = (PLAN.read_text()
            .replace("{start: -16.0, stop: 0.0, step: 2.0}", "{start: -12.0, stop: 0.0, step: 6.0}")
            .replace("requirement: bs, method: both", "requirement: ue, method: iq")
            .replace("output_power_from: signal_analyzer", "output_power_from: power_meter")
            .replace("measure_obw: true", "measure_obw: false")
            .replace("      obw_hz_at_rated_pout:", "      # obw_hz_at_rated_pout:")
            .replace("rated_output_power_dbm: 24.0", "rated_output_power_dbm: 40.0"))
    plan = tmp_path / "ue.yaml"
    plan.write_text(text)
    outcome = run_plan(plan, tmp_path)
    assert outcome.status == "completed", outcome.error
    # a rated power the sweep cannot reach: NaN, FAIL, and the note says why
    evm = metric(outcome, "evm_pct_at_rated_pout")
    assert math.isnan(evm.value) and evm.verdict is Verdict.FAIL
    assert "40 is outside the measured" in evm.note
    assert {m.metric for m in outcome.metrics} >= {"modulated_gain_db", "aclr1_db_at_rated_pout",
                                                   "pout_at_aclr_limit_dbm"}
    assert "aclr2_db_at_rated_pout" not in {m.metric for m in outcome.metrics}  # UE: ACLR1 only
    dut = simulated_bench.state.dut
    assert metric(outcome, "modulated_gain_db").value == pytest.approx(
        dut.small_signal_gain_db(F_HZ), abs=0.3)
    with h5py.File(outcome.record_path, "r") as f:
        g = f["steps/000_aclr_evm"]
        assert "aclr_lower_dbc" not in g and "obw_hz" not in g
        assert list(g["aclr_offset_hz"][()]) == [20e6]
        lower = g["aclr_iq_lower_dbc"][0, :, 0]
        assert np.all(np.isfinite(lower)) and np.all(np.diff(lower) > 0)  # worse with drive


def test_rated_point_outside_the_sweep_fails_with_a_note() -> None:
    plan = parse_plan(PLAN.read_text().replace("rated_output_power_dbm: 24.0",
                                               "rated_output_power_dbm: 35.0"))
    step = plan.steps[0]
    assert isinstance(step, ModulatedPowerSweepStep)
    s = modulated_sweep.setup(step)
    n = len(step.levels_dbm())
    pin = step.levels_dbm()
    nan = np.full((n, 2), np.nan)
    row = {"input_power_dbm": pin, "output_power_dbm": pin + 28.0,
           "aclr_lower_dbc": np.full((n, 2), -50.0), "aclr_upper_dbc": np.full((n, 2), -49.0),
           "aclr_iq_lower_dbc": nan, "aclr_iq_upper_dbc": nan,
           "evm_pct": np.linspace(0.3, 1.0, n), "obw_hz": np.full(n, 18.3e6),
           "pae_pct": np.linspace(2, 20, n)}
    results = {r.metric: r for r in modulated_sweep.evaluate_row(step, s, F_HZ, row, True)}
    aclr = results["aclr1_db_at_rated_pout"]
    assert math.isnan(aclr.value) and aclr.verdict is Verdict.FAIL
    assert "35 is outside the measured 12.00 .. 28.00" in aclr.note
    assert results["modulated_gain_db"].value == pytest.approx(28.0)
    # ACLR never falls below 45 dB within the sweep: the crossing is beyond it
    assert math.isnan(results["pout_at_aclr_limit_dbm"].value)
    assert "beyond the sweep" in results["pout_at_aclr_limit_dbm"].note
    assert math.isnan(results["pout_at_evm_limit_dbm"].value)


def test_sem_margin_is_the_mask_check_of_the_stored_spectrum(
        modulated_run: tuple[Any, Any, Path]) -> None:
    """The SEM metric recomputed from the record alone (trace + the analyzer path-loss table):
    an independent reader gets the same margin; at 24 dBm the 20 MHz carrier passes the
    category A mask, and the worst point is outside the channel, within the mask's reach
    (Δf_OBUE = 40 MHz past the channel edge)."""
    from benchbot.analysis.sem import bs_obue_mask, evaluate_sem
    outcome, _, path = modulated_run
    sem = metric(outcome, "sem_margin_db_at_rated_pout")
    assert sem.verdict is Verdict.PASS and 0.0 < sem.value < 60.0
    with h5py.File(path, "r") as f:
        g = f["steps/000_aclr_evm"]
        trace = g["traces/spectrum_rated_3550MHz"]
        loss = f["calibration/path_loss/signal_analyzer"]
        x = trace["x"][()]
        y = trace["y"][()] + np.interp(x, loss["frequency"][()], loss["loss_db"][()])
        result = evaluate_sem(x, y, float(trace.attrs["rbw_hz"]), F_HZ, 20e6, bs_obue_mask("A"))
        assert g["sem_margin_db"][0] == pytest.approx(sem.value)
        assert 10e6 < abs(g["sem_worst_frequency_hz"][0] - F_HZ) < 10e6 + 40e6
    assert result.worst_margin_db == pytest.approx(sem.value, abs=0.05)


def test_tdd_test_model_runs_end_to_end(run_plan: Any, tmp_path: Path) -> None:
    """TM3.1a with TDD framing (DDDSU at 30 kHz): the guard and uplink symbols are silent in the
    ARB period and EVM counts downlink symbols only, so it stays low at small drive and rises
    with compression as for FDD; ACLR (a ratio) is unaffected by the silent symbols."""
    text = PLAN.read_text(encoding="utf-8").replace(
        "duplex: FDD, slots: 1", "duplex: TDD, tdd_pattern: DDDSU, slots: 5")
    plan = tmp_path / "tdd.yaml"
    plan.write_text(text, encoding="utf-8")
    outcome = run_plan(plan, tmp_path / "out")
    assert outcome.status == "completed", outcome.error
    with h5py.File(outcome.record_path, "r") as f:
        g = f["steps/000_aclr_evm"]
        evm = g["evm_pct"][0]
        per_symbol = g["evm_per_symbol_pct"][0]
        aclr = g["aclr_upper_dbc"][0, :, 0]
    assert evm[0] < 2.0 and evm[-1] > 2 * evm[0]
    # the uplink slot's symbols (the last 14 of the 5-slot period) carry no downlink: no EVM
    assert np.all(np.isnan(per_symbol[:, -14:]))
    assert np.all(np.isfinite(per_symbol[:, :14]))
    assert aclr[-1] > aclr[0] + 3.0  # regrowth with drive
