"""NR FR1 CP-OFDM downlink-like waveform in numpy (TS 38.211, TS 38.104, TS 38.141-1).

Pure numpy, no I/O. What is built:

- numerology mu = 0/1/2 (SCS 15/30/60 kHz), 14 symbols per slot, normal CP (38.211 §4.2, §5.3.1);
- N_RB from TS 38.104 Table 5.3.2-1 (5-100 MHz), ``BW_Config = N_RB * 12 * SCS``;
- FFT size: smallest power of two >= N_RB*12/0.85 (e.g. 100 MHz@30 kHz -> 4096, 122.88 MS/s);
- resource grid subcarrier ``k`` (0..N_RB*12-1) sits at ``(k - N_RB*12/2) * SCS`` (38.211 §5.3.1);
- QPSK/16QAM/64QAM/256QAM mapping exactly as 38.211 §5.1.3-§5.1.6 (Gray, unit average power).

Test models (NR-FR1-TM1.1, TM3.1, TM3.1a, plus TM3.2/TM3.3) are **simplified** against
38.141-1 §4.9.2: every RE of every PRB of every symbol carries the test model's modulation with a
seeded uniform random payload (instead of PN23-scrambled PDSCH); there is no PDCCH/CORESET, no
PBCH/SSB, no PDSCH DM-RS or PT-RS, no power boosting/de-boosting, no 38.211 §5.4 upconversion
phase term, no windowing or filtering; FDD framing (every slot downlink), any number of slots
(a 38.141-1 FDD test model is 1 frame = 10 * 2^mu slots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: TS 38.104 Table 5.3.2-1, N_RB per (SCS kHz) -> {channel bandwidth MHz: N_RB}
N_RB_TABLE: dict[int, dict[int, int]] = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 80: 217,
         90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 80: 107, 90: 121,
         100: 135},
}

#: modulation name -> bits per symbol Q_m (38.211 §5.1)
MODULATIONS: dict[str, int] = {"QPSK": 2, "16QAM": 4, "64QAM": 6, "256QAM": 8}
QM_NAMES: dict[int, str] = {v: k for k, v in MODULATIONS.items()}

#: simplified test models (38.141-1 §4.9.2): name -> modulation of all PRBs
TEST_MODELS: dict[str, str] = {
    "NR-FR1-TM1.1": "QPSK",
    "NR-FR1-TM3.1": "64QAM",
    "NR-FR1-TM3.1a": "256QAM",
    "NR-FR1-TM3.2": "16QAM",
    "NR-FR1-TM3.3": "QPSK",
}

SYMBOLS_PER_SLOT = 14
KAPPA = 64  # 38.211 §4.1, kappa = Ts/Tc


@dataclass(frozen=True)
class Numerology:
    """NR numerology mu (38.211 §4.2): SCS = 15 kHz * 2^mu; FR1 data uses mu = 0, 1, 2."""

    scs_khz: int

    def __post_init__(self) -> None:
        if self.scs_khz not in N_RB_TABLE:
            raise ValueError(f"SCS {self.scs_khz} kHz is not an FR1 data numerology (15/30/60)")

    @property
    def mu(self) -> int:
        return {15: 0, 30: 1, 60: 2}[self.scs_khz]

    @property
    def scs_hz(self) -> float:
        return self.scs_khz * 1e3

    @property
    def slots_per_subframe(self) -> int:
        return 2**self.mu

    @property
    def slots_per_frame(self) -> int:
        return 10 * 2**self.mu

    def cp_length(self, fft_size: int, symbol_in_subframe: int) -> int:
        """Normal CP in samples at ``fs = fft_size * SCS`` (38.211 §5.3.1).

        ``N_CP = 144*kappa*2^-mu`` Tc, plus ``16*kappa`` Tc for l = 0 and l = 7*2^mu of the
        subframe (the first symbol of each half-subframe). One Tc at fs is ``fs*Tc`` samples with
        ``Tc = 1/(480e3*4096)``.
        """
        n = 144 * fft_size / 2048  # 144*kappa*2^-mu*Tc * (fft_size*15e3*2^mu)
        if symbol_in_subframe % (7 * 2**self.mu) == 0:
            n += 16 * fft_size * 2**self.mu / 2048
        if n != int(n):
            raise ValueError(f"FFT size {fft_size} gives a non-integer CP ({n} samples)")
        return int(n)


def n_rb(bandwidth_mhz: int, scs_khz: int) -> int:
    """Maximum transmission bandwidth N_RB, TS 38.104 Table 5.3.2-1 (FR1)."""
    table = N_RB_TABLE.get(scs_khz)
    if table is None:
        raise ValueError(f"SCS {scs_khz} kHz is not in TS 38.104 Table 5.3.2-1 (15/30/60 kHz)")
    if bandwidth_mhz not in table:
        raise ValueError(
            f"{bandwidth_mhz} MHz channel bandwidth does not exist at {scs_khz} kHz SCS "
            f"(TS 38.104 Table 5.3.2-1: {sorted(table)} MHz)")
    return table[bandwidth_mhz]


def bw_config_hz(bandwidth_mhz: int, scs_khz: int) -> float:
    """Transmission bandwidth configuration ``N_RB * 12 * SCS`` in Hz (38.104 §5.3)."""
    return n_rb(bandwidth_mhz, scs_khz) * 12 * scs_khz * 1e3


def fft_size_for(n_rb_: int) -> int:
    """Smallest power-of-two FFT with the occupied subcarriers <= 85 % of it (min 128)."""
    return max(128, 1 << int(np.ceil(np.log2(n_rb_ * 12 / 0.85))))


def qam_map(bits: np.ndarray, qm: int) -> np.ndarray:
    """Map bits (..., Q_m) to complex symbols per 38.211 §5.1.3-§5.1.6 (unit average power).

    I uses the even bits b0, b2, ..., Q the odd bits; e.g. 64QAM
    ``I = (1-2b0)(4-(1-2b2)(2-(1-2b4)))/sqrt(42)``.
    """
    if qm not in QM_NAMES:
        raise ValueError(f"Q_m={qm} is not one of {sorted(QM_NAMES)}")
    s = 1.0 - 2.0 * np.asarray(bits, dtype=np.float64)
    k = qm // 2

    def axis(c: np.ndarray) -> np.ndarray:  # c: (..., k) signs of b0, b2, ... (or b1, b3, ...)
        t = c[..., k - 1]
        for i in range(k - 2, -1, -1):
            t = c[..., i] * (2.0 ** (k - 1 - i) - t)
        return t

    norm = np.sqrt(2.0 * (4.0**k - 1.0) / 3.0)  # 2, 10, 42, 170
    return (axis(s[..., 0::2]) + 1j * axis(s[..., 1::2])) / norm


def constellation(modulation: str) -> np.ndarray:
    """All 2^Q_m points of a modulation, index = bits b0..b_{Qm-1} read MSB first."""
    qm = MODULATIONS[modulation]
    idx = np.arange(2**qm)
    bits = (idx[:, None] >> np.arange(qm - 1, -1, -1)) & 1
    return qam_map(bits, qm)


@dataclass(frozen=True)
class NRWaveform:
    """A generated NR FR1 waveform and everything needed to demodulate it for EVM.

    ``grid[l, k]`` is the ideal symbol on OFDM symbol ``l``, subcarrier ``k`` (0 where unused),
    ``qm[l, k]`` its bits per symbol (0 = unused). ``symbol_starts[l]`` is the sample index of the
    start of symbol ``l``'s CP in ``iq``; its useful part starts ``cp_lengths[l]`` later.
    """

    iq: np.ndarray  # complex128, unit mean power
    sample_rate_hz: float
    numerology: Numerology
    bandwidth_mhz: int
    n_rb: int
    fft_size: int
    test_model: str
    n_slots: int
    seed: int
    grid: np.ndarray  # (n_symbols, n_rb*12) complex128
    qm: np.ndarray  # (n_symbols, n_rb*12) int8
    symbol_starts: np.ndarray  # (n_symbols,) int64
    cp_lengths: np.ndarray  # (n_symbols,) int64

    @property
    def n_subcarriers(self) -> int:
        return self.n_rb * 12

    @property
    def n_symbols(self) -> int:
        return int(self.grid.shape[0])

    @property
    def bw_config_hz(self) -> float:
        return self.n_subcarriers * self.numerology.scs_hz

    @property
    def subcarrier_offsets(self) -> np.ndarray:
        """Signed frequency index of each grid subcarrier, ``k - N_sc/2`` (38.211 §5.3.1)."""
        return np.arange(self.n_subcarriers) - self.n_subcarriers // 2

    @property
    def fft_bins(self) -> np.ndarray:
        """FFT bin of each grid subcarrier (numpy FFT order)."""
        return self.subcarrier_offsets % self.fft_size


def generate_nr(
    bandwidth_mhz: int = 100,
    scs_khz: int = 30,
    test_model: str = "NR-FR1-TM3.1",
    n_slots: int = 1,
    seed: int = 0,
    fft_size: int | None = None,
) -> NRWaveform:
    """Generate ``n_slots`` FDD downlink slots of a simplified NR-FR1 test model.

    See the module docstring for what is simplified against 38.141-1 §4.9.2. The result is
    deterministic for a given seed; ``iq`` is scaled to unit mean power.
    """
    if test_model not in TEST_MODELS:
        raise ValueError(f"unknown test model {test_model!r}; known: {sorted(TEST_MODELS)}")
    if n_slots < 1:
        raise ValueError("n_slots must be >= 1")
    num = Numerology(scs_khz)
    nrb = n_rb(bandwidth_mhz, scs_khz)
    n_sc = nrb * 12
    nfft = fft_size_for(nrb) if fft_size is None else int(fft_size)
    if nfft < n_sc:
        raise ValueError(f"FFT size {nfft} < {n_sc} occupied subcarriers")
    qm_val = MODULATIONS[TEST_MODELS[test_model]]
    n_sym = n_slots * SYMBOLS_PER_SLOT

    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n_sym, n_sc, qm_val), dtype=np.int8)
    grid = qam_map(bits, qm_val)
    qm = np.full((n_sym, n_sc), qm_val, dtype=np.int8)

    l_all = np.arange(n_sym)
    in_subframe = l_all % (SYMBOLS_PER_SLOT * num.slots_per_subframe)
    cp = np.array([num.cp_length(nfft, int(i)) for i in in_subframe], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(cp + nfft)[:-1]]).astype(np.int64)

    offsets = np.arange(n_sc) - n_sc // 2
    freq = np.zeros((n_sym, nfft), dtype=np.complex128)
    freq[:, offsets % nfft] = grid
    body = np.fft.ifft(freq, axis=1)
    iq = np.empty(int(starts[-1] + cp[-1] + nfft), dtype=np.complex128)
    for i in range(n_sym):
        s, c = int(starts[i]), int(cp[i])
        iq[s:s + c] = body[i, nfft - c:]
        iq[s + c:s + c + nfft] = body[i]
    iq /= np.sqrt(np.mean(np.abs(iq) ** 2))
    return NRWaveform(iq=iq, sample_rate_hz=nfft * num.scs_hz, numerology=num,
                      bandwidth_mhz=bandwidth_mhz, n_rb=nrb, fft_size=nfft,
                      test_model=test_model, n_slots=n_slots, seed=seed, grid=grid, qm=qm,
                      symbol_starts=starts, cp_lengths=cp)
