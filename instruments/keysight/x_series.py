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
Built-in power measurements of SA mode (X-series SA mode reference, Channel Power / ACP /
Occupied BW chapters; public ACLR scripts read ``FETC:ACP?`` indices 4/6 and 8/10):
  ``:CONFigure:CHPower|ACPower|OBWidth`` (selects and presets the measurement);
  ``[:SENSe]:CHPower:BANDwidth:INTegration``, ``[:SENSe]:CHPower:FREQuency:SPAN``;
  ``[:SENSe]:ACPower:CARRier[1]:COUNt``, ``...:CARRier[1]:LIST:BANDwidth[:INTegration]``,
  ``...:CARRier[1]:LIST:WIDTh``; ``[:SENSe]:ACPower:OFFSet[1]:LIST[:FREQuency]``,
  ``...:OFFSet[1]:LIST:BANDwidth[:INTegration]``, ``...:OFFSet[1]:LIST:STATe`` (six values,
  offsets A..F); ``[:SENSe]:ACPower:METHod IBW``, ``[:SENSe]:ACPower:CORRection:NOISe``;
  ``[:SENSe]:OBWidth:PERCent``, ``[:SENSe]:OBWidth:FREQuency:SPAN``;
  ``[:SENSe]:<meas>:AVERage[:STATe]|:COUNt``, ``[:SENSe]:<meas>:SWEep:TIME?``;
  ``:INIT:IMM;*OPC?`` then ``:FETCh:<meas>?`` (results in the ``FORMat`` of traces).
Harmonics, TOI, SEM (same reference, their measurement chapters; PSA E4440A reference for the
harmonics/TOI result tables): ``:CONFigure:HARMonics``, ``[:SENSe]:HARMonics:NUMBer``,
``...:FREQuency:FUNDamental``, ``FETCh:HARMonics:AMPLitude:ALL?``; ``:CONFigure:TOI``,
``[:SENSe]:TOI:FREQuency:SPAN``, ``...:BANDwidth``, ``FETCh:TOI2?`` (13 values);
``:CONFigure:SEMask``, ``[:SENSe]:SEMask:BANDwidth:INTegration``, ``...:FREQuency:SPAN``,
``...:OFFSet[1]:TYPE CTOCenter``, ``...:OFFSet[1][:OUTer]:LIST:FREQuency:STARt|STOP``,
``...:LIST:BANDwidth[:RESolution]|:IMULti``, ``...:LIST:STARt|STOP:ABSolute``,
``...:LIST:STOP:ABSolute:COUPle``, ``...:LIST:TEST ABSolute``, ``...:LIST:STATe``,
``...:LIST:SWEep:TIME?``; ``FETCh:SEMask?`` (82 values).
Y-factor noise figure in SA mode: the rear-panel +28 V noise-source drive ``:SOURce:NOISe[:STATe]
ON|OFF`` [verify: documented for the Noise Figure mode; its SA-mode form was not confirmed], the
internal preamp ``[:SENSe]:POWer[:RF]:GAIN[:STATe]`` with ``:GAIN:BAND FULL`` (the preset band
LOW amplifies below 3.6 GHz only), manual attenuation ``[:SENSe]:POWer[:RF]:ATTenuation 0``, and
the Channel Power measurement (RMS detector, power averaging) for the noise power.
"""

from __future__ import annotations

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
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool, parse_float
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

#: ACP offsets A..F ("Max Num of Offsets" preset 6); every offset list takes six values
MAX_ACLR_OFFSETS = 6
#: ``FETCh:ACPower?`` (n=1, Total Power Ref, 6 offsets): 4 leading values + 4 per offset.
#: Index 1 is the reference carrier power (dBm) [verify the meaning of indices 0, 2, 3]; offset
#: k (0 = A) is at 4+4k: lower rel dB, lower abs dBm, upper rel dB, upper abs dBm.
ACP_RESULT_COUNT = 4 + 4 * MAX_ACLR_OFFSETS
#: ``FETCh:CHPower?``: channel power dBm, PSD dBm/Hz
CHP_RESULT_COUNT = 2
#: ``FETCh:OBWidth?``: occupied BW Hz, total power dBm, transmit frequency error Hz, x dB
#: bandwidth Hz [verify the count and order against the instrument's OBW results table]
OBW_RESULT_COUNT = 4
#: X-series "not a number" result (9.91E+37): anything this large is not a measured value
_NAN_LIMIT = 9e37
#: Harmonics: ``:HARM:NUMB`` 2..10 (the fundamental counts as the first harmonic);
#: ``FETC:HARM:AMPL:ALL?``: 10 values, fundamental dBm then H2..H10 dBc (0 where not measured)
MAX_HARMONICS = 10
HARM_AMPLITUDE_COUNT = 10
_HARM_READ_BACK: tuple[tuple[str, str], ...] = (
    ("center_hz", ":FREQ:CENT?"),
    ("fundamental_hz", ":HARM:FREQ:FUND?"),
    ("harmonics", ":HARM:NUMB?"),
    ("rbw_hz", ":HARM:BAND?"),
    ("sweep_time_s", ":HARM:SWE:TIME?"),  # ST/Harmonic: each harmonic's zero-span sweep
    ("attenuation_db", ":POW:ATT?"),
    ("reference_level_dbm", ":DISP:WIND:TRAC:Y:RLEV?"),
)
#: ``FETC:TOI2?``: worst IM Hz, worst IM dBm, worst intercept dBm, lower base Hz, dBm, upper
#: base Hz, dBm, lower IM Hz, dBm, lower intercept dBm, upper IM Hz, dBm, upper intercept dBm
TOI2_RESULT_COUNT = 13
#: Y-factor noise power: CHP span over integration bandwidth (the CHP preset's 3 MHz / 2 MHz)
NOISE_SPAN_RATIO = 1.5
#: reference level of noise-power measurements: above any noise a DUT chain delivers in a few
#: MHz (-174 dBm/Hz + 25 dB ENR + 40 dB gain + 70 dB(10 MHz) = -39 dBm is the extreme), low
#: enough for full IF gain
NOISE_REFERENCE_LEVEL_DBM = -40.0
#: TOI sweep: span = 5 x spacing (IM3 at +-1.5 spacings, IM5 at the edges); RBW = spacing/200:
#: one tone's RBW skirt is negligible at the other tone and at the IM3 products, and the RBW is
#: below the line spacing of the two-tone ARB loop (benchbot's loops hold >= spacing/128)
TOI_SPAN_PER_SPACING = 5.0
TOI_SPACING_PER_RBW = 200.0
#: SEM offsets A..F: the SA-mode measurement analyzes six offset pairs (its lists hold 12)
MAX_SEM_OFFSETS = 6
#: ``FETC:SEM?`` n=1: 10 reference values, 10 per offset A..F, 12 minimum margins [verify]
SEM_REFERENCE_VALUES, SEM_VALUES_PER_OFFSET = 10, 10
SEM_RESULT_COUNT = (SEM_REFERENCE_VALUES + SEM_VALUES_PER_OFFSET * MAX_SEM_OFFSETS
                    + 2 * MAX_SEM_OFFSETS)
#: Meas BW = N x RBW: the largest N <= this for which MBW/N is an available RBW
SEM_MAX_RBW_MULTIPLE = 10
#: SEM sweeps averaged (RMS): the worst margin of a noise-like emission is a maximum over many
#: filter positions, biased up by the scatter of each; 4 averages keep that within ~0.1 dB
SEM_AVERAGE_COUNT = 4
_SEM_READ_BACK: tuple[tuple[str, str], ...] = (
    ("center_hz", ":FREQ:CENT?"),
    ("span_hz", ":SEM:FREQ:SPAN?"),
    ("integration_bandwidth_hz", ":SEM:BAND:INT?"),
    ("rbw_hz", ":SEM:BAND?"),
    ("sweep_time_s", ":SEM:SWE:TIME?"),  # the reference channel's sweep
    ("attenuation_db", ":POW:ATT?"),
    ("reference_level_dbm", ":DISP:WIND:TRAC:Y:RLEV?"),
)


def _x_series_rbws() -> np.ndarray:
    """The X-series' 160 Gaussian RBWs: 1 Hz..3 MHz in ~10 % (E24) steps, plus 4, 5, 6 and
    8 MHz (SA mode reference, "Res BW")."""
    e24 = np.array([1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9,
                    4.3, 4.7, 5.1, 5.6, 6.2, 6.8, 7.5, 8.2, 9.1])
    values = np.concatenate([e24 * 10.0**d for d in range(7)])
    return np.concatenate([values[values <= 3e6 + 1], [4e6, 5e6, 6e6, 8e6]])


_RBWS = _x_series_rbws()


def sem_rbw_hz(measurement_bandwidth_hz: float) -> tuple[float, int]:
    """(RBW, N) with N x RBW = the measurement bandwidth, RBW an available value and N as large
    as possible up to SEM_MAX_RBW_MULTIPLE (integration over several RBWs approximates the
    square MBW filter); N = 1 (the instrument picks the nearest RBW) if nothing divides."""
    for n in range(SEM_MAX_RBW_MULTIPLE, 0, -1):
        rbw = measurement_bandwidth_hz / n
        if np.any(np.isclose(_RBWS, rbw, rtol=1e-9, atol=0.0)):
            return float(rbw), n
    return float(measurement_bandwidth_hz), 1


def _check_segments(segments: tuple[SemSegment, ...]) -> None:
    """ValueError for a mask the X-series SEM cannot take: 1..6 offsets, each with
    0 <= start < stop (offset Start Freq ranges up to its Stop Freq) and a positive MBW."""
    if not 1 <= len(segments) <= MAX_SEM_OFFSETS:
        raise ValueError(f"1..{MAX_SEM_OFFSETS} SEM segments (offsets A..F), got {len(segments)}")
    for i, seg in enumerate(segments):
        if not 0.0 <= seg.start_offset_hz < seg.stop_offset_hz:
            raise ValueError(f"SEM segment {i}: need 0 <= start_offset_hz < stop_offset_hz, "
                             f"got {seg.start_offset_hz!r}, {seg.stop_offset_hz!r}")
        _positive(measurement_bandwidth_hz=seg.measurement_bandwidth_hz)


def _measured(values: np.ndarray, command: str, what: str) -> None:
    """UnexpectedResponse if any of `values` is the instrument's NaN (9.91E+37)."""
    if np.any(~np.isfinite(values)) or np.any(np.abs(values) > _NAN_LIMIT):
        raise UnexpectedResponse(str(values.tolist()), command, what)


def _measurement_read_back(meas: str) -> tuple[tuple[str, str], ...]:
    """Settings of a CHP/ACP/OBW measurement to read back: key → query."""
    return (
        ("center_hz", ":FREQ:CENT?"),
        ("span_hz", f":{meas}:FREQ:SPAN?"),
        ("rbw_hz", f":{meas}:BAND?"),
        ("points", f":{meas}:SWE:POIN?"),
        ("sweep_time_s", f":{meas}:SWE:TIME?"),
        ("attenuation_db", ":POW:ATT?"),
        ("reference_level_dbm", ":DISP:WIND:TRAC:Y:RLEV?"),
    )


def _positive(**values: float) -> None:
    """ValueError naming the first argument that is not a positive number."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, not {value!r}")


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
        #: the measurement the driver last selected: "SAN" (Swept SA) or "CHP"/"ACP"/"OBW"
        self._measurement = "SAN"
        super().__init__(session)

    # -- Instrument ------------------------------------------------------------------------

    def reset(self) -> None:
        self._reset()
        self._settings = None
        self._measurement = "SAN"  # *RST presets the mode: Swept SA

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
        average_count: int = 1,
    ) -> None:
        """Swept SA in single-sweep mode, binary little-endian (by default) trace format;
        trace averaging (`:AVER:COUN`, `:AVER ON`) when `average_count` > 1.

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
            f":AVER:COUN {max(int(average_count), 1)}",
            f":AVER {'ON' if average_count > 1 else 'OFF'}",
            f":DISP:WIND:TRAC:Y:RLEV {num(reference_level_dbm)}",
            f":POW:ATT {num(attenuation_db)}",
            f":FORM REAL,{self.real_bits}",
            f":FORM:BORD {self.byte_order}",
        )
        for command in commands:
            self.session.write(command)
        self._measurement = "SAN"
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
        """``:INIT:IMM;*OPC?``; waits sweep time × averages + `sweep_margin_s` for the reply.

        After a built-in measurement the Swept SA is selected again first (``:CONF:SAN:NDEF``,
        its own settings kept; the shared reference level and attenuation are the measurement's
        and are read back).
        """
        if self._measurement != "SAN":
            self._configure(":CONF:SAN:NDEF")
            self._measurement = "SAN"
        settings = self.settings()
        self._initiate_and_wait(float(settings["sweep_time_s"]) * float(settings["average_count"]))

    def _initiate_and_wait(self, duration_s: float) -> None:
        """``:INIT:IMM;*OPC?``, allowing `duration_s` + `sweep_margin_s` for the reply."""
        reply = self.session.query(":INIT:IMM;*OPC?", timeout_s=duration_s + self.sweep_margin_s)
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
        return sweep_axis(float(settings["start_hz"]), float(settings["stop_hz"]),
                          int(settings["points"]))

    def peak_marker(self) -> tuple[float, float]:
        """Marker 1 in position mode, peak search on the last trace; (Hz, dBm)."""
        self._configure(":CALC:MARK1:MODE POS", ":CALC:MARK1:MAX")
        x = self.session.query_float(":CALC:MARK1:X?")
        y = self.session.query_float(":CALC:MARK1:Y?")
        return x, y

    # -- built-in power measurements ---------------------------------------------------------

    def measure_channel_power(
        self, center_hz: float, bandwidth_hz: float, span_hz: float,
        reference_level_dbm: float, average_count: int = 1,
    ) -> float:
        """Channel Power measurement (``:CONF:CHP``); returns the channel power in dBm.

        Integration BW is set before the span: the instrument keeps the Span/Integ BW ratio when
        the integration BW changes.
        """
        _positive(center_hz=center_hz, bandwidth_hz=bandwidth_hz, span_hz=span_hz)
        self._setup_measurement("CHP", center_hz, reference_level_dbm, average_count,
                                f":CHP:BAND:INT {num(bandwidth_hz)}",
                                f":CHP:FREQ:SPAN {num(span_hz)}")
        values, _ = self._run_measurement("CHP", CHP_RESULT_COUNT, average_count)
        return float(values[0])

    def measure_aclr(
        self, center_hz: float, carrier_bandwidth_hz: float, offsets: tuple[AclrOffset, ...],
        reference_level_dbm: float, average_count: int = 1, noise_correction: bool = False,
    ) -> AclrResult:
        """ACP measurement (``:CONF:ACP``), one carrier, integration-bandwidth method.

        Offsets fill A.. in the order given; the rest of the six-value lists are switched off
        (explicit full lists, so the instrument's filling rule for short lists never matters).
        More than six offsets (or none) raise ValueError before anything is sent.
        """
        offsets = tuple(offsets)
        if not 1 <= len(offsets) <= MAX_ACLR_OFFSETS:
            raise ValueError(f"1..{MAX_ACLR_OFFSETS} ACLR offsets (A..F), got {len(offsets)}")
        _positive(center_hz=center_hz, carrier_bandwidth_hz=carrier_bandwidth_hz)
        for o in offsets:
            _positive(offset_hz=o.offset_hz, bandwidth_hz=o.bandwidth_hz)
        unused = MAX_ACLR_OFFSETS - len(offsets)
        freqs = [num(o.offset_hz) for o in offsets] + ["0"] * unused
        widths = [num(o.bandwidth_hz) for o in offsets] + [num(offsets[-1].bandwidth_hz)] * unused
        states = ["ON"] * len(offsets) + ["OFF"] * unused
        self._setup_measurement(
            "ACP", center_hz, reference_level_dbm, average_count,
            ":ACP:CARR1:COUN 1",
            f":ACP:CARR1:LIST:BAND:INT {num(carrier_bandwidth_hz)}",
            f":ACP:CARR1:LIST:WIDT {num(carrier_bandwidth_hz)}",
            f":ACP:OFFS1:LIST:FREQ {','.join(freqs)}",
            f":ACP:OFFS1:LIST:BAND:INT {','.join(widths)}",
            f":ACP:OFFS1:LIST:STAT {','.join(states)}",
            ":ACP:METH IBW",
            f":ACP:CORR:NOIS {on_off(noise_correction)}",
        )
        values, settings = self._run_measurement("ACP", ACP_RESULT_COUNT, average_count)
        settings.update(carrier_bandwidth_hz=float(carrier_bandwidth_hz),
                        noise_correction=on_off(noise_correction), method="IBW")
        return _aclr_result(values, offsets, settings)

    def measure_obw(
        self, center_hz: float, span_hz: float, reference_level_dbm: float,
        power_percent: float = 99.0, average_count: int = 1,
    ) -> ObwResult:
        """Occupied BW measurement (``:CONF:OBW``). `centroid_hz` is the centre frequency plus
        the instrument's transmit frequency error (the midpoint of the two OBW edges); the x dB
        bandwidth and the frequency error are also kept in `settings`."""
        _positive(center_hz=center_hz, span_hz=span_hz)
        if not 10.0 <= power_percent <= 99.99:
            raise ValueError(f"power_percent must be within 10..99.99, not {power_percent!r}")
        self._setup_measurement("OBW", center_hz, reference_level_dbm, average_count,
                                f":OBW:FREQ:SPAN {num(span_hz)}",
                                f":OBW:PERC {num(power_percent)}")
        values, settings = self._run_measurement("OBW", OBW_RESULT_COUNT, average_count)
        occupied, total, error, xdb = (float(v) for v in values)
        if max(abs(occupied), abs(total), abs(error)) > _NAN_LIMIT:
            raise UnexpectedResponse(str(values.tolist()), ":FETC:OBW?", "measured values")
        settings.update(power_percent=float(power_percent), transmit_frequency_error_hz=error,
                        xdb_bandwidth_hz=xdb)
        return ObwResult(occupied_bandwidth_hz=occupied, power_percent=float(power_percent),
                         total_power_dbm=total, centroid_hz=float(settings["center_hz"]) + error,
                         settings=settings)

    def measure_harmonics(
        self, fundamental_hz: float, harmonics: int, reference_level_dbm: float,
    ) -> HarmonicsResult:
        """Harmonics measurement (``:CONF:HARM``): the fundamental and H2..H`harmonics`, each
        in zero span at n·f0 with RMS averaging over ST/Harmonic, RBW n × the fundamental's
        (the instrument's rule [verify]). ``:HARM:NUMB`` counts the fundamental, so it is
        `harmonics` (2..10). Reads ``FETC:HARM:AMPL:ALL?`` (fundamental dBm, then dBc); a
        harmonic the instrument could not measure (9.91E+37) raises UnexpectedResponse. The
        analyzer's own harmonic distortion adds to the reading (keep the mixer level low)."""
        if (isinstance(harmonics, bool) or int(harmonics) != harmonics
                or not 2 <= harmonics <= MAX_HARMONICS):
            raise ValueError(f"harmonics must be an integer 2..{MAX_HARMONICS} (the highest "
                             f"order measured), not {harmonics!r}")
        _positive(fundamental_hz=fundamental_hz)
        n = int(harmonics)
        self._setup_measurement("HARM", fundamental_hz, reference_level_dbm, 1,
                                f":HARM:NUMB {n}", f":HARM:FREQ:FUND {num(fundamental_hz)}")
        settings = self._read_back("HARM", _HARM_READ_BACK, 1)
        wait_s = float(settings["sweep_time_s"]) * n
        command = ":FETC:HARM:AMPL:ALL?"
        values = self._fetch_measurement(command, HARM_AMPLITUDE_COUNT, wait_s)
        _measured(values[:n], command, f"the fundamental and H2..H{n} measured")
        return HarmonicsResult(fundamental_hz=float(settings["fundamental_hz"]),
                               fundamental_dbm=float(values[0]),
                               harmonics_dbc=tuple(float(v) for v in values[1:n]),
                               settings=settings)

    def measure_toi(
        self, center_hz: float, tone_spacing_hz: float, reference_level_dbm: float,
    ) -> ToiResult:
        """TOI measurement (``:CONF:TOI``): one sweep of span 5 × spacing, RBW spacing/200; the
        instrument takes the two largest signals as the base tones. Reads ``FETC:TOI2?``
        (13 values) and checks the base tones are the two expected ones (within 2 RBW or 2
        display points), else UnexpectedResponse."""
        _positive(center_hz=center_hz, tone_spacing_hz=tone_spacing_hz)
        span = TOI_SPAN_PER_SPACING * tone_spacing_hz
        self._setup_measurement("TOI", center_hz, reference_level_dbm, 1,
                                f":TOI:FREQ:SPAN {num(span)}",
                                f":TOI:BAND {num(tone_spacing_hz / TOI_SPACING_PER_RBW)}")
        settings = self._read_back("TOI", _measurement_read_back("TOI"), 1, detector="peak")
        command = ":FETC:TOI2?"
        v = self._fetch_measurement(command, TOI2_RESULT_COUNT, float(settings["sweep_time_s"]))
        _measured(v, command, "tones, IM3 products and intercepts")
        tolerance = max(2 * float(settings["rbw_hz"]),
                        2 * float(settings["span_hz"]) / max(int(settings["points"]) - 1, 1))
        expected = (center_hz - tone_spacing_hz / 2, center_hz + tone_spacing_hz / 2)
        if max(abs(v[3] - expected[0]), abs(v[5] - expected[1])) > tolerance:
            raise UnexpectedResponse(f"base tones at {v[3]:.6g} Hz and {v[5]:.6g} Hz", command,
                                     f"tones at {expected[0]:.6g} Hz and {expected[1]:.6g} Hz")
        settings.update(tone_spacing_hz=float(tone_spacing_hz), lower_tone_hz=float(v[3]),
                        upper_tone_hz=float(v[5]), lower_im3_hz=float(v[7]),
                        upper_im3_hz=float(v[10]), worst_toi_dbm=float(v[2]))
        return ToiResult(lower_tone_dbm=float(v[4]), upper_tone_dbm=float(v[6]),
                         lower_im3_dbm=float(v[8]), upper_im3_dbm=float(v[11]),
                         lower_toi_dbm=float(v[9]), upper_toi_dbm=float(v[12]),
                         settings=settings)

    def measure_sem(
        self, center_hz: float, channel_bandwidth_hz: float,
        segments: tuple[SemSegment, ...], reference_level_dbm: float,
    ) -> SemResult:
        """SEM measurement (``:CONF:SEM``), absolute limits, segments as offsets A.. in order.

        The interface's offsets are filter centres from the channel edge (3GPP); the driver sets
        Offset Freq Define to Carrier Center to Meas BW Center (``:SEM:OFFS:TYPE CTOC``) and
        adds half the channel bandwidth. Meas BW = N × RBW (``:SEM:OFFS:LIST:BAND``,
        ``...:BAND:IMUL``) with N up to 10 (`sem_rbw_hz`); the reference channel integrates
        the channel bandwidth (its carrier power is `carrier_power_dbm`). Margins are the
        instrument's minimum margin per offset side (limit - power, positive passes [verify
        the sign]); the frequency reported per side is that of the offset's peak power
        (``FETC:SEM?`` n=1 gives no worst-margin frequency; they coincide where the limit is
        flat), converted to absolute. Up to six segments; ValueError before anything is sent
        for an empty, too long or invalid list.
        """
        segments = tuple(segments)
        _check_segments(segments)
        _positive(center_hz=center_hz, channel_bandwidth_hz=channel_bandwidth_hz)
        half = channel_bandwidth_hz / 2
        rbw_n = [sem_rbw_hz(seg.measurement_bandwidth_hz) for seg in segments]
        unused = MAX_SEM_OFFSETS - len(segments)

        def row(values: list[str], fill: str) -> str:
            return ",".join(values + [fill] * unused)

        starts = [num(seg.start_offset_hz + half) for seg in segments]
        stops = [num(seg.stop_offset_hz + half) for seg in segments]
        rbws, multiples = [num(r) for r, _ in rbw_n], [str(n) for _, n in rbw_n]
        start_abs = [num(seg.start_limit_dbm) for seg in segments]
        stop_abs = [num(seg.stop_limit_dbm) for seg in segments]
        self._setup_measurement(
            "SEM", center_hz, reference_level_dbm, SEM_AVERAGE_COUNT,
            f":SEM:BAND:INT {num(channel_bandwidth_hz)}",
            f":SEM:FREQ:SPAN {num(channel_bandwidth_hz)}",
            ":SEM:OFFS1:TYPE CTOC",
            f":SEM:OFFS1:LIST:FREQ:STAR {row(starts, starts[-1])}",
            f":SEM:OFFS1:LIST:FREQ:STOP {row(stops, stops[-1])}",
            f":SEM:OFFS1:LIST:BAND {row(rbws, rbws[-1])}",
            f":SEM:OFFS1:LIST:BAND:IMUL {row(multiples, multiples[-1])}",
            f":SEM:OFFS1:LIST:STAR:ABS {row(start_abs, start_abs[-1])}",
            f":SEM:OFFS1:LIST:STOP:ABS {row(stop_abs, stop_abs[-1])}",
            f":SEM:OFFS1:LIST:STOP:ABS:COUP {row(['OFF'] * len(segments), 'OFF')}",
            f":SEM:OFFS1:LIST:TEST {row(['ABS'] * len(segments), 'ABS')}",
            f":SEM:OFFS1:LIST:STAT {row(['ON'] * len(segments), 'OFF')}",
        )
        settings = self._read_back("SEM", _SEM_READ_BACK, SEM_AVERAGE_COUNT)
        wait_s = SEM_AVERAGE_COUNT * (float(settings["sweep_time_s"]) + 2 * sum(
            self._sem_list(":SEM:OFFS1:LIST:SWE:TIME?")[: len(segments)]))
        self._check_sem_filters(segments)
        command = ":FETC:SEM?"
        values = self._fetch_measurement(command, SEM_RESULT_COUNT, wait_s)
        settings.update(channel_bandwidth_hz=float(channel_bandwidth_hz), offset_define="CTOC",
                        offset_rbw_hz=",".join(rbws), offset_rbw_multiple=",".join(multiples),
                        margin_frequency="peak power of each offset side")
        return _sem_result(values, len(segments), center_hz, settings)

    def _sem_list(self, command: str) -> list[float]:
        """An offset-list query (ASCII, 12 values)."""
        reply = self.session.query(command)
        return [parse_float(v, command) for v in reply.split(",")]

    def _check_sem_filters(self, segments: tuple[SemSegment, ...]) -> None:
        """UnexpectedResponse if the instrument's RBW × N differs from a segment's MBW (an RBW
        it does not have was rounded)."""
        rbw = self._sem_list(":SEM:OFFS1:LIST:BAND?")
        multiple = self._sem_list(":SEM:OFFS1:LIST:BAND:IMUL?")
        for k, seg in enumerate(segments):
            mbw = rbw[k] * multiple[k]
            if not np.isclose(mbw, seg.measurement_bandwidth_hz, rtol=1e-6):
                raise UnexpectedResponse(f"RBW {rbw[k]:g} Hz x {multiple[k]:g}",
                                         ":SEM:OFFS1:LIST:BAND?",
                                         f"a Meas BW of {seg.measurement_bandwidth_hz:g} Hz")

    def _setup_measurement(self, meas: str, center_hz: float, reference_level_dbm: float,
                           average_count: int, *commands: str) -> None:
        """Select and preset `meas` in SA mode, single measurement, shared centre frequency and
        reference level with auto-coupled attenuation; then `commands`, averaging and the data
        format; errors drained once. The ref level is the Swept SA's ``:DISP:WIND:TRAC:Y:RLEV``,
        which the X-series shares across the mode's measurements [verify]."""
        if int(average_count) != average_count or average_count < 1:
            raise ValueError(f"average_count must be an integer >= 1, not {average_count!r}")
        n = int(average_count)
        averaging = (f":{meas}:AVER ON", f":{meas}:AVER:COUN {n}") if n > 1 else (
            f":{meas}:AVER OFF",)
        self._settings = None  # the swept-SA read-back no longer describes the instrument
        self._measurement = meas
        self._configure(
            ":INST:SEL SA", f":CONF:{meas}", ":INIT:CONT OFF", f":FREQ:CENT {num(center_hz)}",
            f":DISP:WIND:TRAC:Y:RLEV {num(reference_level_dbm)}", ":POW:ATT:AUTO ON",
            *commands, *averaging, f":FORM REAL,{self.real_bits}", f":FORM:BORD {self.byte_order}",
        )

    def _run_measurement(self, meas: str, count: int,
                         average_count: int) -> tuple[np.ndarray, dict[str, float | str]]:
        """CHP/ACP/OBW: read the settings back, run for sweep time × averages, fetch
        ``:FETC:<meas>?`` (exactly `count` values)."""
        settings = self._read_back(meas, _measurement_read_back(meas), average_count)
        wait_s = float(settings["sweep_time_s"]) * int(average_count)
        return self._fetch_measurement(f":FETC:{meas}?", count, wait_s), settings

    def _read_back(self, meas: str, pairs: tuple[tuple[str, str], ...], average_count: int,
                   detector: str = "rms") -> dict[str, float | str]:
        """The measurement's settings as the instrument reports them: key → query."""
        q = self.session.query
        settings: dict[str, float | str] = {k: parse_float(q(c), c) for k, c in pairs}
        for key in ("points", "harmonics"):
            if key in settings:
                settings[key] = int(settings[key])
        settings.update(average_count=int(average_count), detector=detector, measurement=meas,
                        byte_order=self.byte_order)
        return settings

    def _fetch_measurement(self, command: str, count: int, wait_s: float) -> np.ndarray:
        """``:INIT:IMM;*OPC?`` allowing `wait_s` (+ margin), then `command` as a binary block of
        exactly `count` values; errors drained."""
        self._initiate_and_wait(wait_s)
        raw = self.session.query_binary(command, self._datatype, self.byte_order == "NORM")
        if raw.size != count:
            raise UnexpectedResponse(f"<{raw.size} values>", command, f"{count} values")
        self.session.check_errors(after=command)
        return raw.astype(np.float64)

    # -- Y-factor noise figure -------------------------------------------------------------

    def set_noise_source(self, on: bool) -> None:
        """The +28 V NOISE SOURCE drive that powers a 346-type source (``:SOUR:NOIS ON|OFF``
        [verify]), read back."""
        command = f":SOUR:NOIS {on_off(on)}"
        self._configure(command)
        if parse_bool(self.session.query(":SOUR:NOIS?"), ":SOUR:NOIS?") != on:
            raise UnexpectedResponse(str(int(not on)), ":SOUR:NOIS?", f"{int(on)} after {command}")

    def measure_noise_power(
        self, center_hz: float, bandwidth_hz: float, average_count: int = 10,
        preamplifier: bool = True,
    ) -> float:
        """Noise power (dBm) in `bandwidth_hz` at `center_hz`: Channel Power (RMS detector,
        power averaging of `average_count` sweeps), integration BW `bandwidth_hz`, span
        NOISE_SPAN_RATIO × that, 0 dB input attenuation, reference level
        NOISE_REFERENCE_LEVEL_DBM, the internal preamp over its full range if asked.

        Afterwards the preamp (if switched on) goes off and the attenuation back to auto,
        whatever happened: the driver's other measurements assume no preamp, and 0 dB leaves the
        mixer unprotected. Without `preamplifier` the preamp is not touched (the option may be
        absent).
        """
        _positive(center_hz=center_hz, bandwidth_hz=bandwidth_hz)
        preamp = (":POW:GAIN:BAND FULL", ":POW:GAIN ON") if preamplifier else ()
        done = False
        try:
            self._setup_measurement("CHP", center_hz, NOISE_REFERENCE_LEVEL_DBM, average_count,
                                    f":CHP:BAND:INT {num(bandwidth_hz)}",
                                    f":CHP:FREQ:SPAN {num(NOISE_SPAN_RATIO * bandwidth_hz)}",
                                    ":POW:ATT 0", *preamp)
            values, _ = self._run_measurement("CHP", CHP_RESULT_COUNT, average_count)
            done = True
        finally:
            try:
                self._configure(*((":POW:GAIN OFF",) if preamplifier else ()),
                                ":POW:ATT:AUTO ON")
            except Exception:
                if done:  # after a failure, the failure is the news
                    raise
        return float(values[0])

    # -- IQ capture ------------------------------------------------------------------------

    def supports_iq_capture(self) -> bool:
        return True

    def capture_iq(self, center_hz: float, sample_rate_hz: float, duration_s: float,
                   reference_level_dbm: float | None = None) -> IQCapture:
        """IQ Analyzer (Basic) Waveform capture, then back to SA mode.

        ``:READ:WAV0?`` initiates the capture and returns interleaved I,Q in peak volts; they
        are viewed as complex and scaled once by 1/√2 to rms volts (|iq|² = P·50 Ω). Centre
        frequency and sample rate are the instrument's own (read back). The X-series shares one
        front end (reference level, attenuation) between its modes.
        """
        front_end = () if reference_level_dbm is None else (
            f":DISP:WIND:TRAC:Y:RLEV {num(reference_level_dbm)}", ":POW:ATT:AUTO ON")
        self._configure(
            ":INST:SEL BASIC",
            ":CONF:WAV",
            ":INIT:CONT OFF",
            *front_end,
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


def _sem_result(values: np.ndarray, count: int, center_hz: float,
                settings: dict[str, float | str]) -> SemResult:
    """`SemResult` from the 82 ``FETC:SEM?`` values: carrier = value 0 (total power reference),
    offset k at 10 + 10k (peak offset frequency at +4 lower, +9 upper, from the carrier centre
    with CTOC), minimum margins from 70 (lower, upper per offset)."""
    offsets = values[SEM_REFERENCE_VALUES:SEM_REFERENCE_VALUES
                     + SEM_VALUES_PER_OFFSET * MAX_SEM_OFFSETS].reshape(MAX_SEM_OFFSETS, 10)
    margins = values[-2 * MAX_SEM_OFFSETS:].reshape(MAX_SEM_OFFSETS, 2)[:count]
    frequencies = offsets[:count][:, [4, 9]]
    _measured(np.concatenate([values[:1], margins.ravel(), frequencies.ravel()]), ":FETC:SEM?",
              "a carrier power, margins and frequencies for every enabled offset")
    return SemResult(
        carrier_power_dbm=float(values[0]),
        lower_margin_db=tuple(float(v) for v in margins[:, 0]),
        upper_margin_db=tuple(float(v) for v in margins[:, 1]),
        lower_frequency_hz=tuple(center_hz + float(v) for v in frequencies[:, 0]),
        upper_frequency_hz=tuple(center_hz + float(v) for v in frequencies[:, 1]),
        settings=settings,
    )


def _aclr_result(values: np.ndarray, offsets: tuple[AclrOffset, ...],
                 settings: dict[str, float | str]) -> AclrResult:
    """`AclrResult` from the 28 ``FETC:ACP?`` values; an enabled offset must have numbers."""
    rows = values[4:].reshape(MAX_ACLR_OFFSETS, 4)[: len(offsets)]
    carrier = float(values[1])
    if abs(carrier) > _NAN_LIMIT or np.any(np.abs(rows) > _NAN_LIMIT):
        raise UnexpectedResponse(str(values.tolist()), ":FETC:ACP?",
                                 "measured values for the carrier and every enabled offset")
    return AclrResult(
        carrier_power_dbm=carrier, offsets=offsets,
        lower_dbc=tuple(float(v) for v in rows[:, 0]),
        upper_dbc=tuple(float(v) for v in rows[:, 2]),
        lower_dbm=tuple(float(v) for v in rows[:, 1]),
        upper_dbm=tuple(float(v) for v in rows[:, 3]),
        settings=settings,
    )
