"""Power-sweep analysis against closed forms (Rapp amplifier) and hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchbot.analysis.power_sweep import (
    METRIC_UNITS,
    analyse_power_sweep,
    dbm_to_w,
    gain_flatness,
)


def rapp_pout_dbm(pin_dbm: np.ndarray, g0_db: float, psat_dbm: float, p: float) -> np.ndarray:
    """Rapp AM-AM, A(r) = G r / (1 + (G r / Vsat)^(2p))^(1/(2p)), in powers:

    with x^2 = Pin G0 / Psat (linear), Pout = Pin + G0 - (10/p) log10(1 + x^(2p))  [dBm].
    """
    x2 = 10 ** ((pin_dbm + g0_db - psat_dbm) / 10)
    return pin_dbm + g0_db - (10 / p) * np.log10(1 + x2**p)


def rapp_p1db(g0_db: float, psat_dbm: float, p: float) -> tuple[float, float]:
    """Closed-form (OP1dB, IP1dB): 1 dB compression where (1 + x^(2p))^(1/p) = 10^(1/10)."""
    x2 = (10 ** (p / 10) - 1) ** (1 / p)
    op1db = psat_dbm + 10 * math.log10(x2) - 1
    return op1db, op1db - (g0_db - 1)


def test_closed_form_is_a_1_db_compression_point() -> None:
    for p in (1, 2, 3, 5):
        op1, ip1 = rapp_p1db(28.0, 33.0, p)
        assert rapp_pout_dbm(np.array([ip1]), 28.0, 33.0, p)[0] == pytest.approx(op1, abs=1e-12)


def sweep(p: float, step_db: float, offset_db: float, g0: float = 28.0, psat: float = 33.0):
    _, ip1 = rapp_p1db(g0, psat, p)
    pin = np.arange(ip1 - 35.0 + offset_db, ip1 + 10.0, step_db)
    return pin, rapp_pout_dbm(pin, g0, psat, p), ip1 - 20.0  # G0 region 20 dB below IP1dB


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 5.0, 10.0])
@pytest.mark.parametrize("step_db", [0.5, 1.0])
@pytest.mark.parametrize("phase", [0.0, 0.17, 0.5, 0.83])  # where the grid falls, x step
def test_p1db_of_a_sampled_rapp_curve(p: float, step_db: float, phase: float) -> None:
    pin, pout, threshold = sweep(p, step_db, phase * step_db)
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=threshold)
    op1, ip1 = rapp_p1db(28.0, 33.0, p)
    assert m.small_signal_gain_db == pytest.approx(28.0, abs=0.01)
    assert m.p1db_output_dbm == pytest.approx(op1, abs=0.1)
    assert m.p1db_input_dbm == pytest.approx(ip1, abs=0.1)
    assert m.p1db_output_dbm - m.p1db_input_dbm == pytest.approx(m.small_signal_gain_db - 1)
    assert m.psat_dbm == pytest.approx(pout.max())


@settings(max_examples=200, deadline=None)
@given(p=st.floats(1.0, 20.0), step_db=st.floats(0.1, 1.0), offset=st.floats(0, 1),
       g0=st.floats(10, 40), psat=st.floats(0, 50))
def test_p1db_of_any_rapp_curve(p: float, step_db: float, offset: float, g0: float,
                                psat: float) -> None:
    pin, pout, threshold = sweep(p, step_db, offset * step_db, g0, psat)
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=threshold)
    op1, _ = rapp_p1db(g0, psat, p)
    assert abs(m.p1db_output_dbm - op1) < 0.1


def test_p1db_is_interpolated_not_the_nearest_point() -> None:
    pin = np.array([-20.0, -10.0, 0.0, 10.0])
    pout = pin + np.array([20.0, 20.0, 20.0, 18.0])  # compression 0, 0, 0, 2 dB
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=-10.0)
    assert m.small_signal_gain_db == 20.0 and m.small_signal_points == 2
    assert m.p1db_input_dbm == pytest.approx(5.0)  # halfway between 0 and 10 dBm
    assert m.p1db_output_dbm == pytest.approx(24.0)  # 5 + 20 - 1


def test_efficiency_and_pae_against_a_hand_calculation() -> None:
    pin = np.array([-20.0, -10.0, 0.0, 10.0])
    pout = np.array([0.0, 10.0, 20.0, 28.0])  # gain 20, 20, 20, 18 dB
    pdc = np.array([1.0, 1.0, 1.0, 2.0])  # W
    m = analyse_power_sweep(pin, pout, pdc, small_signal_max_input_dbm=-10.0)
    # at 10 dBm in: Pout = 28 dBm = 0.631 W, Pin = 0.010 W, P_DC = 2 W
    assert m.drain_efficiency_pct[3] == pytest.approx(100 * 0.630957 / 2, rel=1e-5)  # 31.55 %
    assert m.pae_pct[3] == pytest.approx(100 * (0.630957 - 0.010) / 2, rel=1e-5)  # 31.05 %
    # at 0 dBm in: Pout = 20 dBm = 0.1 W, Pin = 1 mW, P_DC = 1 W -> 10 % and 9.9 %
    assert m.drain_efficiency_pct[2] == pytest.approx(10.0)
    assert m.pae_pct[2] == pytest.approx(9.9)
    # P1dB halfway between the last two points: Pin 5 dBm, Pout 24 dBm, P_DC 1.5 W
    assert m.drain_efficiency_at_p1db_pct == pytest.approx(100 * 0.251189 / 1.5, rel=1e-5)
    assert m.pae_at_p1db_pct == pytest.approx(100 * (0.251189 - 0.0031623) / 1.5, rel=1e-5)
    assert m.psat_dbm == 28.0 and m.psat_input_dbm == 10.0
    assert m.drain_efficiency_at_psat_pct == pytest.approx(31.5479, rel=1e-4)
    assert m.pae_max_pct == pytest.approx(31.0479, rel=1e-4)
    assert "maximum at the last sweep point" in m.notes["psat_dbm"]


def test_am_pm_is_unwrapped_and_relative_to_small_signal() -> None:
    pin = np.array([-20.0, -10.0, 0.0, 10.0])
    pout = pin + np.array([20.0, 20.0, 20.0, 18.0])
    phase = np.array([175.0, 177.0, -178.0, -166.0])  # +6 deg and +18 deg past the wrap
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=-10.0, phase_deg=phase)
    assert m.am_pm_deg is not None
    assert np.allclose(m.am_pm_deg, [-1.0, 1.0, 6.0, 18.0])  # relative to the mean, 176 deg
    assert m.am_pm_at_p1db_deg == pytest.approx(12.0)  # halfway between 6 and 18


def test_am_pm_at_p1db_is_a_magnitude() -> None:
    pin = np.array([-20.0, -10.0, 0.0, 10.0])
    pout = pin + np.array([20.0, 20.0, 20.0, 18.0])
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=-10.0,
                            phase_deg=np.array([0.0, 0.0, -4.0, -8.0]))
    assert m.am_pm_at_p1db_deg == pytest.approx(6.0)
    assert m.am_pm_deg is not None and m.am_pm_deg[-1] == -8.0


def test_no_compression_in_the_sweep_gives_nan_with_a_reason() -> None:
    pin = np.arange(-30.0, 0.5, 1.0)
    pout = rapp_pout_dbm(pin, 28.0, 40.0, 2.0)  # P1dB far above the sweep
    m = analyse_power_sweep(pin, pout, np.ones_like(pin), small_signal_max_input_dbm=-20.0,
                            phase_deg=np.zeros_like(pin))
    assert math.isnan(m.p1db_output_dbm) and math.isnan(m.p1db_input_dbm)
    assert m.notes["p1db_output_dbm"].startswith("not computed: no 1 dB compression within the "
                                                 "sweep (at most 0.")
    metrics = m.to_metrics()
    assert math.isnan(metrics["pae_at_p1db_pct"].value)
    assert "no P1dB" in metrics["am_pm_at_p1db_deg"].method
    assert not math.isnan(metrics["psat_dbm"].value)


def test_too_few_small_signal_points() -> None:
    pin = np.arange(-10.0, 10.5, 0.5)
    m = analyse_power_sweep(pin, rapp_pout_dbm(pin, 28.0, 33.0, 2.0), None,
                            small_signal_max_input_dbm=-10.0)
    assert m.small_signal_points == 1 and math.isnan(m.small_signal_gain_db)
    assert "G0 needs >= 2" in m.notes["small_signal_gain_db"]
    assert math.isnan(m.p1db_output_dbm)


def test_compressed_from_the_first_point() -> None:
    pin = np.array([-20.0, -10.0, 0.0])
    pout = pin + np.array([18.0, 22.0, 20.0])  # G0 = 20 dB; the first point is 2 dB below it
    m = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=-10.0)
    assert math.isnan(m.p1db_output_dbm)
    assert "already compressed by >= 1 dB at the first point" in m.notes["p1db_output_dbm"]


def test_to_metrics_lists_only_what_was_measured() -> None:
    pin, pout, threshold = sweep(2.0, 0.5, 0.0)
    bare = analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=threshold)
    assert set(bare.to_metrics()) == {"small_signal_gain_db", "p1db_output_dbm",
                                      "p1db_input_dbm", "psat_dbm"}
    full = analyse_power_sweep(pin, pout, np.full(pin.shape, 5.0), threshold,
                               phase_deg=np.zeros(pin.shape))
    metrics = full.to_metrics()
    assert set(metrics) == set(METRIC_UNITS)
    value, unit, method = metrics["p1db_output_dbm"]
    assert unit == "dBm" and value == full.p1db_output_dbm
    assert method.startswith("OP1dB by linear interpolation of G(Pin) at G0 - 1 dB")
    assert f"G0 = mean over Pin <= {threshold:g} dBm" in method
    assert metrics["pae_at_p1db_pct"].unit == "%"
    assert metrics["pae_at_p1db_pct"].value == pytest.approx(
        100 * (dbm_to_w(full.p1db_output_dbm) - dbm_to_w(full.p1db_input_dbm)) / 5.0)


def test_zero_dc_power_is_noted_not_divided_by() -> None:
    pin, pout, threshold = sweep(2.0, 1.0, 0.0)
    pdc = np.full(pin.shape, 2.0)
    pdc[0] = 0.0
    m = analyse_power_sweep(pin, pout, pdc, threshold)
    assert m.pae_pct is not None and math.isnan(m.pae_pct[0]) and np.isfinite(m.pae_pct[1:]).all()
    assert "P_DC missing or <= 0 at 1 point(s)" in m.notes["pae_max_pct"]


@pytest.mark.parametrize(
    ("pin", "pout", "message"),
    [
        ([0.0, 1.0, 1.0], [10.0, 11.0, 12.0], "strictly increasing"),
        ([0.0, 1.0], [10.0, 11.0, 12.0], "pout_dbm has 3 points, pin_dbm has 2"),
        ([0.0], [10.0], "at least 2 points"),
        ([0.0, 1.0], [10.0, float("nan")], "finite"),
        ([[0.0, 1.0]], [[10.0, 11.0]], "1-D"),
    ],
)
def test_bad_input(pin: list, pout: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analyse_power_sweep(pin, pout, None, small_signal_max_input_dbm=0.0)


def test_gain_flatness() -> None:
    assert gain_flatness([28.1, 27.6, 28.3]).value == pytest.approx(0.7)
    assert gain_flatness([28.1, 27.6]).unit == "dB"
    assert math.isnan(gain_flatness([28.0]).value)
    assert "not computed" in gain_flatness([28.0, float("nan")]).method
