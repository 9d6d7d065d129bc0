"""NR EVM against a known reference waveform: pure numpy, no I/O.

Follows TS 38.104 Annex B / TS 38.101-1 Annex F (rf-measurements-and-scpi.md §1.4), simplified:

1. coarse timing: FFT cross-correlation of the received IQ with the first symbols of the
   reference (integer samples; the residual fractional delay is a per-subcarrier phase ramp
   that the equalizer removes);
2. frequency offset: CP correlation (range +-SCS/2), then a data-aided refinement from the
   symbol-to-symbol phase of ``Y * conj(I)`` over all REs; corrected in the time domain;
3. CP removal and FFT at two EVM-window positions, ``CP/2 - W/2`` and ``CP/2 + W/2`` samples into
   the CP (``W = window_fraction * normal CP``), with the window advance compensated as a
   linear phase so both positions see the same channel;
4. per-subcarrier zero-forcing equalizer ``H_k = sum_l Y I* / sum_l |I|^2`` estimated from all
   known REs of all captured symbols (PDSCH DM-RS, PDCCH and its DM-RS, and the known PDSCH
   data: the reference grid is known exactly, so this is the lowest-noise estimate; 38.104
   Annex B lets the equaliser use the reference signals, a DM-RS-only estimate would add
   estimation noise to the EVM);
5. ``EVM = sqrt(sum |Z - I|^2 / sum |I|^2)`` over the **PDSCH data REs** only
   (``reference.pdsch_data_mask``: not DM-RS, not PDCCH; 38.104 Annex B / 38.141-1 §6.5.3), per
   modulation over the PDSCH REs of that modulation; the larger of the two window positions is
   reported (38.104 Annex B). This RMS over all captured data REs is the power-weighted
   average of the per-slot EVMs. The EVM of DM-RS and PDCCH REs is reported separately
   (``evm_by_channel_pct``), for diagnosis.

Not done: carrier-leakage/IQ-offset removal (UE), sample-clock offset, per-symbol phase tracking,
resampling beyond bringing a capture to the native rate (``match_reference_rate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from benchbot.waveforms.nr import (
    QM_NAMES,
    RE_CHANNEL_NAMES,
    NRWaveform,
    match_reference_rate,
)

METHOD = (
    "EVM per TS 38.104 Annex B / 38.101-1 Annex F (simplified): xcorr timing, CP + data-aided "
    "CFO correction, FFT at CP/2 -+ W/2, per-subcarrier ZF equalizer from the known reference "
    "averaged over all captured symbols, RMS EVM over the PDSCH data REs (DM-RS and PDCCH "
    "excluded), worst of the two window positions."
)


@dataclass
class EvmResult:
    """EVM of one capture (percent values are RMS, 100 * sqrt(error power / reference power))."""

    evm_pct: float
    evm_by_modulation_pct: dict[str, float]
    evm_per_symbol_pct: np.ndarray  # (n_symbols,), NaN where the symbol was not captured
    evm_per_subcarrier_pct: np.ndarray  # (n_subcarriers,)
    equalizer: np.ndarray  # (n_subcarriers,) complex channel estimate H_k
    timing_offset_samples: int  # rx[n + offset] ~ reference[n]
    frequency_offset_hz: float
    window_length_samples: int
    window_position: int  # 0: early (CP/2 + W/2 before the useful part), 1: late
    evm_per_window_pct: tuple[float, float]
    n_symbols_used: int
    method: str = field(default=METHOD)
    n_res_used: int = 0  # PDSCH data REs in the EVM (all captured symbols)
    #: RMS EVM of each RE type (``RE_CHANNEL_NAMES``: PDSCH, PDSCH DM-RS, PDCCH, PDCCH DM-RS)
    evm_by_channel_pct: dict[str, float] = field(default_factory=dict)


def _coarse_timing(rx: np.ndarray, ref: NRWaveform, max_lag: int) -> int:
    seg_len = int(ref.symbol_starts[4]) if ref.n_symbols > 4 else ref.iq.size
    seg = ref.iq[:seg_len]
    part = rx[: seg_len + max_lag]
    corr = signal.correlate(part, seg, mode="full", method="fft")
    lags = signal.correlation_lags(part.size, seg.size, mode="full")
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(np.abs(corr[keep]))])


def _cp_cfo(rx: np.ndarray, ref: NRWaveform, lag: int) -> float:
    """CP correlation (38.211 CP is a copy of the symbol end): phase of r[n+N] r*[n] over the CP."""
    n = ref.fft_size
    acc = 0.0 + 0.0j
    for s, c, dl in zip(ref.symbol_starts, ref.cp_lengths, ref.dl_symbols, strict=True):
        if not dl:  # TDD guard/UL symbols carry no downlink: their "CP" is noise
            continue
        a = int(s) + lag + c // 4  # the inner half of the CP, away from ISI
        b = int(s) + lag + c - c // 4
        if a < 0 or b + n > rx.size:
            continue
        acc += np.vdot(rx[a:b], rx[a + n:b + n])
    return float(np.angle(acc) / (2 * np.pi * n) * ref.sample_rate_hz)


def _demod(rx: np.ndarray, ref: NRWaveform, lag: int, advance: np.ndarray,
           ) -> tuple[np.ndarray, np.ndarray]:
    """FFT of each captured symbol, window starting ``advance[l]`` samples before the useful part.

    Returns (Y[used, n_sc] with the window advance removed as a linear phase, used symbol mask).
    """
    n = ref.fft_size
    start = ref.symbol_starts + ref.cp_lengths + lag - advance
    used = (start >= 0) & (start + n <= rx.size)
    idx = start[used, None] + np.arange(n)
    spec = np.fft.fft(rx[idx], axis=1)[:, ref.fft_bins]
    k = ref.subcarrier_offsets
    spec *= np.exp(2j * np.pi * np.outer(advance[used], k) / n)
    return spec, used


def _fine_cfo(y: np.ndarray, ref_sym: np.ndarray, t_s: np.ndarray) -> float:
    """Data-aided CFO from the phase step of ``sum_k Y I*`` between consecutive symbols."""
    if y.shape[0] < 2:
        return 0.0
    p = y * np.conj(ref_sym)
    v = np.sum(p[1:] * np.conj(p[:-1]), axis=1)
    return float(np.angle(np.sum(v)) / (2 * np.pi * np.mean(np.diff(t_s))))


def measure_evm(
    rx: np.ndarray,
    sample_rate_hz: float,
    reference: NRWaveform,
    window_fraction: float = 0.5,
    max_timing_offset: int | None = None,
) -> EvmResult:
    """RMS EVM of ``rx`` against ``reference`` (38.104 Annex B, simplified: see module doc).

    ``rx`` may have any complex gain, a small timing offset (|offset| <= ``max_timing_offset``,
    default one symbol) and a frequency offset within +-SCS/2. It is sampled at the reference's
    rate or at any rate >= the waveform's native rate N_FFT·SCS (an analyzer captures at its own
    rate): then it is resampled to the native rate and compared with the native reference.
    """
    rx, reference = match_reference_rate(rx, sample_rate_hz, reference)
    if not 0.0 <= window_fraction <= 1.0:
        raise ValueError("window_fraction must be within [0, 1]")
    fs, n = reference.sample_rate_hz, reference.fft_size
    max_lag = int(n + reference.cp_lengths.max()) if max_timing_offset is None \
        else int(max_timing_offset)

    lag = _coarse_timing(rx, reference, max_lag)
    t = np.arange(rx.size) / fs
    cfo = _cp_cfo(rx, reference, lag)
    rx_c = rx * np.exp(-2j * np.pi * cfo * t)

    cp = reference.cp_lengths
    centre = cp // 2
    y, used = _demod(rx_c, reference, lag, centre)
    if not used.any():
        raise ValueError("no complete OFDM symbol found in the capture")
    t_sym = (reference.symbol_starts + cp + lag)[used] / fs
    cfo_fine = _fine_cfo(y, reference.grid[used], t_sym)
    cfo += cfo_fine
    rx_c = rx * np.exp(-2j * np.pi * cfo * t)

    w_len = int(round(window_fraction * float(np.min(cp))))
    results = []
    for advance in (centre + w_len // 2, centre - (w_len - w_len // 2)):
        y, used = _demod(rx_c, reference, lag, np.clip(advance, 0, cp))
        results.append(_evm_from_grid(y, used, reference))
    pos = int(results[1].evm_pct > results[0].evm_pct)
    g = results[pos]
    return EvmResult(
        evm_pct=g.evm_pct, evm_by_modulation_pct=g.by_mod, evm_per_symbol_pct=g.per_sym,
        evm_per_subcarrier_pct=g.per_sc, equalizer=g.h, timing_offset_samples=lag,
        frequency_offset_hz=cfo, window_length_samples=w_len, window_position=pos,
        evm_per_window_pct=(results[0].evm_pct, results[1].evm_pct),
        n_symbols_used=g.n_symbols, n_res_used=g.n_res, evm_by_channel_pct=g.by_channel,
    )


@dataclass
class _GridEvm:
    evm_pct: float
    by_mod: dict[str, float]
    by_channel: dict[str, float]
    per_sym: np.ndarray
    per_sc: np.ndarray
    h: np.ndarray
    n_symbols: int
    n_res: int


def _pct(e: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.sqrt(np.asarray(e) / np.asarray(r))


def _evm_from_grid(y: np.ndarray, used: np.ndarray, ref: NRWaveform) -> _GridEvm:
    """ZF equalization per subcarrier (from all known REs) and EVM over the PDSCH data REs
    (38.104 Annex B, 38.101-1 Annex F)."""
    ideal = ref.grid[used]
    qm = ref.qm[used]
    data = ref.pdsch_data_mask[used]
    ref_pow = np.abs(ideal) ** 2
    den = np.sum(ref_pow, axis=0)
    h = np.where(den > 0, np.sum(y * np.conj(ideal), axis=0) / np.where(den > 0, den, 1), 1.0)
    z = y / np.where(np.abs(h) > 0, h, 1.0)
    err_all = np.abs(z - ideal) ** 2
    err = np.where(data, err_all, 0.0)
    ref_data = np.where(data, ref_pow, 0.0)

    by_mod = {QM_NAMES[int(q)]: float(_pct(err[qm == q].sum(), ref_data[qm == q].sum()))
              for q in np.unique(qm[data])}
    by_channel = {}
    if ref.re_channel is not None:
        ch = ref.re_channel[used]
        by_channel = {name: float(_pct(err_all[ch == c].sum(), ref_pow[ch == c].sum()))
                      for c, name in RE_CHANNEL_NAMES.items() if np.any(ch == c)}
    per_sym = np.full(ref.n_symbols, np.nan)
    per_sym[used] = _pct(err.sum(axis=1), ref_data.sum(axis=1))
    per_sc = _pct(err.sum(axis=0), ref_data.sum(axis=0))
    return _GridEvm(float(_pct(err.sum(), ref_data.sum())), by_mod, by_channel, per_sym, per_sc,
                    h, int(used.sum()), int(data.sum()))
