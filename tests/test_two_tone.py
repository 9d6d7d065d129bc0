"""Two-tone IMD3/OIP3 extraction against the analytic complex-envelope cubic model (§1.6, §3.1).

x = A(e^{jw1 t} + e^{jw2 t}) through y = a1*x + a3*x|x|^2, a3 = -a1/A_IIP3^2, gives exactly
tone amplitude a1*A*(1 - 3r) and IM3 amplitude a1*A*r with r = A^2/A_IIP3^2, so the analytic
OIP3 (per tone) is A_IIP3^2 * a1^2, i.e. IIP3 + G.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchbot.analysis.two_tone import harmonics_dbc, im3_slope, imd3

N = 1024
K1, K2 = -5, 5  # tone bins (coherent); IM3 at 2*K1-K2 = -15 and 2*K2-K1 = 15
G_DB = 20.0
IIP3_DBM = 0.0
A1 = 10 ** (G_DB / 20)
A_IIP3 = np.sqrt(1e-3 * 10 ** (IIP3_DBM / 10))  # sqrt(W): per-tone power at IIP3


def dbm(p_w: float) -> float:
    return float(10 * np.log10(p_w) + 30)


def two_tone_powers(pin_dbm: float) -> tuple[float, float, float, float]:
    """Measure (tone_lo, tone_hi, im3_lo, im3_hi) output in dBm from the FFT of the model output."""
    a = np.sqrt(1e-3 * 10 ** (pin_dbm / 10))
    n = np.arange(N)
    x = a * (np.exp(2j * np.pi * K1 * n / N) + np.exp(2j * np.pi * K2 * n / N))
    y = A1 * x - A1 / A_IIP3**2 * x * np.abs(x) ** 2
    spec = np.abs(np.fft.fft(y) / N) ** 2
    return (dbm(spec[K1 % N]), dbm(spec[K2 % N]), dbm(spec[(2 * K1 - K2) % N]),
            dbm(spec[(2 * K2 - K1) % N]))


def test_oip3_of_cubic_model_at_low_drive() -> None:
    pin = IIP3_DBM - 30.0
    r = imd3(*two_tone_powers(pin), gain_db=G_DB)
    oip3_analytic = IIP3_DBM + G_DB
    assert r.oip3_dbm == pytest.approx(oip3_analytic, abs=0.2)
    assert r.iip3_dbm == pytest.approx(IIP3_DBM, abs=0.2)
    assert r.delta_im3_dbc == pytest.approx(60.0, abs=0.2)  # 2*(IIP3 - Pin)
    assert r.oip3_lower_dbm == pytest.approx(r.oip3_upper_dbm, abs=1e-9)
    # exact finite-drive prediction: OIP3_ext = OIP3 + 30*log10(1 - 3r)
    ratio = 10 ** ((pin - IIP3_DBM) / 10)
    assert r.oip3_dbm == pytest.approx(oip3_analytic + 30 * np.log10(1 - 3 * ratio), abs=1e-6)


def test_imd3_formula_and_worse_side() -> None:
    r = imd3(10.0, 10.0, -40.0, -36.0)
    assert r.delta_im3_lower_dbc == 50 and r.delta_im3_upper_dbc == 46
    assert r.oip3_lower_dbm == 35 and r.oip3_upper_dbm == 33 and r.oip3_dbm == 33
    assert np.isnan(r.iip3_dbm)


def test_im3_slope_is_three_in_weak_region() -> None:
    pins = np.arange(-40.0, -9.0, 2.0)
    meas = np.array([two_tone_powers(p) for p in pins])
    pt, pim = meas[:, 0], meas[:, 2]
    s = im3_slope(pins, pt, pim, pin_max_dbm=IIP3_DBM - 20)
    assert s.slope_im3 == pytest.approx(3.0, abs=0.05)
    assert s.slope_fundamental == pytest.approx(1.0, abs=0.05)
    assert s.slope_ok and s.n_points == 11
    assert s.oip3_intercept_dbm == pytest.approx(IIP3_DBM + G_DB, abs=0.2)
    assert s.iip3_intercept_dbm == pytest.approx(IIP3_DBM, abs=0.2)
    assert s.oip3_intercept_dbm == pytest.approx(np.mean(s.oip3_per_point_dbm[pins <= -20]))
    assert np.isfinite(s.oip3_free_fit_dbm)
    # up to r = 0.1 the fundamental compresses (a pure cubic keeps IM3 at exactly 3:1), and the
    # check flags it
    strong = im3_slope(pins, pt, pim, slope_tolerance=0.05)
    assert strong.slope_fundamental < 0.95 and not strong.slope_ok


def test_harmonics_dbc() -> None:
    assert harmonics_dbc(30.0, {3: -25.0, 2: -10.0}) == {2: -40.0, 3: -55.0}
    with pytest.raises(ValueError):
        harmonics_dbc(30.0, {1: 0.0})
