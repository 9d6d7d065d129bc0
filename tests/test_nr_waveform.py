"""NR FR1 waveform: numerology, N_RB table, CP, QAM, shaping, TDD framing, EVM reference."""

from __future__ import annotations

import numpy as np
import pytest

from benchbot.analysis.evm import measure_evm
from benchbot.waveforms import (
    MODULATIONS,
    N_RB_TABLE,
    TEST_MODELS,
    NRWaveform,
    Numerology,
    bw_config_hz,
    constellation,
    fft_size_for,
    generate_nr,
    match_reference_rate,
    n_rb,
    oversampling_for_aclr,
    qam_map,
    resample_iq,
    tdd_pattern,
)
from benchbot.waveforms.nr import (
    RE_PDCCH,
    RE_PDCCH_DMRS,
    RE_PDSCH,
    RE_PDSCH_DMRS,
    TEST_MODEL_SPLIT,
    gold_sequence,
    pdsch_dmrs_symbols,
    split_target_prbs,
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
    # FFT window starting in the middle of the CP (the EVM window centre, away from the WOLA
    # ramps); the advance a = CP/2 is a linear phase exp(-2j pi k a / N) on subcarrier k
    adv = w.cp_lengths // 2
    start = w.symbol_starts + w.cp_lengths - adv
    spec = np.fft.fft(w.iq[start[:, None] + np.arange(w.fft_size)], axis=1)[:, w.fft_bins]
    spec *= np.exp(2j * np.pi * np.outer(adv, w.subcarrier_offsets) / w.fft_size)
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
    """Unshaped CP-OFDM: only the rectangular-pulse sinc tails fall outside BW_Config.

    Bound: each subcarrier's sinc^2 tail beyond d bins holds ~1/(pi^2 d) of its power; summed over
    the N_sc subcarriers that is ~2 ln(N_sc) / (pi^2 N_sc) of the total (-27 dB at N_sc = 624,
    -33 dB at 3276). The grid spans [-N_sc/2 - 1/2, N_sc/2 - 1/2] * SCS.
    """
    w = generate_nr(bw, scs, model, n_slots=4, seed=1, wola_cp_fraction=0.0,
                    channel_filter=False)
    p = np.abs(np.fft.fft(w.iq)) ** 2
    f = np.fft.fftfreq(w.iq.size, 1 / w.sample_rate_hz) + w.numerology.scs_hz / 2
    outside = np.abs(f) > w.bw_config_hz / 2
    n_sc = w.n_subcarriers
    assert p[outside].sum() / p.sum() < 2 * np.log(n_sc) / (np.pi**2 * n_sc)
    # and far from the channel (beyond 1.1 x BW_Config / 2) below -30 dBc
    far = np.abs(f) > 1.1 * w.bw_config_hz / 2
    assert p[far].sum() / p.sum() < 1e-3


# --- every (BW, SCS) of Table 5.3.2-1 generates; others are refused with the reason -------------

ALL_VALID = [(bw, scs) for scs, table in N_RB_TABLE.items() for bw in table]


@pytest.mark.parametrize(("bw", "scs"), ALL_VALID)
def test_every_valid_combination_generates(bw: int, scs: int) -> None:
    w = generate_nr(bw, scs, "NR-FR1-TM1.1", n_slots=1, seed=0)
    assert w.n_rb == N_RB_TABLE[scs][bw] and w.grid.shape == (14, w.n_rb * 12)
    assert w.iq.size == w.symbol_starts[-1] + w.cp_lengths[-1] + w.fft_size
    assert np.mean(np.abs(w.iq) ** 2) == pytest.approx(1.0)
    assert w.n_subcarriers <= 0.85 * w.fft_size  # FFT rule of fft_size_for


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"bandwidth_mhz": 100, "scs_khz": 15}, "100 MHz channel bandwidth does not exist at 15 kHz"),
    ({"bandwidth_mhz": 5, "scs_khz": 60}, "5 MHz .* 60 kHz"),
    ({"bandwidth_mhz": 20, "scs_khz": 120}, "SCS 120 kHz"),
    ({"duplex": "HD-FDD"}, "duplex must be one of"),
    ({"oversampling": 0}, "oversampling must be an integer"),
    ({"oversampling": 2.5}, "oversampling must be an integer"),
    ({"n_slots": 0}, "n_slots must be >= 1"),
    ({"wola_cp_fraction": 1.5}, "wola_cp_fraction"),
    ({"scs_khz": 60, "duplex": "TDD", "tdd": "DDDSU"}, "'DDDSU' is not defined at 60 kHz"),
    ({"duplex": "TDD", "tdd": "DSUUD"}, "unknown TDD pattern"),
])
def test_invalid_options_name_the_reason(kwargs: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        generate_nr(**kwargs)


def test_oversampling_rates_and_helper() -> None:
    assert oversampling_for_aclr(100, 30) == 5  # 614.4 MS/s, as MathWorks hACLRParametersNR
    assert oversampling_for_aclr(20, 15) == 4  # 122.88 MS/s
    w = generate_nr(20, 15, "NR-FR1-TM1.1", n_slots=1, oversampling=4)
    assert w.sample_rate_hz == pytest.approx(122.88e6) and w.fft_size == 8192
    assert w.native_fft_size == 2048 and w.native_sample_rate_hz == pytest.approx(30.72e6)
    assert w.cp_lengths[1] == 4 * 144 and w.iq.size == 4 * 30720  # one 1 ms slot, 4x samples
    assert w.channel_filter is not None and "Kaiser" in w.shaping
    ref = w.native_reference()
    assert ref.oversampling == 1 and ref.sample_rate_hz == pytest.approx(30.72e6)
    np.testing.assert_array_equal(ref.grid, w.grid)


# --- shaping: EVM window untouched, ideal EVM, seamless loop ------------------------------------

def test_wola_leaves_the_evm_window_untouched() -> None:
    """Shaped and raw waveforms agree exactly on CP/4 .. CP+N-CP/4 of every symbol (x1)."""
    raw = generate_nr(10, 30, "NR-FR1-TM3.1", 1, seed=5, wola_cp_fraction=0.0)
    w = generate_nr(10, 30, "NR-FR1-TM3.1", 1, seed=5)
    assert w.wola_samples == w.cp_lengths[1] // 2 and w.channel_filter is None
    q = int(w.cp_lengths[1]) // 4
    clean = np.zeros(w.iq.size, dtype=bool)
    for s, c in zip(w.symbol_starts, w.cp_lengths, strict=True):
        clean[int(s) + q:int(s + c + w.fft_size) - q] = True
    scale = np.vdot(w.iq[clean], raw.iq[clean]) / np.vdot(w.iq[clean], w.iq[clean])
    np.testing.assert_allclose(w.iq[clean] * scale, raw.iq[clean], atol=1e-12)
    # power-complementary ramps: the overlaps keep the mean power (no SNR bias)
    assert abs(scale) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize(("bw", "scs", "osr"), [(20, 15, 4), (10, 60, 4), (100, 30, 5)])
def test_ideal_evm_of_oversampled_waveform(bw: int, scs: int, osr: int) -> None:
    """EVM at the oversampled rate itself (FFT and CP scaled by the oversampling)."""
    w = generate_nr(bw, scs, "NR-FR1-TM3.1a", n_slots=1, seed=3, oversampling=osr)
    r = measure_evm(w.iq, w.sample_rate_hz, w)
    assert r.evm_pct < 0.3 and r.timing_offset_samples == 0
    assert r.n_symbols_used == 14


def test_evm_of_capture_at_another_rate() -> None:
    """An analyzer capture at its own rate (>= native) is resampled to the native rate."""
    w = generate_nr(20, 15, "NR-FR1-TM3.1a", n_slots=2, seed=4, oversampling=4)
    x = 0.2 * np.exp(1j) * w.iq
    for fs in (w.sample_rate_hz, 100e6, w.native_sample_rate_hz):
        rx = resample_iq(x, w.sample_rate_hz, fs)
        y, ref = match_reference_rate(rx, fs, w)
        r = measure_evm(y, ref.sample_rate_hz, ref)
        assert r.evm_pct < 0.3 and abs(r.timing_offset_samples) <= 1, fs
    with pytest.raises(ValueError, match="below the waveform's native rate"):
        match_reference_rate(x[:1000], 20e6, w)


def test_resample_iq_rational_and_refuses_irrational() -> None:
    n = np.arange(4000)
    tone = np.exp(2j * np.pi * 1e6 * n / 30.72e6)
    y = resample_iq(tone, 30.72e6, 100e6)  # 625/192
    assert y.size == -(-4000 * 625 // 192)
    t = np.arange(y.size) / 100e6
    mid = slice(200, y.size - 200)  # away from the filter's edge transients
    # scipy's default Kaiser (beta 5) polyphase filter: passband ripple ~1e-3 (a linear
    # distortion the EVM equalizer removes)
    np.testing.assert_allclose(y[mid], np.exp(2j * np.pi * 1e6 * t[mid]), atol=3e-3)
    with pytest.raises(ValueError, match="rational"):
        resample_iq(tone, 30.72e6, 30.72e6 * np.pi)


# --- TDD framing -------------------------------------------------------------------------------

def test_tdd_patterns_as_documented() -> None:
    tm = tdd_pattern("38.141-1", 30)
    assert tm.slot_string == "DDDDDDDSUU" and tm.special_slots == "6D:4G:4U"
    assert tm.period_s == pytest.approx(5e-3)
    assert tdd_pattern("38.141-1", 15).slot_string == "DDDSU"
    dddsu = tdd_pattern("DDDSU", 30)
    assert dddsu.slot_string == "DDDSU" and dddsu.special_slots == "10D:2G:2U"
    assert dddsu.period_s == pytest.approx(2.5e-3)
    assert "38.141-1" in tm.describe() and "[verify" in tm.source


@pytest.fixture(scope="module")
def tdd() -> NRWaveform:
    """One 5 ms TDD period of 10 MHz / 30 kHz (DDDDDDDSUU, S = 6D:4G:4U) at x1."""
    return generate_nr(10, 30, "NR-FR1-TM3.1", n_slots=10, seed=8, duplex="TDD")


def test_tdd_ul_and_guard_are_silent(tdd: NRWaveform) -> None:
    d = tdd.directions
    assert "".join(d[7 * 14:8 * 14]) == "D" * 6 + "G" * 4 + "U" * 4
    assert np.all(d[8 * 14:] == "U") and np.all(d[:7 * 14 + 6] == "D")
    assert np.all(tdd.qm[~tdd.dl_symbols] == 0) and np.all(tdd.grid[~tdd.dl_symbols] == 0)
    half = tdd.wola_samples // 2  # the last DL symbol's ramp-down reaches half a ramp into G
    first_g = int(tdd.symbol_starts[7 * 14 + 6])
    assert np.all(tdd.iq[first_g + half:-half] == 0)  # G and U symbols: no DL energy at all
    assert np.mean(np.abs(tdd.iq[tdd.dl_sample_mask]) ** 2) == pytest.approx(1.0)
    assert tdd.dl_duty_cycle == pytest.approx((7 * 14 + 6) / 140, rel=0.02)


def test_tdd_evm_counts_dl_symbols_only(tdd: NRWaveform) -> None:
    rng = np.random.default_rng(1)
    rx = tdd.iq.copy()
    off = ~tdd.dl_sample_mask  # G/U symbols: noise as strong as the DL signal (0 dB)
    rx[off] += np.sqrt(0.5) * (rng.standard_normal(off.sum()) + 1j * rng.standard_normal(off.sum()))
    r = measure_evm(rx, tdd.sample_rate_hz, tdd)
    assert r.evm_pct < 0.3  # energy in G/U symbols does not count
    assert np.all(np.isnan(r.evm_per_symbol_pct[~tdd.dl_symbols]))
    assert np.all(r.evm_per_symbol_pct[tdd.dl_symbols] < 0.3)


@pytest.mark.parametrize("snr_db", [20.0, 30.0, 40.0])
def test_tdd_awgn_evm_matches_dl_snr(tdd: NRWaveform, snr_db: float) -> None:
    """Noise power referred to the DL power in BW_Config: EVM = 100/sqrt(SNR) % over DL REs."""
    rng = np.random.default_rng(int(snr_db))
    var = tdd.sample_rate_hz / (tdd.bw_config_hz * 10 ** (snr_db / 10))  # DL power is 1
    n = tdd.iq.size
    rx = tdd.iq + np.sqrt(var / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    r = measure_evm(rx, tdd.sample_rate_hz, tdd)
    assert r.evm_pct == pytest.approx(100 / np.sqrt(10 ** (snr_db / 10)), abs=0.1)


@pytest.mark.parametrize("snr_db", [20.0, 40.0])
def test_oversampled_awgn_evm_matches_snr(snr_db: float) -> None:
    w = generate_nr(10, 15, "NR-FR1-TM3.1a", n_slots=6, seed=12, oversampling=4)
    rng = np.random.default_rng(int(snr_db) + 1)
    var = w.sample_rate_hz / (w.bw_config_hz * 10 ** (snr_db / 10))
    n = w.iq.size
    rx = w.iq + np.sqrt(var / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    r = measure_evm(rx, w.sample_rate_hz, w)
    assert r.evm_pct == pytest.approx(100 / np.sqrt(10 ** (snr_db / 10)), abs=0.1)


def test_full_duration_and_shortened_metadata() -> None:
    full = generate_nr(5, 30, "NR-FR1-TM1.1", n_slots=None, duplex="TDD", seed=1)
    assert full.n_slots == 40 and full.duration_s == pytest.approx(20e-3)  # 38.141-1: 2 frames
    assert full.is_full_duration and full.metadata()["duration_note"] == "full test-model duration"
    fdd = generate_nr(5, 15, "NR-FR1-TM1.1", n_slots=None, seed=1)
    assert fdd.n_slots == 10 and fdd.duration_s == pytest.approx(10e-3)  # 1 frame
    short = generate_nr(5, 30, "NR-FR1-TM1.1", n_slots=3, duplex="TDD", seed=1)
    assert not short.is_full_duration and "shortened" in short.metadata()["duration_note"]


def test_metadata_and_papr() -> None:
    w = generate_nr(20, 30, "NR-FR1-TM3.1", n_slots=2, seed=2, duplex="TDD", oversampling=4)
    m = w.metadata()
    p = np.abs(w.iq[w.dl_sample_mask]) ** 2
    papr = 10 * np.log10(np.quantile(p, 1 - 1e-4) / np.mean(p))
    assert m["papr_db"] == pytest.approx(papr) and 7.0 < papr < 11.0  # CP-OFDM, no CFR
    assert w.crest_factor_db >= papr
    assert m["sample_rate_hz"] == pytest.approx(122.88e6) and m["oversampling"] == 4
    assert m["channel_bandwidth_hz"] == 20e6 and m["scs_hz"] == 30e3 and m["duplex"] == "TDD"
    assert m["test_model"] == "NR-FR1-TM3.1" and "DDDDDDDSUU" in m["tdd_pattern"]
    assert "mean power 1" in m["normalisation"] and "WOLA" in m["shaping"]
    assert m["n_dl_symbols"] == 28 and m["n_symbols"] == 28  # slots 0-1 are D slots


# --- test-model structure (38.141-1 §4.9.2.2): CORESET/PDCCH, PDSCH DM-RS, PDSCH EPRE ----------

def gold_literal(c_init: int, length: int) -> np.ndarray:
    """38.211 §5.2.1 written out bit by bit (the reference for the vectorised generator)."""
    x1 = [1] + [0] * 30
    x2 = [(c_init >> i) & 1 for i in range(31)]
    for n in range(length + 1600):
        x1.append((x1[n + 3] + x1[n]) % 2)
        x2.append((x2[n + 3] + x2[n + 2] + x2[n + 1] + x2[n]) % 2)
    return np.array([(x1[n + 1600] + x2[n + 1600]) % 2 for n in range(length)])


def qpsk_of(c: np.ndarray) -> np.ndarray:
    """38.211 §7.4.1.1.1: r(m) = ((1 - 2c(2m)) + j(1 - 2c(2m+1))) / sqrt(2)."""
    return ((1 - 2 * c[0::2]) + 1j * (1 - 2 * c[1::2])) / np.sqrt(2)


def test_gold_sequence_matches_38211() -> None:
    for c_init in (0, 1, 12345678, 2**31 - 1):
        np.testing.assert_array_equal(gold_sequence(c_init, 300), gold_literal(c_init, 300))
    both = gold_sequence(np.array([5, 77]), 64)
    np.testing.assert_array_equal(both[1], gold_literal(77, 64))


def test_dmrs_positions_table_7_4_1_1_2_3() -> None:
    assert pdsch_dmrs_symbols(14) == (2, 11)  # full slot, pos1: l0 and l1 = 11
    assert pdsch_dmrs_symbols(12) == (2, 9) and pdsch_dmrs_symbols(10) == (2, 9)
    assert pdsch_dmrs_symbols(6) == (2,) and pdsch_dmrs_symbols(8) == (2, 7)
    assert pdsch_dmrs_symbols(14, additional_position=0) == (2,)
    assert pdsch_dmrs_symbols(2) == ()


@pytest.fixture(scope="module")
def tm31a() -> NRWaveform:
    """5 MHz / 15 kHz (25 RB) TM3.1a, slots 0-1, cell ID 1."""
    return generate_nr(5, 15, "NR-FR1-TM3.1a", n_slots=2, seed=9)


def test_pdsch_dmrs_known_case(tm31a: NRWaveform) -> None:
    """Slot 1, symbol 11: DM-RS on every even subcarrier, sequence from c_init of §7.4.1.1.1."""
    w, n_sc = tm31a, tm31a.n_subcarriers
    ch = w.re_channel.reshape(2, 14, n_sc)
    for slot in range(2):
        rows = [sym for sym in range(14) if np.any(ch[slot, sym] == RE_PDSCH_DMRS)]
        assert rows == [2, 11]
        for sym in rows:
            assert np.all(ch[slot, sym, 0::2] == RE_PDSCH_DMRS)
            assert np.all(ch[slot, sym, 1::2] == RE_PDSCH)  # 1 CDM group without data
    n_id, n_s, sym = 1, 1, 11
    c_init = (2**17 * (14 * n_s + sym + 1) * (2 * n_id + 1) + 2 * n_id) % 2**31
    expected = qpsk_of(gold_literal(c_init, n_sc))
    np.testing.assert_allclose(w.grid[14 + 11, 0::2], expected, atol=1e-12)
    assert w.qm[14 + 11, 0] == 2 and w.qm[14 + 11, 1] == 8
    other = generate_nr(5, 15, "NR-FR1-TM3.1a", n_slots=2, seed=9, n_cell_id=7)
    assert not np.allclose(other.grid[14 + 11, 0::2], expected)  # N_ID enters the seed


def test_coreset_pdcch_is_qpsk(tm31a: NRWaveform) -> None:
    w, n_sc = tm31a, tm31a.n_subcarriers
    ch = w.re_channel.reshape(2, 14, n_sc)
    grid = w.grid.reshape(2, 14, n_sc)
    pdcch = ch == RE_PDCCH
    assert np.all(pdcch.any(axis=2)[:, :2]) and not pdcch[:, 2:].any()  # symbols 0-1 only
    assert not pdcch[:, :, 36:].any()  # 1 CCE = RBs 0-2
    np.testing.assert_array_equal(ch[:, :2, 1:36:4], RE_PDCCH_DMRS)  # k = 12n + 4k' + 1
    pts = grid[pdcch]
    np.testing.assert_allclose(np.abs(pts.real), 1 / np.sqrt(2), atol=1e-12)  # QPSK at 0 dB
    np.testing.assert_allclose(np.abs(pts.imag), 1 / np.sqrt(2), atol=1e-12)
    assert np.all(w.qm.reshape(ch.shape)[pdcch] == 2)
    # PDCCH DM-RS, slot 1 symbol 0: r_l(3n + k') with c_init of §7.4.1.3.1 (no n_SCID term)
    c_init = (2**17 * (14 * 1 + 0 + 1) * (2 * 1 + 1) + 2 * 1) % 2**31
    np.testing.assert_allclose(grid[1, 0, 1:36:4], qpsk_of(gold_literal(c_init, 18)),
                               atol=1e-12)
    # the rest of symbols 0-1 is PDSCH (256QAM); PRBs 0-2 carry PDSCH from symbol 2
    assert np.all(ch[:, :2, 36:] == RE_PDSCH) and np.all(w.qm.reshape(ch.shape)[:, :2, 36:] == 8)
    assert np.all(np.isin(ch[:, 2:, :36], (RE_PDSCH, RE_PDSCH_DMRS)))


def test_tdd_special_slot_structure() -> None:
    w = generate_nr(10, 30, "NR-FR1-TM1.1", n_slots=8, seed=1, duplex="TDD")  # S = 6D:4G:4U
    ch = w.re_channel.reshape(8, 14, -1)
    assert [s for s in range(14) if np.any(ch[7, s] == RE_PDSCH_DMRS)] == [2]
    assert np.all(ch[7, 6:] == 0) and np.any(ch[7, :2] == RE_PDCCH)
    w15 = generate_nr(10, 15, "NR-FR1-TM1.1", n_slots=4, seed=1, duplex="TDD")  # S = 10D
    ch15 = w15.re_channel.reshape(4, 14, -1)
    assert [s for s in range(14) if np.any(ch15[3, s] == RE_PDSCH_DMRS)] == [2, 9]
    m = w15.metadata()
    assert m["n_res_pdsch"] == int(w15.pdsch_data_mask.sum()) and m["n_cell_id"] == 1
    assert m["n_res_pdsch_dmrs"] == int(np.sum(w15.re_channel == RE_PDSCH_DMRS))


@pytest.mark.parametrize("model", ["NR-FR1-TM1.1", "NR-FR1-TM3.1", "NR-FR1-TM3.1a"])
def test_full_allocation_models_are_0db(model: str) -> None:
    w = generate_nr(10, 30, model, n_slots=2, seed=4)
    data = w.pdsch_data_mask
    assert np.all(w.qm[data] == MODULATIONS[TEST_MODELS[model]])
    ref = np.abs(w.grid[~data & (w.qm > 0)]) ** 2  # DM-RS and PDCCH: QPSK at 0 dB
    np.testing.assert_allclose(ref, 1.0, atol=1e-12)
    assert np.mean(np.abs(w.grid[data]) ** 2) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("model", list(TEST_MODEL_SPLIT))
def test_boosted_deboosted_models_keep_0db_mean(model: str) -> None:
    """TM3.2 (16QAM at -3 dB) / TM3.3 (QPSK at -6 dB) + boosted QPSK: mean EPRE 0 dB."""
    share, target_db = TEST_MODEL_SPLIT[model]
    nrb = 51
    w = generate_nr(20, 30, model, n_slots=1, seed=2)
    target, balance_db = split_target_prbs(nrb, share, target_db)
    n_t = target.size
    assert balance_db == pytest.approx(
        10 * np.log10((nrb - 3 - 10 ** (target_db / 10) * n_t) / (nrb - 3 - n_t)))
    data = w.pdsch_data_mask
    prb = np.arange(w.n_subcarriers) // 12
    in_target = np.isin(prb, target)[None, :] & data
    other = ~np.isin(prb, target)[None, :] & (prb >= 3)[None, :] & data
    assert np.all(w.qm[in_target] == MODULATIONS[TEST_MODELS[model]])
    assert np.all(w.qm[other] == 2)  # the balancing PDSCH is QPSK: constant modulus
    np.testing.assert_allclose(np.abs(w.grid[other]) ** 2, 10 ** (balance_db / 10), rtol=1e-12)
    assert 10 * np.log10(np.mean(np.abs(w.grid[in_target]) ** 2)) == pytest.approx(
        target_db, abs=0.1)
    # DM-RS follow their PDSCH's EPRE (beta_DMRS = 0 dB)
    dmrs = w.re_channel == RE_PDSCH_DMRS
    np.testing.assert_allclose(np.abs(w.grid[dmrs & np.isin(prb, target)[None, :]]) ** 2,
                               10 ** (target_db / 10), rtol=1e-12)
    mean_re = np.mean(np.abs(w.grid[w.qm > 0]) ** 2)
    assert mean_re == pytest.approx(1.0, abs=0.02)
