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
I/Q Analyzer (R&S example ``RsInstrument_FSW_iq_transfer_display.py``: ``INST:CRE:NEW IQ,
'IQ Analyzer'``), ``TRACe:IQ:SRATe``, ``:RLENgth``, ``:DATA:FORMat IQPair``, ``INITiate;*OPC?``,
``TRACe:IQ:DATA:MEMory?`` → REAL,32 I,Q pairs in volts with P = |v|²/50 (R&S's example computes
dBm as 20·log10(V_rms) − 10·log10(50) + 30): already the sqrt(W·50) of `IQCapture`, no scaling.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from instruments.common import sweep_axis
from instruments.errors import InstrumentError, UnexpectedResponse
from instruments.interfaces import (
    AclrOffset,
    AclrResult,
    Detector,
    IQCapture,
    ObwResult,
    SignalAnalyzer,
    Trace,
)
from instruments.rohde_schwarz._common import RohdeSchwarzCommon, num, on_off, parse_float
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
    """Swept spectrum, built-in CP/ACLR/OBW and I/Q capture on an FSW."""

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
        """Spectrum channel, single sweep, power function off, REAL trace format; one
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
