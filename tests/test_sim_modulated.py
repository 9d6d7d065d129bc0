"""The virtual bench's modulated chain: ARB waveform → generator → PA (memory, AM-AM/AM-PM) →
analyzer trace / IQ / built-in power measurements, checked against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators import analyzer_measurements as am
from simulators.bench import VirtualBench
from simulators.modulated import band_limited_interpolate, interpolation_factor
from simulators.pa_model import PowerAmplifier, dbm_to_w
from simulators.signals import ModulatedSignal
from simulators.spectrum import MODELS, SweepResult, SweepSettings, iq_capture, synthesize_sweep

F0 = 3.55e9
ARB_RATE = 122.88e6


def _noise_like(n: int = 12288, occupied: float = 0.8, seed: int = 3) -> np.ndarray:
    """A band-limited noise-like (OFDM-like) periodic waveform, peak |I|,|Q| = 1."""
    rng = np.random.default_rng(seed)
    spectrum = np.zeros(n, dtype=complex)
    k = int(occupied * n / 2)
    spectrum[1:k] = rng.standard_normal(k - 1) + 1j * rng.standard_normal(k - 1)
    spectrum[-k:] = rng.standard_normal(k) + 1j * rng.standard_normal(k)
    x = np.fft.ifft(spectrum)
    return x / max(np.abs(x.real).max(), np.abs(x.imag).max())


def _bench(iq: np.ndarray, level_dbm: float, memory: float = 0.0) -> VirtualBench:
    bench = VirtualBench({"seed": 5, "dut": {"memory_echo_ratio": memory}})
    g = bench.generator
    g.frequency_hz, g.level_dbm, g.rf_on = F0, level_dbm, True
    g.arb_iq, g.arb_sample_rate_hz, g.arb_on, g.modulation_on = iq, ARB_RATE, True, True
    s = bench.supply
    s.outputs[1], s.voltage_set[1], s.current_limit[1] = True, 5.0, 2.0
    return bench


def test_interpolation_is_exact_for_a_band_limited_periodic_signal() -> None:
    n, factor = 64, 5
    t = np.arange(n)
    x = np.exp(2j * np.pi * 7 * t / n)
    y = band_limited_interpolate(x, factor)
    assert np.allclose(y, np.exp(2j * np.pi * 7 * np.arange(n * factor) / (n * factor)))
    assert interpolation_factor(122.88e6) == 5 and interpolation_factor(1e9) == 1


def test_small_signal_output_power_is_level_plus_gain() -> None:
    bench = _bench(_noise_like(), -25.0)
    out = bench.modulated_output()
    assert out is not None and out.sample_rate_hz == pytest.approx(5 * ARB_RATE)
    assert bench.tones_at("signal_analyzer") == []  # no CW carrier while the ARB plays
    assert out.power_dbm == pytest.approx(-25.0 + 28.0, abs=0.02)
    bench.generator.arb_on = False
    assert bench.modulated_output() is None and len(bench.tones_at("signal_analyzer")) == 3


def test_constant_envelope_waveform_draws_the_cw_supply_current() -> None:
    n = 4096
    tone = np.exp(2j * np.pi * 64 * np.arange(n) / n)  # constant envelope: one off-centre line
    pa = PowerAmplifier()
    for level in (-20.0, 0.0, 4.0):
        bench = _bench(tone, level)
        expected = pa.supply_current_a(level, F0 + 64 * ARB_RATE / n, 5.0)
        assert bench.channel(1).current_a == pytest.approx(expected, rel=2e-3)


def test_supply_current_rises_with_drive_and_stays_below_cw_at_same_average_power() -> None:
    iq = _noise_like()
    currents = [_bench(iq, level).channel(1).current_a for level in (-20.0, -5.0, 2.0)]
    assert currents[0] < currents[1] < currents[2]
    # a peaky signal at the same average power draws less than CW in compression (Jensen)
    assert currents[2] < PowerAmplifier().supply_current_a(2.0, F0, 5.0)


def _acp_trace(signal: ModulatedSignal, averages: int = 20) -> tuple[SweepResult, float]:
    span = am.acp_span_hz(80e6, [100e6], [80e6])
    rbw = 300e3
    s = SweepSettings(F0 - span / 2, F0 + span / 2, points=2001, rbw_hz=rbw, vbw_hz=3e6,
                      detector="AVER", average_type="RMS", average_count=averages,
                      attenuation_db=40.0, reference_level_dbm=30.0)
    return synthesize_sweep([], s, MODELS["N9030B"], np.random.default_rng(2),
                            modulated=[signal]), rbw


def _line_band_power_dbm(signal: ModulatedSignal, lo_hz: float, hi_hz: float) -> float:
    n = signal.iq.size
    p = np.abs(np.fft.fft(signal.iq)) ** 2 / (n * n * 50.0)
    f = signal.center_frequency_hz + np.fft.fftfreq(n, 1.0 / signal.sample_rate_hz)
    return 10.0 * math.log10(float(p[(f >= lo_hz) & (f <= hi_hz)].sum())) + 30.0


def test_trace_channel_power_and_aclr_match_the_signal_spectrum() -> None:
    """The analyzer's integration-bandwidth ACP equals the band powers of the signal's own
    spectral lines within 0.3 dB once averaged (RBW filtering only smears the band edges)."""
    bench = _bench(_noise_like(occupied=0.65), 1.0)
    signal = bench.modulated_at("signal_analyzer")[0]
    trace, rbw = _acp_trace(signal)
    acp = am.adjacent_channel_power(trace, rbw, F0, 80e6, [100e6], [80e6], noise_correction=True)
    carrier = _line_band_power_dbm(signal, F0 - 40e6, F0 + 40e6)
    upper = _line_band_power_dbm(signal, F0 + 60e6, F0 + 140e6) - carrier
    lower = _line_band_power_dbm(signal, F0 - 140e6, F0 - 60e6) - carrier
    assert acp.carrier_dbm == pytest.approx(carrier, abs=0.3)
    assert acp.upper_dbc[0] == pytest.approx(upper, abs=0.3)
    assert acp.lower_dbc[0] == pytest.approx(lower, abs=0.3)


def test_aclr_degrades_with_drive_and_memory_makes_it_asymmetric() -> None:
    iq = _noise_like(occupied=0.65)
    worst = []
    for level in (-10.0, -4.0, 2.0):
        signal = _bench(iq, level).modulated_at("signal_analyzer")[0]
        carrier = _line_band_power_dbm(signal, F0 - 40e6, F0 + 40e6)
        worst.append(_line_band_power_dbm(signal, F0 + 60e6, F0 + 140e6) - carrier)
    assert worst[0] < worst[1] < worst[2]
    assert (worst[1] - worst[0]) / 6.0 > 1.5  # regrowth rises ≥ 1.5 dB per dB towards compression
    signal = _bench(iq, 0.0, memory=0.3).modulated_at("signal_analyzer")[0]
    carrier = _line_band_power_dbm(signal, F0 - 40e6, F0 + 40e6)
    up = _line_band_power_dbm(signal, F0 + 60e6, F0 + 140e6) - carrier
    low = _line_band_power_dbm(signal, F0 - 140e6, F0 - 60e6) - carrier
    assert abs(up - low) > 0.3


def test_iq_capture_of_modulated_signal_has_its_power_and_waveform() -> None:
    iq = _noise_like()
    bench = _bench(iq, -30.0)
    signal = bench.modulated_at("signal_analyzer")[0]
    x = iq_capture([], F0, ARB_RATE, 2 * iq.size, np.random.default_rng(1), -200.0,
                   if_bandwidth_hz=ARB_RATE, modulated=[signal])
    power_dbm = 10.0 * math.log10(float(np.mean(np.abs(x) ** 2)) / 50.0) + 30.0
    assert power_dbm == pytest.approx(signal.power_dbm, abs=0.05)
    # one period of the capture is the ARB waveform delayed by a random (fractional) time:
    # the same line magnitudes, a linear phase across them
    captured = np.abs(np.fft.fft(x[: iq.size]))
    sent = np.abs(np.fft.fft(iq))
    used = sent > 0.1 * sent.max()
    ratio = captured[used] / sent[used]
    assert np.std(ratio) / np.mean(ratio) < 0.01  # generator noise floor only


def test_obw_of_flat_spectrum_is_its_width() -> None:
    x = np.linspace(F0 - 100e6, F0 + 100e6, 4001)
    p = np.where(np.abs(x - F0) <= 40e6, -30.0, -150.0)
    trace = SweepResult(x, p, 1e-3, "SWE", -30.0, 0.0, False, False, None)
    obw = am.occupied_bandwidth(trace, 100e3, 99.0)
    assert obw.bandwidth_hz == pytest.approx(0.99 * 80e6, rel=2e-3)
    assert obw.centroid_hz == pytest.approx(F0, abs=50e3)
    cp = am.channel_power(trace, 100e3, F0, 80e6)
    spacing = 200e6 / 4000  # each point reads the RBW power: density × ENBW
    expected = -30.0 + 10 * math.log10(80e6 / spacing * spacing / (1.0645 * 100e3))
    assert cp.power_dbm == pytest.approx(expected, abs=0.05)


def test_damage_threshold_uses_the_rms_level() -> None:
    bench = _bench(_noise_like(), 11.0)
    bench.update()
    assert not bench.dut.damaged  # RMS 11 dBm < 12 dBm max input (+1.5 dB path loss: none here)
    assert dbm_to_w(11.0) < dbm_to_w(12.0)
