"""Y-factor maths against hand computations (rf-measurements-and-scpi.md §1.7).

The noise powers fed to the functions are built from first principles here: N = k·B·G·(Ts + Te)
for a source at temperature Ts, with Th = T0·(ENR + 1) hot and Tc cold, so every expected value
is the physics, not the formula under test run backwards.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchbot.analysis.noise_figure import (
    T0_K,
    EnrRangeError,
    enr_db_at,
    gain_from_calibration,
    noise_factor,
    noise_factor_from_temperature,
    noise_factor_from_y,
    noise_figure_db,
    noise_temperature_k,
    second_stage_corrected,
    y_factor,
    y_factor_noise_figure,
)

K_B = 1.380649e-23
BANDWIDTH_HZ = 4e6


def noise_dbm(source_k: float, noise_temperature_k_: float, gain: float = 1.0) -> float:
    """Available noise power (dBm) in BANDWIDTH_HZ out of a stage of gain `gain` and input noise
    temperature `noise_temperature_k_` fed by a source at `source_k`."""
    return 10.0 * math.log10(K_B * BANDWIDTH_HZ * gain * (source_k + noise_temperature_k_)) + 30


def hot_k(enr_db: float) -> float:
    return T0_K * (10.0 ** (enr_db / 10.0) + 1.0)


# -- ENR table ----------------------------------------------------------------------------------

TABLE_HZ = [1e9, 2e9, 3e9]
TABLE_DB = [15.0, 14.0, 14.6]


@pytest.mark.parametrize(("f_hz", "expected_db"), [
    (1e9, 15.0), (1.5e9, 14.5), (2e9, 14.0), (2.5e9, 14.3), (3e9, 14.6), (1.25e9, 14.75),
])
def test_enr_is_linear_in_db_between_table_points(f_hz: float, expected_db: float) -> None:
    assert float(enr_db_at(f_hz, TABLE_HZ, TABLE_DB)) == pytest.approx(expected_db, abs=1e-12)


@pytest.mark.parametrize("f_hz", [0.99e9, 3.01e9, [1.5e9, 3.5e9]])
def test_enr_refuses_to_extrapolate(f_hz: float | list[float]) -> None:
    with pytest.raises(EnrRangeError, match="outside the ENR table"):
        enr_db_at(f_hz, TABLE_HZ, TABLE_DB)


@pytest.mark.parametrize(("freqs", "enrs"), [
    ([1e9, 2e9], [15.0]), ([2e9, 1e9], [15.0, 14.0]), ([], []),
])
def test_malformed_enr_tables_are_errors(freqs: list[float], enrs: list[float]) -> None:
    with pytest.raises(ValueError):
        enr_db_at(1.5e9, freqs, enrs)


# -- Y factor -----------------------------------------------------------------------------------

def test_textbook_case_cold_source_at_t0() -> None:
    """Tc = T0: NF = ENR - 10 log10(Y - 1). ENR 15 dB, Te = 290 K (F = 2, NF 3.0103 dB)."""
    enr_db, te = 15.0, 290.0
    y = y_factor(noise_dbm(hot_k(enr_db), te), noise_dbm(T0_K, te))
    assert float(y) == pytest.approx((hot_k(enr_db) + te) / (T0_K + te))
    assert float(noise_factor_from_y(enr_db, y)) == pytest.approx(2.0, rel=1e-12)
    assert float(noise_figure_db(noise_factor_from_y(enr_db, y))) == pytest.approx(
        enr_db - 10 * math.log10(float(y) - 1.0), abs=1e-12)


def test_warm_cold_source_is_corrected() -> None:
    """Tc = 296.5 K: F = (ENR - Y (Tc/T0 - 1)) / (Y - 1) recovers F = 2 exactly; the Tc = T0
    formula would read 0.0515 dB high (31.6228 / 15.6251 = 2.0238)."""
    enr_db, te, tc = 15.0, 290.0, 296.5
    y = y_factor(noise_dbm(hot_k(enr_db), te), noise_dbm(tc, te))
    assert float(y) == pytest.approx(9750.6 / 586.5, rel=1e-4)  # hand: (9170.6+290+290)/586.5
    assert float(noise_factor_from_y(enr_db, y, tc)) == pytest.approx(2.0, rel=1e-12)
    naive_db = float(noise_figure_db(noise_factor_from_y(enr_db, y)))
    assert naive_db - 10 * math.log10(2.0) == pytest.approx(0.0515, abs=2e-4)


def test_no_excess_noise_is_nan_not_an_error() -> None:
    f = noise_factor_from_y(15.0, np.array([1.0, 0.9, 20.0]))
    assert np.isnan(f[0]) and np.isnan(f[1]) and np.isfinite(f[2])


# -- second stage -------------------------------------------------------------------------------

def test_friis_by_hand() -> None:
    """F1 = 1.5, G1 = 100, F2 = 10: F12 = 1.5 + 9/100 = 1.59; corrected back to 1.5."""
    assert float(second_stage_corrected(1.59, 10.0, 100.0)) == pytest.approx(1.5)
    assert np.isnan(second_stage_corrected(1.59, 10.0, 0.0))


def test_gain_and_corrected_noise_figure_from_the_four_powers() -> None:
    """Receiver alone (F2 = 10, gain 1e6) then DUT (F1 = 1.5, G1 = 20 dB) plus receiver, source
    at 296.5 K when off: the DUT's gain and NF come back exactly."""
    enr_db, tc, g2, g1 = 14.2, 296.5, 1e6, 100.0
    te1, te2 = T0_K * 0.5, T0_K * 9.0
    te12 = te1 + te2 / g1  # Friis in temperatures
    rx_h, rx_c = noise_dbm(hot_k(enr_db), te2, g2), noise_dbm(tc, te2, g2)
    dut_h, dut_c = noise_dbm(hot_k(enr_db), te12, g1 * g2), noise_dbm(tc, te12, g1 * g2)
    assert float(gain_from_calibration(dut_h, dut_c, rx_h, rx_c)) == pytest.approx(g1, rel=1e-9)
    r = y_factor_noise_figure(np.array([enr_db]), [dut_h], [dut_c], tc, [rx_h], [rx_c])
    assert r.noise_figure_db[0] == pytest.approx(10 * math.log10(1.5), abs=1e-9)
    assert r.gain_db[0] == pytest.approx(20.0, abs=1e-9)
    assert r.receiver_noise_figure_db[0] == pytest.approx(10.0, abs=1e-9)
    assert r.noise_figure_uncorrected_db[0] == pytest.approx(10 * math.log10(1.59), abs=1e-9)
    assert r.noise_temperature_k[0] == pytest.approx(te1, rel=1e-9)


def test_without_receiver_calibration_the_result_is_the_system_noise_figure() -> None:
    enr_db, te = 15.0, 500.0
    r = y_factor_noise_figure([enr_db], [noise_dbm(hot_k(enr_db), te)], [noise_dbm(T0_K, te)])
    assert r.noise_figure_db[0] == pytest.approx(r.noise_figure_uncorrected_db[0])
    assert r.noise_figure_db[0] == pytest.approx(10 * math.log10(1 + te / T0_K), abs=1e-9)
    assert np.isnan(r.gain_db[0]) and np.isnan(r.receiver_noise_figure_db[0])


@pytest.mark.parametrize(("nf_db", "f", "te_k"), [
    (0.0, 1.0, 0.0), (10 * math.log10(2.0), 2.0, 290.0), (10.0, 10.0, 2610.0),
])
def test_conversions(nf_db: float, f: float, te_k: float) -> None:
    assert float(noise_factor(nf_db)) == pytest.approx(f)
    assert float(noise_figure_db(f)) == pytest.approx(nf_db, abs=1e-12)
    assert float(noise_temperature_k(f)) == pytest.approx(te_k)
    assert float(noise_factor_from_temperature(te_k)) == pytest.approx(f)
