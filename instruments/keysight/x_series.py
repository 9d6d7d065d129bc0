"""Keysight X-series signal analyzers: N9030B PXA, N9020B MXA (and N9010B EXA, N9040B UXA,
which share the Swept SA and IQ Analyzer (Basic) command trees).

Swept SA (X-series SA mode user's & programmer's reference; QCoDeS ``Keysight_N9030B.py``):
  ``:INSTrument:SELect SA``; ``:CONFigure:SANalyzer``;
  ``[:SENSe]:FREQuency:CENTer|SPAN|STARt|STOP``;
  ``[:SENSe]:BANDwidth[:RESolution]``, ``[:SENSe]:BANDwidth:VIDeo[:AUTO]``;
  ``[:SENSe]:SWEep:POINts``, ``[:SENSe]:SWEep:TIME?``; ``[:SENSe]:DETector:TRACe[n]
  AVERage|POSitive|SAMPle|NEGative|NORMal``; ``[:SENSe]:AVERage:TYPE RMS|LOG|SCALar``,
  ``[:SENSe]:AVERage[:STATe]|:COUNt``; ``:DISPlay:WINDow:TRACe:Y[:SCALe]:RLEVel``;
  ``[:SENSe]:POWer[:RF]:ATTenuation``; ``:INITiate:CONTinuous OFF``, ``:INITiate[:IMMediate]``;
  ``:FORMat[:TRACe][:DATA] REAL,32|REAL,64``; ``:FORMat:BORDer NORMal|SWAPped`` (preset NORMal =
  big-endian; applies to ``:TRACe[:DATA]?``); ``:TRACe[:DATA]? TRACE1`` (y values only);
  ``:CALCulate:MARKer[n]:MODE POSition``, ``:MAXimum``, ``:X?``, ``:Y?``.
IQ Analyzer (Basic), Waveform measurement (pyarbtools ``VSA.capture_IQ``; X-series Basic mode
reference): ``:INSTrument:SELect BASIC``; ``:CONFigure:WAVeform``; ``[:SENSe]:WAVeform:SRATe``;
``[:SENSe]:WAVeform:SWEep:TIME``; ``:READ:WAVeform0?`` → interleaved I,Q in volts. The volts are
*peak* volts into 50 Ω: the reference converts them to power as 10·log10(10·|v|²) dBm, i.e.
P = |v|²/100 W ("Programming the Instrument", trace-math RMS note). `IQCapture` wants
sqrt(W·50) (rms) volts, so the driver scales by 1/√2.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from instruments.errors import InstrumentError
from instruments.interfaces import Detector, IQCapture, SignalAnalyzer, Trace
from instruments.keysight._common import KeysightCommon, num, parse_bool, parse_float
from instruments.scpi import ScpiSession

#: interface detector → (``:DET:TRAC`` value, ``:AVER:TYPE`` value). The X-series "RMS" detector
#: is the Average detector with Average Type = Power (RMS).
_DETECTORS: dict[str, tuple[str, str]] = {
    "rms": ("AVER", "RMS"),
    "peak": ("POS", "LOG"),
    "sample": ("SAMP", "LOG"),
    "negative_peak": ("NEG", "LOG"),
    "normal": ("NORM", "LOG"),
}
_PEAK_TO_RMS = 0.5**0.5  # a Python float keeps complex64 as complex64 (NEP 50)
_DETECTOR_NAMES = {"POS": "peak", "SAMP": "sample", "NEG": "negative_peak", "NORM": "normal"}

#: read back after configuration: settings key → query
_READ_BACK: tuple[tuple[str, str], ...] = (
    ("start_hz", ":FREQ:STAR?"),
    ("stop_hz", ":FREQ:STOP?"),
    ("points", ":SWE:POIN?"),
    ("rbw_hz", ":BAND?"),
    ("vbw_hz", ":BAND:VID?"),
    ("attenuation_db", ":POW:ATT?"),
    ("reference_level_dbm", ":DISP:WIND:TRAC:Y:RLEV?"),
    ("sweep_time_s", ":SWE:TIME?"),
    ("average_count", ":AVER:COUN?"),
)


class KeysightXSeriesAnalyzer(KeysightCommon, SignalAnalyzer):
    """Swept spectrum analysis and IQ capture on an X-series analyzer."""

    supported_models = ("N9030B", "N9020B", "N9010B", "N9040B")

    def __init__(
        self,
        session: ScpiSession,
        *,
        byte_order: Literal["SWAP", "NORM"] = "SWAP",
        real_bits: Literal[32, 64] = 32,
        sweep_margin_s: float = 5.0,
    ) -> None:
        if byte_order not in ("SWAP", "NORM") or real_bits not in (32, 64):
            raise ValueError(f"byte_order SWAP|NORM, real_bits 32|64: {byte_order}, {real_bits}")
        self.byte_order = byte_order
        self.real_bits = real_bits
        self.sweep_margin_s = sweep_margin_s
        self._datatype: Literal["f", "d"] = "f" if real_bits == 32 else "d"
        self._settings: dict[str, float | str] | None = None
        self._axis: tuple[tuple[float | str, ...], np.ndarray] | None = None
        super().__init__(session)

    # -- Instrument ------------------------------------------------------------------------

    def reset(self) -> None:
        self._reset()
        self._settings = None

    def make_safe(self) -> None:
        """Nothing to switch off: an analyzer has no output. Stops continuous sweeping."""
        self._configure(":INIT:CONT OFF")

    # -- swept SA --------------------------------------------------------------------------

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
    ) -> None:
        """Swept SA in single-sweep mode, binary little-endian (by default) trace format.

        Reads the instrument's actual settings back (they become `Trace.settings`), then drains
        the error queue once.
        """
        if detector not in _DETECTORS:
            raise ValueError(f"detector must be one of {sorted(_DETECTORS)}, not {detector!r}")
        det, average_type = _DETECTORS[detector]
        vbw = ":BAND:VID:AUTO ON" if vbw_hz is None else f":BAND:VID {num(vbw_hz)}"
        commands = (
            ":INST:SEL SA",
            ":CONF:SAN",
            ":INIT:CONT OFF",
            f":FREQ:CENT {num(center_hz)}",
            f":FREQ:SPAN {num(span_hz)}",
            f":BAND {num(rbw_hz)}",
            vbw,
            f":SWE:POIN {int(points)}",
            f":DET:TRAC1 {det}",
            f":AVER:TYPE {average_type}",
            f":DISP:WIND:TRAC:Y:RLEV {num(reference_level_dbm)}",
            f":POW:ATT {num(attenuation_db)}",
            f":FORM REAL,{self.real_bits}",
            f":FORM:BORD {self.byte_order}",
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
        det = q(":DET:TRAC1?").strip().upper()[:4]
        average_type = q(":AVER:TYPE?").strip().upper()[:4]
        averaging = parse_bool(q(":AVER:STAT?"), ":AVER:STAT?")
        if not averaging:
            settings["average_count"] = 1
        settings["average_type"] = average_type
        if det.startswith("AVER"):
            settings["detector"] = "rms" if average_type == "RMS" else "average"
        else:
            settings["detector"] = _DETECTOR_NAMES.get(det, det)
        settings["byte_order"] = self.byte_order
        return settings

    def settings(self) -> dict[str, float | str]:
        """The sweep settings as read back from the instrument (queried if not yet known)."""
        if self._settings is None:
            self._settings = self._read_settings()
        return dict(self._settings)

    def single_sweep(self) -> None:
        """``:INIT:IMM;*OPC?``; waits sweep time × averages + `sweep_margin_s` for the reply."""
        settings = self.settings()
        wait = float(settings["sweep_time_s"]) * float(settings["average_count"])
        reply = self.session.query(":INIT:IMM;*OPC?", timeout_s=wait + self.sweep_margin_s)
        if reply.strip() not in ("1", "+1"):
            raise InstrumentError(0, f"unexpected *OPC? reply {reply!r}", ":INIT:IMM;*OPC?")

    def fetch_trace(self) -> Trace:
        """``:TRAC? TRACE1`` as REAL,32/64 in the configured byte order; the frequency axis is
        ``linspace(start, stop, points)`` (sweep points span start..stop inclusive).

        Values come back in native byte order: no copy for SWAP on a little-endian host, one
        byte-swapping copy for NORM.
        """
        settings = self.settings()
        points = int(settings["points"])
        raw = self.session.query_binary(
            ":TRAC? TRACE1", self._datatype, self.byte_order == "NORM", points=points
        )
        power = raw.astype(raw.dtype.newbyteorder("="), copy=False)
        return Trace(frequency_hz=self._frequency_axis(settings), power_dbm=power,
                     settings=settings)

    def _frequency_axis(self, settings: dict[str, float | str]) -> np.ndarray:
        """The sweep's frequency axis, built once per configuration (read-only, shared)."""
        key = (settings["start_hz"], settings["stop_hz"], settings["points"])
        if self._axis is None or self._axis[0] != key:
            axis = np.linspace(float(key[0]), float(key[1]), int(key[2]))
            axis.setflags(write=False)
            self._axis = (key, axis)
        return self._axis[1]

    def peak_marker(self) -> tuple[float, float]:
        """Marker 1 in position mode, peak search on the last trace; (Hz, dBm)."""
        self._configure(":CALC:MARK1:MODE POS", ":CALC:MARK1:MAX")
        x = self.session.query_float(":CALC:MARK1:X?")
        y = self.session.query_float(":CALC:MARK1:Y?")
        return x, y

    # -- IQ capture ------------------------------------------------------------------------

    def supports_iq_capture(self) -> bool:
        return True

    def capture_iq(self, center_hz: float, sample_rate_hz: float, duration_s: float) -> IQCapture:
        """IQ Analyzer (Basic) Waveform capture, then back to SA mode.

        ``:READ:WAV0?`` initiates the capture and returns interleaved I,Q in peak volts; they
        are viewed as complex and scaled once by 1/√2 to rms volts (|iq|² = P·50 Ω). Centre
        frequency and sample rate are the instrument's own (read back).
        """
        self._configure(
            ":INST:SEL BASIC",
            ":CONF:WAV",
            ":INIT:CONT OFF",
            f":FREQ:CENT {num(center_hz)}",
            f":WAV:SRAT {num(sample_rate_hz)}",
            f":WAV:SWE:TIME {num(duration_s)}",
            f":FORM REAL,{self.real_bits}",
            f":FORM:BORD {self.byte_order}",
        )
        try:
            center = self.session.query_float(":FREQ:CENT?")
            rate = self.session.query_float(":WAV:SRAT?")
            data = self.session.query_binary(
                ":READ:WAV0?",
                self._datatype,
                self.byte_order == "NORM",
                timeout_s=duration_s + self.sweep_margin_s,
            )
            if data.size % 2:
                raise InstrumentError(0, f"odd number of I/Q values ({data.size})", ":READ:WAV0?")
            self.session.check_errors(after=":READ:WAV0?")
        finally:
            self._configure(":INST:SEL SA")
        pairs = data.view(np.dtype(f"{data.dtype.byteorder}c{2 * data.dtype.itemsize}"))
        iq = pairs * _PEAK_TO_RMS  # one pass: native-order complex64/128 in rms volts
        return IQCapture(center_frequency_hz=center, sample_rate_hz=rate, iq=iq)
