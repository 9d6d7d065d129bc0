"""Simulated Rohde & Schwarz FSW signal and spectrum analyzer (FSW26, FSW43) on the virtual bench.

Applications: Spectrum (swept spectrum, markers, channel power / ACLR / OBW power functions) and
the I/Q Analyzer, each in its own measurement channel with its own settings (INSTrument:CREate,
:SELect, :LIST?, :DELete), as on the instrument.

Sources: R&S FSW User Manual 1173.9411.02 (remote commands; "Channel Power and Adjacent-Channel
Power (ACLR) Measurement"; "Occupied Bandwidth"; "Common Measurement Settings"), and R&S's public
examples (Rohde-Schwarz/Examples: RsInstrument_FSW_Example.py, RsInstrument_FSW_iq_transfer_
display.py, MATLAB_visadev_directSCPI_Specan_IQ_Display.m). Reproduced behaviour:
- `*IDN?` ``Rohde&Schwarz,FSW-26,1312.8000K26/<serial>,<firmware>``; `*OPT?` a bare comma list;
  `SYST:ERR?` ``0,"No error"`` (no plus sign), ``<code>,"<text>;<detail>"``.
- RBW auto-coupled to span/100 (manual: "adapts the resolution bandwidth to ... span/100");
  Gaussian 3 dB filters 1 Hz..10 MHz in 1/2/3/5 steps plus 20/28/40 MHz [verify]; sweep points
  101..100001, *RST 1001; detectors APEak (preset) | POSitive | NEGative | RMS | AVERage | SAMPle;
  trace modes WRITe | AVERage | VIEW | BLANk (MAX/MIN hold are not simulated).
- FORMat[:DATA] ASCii | REAL,16|32|64; binary blocks are little-endian and the FSW has no
  FORMat:BORDer [verify]. `TRACe[:DATA]? TRACE<n>` y values; `TRACe[:DATA]:X? TRACE<n>` x values.
  With the auto peak detector the trace query returns the positive peaks (manual).
- Power functions (CALCulate:MARKer:FUNCtion:POWer): results in the manual's order (TX channel,
  then lower/upper adjacent, then lower/upper alternate 1...), relative (dB to the TX channel) in
  ACLR mode REL. "Adjust Settings" ([SENSe:]POWer:ACHannel:PRESet) follows the manual's rules:
  span = (n_TX - 1)*TX spacing + 2*(outer spacing + outer bandwidth) + 10 % of (spacing +
  bandwidth); RBW = largest 1/3-step value <= channel bandwidth / 40; VBW >= 3*RBW; RMS detector;
  trace averaging off. Changing the ADJ spacing scales all ALT spacings by the same factor; an
  ADJ/ALT bandwidth is copied to all higher ALT channels (manual, "Adjacent Channel Definition").
  The maths is `simulators.analyzer_measurements` (integration bandwidth method).
- I/Q Analyzer: TRACe:IQ:SRATe, :RLENgth (measurement time = record length / sample rate),
  :DATA:FORMat IQBLock (preset) | IQPair | COMPatible, `TRACe:IQ:DATA?` (captures and returns),
  `TRACe:IQ:DATA:MEMory? [<offset>,<count>]`. Values are volts with P = |v|^2/50 (R&S example:
  P[dBm] = 20*log10(V_rms) - 10*log10(50) + 30), i.e. sqrt(W*50) as `spectrum.iq_capture` gives.
  Usable I/Q bandwidth = 0.8 * sample rate, at most the analysis bandwidth [verify].
- STATus:QUEStionable:POWer bit 0 RF overload, bit 2 IF overload [verify]; summary bit 3.
- Attenuation auto-coupled to the reference level (ref + 10 dB: preset 0 dBm -> 10 dB) in 1 dB
  steps, 0..79 dB manual [verify]; the auto floor of 6 dB is `spectrum.auto_attenuation`'s.
- Sweep count (SWEep:COUNt = AVERage:COUNt): sweeps per single sweep; trace mode AVERage averages
  them (count 0: one sweep — the manual averages it with the stored trace, which the simulator
  does not keep). A channel type given to INSTrument[:SELect] selects that type's first channel,
  creating one if there is none [verify]; the driver selects channels by name.
- Out-of-range numbers are clipped to the limit with -222 queued [verify]; a command of the other
  application is -113.
- Harmonic distortion, TOI and spectrum emission mask: `simulators.rs_fsw_measurements` (one
  measurement per Spectrum channel; switching on a power function switches them off).
- Noise figure support: `DIAGnostic:SERVice:NSOurce ON|OFF` switches the 28 V supply of the
  NOISE SOURCE CONTROL connector (`bench.noise_source_on`; *RST OFF) [verify]; the noise the
  chain delivers (`simulators.noise`) adds to the analyzer's own noise in Spectrum sweeps (so in
  the power functions) and I/Q captures. Harmonics, TOI and SEM sweeps do not see it.
Items marked [verify] could not be confirmed against the manual text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from simulators import analyzer_measurements as am
from simulators import noise
from simulators import spectrum as sp
from simulators.rs_fsw_measurements import (
    FswMeasurements,
    MeasurementState,
    rs_error,
    rs_number,
)
from simulators.scpi_core import ScpiDevice, ScpiError, parse_bool, parse_enum, parse_number
from simulators.signals import ModulatedSignal, Tone

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

Args = list[str]
Sfx = tuple[int, ...]

#: FSW models [typ]: DANL 1-3 GHz typical (data sheet, RBW 1 Hz, 0 dB att, no noise
#: cancellation), input-mixer 1 dB compression (nominal), B160 analysis bandwidth, I/Q sample
#: rate range of the I/Q Analyzer (100 Hz..10 GHz with resampling) [verify]
FSW_MODELS: dict[str, sp.AnalyzerModel] = {
    "FSW26": sp.AnalyzerModel("FSW26", -156.0, -167.0, 13.0, f_min_hz=0.0, f_max_hz=26.5e9,
                              f_spec_max_hz=26.5e9, max_points=100_001, max_rbw_hz=40e6,
                              analysis_bw_hz=160e6, max_sample_rate_hz=10e9),
    "FSW43": sp.AnalyzerModel("FSW43", -155.0, -166.0, 13.0, f_min_hz=0.0, f_max_hz=43.5e9,
                              f_spec_max_hz=43.5e9, max_points=100_001, max_rbw_hz=40e6,
                              analysis_bw_hz=160e6, max_sample_rate_hz=10e9),
}
_PART = {"FSW26": "1312.8000K26", "FSW43": "1312.8000K43"}
_OPTIONS = ("B4", "B13", "B24", "B160", "K7", "K70")  # OCXO, highpass, preamp, 160 MHz BW
FIRMWARE = "5.30.0.85"  # [verify]
MIN_POINTS = 101
MIN_SPAN_HZ = 10.0  # zero span (time domain) is not simulated
MAX_AUTO_RBW_HZ = 3e6  # RBW shown after preset at full span [verify]
MAX_ATTENUATION_DB = 79.0  # 0..79 dB, 1 dB steps [verify]
MAX_MIXER_DBM = -10.0  # preset: ref 0 dBm -> 10 dB attenuation
MAX_RECORD_LENGTH = 16_000_000  # the FSW allows ~440 Msamples; the simulator stops here
COMPATIBLE_BLOCK = 512 * 1024  # TRAC:IQ:DATA:FORM COMPatible: 512k I then 512k Q

#: FSW detector -> (spectrum.py detector, averaging domain of that detector)
_DETECTOR_PHYSICS: dict[str, tuple[sp.Detector, sp.AverageType | None]] = {
    "APE": ("POS", None),  # remote trace data of the auto peak detector: positive peaks
    "POS": ("POS", None), "NEG": ("NEG", None), "SAMP": ("SAMP", None),
    "RMS": ("AVER", "RMS"), "AVER": ("AVER", "SCAL"),  # average: linear video voltage [verify]
}  # fmt: skip
_DETECTORS = ["APEak", "POSitive", "NEGative", "RMS", "AVERage", "SAMPle"]
#: AVERage:TYPE VIDeo (logarithmic) | LINear (linear units: mW for a dBm scale) | POWer (W)
_AVERAGE_DOMAIN: dict[str, sp.AverageType] = {"VID": "LOG", "LIN": "RMS", "POW": "RMS"}
_TRACE_MODES = ["WRITe", "AVERage", "VIEW", "BLANk"]
_CHANNEL_TYPES = {"SAN": "Spectrum", "IQ": "IQ Analyzer"}
_TYPE_WORDS = {"SAN": "SANALYZER", "IQ": "IQ"}
_POWER_FUNCTIONS = {"ACP": "ACP", "CPOW": "CPOW", "OBW": "OBW", "OBAN": "OBW"}


def fsw_bandwidths() -> np.ndarray:
    """Gaussian 3 dB RBW/VBW values: 1 Hz..10 MHz in 1/2/3/5 steps, then 20, 28, 40 MHz."""
    decades = np.array([1.0, 2.0, 3.0, 5.0])
    return np.concatenate([decades * 10.0**d for d in range(7)] + [[1e7, 2e7, 2.8e7, 4e7]])


_BANDWIDTHS = fsw_bandwidths()


def snap_bandwidth(value_hz: float, limit_hz: float = 40e6) -> float:
    """The available filter nearest to `value_hz` (ties up) [verify: the FSW may round up]."""
    vals = _BANDWIDTHS[np.less_equal(_BANDWIDTHS, limit_hz * (1 + 1e-9))]
    return float(vals[int(np.argmin(np.abs(vals - value_hz) - 1e-9 * vals))])


def adjust_rbw_hz(channel_bandwidth_hz: float) -> float:
    """Adjust Settings RBW: the largest 1/3-step filter <= channel bandwidth / 40 (manual)."""
    steps = np.concatenate([np.array([1.0, 3.0]) * 10.0**d for d in range(7)])
    ok = steps[np.less_equal(steps, channel_bandwidth_hz / 40.0 * (1 + 1e-9))]
    return float(ok[-1]) if ok.size else 1.0


def adjust_span_hz(tx_bandwidth_hz: float, offsets_hz: list[float],
                   bandwidths_hz: list[float]) -> float:
    """Adjust Settings span (one TX channel): 2*(spacing + bandwidth) of the outermost channel
    plus a margin of 10 % of (spacing + bandwidth); CP: 2*TX bandwidth + 10 % (manual) [verify]."""
    if not offsets_hz:
        return 2.1 * tx_bandwidth_hz
    outer = int(np.argmax(np.asarray(offsets_hz) + np.asarray(bandwidths_hz) / 2))
    return 2.1 * (offsets_hz[outer] + bandwidths_hz[outer])


_rs = rs_number
_err = rs_error


@dataclass
class _PowerConfig:
    """Channel power / ACLR / OBW settings of one Spectrum channel (*RST values [verify])."""

    function: str | None = None  # "ACP" | "CPOW" | "OBW" while the power function is on
    tx_count: int = 1
    pairs: int = 1
    tx_bw_hz: float = 14e3
    spacing_hz: list[float] = field(default_factory=lambda: [14e3] + [
        20e3 * (k + 1) for k in range(1, 12)])  # ADJ, ALT1..ALT11
    bandwidth_hz: list[float] = field(default_factory=lambda: [14e3] * 12)
    relative: bool = True
    noise_correction: bool = False
    obw_percent: float = 99.0


@dataclass
class _Acquisition:
    """What one sweep saw (signals at INIT time, settings) and a seed for its noise."""

    tones: list[Tone]
    modulated: list[ModulatedSignal]
    settings: sp.SweepSettings
    traces: dict[int, tuple[str, int]]  # trace -> (FSW detector, sweeps averaged)
    seed: int
    cache: dict[int, sp.SweepResult] = field(default_factory=dict)
    #: excess noise PSD (W/Hz) per display point from the noise-source chain, at INIT time
    external_noise_w_hz: np.ndarray | None = None


@dataclass
class _Channel:
    """Front end shared by both applications (each channel has its own)."""

    name: str
    center_hz: float
    ref_dbm: float = 0.0
    atten_db: float = 10.0
    atten_auto: bool = True
    preamp: bool = False
    cont: bool = True
    status: int = 0  # STAT:QUES:POW condition of the last acquisition

    kind = ""


@dataclass
class _Spectrum(_Channel):
    span_hz: float = 26.5e9
    points: int = 1001
    rbw_hz: float = 3e6
    rbw_auto: bool = True
    vbw_hz: float = 3e6
    vbw_auto: bool = True
    swt_s: float = 1e-3
    swt_auto: bool = True
    count: int = 0
    average_type: str = "VID"
    detector: dict[int, str] = field(default_factory=lambda: dict.fromkeys(range(1, 7), "APE"))
    detector_auto: dict[int, bool] = field(default_factory=lambda: dict.fromkeys(range(1, 7),
                                                                                 True))
    mode: dict[int, str] = field(default_factory=lambda: {1: "WRIT", **dict.fromkeys(
        range(2, 7), "BLAN")})
    markers: dict[int, float | None] = field(default_factory=lambda: dict.fromkeys(range(1, 17)))
    marker_trace: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 17), 1))
    power: _PowerConfig = field(default_factory=_PowerConfig)
    meas: MeasurementState = field(default_factory=MeasurementState)
    last: _Acquisition | None = None
    frozen: dict[int, sp.SweepResult] = field(default_factory=dict)

    kind = "SAN"

    @property
    def start_hz(self) -> float:
        return self.center_hz - self.span_hz / 2

    @property
    def stop_hz(self) -> float:
        return self.center_hz + self.span_hz / 2


@dataclass
class _IqAcquisition:
    tones: list[Tone]
    modulated: list[ModulatedSignal]
    center_hz: float
    sample_rate_hz: float
    n: int
    seed: int
    noise_dbm_hz: float
    gain_db: float
    if_bandwidth_hz: float
    samples: np.ndarray | None = None


@dataclass
class _IqAnalyzer(_Channel):
    sample_rate_hz: float = 32e6  # *RST [verify]
    record_length: int = 1001  # *RST [verify]
    data_format: str = "IQBL"
    last: _IqAcquisition | None = None

    kind = "IQ"


class RohdeSchwarzFSW(ScpiDevice):
    """FSW on the virtual bench; `model` is a simulator key (`rs_fsw26`, `rs_fsw43`)."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "signal_analyzer",
                 model: str = "rs_fsw26") -> None:
        super().__init__(bench, role, model)
        self.hw = FSW_MODELS["FSW43" if "43" in model else "FSW26"]
        serial = int(self.unit_rng.integers(100_000, 200_000))
        self.idn = ("Rohde&Schwarz", f"FSW-{self.hw.model[3:]}",
                    f"{_PART[self.hw.model]}/{serial}", FIRMWARE)
        self.options = _OPTIONS
        self.amplitude_offset_db = float(self.unit_rng.uniform(-0.06, 0.06))
        self.channels: dict[str, _Channel] = {}
        self.active = ""
        self.meas = FswMeasurements(self, snap_bandwidth)
        self._register()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """*RST: one Spectrum channel with preset settings; ASCII data format [verify]."""
        super().reset()
        self.data_format = "ASC"
        self.byte_order = "SWAP"
        self.channels = {}
        self._new_channel("SAN", "Spectrum")
        self._set_noise_source(False)  # *RST: 28 V noise-source supply off [verify]

    def _set_noise_source(self, on: bool) -> None:
        """The 28 V supply of the NOISE SOURCE CONTROL connector (a 346-type source's drive)."""
        if self.bench is not None:
            with self.bench.lock:
                if self.bench.noise_source_on != on:
                    self.bench.log_event(self.role, f"noise source 28 V {'ON' if on else 'OFF'}")
                self.bench.noise_source_on = on

    def _new_channel(self, kind: str, name: str) -> _Channel:
        if name in self.channels:
            raise _err(-221, f"channel name '{name}' exists")
        if len(self.channels) >= 10:
            raise _err(-221, "at most 10 measurement channels")
        f_max = self.hw.f_max_hz
        ch: _Channel = (_Spectrum(name, f_max / 2, span_hz=f_max) if kind == "SAN"
                        else _IqAnalyzer(name, f_max / 2))
        self.channels[name] = ch
        self.active = name
        return ch

    @property
    def ch(self) -> _Channel:
        return self.channels[self.active]

    def _san(self) -> _Spectrum:
        ch = self.ch
        if not isinstance(ch, _Spectrum):
            raise _err(-113, "not available in the I/Q Analyzer")
        return ch

    def _iqa(self) -> _IqAnalyzer:
        ch = self.ch
        if not isinstance(ch, _IqAnalyzer):
            raise _err(-113, "not available in the Spectrum application")
        return ch

    @staticmethod
    def _format_error(code: int, message: str) -> str:
        return f'{code},"{message}"'  # R&S: 0,"No error" (no sign)

    def questionable_status(self) -> int:
        return 8 if any(c.status for c in self.channels.values()) else 0  # bit 3: POWer

    # ------------------------------------------------------------------ couplings
    def _rbw(self, ch: _Spectrum) -> float:
        if not ch.rbw_auto:
            return ch.rbw_hz
        return snap_bandwidth(min(max(ch.span_hz / 100.0, 1.0), MAX_AUTO_RBW_HZ))

    def _vbw(self, ch: _Spectrum) -> float:
        return snap_bandwidth(self._rbw(ch)) if ch.vbw_auto else ch.vbw_hz  # RBW/VBW = 1

    def _atten(self, ch: _Channel) -> float:
        if not ch.atten_auto:
            return ch.atten_db
        gain = sp.preamp_gain_db(ch.center_hz) if ch.preamp else 0.0
        return sp.auto_attenuation(ch.ref_dbm, gain, MAX_MIXER_DBM, 1.0)

    def _detector(self, ch: _Spectrum, t: int) -> str:
        if not ch.detector_auto[t]:
            return ch.detector[t]
        return "SAMP" if ch.mode[t] == "AVER" else "APE"  # auto detector [verify]

    def _average_count(self, ch: _Spectrum, t: int) -> int:
        """Sweeps averaged into trace `t` by one single sweep: the sweep count (count 0: one
        sweep, averaged with the stored trace in the manual; the simulator keeps no history)."""
        return max(ch.count, 1) if ch.mode[t] == "AVER" else 1

    def _sweep(self, ch: _Spectrum) -> tuple[float, str]:
        code, _ = _DETECTOR_PHYSICS[self._detector(ch, 1)]
        auto = sp.sweep_time(ch.span_hz, self._rbw(ch), self._vbw(ch), code, ch.points,
                             self.hw.analysis_bw_hz)
        return auto if ch.swt_auto or auto[1] == "FFT" else (ch.swt_s, "SWE")

    def _sweeps_per_init(self, ch: _Spectrum) -> int:
        return max([ch.count, 1] + [self._average_count(ch, t) for t in range(1, 7)])

    def _settings(self, ch: _Spectrum) -> sp.SweepSettings:
        t, kind = self._sweep(ch)
        code, domain = _DETECTOR_PHYSICS[self._detector(ch, 1)]
        return sp.SweepSettings(
            ch.start_hz, ch.stop_hz, ch.points, self._rbw(ch), self._vbw(ch), code,
            domain or _AVERAGE_DOMAIN[ch.average_type], 1, self._atten(ch), ch.ref_dbm,
            ch.preamp, None if ch.swt_auto or kind == "FFT" else t)

    # ------------------------------------------------------------------ acquisition
    def _signals(self) -> tuple[list[Tone], list[ModulatedSignal]]:
        if self.bench is None:
            return [], []
        return list(self.bench.tones_at(self.role)), list(self.bench.modulated_at(self.role))

    def _acquire(self, ch: _Spectrum) -> _Acquisition:
        tones, mods = self._signals()
        traces = {t: (self._detector(ch, t), self._average_count(ch, t)) for t in range(1, 7)}
        settings = self._settings(ch)
        x = np.linspace(settings.start_hz, settings.stop_hz, settings.points)
        acq = _Acquisition(tones, mods, settings, traces, int(self.rng.integers(2**62)),
                           external_noise_w_hz=noise.excess_psd_w_hz(self.bench, self.role, x))
        _, _, overload, over = sp.input_flags(tones, acq.settings, self.hw,
                                              self.amplitude_offset_db, mods)
        ch.status = 1 * overload + 4 * over
        return acq

    def _initiate(self, *_a: object) -> None:
        if self.busy:
            raise _err(-213, "measurement in progress")
        ch = self.ch
        if isinstance(ch, _Spectrum):
            duration = self.meas.sweep_duration_s(ch, self._sweep(ch)[0]
                                                  * self._sweeps_per_init(ch))
            ch.last = self._acquire(ch)
            self.start_operation(duration)
            return
        assert isinstance(ch, _IqAnalyzer)
        ch.last = self._iq_acquire(ch)
        self.start_operation(ch.record_length / ch.sample_rate_hz + 1e-3)

    def _trace(self, ch: _Spectrum, t: int) -> sp.SweepResult:
        if ch.mode[t] == "BLAN":
            raise _err(-221, f"trace {t} is blank")
        if ch.mode[t] == "VIEW" and t in ch.frozen:
            return ch.frozen[t]
        if ch.cont or ch.last is None:
            ch.last = self._acquire(ch)
        acq = ch.last
        if t not in acq.cache:
            det, count = acq.traces[t]
            code, domain = _DETECTOR_PHYSICS[det]
            s = replace(acq.settings, detector=code, average_count=count,
                        average_type=domain or _AVERAGE_DOMAIN[ch.average_type])
            rng = np.random.default_rng([acq.seed, t])
            acq.cache[t] = sp.synthesize_sweep(acq.tones, s, self.hw, rng,
                                               self.amplitude_offset_db, modulated=acq.modulated,
                                               external_noise_w_hz=acq.external_noise_w_hz)
        return acq.cache[t]

    def _iq_acquire(self, ch: _IqAnalyzer) -> _IqAcquisition:
        tones, mods = self._signals()
        atten = self._atten(ch)
        _, comp, overload = sp.mixer_state(tones, atten, ch.preamp, self.hw, mods)
        ch.status = 1 * overload
        nd = float(sp.noise_density_dbm_hz(self.hw, ch.center_hz, atten, ch.preamp))
        excess = noise.excess_psd_w_hz(self.bench, self.role, np.array([ch.center_hz]))
        if excess is not None:  # the chain's noise, through the input (gain error included)
            gain = 10.0 ** ((self.amplitude_offset_db - comp) / 10.0)
            nd = 10.0 * float(np.log10(10.0 ** (nd / 10.0) + gain * float(excess[0]) * 1e3))
        ifbw = min(0.8 * ch.sample_rate_hz, self.hw.analysis_bw_hz)
        return _IqAcquisition(tones, mods, ch.center_hz, ch.sample_rate_hz, ch.record_length,
                              int(self.rng.integers(2**62)), nd,
                              self.amplitude_offset_db - comp, ifbw)

    def _iq_samples(self, ch: _IqAnalyzer) -> np.ndarray:
        acq = ch.last
        if acq is None:
            raise _err(-230, "no I/Q data captured")
        if acq.samples is None:
            rng = np.random.default_rng(acq.seed)
            acq.samples = sp.iq_capture(
                acq.tones, acq.center_hz, acq.sample_rate_hz, acq.n, rng, acq.noise_dbm_hz,
                if_bandwidth_hz=acq.if_bandwidth_hz, gain_db=acq.gain_db,
                t0_s=float(rng.uniform(0.0, 1.0)), modulated=acq.modulated)
        return acq.samples

    def _iq_block(self, ch: _IqAnalyzer, x: np.ndarray) -> bytes:
        """IQBLock: all I then all Q; IQPair: I,Q interleaved; COMPatible: 512k blocks."""
        if ch.data_format == "IQP":
            out = np.empty(2 * x.size)
            out[0::2], out[1::2] = x.real, x.imag
        elif ch.data_format == "IQBL":
            out = np.concatenate([x.real, x.imag])
        else:
            b = COMPATIBLE_BLOCK
            parts = [np.concatenate([x.real[i:i + b], x.imag[i:i + b]])
                     for i in range(0, x.size, b)]
            out = np.concatenate(parts) if parts else np.empty(0)
        return self.format_values(out)

    def format_values(self, values: Any) -> bytes:
        """ASCII or a little-endian REAL,16|32|64 definite-length block."""
        if self.data_format != "REAL,16":
            return super().format_values(values)
        payload = np.asarray(values, dtype="<f2").tobytes()
        n = str(len(payload))
        return f"#{len(n)}{n}".encode() + payload + b"\n"

    # ------------------------------------------------------------------ helpers
    def _num(self, args: Args, unit: str, lo: float, hi: float, default: float) -> float:
        """A number; out-of-range values are clipped to the limit with -222 queued [verify]."""
        kw = {"MIN": lo, "MINIMUM": lo, "MAX": hi, "MAXIMUM": hi, "DEF": default,
              "DEFAULT": default}
        value = parse_number(args[0], unit, keywords=kw)
        if value < lo or value > hi:
            self.push_error(-222, "Data out of range;value clipped to limit")
            value = min(max(value, lo), hi)
        return value

    def _int(self, args: Args, lo: int, hi: int, default: int) -> int:
        return int(round(self._num(args, "", lo, hi, default)))

    def _trace_query(self, args: Args, x_axis: bool) -> bytes:
        """TRACe[:DATA][:X]? TRACE<n> | LIST: y (or x) values of a trace, or of the SEM."""
        ch = self._san()
        if not args:
            raise ScpiError(-109)
        special = self.meas.trace_values(ch, args[0], x_axis)
        if special is not None:
            return self.format_values(special)
        r = self._trace(ch, self._trace_arg(args))
        return self.format_values(r.frequency_hz if x_axis else r.power_dbm)

    def _trace_arg(self, args: Args) -> int:
        if not args:
            raise ScpiError(-109)
        word = args[0].strip().upper()
        if word.startswith("TRACE") and word[5:].isdigit() and 1 <= int(word[5:]) <= 6:
            return int(word[5:])
        raise ScpiError(-224)

    # ------------------------------------------------------------------ channels
    def _channel_arg(self, arg: str) -> tuple[str | None, str | None]:
        """(type, None) for a channel type word, (None, name) for a quoted channel name."""
        text = arg.strip()
        if text[:1] in ("'", '"'):
            return None, self.parse_string(text)
        return parse_enum(text, ["SANalyzer", "IQ"]), None

    def _select(self, a: Args, s: Sfx) -> None:
        kind, name = self._channel_arg(a[0])
        if name is not None:
            if name not in self.channels:
                raise _err(-224, f"no channel '{name}'")
            self.active = name
            return
        existing = [n for n, c in self.channels.items() if c.kind == kind]
        if existing:  # a type selects its existing channel [verify]
            self.active = existing[0]
        else:
            self._new_channel(str(kind), _CHANNEL_TYPES[str(kind)])

    def _create(self, a: Args, s: Sfx) -> None:
        if len(a) != 2:
            raise ScpiError(-109)
        kind, _ = self._channel_arg(a[0])
        if kind is None:
            raise ScpiError(-224)
        self._new_channel(kind, self.parse_string(a[1]))

    def _delete(self, a: Args, s: Sfx) -> None:
        name = self.parse_string(a[0])
        if name not in self.channels:
            raise _err(-224, f"no channel '{name}'")
        if len(self.channels) == 1:
            raise _err(-221, "the last channel cannot be deleted")
        del self.channels[name]
        if self.active == name:
            self.active = next(iter(self.channels))

    def _list(self, a: Args, s: Sfx) -> str:
        return ",".join(f"'{_TYPE_WORDS[c.kind]}','{n}'" for n, c in self.channels.items())

    # ------------------------------------------------------------------ frequency / amplitude
    def _set_freq(self, which: str, args: Args) -> None:
        lo, hi = self.hw.f_min_hz, self.hw.f_max_hz
        ch = self.ch
        if which == "CENT":
            c = self._num(args, "HZ", lo, hi, hi / 2)
            if isinstance(ch, _Spectrum):
                ch.span_hz = min(ch.span_hz, 2 * (c - lo), 2 * (hi - c))
                ch.span_hz = max(ch.span_hz, MIN_SPAN_HZ)
                c = min(max(c, lo + ch.span_hz / 2), hi - ch.span_hz / 2)
            ch.center_hz = c
            return
        san = self._san()
        if which == "SPAN":
            span = self._num(args, "HZ", MIN_SPAN_HZ, hi - lo, hi - lo)
            san.center_hz = min(max(san.center_hz, lo + span / 2), hi - span / 2)
            san.span_hz = span
            return
        start, stop = san.start_hz, san.stop_hz
        if which == "STAR":
            start = self._num(args, "HZ", lo, hi - MIN_SPAN_HZ, lo)
            stop = max(stop, start + MIN_SPAN_HZ)
        else:
            stop = self._num(args, "HZ", lo + MIN_SPAN_HZ, hi, hi)
            start = min(start, stop - MIN_SPAN_HZ)
        san.center_hz, san.span_hz = (start + stop) / 2, stop - start

    def _get_freq(self, which: str) -> str:
        ch = self.ch
        if which == "CENT":
            return _rs(ch.center_hz)
        san = self._san()
        return _rs({"SPAN": san.span_hz, "STAR": san.start_hz, "STOP": san.stop_hz}[which])

    def _set_ref(self, a: Args, s: Sfx) -> None:
        self.ch.ref_dbm = self._num(a, "DBM", -130.0, 30.0, 0.0)

    def _set_atten(self, a: Args, s: Sfx) -> None:
        value = self._num(a, "DB", 0.0, MAX_ATTENUATION_DB, 10.0)
        self.ch.atten_db, self.ch.atten_auto = float(round(value)), False

    def _set_preamp(self, a: Args, s: Sfx) -> None:
        if "B24" not in self.options:
            raise _err(-221, "preamplifier option B24 not installed")
        self.ch.preamp = parse_bool(a[0])

    # ------------------------------------------------------------------ bandwidth / sweep
    def _set_rbw(self, a: Args, s: Sfx) -> None:
        ch = self._san()
        ch.rbw_hz = snap_bandwidth(self._num(a, "HZ", 1.0, self.hw.max_rbw_hz, 3e6))
        ch.rbw_auto = False

    def _set_vbw(self, a: Args, s: Sfx) -> None:
        ch = self._san()
        ch.vbw_hz, ch.vbw_auto = snap_bandwidth(self._num(a, "HZ", 1.0, 40e6, 3e6)), False

    def _set_swt(self, a: Args, s: Sfx) -> None:
        ch = self.ch
        if isinstance(ch, _IqAnalyzer):  # I/Q Analyzer: measurement time sets the record length
            t = self._num(a, "S", 2.0 / ch.sample_rate_hz,
                          MAX_RECORD_LENGTH / ch.sample_rate_hz, 1001 / ch.sample_rate_hz)
            ch.record_length = max(2, int(round(t * ch.sample_rate_hz)))
            return
        assert isinstance(ch, _Spectrum)
        ch.swt_s, ch.swt_auto = self._num(a, "S", 1e-6, 16000.0, 1e-3), False

    def _get_swt(self, a: Args, s: Sfx) -> str:
        ch = self.ch
        if isinstance(ch, _IqAnalyzer):
            return _rs(ch.record_length / ch.sample_rate_hz)
        return _rs(self._sweep(self._san())[0])

    def _set_detector(self, a: Args, s: Sfx) -> None:
        ch, t = self._san(), s[1]
        ch.detector[t], ch.detector_auto[t] = parse_enum(a[0], _DETECTORS), False

    def _set_trace_mode(self, a: Args, s: Sfx) -> None:
        ch, t = self._san(), s[2]
        mode = parse_enum(a[0], _TRACE_MODES)
        ch.frozen.pop(t, None)
        if mode == "VIEW" and ch.mode[t] != "BLAN":
            ch.frozen[t] = self._trace(ch, t)
        ch.mode[t] = mode

    # ------------------------------------------------------------------ markers
    def _marker_on(self, ch: _Spectrum, m: int) -> float:
        self.meas.refresh_markers(ch)
        f = ch.markers[m]
        if f is None:
            raise _err(-221, f"marker {m} is off")  # [verify]
        return f

    def _marker_peak(self, s: Sfx, next_peak: bool = False) -> None:
        ch, m = self._san(), s[1]
        r = self._trace(ch, ch.marker_trace[m])
        y = r.power_dbm
        if next_peak and ch.markers[m] is not None:
            i = sp.next_peak_index(y, float(y[self._marker_index(ch, m, r)]))
            if i < 0:
                raise _err(-200, "no peak found")
        else:
            i = int(np.argmax(y))
        ch.markers[m] = float(r.frequency_hz[i])

    @staticmethod
    def _marker_index(ch: _Spectrum, m: int, r: sp.SweepResult) -> int:
        return int(np.argmin(np.abs(r.frequency_hz - (ch.markers[m] or 0.0))))

    def _set_marker_x(self, a: Args, s: Sfx) -> None:
        ch = self._san()
        f = self._num(a, "HZ", ch.start_hz, ch.stop_hz, ch.center_hz)
        x = np.linspace(ch.start_hz, ch.stop_hz, ch.points)
        ch.markers[s[1]] = float(x[int(np.argmin(np.abs(x - f)))])

    def _marker_y(self, a: Args, s: Sfx) -> str:
        ch, m = self._san(), s[1]
        self._marker_on(ch, m)
        r = self._trace(ch, ch.marker_trace[m])
        return _rs(float(r.power_dbm[self._marker_index(ch, m, r)]))

    def _set_marker_state(self, a: Args, s: Sfx) -> None:
        ch, m = self._san(), s[1]
        if not parse_bool(a[0]):
            ch.markers[m] = None
        elif ch.markers[m] is None:
            ch.markers[m] = ch.center_hz

    # ------------------------------------------------------------------ power functions
    def _set_power_function(self, a: Args, s: Sfx) -> None:
        ch = self._san()
        ch.power.function = _POWER_FUNCTIONS[parse_enum(
            a[0], ["ACPower", "CPOWer", "OBWidth", "OBANdwidth"])]
        self.meas.deselect(ch)

    def _set_power_state(self, a: Args, s: Sfx) -> None:
        ch = self._san()
        power = ch.power
        if not parse_bool(a[0]):
            power.function = None
        elif power.function is None:
            power.function = "ACP"  # [verify]
            self.meas.deselect(ch)

    def _offsets(self, p: _PowerConfig) -> tuple[list[float], list[float]]:
        return p.spacing_hz[:p.pairs], p.bandwidth_hz[:p.pairs]

    def _set_spacing(self, k: int, args: Args) -> None:
        """k = 0 ADJ, k >= 1 ALT k: higher channels scale by the same factor (manual)."""
        p = self._san().power
        new = self._num(args, "HZ", 100.0, 2e9, p.spacing_hz[k])
        factor = new / p.spacing_hz[k]
        p.spacing_hz[k] = new
        for j in range(k + 1, len(p.spacing_hz)):
            p.spacing_hz[j] *= factor

    def _set_channel_bw(self, k: int, args: Args) -> None:
        """k = 0 ADJ, k >= 1 ALT k: the value is copied to all higher channels (manual)."""
        p = self._san().power
        value = self._num(args, "HZ", 100.0, 1e9, p.bandwidth_hz[k])
        for j in range(k, len(p.bandwidth_hz)):
            p.bandwidth_hz[j] = value

    def _power_preset(self, a: Args, s: Sfx) -> None:
        """Adjust Settings for CP / ACLR / OBW (manual, "Optimized Settings")."""
        ch = self._san()
        kind = _POWER_FUNCTIONS[parse_enum(a[0], ["ACPower", "CPOWer", "OBWidth", "OBANdwidth"])]
        p = ch.power
        offsets, widths = self._offsets(p) if kind == "ACP" else ([], [])
        span = adjust_span_hz(p.tx_bw_hz, offsets, widths)
        lo, hi = self.hw.f_min_hz, self.hw.f_max_hz
        ch.span_hz = min(span, hi - lo)
        ch.center_hz = min(max(ch.center_hz, lo + ch.span_hz / 2), hi - ch.span_hz / 2)
        ch.rbw_hz, ch.rbw_auto = adjust_rbw_hz(min([p.tx_bw_hz] + widths)), False
        i = int(np.searchsorted(_BANDWIDTHS, 3.0 * ch.rbw_hz * (1 - 1e-9)))
        ch.vbw_hz = float(_BANDWIDTHS[min(i, _BANDWIDTHS.size - 1)])  # smallest >= 3*RBW
        ch.vbw_auto = False
        ch.detector[1], ch.detector_auto[1] = "RMS", False
        ch.mode[1] = "WRIT"
        ch.swt_auto = True

    def _power_result(self, a: Args, s: Sfx) -> str:
        ch = self._san()
        want = parse_enum(a[0], ["ACPower", "CPOWer", "OBWidth", "OBANdwidth", "AOBWidth",
                                 "AOBandwidth"]) if a else "ACP"
        kind = {"AOBW": "OBW", "AOB": "OBW", "OBAN": "OBW"}.get(want, want)
        p = ch.power
        if p.function is None or p.function != kind:
            raise _err(-221, f"power measurement {kind} not active")  # [verify]
        r = self._trace(ch, 1)
        rbw = ch.last.settings.rbw_hz if ch.last is not None else self._rbw(ch)
        center = float(r.frequency_hz[0] + r.frequency_hz[-1]) / 2
        if kind == "CPOW":
            cp = am.channel_power(r, rbw, center, p.tx_bw_hz, p.noise_correction)
            return _rs(cp.power_dbm)
        if kind == "ACP":
            offsets, widths = self._offsets(p)
            acp = am.adjacent_channel_power(r, rbw, center, p.tx_bw_hz, offsets, widths,
                                            p.noise_correction)
            low, up = (acp.lower_dbc, acp.upper_dbc) if p.relative else (acp.lower_dbm,
                                                                         acp.upper_dbm)
            values = [acp.carrier_dbm] + [v for pair in zip(low, up, strict=True) for v in pair]
            return ",".join(_rs(float(v)) for v in values)
        obw = am.occupied_bandwidth(r, rbw, p.obw_percent)
        if want not in ("AOBW", "AOB"):
            return _rs(obw.bandwidth_hz)
        levels = np.interp([obw.lower_edge_hz, obw.upper_edge_hz], r.frequency_hz, r.power_dbm)
        return ",".join(_rs(float(v)) for v in (obw.bandwidth_hz, obw.lower_edge_hz, levels[0],
                                                obw.upper_edge_hz, levels[1]))  # [verify]

    # ------------------------------------------------------------------ I/Q data
    def _iq_memory(self, a: Args, s: Sfx) -> bytes:
        ch = self._iqa()
        x = self._iq_samples(ch)
        if a:
            if len(a) != 2:
                raise ScpiError(-109)
            offset = int(round(parse_number(a[0], minimum=0, maximum=x.size - 1)))
            count = int(round(parse_number(a[1], minimum=1, maximum=x.size - offset)))
            x = x[offset:offset + count]
        return self._iq_block(ch, x)

    def _iq_read(self, a: Args, s: Sfx) -> bytes:
        ch = self._iqa()
        self._initiate()
        return self._iq_block(ch, self._iq_samples(ch))

    # ------------------------------------------------------------------ command tree
    def _register(self) -> None:
        c = self.command

        def flag(get: Any, put: Any) -> dict[str, Any]:
            return {"set": lambda a, s: put(parse_bool(a[0])),
                    "query": lambda a, s: "1" if get() else "0"}

        c("INSTrument[:SELect]", set=self._select, query=lambda a, s: self.ch.kind)
        c("INSTrument:CREate[:NEW]", set=self._create)
        c("INSTrument:DELete", set=self._delete)
        c("INSTrument:LIST", query=self._list)
        for key, node in (("CENT", "CENTer"), ("SPAN", "SPAN"), ("STAR", "STARt"),
                          ("STOP", "STOP")):
            c(f"[:SENSe]:FREQuency:{node}", set=lambda a, s, k=key: self._set_freq(k, a),
              query=lambda a, s, k=key: self._get_freq(k))
        c("[:SENSe]:FREQuency:SPAN:FULL", set=lambda a, s: self._set_freq("SPAN", ["MAX"]))
        c("DISPlay[:WINDow<n>]:TRACe<n>:Y[:SCALe]:RLEVel", set=self._set_ref,
          query=lambda a, s: _rs(self.ch.ref_dbm))
        c("INPut:ATTenuation", set=self._set_atten, query=lambda a, s: _rs(self._atten(self.ch)))
        c("INPut:ATTenuation:AUTO", **flag(lambda: self.ch.atten_auto,
                                           lambda v: setattr(self.ch, "atten_auto", v)))
        c("INPut:GAIN:STATe", set=self._set_preamp, query=lambda a, s: str(int(self.ch.preamp)))
        c("DIAGnostic:SERVice:NSOurce", **flag(
            lambda: self.bench is not None and self.bench.noise_source_on,
            self._set_noise_source))
        for bw in ("BANDwidth", "BWIDth"):
            c(f"[:SENSe]:{bw}[:RESolution]", set=self._set_rbw,
              query=lambda a, s: _rs(self._rbw(self._san())))
            c(f"[:SENSe]:{bw}[:RESolution]:AUTO", **flag(
                lambda: self._san().rbw_auto, lambda v: setattr(self._san(), "rbw_auto", v)))
            c(f"[:SENSe]:{bw}:VIDeo", set=self._set_vbw,
              query=lambda a, s: _rs(self._vbw(self._san())))
            c(f"[:SENSe]:{bw}:VIDeo:AUTO", **flag(
                lambda: self._san().vbw_auto, lambda v: setattr(self._san(), "vbw_auto", v)))
        c("[:SENSe]:SWEep:POINts", set=lambda a, s: setattr(
            self._san(), "points", self._int(a, MIN_POINTS, self.hw.max_points, 1001)),
          query=lambda a, s: str(self._san().points))
        c("[:SENSe]:SWEep:TIME", set=self._set_swt, query=self._get_swt)
        c("[:SENSe]:SWEep:TIME:AUTO", **flag(lambda: self._san().swt_auto,
                                             lambda v: setattr(self._san(), "swt_auto", v)))
        c("[:SENSe]:SWEep:TYPE", query=lambda a, s: self._sweep(self._san())[1])
        for node in ("[:SENSe]:SWEep:COUNt", "[:SENSe]:AVERage<n>:COUNt"):
            c(node, set=lambda a, s: setattr(self._san(), "count", self._int(a, 0, 200_000, 0)),
              query=lambda a, s: str(self._san().count))
        c("[:SENSe]:AVERage<n>:TYPE", set=lambda a, s: setattr(
            self._san(), "average_type", parse_enum(a[0], ["VIDeo", "LINear", "POWer"])),
          query=lambda a, s: self._san().average_type)
        det = "[:SENSe][:WINDow<n>]:DETector<n>"
        c(f"{det}[:FUNCtion]", set=self._set_detector,
          query=lambda a, s: self._detector(self._san(), s[1]))
        c(f"{det}[:FUNCtion]:AUTO", set=lambda a, s: self._san().detector_auto.__setitem__(
            s[1], parse_bool(a[0])), query=lambda a, s: str(int(self._san().detector_auto[s[1]])))
        c("DISPlay[:WINDow<n>][:SUBWindow<n>]:TRACe<n>:MODE", set=self._set_trace_mode,
          query=lambda a, s: self._san().mode[s[2]])
        c("INITiate<n>:CONTinuous", **flag(lambda: self.ch.cont,
                                           lambda v: setattr(self.ch, "cont", v)))
        c("INITiate<n>[:IMMediate]", set=self._initiate)
        c("ABORt", set=lambda a, s: setattr(self, "busy_until", 0.0))
        c("FORMat[:DATA]", set=self._set_format, query=lambda a, s: (
            "ASC,0" if self.data_format == "ASC" else self.data_format))
        c("TRACe<n>[:DATA]", query=lambda a, s: self._trace_query(a, False), waits=True)
        c("TRACe<n>[:DATA]:X", query=lambda a, s: self._trace_query(a, True), waits=True)
        self._register_markers()
        self._register_power()
        self._register_iq()
        self.meas.register()
        c("STATus:QUEStionable:POWer[:EVENt]", query=lambda a, s: str(self.ch.status))
        c("STATus:QUEStionable:POWer:CONDition", query=lambda a, s: str(self.ch.status))

    def _register_markers(self) -> None:
        c, mk = self.command, "CALCulate<n>:MARKer<n>"
        c(f"{mk}[:STATe]", set=self._set_marker_state,
          query=lambda a, s: "0" if self._san().markers[s[1]] is None else "1")
        c(f"{mk}:MAXimum[:PEAK]", set=lambda a, s: self._marker_peak(s), waits=True)
        c(f"{mk}:MAXimum:NEXT", set=lambda a, s: self._marker_peak(s, True), waits=True)
        c(f"{mk}:X", set=self._set_marker_x,
          query=lambda a, s: _rs(self._marker_on(self._san(), s[1])))
        c(f"{mk}:Y", query=self._marker_y, waits=True)
        c(f"{mk}:TRACe", set=lambda a, s: self._san().marker_trace.__setitem__(
            s[1], self._int(a, 1, 6, 1)), query=lambda a, s: str(self._san().marker_trace[s[1]]))

    def _register_power(self) -> None:
        c, fn, ach = self.command, "CALCulate<n>:MARKer<n>:FUNCtion:POWer", \
            "[:SENSe]:POWer:ACHannel"
        c(f"{fn}:SELect", set=self._set_power_function,
          query=lambda a, s: self._san().power.function or "OFF")
        c(f"{fn}[:STATe]", set=self._set_power_state,
          query=lambda a, s: "0" if self._san().power.function is None else "1")
        c(f"{fn}:RESult", query=self._power_result, waits=True)

        def p() -> _PowerConfig:
            return self._san().power

        def tx_count(a: Args, s: Sfx) -> None:
            if self._int(a, 1, 18, 1) != 1:
                raise _err(-221, "the simulated FSW measures one TX channel")
            p().tx_count = 1

        c(f"{ach}:TXCHannel:COUNt", set=tx_count, query=lambda a, s: str(p().tx_count))
        c(f"{ach}:ACPairs", set=lambda a, s: setattr(p(), "pairs", self._int(a, 0, 12, 1)),
          query=lambda a, s: str(p().pairs))
        for bw in ("BANDwidth", "BWIDth"):
            c(f"{ach}:{bw}[:CHANnel<n>]", set=lambda a, s: setattr(
                p(), "tx_bw_hz", self._num(a, "HZ", 100.0, 1e9, 14e3)),
              query=lambda a, s: _rs(p().tx_bw_hz))
            c(f"{ach}:{bw}:ACHannel", set=lambda a, s: self._set_channel_bw(0, a),
              query=lambda a, s: _rs(p().bandwidth_hz[0]))
            c(f"{ach}:{bw}:ALTernate<n>", set=lambda a, s: self._set_channel_bw(
                self._alt(s), a), query=lambda a, s: _rs(p().bandwidth_hz[self._alt(s)]))
        c(f"{ach}:SPACing[:ACHannel]", set=lambda a, s: self._set_spacing(0, a),
          query=lambda a, s: _rs(p().spacing_hz[0]))
        c(f"{ach}:SPACing:ALTernate<n>", set=lambda a, s: self._set_spacing(self._alt(s), a),
          query=lambda a, s: _rs(p().spacing_hz[self._alt(s)]))
        c(f"{ach}:MODE", set=lambda a, s: setattr(
            p(), "relative", parse_enum(a[0], ["ABSolute", "RELative"]) == "REL"),
          query=lambda a, s: "REL" if p().relative else "ABS")
        c(f"{ach}:PRESet", set=self._power_preset)
        c("[:SENSe]:POWer:NCORrection", set=lambda a, s: setattr(
            p(), "noise_correction", parse_bool(a[0])),
          query=lambda a, s: str(int(p().noise_correction)))
        for bw in ("BANDwidth", "BWIDth"):
            c(f"[:SENSe]:POWer:{bw}", set=lambda a, s: setattr(
                p(), "obw_percent", self._num(a, "PCT", 10.0, 99.9, 99.0)),
              query=lambda a, s: _rs(p().obw_percent))

    @staticmethod
    def _alt(s: Sfx) -> int:
        if not 1 <= s[-1] <= 11:
            raise ScpiError(-113)
        return s[-1]

    def _register_iq(self) -> None:
        c, iq = self.command, "TRACe:IQ"
        c(f"{iq}:SRATe", set=lambda a, s: setattr(self._iqa(), "sample_rate_hz", self._num(
            a, "HZ", 100.0, self.hw.max_sample_rate_hz, 32e6)),
          query=lambda a, s: _rs(self._iqa().sample_rate_hz))
        c(f"{iq}:RLENgth", set=lambda a, s: setattr(self._iqa(), "record_length", self._int(
            a, 2, MAX_RECORD_LENGTH, 1001)), query=lambda a, s: str(self._iqa().record_length))
        c(f"{iq}:BWIDth", query=lambda a, s: _rs(min(0.8 * self._iqa().sample_rate_hz,
                                                     self.hw.analysis_bw_hz)))
        c(f"{iq}:DATA:FORMat", set=lambda a, s: setattr(self._iqa(), "data_format", parse_enum(
            a[0], ["IQBLock", "IQPair", "COMPatible"])),
          query=lambda a, s: self._iqa().data_format)
        c(f"{iq}:DATA", query=self._iq_read, waits=True)
        c(f"{iq}:DATA:MEMory", query=self._iq_memory, waits=True)

    def _set_format(self, a: Args, s: Sfx) -> None:
        kind = parse_enum(a[0], ["ASCii", "REAL"])
        if kind == "ASC":
            self.data_format = "ASC"
            return
        bits = int(round(parse_number(a[1]))) if len(a) > 1 else 32
        if bits not in (16, 32, 64):
            raise ScpiError(-224)
        self.data_format = f"REAL,{bits}"
