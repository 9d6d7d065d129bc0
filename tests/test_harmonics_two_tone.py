"""Harmonics and two-tone IMD/OIP3 steps on the simulated bench, against the PA model.

Harmonics: the model gives H_n(Pin) in closed form (``PowerAmplifier.harmonics_dbc``).
Two-tone: the model's own envelope response (linear memory, then Rapp AM-AM/AM-PM per sample,
``memory_response`` and ``envelope_gain``) applied here to an ideal two-tone envelope and
resolved by an exact DFT gives the tone and IM3 outputs per tone. This Rapp PA (p = 2) has no
cubic term, so its IM3 rises about 5 dB/dB, not 3: OIP3 depends on the level and is compared
over the same extraction points. Tolerances: 0.5 dB on H_n and on OIP3 (analyzer amplitude
accuracy ±0.06 dB, trace/IQ noise, interpolation), 0.3 dB on per-point IMD3.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchbot.bench import builtin_bench_path, load_bench
from benchbot.limits import Verdict
from benchbot.plan import parse_plan
from benchbot.safety import SafetyError, check_plan_against_bench, dut_input_levels_dbm

PLAN = Path(__file__).parent / "data" / "harmonics_two_tone_plan.yaml"
SUPPLY_V = 5.0  # CV: the PA draws < 0.8 A of the 1 A limit


def model_two_tone(dut: Any, pin_per_tone_dbm: float, f_hz: float, spacing_hz: float
                   ) -> dict[str, float]:
    """Per-tone output and IM3 (dBm) of the PA model for two equal tones (exact DFT)."""
    n, m = 256, 4  # tones on bins ±m; IM3 on ±3m, IM5 on ±5m; no aliasing onto them
    fs = n * spacing_hz / (2 * m)
    k = np.arange(n)
    a = math.sqrt(10 ** ((pin_per_tone_dbm - 30) / 10))  # sqrt(W) per tone
    x = a * (np.exp(-2j * np.pi * m * k / n) + np.exp(2j * np.pi * m * k / n))
    x = np.fft.ifft(np.fft.fft(x) * dut.memory_response(np.fft.fftfreq(n, 1 / fs)))
    spectrum = np.abs(np.fft.fft(x * dut.envelope_gain(np.abs(x), f_hz, SUPPLY_V)) / n) ** 2
    dbm = {name: 10 * math.log10(spectrum[b % n]) + 30 for name, b in
           (("tone_lower", -m), ("tone_upper", m), ("im3_lower", -3 * m), ("im3_upper", 3 * m))}
    return dbm


@pytest.fixture
def outcome(run_plan: Any) -> Any:
    return run_plan(PLAN)


def test_harmonics_equal_the_pa_model(outcome: Any, simulated_bench: Any) -> None:
    assert outcome.status == "completed", outcome.error
    dut = simulated_bench.state.dut
    with h5py.File(outcome.record_path, "r") as f:
        g = f["steps/000_harmonics"]
        assert list(g["harmonic_order"][()]) == [2.0, 3.0]
        dbc = g["harmonic_dbc"][()]
        pin = g["input_power_dbm"][()]
        snr = g["harmonic_power_dbm"][()] - g["harmonic_noise_floor_dbm"][()]
        for fi, f_hz in enumerate(g["frequency_hz"][()]):
            for pi in range(pin.shape[1]):
                expected = dut.harmonics_dbc(pin[fi, pi], f_hz, SUPPLY_V)
                assert dbc[fi, pi] == pytest.approx(expected, abs=0.5)
                assert np.all(snr[fi, pi] > 20)
    for f_hz in (3.3e9, 3.8e9):
        worst = dut.harmonics_dbc(6.0, f_hz, SUPPLY_V)  # H_n rise with drive: worst at the top
        for n, expected in zip((2, 3), worst, strict=True):
            (m,) = [m for m in outcome.metrics
                    if m.metric == f"h{n}_dbc" and m.condition["frequency_hz"] == f_hz]
            assert m.value == pytest.approx(expected, abs=0.5)
            assert m.verdict is Verdict.PASS and "Pin = 6 dBm" in m.note
            assert m.limit is not None and m.limit.source.startswith("datasheet")


def state_iip3(simulated_bench: Any) -> float:
    return float(simulated_bench.state.dut.cubic_iip3_dbm)


def test_two_tone_imd_and_oip3_equal_the_pa_model(outcome: Any, simulated_bench: Any) -> None:
    dut = simulated_bench.state.dut
    f_hz, spacing = 3.55e9, 10e6
    with h5py.File(outcome.record_path, "r") as f:
        g = f["steps/001_imd"]
        pin = g["input_power_dbm"][0]
        data = {k: g[f"{k}_dbm"][0] for k in ("tone_lower", "tone_upper", "im3_lower",
                                               "im3_upper", "noise_floor")}
        imd3 = np.maximum(g["imd3_lower_dbc"][0], g["imd3_upper_dbc"][0])
        assert "two_tone_max_drive_3550MHz" in g["traces"]
    model = [model_two_tone(dut, p, f_hz, spacing) for p in pin]
    for key in ("tone_lower", "tone_upper"):
        assert data[key] == pytest.approx([m[key] for m in model], abs=0.3)
    model_imd3 = np.array([max(m["im3_lower"] - m["tone_lower"], m["im3_upper"] - m["tone_upper"])
                           for m in model])
    # in one coherent FFT bin noise adds as a vector: 30 dB SNR keeps it within ±0.3 dB
    clear = np.minimum(data["im3_lower"], data["im3_upper"]) > data["noise_floor"] + 30
    assert clear.sum() >= 6
    assert imd3[clear] == pytest.approx(model_imd3[clear], abs=0.3)
    # OIP3 over the plan's extraction region (-16..-10 dBm per tone), worse side, fixed slopes
    region = (pin >= -16 - 1e-9) & (pin <= -10 + 1e-9)
    expected = min(np.mean([m[f"tone_{s}"] + (m[f"tone_{s}"] - m[f"im3_{s}"]) / 2
                            for m, r in zip(model, region, strict=True) if r])
                   for s in ("lower", "upper"))
    oip3 = [m for m in outcome.metrics if m.metric == "oip3_dbm"][0]
    assert oip3.value == pytest.approx(expected, abs=0.5)
    # the PA's cubic term: OIP3 = IIP3 + G of the model, IM3 rising 3:1 below compression
    assert oip3.value == pytest.approx(state_iip3(simulated_bench) + 28.0, abs=1.0)
    slope = [m for m in outcome.metrics if m.metric == "im3_slope_db_per_db"][0]
    assert 2.8 < slope.value < 3.3
    assert "per-tone input <= -10 dBm" in oip3.note
    imd_rated = [m for m in outcome.metrics if m.metric == "imd3_dbc_at_rated_pout"][0]
    pout = (data["tone_lower"] + data["tone_upper"]) / 2
    assert imd_rated.value == pytest.approx(np.interp(20.0, pout, imd3))
    assert imd_rated.verdict is Verdict.PASS
    state = simulated_bench.state
    assert state.generator.rf_on is False and state.generator.modulation_on is False


def test_harmonic_frequencies_must_be_in_the_analyzer_table() -> None:
    text = PLAN.read_text().replace("max_harmonic: 3", "max_harmonic: 4")
    with pytest.raises(SafetyError) as info:
        check_plan_against_bench(parse_plan(text), load_bench(builtin_bench_path()))
    (v,) = info.value.violations
    assert v == ("step 'harmonics': 13.2 GHz, 15.2 GHz outside the path-loss table of role "
                 "'signal_analyzer' (3 GHz to 11.4 GHz)")


def test_two_tone_safety_counts_both_tones() -> None:
    bench = load_bench(builtin_bench_path())
    plan = parse_plan(PLAN.read_text())
    levels = dut_input_levels_dbm(plan.steps[1], bench)
    assert levels[0, -1] == pytest.approx(0.0 + 10 * math.log10(2))  # 0 dBm per tone
    unsafe = parse_plan(PLAN.read_text().replace("{start: -30.0, stop: 0.0, step: 2.0}",
                                                 "{start: -30.0, stop: 8.0, step: 2.0}"))
    with pytest.raises(SafetyError) as info:
        check_plan_against_bench(unsafe, bench)
    (v,) = info.value.violations
    assert "level 8 dBm per tone (dut_input) puts 11.01 dBm in total (RMS) at the DUT" in v
    assert "1 of 20 points exceed it" in v


def test_the_same_plan_on_the_rs_bench_measures_the_same_dut(outcome: Any,
                                                             tmp_path: Path) -> None:
    from benchbot import simbench
    from benchbot.plan import load_plan
    from benchbot.runner import RunRequest, run

    bench = load_bench(Path(builtin_bench_path()).with_name("simulated-rs.yaml"))
    with simbench.running(bench) as (served, _):
        rs = run(RunRequest(load_plan(PLAN), PLAN.read_text(), served, "", tmp_path,
                            simulated=True))
    assert rs.status == "completed", rs.error
    keysight = {(m.step, m.metric, m.condition["frequency_hz"]): m.value for m in outcome.metrics}
    for m in rs.metrics:
        assert m.value == pytest.approx(keysight[(m.step, m.metric, m.condition["frequency_hz"])],
                                        abs=0.5), m.metric


def test_sweep_and_fft_read_outs() -> None:
    from benchbot.measurements.two_tone import Spectrum

    f = np.arange(-5, 6) * 1e3 + 1e9
    p = np.full(f.size, -100.0)
    p[5], p[6] = -10.0, -13.0
    assert Spectrum(f, p, "max", {}).read(1e9, 1.5e3) == -10.0
    assert Spectrum(f, p, "sum", {}).read(1e9, 0.5e3) == pytest.approx(-10.0)
    total = 10 * np.log10(10 ** -1.0 + 10 ** -1.3 + 10 ** -10.0)
    assert Spectrum(f, p, "sum", {}).read(1e9, 1.5e3) == pytest.approx(total)
    with pytest.raises(ValueError, match="not in the measured spectrum"):
        Spectrum(f, p, "max", {}).read(2e9, 1e3)
