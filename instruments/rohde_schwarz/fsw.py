"""Rohde & Schwarz FSW signal and spectrum analyzers (FSW8/13/26/43/50/67/85).

Measurement channels: ``INSTrument:LIST?`` ('<type>','<name>' pairs), ``INSTrument[:SELect]
'<name>'``, ``INSTrument:CREate <type>,'<name>'`` (selects the new channel).
Spectrum application (R&S FSW User Manual 1173.9411.02, remote commands; R&S's public examples
``RsInstrument_FSW_Example.py``): ``[SENSe:]FREQuency:CENTer|SPAN|STARt|STOP``;
``[SENSe:]BANDwidth[:RESolution]``, ``:VIDeo[:AUTO]``; ``[SENSe:]SWEep:POINts`` (101..100001),
``:TIME[:AUTO]``, ``:COUNt``; ``[SENSe:]DETector[:FUNCtion] RMS|POSitive|NEGative|SAMPle|APEak``;
``DISPlay[:WINDow]:TRACe<t>:MODE WRITe|AVERage``; ``[SENSe:]AVERage:TYPE POWer``;
``DISPlay[:WINDow]:TRACe:Y[:SCALe]:RLEVel``; ``INPut:ATTenuation[:AUTO]``; ``INITiate:CONTinuous
OFF``, ``INITiate[:IMMediate];*OPC?``; ``FORMat[:DATA] REAL,32`` (little-endian; the FSW has no
byte-order switch [verify]); ``TRACe[:DATA]? TRACE1``; ``CALCulate:MARKer:MAXimum``, ``:X?``,
``:Y?``.
Power functions: ``CALCulate:MARKer:FUNCtion:POWer:SELect ACPower|CPOWer|OBWidth``,
``[SENSe:]POWer:ACHannel:TXCHannel:COUNt``, ``:ACPairs``, ``:BANDwidth[:CHANnel]|:ACHannel|
:ALTernate<k>``, ``:SPACing[:ACHannel]|:ALTernate<k>``, ``:MODE ABSolute``, ``:PRESet`` (the
instrument's "Adjust Settings": span, RBW <= channel BW/40, VBW, RMS detector),
``[SENSe:]POWer:NCORrection``, ``[SENSe:]POWer:BANDwidth <pct>PCT``; ``CALCulate:MARKer:FUNCtion:
POWer:RESult? ACPower`` → TX power, then lower/upper of each adjacent/alternate pair (dBm in ABS
mode), ``? CPOWer`` → dBm, ``? AOBWidth`` → occupied BW, T1 frequency, T1 level, T2 frequency,
T2 level [verify the AOBW order].
Harmonics, TOI and SEM (R&S FSW User Manual, "Harmonic Distortion", "Third Order Intercept",
"Spectrum Emission Mask" and their remote commands): ``CALCulate:MARKer:FUNCtion:HARMonics[:STATe]
ON``, ``:NHARmonics`` (counts the fundamental [verify]), ``:BANDwidth:AUTO ON`` (harmonic n
measured with n x RBW), ``:LIST?`` → fundamental dBm, then H2..Hn dB relative to it,
``:DISTortion? TOTal`` → THD %, dB [verify]; ``CALCulate:MARKer:FUNCtion:TOI[:STATe] ON``,
``:TOI:RESult?``, markers 1/2 on the tones and delta markers 3/4 on the IM3 products
(``CALCulate:DELTamarker<m>:X?|Y?|MREFerence?``); ``[SENSe:]SWEep:MODE ESPectrum`` with a sweep
list of ranges (``[SENSe:]ESPectrum:RANGe<r>:STARt|STOP`` relative to the centre, ``:BANDwidth:
RESolution``, ``:FILTer:TYPE CFILter``, ``:SWEep:TIME``, ``:LIMit1:STATe ABSolute``,
``:LIMit1:ABSolute:STARt|STOP``, ``:INSert``, ``:DELete``, ``ESPectrum:RRANge?``, ``:BWID``,
``:RTYPe CPOWer``), ``TRACe:DATA? LIST`` → per range: number, start, stop, RBW, frequency,
power (dBm), power relative to the TX channel (dB), delta to the limit (dB, positive fails),
limit check, 2 unused (FPL1000/ESR manuals) [verify for the FSW], ``CALCulate:LIMit:FAIL?``.
I/Q Analyzer (R&S example ``RsInstrument_FSW_iq_transfer_display.py``: ``INST:CRE:NEW IQ,
'IQ Analyzer'``), ``TRACe:IQ:SRATe``, ``:RLENgth``, ``:DATA:FORMat IQPair``, ``INITiate;*OPC?``,
``TRACe:IQ:DATA:MEMory?`` → REAL,32 I,Q pairs in volts with P = |v|²/50 (R&S's example computes
dBm as 20·log10(V_rms) − 10·log10(50) + 30): already the sqrt(W·50) of `IQCapture`, no scaling.
Y-factor noise figure in the Spectrum application: ``DIAGnostic:SERVice:NSOurce ON|OFF`` (the
28 V supply of the NOISE SOURCE CONTROL connector [verify]), the preamplifier ``INPut:GAIN:STATe``
(option B24), ``INPut:ATTenuation 0`` and the channel power function for the noise power.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from instruments.common import sweep_axis
from instruments.errors import InstrumentError, UnexpectedResponse
from instruments.interfaces import (
    AclrOffset,
    AclrResult,
    Detector,
    HarmonicsResult,
    IQCapture,
    ObwResult,
    SemResult,
    SemSegment,
    SignalAnalyzer,
    ToiResult,
    Trace,
)
from instruments.rohde_schwarz._common import (
    RohdeSchwarzCommon,
    num,
    on_off,
    parse_bool,
    parse_float,
)
from instruments.scpi import ScpiSession

#: interface detector → FSW ``DETector`` value. Auto peak (APEak) is the FSW's preset detector
#: and the nearest to a Keysight "Normal" display; its remote trace data are the positive peaks.
_DETECTORS: dict[str, str] = {
    "rms": "RMS", "peak": "POS", "sample": "SAMP", "negative_peak": "NEG", "normal": "APE",
}  # fmt: skip
_DETECTOR_NAMES = {"RMS": "rms", "POS": "peak", "SAMP": "sample", "NEG": "negative_peak",
                   "APE": "normal", "AVER": "average"}
#: trace averaging type (``AVERage:TYPE``) in the X-series vocabulary of `Trace.settings`;
#: LINear averages linear units, i.e. mW on a dBm scale (manual, "Average Mode")
_AVERAGE_TYPES = {"VID": "LOG", "LIN": "RMS", "POW": "RMS"}
#: CP/ACLR/OBW sweep time: at least this many independent RBW-bandwidth samples per sweep point
#: with the RMS detector, so that the integrated power of a noise-like signal repeats to about
#: 0.1 dB (the FSW's auto sweep time ignores the detector; "stability is obtained by increasing
#: the sweep time", R&S FSH manual on the RMS detector). Same figure as the X-series simulator.
ACCURACY_SAMPLES = 20.0
#: ADJ + ALT1..ALT11 (``[SENSe:]POWer:ACHannel:ACPairs`` 0..12)
MAX_ACLR_OFFSETS = 12

#: the measurements other than the power functions, switched off before a plain sweep
_MEASUREMENTS_OFF = ("CALC:MARK:FUNC:HARM OFF", "CALC:MARK:FUNC:TOI OFF", "SWE:MODE AUTO")
#: R&S "no result" (a harmonic beyond the frequency range) [verify]
NO_RESULT = 9.9e37
#: H2..H10 (``NHARmonics`` 2..10: the fundamental counts [verify])
MIN_HARMONICS, MAX_HARMONICS = 2, 10
#: harmonics: a narrow sweep around the fundamental finds it (peak), then each harmonic is read
#: in zero span with n x this RBW (``HARMonics:BANDwidth:AUTO``)
HARMONICS_RBW_HZ = 10e3
HARMONICS_SPAN_HZ = 100e3
#: TOI: one sweep over both tones (± spacing/2) and both IM3 products (± 1.5 spacing) with a
#: margin; an RBW far below the spacing (a periodic two-tone ARB also has lines every
#: 1/period, often spacing/128, which a wider RBW would merge); >= 4 points per RBW
TOI_SPAN_PER_SPACING = 5.0
TOI_RBW_PER_SPACING = 1.0 / 300.0
POINTS_PER_RBW = 4
MIN_POINTS, MAX_POINTS = 1001, 100_001
#: SEM sweep list: 3..30 ranges (manual), one per segment and side plus the reference range
MAX_SEM_RANGES = 30
MAX_SEM_SEGMENTS = (MAX_SEM_RANGES - 1) // 2
MIN_RANGE_SPAN_HZ = 20.0
SEM_LIST_VALUES = 11
#: independent RBW samples per SEM sweep point (RMS detector): each reading repeats to
#: 1/sqrt(1000) = 3 % (0.14 dB), so the worst point of a range is not a noise maximum
SEM_ACCURACY_SAMPLES = 1000.0
SEM_POINTS_PER_MBW = 4
#: a reference-range limit no reading reaches (the limit check belongs to the mask ranges)
SEM_NO_LIMIT_DBM = 200.0
#: FSW channel filters (data sheet): an MBW is measured as a channel filter of that width,
#: whose reading is the power in the MBW [verify the list against the FSW data sheet]
CHANNEL_FILTERS_HZ = (
    100.0, 200.0, 300.0, 500.0, 1e3, 1.5e3, 2e3, 2.4e3, 2.7e3, 3e3, 3.4e3, 4e3, 4.5e3, 5e3,
    6e3, 8.5e3, 9e3, 10e3, 12.5e3, 14e3, 15e3, 16e3, 20e3, 21e3, 25e3, 30e3, 50e3, 100e3,
    150e3, 192e3, 200e3, 300e3, 500e3, 1e6, 1.228e6, 1.5e6, 2e6, 3e6, 5e6)
#: Gaussian (3 dB) RBWs of the FSW: 1 Hz..10 MHz in 1/2/3/5 steps
#: Y-factor noise power: span over channel bandwidth (the channel, plus margin for the RBW skirts)
NOISE_SPAN_RATIO = 1.5
#: reference level of noise-power measurements: above any noise a DUT chain delivers in a few
#: MHz (-39 dBm extreme: -174 dBm/Hz + 25 dB ENR + 40 dB gain + 70 dB(10 MHz)), low enough for
#: full IF gain
NOISE_REFERENCE_LEVEL_DBM = -40.0
GAUSSIAN_RBWS_HZ = tuple(m * 10.0**d for d in range(8) for m in (1.0, 2.0, 3.0, 5.0)
                         if m * 10.0**d <= 10e6)

#: measurement channel type (``INSTrument:LIST?``) → name the driver creates if none exists
_CHANNELS = {"SAN": "Spectrum", "IQ": "IQ Analyzer"}
_QUOTED = re.compile(r"'([^']*)'")

#: read back after configuration: settings key → query
_READ_BACK: tuple[tuple[str, str], ...] = (
    ("start_hz", "FREQ:STAR?"),
    ("stop_hz", "FREQ:STOP?"),
    ("points", "SWE:POIN?"),
    ("rbw_hz", "BAND?"),
    ("vbw_hz", "BAND:VID?"),
    ("attenuation_db", "INP:ATT?"),
    ("reference_level_dbm", "DISP:WIND:TRAC:Y:SCAL:RLEV?"),
    ("sweep_time_s", "SWE:TIME?"),
    ("sweep_count", "SWE:COUN?"),
)


def _positive(**values: float) -> None:
    """ValueError naming the first argument that is not a positive number."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, not {value!r}")


def _average_count(average_count: int) -> int:
    if int(average_count) != average_count or average_count < 1:
        raise ValueError(f"average_count must be an integer >= 1, not {average_count!r}")
    return int(average_count)


def _rbw_at_most(hz: float) -> float:
    """The widest Gaussian RBW not above `hz` (1 Hz at least)."""
    return max((b for b in GAUSSIAN_RBWS_HZ if b <= hz * (1 + 1e-9)), default=1.0)


def _points_for(span_hz: float, rbw_hz: float) -> int:
    return int(min(max(math.ceil(POINTS_PER_RBW * span_hz / rbw_hz) + 1, MIN_POINTS),
                   MAX_POINTS))


def _harmonic_count(harmonics: int) -> int:
    if int(harmonics) != harmonics or not MIN_HARMONICS <= harmonics <= MAX_HARMONICS:
        raise ValueError(f"harmonics must be an integer {MIN_HARMONICS}..{MAX_HARMONICS} "
                         f"(H2..Hn), not {harmonics!r}")
    return int(harmonics)


@dataclass(frozen=True)
class _SemRange:
    """One sweep-list range: frequencies relative to the centre, limits at start/stop."""

    start_hz: float
    stop_hz: float
    rbw_hz: float
    channel_filter: bool
    start_limit_dbm: float
    stop_limit_dbm: float


@dataclass(frozen=True)
class _SemPlan:
    """The sweep list for a mask: lower ranges (outermost first), the reference range, upper
    ranges; `lower[i]`/`upper[i]` are the range numbers (1-based) of segment i as given."""

    ranges: tuple[_SemRange, ...]
    lower: tuple[int, ...]
    upper: tuple[int, ...]
    points: int

    @property
    def reference(self) -> int:
        return len(self.lower) + 1


def _channel_filter(mbw_hz: float) -> float:
    for bw in CHANNEL_FILTERS_HZ:
        if math.isclose(bw, mbw_hz, rel_tol=1e-6):
            return bw
    raise ValueError(f"measurement bandwidth {mbw_hz:g} Hz is not an FSW channel filter "
                     f"({', '.join(f'{b:g}' for b in CHANNEL_FILTERS_HZ)} Hz)")


def _check_segments(segments: tuple[SemSegment, ...]) -> list[int]:
    """ValueError for a segment list the FSW cannot measure; returns the order by offset."""
    if not 1 <= len(segments) <= MAX_SEM_SEGMENTS:
        raise ValueError(f"1..{MAX_SEM_SEGMENTS} SEM segments (2 ranges each + the reference "
                         f"range <= {MAX_SEM_RANGES}), got {len(segments)}")
    for seg in segments:
        span = seg.stop_offset_hz - seg.start_offset_hz
        if not (seg.start_offset_hz >= 0.0 and span >= MIN_RANGE_SPAN_HZ):
            raise ValueError(f"SEM segment {seg}: offsets must be >= 0 and span >= 20 Hz")
        if not (math.isfinite(seg.start_limit_dbm) and math.isfinite(seg.stop_limit_dbm)):
            raise ValueError(f"SEM segment {seg}: limits must be finite")
        _positive(measurement_bandwidth_hz=seg.measurement_bandwidth_hz)
        _channel_filter(seg.measurement_bandwidth_hz)
    order = sorted(range(len(segments)), key=lambda i: segments[i].start_offset_hz)
    for a, b in zip(order, order[1:], strict=False):
        if segments[b].start_offset_hz < segments[a].stop_offset_hz:
            raise ValueError(f"SEM segments {a} and {b} overlap (FSW ranges must not)")
    return order


def _sem_plan(channel_bandwidth_hz: float, segments: tuple[SemSegment, ...]) -> _SemPlan:
    """Map mask segments (filter-centre offsets from the channel edge, both sides) to FSW
    ranges relative to the centre: lower side mirrored (its start is the far end, with the
    segment's stop limit), the reference range = the channel, Gaussian RBW <= BW/40."""
    order = _check_segments(segments)
    edge = channel_bandwidth_hz / 2
    ref_rbw = _rbw_at_most(channel_bandwidth_hz / 40)
    lower = [_SemRange(-(edge + s.stop_offset_hz), -(edge + s.start_offset_hz),
                       s.measurement_bandwidth_hz, True, s.stop_limit_dbm, s.start_limit_dbm)
             for s in (segments[i] for i in reversed(order))]
    upper = [_SemRange(edge + s.start_offset_hz, edge + s.stop_offset_hz,
                       s.measurement_bandwidth_hz, True, s.start_limit_dbm, s.stop_limit_dbm)
             for s in (segments[i] for i in order)]
    reference = _SemRange(-edge, edge, ref_rbw, False, SEM_NO_LIMIT_DBM, SEM_NO_LIMIT_DBM)
    n = len(segments)
    lower_no, upper_no = [0] * n, [0] * n
    for k, i in enumerate(order):
        lower_no[i], upper_no[i] = n - k, n + 2 + k
    span = upper[-1].stop_hz - lower[0].start_hz
    step = min(min(s.measurement_bandwidth_hz for s in segments) / SEM_POINTS_PER_MBW,
               ref_rbw / 2)
    points = int(min(max(math.ceil(span / step) + 2 * n + 1, MIN_POINTS), MAX_POINTS))
    return _SemPlan((*lower, reference, *upper), tuple(lower_no), tuple(upper_no), points)


def _floats(reply: str, command: str, count: int) -> list[float]:
    """A comma-separated list of exactly `count` numbers."""
    try:
        values = [float(v) for v in reply.split(",")]
    except ValueError:
        raise UnexpectedResponse(reply, command, f"{count} numbers") from None
    if len(values) != count:
        raise UnexpectedResponse(reply, command, f"{count} numbers")
    return values


class RohdeSchwarzFSW(RohdeSchwarzCommon, SignalAnalyzer):
    """Swept spectrum, built-in CP/ACLR/OBW, harmonics, TOI and SEM, and I/Q capture."""

    supported_models = ("FSW-8", "FSW-13", "FSW-26", "FSW-43", "FSW-50", "FSW-67", "FSW-85")

    def __init__(self, session: ScpiSession, *, real_bits: Literal[32, 64] = 32,
                 sweep_margin_s: float = 5.0) -> None:
        if real_bits not in (32, 64):
            raise ValueError(f"real_bits 32|64: {real_bits}")
        self.real_bits = real_bits
        self.sweep_margin_s = sweep_margin_s
        self._datatype: Literal["f", "d"] = "f" if real_bits == 32 else "d"
        self._settings: dict[str, float | str] | None = None
        super().__init__(session)

    # -- Instrument ------------------------------------------------------------------------

    def reset(self) -> None:
        self._reset()
        self._settings = None

    def make_safe(self) -> None:
        """Nothing to switch off: an analyzer has no output. Stops continuous sweeping."""
        self._configure("INIT:CONT OFF")

    # -- swept spectrum --------------------------------------------------------------------

    def configure_sweep(
        self,
        center_hz: float,
        span_hz: float,
        rbw_hz: float,
        points: int = 1001,
        detector: Detector = "rms",
        reference_level_dbm: float = 10.0,
        attenuation_db: float = 10.0,
        vbw_hz: float | None = None,
        average_count: int = 1,
    ) -> None:
        """Spectrum channel, single sweep, power function, harmonics, TOI and SEM off, REAL
        trace format; one
        clear/write trace, or with `average_count` > 1 that many sweeps (``SWE:COUN``) averaged
        by trace mode AVERage; the settings are read back (they become `Trace.settings`), then
        the error queue is drained once."""
        if detector not in _DETECTORS:
            raise ValueError(f"detector must be one of {sorted(_DETECTORS)}, not {detector!r}")
        vbw = "BAND:VID:AUTO ON" if vbw_hz is None else f"BAND:VID {num(vbw_hz)}"
        self._select_channel("SAN")
        commands = (
            "INIT:CONT OFF",
            "CALC:MARK:FUNC:POW OFF",
            *_MEASUREMENTS_OFF,
            f"FREQ:CENT {num(center_hz)}",
            f"FREQ:SPAN {num(span_hz)}",
            f"BAND {num(rbw_hz)}",
            vbw,
            f"SWE:POIN {int(points)}",
            "SWE:TIME:AUTO ON",
            f"SWE:COUN {max(int(average_count), 1)}",
            f"DISP:TRAC1:MODE {'AVER' if average_count > 1 else 'WRIT'}",
            f"DET {_DETECTORS[detector]}",
            f"DISP:WIND:TRAC:Y:SCAL:RLEV {num(reference_level_dbm)}",
            f"INP:ATT {num(attenuation_db)}",
            f"FORM REAL,{self.real_bits}",
        )
        for command in commands:
            self.session.write(command)
        self._settings = self._read_settings()
        self.session.check_errors(after="; ".join(commands))

    def _read_settings(self) -> dict[str, float | str]:
        q = self.session.query
        settings: dict[str, float | str] = {k: parse_float(q(c), c) for k, c in _READ_BACK}
        settings["points"] = int(settings["points"])
        settings["center_hz"] = (float(settings["start_hz"]) + float(settings["stop_hz"])) / 2
        settings["span_hz"] = float(settings["stop_hz"]) - float(settings["start_hz"])
        count = int(settings.pop("sweep_count"))
        reply = q("DET?").strip().upper()
        det = next((d for d in _DETECTOR_NAMES if reply.startswith(d)), reply)
        averaging = q("DISP:TRAC1:MODE?").strip().upper().startswith("AVER")
        average_type = _AVERAGE_TYPES.get(q("AVER:TYPE?").strip().upper()[:3], "LOG")
        settings["average_count"] = max(count, 1) if averaging else 1
        settings["sweep_count"] = max(count, 1)
        settings["average_type"] = "RMS" if det == "RMS" else (
            "SCAL" if det == "AVER" else average_type)
        settings["detector"] = _DETECTOR_NAMES.get(det, det.lower())
        settings["byte_order"] = "SWAP"  # REAL data are little-endian
        return settings

    def settings(self) -> dict[str, float | str]:
        """The sweep settings as read back from the instrument (queried if not yet known)."""
        if self._settings is None:
            self._settings = self._read_settings()
        return dict(self._settings)

    def single_sweep(self) -> None:
        """``INIT:IMM;*OPC?``; waits sweep time × sweeps + `sweep_margin_s` for the reply."""
        s = self.settings()
        sweeps = max(int(s["average_count"]), int(s["sweep_count"]))
        self._initiate_and_wait(float(s["sweep_time_s"]) * sweeps)

    def _initiate_and_wait(self, duration_s: float) -> None:
        reply = self.session.query("INIT:IMM;*OPC?", timeout_s=duration_s + self.sweep_margin_s)
        if reply.strip() not in ("1", "+1"):
            raise InstrumentError(0, f"unexpected *OPC? reply {reply!r}", "INIT:IMM;*OPC?")

    def fetch_trace(self) -> Trace:
        """``TRAC? TRACE1`` as a little-endian REAL block; the frequency axis is
        ``linspace(start, stop, points)`` (the sweep points span start..stop inclusive)."""
        settings = self.settings()
        points = int(settings["points"])
        power = self.session.query_binary("TRAC? TRACE1", self._datatype, False, points=points)
        return Trace(frequency_hz=self._frequency_axis(settings), power_dbm=power,
                     settings=settings)

    def _frequency_axis(self, settings: dict[str, float | str]) -> np.ndarray:
        return sweep_axis(float(settings["start_hz"]), float(settings["stop_hz"]),
                          int(settings["points"]))

    def peak_marker(self) -> tuple[float, float]:
        """Marker 1 to the trace maximum (``MAX`` switches the marker on); (Hz, dBm)."""
        self._configure("CALC1:MARK1:MAX")
        return (self.session.query_float("CALC1:MARK1:X?"),
                self.session.query_float("CALC1:MARK1:Y?"))

    # -- built-in power measurements ---------------------------------------------------------

    def measure_channel_power(
        self, center_hz: float, bandwidth_hz: float, span_hz: float,
        reference_level_dbm: float, average_count: int = 1,
    ) -> float:
        """Channel power (``POW:SEL CPOW``), Adjust Settings, then the caller's span."""
        _positive(center_hz=center_hz, bandwidth_hz=bandwidth_hz, span_hz=span_hz)
        self._setup_power("CPOW", center_hz, reference_level_dbm, average_count,
                          ("POW:ACH:ACP 0", f"POW:ACH:BWID:CHAN1 {num(bandwidth_hz)}",
                           "POW:NCOR OFF", "POW:ACH:PRES CPOW", f"FREQ:SPAN {num(span_hz)}"))
        self._measure()
        return self._result("CPOW", 1)[0]

    def measure_aclr(
        self, center_hz: float, carrier_bandwidth_hz: float, offsets: tuple[AclrOffset, ...],
        reference_level_dbm: float, average_count: int = 1, noise_correction: bool = False,
    ) -> AclrResult:
        """ACLR (``POW:SEL ACP``), one TX channel, absolute results; span, RBW, VBW and the
        RMS detector from the FSW's Adjust Settings. Offsets map to ADJ, ALT1, ALT2... in the
        order given; each is set after the lower ones (an ADJ spacing rescales the ALTs)."""
        offsets = tuple(offsets)
        if not 1 <= len(offsets) <= MAX_ACLR_OFFSETS:
            raise ValueError(f"1..{MAX_ACLR_OFFSETS} ACLR offsets (ADJ, ALT1..), got "
                             f"{len(offsets)}")
        _positive(center_hz=center_hz, carrier_bandwidth_hz=carrier_bandwidth_hz)
        channels: list[str] = []
        for k, o in enumerate(offsets):
            _positive(offset_hz=o.offset_hz, bandwidth_hz=o.bandwidth_hz)
            node = "ACH" if k == 0 else f"ALT{k}"
            channels += [f"POW:ACH:SPAC:{node} {num(o.offset_hz)}",
                         f"POW:ACH:BWID:{node} {num(o.bandwidth_hz)}"]
        self._setup_power("ACP", center_hz, reference_level_dbm, average_count, (
            "POW:ACH:TXCH:COUN 1", f"POW:ACH:ACP {len(offsets)}",
            f"POW:ACH:BWID:CHAN1 {num(carrier_bandwidth_hz)}", *channels, "POW:ACH:MODE ABS",
            f"POW:NCOR {on_off(noise_correction)}", "POW:ACH:PRES ACP"))
        settings = self._measure()
        values = self._result("ACP", 1 + 2 * len(offsets))
        carrier, lower, upper = values[0], values[1::2], values[2::2]
        settings.update(carrier_bandwidth_hz=float(carrier_bandwidth_hz),
                        noise_correction=on_off(noise_correction), method="IBW")
        return AclrResult(
            carrier_power_dbm=carrier, offsets=offsets,
            lower_dbc=tuple(v - carrier for v in lower),
            upper_dbc=tuple(v - carrier for v in upper),
            lower_dbm=tuple(lower), upper_dbm=tuple(upper), settings=settings)

    def measure_obw(
        self, center_hz: float, span_hz: float, reference_level_dbm: float,
        power_percent: float = 99.0, average_count: int = 1,
    ) -> ObwResult:
        """Occupied bandwidth (``POW:SEL OBW``) over the whole span, RBW coupled to span/100,
        RMS detector. The centroid is the midpoint of the temporary markers T1/T2 (``RES?
        AOBW``); the total power is the channel power of the whole span on the same trace
        (power function switched to CPOW without a new sweep) [verify]."""
        _positive(center_hz=center_hz, span_hz=span_hz)
        if not 10.0 <= power_percent <= 99.9:
            raise ValueError(f"power_percent must be within 10..99.9, not {power_percent!r}")
        self._setup_power("OBW", center_hz, reference_level_dbm, average_count, (
            f"FREQ:SPAN {num(span_hz)}", "BAND:AUTO ON", "BAND:VID:AUTO ON", "DET RMS",
            f"POW:BWID {num(power_percent)}PCT"))
        settings = self._measure()
        occupied, t1_hz, _, t2_hz, _ = self._result("AOBW", 5)
        span = float(settings["span_hz"])
        self._configure("CALC:MARK:FUNC:POW:SEL CPOW", "POW:ACH:ACP 0",
                        f"POW:ACH:BWID:CHAN1 {num(span)}")
        total = self._result("CPOW", 1)[0]
        centroid = (t1_hz + t2_hz) / 2
        settings.update(power_percent=float(power_percent), lower_edge_hz=t1_hz,
                        upper_edge_hz=t2_hz,
                        transmit_frequency_error_hz=centroid - float(settings["center_hz"]))
        return ObwResult(occupied_bandwidth_hz=occupied, power_percent=float(power_percent),
                         total_power_dbm=total, centroid_hz=centroid, settings=settings)

    # -- harmonics, TOI, SEM ---------------------------------------------------------------

    def measure_harmonics(
        self, fundamental_hz: float, harmonics: int, reference_level_dbm: float,
    ) -> HarmonicsResult:
        """Harmonic distortion (``CALC:MARK:FUNC:HARM ON``): a 100 kHz sweep (10 kHz RBW, RMS)
        finds the fundamental, then the FSW reads it and H2..H`harmonics` in zero span with
        n x RBW. `harmonics_dbc` are the instrument's relative levels (NaN beyond its range);
        THD (% and dB) goes into the settings. The analyzer's own harmonics are not removed."""
        _positive(fundamental_hz=fundamental_hz)
        count = _harmonic_count(harmonics)
        self._setup_measurement(fundamental_hz, HARMONICS_SPAN_HZ, HARMONICS_RBW_HZ,
                                MIN_POINTS, reference_level_dbm, (
                                    f"CALC:MARK:FUNC:HARM:NHAR {count}",
                                    "CALC:MARK:FUNC:HARM:BAND:AUTO ON",
                                    "CALC:MARK:FUNC:HARM ON"))
        settings = self._run_measurement("HARM", sweeps=count)
        levels = [math.nan if abs(v) >= NO_RESULT else v
                  for v in self._result_values("CALC:MARK:FUNC:HARM:LIST?", count)]
        thd_pct, thd_db = self._result_values("CALC:MARK:FUNC:HARM:DIST? TOT", 2)
        settings.update(harmonics=count, thd_pct=thd_pct, thd_db=thd_db)
        return HarmonicsResult(fundamental_hz=float(fundamental_hz), fundamental_dbm=levels[0],
                               harmonics_dbc=tuple(levels[1:]), settings=settings)

    def measure_toi(
        self, center_hz: float, tone_spacing_hz: float, reference_level_dbm: float,
    ) -> ToiResult:
        """Third-order intercept (``CALC:MARK:FUNC:TOI ON``): one RMS sweep over 5 x spacing
        with RBW <= spacing/300; markers 1/2 on the tones, delta markers 3/4 on the IM3
        products (read with their reference markers). Each side's intercept is
        P_tone + (P_tone - P_IM3)/2 of its own tone and product; the instrument's TOI
        (``TOI:RES?``, the lower one [verify]) goes into the settings."""
        _positive(center_hz=center_hz, tone_spacing_hz=tone_spacing_hz)
        span = TOI_SPAN_PER_SPACING * tone_spacing_hz
        rbw = _rbw_at_most(tone_spacing_hz * TOI_RBW_PER_SPACING)
        self._setup_measurement(center_hz, span, rbw, _points_for(span, rbw),
                                reference_level_dbm, ("CALC:MARK:FUNC:TOI ON",))
        settings = self._run_measurement("TOI", sweeps=1)
        (instrument_toi,) = self._result_values("CALC:MARK:FUNC:TOI:RES?", 1)
        tones = sorted(self._marker(m) for m in (1, 2))
        products = sorted(self._delta_marker(m) for m in (3, 4))
        if not products[0][0] < tones[0][0] < tones[1][0] < products[1][0]:
            raise UnexpectedResponse(f"tones {tones}, products {products}", "CALC:DELT:X?",
                                     "IM3 products outside the two tones")
        (f_lo, p_lo), (f_hi, p_hi) = tones
        im_lo, im_hi = products[0][1], products[1][1]
        settings.update(tone_spacing_hz=float(tone_spacing_hz), lower_tone_hz=f_lo,
                        upper_tone_hz=f_hi, lower_im3_hz=products[0][0],
                        upper_im3_hz=products[1][0], instrument_toi_dbm=instrument_toi)
        return ToiResult(lower_tone_dbm=p_lo, upper_tone_dbm=p_hi, lower_im3_dbm=im_lo,
                         upper_im3_dbm=im_hi, lower_toi_dbm=p_lo + (p_lo - im_lo) / 2,
                         upper_toi_dbm=p_hi + (p_hi - im_hi) / 2, settings=settings)

    def measure_sem(
        self, center_hz: float, channel_bandwidth_hz: float,
        segments: tuple[SemSegment, ...], reference_level_dbm: float,
    ) -> SemResult:
        """Spectrum emission mask (``SWE:MODE ESP``): one range per segment and side, each a
        channel filter as wide as the segment's MBW (so a reading is the power in the MBW,
        RMS detector, SEM_ACCURACY_SAMPLES per point), absolute limits (start/stop swapped on
        the lower side), and the reference range over the channel (channel power, IBW). The
        worst point of each range (``TRAC:DATA? LIST``) gives margin = -delta and its
        frequency; the reference power is the TX channel power. Refuses, before anything is
        sent, segments the FSW cannot represent (overlapping, narrower than 20 Hz, an MBW
        that is no channel filter, more than 14). Ends in the plain sweep mode (``SWE:MODE
        AUTO``; the sweep list stays), so that a following sweep gives an ordinary trace."""
        _positive(center_hz=center_hz, channel_bandwidth_hz=channel_bandwidth_hz)
        plan = _sem_plan(channel_bandwidth_hz, tuple(segments))
        self._settings = None
        self._select_channel("SAN")
        self._configure("INIT:CONT OFF", "CALC:MARK:FUNC:POW OFF", "CALC:MARK:FUNC:HARM OFF",
                        "CALC:MARK:FUNC:TOI OFF", f"FREQ:CENT {num(center_hz)}",
                        f"DISP:WIND:TRAC:Y:SCAL:RLEV {num(reference_level_dbm)}",
                        "INP:ATT:AUTO ON", "SWE:MODE ESP", f"ESP:BWID {num(channel_bandwidth_hz)}",
                        "ESP:RTYP CPOW", f"SWE:POIN {plan.points}")
        self._resize_sweep_list(len(plan.lower))
        self._configure(*self._sem_range_commands(plan))
        settings = self._sem_settings(plan)
        self._initiate_and_wait(float(settings["sweep_time_s"]))
        self.session.check_errors(after="INIT:IMM;*OPC?")
        rows = self._sem_rows(plan, center_hz)
        settings["limit_check"] = "FAIL" if parse_bool(
            self.session.query("CALC:LIM:FAIL?"), "CALC:LIM:FAIL?") else "PASS"
        self._configure("SWE:MODE AUTO")
        reference = rows[plan.reference - 1]
        settings.update(channel_bandwidth_hz=float(channel_bandwidth_hz), detector="rms",
                        measurement="SEM", method="channel filter = MBW")
        lower = [rows[k - 1] for k in plan.lower]
        upper = [rows[k - 1] for k in plan.upper]
        # a row: number, start, stop, RBW, frequency, dBm, dB to reference, delta, check, -, -
        return SemResult(carrier_power_dbm=reference[5] - reference[6],
                         lower_margin_db=tuple(-row[7] for row in lower),
                         upper_margin_db=tuple(-row[7] for row in upper),
                         lower_frequency_hz=tuple(row[4] for row in lower),
                         upper_frequency_hz=tuple(row[4] for row in upper), settings=settings)

    def _resize_sweep_list(self, per_side: int) -> None:
        """Insert/delete ranges at the outer ends until `per_side` ranges lie on each side of
        the reference range (it cannot be deleted; 3 ranges at least)."""
        ref = int(parse_float(self.session.query("ESP:RRAN?"), "ESP:RRAN?"))
        count = int(parse_float(self.session.query("ESP:RANG:COUN?"), "ESP:RANG:COUN?"))
        left, right = ref - 1, count - ref
        commands: list[str] = []
        for _ in range(per_side - left):
            commands.append("ESP:RANG1:INS BEF")
        for _ in range(left - per_side):
            commands.append("ESP:RANG1:DEL")
        last = per_side + 1 + right
        for k in range(per_side - right):
            commands.append(f"ESP:RANG{last + k}:INS AFT")
        for k in range(right - per_side):
            commands.append(f"ESP:RANG{last - k}:DEL")
        if commands:
            self._configure(*commands)
        got = (self.session.query("ESP:RRAN?").strip(), self.session.query("ESP:RANG:COUN?"))
        if tuple(int(parse_float(v, "ESP:RANG:COUN?")) for v in got) != (per_side + 1,
                                                                            2 * per_side + 1):
            raise UnexpectedResponse(",".join(got), "ESP:RRAN?;ESP:RANG:COUN?",
                                     f"reference range {per_side + 1} of {2 * per_side + 1}")

    def _sem_range_commands(self, plan: _SemPlan) -> list[str]:
        """Frequencies, filter, RBW, sweep time and absolute limits of every range; the sweep
        time gives each point SEM_ACCURACY_SAMPLES (reference range: ACCURACY_SAMPLES, its
        channel power integrates many points) with the points shared in proportion to span."""
        span = plan.ranges[-1].stop_hz - plan.ranges[0].start_hz
        commands: list[str] = []
        for k, r in enumerate(plan.ranges, start=1):
            points = max(plan.points * (r.stop_hz - r.start_hz) / span, 2.0)
            samples = SEM_ACCURACY_SAMPLES if r.channel_filter else ACCURACY_SAMPLES
            node = f"ESP:RANG{k}"
            commands += [f"{node}:STAR {num(r.start_hz)}", f"{node}:STOP {num(r.stop_hz)}",
                         f"{node}:FILT:TYPE {'CFIL' if r.channel_filter else 'NORM'}",
                         f"{node}:BAND:RES {num(r.rbw_hz)}",
                         f"{node}:SWE:TIME {num(points * samples / r.rbw_hz)}",
                         f"{node}:LIM1:STAT ABS", f"{node}:LIM1:ABS:STAR {num(r.start_limit_dbm)}",
                         f"{node}:LIM1:ABS:STOP {num(r.stop_limit_dbm)}"]
        return commands

    def _sem_settings(self, plan: _SemPlan) -> dict[str, float | str]:
        """The SEM setup as read back: centre, level, attenuation, points, the reference
        range's RBW, each segment's (upper range) RBW, the total sweep time of the list."""
        q = self.session.query
        settings: dict[str, float | str] = {
            "center_hz": parse_float(q("FREQ:CENT?"), "FREQ:CENT?"),
            "reference_level_dbm": parse_float(q("DISP:WIND:TRAC:Y:SCAL:RLEV?"),
                                               "DISP:WIND:TRAC:Y:SCAL:RLEV?"),
            "attenuation_db": parse_float(q("INP:ATT?"), "INP:ATT?"),
            "points": int(parse_float(q("SWE:POIN?"), "SWE:POIN?")),
            "sem_ranges": len(plan.ranges)}
        total = 0.0
        for k in range(1, len(plan.ranges) + 1):
            total += parse_float(q(f"ESP:RANG{k}:SWE:TIME?"), f"ESP:RANG{k}:SWE:TIME?")
            rbw = parse_float(q(f"ESP:RANG{k}:BAND:RES?"), f"ESP:RANG{k}:BAND:RES?")
            if k == plan.reference:
                settings["rbw_hz"] = rbw
            elif k in plan.upper:
                settings[f"segment{plan.upper.index(k)}_rbw_hz"] = rbw
        settings["sweep_time_s"] = total
        return settings

    def _sem_rows(self, plan: _SemPlan, center_hz: float) -> list[list[float]]:
        """``TRAC:DATA? LIST`` in ASCII (full frequency resolution), checked: one row of 11 per
        range, numbered in order, covering the ranges that were set (1 Hz)."""
        command = "TRAC:DATA? LIST"
        self.session.write("FORM ASC")
        reply = self.session.query(command)
        self.session.write(f"FORM REAL,{self.real_bits}")
        self.session.check_errors(after=command)
        values = _floats(reply, command, SEM_LIST_VALUES * len(plan.ranges))
        rows = [values[i:i + SEM_LIST_VALUES] for i in range(0, len(values), SEM_LIST_VALUES)]
        for k, (row, r) in enumerate(zip(rows, plan.ranges, strict=True), start=1):
            if (row[0] != k or abs(row[1] - (center_hz + r.start_hz)) > 1.0
                    or abs(row[2] - (center_hz + r.stop_hz)) > 1.0):
                raise UnexpectedResponse(reply, command, f"range {k} at {center_hz + r.start_hz}"
                                         f"..{center_hz + r.stop_hz} Hz")
        return rows

    def _setup_measurement(self, center_hz: float, span_hz: float, rbw_hz: float, points: int,
                           reference_level_dbm: float, commands: tuple[str, ...]) -> None:
        """Spectrum channel in single sweep, other measurements off, one RMS clear/write sweep
        with auto VBW, sweep time and attenuation, then `commands`; errors drained once."""
        self._settings = None
        self._select_channel("SAN")
        self._configure("INIT:CONT OFF", "CALC:MARK:FUNC:POW OFF", *_MEASUREMENTS_OFF,
                        f"FREQ:CENT {num(center_hz)}", f"FREQ:SPAN {num(span_hz)}",
                        f"BAND {num(rbw_hz)}", "BAND:VID:AUTO ON", f"SWE:POIN {int(points)}",
                        "SWE:TIME:AUTO ON", "SWE:COUN 1", "DISP:TRAC1:MODE WRIT", "DET RMS",
                        f"DISP:WIND:TRAC:Y:SCAL:RLEV {num(reference_level_dbm)}",
                        "INP:ATT:AUTO ON", f"FORM REAL,{self.real_bits}", *commands)

    def _run_measurement(self, name: str, sweeps: int) -> dict[str, float | str]:
        """Read the settings back, ``INIT:IMM;*OPC?`` allowing `sweeps` sweep times, drain
        errors; returns the settings with the measurement's name."""
        s = self._read_settings()
        self._settings = s
        self._initiate_and_wait(float(s["sweep_time_s"]) * sweeps)
        self.session.check_errors(after="INIT:IMM;*OPC?")
        settings = dict(s)
        settings["measurement"] = name
        return settings

    def _result_values(self, command: str, count: int) -> list[float]:
        values = _floats(self.session.query(command), command, count)
        self.session.check_errors(after=command)
        return values

    def _marker(self, m: int) -> tuple[float, float]:
        """(Hz, dBm) of normal marker `m`."""
        return (self.session.query_float(f"CALC:MARK{m}:X?"),
                self.session.query_float(f"CALC:MARK{m}:Y?"))

    def _delta_marker(self, m: int) -> tuple[float, float]:
        """(Hz, dBm) of delta marker `m`: its level relative to its reference marker plus that
        marker's level (``CALC:DELT<m>:MREF?``, marker 1 unless set otherwise)."""
        ref = int(self.session.query_float(f"CALC:DELT{m}:MREF?"))
        _, ref_dbm = self._marker(ref)
        return (self.session.query_float(f"CALC:DELT{m}:X?"),
                ref_dbm + self.session.query_float(f"CALC:DELT{m}:Y?"))

    def _setup_power(self, function: str, center_hz: float, reference_level_dbm: float,
                     average_count: int, commands: tuple[str, ...]) -> None:
        """Spectrum channel in single sweep with power function `function`, centre, reference
        level with auto attenuation, then `commands`, then trace averaging (power domain);
        errors drained once."""
        n = _average_count(average_count)
        averaging = (("DISP:TRAC1:MODE AVER", "AVER:TYPE POW", f"SWE:COUN {n}") if n > 1
                     else ("DISP:TRAC1:MODE WRIT", "SWE:COUN 1"))
        self._settings = None  # the sweep read-back no longer describes the instrument
        self._select_channel("SAN")
        self._configure("INIT:CONT OFF", f"FREQ:CENT {num(center_hz)}",
                        f"CALC:MARK:FUNC:POW:SEL {function}",
                        f"DISP:WIND:TRAC:Y:SCAL:RLEV {num(reference_level_dbm)}",
                        "INP:ATT:AUTO ON", "SWE:TIME:AUTO ON", *commands, *averaging,
                        f"FORM REAL,{self.real_bits}")

    def _measure(self) -> dict[str, float | str]:
        """Sweep time for a stable RMS reading (`ACCURACY_SAMPLES`), read the settings back,
        sweep (``INIT:IMM;*OPC?``), drain errors; returns the settings."""
        points = int(parse_float(self.session.query("SWE:POIN?"), "SWE:POIN?"))
        rbw = parse_float(self.session.query("BAND?"), "BAND?")
        auto = parse_float(self.session.query("SWE:TIME?"), "SWE:TIME?")
        self._configure(f"SWE:TIME {num(max(auto, points * ACCURACY_SAMPLES / rbw))}")
        s = self._read_settings()
        self._settings = s
        self._initiate_and_wait(float(s["sweep_time_s"]) * max(int(s["average_count"]),
                                                                  int(s["sweep_count"])))
        self.session.check_errors(after="INIT:IMM;*OPC?")
        settings = dict(s)
        function = self.session.query("CALC:MARK:FUNC:POW:SEL?").strip().upper()
        settings["measurement"] = {"CPOW": "CHP"}.get(function, function)
        return settings

    def _result(self, kind: str, count: int) -> list[float]:
        command = f"CALC:MARK:FUNC:POW:RES? {kind}"
        values = _floats(self.session.query(command), command, count)
        self.session.check_errors(after=command)
        return values

    # -- Y-factor noise figure -------------------------------------------------------------

    def set_noise_source(self, on: bool) -> None:
        """The 28 V NOISE SOURCE CONTROL supply that powers a 346-type source
        (``DIAG:SERV:NSO ON|OFF`` [verify]), read back."""
        command = f"DIAG:SERV:NSO {on_off(on)}"
        self._configure(command)
        if parse_bool(self.session.query("DIAG:SERV:NSO?"), "DIAG:SERV:NSO?") != on:
            raise UnexpectedResponse(str(int(not on)), "DIAG:SERV:NSO?",
                                     f"{int(on)} after {command}")

    def measure_noise_power(
        self, center_hz: float, bandwidth_hz: float, average_count: int = 10,
        preamplifier: bool = True,
    ) -> float:
        """Noise power (dBm) in `bandwidth_hz` at `center_hz`: the channel power function (Adjust
        Settings: RMS detector, RBW <= bandwidth/40), span NOISE_SPAN_RATIO × bandwidth, 0 dB
        input attenuation, reference level NOISE_REFERENCE_LEVEL_DBM, the preamplifier (B24) if
        asked, `average_count` sweeps averaged in power.

        Afterwards the preamplifier (if switched on) goes off and the attenuation back to auto,
        whatever happened: the driver's other measurements assume no preamp, and 0 dB leaves the
        mixer unprotected. Without `preamplifier` the preamp is not touched (B24 may be absent).
        """
        _positive(center_hz=center_hz, bandwidth_hz=bandwidth_hz)
        preamp = ("INP:GAIN:STAT ON",) if preamplifier else ()
        done = False
        try:
            self._setup_power("CPOW", center_hz, NOISE_REFERENCE_LEVEL_DBM, average_count,
                              ("POW:ACH:ACP 0", f"POW:ACH:BWID:CHAN1 {num(bandwidth_hz)}",
                               "POW:NCOR OFF", "POW:ACH:PRES CPOW",
                               f"FREQ:SPAN {num(NOISE_SPAN_RATIO * bandwidth_hz)}",
                               "INP:ATT 0", *preamp))
            self._measure()
            power_dbm = self._result("CPOW", 1)[0]
            done = True
        finally:
            try:
                self._configure(*(("INP:GAIN:STAT OFF",) if preamplifier else ()),
                                "INP:ATT:AUTO ON")
            except Exception:
                if done:  # after a failure, the failure is the news
                    raise
        return power_dbm

    def _select_channel(self, kind: str) -> None:
        """Select the first measurement channel of type `kind` (``SAN``/``IQ``) that
        ``INST:LIST?`` reports, by name; create it (which selects it) if there is none."""
        reply = self.session.query("INST:LIST?")
        fields = _QUOTED.findall(reply)
        if len(fields) % 2 or not fields:
            raise UnexpectedResponse(reply, "INST:LIST?", "'<type>','<name>' pairs")
        pairs = zip(fields[0::2], fields[1::2], strict=True)
        name = next((n for t, n in pairs if t.upper().startswith(kind)), None)
        if name is None:
            self._configure(f"INST:CRE {kind},'{_CHANNELS[kind]}'")
        else:
            self._configure(f"INST:SEL '{name}'")

    # -- I/Q capture -------------------------------------------------------------------------

    def supports_iq_capture(self) -> bool:
        return True

    def capture_iq(self, center_hz: float, sample_rate_hz: float, duration_s: float,
                   reference_level_dbm: float | None = None) -> IQCapture:
        """I/Q Analyzer channel capture (record length = duration × sample rate), then back to
        the Spectrum channel. Each FSW channel has its own front end: with `reference_level_dbm`
        the I/Q channel gets it with auto attenuation, else it takes the Spectrum channel's
        reference level and attenuation, as the X-series shares one front end between its
        modes. Data as I,Q pairs (``IQP``) in volts into 50 Ω, viewed as complex without a
        copy; centre frequency and sample rate are the instrument's own (read back)."""
        _positive(center_hz=center_hz, sample_rate_hz=sample_rate_hz, duration_s=duration_s)
        samples = max(int(round(duration_s * sample_rate_hz)), 2)
        if reference_level_dbm is None:
            self._select_channel("SAN")
            front_end = (
                f"DISP:WIND:TRAC:Y:SCAL:RLEV "
                f"{num(self.session.query_float('DISP:WIND:TRAC:Y:SCAL:RLEV?'))}",
                f"INP:ATT {num(self.session.query_float('INP:ATT?'))}")
        else:
            front_end = (f"DISP:WIND:TRAC:Y:SCAL:RLEV {num(reference_level_dbm)}",
                         "INP:ATT:AUTO ON")
        self._select_channel("IQ")
        self._configure("INIT:CONT OFF", f"FREQ:CENT {num(center_hz)}", *front_end,
                        f"TRAC:IQ:SRAT {num(sample_rate_hz)}", f"TRAC:IQ:RLEN {samples}",
                        "TRAC:IQ:DATA:FORM IQP", f"FORM REAL,{self.real_bits}")
        try:
            center = self.session.query_float("FREQ:CENT?")
            rate = self.session.query_float("TRAC:IQ:SRAT?")
            self._initiate_and_wait(samples / rate)
            data = self.session.query_binary("TRAC:IQ:DATA:MEM?", self._datatype, False,
                                             points=2 * samples)
            self.session.check_errors(after="TRAC:IQ:DATA:MEM?")
        finally:
            self._select_channel("SAN")
        iq = data.view(np.dtype(f"{data.dtype.byteorder}c{2 * data.dtype.itemsize}"))
        return IQCapture(center_frequency_hz=center, sample_rate_hz=rate, iq=iq)
