"""EVM against the reference grid (38.104 Annex B, simplified; see benchbot/analysis/evm.py).

SNR convention: signal power over noise power *within the occupied bandwidth* BW_Config =
N_RB*12*SCS. The noise is complex white Gaussian over the whole sample rate fs with variance
sigma^2 = P_sig * fs / (BW_Config * snr), so its power within BW_Config is P_sig / snr. This is
also the per-RE SNR, hence the expected EVM is 100/sqrt(snr) %.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchbot.analysis.evm import measure_evm
from benchbot.waveforms import NRWaveform, generate_nr


@pytest.fixture(scope="module")
def wf() -> NRWaveform:
    # 10 slots x 14 = 140 symbols: the ZF estimate averaged over 140 symbols biases EVM^2 by
    # only -1/140 (EVM -0.36 % relative), well inside the 0.1 % absolute tolerance.
    return generate_nr(10, 15, "NR-FR1-TM3.1a", n_slots=10, seed=11)


def awgn(x: np.ndarray, w: NRWaveform, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    p_sig = np.mean(np.abs(x) ** 2)
    var = p_sig * w.sample_rate_hz / (w.bw_config_hz * 10 ** (snr_db / 10))
    return x + np.sqrt(var / 2) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))


@pytest.mark.parametrize(("bw", "scs", "model"), [
    (100, 30, "NR-FR1-TM3.1"), (20, 60, "NR-FR1-TM1.1"), (10, 15, "NR-FR1-TM3.1a")])
def test_ideal_waveform(bw: int, scs: int, model: str) -> None:
    w = generate_nr(bw, scs, model, n_slots=2, seed=2)
    r = measure_evm(w.iq, w.sample_rate_hz, w)
    assert r.evm_pct < 0.3
    assert r.timing_offset_samples == 0 and abs(r.frequency_offset_hz) < 1e-3
    assert r.n_symbols_used == w.n_symbols and "Annex B" in r.method
    assert r.evm_per_symbol_pct.shape == (w.n_symbols,)
    assert r.evm_per_subcarrier_pct.shape == (w.n_subcarriers,)


@pytest.mark.parametrize("snr_db", [20, 25, 30, 35, 40])
def test_awgn_evm_matches_snr(wf: NRWaveform, snr_db: float) -> None:
    rng = np.random.default_rng(100 + int(snr_db))
    r = measure_evm(awgn(wf.iq, wf, snr_db, rng), wf.sample_rate_hz, wf)
    expected = 100 / np.sqrt(10 ** (snr_db / 10))
    assert r.evm_pct == pytest.approx(expected, abs=0.1)
    assert r.evm_by_modulation_pct == {"256QAM": pytest.approx(r.evm_pct)}
    # AWGN is white: no symbol and no band of subcarriers stands out
    assert np.nanmax(r.evm_per_symbol_pct) < 1.2 * expected
    assert np.ptp(np.convolve(r.evm_per_subcarrier_pct, np.ones(48) / 48, "valid")) < 0.1 * expected


@pytest.mark.parametrize(("delay", "cfo_hz", "gain"), [
    (7, 400.0, 0.3 * np.exp(2j)), (-5, -300.0, 5.0 * np.exp(-1j)), (0, 250.0, 1j),
    (3, -450.0, 1e-3)])
def test_robust_to_gain_phase_timing_frequency(wf: NRWaveform, delay: int, cfo_hz: float,
                                               gain: complex) -> None:
    x = np.concatenate([np.zeros(delay, complex), wf.iq]) if delay >= 0 else wf.iq[-delay:]
    x = gain * x * np.exp(2j * np.pi * cfo_hz * np.arange(x.size) / wf.sample_rate_hz + 0.7j)
    r = measure_evm(x, wf.sample_rate_hz, wf)
    assert r.evm_pct < 0.3
    assert r.timing_offset_samples == delay
    assert r.frequency_offset_hz == pytest.approx(cfo_hz, abs=0.5)
    noisy = measure_evm(awgn(x, wf, 30.0, np.random.default_rng(7)), wf.sample_rate_hz, wf)
    assert noisy.evm_pct == pytest.approx(100 / np.sqrt(1e3), abs=0.1)


def test_fractional_delay_is_equalized(wf: NRWaveform) -> None:
    n = wf.iq.size
    f = np.fft.fftfreq(n)
    x = np.fft.ifft(np.fft.fft(wf.iq) * np.exp(-2j * np.pi * f * 2.4))  # 2.4-sample delay
    r = measure_evm(x, wf.sample_rate_hz, wf)
    assert r.evm_pct < 0.3 and r.timing_offset_samples in (2, 3)


def test_truncated_capture_skips_incomplete_symbols(wf: NRWaveform) -> None:
    cut = int(wf.cp_lengths[0]) + 10  # capture starts inside symbol 0's useful part
    r = measure_evm(wf.iq[cut:], wf.sample_rate_hz, wf)
    assert r.evm_pct < 0.3 and r.n_symbols_used == wf.n_symbols - 1
    assert r.timing_offset_samples == -cut
    assert np.isnan(r.evm_per_symbol_pct[0]) and np.isfinite(r.evm_per_symbol_pct[1:]).all()


def test_equalizer_reports_the_channel(wf: NRWaveform) -> None:
    r = measure_evm(2.0 * wf.iq, wf.sample_rate_hz, wf)
    mag = np.abs(r.equalizer)
    assert np.ptp(mag) / mag.mean() < 1e-9  # flat channel -> flat equalizer


def test_wrong_sample_rate_is_rejected(wf: NRWaveform) -> None:
    with pytest.raises(ValueError, match="below the waveform's native rate"):
        measure_evm(wf.iq, 0.5 * wf.sample_rate_hz, wf)


def plain_ofdm(w: NRWaveform, grid: np.ndarray) -> np.ndarray:
    """CP-OFDM of ``grid`` without shaping (what generate_nr builds with wola_cp_fraction=0, x1)."""
    out = []
    for row, cp in zip(grid, w.cp_lengths, strict=True):
        freq = np.zeros(w.fft_size, complex)
        freq[w.fft_bins] = row
        body = np.fft.ifft(freq)
        out.append(np.concatenate((body[w.fft_size - int(cp):], body)))
    return np.concatenate(out)


def test_evm_counts_pdsch_data_only() -> None:
    """Errors on DM-RS and PDCCH REs do not enter the EVM (38.104 Annex B: PDSCH REs).

    The error on those REs is ``±0.5 I`` (an amplitude error: Y I* stays real and positive, so
    the data-aided CFO is unbiased), the sign alternating down each subcarrier so that the
    equaliser's sum of Y I* over the symbols is unchanged (every subcarrier holds an even number
    of non-data REs): the data EVM stays ideal while the DM-RS and PDCCH EVMs read 50 %.
    """
    w = generate_nr(10, 15, "NR-FR1-TM3.1a", n_slots=4, seed=5, wola_cp_fraction=0.0)
    ofdm = plain_ofdm(w, w.grid)
    s = np.vdot(ofdm, w.iq) / np.vdot(ofdm, ofdm)
    np.testing.assert_allclose(s * ofdm, w.iq, atol=1e-9)
    other = (w.qm > 0) & ~w.pdsch_data_mask
    rank = np.cumsum(other, axis=0) - 1  # order of each non-data RE down its subcarrier
    err = np.where(other, 0.5 * w.grid * np.where(rank % 2 == 0, 1.0, -1.0), 0.0)
    assert np.all(np.sum(other, axis=0) % 2 == 0)
    rx = w.iq + s * plain_ofdm(w, err)
    r = measure_evm(rx, w.sample_rate_hz, w)
    assert r.evm_pct < 0.3
    assert r.evm_by_modulation_pct.keys() == {"256QAM"}  # QPSK DM-RS/PDCCH are not PDSCH data
    for name in ("PDSCH DM-RS", "PDCCH", "PDCCH DM-RS"):
        assert r.evm_by_channel_pct[name] == pytest.approx(50.0, abs=0.1), name
    assert r.evm_by_channel_pct["PDSCH"] == pytest.approx(r.evm_pct)
    assert r.n_res_used == int(w.pdsch_data_mask.sum())
    # a reference without the RE map counts every RE: ~sqrt(share of non-data REs) * 50 %
    share = other.sum() / (w.qm > 0).sum()
    flat = measure_evm(rx, w.sample_rate_hz, dataclasses.replace(w, re_channel=None))
    assert flat.evm_pct == pytest.approx(50 * np.sqrt(share), rel=0.02) and flat.evm_pct > 10
