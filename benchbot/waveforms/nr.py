"""NR FR1 CP-OFDM downlink-like waveform in numpy (TS 38.211, TS 38.104, TS 38.141-1).

Pure numpy/scipy, no I/O. What is built:

- numerology mu = 0/1/2 (SCS 15/30/60 kHz), 14 symbols per slot, normal CP (38.211 §4.2, §5.3.1);
- N_RB from TS 38.104 Table 5.3.2-1 (5-100 MHz), ``BW_Config = N_RB * 12 * SCS``; a (BW, SCS)
  pair missing from that table raises ValueError naming the valid bandwidths;
- native FFT size: smallest power of two >= N_RB*12/0.85 (e.g. 100 MHz@30 kHz -> 4096,
  122.88 MS/s); ``oversampling`` multiplies it (x5 -> 20480, 614.4 MS/s, as MathWorks'
  hACLRParametersNR does for 100 MHz) so that ACLR2 and PA regrowth up to ±2.5·BW fit in the
  span. Oversampling is exact: the symbols are synthesised with the larger IFFT (zero bins
  outside the grid), not interpolated;
- resource grid subcarrier ``k`` (0..N_RB*12-1) sits at ``(k - N_RB*12/2) * SCS`` (38.211 §5.3.1);
- QPSK/16QAM/64QAM/256QAM mapping exactly as 38.211 §5.1.3-§5.1.6 (Gray, unit average power).

Spectrum shaping (raw CP-OFDM leaks through its rectangular-pulse sinc skirts: ACLR1 only
34-44 dB), in two stages:

1. WOLA (windowed overlap-add), always on unless ``wola_cp_fraction=0``: each OFDM symbol
   (CP + useful part) is extended cyclically by ``Wr/2`` samples on both sides and tapered by
   ramps of ``Wr`` samples centred on the symbol boundaries; neighbouring symbols overlap-add
   over those ``Wr`` samples, the last symbol overlapping the first (circularly) so that the ARB
   loop is seamless. ``Wr = 0.5 * normal CP`` (144 samples at N_FFT 4096, 1.17 us at 30 kHz):
   the ramps touch only the first and last CP/4 of each symbol period, outside the 38.104
   Annex B EVM window (W = 50 % of the CP centred in the CP: the two FFTs start CP/4 and 3CP/4
   into the CP) [verify W per bandwidth against 38.104 Table B.5.2-1; 38.101-2 Table F.5.3-1
   uses 50 %]. The ramps are power-complementary, ``sin(pi/2 * raised cosine)``, so the mean
   power over the overlaps equals the per-RE power (a plain raised cosine dips to 3/4 there
   and would bias SNRs referred to mean power by ~0.4 % in EVM).
2. Channel filter, on by default when ``oversampling > 1``: a linear-phase Kaiser FIR
   (``ChannelFilter``; 70 dB attenuation and passband ripple, pass to BW_Config/2 + SCS, stop
   from BW_Channel - BW_Config/2, the inner edge of the ACLR1 band), applied circularly. At x1
   the adjacent channels lie outside the span, so the x1 waveform stays unfiltered and exactly
   flat in-band (the ideal EVM reference: EVM < 1e-10 %).

Measured with TM1.1, 1 ms, ``oversampling_for_aclr`` (x3-x5), Welch PSD with 30 kHz RBW, BS
ACLR set of benchbot.analysis.nr_bands, worst side (tests/test_nr_waveform.py re-checks some):

=================  =========  =================  =================  ======  =======  =====
configuration      raw ACLR1  WOLA ACLR1/ACLR2   WOLA+FIR ACLR1/2   FIR     EVM      OBW
=================  =========  =================  =================  ======  =======  =====
5 MHz / 15 kHz     35.0 dB    61.7 / 109.5 dB    106.0 / 150.5 dB   275 t   0.055 %  0.892
20 MHz / 15 kHz    41.0 dB    83.1 / 138.0 dB    125.0 / 179.8 dB   589 t   0.008 %  0.944
5 MHz / 30 kHz     34.0 dB    60.0 / 95.2 dB     116.5 / 150.2 dB   133 t   0.081 %  0.786
50 MHz / 30 kHz    40.7 dB    88.3 / 144.2 dB    142.8 / 198.2 dB   637 t   0.005 %  0.948
100 MHz / 30 kHz   43.7 dB    87.7 / 158.6 dB    140.8 / 213.5 dB   1573 t  0.006 %  0.973
10 MHz / 60 kHz    34.6 dB    60.1 / 95.6 dB     128.9 / 165.0 dB   133 t   0.076 %  0.786
=================  =========  =================  =================  ======  =======  =====

(EVM through benchbot.analysis.evm at the oversampled rate, over the PDSCH data REs, from the
FIR's 70 dB ripple and the part of the edge subcarriers' skirts it removes; OBW = 99 % occupied
bandwidth / BW_Channel. ACLR/OBW were measured before the PDCCH/DM-RS structure was added; every
RE still has 0 dB EPRE in TM1.1, so the PSD is unchanged in expectation; EVM and PAPR re-measured.)
Every valid (BW, SCS) pair reaches ACLR1 >= 106 dB, ACLR2 >= 150 dB with both stages. PAPR at
0.01 % CCDF is 9.3-9.8 dB (TM1.1, 1 ms; all five test models at 100 MHz, 10 ms: 9.6-9.7 dB).
Generating 1 ms of 100 MHz x5 (614.4 MS/s) takes ~0.1 s.

Framing (38.141-1 §4.9.2: a test model lasts 1 frame = 10 ms for FDD, 2 frames = 20 ms for
TDD; ``n_slots=None`` builds that, a smaller ``n_slots`` a shortened waveform, flagged in the
metadata). FDD: every slot downlink. TDD: a ``TddPattern`` (TS 38.331 TDD-UL-DL-Pattern
semantics) marks each symbol D (downlink), G (guard/flexible) or U (uplink); G and U symbols
carry no energy (zeros) and have ``qm = 0`` and no channel in ``re_channel``, so the EVM (which
only counts PDSCH data REs) is computed over DL symbols only. Patterns: see ``TDD_PATTERNS``.

Test models (38.141-1 §4.9.2.2: NR-FR1-TM1.1 §4.9.2.2.1, TM3.1 §4.9.2.2.5, TM3.1a §4.9.2.2.6,
TM3.2 §4.9.2.2.7, TM3.3 §4.9.2.2.8), one layer, one antenna port, BWP = carrier, point A offset 0
(CRB 0 = subcarrier 0 of the grid). In every slot with DL symbols (its first ``n_dl``):

- CORESET: symbols 0-1, RBs 0-5, non-interleaved CCE-to-REG mapping, REG bundle 2; one PDCCH
  of 1 CCE (aggregation level 1) = REGs 0-5 = RBs 0-2 x symbols 0-1, QPSK at 0 dB; its DM-RS on
  ``k = 12n + 4k' + 1`` (38.211 §7.4.1.3.2), QPSK from the Gold sequence with
  ``c_init = (2^17 (14 n_s + l + 1)(2 N_ID + 1) + 2 N_ID) mod 2^31`` (§7.4.1.3.1), 0 dB;
- PDSCH: PRBs 3..N_RB-1 on symbols 0..n_dl-1 (the rest of the CORESET carries PDSCH) and
  PRBs 0-2 on symbols 2..n_dl-1 (the PDSCH time-multiplexed with the PDCCH, 38.141-1 from
  V15.2.0), mapping type A;
- PDSCH DM-RS: dmrs-TypeA-Position pos2, single symbol, configuration type 1, port 1000,
  dmrs-AdditionalPosition pos1, so symbols {2, 11} in a full slot and per Table 7.4.1.1.2-3
  (``l_d = n_dl``) in a TDD special slot ({2, 9} for 10 or 12 DL symbols, {2} for 6); the even
  subcarriers ``k = 4n + 2k'`` carry ``r(2n + k')`` of the Gold sequence with
  ``c_init = (2^17 (14 n_s + l + 1)(2 N_ID + 1) + 2 N_ID + n_SCID) mod 2^31``, ``n_SCID = 0``,
  ``N_ID = N_ID^cell`` (``n_cell_id``, default 1) and ``n_s`` the slot number in the frame
  (§7.4.1.1.1-2); one CDM group without data, so PDSCH data fills the odd subcarriers and
  beta_DMRS = 0 dB (38.214 Table 4.1-1);
- PDSCH data: the test model's modulation (``TEST_MODELS``) at 0 dB EPRE on every PDSCH RE for
  TM1.1, TM3.1 and TM3.1a (full allocation, no boosting). TM3.2 (16QAM at -3 dB) and TM3.3
  (QPSK at -6 dB) put the target PDSCH on a PRG-aligned subset of PRBs 3.. (``TEST_MODEL_SPLIT``,
  ``split_target_prbs``) and a QPSK PDSCH boosted to keep the mean EPRE at 0 dB on the others;
  their PRBs 0-2 carry QPSK. [verify the TM3.2/TM3.3 PRB sets against 38.141-1 Tables
  4.9.2.2.7-1/4.9.2.2.8-1]

The layout follows the public generators that reproduce 38.141-1 (MathWorks
hNRReferenceWaveformGenerator, spec V16.7.0; py5gphy nr_testmodel); the spec tables themselves
were not available here [verify CORESET 6 RB / PDCCH 1 CCE / pos1 against 38.141-1 Table
4.9.2.2-1 and §4.9.2.3]. ``re_channel`` marks what each RE carries; EVM (benchbot.analysis.evm)
is measured on the PDSCH data REs only (38.104 §6.5.3 and Annex B; 38.141-1 §6.5.3 [verify
clause]), DM-RS and PDCCH being known REs that the equaliser may use.

Still simplified against 38.141-1 §4.9.2: no SSB/PBCH (MathWorks' generator leaves it out of
the test models too: the DM-RS serve synchronisation [verify]), no CSI-RS, no PT-RS (FR1 test
models have none); the PDSCH and PDCCH payloads are seeded uniform random bits from numpy's
PCG64 instead of the PN23 sequence of §4.9.2.3 scrambled per 38.211 §7.3.1.1/§7.3.2.3 (the
waveform is statistically the same but not bit-exact), no DCI coding; single carrier (N_ID^cell
per carrier not incremented); no 38.211 §5.4 upconversion phase term; dmrs-AdditionalPosition
limited to pos0/pos1 (``pdsch_dmrs_symbols``).

Normalisation: ``iq`` has mean power 1 (``mean(|x|^2) = 1``) over the DL-transmitted samples
(the whole waveform for FDD; the DL symbols only for TDD, so a TDD file's whole-period RMS is
lower by the DL duty cycle). ``papr_db`` is the 0.01 % CCDF point over the same samples.

EVM of oversampled captures: the reference grid does not depend on the sample rate.
``measure_evm`` demodulates at the reference waveform's own rate (FFT size and CP scaled by the
oversampling), so ``measure_evm(w.iq, w.sample_rate_hz, w)`` works for any ``w``. A capture at
another rate (an analyzer captures at its own rate, >= the native rate) is first brought to the
native rate with ``match_reference_rate`` (``scipy.signal.resample_poly``) and measured against
``w.native_reference()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, cached_property
from types import ModuleType
from typing import Any

import numpy as np


def _signal() -> ModuleType:
    """``scipy.signal``, imported on first use: it costs ~70 MB and half a second, and the NR
    tables here are also read by the plan validator in processes that never synthesise a
    waveform (``benchbot validate``, an idle bench agent)."""
    from scipy import signal

    return signal


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

#: test models (38.141-1 §4.9.2.2): name -> modulation of the target PDSCH (the one under test)
TEST_MODELS: dict[str, str] = {
    "NR-FR1-TM1.1": "QPSK",
    "NR-FR1-TM3.1": "64QAM",
    "NR-FR1-TM3.1a": "256QAM",
    "NR-FR1-TM3.2": "16QAM",
    "NR-FR1-TM3.3": "QPSK",
}
#: test models with a power-balanced split of PRBs 3..N_RB-1 (38.141-1 §4.9.2.2.7 TM3.2,
#: §4.9.2.2.8 TM3.3): name -> (share of PRBs in the target PDSCH, its EPRE in dB). The other
#: PRBs carry a QPSK PDSCH boosted so that the mean EPRE stays 0 dB. TM1.1/TM3.1/TM3.1a are
#: full allocations at 0 dB (§4.9.2.2.1, §4.9.2.2.5, §4.9.2.2.6).
TEST_MODEL_SPLIT: dict[str, tuple[float, float]] = {
    "NR-FR1-TM3.2": (0.6, -3.0),
    "NR-FR1-TM3.3": (0.5, -6.0),
}

SYMBOLS_PER_SLOT = 14

# --- test-model channel layout (38.141-1 §4.9.2.2, as in public generators; see module doc) ---
#: CORESET: the first 2 symbols of every slot carrying DL, 6 RBs from RB 0, non-interleaved
CORESET_SYMBOLS = 2
CORESET_N_RB = 6
#: one PDCCH with 1 CCE (aggregation level 1): 6 REGs = RBs 0-2 over the 2 CORESET symbols
PDCCH_N_RB = 3
#: PDSCH DM-RS: mapping type A, dmrs-TypeA-Position pos2, single symbol, configuration type 1,
#: dmrs-AdditionalPosition pos1, port 1000 (CDM group 0), 1 CDM group without data
DMRS_TYPE_A_POSITION = 2
DMRS_ADDITIONAL_POSITION = 1
#: 38.141-1 §4.9.2.2: N_ID^cell = 1 for the lowest configured carrier (early versions used 0)
DEFAULT_N_CELL_ID = 1
#: ``NRWaveform.re_channel`` codes: what each resource element carries
RE_EMPTY, RE_PDSCH, RE_PDSCH_DMRS, RE_PDCCH, RE_PDCCH_DMRS = 0, 1, 2, 3, 4
RE_CHANNEL_NAMES: dict[int, str] = {RE_PDSCH: "PDSCH", RE_PDSCH_DMRS: "PDSCH DM-RS",
                                    RE_PDCCH: "PDCCH", RE_PDCCH_DMRS: "PDCCH DM-RS"}
#: 38.211 Table 7.4.1.1.2-3, mapping type A, single-symbol DM-RS: l_d -> positions after l0,
#: for dmrs-AdditionalPosition pos1 (l1 = 11: no LTE-CRS rate matching)
_DMRS_POS1_AFTER_L0: dict[int, tuple[int, ...]] = {8: (7,), 9: (7,), 10: (9,), 11: (9,),
                                                    12: (9,), 13: (11,), 14: (11,)}
KAPPA = 64  # 38.211 §4.1, kappa = Ts/Tc

#: default WOLA ramp length as a fraction of the normal CP (see module docstring)
WOLA_CP_FRACTION = 0.5
#: channel FIR: Kaiser-window design for this stopband attenuation (= passband ripple) in dB
CHANNEL_FILTER_ATTENUATION_DB = 70.0
#: CCDF probability at which ``papr_db`` is read (rf-measurements-and-scpi.md §1.1)
PAPR_CCDF_PROBABILITY = 1e-4
DUPLEX_MODES = ("FDD", "TDD")
#: 38.141-1 §4.9.2: test-model duration, FDD 1 frame, TDD 2 frames
TEST_MODEL_DURATION_S: dict[str, float] = {"FDD": 10e-3, "TDD": 20e-3}
NORMALISATION = "mean power 1 (mean |x|^2 = 1) over the DL-transmitted samples"
TEST_MODEL_STRUCTURE = (
    "38.141-1 §4.9.2.2 layout: CORESET symbols 0-1 x RBs 0-5 with one AL1 PDCCH on RBs 0-2 "
    "(QPSK + DM-RS), PDSCH mapping type A with DM-RS type 1 pos2 + pos1 (N_ID = cell ID), "
    "TM EPRE per TEST_MODEL_SPLIT; seeded random payload instead of PN23; no SSB/CSI-RS")


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


def oversampling_for_aclr(bandwidth_mhz: int, scs_khz: int, margin_hz: float = 1e6) -> int:
    """Smallest oversampling whose span holds ACLR2 and PA regrowth (rf-measurements §3.3 step 1).

    Needs ``fs >= 2*(2*BW + BW_Config/2)`` (the outer edge of the ±2·BW adjacent channel,
    38.104 Table 6.6.3.5.2-1) and ``fs >= 5*BW`` (IM5 regrowth to ±2.5·BW), plus ``margin_hz``.
    100 MHz / 30 kHz -> 5 (614.4 MS/s), 20 MHz / 15 kHz -> 4 (122.88 MS/s).
    """
    nrb = n_rb(bandwidth_mhz, scs_khz)
    bw = bandwidth_mhz * 1e6
    need = max(2 * (2 * bw + bw_config_hz(bandwidth_mhz, scs_khz) / 2), 5 * bw) + margin_hz
    return int(np.ceil(need / (fft_size_for(nrb) * scs_khz * 1e3)))


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


# --------------------------------------------------------------------------------------------
# test-model resource grid: PDCCH/CORESET, PDSCH DM-RS, PDSCH (38.141-1 §4.9.2, 38.211 §7)
# --------------------------------------------------------------------------------------------

_GOLD_NC = 1600  # 38.211 §5.2.1


@cache
def _gold_x1(length: int) -> np.ndarray:
    """The x1 m-sequence of 38.211 §5.2.1 (x1(0) = 1, x1(1..30) = 0), ``length`` values."""
    x1 = np.zeros(length + 31, dtype=np.uint8)
    x1[0] = 1
    for n in range(0, length, 28):  # x1(n+31) needs x1(n..n+3): 28 new values per step
        b = min(28, length - n)
        x1[n + 31:n + 31 + b] = x1[n + 3:n + 3 + b] ^ x1[n:n + b]
    return x1[:length]


def gold_sequence(c_init: np.ndarray | int, length: int) -> np.ndarray:
    """Pseudo-random sequence c(n), n < ``length``, of 38.211 §5.2.1 for each ``c_init``.

    ``c(n) = (x1(n + Nc) + x2(n + Nc)) mod 2``, Nc = 1600, x2 initialised with the bits of
    c_init (LSB = x2(0)). Returns uint8 of shape ``(len(c_init), length)`` (or ``(length,)``).
    """
    ci = np.atleast_1d(np.asarray(c_init, dtype=np.int64))
    total = length + _GOLD_NC
    x2 = np.zeros((ci.size, total + 31), dtype=np.uint8)
    x2[:, :31] = (ci[:, None] >> np.arange(31)) & 1
    for n in range(0, total, 28):
        b = min(28, total - n)
        x2[:, n + 31:n + 31 + b] = (x2[:, n + 3:n + 3 + b] ^ x2[:, n + 2:n + 2 + b]
                                    ^ x2[:, n + 1:n + 1 + b] ^ x2[:, n:n + b])
    c = _gold_x1(total)[_GOLD_NC:] ^ x2[:, _GOLD_NC:total]
    return c if np.ndim(c_init) else c[0]


def dmrs_c_init(slot_in_frame: int, symbol: int, n_id: int, n_scid: int = 0,
                pdcch: bool = False) -> int:
    """DM-RS scrambling seed (38.211 §7.4.1.1.1 PDSCH, §7.4.1.3.1 PDCCH).

    PDSCH: ``(2^17 (14 n_s + l + 1)(2 N_ID + 1) + 2 N_ID + n_SCID) mod 2^31`` (the Rel-16
    ``2^17 floor(lambda/2)`` term is 0 for CDM group 0); PDCCH: the same without ``n_SCID``.
    """
    a = 2**17 * (SYMBOLS_PER_SLOT * slot_in_frame + symbol + 1) * (2 * n_id + 1) + 2 * n_id
    return int((a + (0 if pdcch else n_scid)) % 2**31)


def pdsch_dmrs_symbols(n_symbols: int, additional_position: int = DMRS_ADDITIONAL_POSITION,
                       type_a_position: int = DMRS_TYPE_A_POSITION) -> tuple[int, ...]:
    """PDSCH DM-RS symbols of a mapping-type-A PDSCH ending at symbol ``n_symbols - 1``.

    38.211 §7.4.1.1.2, Table 7.4.1.1.2-3 (single symbol), ``l_d = n_symbols`` (type A counts
    from the slot start). Only pos0 and pos1 are tabulated here; l_d < 3 has no DM-RS.
    """
    if additional_position not in (0, 1):
        raise ValueError("only dmrs-AdditionalPosition pos0/pos1 are implemented")
    if n_symbols < 3 or n_symbols <= type_a_position:
        return ()
    extra = _DMRS_POS1_AFTER_L0.get(n_symbols, ()) if additional_position else ()
    return (type_a_position, *extra)


def prg_size(n_prb: int) -> int:
    """PRG size P for a BWP of ``n_prb`` (38.214 Table 5.1.2.2.1-1, configuration 1)."""
    return 2 if n_prb <= 36 else 4 if n_prb <= 72 else 8 if n_prb <= 144 else 16


def split_target_prbs(nrb: int, share: float, target_db: float,
                      first: int = PDCCH_N_RB) -> tuple[np.ndarray, float]:
    """Target PRBs of TM3.2/TM3.3 and the EPRE (dB) of the balancing PRBs.

    PRBs ``first..nrb-1`` (those not under the PDCCH) are split on PRG boundaries: every other
    PRG from the second one, plus the last whole PRG, up to ``share`` of them (38.141-1
    §4.9.2.2.7/8 as implemented by MathWorks' hNRReferenceWaveformGenerator [verify the exact
    PRB sets against the spec tables]). The balancing EPRE keeps the mean over those PRBs at
    0 dB: ``10 log10((n - 10^(t/10) n_t) / (n - n_t))``.
    """
    n = nrb - first
    p = prg_size(n)
    nprg_max = (n + first % p - p) // p
    nprg = max(1, min(int(share * n / p), (nprg_max - nprg_max % 2) // 2 + 1))
    last = (n + first % p) // p - 1
    prgs = np.array([1 + 2 * i for i in range(nprg - 1)] + [last])
    prbs = ((p * (first // p) + p * prgs)[:, None] + np.arange(p)).ravel()
    prbs = np.unique(prbs[(prbs >= first) & (prbs < nrb)])
    n_t = prbs.size
    balance_db = 10 * np.log10((n - 10 ** (target_db / 10) * n_t) / (n - n_t))
    return prbs, float(balance_db)


def _prb_plan(test_model: str, nrb: int) -> tuple[np.ndarray, np.ndarray]:
    """Q_m and amplitude of the PDSCH on each PRB (PRBs 0-2: the PDSCH under the PDCCH)."""
    qm_t = MODULATIONS[TEST_MODELS[test_model]]
    qm = np.full(nrb, qm_t, dtype=np.int8)
    amp = np.ones(nrb)
    if test_model in TEST_MODEL_SPLIT:
        share, target_db = TEST_MODEL_SPLIT[test_model]
        target, balance_db = split_target_prbs(nrb, share, target_db)
        qm[:] = MODULATIONS["QPSK"]  # the balancing PDSCH and the one under the PDCCH
        amp[PDCCH_N_RB:] = 10 ** (balance_db / 20)
        qm[target], amp[target] = qm_t, 10 ** (target_db / 20)
    return qm, amp


def _slot_layout(n_dl: int, nrb: int, prb_qm: np.ndarray, prb_amp: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...], int]:
    """RE content, Q_m and amplitude of one slot whose first ``n_dl`` symbols are DL."""
    n_sc = nrb * 12
    ch = np.zeros((SYMBOLS_PER_SLOT, n_sc), dtype=np.int8)
    ch[:n_dl] = RE_PDSCH
    n_cs = min(CORESET_SYMBOLS, n_dl)
    pd = PDCCH_N_RB * 12
    ch[:n_cs, :pd] = RE_PDCCH
    ch[:n_cs, 1:pd:4] = RE_PDCCH_DMRS  # k = 12n + 4k' + 1 (38.211 §7.4.1.3.2)
    dmrs = pdsch_dmrs_symbols(n_dl)
    ch[list(dmrs), 0::2] = RE_PDSCH_DMRS  # type 1, CDM group 0: k = 4n + 2k' (§7.4.1.1.2)
    sc_qm, sc_amp = np.repeat(prb_qm, 12), np.repeat(prb_amp, 12)
    pdsch = (ch == RE_PDSCH) | (ch == RE_PDSCH_DMRS)
    amp = np.where(pdsch, sc_amp, np.where(ch > 0, 1.0, 0.0))  # DM-RS: beta_DMRS 0 dB
    qm = np.where(ch == RE_PDSCH, sc_qm, np.where(ch > 0, 2, 0)).astype(np.int8)
    return ch, qm, amp, dmrs, n_cs


def build_test_model_grid(test_model: str, nrb: int, directions: np.ndarray, slots_per_frame: int,
                    n_cell_id: int, rng: np.random.Generator,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resource grid of a test model: ``(grid, qm, re_channel)``, each (n_symbols, nrb*12).

    Per slot (its DL symbols being the first ``n_dl``): PDCCH (QPSK, RBs 0-2, symbols 0-1, its
    DM-RS on k = 1, 5, 9 of each RB); PDSCH on PRBs 3.. from symbol 0 and on PRBs 0-2 from
    symbol 2; PDSCH DM-RS (type A, Table 7.4.1.1.2-3) on the even subcarriers of its symbols,
    data on the odd ones. DM-RS are QPSK Gold sequences seeded per slot-in-frame and symbol with
    ``N_ID = n_cell_id``; PDSCH/PDCCH payloads are seeded random bits (no PN23, no coding).
    """
    n_sc = nrb * 12
    n_slots = directions.size // SYMBOLS_PER_SLOT
    dl = (directions == "D").reshape(n_slots, SYMBOLS_PER_SLOT)
    n_dl = dl.sum(axis=1)
    if not np.all(dl == (np.arange(SYMBOLS_PER_SLOT) < n_dl[:, None])):
        raise ValueError("the DL symbols of each slot must be its first symbols")
    prb_qm, prb_amp = _prb_plan(test_model, nrb)
    ch = np.zeros((n_slots, SYMBOLS_PER_SLOT, n_sc), dtype=np.int8)
    qm = np.zeros(ch.shape, dtype=np.int8)
    amp = np.zeros(ch.shape)
    seeds: list[tuple[int, int, int, bool]] = []  # (slot, symbol, c_init, pdcch)
    for nd in np.unique(n_dl[n_dl > 0]):
        c1, q1, a1, dmrs, n_cs = _slot_layout(int(nd), nrb, prb_qm, prb_amp)
        rows = np.flatnonzero(n_dl == nd)
        ch[rows], qm[rows], amp[rows] = c1, q1, a1
        for s in rows:
            ns = int(s) % slots_per_frame
            seeds += [(int(s), sym, dmrs_c_init(ns, sym, n_cell_id), False) for sym in dmrs]
            seeds += [(int(s), sym, dmrs_c_init(ns, sym, n_cell_id, pdcch=True), True)
                      for sym in range(n_cs)]
    grid = np.zeros(ch.shape, dtype=np.complex128)
    if seeds:
        c = gold_sequence(np.array([x[2] for x in seeds]), n_sc)
        pd_k = np.arange(1, PDCCH_N_RB * 12, 4)
        for (s, sym, _, is_pdcch), bits in zip(seeds, c, strict=True):
            r = qam_map(bits.reshape(-1, 2), 2)  # r(m) = ((1-2c(2m)) + j(1-2c(2m+1)))/sqrt 2
            if is_pdcch:
                grid[s, sym, pd_k] = r[:pd_k.size]  # r_l(3n + k'), n from CRB 0
            else:
                grid[s, sym, 0::2] = r[:n_sc // 2]  # r(2n + k') at k = 4n + 2k'
    for code in (RE_PDSCH, RE_PDCCH):
        for q in np.unique(qm[ch == code]):
            sel = (ch == code) & (qm == q)
            grid[sel] = qam_map(rng.integers(0, 2, size=(int(sel.sum()), int(q)),
                                             dtype=np.int8), int(q))
    grid *= amp
    shape = (n_slots * SYMBOLS_PER_SLOT, n_sc)
    return grid.reshape(shape), qm.reshape(shape), ch.reshape(shape)


# --------------------------------------------------------------------------------------------
# TDD framing
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TddPattern:
    """One TDD UL/DL pattern with TS 38.331 ``TDD-UL-DL-Pattern`` semantics, in slots of its SCS.

    A period of ``period_slots`` slots: ``n_dl_slots`` full DL slots, then ``n_dl_symbols`` DL
    symbols at the start of the next slot; ``n_ul_slots`` full UL slots at the end, preceded by
    ``n_ul_symbols`` UL symbols at the end of the slot before them; every other symbol is
    flexible, used here as guard (G: no transmission).
    """

    name: str
    scs_khz: int
    period_slots: int
    n_dl_slots: int
    n_dl_symbols: int
    n_ul_slots: int
    n_ul_symbols: int
    source: str

    def __post_init__(self) -> None:
        n_sym = self.period_slots * SYMBOLS_PER_SLOT
        dl = self.n_dl_slots * SYMBOLS_PER_SLOT + self.n_dl_symbols
        ul = self.n_ul_slots * SYMBOLS_PER_SLOT + self.n_ul_symbols
        if dl < 1 or dl + ul > n_sym:
            raise ValueError(f"TDD pattern {self.name!r}: {dl} DL + {ul} UL symbols do not fit "
                             f"in {self.period_slots} slots")

    @property
    def period_s(self) -> float:
        return self.period_slots * 1e-3 / 2 ** Numerology(self.scs_khz).mu

    def symbol_directions(self) -> np.ndarray:
        """Direction of each symbol of one period, ``'D'``, ``'G'`` or ``'U'`` (dtype ``<U1``)."""
        n_sym = self.period_slots * SYMBOLS_PER_SLOT
        d = np.full(n_sym, "G", dtype="<U1")
        d[: self.n_dl_slots * SYMBOLS_PER_SLOT + self.n_dl_symbols] = "D"
        d[n_sym - self.n_ul_slots * SYMBOLS_PER_SLOT - self.n_ul_symbols:] = "U"
        return d

    @property
    def slot_string(self) -> str:
        """Slot-level pattern, e.g. ``DDDDDDDSUU`` (S = a slot mixing D, G and U symbols)."""
        d = self.symbol_directions().reshape(self.period_slots, SYMBOLS_PER_SLOT)
        return "".join(row[0] if (row == row[0]).all() else "S" for row in d)

    @property
    def special_slots(self) -> str:
        """Symbol split of each special slot, e.g. ``6D:4G:4U``."""
        d = self.symbol_directions().reshape(self.period_slots, SYMBOLS_PER_SLOT)
        splits = []
        for row in d:
            if not (row == row[0]).all():
                splits.append(":".join(f"{int(np.sum(row == c))}{c}" for c in "DGU"
                                       if np.any(row == c)))
        return ", ".join(splits)

    def describe(self) -> str:
        return (f"{self.slot_string} (S = {self.special_slots}), {self.period_s * 1e3:g} ms "
                f"period at {self.scs_khz} kHz; {self.source}")


_TS38141_1 = ("3GPP TS 38.141-1 Table 4.9.2.2-1 (FR1 test-model TDD configuration), values as "
              "reproduced in public test-model code [verify against the spec]")
_TS38521_4 = "3GPP TS 38.521-4 Table A.1.2-1 FR1.15-1 / A.1.2-2 FR1.30-2 (DDDSU, 10D+2G+2U)"

#: name -> {SCS kHz: pattern}. "38.141-1" (the test-model default): 5 ms period; 15 kHz DDDSU
#: 10D:2G:2U, 30 kHz DDDDDDDSUU 6D:4G:4U, 60 kHz 14 D slots, 12 D / 8 U symbols, 4 U slots
#: ([verify] the 60 kHz column). "DDDSU": the common n78 operator pattern, 2.5 ms at 30 kHz,
#: S = 10D:2G:2U (38.521-4 FR1.30-2); at 15 kHz it is 5 ms (FR1.15-1); no 60 kHz entry.
TDD_PATTERNS: dict[str, dict[int, TddPattern]] = {
    "38.141-1": {
        15: TddPattern("38.141-1", 15, 5, 3, 10, 1, 2, _TS38141_1),
        30: TddPattern("38.141-1", 30, 10, 7, 6, 2, 4, _TS38141_1),
        60: TddPattern("38.141-1", 60, 20, 14, 12, 4, 8, _TS38141_1 + " [verify 60 kHz]"),
    },
    "DDDSU": {
        15: TddPattern("DDDSU", 15, 5, 3, 10, 1, 2, _TS38521_4),
        30: TddPattern("DDDSU", 30, 5, 3, 10, 1, 2, _TS38521_4),
    },
}
DEFAULT_TDD_PATTERN = "38.141-1"


def tdd_pattern(name: str, scs_khz: int) -> TddPattern:
    """The named TDD pattern at ``scs_khz`` (ValueError naming what exists)."""
    table = TDD_PATTERNS.get(name)
    if table is None:
        raise ValueError(f"unknown TDD pattern {name!r}; known: {sorted(TDD_PATTERNS)}")
    if scs_khz not in table:
        raise ValueError(f"TDD pattern {name!r} is not defined at {scs_khz} kHz SCS "
                         f"(defined at {sorted(table)} kHz)")
    return table[scs_khz]


# --------------------------------------------------------------------------------------------
# rate conversion (used for captures at an analyzer's own rate)
# --------------------------------------------------------------------------------------------

def _rate_ratio(fs_in_hz: float, fs_out_hz: float, max_den: int = 100_000) -> Fraction:
    ratio = Fraction(fs_out_hz / fs_in_hz).limit_denominator(max_den)
    if abs(float(ratio) * fs_in_hz - fs_out_hz) > 1e-12 * fs_out_hz:
        raise ValueError(f"{fs_in_hz} Hz -> {fs_out_hz} Hz is not a rational ratio with "
                         f"denominator <= {max_den}")
    return ratio


def resample_iq(iq: np.ndarray, fs_in_hz: float, fs_out_hz: float) -> np.ndarray:
    """Resample complex IQ by the exact rational ratio ``fs_out/fs_in`` (``resample_poly``).

    The polyphase filter is scipy's default Kaiser (beta 5) low-pass at the lower Nyquist rate;
    its group delay is compensated, so sample 0 stays at time 0.
    """
    x = np.asarray(iq, dtype=np.complex128).ravel()
    if np.isclose(fs_in_hz, fs_out_hz, rtol=1e-12):
        return x.copy()
    r = _rate_ratio(fs_in_hz, fs_out_hz)
    return _signal().resample_poly(x, r.numerator, r.denominator)


# --------------------------------------------------------------------------------------------
# channel filter
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelFilter:
    """Linear-phase low-pass FIR (Kaiser window, ``scipy.signal.kaiserord``/``firwin``).

    Passband to ``pass_edge_hz = BW_Config/2 + SCS`` (the outermost subcarriers and half of their
    main lobes), stopband from ``stop_edge_hz = BW_Channel - BW_Config/2``, the inner edge of
    the ACLR1 measurement band (38.104 §6.6.3: adjacent channel centred at ±BW_Channel, square
    filter of width BW_Config). Applied circularly with its delay removed, so symbol timing
    stays put and the ARB loop stays seamless.
    """

    pass_edge_hz: float
    stop_edge_hz: float
    attenuation_db: float
    n_taps: int
    kaiser_beta: float
    sample_rate_hz: float

    def taps(self) -> np.ndarray:
        cutoff = (self.pass_edge_hz + self.stop_edge_hz) / 2
        return _signal().firwin(self.n_taps, cutoff, window=("kaiser", self.kaiser_beta),
                           fs=self.sample_rate_hz)

    def describe(self) -> str:
        return (f"Kaiser FIR, {self.n_taps} taps (beta {self.kaiser_beta:.2f}) at "
                f"{self.sample_rate_hz / 1e6:g} MS/s, pass <= {self.pass_edge_hz / 1e6:.4f} MHz, "
                f"stop >= {self.stop_edge_hz / 1e6:.4f} MHz, {self.attenuation_db:g} dB "
                f"attenuation / ripple, applied circularly (zero phase)")


def design_channel_filter(bandwidth_mhz: int, scs_khz: int, sample_rate_hz: float,
                          attenuation_db: float = CHANNEL_FILTER_ATTENUATION_DB,
                          ) -> ChannelFilter:
    """The channel FIR for this carrier at ``sample_rate_hz`` (see ``ChannelFilter``)."""
    bwc = bw_config_hz(bandwidth_mhz, scs_khz)
    f_pass = bwc / 2 + scs_khz * 1e3
    f_stop = bandwidth_mhz * 1e6 - bwc / 2
    if f_stop >= sample_rate_hz / 2:
        raise ValueError(f"sample rate {sample_rate_hz} Hz too low for the channel filter "
                         f"(stopband edge {f_stop} Hz)")
    n_taps, beta = _signal().kaiserord(attenuation_db, (f_stop - f_pass) / (sample_rate_hz / 2))
    return ChannelFilter(f_pass, f_stop, float(attenuation_db), int(n_taps) | 1, float(beta),
                         float(sample_rate_hz))


def _filter_circular(iq: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Circular convolution with an odd-length linear-phase FIR, delay removed."""
    half = taps.size // 2
    if half >= iq.size:
        raise ValueError(f"waveform ({iq.size} samples) shorter than the channel filter")
    ext = np.concatenate((iq[iq.size - half:], iq, iq[:half]))
    # real taps: filtering I and Q separately uses real FFTs (~5x faster than complex oaconvolve)
    out = _signal().oaconvolve(ext.real, taps, mode="valid").astype(np.complex128)
    out.imag = _signal().oaconvolve(ext.imag, taps, mode="valid")
    return out


# --------------------------------------------------------------------------------------------
# waveform
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NRWaveform:
    """A generated NR FR1 waveform and everything needed to demodulate it for EVM.

    All sample counts describe ``iq`` at ``sample_rate_hz`` (i.e. after oversampling):
    ``grid[l, k]`` is the ideal symbol on OFDM symbol ``l``, subcarrier ``k`` (0 where unused or
    not DL), ``qm[l, k]`` its bits per symbol (0 = not transmitted: EVM ignores it).
    ``symbol_starts[l]`` is the sample index of the start of symbol ``l``'s CP in ``iq``; its
    useful part (``fft_size`` samples) starts ``cp_lengths[l]`` later. ``symbol_directions[l]``
    is ``'D'``, ``'G'`` or ``'U'``. Normalisation: see ``NORMALISATION``.
    """

    iq: np.ndarray  # complex128, mean power 1 over the DL-transmitted samples
    sample_rate_hz: float
    numerology: Numerology
    bandwidth_mhz: int
    n_rb: int
    fft_size: int  # at sample_rate_hz (native FFT size * oversampling)
    test_model: str
    n_slots: int
    seed: int
    grid: np.ndarray  # (n_symbols, n_rb*12) complex128
    qm: np.ndarray  # (n_symbols, n_rb*12) int8
    symbol_starts: np.ndarray  # (n_symbols,) int64
    cp_lengths: np.ndarray  # (n_symbols,) int64
    oversampling: int = 1
    duplex: str = "FDD"
    tdd: TddPattern | None = None
    symbol_directions: np.ndarray | None = None  # (n_symbols,) '<U1'; None = all 'D'
    wola_samples: int = 0  # total WOLA ramp length at sample_rate_hz
    wola_cp_fraction: float = 0.0
    channel_filter: ChannelFilter | None = None
    normalisation: str = field(default=NORMALISATION)
    #: (n_symbols, n_rb*12) int8, RE_* codes (PDSCH data, DM-RS, PDCCH); None: all REs with
    #: qm > 0 are PDSCH data (grids built without the test-model structure)
    re_channel: np.ndarray | None = None
    n_cell_id: int = DEFAULT_N_CELL_ID

    @property
    def n_subcarriers(self) -> int:
        return self.n_rb * 12

    @property
    def n_symbols(self) -> int:
        return int(self.grid.shape[0])

    @property
    def scs_khz(self) -> int:
        return self.numerology.scs_khz

    @property
    def channel_bandwidth_hz(self) -> float:
        return self.bandwidth_mhz * 1e6

    @property
    def bw_config_hz(self) -> float:
        return self.n_subcarriers * self.numerology.scs_hz

    @property
    def native_fft_size(self) -> int:
        return self.fft_size // self.oversampling

    @property
    def native_sample_rate_hz(self) -> float:
        return self.sample_rate_hz / self.oversampling

    @property
    def subcarrier_offsets(self) -> np.ndarray:
        """Signed frequency index of each grid subcarrier, ``k - N_sc/2`` (38.211 §5.3.1)."""
        return np.arange(self.n_subcarriers) - self.n_subcarriers // 2

    @property
    def fft_bins(self) -> np.ndarray:
        """FFT bin of each grid subcarrier (numpy FFT order)."""
        return self.subcarrier_offsets % self.fft_size

    @property
    def pdsch_data_mask(self) -> np.ndarray:
        """REs carrying PDSCH data: the REs EVM is measured on (38.104 Annex B, 38.141-1 §6.5.3)."""
        if self.re_channel is None:
            return self.qm > 0
        return self.re_channel == RE_PDSCH

    def re_count(self) -> dict[str, int]:
        """Number of REs of each channel (``RE_CHANNEL_NAMES``) in the whole grid."""
        if self.re_channel is None:
            return {"PDSCH": int(np.sum(self.qm > 0))}
        return {name: int(np.sum(self.re_channel == code))
                for code, name in RE_CHANNEL_NAMES.items()}

    @property
    def directions(self) -> np.ndarray:
        """``symbol_directions`` with the FDD default (all ``'D'``) filled in."""
        if self.symbol_directions is None:
            return np.full(self.n_symbols, "D", dtype="<U1")
        return self.symbol_directions

    @property
    def dl_symbols(self) -> np.ndarray:
        """Boolean mask of the transmitted (DL) symbols: the only ones EVM counts."""
        return self.directions == "D"

    @cached_property
    def dl_sample_mask(self) -> np.ndarray:
        """Boolean mask of the samples of ``iq`` inside a DL symbol period (CP + useful part)."""
        mask = np.zeros(self.iq.size, dtype=bool)
        for s, c, dl in zip(self.symbol_starts, self.cp_lengths, self.dl_symbols, strict=True):
            if dl:
                mask[int(s):int(s + c + self.fft_size)] = True
        return mask

    @property
    def dl_duty_cycle(self) -> float:
        """Fraction of the waveform's samples that lie in DL symbols (1 for FDD)."""
        return float(np.mean(self.dl_sample_mask))

    @property
    def duration_s(self) -> float:
        return self.iq.size / self.sample_rate_hz

    @property
    def full_duration_s(self) -> float:
        """Duration of the 38.141-1 §4.9.2 test model (FDD 10 ms, TDD 20 ms)."""
        return TEST_MODEL_DURATION_S[self.duplex]

    @property
    def is_full_duration(self) -> bool:
        return bool(np.isclose(self.duration_s, self.full_duration_s, rtol=1e-9))

    @cached_property
    def papr_db(self) -> float:
        """PAPR at the 0.01 % CCDF point over the DL-transmitted samples (dB, computed)."""
        p = np.abs(self.iq[self.dl_sample_mask]) ** 2
        return float(10 * np.log10(np.quantile(p, 1 - PAPR_CCDF_PROBABILITY) / np.mean(p)))

    @property
    def crest_factor_db(self) -> float:
        """Peak-to-mean power over the DL-transmitted samples (dB)."""
        p = np.abs(self.iq[self.dl_sample_mask]) ** 2
        return float(10 * np.log10(np.max(p) / np.mean(p)))

    @property
    def shaping(self) -> str:
        """How the spectrum is shaped (for the record)."""
        parts = []
        if self.wola_samples:
            parts.append(f"WOLA: power-complementary sin(pi/2*raised-cosine) ramps of "
                         f"{self.wola_samples} samples ({self.wola_cp_fraction:g} x normal CP) "
                         f"centred on the symbol boundaries, circular overlap-add (EVM window "
                         f"CP/2 +- W/2 untouched for W <= {1 - self.wola_cp_fraction:g} x CP)")
        if self.channel_filter is not None:
            parts.append("channel filter: " + self.channel_filter.describe())
        return "; ".join(parts) if parts else "none (rectangular CP-OFDM symbols)"

    @property
    def name(self) -> str:
        frame = self.duplex if self.tdd is None else f"TDD {self.tdd.slot_string}"
        return (f"{self.test_model} {self.bandwidth_mhz} MHz {self.scs_khz} kHz {frame} "
                f"{self.n_slots} slots x{self.oversampling}")

    def metadata(self) -> dict[str, Any]:
        """Plain values describing this waveform for a measurement record (§5.3 "Waveform")."""
        note = "full test-model duration" if self.is_full_duration else (
            f"shortened: {self.duration_s * 1e3:g} ms of the {self.full_duration_s * 1e3:g} ms "
            f"38.141-1 §4.9.2 {self.duplex} test model")
        return {
            "name": self.name, "standard": "3GPP NR FR1 (TS 38.211/38.104)",
            "test_model": self.test_model, "test_model_simplified": True,
            "channel_bandwidth_hz": self.channel_bandwidth_hz, "bw_config_hz": self.bw_config_hz,
            "scs_hz": self.numerology.scs_hz, "n_rb": self.n_rb, "duplex": self.duplex,
            "tdd_pattern": None if self.tdd is None else self.tdd.describe(),
            "n_slots": self.n_slots, "duration_s": self.duration_s,
            "full_duration_s": self.full_duration_s, "duration_note": note,
            "sample_rate_hz": self.sample_rate_hz, "oversampling": self.oversampling,
            "native_sample_rate_hz": self.native_sample_rate_hz, "fft_size": self.fft_size,
            "papr_db": self.papr_db, "papr_ccdf_probability": PAPR_CCDF_PROBABILITY,
            "normalisation": self.normalisation, "dl_duty_cycle": self.dl_duty_cycle,
            "shaping": self.shaping, "seed": self.seed, "n_samples": int(self.iq.size),
            "n_symbols": self.n_symbols, "n_dl_symbols": int(np.sum(self.dl_symbols)),
            "n_cell_id": self.n_cell_id, "test_model_structure": TEST_MODEL_STRUCTURE,
            **{f"n_res_{name.lower().replace(' ', '_').replace('-', '')}": n
               for name, n in self.re_count().items()},
        }

    def native_reference(self) -> NRWaveform:
        """The same grid and framing at the native rate (x1) with the same WOLA, no channel FIR
        (as ``generate_nr`` builds x1 waveforms: at x1 the FIR's stopband may not even fit).

        Built once and cached: an EVM per sweep point reuses it.
        """
        return self._native

    @cached_property
    def _native(self) -> NRWaveform:
        if self.oversampling == 1:
            return self
        return _build(self.numerology, self.bandwidth_mhz, self.test_model, self.seed,
                      self.native_fft_size, 1, self.grid, self.qm, self.directions, self.tdd,
                      self.duplex, self.wola_cp_fraction, None, self.n_slots,
                      self.re_channel, self.n_cell_id)


def match_reference_rate(rx: np.ndarray, sample_rate_hz: float, reference: NRWaveform,
                         ) -> tuple[np.ndarray, NRWaveform]:
    """Bring a capture and its reference to one rate for EVM (38.104 Annex B works per symbol).

    At the reference's own rate: unchanged. Otherwise the capture must be at >= the native rate
    (``N_FFT * SCS``); it is resampled to the native rate (``resample_iq``) and paired with
    ``reference.native_reference()``.
    """
    x = np.asarray(rx, dtype=np.complex128).ravel()
    if np.isclose(sample_rate_hz, reference.sample_rate_hz, rtol=1e-9):
        return x, reference
    native = reference.native_sample_rate_hz
    if sample_rate_hz < native * (1 - 1e-9):
        raise ValueError(f"capture rate {sample_rate_hz} Hz is below the waveform's native rate "
                         f"{native} Hz (N_FFT x SCS)")
    return resample_iq(x, sample_rate_hz, native), reference.native_reference()


def _directions(pattern: TddPattern | None, n_slots: int) -> np.ndarray:
    """Direction of every symbol: all D (FDD) or the TDD period repeated from slot 0."""
    n_sym = n_slots * SYMBOLS_PER_SLOT
    if pattern is None:
        return np.full(n_sym, "D", dtype="<U1")
    period = pattern.symbol_directions()
    return np.resize(period, n_sym)  # repeats the period from slot 0


def _wola_ramp(n: int) -> np.ndarray:
    """Power-complementary rising ramp ``sin(pi/2 * rc)``, rc a raised cosine at half samples.

    ``ramp**2 + ramp[::-1]**2 == 1``: two independent symbols overlapping keep unit mean power
    (an amplitude-complementary raised cosine would dip to 3/4 there, lowering the waveform's
    mean power below the per-RE power by ~0.8 % and so biasing any SNR referred to mean power).
    Zero slope at both ends (rc has), so the spectral skirts fall as 1/f^3.
    """
    rc = 0.5 * (1 - np.cos(np.pi * (np.arange(n) + 0.5) / n))
    return np.sin(np.pi / 2 * rc)


def _synthesize(grid: np.ndarray, dl: np.ndarray, nfft: int, starts: np.ndarray,
                cp: np.ndarray, total: int, wola: int, chunk: int = 28) -> np.ndarray:
    """CP-OFDM with circular WOLA: every DL symbol extended by wola/2 each side and tapered."""
    n_sc = grid.shape[1]
    bins = (np.arange(n_sc) - n_sc // 2) % nfft
    half = wola // 2
    ramp = _wola_ramp(wola) if wola else np.empty(0)
    iq = np.zeros(total, dtype=np.complex128)
    todo = np.flatnonzero(dl)
    for i0 in range(0, todo.size, chunk):
        rows = todo[i0:i0 + chunk]
        freq = np.zeros((rows.size, nfft), dtype=np.complex128)
        freq[:, bins] = grid[rows]
        body = np.fft.ifft(freq, axis=1)
        for j, sym in enumerate(rows):
            c = int(cp[sym])
            b = body[j]
            seg = np.concatenate((b[nfft - c - half:], b, b[:half]))
            if wola:
                seg[:wola] *= ramp
                seg[-wola:] *= ramp[::-1]
            _add_circular(iq, int(starts[sym]) - half, seg)
    return iq


def _add_circular(out: np.ndarray, start: int, seg: np.ndarray) -> None:
    """``out[(start + i) % len(out)] += seg[i]`` with slices (seg shorter than out)."""
    n = out.size
    start %= n
    first = min(seg.size, n - start)
    out[start:start + first] += seg[:first]
    if first < seg.size:
        out[:seg.size - first] += seg[first:]


def _build(num: Numerology, bandwidth_mhz: int, test_model: str, seed: int, nfft0: int,
           osr: int, grid: np.ndarray, qm: np.ndarray, directions: np.ndarray,
           pattern: TddPattern | None, duplex: str, wola_fraction: float,
           filter_db: float | None, n_slots: int, re_channel: np.ndarray | None = None,
           n_cell_id: int = DEFAULT_N_CELL_ID) -> NRWaveform:
    nfft = nfft0 * osr
    n_sym = grid.shape[0]
    in_subframe = np.arange(n_sym) % (SYMBOLS_PER_SLOT * num.slots_per_subframe)
    cp = np.array([num.cp_length(nfft, int(i)) for i in in_subframe], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(cp + nfft)[:-1]]).astype(np.int64)
    total = int(starts[-1] + cp[-1] + nfft)
    normal_cp = num.cp_length(nfft, 1)
    wola = 2 * int(round(wola_fraction * normal_cp / 2))
    dl = directions == "D"
    iq = _synthesize(grid, dl, nfft, starts, cp, total, wola)
    fs = nfft * num.scs_hz
    chf = None
    if filter_db is not None:
        chf = design_channel_filter(bandwidth_mhz, num.scs_khz, fs, filter_db)
        iq = _filter_circular(iq, chf.taps())
    w = NRWaveform(iq=iq, sample_rate_hz=fs, numerology=num,
                   bandwidth_mhz=bandwidth_mhz, n_rb=grid.shape[1] // 12, fft_size=nfft,
                   test_model=test_model, n_slots=n_slots, seed=seed, grid=grid, qm=qm,
                   symbol_starts=starts, cp_lengths=cp, oversampling=osr, duplex=duplex,
                   tdd=pattern, symbol_directions=directions, wola_samples=wola,
                   wola_cp_fraction=wola_fraction, channel_filter=chf, re_channel=re_channel,
                   n_cell_id=n_cell_id)
    iq /= np.sqrt(np.mean(np.abs(iq[w.dl_sample_mask]) ** 2))
    return w


def _check_options(test_model: str, n_slots: int | None, duplex: str, oversampling: int,
                   wola_cp_fraction: float) -> None:
    if test_model not in TEST_MODELS:
        raise ValueError(f"unknown test model {test_model!r}; known: {sorted(TEST_MODELS)}")
    if n_slots is not None and n_slots < 1:
        raise ValueError("n_slots must be >= 1 (or None for the full test-model duration)")
    if duplex not in DUPLEX_MODES:
        raise ValueError(f"duplex must be one of {DUPLEX_MODES}, not {duplex!r}")
    if int(oversampling) != oversampling or oversampling < 1:
        raise ValueError(f"oversampling must be an integer >= 1, not {oversampling!r}")
    if not 0.0 <= wola_cp_fraction <= 1.0:
        raise ValueError("wola_cp_fraction must be within [0, 1] (fraction of the normal CP)")


def generate_nr(
    bandwidth_mhz: int = 100,
    scs_khz: int = 30,
    test_model: str = "NR-FR1-TM3.1",
    n_slots: int | None = 1,
    seed: int = 0,
    fft_size: int | None = None,
    *,
    duplex: str = "FDD",
    tdd: str | TddPattern = DEFAULT_TDD_PATTERN,
    oversampling: int = 1,
    wola_cp_fraction: float = WOLA_CP_FRACTION,
    channel_filter: bool | None = None,
    n_cell_id: int = DEFAULT_N_CELL_ID,
) -> NRWaveform:
    """Generate ``n_slots`` slots of an NR-FR1 test model (see the module docstring).

    ``n_slots=None``: the full 38.141-1 §4.9.2 duration (10 ms FDD, 20 ms TDD). ``fft_size``
    overrides the native FFT size; the output rate is ``fft_size * SCS * oversampling``.
    ``duplex="TDD"`` frames the slots with ``tdd`` (a ``TDD_PATTERNS`` name or a
    ``TddPattern``), slot 0 being the first slot of the pattern. ``channel_filter=None`` applies
    the channel FIR only when ``oversampling > 1`` (at x1 the adjacent channels are outside the
    span, and the unfiltered x1 waveform is exactly flat in-band, the ideal EVM reference);
    ``wola_cp_fraction=0`` and ``channel_filter=False`` give unshaped CP-OFDM. Deterministic
    for a given seed. ``n_cell_id`` seeds the DM-RS scrambling (N_ID = N_ID^cell, 38.211
    §7.4.1.1.1/§7.4.1.3.1).
    """
    _check_options(test_model, n_slots, duplex, oversampling, wola_cp_fraction)
    num = Numerology(scs_khz)
    nrb = n_rb(bandwidth_mhz, scs_khz)
    n_sc = nrb * 12
    nfft0 = fft_size_for(nrb) if fft_size is None else int(fft_size)
    if nfft0 < n_sc:
        raise ValueError(f"FFT size {nfft0} < {n_sc} occupied subcarriers")
    pattern = None
    if duplex == "TDD":
        pattern = tdd if isinstance(tdd, TddPattern) else tdd_pattern(tdd, scs_khz)
        if pattern.scs_khz != scs_khz:
            raise ValueError(f"TDD pattern is for {pattern.scs_khz} kHz, waveform {scs_khz} kHz")
    if n_slots is None:
        n_slots = int(round(TEST_MODEL_DURATION_S[duplex] * 1e3 * num.slots_per_subframe))
    directions = _directions(pattern, n_slots)
    if not 0 <= n_cell_id <= 1007:
        raise ValueError(f"n_cell_id must be within 0..1007 (38.211 §7.4.2.1), not {n_cell_id}")
    grid, qm, re_channel = build_test_model_grid(test_model, nrb, directions,
                                                 num.slots_per_frame, int(n_cell_id),
                                                 np.random.default_rng(seed))
    if channel_filter is None:
        channel_filter = oversampling > 1
    filter_db = CHANNEL_FILTER_ATTENUATION_DB if channel_filter else None
    return _build(num, bandwidth_mhz, test_model, seed, nfft0, int(oversampling), grid, qm,
                  directions, pattern, duplex, wola_cp_fraction, filter_db, n_slots,
                  re_channel, int(n_cell_id))
