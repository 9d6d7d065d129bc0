"""The PA model's closed forms against numeric root-finding (the ground truth other tests use)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from simulators.pa_model import FEEDTHROUGH_DB, PowerAmplifier, dbm_to_w

FC = 3.55e9


@pytest.fixture
def pa() -> PowerAmplifier:
    return PowerAmplifier.from_config({
        "model": "power_amplifier", "supply_channel": 1, "center_frequency_hz": "3.55e9",
        "small_signal_gain_db": 28.0, "gain_rolloff_db_per_ghz2": 8.0, "psat_dbm": 33.0,
        "rapp_smoothness": 2.0, "am_pm_max_deg": 12.0, "nominal_supply_v": 5.0,
        "quiescent_current_a": 0.08, "drain_efficiency_at_psat": 0.55,
        "harmonics_dbc_at_psat": [-25.0, -35.0], "max_rf_input_dbm": 12.0,
    })


def gain(pa: PowerAmplifier, pin: float, f: float, v: float | None = None) -> float:
    return pa.output_power_dbm(pin, f, v) - pin


def test_config_strings_are_coerced(pa: PowerAmplifier) -> None:
    assert pa.center_frequency_hz == FC and pa.g0_db == 28.0


@pytest.mark.parametrize("f", [3.3e9, 3.55e9, 3.8e9])
def test_small_signal_gain_follows_rolloff(pa: PowerAmplifier, f: float) -> None:
    expected = 28.0 - 8.0 * ((f - FC) / 1e9) ** 2
    assert pa.small_signal_gain_db(f) == pytest.approx(expected)
    assert gain(pa, -60.0, f) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("f", [3.3e9, 3.55e9, 3.8e9])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_p1db_closed_form_matches_root_find(pa: PowerAmplifier, f: float, p: float) -> None:
    pa.rapp_smoothness = p
    g0 = pa.small_signal_gain_db(f)
    ip1 = brentq(lambda pin: gain(pa, pin, f) - (g0 - 1.0), -40.0, 40.0, xtol=1e-10)
    assert pa.p1db_input_dbm(f) == pytest.approx(ip1, abs=1e-6)
    assert pa.p1db_output_dbm(f) == pytest.approx(pa.output_power_dbm(ip1, f), abs=1e-6)
    x = (10 ** (p / 10) - 1) ** (1 / (2 * p))
    assert pa.p1db_output_dbm(f) == pytest.approx(33.0 + 20 * math.log10(x) - 1.0)


def test_rapp_saturates_at_psat_and_is_monotonic(pa: PowerAmplifier) -> None:
    pins = np.linspace(-40, 40, 401)
    pout = np.array([pa.output_power_dbm(p, FC) for p in pins])
    assert np.all(np.diff(pout) > 0)
    assert pout[-1] == pytest.approx(33.0, abs=0.01)
    assert pout.max() < 33.0


def test_psat_follows_supply_voltage(pa: PowerAmplifier) -> None:
    for v in (3.0, 4.0, 5.0, 5.5):
        psat = 33.0 + 20 * math.log10(v / 5.0)
        assert pa.psat_at_dbm(v) == pytest.approx(psat)
        assert pa.output_power_dbm(40.0, FC, v) == pytest.approx(psat, abs=0.01)
        assert pa.p1db_output_dbm(FC, v) == pytest.approx(pa.p1db_output_dbm(FC) + psat - 33.0)


def test_unpowered_pa_is_a_feedthrough(pa: PowerAmplifier) -> None:
    assert pa.output_power_dbm(0.0, FC, 0.0) == pytest.approx(FEEDTHROUGH_DB)
    assert pa.harmonics_dbc(0.0, FC, 0.0) == []
    assert pa.am_pm_rad(0.0, FC, 0.0) == 0.0


def test_am_pm_rises_to_its_maximum(pa: PowerAmplifier) -> None:
    pins = np.linspace(-30, 40, 141)
    phase = np.degrees([pa.am_pm_rad(p, FC) for p in pins])
    assert phase[0] < 0.01 and np.all(np.diff(phase) > 0)
    assert phase[-1] == pytest.approx(12.0, abs=0.05)
    at_p1db = math.degrees(pa.am_pm_rad(pa.p1db_input_dbm(FC), FC))
    assert 2.0 < at_p1db < 10.0  # typical spec region (< 10 deg up to P1dB)


def test_harmonic_slopes_and_cap(pa: PowerAmplifier) -> None:
    def absolute(pin: float) -> list[float]:
        pout = pa.output_power_dbm(pin, FC)
        return [pout + dbc for dbc in pa.harmonics_dbc(pin, FC)]

    lo, hi = absolute(-30.0), absolute(-20.0)
    assert (hi[0] - lo[0]) / 10.0 == pytest.approx(2.0, abs=0.01)
    assert (hi[1] - lo[1]) / 10.0 == pytest.approx(3.0, abs=0.01)
    assert pa.harmonics_dbc(30.0, FC) == pytest.approx([-25.0, -35.0])


def test_supply_current_class_ab(pa: PowerAmplifier) -> None:
    i_sat = dbm_to_w(33.0) / (0.55 * 5.0)
    assert pa.saturation_current_a() == pytest.approx(i_sat)
    assert pa.supply_current_a(None, FC) == pytest.approx(0.08)
    assert pa.supply_current_a(-60.0, FC) == pytest.approx(0.08, abs=1e-3)
    assert pa.supply_current_a(40.0, FC) == pytest.approx(i_sat, rel=1e-3)
    # drain efficiency approaches its configured value at saturation
    de = dbm_to_w(pa.output_power_dbm(40.0, FC)) / (5.0 * pa.supply_current_a(40.0, FC))
    assert de == pytest.approx(0.55, rel=2e-3)
    pin = pa.p1db_input_dbm(FC)
    ratio = math.sqrt(dbm_to_w(pa.output_power_dbm(pin, FC)) / dbm_to_w(33.0))
    assert pa.supply_current_a(pin, FC) == pytest.approx(0.08 + (i_sat - 0.08) * ratio)


def test_supply_current_is_monotonic_in_voltage(pa: PowerAmplifier) -> None:
    volts = np.linspace(0.0, 6.0, 121)
    current = np.array([pa.supply_current_a(5.0, FC, v) for v in volts])
    assert current[0] == 0.0 and np.all(np.diff(current) >= -1e-12)


def test_damage_reduces_gain_and_psat(pa: PowerAmplifier) -> None:
    healthy = pa.output_power_dbm(0.0, FC)
    pa.damaged = True
    assert pa.small_signal_gain_db(FC) == pytest.approx(8.0)
    assert pa.output_power_dbm(0.0, FC) < healthy - 15.0


def test_cubic_term_gives_the_3_to_1_intercept_of_its_iip3() -> None:
    """Two equal tones through the envelope model at low drive: IM3/tone = 2·(Pin − IIP3) dB
    (reference §3.1: a3 = −a1/A_IIP3², per-tone powers), so OIP3 = IIP3 + G."""
    pa = PowerAmplifier(cubic_iip3_dbm=16.0, psat_dbm=34.0)
    n = 4096
    k = np.arange(n)
    for pin_dbm in (-30.0, -25.0):
        amp = math.sqrt(dbm_to_w(pin_dbm))  # per tone, sqrt(W)
        x = amp * (np.exp(2j * np.pi * 3 * k / n) + np.exp(2j * np.pi * 5 * k / n))
        y = x * pa.envelope_gain(np.abs(x), FC)
        spectrum = np.abs(np.fft.fft(y) / n) ** 2
        imd3_db = 10 * math.log10(spectrum[7] / spectrum[5])  # 2·f2 − f1 over the f2 tone
        assert imd3_db == pytest.approx(2 * (pin_dbm - 16.0), abs=0.1)


def test_cubic_term_compression_point_and_no_fold_back() -> None:
    pa = PowerAmplifier(cubic_iip3_dbm=16.0, psat_dbm=34.0)
    ip1 = pa.p1db_input_dbm(FC)
    assert pa.output_power_dbm(ip1, FC) - ip1 == pytest.approx(pa.small_signal_gain_db(FC) - 1,
                                                                abs=1e-6)
    pins = np.arange(-20.0, 30.0, 0.25)
    pout = np.array([pa.output_power_dbm(p, FC) for p in pins])
    assert np.all(np.diff(pout) >= -1e-9)  # held at the cubic's peak: never folds back
    factor = pa.cubic_factor(np.array([dbm_to_w(16.0) / 3 * (1 - 1e-9), dbm_to_w(16.0) / 3]))
    assert factor[0] == pytest.approx(factor[1], rel=1e-6)
