"""GaN HEMT compact model (simulators.gan_hemt): I-V shape, gate diode, breakdown, self-heating,
trapping and the damage model, against the typical numbers of reference §2.1/§2.3."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.gan_hemt import GanHemt

T0 = 25.0  # isothermal at the base temperature


@pytest.fixture()
def hemt() -> GanHemt:
    return GanHemt()


def test_transfer_curve_monotonic_and_continuous(hemt: GanHemt) -> None:
    vgs = np.linspace(-6.0, 2.0, 801)
    i_d = hemt.channel_current(vgs, 10.0, T0, 0.0)
    assert np.all(np.diff(i_d) >= 0.0)
    assert np.max(np.abs(np.diff(i_d))) < 0.01  # 10 mV steps: no jump above 10 mA
    ig, i_total = hemt.currents(vgs, 10.0, T0, 0.0)
    assert np.all(np.isfinite(ig)) and np.all(np.isfinite(i_total))


def test_output_curve_odd_and_continuous_through_zero(hemt: GanHemt) -> None:
    vds = np.linspace(-1.0, 1.0, 201)
    i_d = hemt.channel_current(0.0, vds, T0, 0.0)
    assert np.all(np.diff(i_d) > 0.0)
    assert abs(float(hemt.channel_current(0.0, 0.0, T0, 0.0))) < 1e-12
    # symmetric device at Vgs = Vgd: I(Vgs, -V) = -I(Vgs + V, V)
    assert float(hemt.channel_current(0.0, -0.5, T0, 0.0)) == pytest.approx(
        -float(hemt.channel_current(0.5, 0.5, T0, 0.0)), rel=0.05)


def test_depletion_mode_conducts_at_zero_gate_and_pinches_off(hemt: GanHemt) -> None:
    ref = hemt.reference_values()
    assert ref.idss_a_per_mm > 0.5  # D-mode: Idss large at Vgs = 0
    assert -3.0 < ref.vth_cc_v < ref.vth_gm_v < -1.5  # §2.1 range, cc below the extrapolation
    off = float(hemt.currents(ref.vth_cc_v - 1.0, 10.0, T0, 0.0)[1])
    assert off < 1e-4 * hemt.gate_width_mm
    assert float(hemt.channel_current(ref.vth_cc_v, 10.0, T0, 0.0)) == pytest.approx(1e-3, rel=1e-3)


def test_reference_values_are_the_models_own_figures(hemt: GanHemt) -> None:
    ref = hemt.reference_values()
    assert 0.2 < ref.gm_max_s_per_mm < 0.45
    assert 2.0 < ref.ron_ohm_mm < 5.0
    vgs = np.linspace(-4.0, 1.0, 5001)
    gm = np.gradient(hemt.channel_current(vgs, 10.0, T0, 0.0), vgs)
    assert float(gm.max()) == pytest.approx(ref.gm_max_s, rel=1e-3)
    i1 = float(hemt.channel_current(0.0, 0.05, T0, 0.0))
    assert 0.05 / i1 == pytest.approx(ref.ron_ohm, rel=0.03)
    assert 140.0 < ref.bv_v < 160.0
    dc = hemt.reference_values(self_heating=True)
    assert dc.idss_a < 0.9 * ref.idss_a  # DC self-heating lowers Idss at 10 V


def test_width_scaling() -> None:
    one, two = GanHemt(), GanHemt(gate_width_mm=2.0)
    r1, r2 = one.reference_values(), two.reference_values()
    assert r2.idss_a == pytest.approx(2 * r1.idss_a, rel=1e-6)
    assert r2.ron_ohm == pytest.approx(r1.ron_ohm / 2, rel=1e-6)
    assert r2.vth_cc_v == pytest.approx(r1.vth_cc_v, abs=1e-6)


def test_from_config_coerces_yaml_strings() -> None:
    h = GanHemt.from_config({"model": "gan_hemt", "gate_width_mm": "0.5", "gate_is_a_per_mm":
                             "5e-15", "soa": {"vds_max_v": 50}})
    assert h.gate_width_mm == 0.5 and h.gate_is_a_per_mm == 5e-15


def test_gate_diode_turn_on_and_reverse_leakage(hemt: GanHemt) -> None:
    ig = hemt.currents(np.array([0.5, 1.0, 1.5, 2.0]), 0.0, T0, 0.0)[0]
    assert ig[0] < 1e-6 and ig[2] > 1e-3 and np.all(np.diff(ig) > 0)
    assert ig[3] < 0.2  # limited by the gate series resistance
    leak = float(hemt.currents(-10.0, 0.0, T0, 0.0)[0])
    assert leak == pytest.approx(-1e-5, rel=0.05)  # §2.1: 1e-6..1e-4 A/mm at -10 V


def test_off_state_breakdown_rises_near_bv(hemt: GanHemt) -> None:
    vds = np.array([50.0, 100.0, 140.0, 150.0, 160.0])
    i_d = hemt.currents(-7.0, vds, T0, 0.0)[1]
    assert np.all(np.diff(i_d) > 0)
    assert i_d[1] < 3e-4 and i_d[4] > 3e-3  # leakage at 100 V, breakdown beyond BV
    ig = hemt.currents(-7.0, 160.0, T0, 0.0)[0]
    assert ig < -1e-3  # part of the breakdown current leaves through the gate


def test_self_heating_negative_output_conductance_in_dc_only(hemt: GanHemt) -> None:
    vds = np.array([5.0, 10.0, 15.0])
    dc = hemt.channel_current(0.0, vds)
    iso = hemt.channel_current(0.0, vds, T0, 0.0)
    assert dc[2] < dc[1] < dc[0]
    assert iso[2] > iso[1] > iso[0]
    # the self-consistent temperature: Id(T) with T = Tbase + Rth·Vds·Id
    t = T0 + hemt.rth_k_per_w * 10.0 * dc[1]
    assert float(hemt.channel_current(0.0, 10.0, t, 0.0)) == pytest.approx(dc[1], rel=1e-6)


def test_current_collapse_and_dynamic_ron_from_stress_point(hemt: GanHemt) -> None:
    stressed = hemt.trap_equilibrium(-5.0, 28.0)
    assert hemt.trap_equilibrium(0.0, 0.0) < 0.01
    knee_ref = float(hemt.channel_current(0.0, 5.0, T0, 0.0))
    knee_q = float(hemt.channel_current(0.0, 5.0, T0, stressed))
    collapse_pct = (1 - knee_q / knee_ref) * 100
    assert 15.0 < collapse_pct < 25.0
    d = 0.05
    ron_ref = d / float(hemt.channel_current(0.0, d, T0, 0.0))
    ron_q = d / float(hemt.channel_current(0.0, d, T0, stressed))
    assert 1.2 < ron_q / ron_ref < 1.6
    # drain lag grows with Vdsq
    assert hemt.trap_equilibrium(-5, 10) < hemt.trap_equilibrium(-5, 28) < hemt.trap_equilibrium(
        -5, 48)


def test_traps_capture_fast_and_recover_slowly(hemt: GanHemt) -> None:
    hemt.check_stress(-5.0, 28.0, 0.0, 0.0, 1e-4)
    filled = hemt.trap_occupancy
    assert filled == pytest.approx(hemt.trap_equilibrium(-5.0, 28.0), rel=1e-3)
    hemt.check_stress(0.0, 0.0, 0.0, 0.0, hemt.trap_emission_s)
    assert hemt.trap_occupancy == pytest.approx(filled * np.exp(-1), rel=0.02)
    hemt.check_stress(0.0, 0.0, 0.0, 0.0, 20 * hemt.trap_emission_s)
    assert hemt.trap_occupancy < 0.01


@pytest.mark.parametrize("vgs, vds, ig, i_d, duration_s, mode", [
    (0.0, 28.0, 0.0, 0.6, 10e-3, "drain_source_short"),   # Idss at 28 V: Tj runs away
    (-5.0, 195.0, 0.0, 0.0, 1e-6, "drain_source_short"),  # beyond the hard breakdown
    (-7.0, 170.0, 0.0, 0.0, 1e-3, "drain_source_short"),  # breakdown current without a limit
    (2.0, 0.0, 0.05, 0.0, 1e-3, "gate_short"),            # forward gate current 50 mA/mm
    (-35.0, 0.0, -1e-4, 0.0, 1e-3, "gate_short"),         # reverse gate rating
])
def test_damage_triggers(hemt: GanHemt, vgs: float, vds: float, ig: float, i_d: float,
                         duration_s: float, mode: str) -> None:
    reason = hemt.check_stress(vgs, vds, ig, i_d, duration_s)
    assert reason and hemt.damaged and hemt.damage_mode == mode
    assert hemt.check_stress(-5.0, 0.0, 0.0, 0.0, 1.0) == reason  # latched


@pytest.mark.parametrize("vgs, vds, duration_s", [
    (-5.0, 28.0, 10.0),   # pinched off at the RF operating voltage
    (0.0, 5.0, 10.0),     # DC knee: 3 W, Tj ≈ 90 °C
    (0.0, 28.0, 2e-6),    # a short pulse at full current: no time to heat
    (-7.0, 145.0, 1.0),   # breakdown measurement below the 1 mA/mm criterion
])
def test_no_damage_inside_the_soa(hemt: GanHemt, vgs: float, vds: float,
                                  duration_s: float) -> None:
    ig, i_d = (float(x) for x in hemt.currents(vgs, vds))
    assert hemt.check_stress(vgs, vds, ig, i_d, duration_s) is None
    assert not hemt.damaged and hemt.tj_c < hemt.tj_max_c
    assert hemt.check_stress(1.2, 0.0, 1e-3, 0.0, 1.0) is None  # forward gate at 1 mA/mm


def test_thermal_transient_follows_tau(hemt: GanHemt) -> None:
    hemt.check_stress(0.0, 10.0, 0.0, 0.5, hemt.thermal_tau_s)
    rise = hemt.rth_k_per_w * 5.0
    assert hemt.tj_c == pytest.approx(T0 + rise * (1 - np.exp(-1)), rel=1e-6)


def test_damaged_device_behaves_broken() -> None:
    gate_short = GanHemt()
    gate_short.check_stress(2.0, 0.0, 0.05, 0.0, 1e-3)
    ig, i_d = gate_short.currents(-5.0, 5.0, T0, 0.0)
    assert float(ig) < -1.0  # -5 V into a 2 Ω short: amperes
    assert float(i_d) > 0.3  # the gate no longer pinches the channel off
    ds_short = GanHemt()
    ds_short.check_stress(-5.0, 195.0, 0.0, 0.0, 1e-6)
    assert float(ds_short.currents(-5.0, 1.0, T0, 0.0)[1]) == pytest.approx(0.5, rel=0.01)
    ds_short.reset_state()
    assert not ds_short.damaged
