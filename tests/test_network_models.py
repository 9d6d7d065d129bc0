"""Network DUT models (`simulators.network_models`): physics checked against independent facts.

- passivity: every eigenvalue of SᴴS ≤ 1 (skrf `Network.passivity`, reference §3.4);
- reciprocity: S12 = S21 for passive networks;
- Chebyshev type I: equal ripple of `ripple_db` in the lossless passband, |S11|² + |S21|² = 1
  (Feldtkeller) without loss, midband loss ≈ 4.343·Σg_k/(FBW·Qu) (Cohn) with finite Qu;
- Touchstone: the file itself at its own points, scikit-rf's linear interpolation in between.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import skrf
import skrf.data

from simulators.network_models import (
    AmplifierModel,
    ChebyshevFilterModel,
    TouchstoneModel,
    available_gain_from_s,
    network_dut_from_config,
)

SKRF_DATA = os.path.dirname(skrf.data.__file__)
NTWK1 = os.path.join(SKRF_DATA, "ntwk1.s2p")
RING_SLOT = os.path.join(SKRF_DATA, "ring slot measured.s1p")


def max_eig_sh_s(s: np.ndarray) -> float:
    """Largest eigenvalue of SᴴS over all frequencies (≤ 1 for a passive network)."""
    return float(np.linalg.eigvalsh(np.conj(s.transpose(0, 2, 1)) @ s).max())


@pytest.mark.parametrize("order,ripple_db,q", [(3, 0.1, 200), (4, 0.5, 150), (5, 0.01, 1000),
                                               (6, 1.0, 80), (7, 0.2, 1e9)])
def test_filter_is_passive_and_reciprocal(order: int, ripple_db: float, q: float) -> None:
    flt = ChebyshevFilterModel({"order": order, "ripple_db": ripple_db, "unloaded_q": q,
                                "passband_start_hz": 3.3e9, "passband_stop_hz": 3.8e9})
    f = np.linspace(0.5e9, 12e9, 20001)
    s = flt.s_matrix(f)
    assert max_eig_sh_s(s) <= 1.0 + 1e-6
    np.testing.assert_array_equal(s[:, 0, 1], s[:, 1, 0])
    # skrf's passivity metric (element-wise sqrt of SᴴS: column power sums on the diagonal)
    passivity = skrf.Network(frequency=skrf.Frequency.from_f(f, unit="hz"), s=s).passivity
    assert float(np.abs(passivity).max()) <= 1.0 + 1e-6


@pytest.mark.parametrize("order", [2, 3, 4, 5, 8])
def test_lossless_chebyshev_has_equal_ripple_and_conserves_energy(order: int) -> None:
    ripple_db = 0.5
    flt = ChebyshevFilterModel({"order": order, "ripple_db": ripple_db, "unloaded_q": 1e12,
                                "passband_start_hz": 1.0e9, "passband_stop_hz": 1.2e9})
    f = np.linspace(1.0e9, 1.2e9, 40001)
    s = flt.s_matrix(f)
    np.testing.assert_allclose(np.abs(s[:, 0, 0]) ** 2 + np.abs(s[:, 1, 0]) ** 2, 1.0, atol=1e-6)
    il_db = -20 * np.log10(np.abs(s[:, 1, 0]))
    assert il_db.min() == pytest.approx(0.0, abs=1e-4)
    assert il_db.max() == pytest.approx(ripple_db, abs=2e-3)  # ripple = the prototype's


def test_filter_loss_rejection_and_return_loss_are_realistic() -> None:
    flt = network_dut_from_config({"model": "filter", "order": 5, "ripple_db": 0.1,
                                   "passband_start_hz": 3.3e9, "passband_stop_hz": 3.8e9,
                                   "unloaded_q": 300})
    assert isinstance(flt, ChebyshevFilterModel)
    f0 = flt.center_frequency_hz
    s0 = flt.s_matrix(np.array([f0]))[0]
    il_db = -20 * np.log10(abs(s0[1, 0]))
    # Cohn: ΔIL ≈ 4.343·Σg/(FBW·Qu); the 0.1 dB 5th-order prototype has g = 1.1468, 1.3712,
    # 1.9750, 1.3712, 1.1468 (Matthaei, Young & Jones Table 4.05-2(a)), Σg = 7.011
    cohn_db = 4.343 * 7.011 / (flt.fractional_bandwidth * 300)
    assert 0.5 < il_db < 2.0 and il_db == pytest.approx(cohn_db, rel=0.03)
    assert -20 * np.log10(abs(s0[0, 0])) > 10.0  # matched in band despite the loss
    stop = flt.s_matrix(np.array([3.0e9, 4.2e9]))
    assert np.all(-20 * np.log10(np.abs(stop[:, 1, 0])) > 30.0)
    assert np.all(np.abs(stop[:, 0, 0]) > 0.99)  # reflective out of band


def test_amplifier_gain_match_isolation_and_noise() -> None:
    lna = AmplifierModel({"small_signal_gain_db": 18.0, "center_frequency_hz": 3.5e9,
                          "bandwidth_hz": 1.0e9, "input_return_loss_db": 14.0,
                          "output_return_loss_db": 16.0, "reverse_isolation_db": 40.0,
                          "noise_figure_db": 1.2, "noise_figure_slope_db_per_ghz": 0.2})
    f0 = 3.5e9
    s = lna.s_matrix(np.array([f0]))[0]
    assert 20 * np.log10(abs(s[1, 0])) == pytest.approx(18.0, abs=1e-6)
    assert 20 * np.log10(abs(s[0, 0])) == pytest.approx(-14.0, abs=1e-6)
    assert 20 * np.log10(abs(s[1, 1])) == pytest.approx(-16.0, abs=1e-6)
    assert 20 * np.log10(abs(s[0, 1])) == pytest.approx(-40.0, abs=1e-6)
    # band edges (geometric symmetry, f_lo·f_hi = f0², f_hi - f_lo = BW) are 3 dB down
    f_lo = np.sqrt(f0 ** 2 + 0.5e9 ** 2) - 0.5e9
    edges = lna.s_matrix(np.array([f_lo, f_lo + 1e9]))
    np.testing.assert_allclose(20 * np.log10(np.abs(edges[:, 1, 0])), 18.0 - 3.0103, atol=1e-3)
    far = lna.s_matrix(np.array([0.5e9, 12e9]))
    assert np.all(np.abs(far[:, 0, 0]) > 0.85) and np.all(np.abs(far[:, 1, 0]) < 1.0)
    nf_db = 10 * np.log10(lna.noise_factor(np.array([f0, f0 + 1e9])))
    np.testing.assert_allclose(nf_db, [1.2, 1.4], atol=1e-9)
    assert lna.noise_path() == (1, 2)
    # available gain with a 50-ohm source: |S21|²/(1 - |S22|²)
    ga = lna.available_gain(np.array([f0]))[0]
    assert ga == pytest.approx(abs(s[1, 0]) ** 2 / (1 - abs(s[1, 1]) ** 2), rel=1e-12)


def test_touchstone_reproduces_the_file_and_skrf_interpolation() -> None:
    dut = network_dut_from_config({"model": "touchstone", "path": NTWK1})
    ref = skrf.Network(NTWK1)
    np.testing.assert_array_equal(dut.s_matrix(ref.f), ref.s)
    f = np.linspace(ref.f[0], ref.f[-1], 1601)
    expected = ref.interpolate(skrf.Frequency.from_f(f, unit="hz"), kind="linear").s
    np.testing.assert_allclose(dut.s_matrix(f), expected, rtol=0, atol=1e-12)
    assert dut.noise_path() == (1, 2) and dut.port_names == ("P1", "P2")
    with pytest.raises(ValueError, match="data from"):
        dut.s_matrix(np.array([0.5e9, 2e9]))
    with pytest.raises(ValueError, match="data from"):
        dut.s_matrix(np.array([10.5e9]))


def test_touchstone_interpolation_keeps_passivity_and_reciprocity() -> None:
    """Linear interpolation between passive matrices stays passive (the spectral norm is
    convex) and an S12 - S21 asymmetry never grows beyond the file's own."""
    for path in (NTWK1, RING_SLOT, "skrf.data:ring slot.s2p"):
        dut = TouchstoneModel({"path": path})
        file_s = dut.network.s
        f = np.linspace(*dut.frequency_range_hz, 4001)
        s = dut.s_matrix(f)
        assert max_eig_sh_s(s) <= max_eig_sh_s(file_s) + 1e-12
        assert max_eig_sh_s(file_s) <= 1.0 + 1e-6  # the measured files are passive
        if s.shape[1] == 2:
            asym = np.abs(s[:, 0, 1] - s[:, 1, 0]).max()
            assert asym <= np.abs(file_s[:, 0, 1] - file_s[:, 1, 0]).max() + 1e-12
            # passive noise factor: F = 1/G_A
            np.testing.assert_allclose(dut.noise_factor(f) * dut.available_gain(f), 1.0)
    one_port = TouchstoneModel({"path": RING_SLOT})
    assert one_port.noise_path() is None and one_port.frequency_range_hz[0] == 75e9


def test_thru_and_dispatch() -> None:
    thru = network_dut_from_config({"model": "thru", "delay_s": 1e-9, "loss_db": 0.5})
    s = thru.s_matrix(np.array([1e9]))[0]
    assert s[0, 0] == 0 and s[1, 0] == s[0, 1]
    assert 20 * np.log10(abs(s[1, 0])) == pytest.approx(-0.5)
    assert np.angle(s[1, 0]) == pytest.approx(0.0, abs=1e-9)  # 1 ns at 1 GHz: a full turn
    assert available_gain_from_s(thru.s_matrix(np.array([1e9])), (1, 2))[0] == pytest.approx(
        10 ** -0.05)
    with pytest.raises(ValueError, match="unknown network DUT model 'lna'"):
        network_dut_from_config({"model": "lna"})
    with pytest.raises(ValueError, match="unknown key.*gain_db"):
        network_dut_from_config({"model": "amplifier", "gain_db": 20})
    with pytest.raises(ValueError, match="port_names"):
        network_dut_from_config({"model": "filter", "port_names": ["A"]})


def test_switch_and_fem_come_from_controlled_duts() -> None:
    pytest.importorskip("simulators.controlled_duts")
    switch = network_dut_from_config({"model": "switch", "throws": 4})
    assert switch.port_names[0] == "ANT" and len(switch.port_names) == 5
