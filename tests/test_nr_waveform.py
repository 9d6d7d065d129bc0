"""NR FR1 waveform: numerology, N_RB table, CP, QAM mapping, spectrum (38.104 / 38.211)."""

from __future__ import annotations

import numpy as np
import pytest

from benchbot.waveforms import (
    MODULATIONS,
    Numerology,
    bw_config_hz,
    constellation,
    fft_size_for,
    generate_nr,
    n_rb,
    qam_map,
)

TC = 1.0 / (480e3 * 4096)  # 38.211 §4.1


@pytest.mark.parametrize(("bw", "scs", "expected"), [
    (5, 15, 25), (10, 15, 52), (20, 15, 106), (50, 15, 270), (5, 30, 11), (40, 30, 106),
    (60, 30, 162), (100, 30, 273), (10, 60, 11), (50, 60, 65), (100, 60, 135), (90, 30, 245),
])
def test_n_rb_table(bw: int, scs: int, expected: int) -> None:
    assert n_rb(bw, scs) == expected


@pytest.mark.parametrize(("bw", "scs", "mhz"), [
    (5, 15, 4.50), (10, 15, 9.36), (20, 15, 19.08), (50, 30, 47.88), (100, 30, 98.28)])
def test_bw_config(bw: int, scs: int, mhz: float) -> None:
    assert bw_config_hz(bw, scs) == pytest.approx(mhz * 1e6)


@pytest.mark.parametrize(("bw", "scs"), [(5, 60), (60, 15), (100, 15), (7, 30), (20, 120)])
def test_nonexistent_combination_is_rejected(bw: int, scs: int) -> None:
    with pytest.raises(ValueError, match=f"{scs} kHz"):
        n_rb(bw, scs)


def test_error_names_the_bandwidth() -> None:
    with pytest.raises(ValueError, match="5 MHz .* 60 kHz"):
        generate_nr(5, 60)


@pytest.mark.parametrize(("bw", "scs", "nfft", "fs"), [
    (100, 30, 4096, 122.88e6), (20, 15, 2048, 30.72e6), (10, 15, 1024, 15.36e6),
    (5, 15, 512, 7.68e6), (100, 60, 2048, 122.88e6)])
def test_fft_size_and_sample_rate(bw: int, scs: int, nfft: int, fs: float) -> None:
    assert fft_size_for(n_rb(bw, scs)) == nfft
    mu = Numerology(scs).mu
    w = generate_nr(bw, scs, n_slots=2**mu)
    assert w.fft_size == nfft and w.sample_rate_hz == pytest.approx(fs)
    assert w.iq.size == round(fs * 1e-3)  # a subframe (2^mu slots) lasts 1 ms exactly


def test_cp_lengths_at_4096() -> None:
    w = generate_nr(100, 30, n_slots=2)
    assert w.cp_lengths[0] == 352 and set(w.cp_lengths[1:14]) == {288}
    assert w.cp_lengths[14] == 352  # mu=1: every slot starts a half-subframe
    np.testing.assert_array_equal(np.diff(w.symbol_starts), (w.cp_lengths + 4096)[:-1])


@pytest.mark.parametrize("scs", [15, 30, 60])
def test_cp_matches_38211_in_tc(scs: int) -> None:
    num, nfft = Numerology(scs), 2048
    fs = nfft * num.scs_hz
    long_syms = []
    for l_sf in range(14 * num.slots_per_subframe):
        first_of_half = l_sf % (7 * 2**num.mu) == 0
        n_cp_tc = 144 * 64 * 2.0**-num.mu + 16 * 64 * first_of_half
        assert num.cp_length(nfft, l_sf) == pytest.approx(n_cp_tc * TC * fs)
        if first_of_half:
            long_syms.append(l_sf)
    assert long_syms == [0, 7 * 2**num.mu]  # first symbol of each half-subframe


@pytest.mark.parametrize("mod", list(MODULATIONS))
def test_constellation_unit_power_and_gray(mod: str) -> None:
    pts = constellation(mod)
    qm = MODULATIONS[mod]
    assert pts.size == 2**qm and np.unique(np.round(pts, 12)).size == 2**qm
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(1.0, abs=1e-12)
    d = np.abs(pts[:, None] - pts[None, :])
    dmin = np.min(d[d > 1e-9])
    for i in range(pts.size):  # Gray: nearest neighbours differ in exactly one bit
        for j in np.flatnonzero(np.isclose(d[i], dmin)):
            assert bin(i ^ int(j)).count("1") == 1


def test_qam_points_as_written_in_38211() -> None:
    assert qam_map(np.array([0, 1]), 2) == pytest.approx((1 - 1j) / np.sqrt(2))
    assert qam_map(np.array([1, 0, 1, 0]), 4) == pytest.approx((-3 + 1j) / np.sqrt(10))
    assert qam_map(np.zeros(6), 6) == pytest.approx((3 + 3j) / np.sqrt(42))
    assert qam_map(np.array([0, 0, 1, 1, 1, 1]), 6) == pytest.approx((7 + 7j) / np.sqrt(42))
    assert qam_map(np.zeros(8), 8) == pytest.approx((5 + 5j) / np.sqrt(170))


def test_waveform_grid_iq_consistency_and_determinism() -> None:
    w = generate_nr(20, 30, "NR-FR1-TM1.1", n_slots=2, seed=3)
    assert w.iq.dtype == np.complex128
    assert np.mean(np.abs(w.iq) ** 2) == pytest.approx(1.0)
    assert w.grid.shape == (28, 51 * 12) and np.all(w.qm == 2)
    useful = w.symbol_starts + w.cp_lengths
    spec = np.fft.fft(w.iq[useful[:, None] + np.arange(w.fft_size)], axis=1)[:, w.fft_bins]
    scale = np.vdot(w.grid, spec) / np.vdot(w.grid, w.grid)
    np.testing.assert_allclose(spec, scale * w.grid, atol=1e-9 * abs(scale))
    again = generate_nr(20, 30, "NR-FR1-TM1.1", n_slots=2, seed=3)
    np.testing.assert_array_equal(w.iq, again.iq)
    assert not np.array_equal(w.iq, generate_nr(20, 30, "NR-FR1-TM1.1", 2, seed=4).iq)
    with pytest.raises(ValueError, match="test model"):
        generate_nr(20, 30, "NR-FR1-TM9")


@pytest.mark.parametrize(("bw", "scs", "model"), [
    (10, 15, "NR-FR1-TM1.1"), (100, 30, "NR-FR1-TM3.1"), (20, 60, "NR-FR1-TM3.1a")])
def test_occupied_spectrum(bw: int, scs: int, model: str) -> None:
    """Unfiltered CP-OFDM: only the rectangular-pulse sinc tails fall outside BW_Config.

    Bound: each subcarrier's sinc^2 tail beyond d bins holds ~1/(pi^2 d) of its power; summed over
    the N_sc subcarriers that is ~2 ln(N_sc) / (pi^2 N_sc) of the total (-27 dB at N_sc = 624,
    -33 dB at 3276). The grid spans [-N_sc/2 - 1/2, N_sc/2 - 1/2] * SCS.
    """
    w = generate_nr(bw, scs, model, n_slots=4, seed=1)
    p = np.abs(np.fft.fft(w.iq)) ** 2
    f = np.fft.fftfreq(w.iq.size, 1 / w.sample_rate_hz) + w.numerology.scs_hz / 2
    outside = np.abs(f) > w.bw_config_hz / 2
    n_sc = w.n_subcarriers
    assert p[outside].sum() / p.sum() < 2 * np.log(n_sc) / (np.pi**2 * n_sc)
    # and far from the channel (beyond 1.1 x BW_Config / 2) below -30 dBc
    far = np.abs(f) > 1.1 * w.bw_config_hz / 2
    assert p[far].sum() / p.sum() < 1e-3
