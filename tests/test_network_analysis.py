"""S-parameter analysis (benchbot.analysis.network) against scikit-rf's own computations on its
shipped Touchstone files, against hand formulas, and against closed-form networks (a pure delay,
a Chebyshev type-I band-pass whose ripple is known by design)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skrf
from scipy import signal

from benchbot.analysis import network as na

DATA = [skrf.data.ntwk1, skrf.data.line, skrf.data.ring_slot]


def amplifier(f_hz: np.ndarray, *, s11_mag: float = 0.3, s22_mag: float = 0.4,
              s12_mag: float = 0.05, gain_db: float = 15.0, delay_s: float = 0.4e-9
              ) -> skrf.Network:
    """A synthetic active 2-port: S21 a delayed gain with a gentle band-pass roll-off, phase-
    rotating S11/S22, constant reverse leakage -- K and μ cross 1 when s12_mag is large."""
    w = 2 * np.pi * f_hz
    x = (f_hz - 3.5e9) / 1.5e9
    s = np.zeros((f_hz.size, 2, 2), complex)
    s[:, 1, 0] = 10 ** (gain_db / 20) / np.sqrt(1 + x**4) * np.exp(-1j * w * delay_s)
    s[:, 0, 1] = s12_mag * np.exp(-1j * (w * delay_s + 0.3))
    s[:, 0, 0] = s11_mag * np.exp(1j * (0.8 - w * 0.05e-9))
    s[:, 1, 1] = s22_mag * np.exp(1j * (-1.2 - w * 0.08e-9))
    return na.to_network(f_hz, s, name="amp")


F_HZ = np.linspace(1e9, 6e9, 501)
AMPS = [amplifier(F_HZ), amplifier(F_HZ, s12_mag=0.1, s11_mag=0.5, s22_mag=0.6)]  # 2nd: K crosses 1


# ------------------------------------------------------------------------------ construction
def test_to_network_shapes_and_errors() -> None:
    ntwk = na.to_network([1e9, 2e9], np.zeros((2, 3, 3)), z0_ohm=75.0, name="x")
    assert ntwk.nports == 3 and ntwk.name == "x"
    np.testing.assert_allclose(ntwk.z0, 75.0)
    np.testing.assert_allclose(ntwk.frequency.f, [1e9, 2e9])
    assert na.to_network([1e9, 2e9], np.array([0.1, 0.2])).nports == 1
    with pytest.raises(ValueError, match="s \\(F, n, n\\)"):
        na.to_network([1e9, 2e9], np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="port 3"):
        na.gain_db(na.to_network([1e9], np.zeros((1, 2, 2))), 3, 1)


# ------------------------------------------------------------------------------ vs scikit-rf
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # skrf's s_db of |S|=0
@pytest.mark.parametrize("ntwk", DATA + AMPS, ids=lambda n: n.name)
def test_db_quantities_match_skrf(ntwk: skrf.Network) -> None:
    np.testing.assert_allclose(na.gain_db(ntwk, 2, 1), ntwk.s_db[:, 1, 0])
    np.testing.assert_allclose(na.return_loss_db(ntwk, 1), -ntwk.s_db[:, 0, 0])
    np.testing.assert_allclose(na.return_loss_db(ntwk, 2), -ntwk.s_db[:, 1, 1])
    np.testing.assert_allclose(na.isolation_db(ntwk, 1, 2), -ntwk.s_db[:, 0, 1])
    np.testing.assert_allclose(na.insertion_loss_db(ntwk, 2, 1), -ntwk.s_db[:, 1, 0])


@pytest.mark.parametrize("ntwk", DATA + AMPS, ids=lambda n: n.name)
def test_group_delay_matches_skrf(ntwk: skrf.Network) -> None:
    """The issue's acceptance: τ = -dφ/dω agrees with Network.group_delay (all four paths)."""
    for out_port, in_port in ((2, 1), (1, 2), (1, 1), (2, 2)):
        np.testing.assert_allclose(na.group_delay_s(ntwk, out_port, in_port),
                                   ntwk.group_delay[:, out_port - 1, in_port - 1].real,
                                   rtol=1e-12, atol=1e-21)


def test_group_delay_of_a_pure_delay_is_the_delay() -> None:
    tau_s = 1.234e-9
    f = np.linspace(1e9, 2e9, 201)  # phase step 2π·5 MHz·1.234 ns = 0.039 rad < π
    s = np.zeros((f.size, 2, 2), complex)
    s[:, 1, 0] = s[:, 0, 1] = np.exp(-2j * np.pi * f * tau_s)
    np.testing.assert_allclose(na.group_delay_s(na.to_network(f, s), 2, 1), tau_s, rtol=1e-9)


@pytest.mark.parametrize("ntwk", DATA + AMPS, ids=lambda n: n.name)
def test_rollett_k_matches_skrf(ntwk: skrf.Network) -> None:
    """The issue's acceptance: K agrees with Network.stability."""
    st = na.stability(ntwk)
    np.testing.assert_allclose(st.k, ntwk.stability, rtol=1e-12)


def hand_factors(s: np.ndarray) -> tuple[float, float, float, float]:
    """K, μ, μ', |Δ| of one 2x2 matrix, written out term by term (reference §1.8)."""
    s11, s12, s21, s22 = s[0, 0], s[0, 1], s[1, 0], s[1, 1]
    d = s11 * s22 - s12 * s21
    k = (1 - abs(s11) ** 2 - abs(s22) ** 2 + abs(d) ** 2) / (2 * abs(s12 * s21))
    mu = (1 - abs(s11) ** 2) / (abs(s22 - d * s11.conjugate()) + abs(s12 * s21))
    mu_p = (1 - abs(s22) ** 2) / (abs(s11 - d * s22.conjugate()) + abs(s12 * s21))
    return k, mu, mu_p, abs(d)


@pytest.mark.parametrize("ntwk", AMPS + [skrf.data.ring_slot], ids=lambda n: n.name)
def test_mu_matches_hand_formula_and_geometry(ntwk: skrf.Network) -> None:
    """μ by the Edwards–Sinsky formula equals 1 / max|Γout| over the source-plane unit circle
    (and μ' = 1 / max|Γin| over the load-plane unit circle): the geometric definition,
    computed here by brute force on 3600 terminations."""
    st = na.stability(ntwk)
    gamma = np.exp(2j * np.pi * np.arange(3600) / 3600)
    for i in range(0, ntwk.frequency.npoints, max(1, ntwk.frequency.npoints // 25)):
        s = ntwk.s[i]
        np.testing.assert_allclose((st.k[i], st.mu[i], st.mu_prime[i], st.delta_abs[i]),
                                   hand_factors(s), rtol=1e-12)
        if abs(s[0, 0]) >= 1 or abs(s[1, 1]) >= 1:
            continue
        g_out = s[1, 1] + s[0, 1] * s[1, 0] * gamma / (1 - s[0, 0] * gamma)
        g_in = s[0, 0] + s[0, 1] * s[1, 0] * gamma / (1 - s[1, 1] * gamma)
        assert st.mu[i] == pytest.approx(1 / np.abs(g_out).max(), rel=1e-5)
        assert st.mu_prime[i] == pytest.approx(1 / np.abs(g_in).max(), rel=1e-5)


def test_k_and_mu_agree_on_unconditional_stability() -> None:
    """μ > 1 ⇔ (K > 1 and |Δ| < 1): the test that the two criteria are computed consistently,
    on a network that is stable at some frequencies and not at others."""
    st = na.stability(AMPS[1])
    rollett = (st.k > 1) & (st.delta_abs < 1)
    assert rollett.any() and (~rollett).any()
    np.testing.assert_array_equal(st.mu > 1, rollett)
    np.testing.assert_array_equal(st.mu_prime > 1, rollett)


def test_stability_edge_cases() -> None:
    f = np.array([1e9, 2e9])
    s = np.zeros((2, 2, 2), complex)
    s[:, 1, 0] = 3.0  # unilateral: S12 = 0
    st = na.stability(na.to_network(f, s))
    assert np.all(np.isinf(st.k))
    np.testing.assert_allclose(st.mu, np.inf)
    with pytest.raises(ValueError, match="2-port"):
        na.stability(na.to_network(f, np.zeros((2, 3, 3))))


# ------------------------------------------------------------------------------ summaries
def test_worst_flatness_and_band() -> None:
    f = np.array([1.0, 2.0, 3.0, 4.0, 5.0]) * 1e9
    v = np.array([3.0, np.nan, -1.0, 7.0, 2.0])
    assert na.worst(v, f, "min") == (-1.0, 3e9)
    assert na.worst(v, f, "max") == (7.0, 4e9)
    assert na.flatness_db(v) == 8.0
    assert all(math.isnan(x) for x in na.worst(np.full(5, np.nan), f, "min"))
    assert math.isnan(na.flatness_db([np.nan]))
    np.testing.assert_array_equal(na.band_mask(f, 2e9, 4e9), [False, True, True, True, False])
    assert na.worst_in_band(v, f, (3.5e9, 6e9), "min") == (2.0, 5e9)
    assert na.worst_in_band(v, f, {"start_hz": 1e9, "stop_hz": 1e9}, "max") == (3.0, 1e9)
    with pytest.raises(ValueError, match="min"):
        na.worst(v, f, "mean")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ filters
RIPPLE_DB = 0.5
PASSBAND_HZ = (3.3e9, 3.8e9)


def chebyshev_filter(f_hz: np.ndarray) -> skrf.Network:
    """Lossless 5th-order Chebyshev type-I band-pass, 0.5 dB ripple, 3.3-3.8 GHz; |S11|² =
    1 - |S21|² (phase of S11 is irrelevant to the metrics)."""
    b, a = signal.cheby1(5, RIPPLE_DB, 2 * np.pi * np.array(PASSBAND_HZ), "bandpass",
                         analog=True)
    _, h = signal.freqs(b, a, worN=2 * np.pi * f_hz)
    s = np.zeros((f_hz.size, 2, 2), complex)
    s[:, 1, 0] = s[:, 0, 1] = h
    s[:, 0, 0] = s[:, 1, 1] = np.sqrt(np.clip(1 - np.abs(h) ** 2, 0, None))
    return na.to_network(f_hz, s, name="cheby")


def test_filter_passband_loss_ripple_and_rejection() -> None:
    f = np.linspace(2.5e9, 4.6e9, 4201)  # 0.5 MHz steps: ripple extremes are resolved
    ntwk = chebyshev_filter(f)
    il = na.passband_insertion_loss(ntwk, PASSBAND_HZ)
    assert il.value == pytest.approx(0.0, abs=1e-3)  # lossless: the ripple peaks touch 0 dB
    assert PASSBAND_HZ[0] <= il.frequency_hz <= PASSBAND_HZ[1]
    assert na.passband_insertion_loss_db(ntwk, PASSBAND_HZ) == il.value
    assert na.passband_ripple_db(ntwk, PASSBAND_HZ) == pytest.approx(RIPPLE_DB, abs=2e-3)
    # rejection at a point: IL(f) - IL_min, interpolated between sweep points
    point_hz = 3.0e9 + 0.25e6  # half-way between two points
    il_all = na.insertion_loss_db(ntwk, 2, 1)
    expected = float(np.interp(point_hz, f, il_all)) - il.value
    assert na.rejection_db(ntwk, point_hz, PASSBAND_HZ) == pytest.approx(expected, abs=1e-9)
    assert na.rejection_db(ntwk, {"frequency_hz": point_hz}, PASSBAND_HZ) == pytest.approx(
        expected, abs=1e-9)
    # rejection over a band: the worst (smallest) value is at the band edge nearest the passband
    band = (4.2e9, 4.6e9)
    rej = na.rejection(ntwk, band, PASSBAND_HZ)
    assert rej.frequency_hz == pytest.approx(4.2e9)
    assert rej.value == pytest.approx(il_all[np.argmin(np.abs(f - 4.2e9))] - il.value)
    assert rej.value > 20.0
    assert math.isnan(na.rejection_db(ntwk, 5e9, PASSBAND_HZ))  # outside the sweep
    rl = na.return_loss_in_band_db(ntwk, 1, PASSBAND_HZ)
    # a 0.5 dB ripple Chebyshev: worst in-band |S11|² = 1 - 10^(-0.05) -> RL 9.64 dB
    assert rl.value == pytest.approx(-10 * np.log10(1 - 10 ** (-RIPPLE_DB / 10)), abs=0.02)


def test_filter_metrics_take_plan_style_bands() -> None:
    class Band:  # what a plan model looks like to the analysis
        start_hz, stop_hz = PASSBAND_HZ

    ntwk = chebyshev_filter(np.linspace(3e9, 4e9, 1001))
    assert na.passband_ripple_db(ntwk, Band()) == na.passband_ripple_db(ntwk, PASSBAND_HZ)
    assert math.isnan(na.passband_insertion_loss_db(ntwk, (5e9, 6e9)))
