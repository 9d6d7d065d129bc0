"""Simulated Keysight X-series signal analyzer (N9030B PXA, N9020B MXA): Swept SA + IQ Basic.

Command forms follow the X-series Spectrum Analyzer Mode User's & Programmer's Reference (Swept SA
and "Programming the Instrument" chapters) and public drivers (QCoDeS `Keysight_N9030B.py`).
Documented behaviour reproduced here: Span:RBW 106:1 auto coupling, 160 Gaussian RBWs; auto
attenuation from ref level and Max Mixer Level (-10 dBm), 2 dB steps, never below 6 dB in auto;
FFT sweeps for RBW <= 210 Hz; points 1..100001; `FORM` query answers `ASC,8|REAL,32|REAL,64|INT,32`
and INT,32 sends mdBm (TRACe:DATA only, REAL,32 elsewhere); `FETC|READ:SAN<n>?` x,y pairs;
STAT:QUES:INT bit 4 Input Overload, bit 5 Over Range; IQ `FETC:WAV0?` I,Q pairs in volts where
power = 10*log10(10*|v|^2) dBm ("rms value (peak volts)"), i.e. P[W] = |v|^2/100, and
`FETC:WAV1?` = sample time, mean power, mean power averaged, samples, PAPR, max, min.
`*OPT?` answers a quoted string as the instrument does (`"526,B25,..."`).

Built-in power measurements of SA mode (X-series SA mode reference, "Channel Power", "ACP" and
"Occupied BW" chapters): `:CONFigure:CHPower|ACPower|OBWidth[:NDEFault]`, `:INITiate:<meas>`,
`:FETCh|READ|MEASure:<meas>[1]?`. Each keeps its own "Meas Local" settings (span, RBW, points,
averaging, sweep time); centre frequency, reference level and attenuation are shared with the
Swept SA. They sweep with the RMS (average) detector, integrate with the integration-bandwidth
method (`simulators.analyzer_measurements`) and answer: CHP -> channel power dBm, PSD dBm/Hz;
ACP -> 4 reference values then lower rel dB, lower abs dBm, upper rel dB, upper abs dBm per
offset A..F (28 values, 9.91E+37 where an offset is off); OBW -> occupied BW Hz, total power dBm,
transmit frequency error Hz, x dB bandwidth Hz.

Harmonics, TOI and SEM (same reference, "Harmonics", "TOI" and "SEM" measurement chapters; PSA
E4440A one-button measurement reference for the harmonics and TOI result tables the X-series
kept): `:CONFigure:HARMonics|TOI|SEMask[:NDEFault]`, `:INITiate:<meas>`.
HARM measures the fundamental and each harmonic n*f0 (n = 2..`:HARM:NUMB`) in zero span with
RMS averaging, RBW of harmonic n = n x the fundamental's RBW (next available), and answers
`:FETCh:HARMonics:AMPLitude:ALL?` (10 values: fundamental dBm, H2..H10 dBc, 0 for harmonics not
measured), `...:AMPLitude<n>?`, `...:FREQuency:ALL|<n>?`, `...:FUNDamental?`, `...[:DISTortion]?`
(THD %). TOI sweeps span/RBW with the peak detector, takes the two largest signals as the base
tones and answers `FETCh:TOI?` (6 values: worst intercept dBm, its IM Hz, lower intercept, lower
IM Hz, upper intercept, upper IM Hz), `FETCh:TOI2?` (13 values) and `FETCh:TOI:IP3?`. SEM sweeps
the reference channel and each enabled offset pair A..F (lists of 12 values; SA mode measures
A..F) with its own RBW, integrates Meas BW = IMULti x RBW sliding across the offset and answers
`FETCh:SEMask?` n=1: 10 reference values, 10 per offset A..F (lower rel/abs integrated power,
rel/abs peak power, peak offset frequency, then the same upper), 12 minimum margins (lower A,
upper A, ... upper F): 82 values. The analyzer's own harmonic and intermodulation distortion
is not modelled: HARM and TOI read what the input carries (plus the analyzer's noise).

Noise figure support (Y-factor in SA mode): the rear-panel +28 V noise-source drive
(`:SOURce:NOISe[:STATe] ON|OFF`, *RST OFF [verify: the NF mode reference documents the noise
source control; its SA-mode form was not confirmed]) switches `bench.noise_source_on`; the noise
the chain delivers (`simulators.noise`) adds to the analyzer's own noise in every sweep,
measurement and IQ capture. The internal preamp (`[:SENSe]:POWer[:RF]:GAIN[:STATe]`) amplifies
up to 3.6 GHz with `:GAIN:BAND LOW` (preset) and over the whole range with `FULL`.
Result layouts, the measurements' "Meas Local" set-ups and acquisition records live in
`simulators.xseries_setups`; this module is the SCPI tree and the acquisition logic.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from simulators import analyzer_measurements as am
from simulators import noise
from simulators import spectrum as sp
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    format_float,
    parse_bool,
    parse_enum,
    parse_number,
)
from simulators.signals import ModulatedSignal, Tone
from simulators.xseries_setups import (
    ACP_RESULTS,
    HARM_RESULTS,
    LOW_BAND_PREAMP_MAX_HZ,
    MAX_HARMONICS,
    MEASUREMENTS,
    N_OFFSETS,
    NAN_RESULT,
    SEM_LIST_SIZE,
    SEM_OFFSET_TYPES,
    SEM_OFFSETS,
    SEM_REFERENCE_VALUES,
    SEM_RESULTS,
    SEM_VALUES_PER_OFFSET,
    SETUPS,
    TOI2_RESULTS,
    AcpSetup,
    Acquisition,
    ChpSetup,
    HarmSetup,
    IqAcquisition,
    MeasAcquisition,
    ObwSetup,
    PowerMeasSetup,
    SemSetup,
    Sweep,
    finite,
    xdb_bandwidth_hz,
)

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

Args = list[str]
Sfx = tuple[int, ...]
_OPTIONS = {"N9030B": ("526", "B1X", "B25", "DP2", "EA3", "EP1", "FSA", "MPB", "NF2", "P26",
                       "PFR"),
            "N9020B": ("526", "B25", "DP2", "EA3", "FSA", "P26", "PFR")}
_DETS = ["AVERage", "POSitive", "SAMPle", "NEGative", "NORMal"]
_TRACE_RE = re.compile(r"^TRAC(?:E)?([1-6])$")


class KeysightXSeriesAnalyzer(ScpiDevice):
    """X-series analyzer on the virtual bench; `model` is "N9030B"/"N9020B" or a simulator key."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "signal_analyzer",
                 model: str = "N9030B") -> None:
        super().__init__(bench, role, model)
        self.hw = sp.MODELS["N9020B" if "9020" in model else "N9030B"]
        self.options = _OPTIONS[self.hw.model]
        self.idn = ("Keysight Technologies", self.hw.model,
                    f"MY{int(self.unit_rng.integers(10**7, 10**8))}", "A.33.03")
        self.amplitude_offset_db = float(self.unit_rng.uniform(-0.06, 0.06))
        self._cond = threading.Condition(self.lock)
        self.mode = "SA"  # *RST presets the current mode; it does not change it
        self._register()
        self._register_measurements()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        hw = self.hw
        self.cont = True
        self.start_hz, self.stop_hz = 10e6, hw.f_spec_max_hz
        self.atten_db, self.atten_auto, self.ref_dbm, self.preamp = 10.0, True, 0.0, False
        self.preamp_band = "LOW"
        if self.bench is not None:
            with self.bench.lock:
                self.bench.noise_source_on = False  # *RST: +28 V drive off [verify]
        self.srate, self.wav_time = 12.5e6, 2e-3
        self._meas_preset()
        self.markers: dict[int, float | None] = dict.fromkeys(range(1, 13))
        self.marker_trace: dict[int, int] = dict.fromkeys(range(1, 13), 1)
        self.last: Acquisition | None = None
        self.last_iq: IqAcquisition | None = None
        self.integrity = 0
        self.meas = "SAN"  # Mode Preset selects the Swept SA measurement
        self.setups: dict[str, PowerMeasSetup] = {k: make() for k, make in SETUPS.items()}
        self.meas_acq: dict[str, MeasAcquisition] = {}

    def _meas_preset(self) -> None:
        self.points, self.rbw, self.rbw_auto, self.vbw, self.vbw_auto = 1001, 3e6, True, 3e6, True
        self.det: dict[int, str] = dict.fromkeys(range(1, 7), "NORM")
        self.det_auto, self.avg_type, self.avg_type_auto = True, "LOG", True
        self.avg_on, self.avg_count, self.swt, self.swt_auto = False, 100, 1e-3, True

    def _det(self, n: int = 1) -> str:
        if n == 1 and self.det_auto:
            return ("AVER" if self._avg_type() == "RMS" else "SAMP") if self.avg_on else "NORM"
        return self.det[n]

    def _avg_type(self) -> str:
        if not self.avg_type_auto:
            return self.avg_type
        return "RMS" if not self.det_auto and self.det[1] == "AVER" else "LOG"

    def _rbw(self) -> float:
        return sp.auto_rbw(self.stop_hz - self.start_hz) if self.rbw_auto else self.rbw

    def _vbw(self) -> float:
        return sp.auto_vbw(self._rbw(), self._det()) if self.vbw_auto else self.vbw

    def _preamp_on(self, center_hz: float | None = None) -> bool:
        """Preamp in the signal path: on, and band FULL or a low-band (< 3.6 GHz) frequency."""
        f = (self.start_hz + self.stop_hz) / 2 if center_hz is None else center_hz
        return self.preamp and (self.preamp_band == "FULL" or f < LOW_BAND_PREAMP_MAX_HZ)

    def _atten(self) -> float:
        if not self.atten_auto:
            return self.atten_db
        center = (self.start_hz + self.stop_hz) / 2
        gain = sp.preamp_gain_db(center) if self._preamp_on(center) else 0.0
        return sp.auto_attenuation(self.ref_dbm, gain)

    def _sweep(self) -> tuple[float, str]:
        auto = sp.sweep_time(self.stop_hz - self.start_hz, self._rbw(), self._vbw(), self._det(),
                             self.points, self.hw.analysis_bw_hz)
        return auto if self.swt_auto or auto[1] == "FFT" else (self.swt, "SWE")

    def settings(self, n: int = 1) -> sp.SweepSettings:
        t, kind = self._sweep()
        return sp.SweepSettings(
            self.start_hz, self.stop_hz, self.points, self._rbw(), self._vbw(), self._det(n),
            self._avg_type(), self.avg_count if self.avg_on else 1, self._atten(), self.ref_dbm,
            self._preamp_on(), None if self.swt_auto or kind == "FFT" else t)

    # ------------------------------------------------------------------ helpers
    def _num(self, args: Args, unit: str, lo: float, hi: float, default: float) -> float:
        """Parse a number; out-of-range values are clipped to the limit with -222 queued."""
        kw = {"MIN": lo, "MINIMUM": lo, "MAX": hi, "MAXIMUM": hi, "DEF": default,
              "DEFAULT": default}
        value = parse_number(args[0], unit, keywords=kw)
        if value < lo or value > hi:
            self.push_error(-222, "Data out of range;value clipped to limit")
            value = min(max(value, lo), hi)
        return value

    def _tones(self) -> list[Tone]:
        return list(self.bench.tones_at(self.role)) if self.bench is not None else []

    def _modulated(self) -> list[ModulatedSignal]:
        return list(self.bench.modulated_at(self.role)) if self.bench is not None else []

    def _external_noise(self, settings: sp.SweepSettings) -> np.ndarray | None:
        """Excess noise PSD at each display point of `settings` from the noise-source chain."""
        x = np.linspace(settings.start_hz, settings.stop_hz, int(settings.points))
        return noise.excess_psd_w_hz(self.bench, self.role, x)

    def _set_noise_source(self, on: bool) -> None:
        if self.bench is not None:
            with self.bench.lock:
                self.bench.noise_source_on = on
                self.bench.log_event(self.role, f"noise source +28 V {'ON' if on else 'OFF'}")

    def _need(self, mode: str) -> None:
        if self.mode != mode:
            raise ScpiError(-113, "Undefined header;not available in this mode")

    def _acquire(self) -> Acquisition:
        settings = self.settings()
        acq = Acquisition(self._tones(), settings, int(self.rng.integers(2**62)),
                           self._modulated(), external_noise_w_hz=self._external_noise(settings))
        _, _, overload, over = sp.input_flags(acq.tones, acq.settings, self.hw,
                                              self.amplitude_offset_db, modulated=acq.modulated)
        self.integrity = 16 * overload + 32 * over
        return acq

    def _initiate(self, *_a: object) -> None:
        if self.busy:
            raise ScpiError(-213)
        if self.mode == "BASIC":
            self.last_iq = self._acquire_iq()
            self.start_operation(self.last_iq.n_samples / self.srate + 1e-3)
            return
        if self.meas != "SAN":
            acq = self._acquire_meas(self.meas)
            self.meas_acq[self.meas] = acq
            self.start_operation(acq.duration_s)
            return
        self.last = self._acquire()
        t, _ = self._sweep()
        self.start_operation(t * (self.avg_count if self.avg_on else 1))

    def _acquire_iq(self) -> IqAcquisition:
        n = min(max(int(round(self.srate * self.wav_time)), 1), 4_000_000)
        fc, tones, modulated = (self.start_hz + self.stop_hz) / 2, self._tones(), self._modulated()
        preamp = self._preamp_on(fc)
        _, comp, overload = sp.mixer_state(tones, self._atten(), preamp, self.hw,
                                           modulated=modulated)
        self.integrity = 16 * overload
        nd = float(sp.noise_density_dbm_hz(self.hw, fc, self._atten(), preamp))
        excess = noise.excess_psd_w_hz(self.bench, self.role, np.array([fc]))
        if excess is not None:  # the chain's noise, through the input (gain error included)
            gain = 10.0 ** ((self.amplitude_offset_db - comp) / 10.0)
            nd = 10.0 * math.log10(10.0 ** (nd / 10.0) + gain * float(excess[0]) * 1e3)
        return IqAcquisition(tones, modulated, fc, self.srate, n, int(self.rng.integers(2**62)),
                              nd, self.amplitude_offset_db - comp)

    def _wait_sweep(self) -> None:
        """Block inside a handler until the operation ends, releasing the bench lock."""
        while (remaining := self.busy_until - time.monotonic()) > 0:
            self._cond.wait(min(remaining, 0.2))

    def _trace(self, n: int = 1) -> sp.SweepResult:
        if self.cont or self.last is None:
            self.last = self._acquire()
        acq = self.last
        if n not in acq.cache:
            rng = np.random.default_rng([acq.seed, n])
            s = replace(acq.settings, detector=self._det(n))
            acq.cache[n] = sp.synthesize_sweep(acq.tones, s, self.hw, rng,
                                               self.amplitude_offset_db,
                                               modulated=acq.modulated,
                                               external_noise_w_hz=acq.external_noise_w_hz)
        return acq.cache[n]

    def _block(self, values: np.ndarray, trace_data: bool = False) -> bytes:
        if self.data_format != "INT,32":
            return self.format_values(values)
        order = ">" if self.byte_order == "NORM" else "<"
        if trace_data:
            payload = np.round(np.asarray(values) * 1000.0).astype(order + "i4").tobytes()
        else:
            payload = np.asarray(values, dtype=order + "f4").tobytes()
        n = str(len(payload))
        return f"#{len(n)}{n}".encode() + payload + b"\n"

    def questionable_status(self) -> int:
        return 512 if self.integrity else 0  # bit 9: INTegrity summary

    # ------------------------------------------------------------------ frequency
    def _set_freq(self, which: str, args: Args) -> None:
        lo, hi = self.hw.f_min_hz, self.hw.f_max_hz
        c, span = (self.start_hz + self.stop_hz) / 2, self.stop_hz - self.start_hz
        if which == "CENT":
            c = self._num(args, "HZ", lo + 5, hi - 5, (10e6 + self.hw.f_spec_max_hz) / 2)
            half = min(span / 2, c - lo, hi - c)
            self.start_hz, self.stop_hz = c - half, c + half
        elif which == "SPAN":
            span = self._num(args, "HZ", 10.0, hi - lo, hi - lo)
            c = min(max(c, lo + span / 2), hi - span / 2)
            self.start_hz, self.stop_hz = c - span / 2, c + span / 2
        elif which == "STAR":
            self.start_hz = self._num(args, "HZ", lo, hi - 10, 10e6)
            self.stop_hz = max(self.stop_hz, self.start_hz + 10)
        else:
            self.stop_hz = self._num(args, "HZ", lo + 10, hi, self.hw.f_spec_max_hz)
            self.start_hz = min(self.start_hz, self.stop_hz - 10)

    def _get_freq(self, which: str) -> float:
        a, b = self.start_hz, self.stop_hz
        return {"CENT": (a + b) / 2, "SPAN": b - a, "STAR": a, "STOP": b}[which]

    # ------------------------------------------------------------------ markers
    def _marker_peak(self, n: int, next_peak: bool) -> None:
        r = self._trace(self.marker_trace[n])
        y = r.power_dbm
        if not next_peak or self.markers[n] is None:
            i = int(np.argmax(y))
        else:
            cur = y[self._marker_index(n, r)]
            i = sp.next_peak_index(y, cur)
            if i < 0:
                raise ScpiError(-200, "Execution error;No peak found")
        self.markers[n] = float(r.frequency_hz[i])

    def _marker_index(self, n: int, r: sp.SweepResult) -> int:
        f = self.markers[n]
        return int(np.argmin(np.abs(r.frequency_hz - f))) if f is not None else 0

    def _marker_y(self, n: int) -> float:
        if self.markers[n] is None:
            return NAN_RESULT
        r = self._trace(self.marker_trace[n])
        return float(r.power_dbm[self._marker_index(n, r)])

    def _set_marker_x(self, args: Args, s: Sfx) -> None:
        f = self._num(args, "HZ", self.start_hz, self.stop_hz, self.start_hz)
        x = np.linspace(self.start_hz, self.stop_hz, self.points)
        self.markers[s[0]] = float(x[int(np.argmin(np.abs(x - f)))])

    # ------------------------------------------------------------------ IQ (Basic mode)
    def _iq(self) -> np.ndarray:
        """Last capture as X-series volts (peak scaling: |v|^2/100 = W)."""
        cap = self.last_iq
        if cap is None:
            raise ScpiError(-230, "Data corrupt or stale;no waveform acquired")
        rng = np.random.default_rng(cap.seed)
        x = sp.iq_capture(cap.tones, cap.center_hz, cap.sample_rate_hz, cap.n_samples, rng,
                          cap.noise_density_dbm_hz, gain_db=cap.gain_db,
                          t0_s=float(rng.uniform(0.0, 1.0)), modulated=cap.modulated)
        return x * math.sqrt(2.0)

    def _wav_results(self, n: int) -> bytes:
        self._need("BASIC")
        if n not in (0, 1):
            raise ScpiError(-113)
        v = self._iq()
        if n == 0:
            out = np.empty(2 * v.size)
            out[0::2], out[1::2] = v.real, v.imag
            return self._block(out)
        p = np.abs(v) ** 2 / 100.0  # W
        mean_dbm = 10 * math.log10(max(float(p.mean()), 1e-30)) + 30
        pk, mn = (10 * math.log10(max(float(f(p)), 1e-30)) + 30 for f in (np.max, np.min))
        fs = self.last_iq.sample_rate_hz if self.last_iq is not None else self.srate
        return self._block(np.array([1.0 / fs, mean_dbm, mean_dbm, v.size, pk - mean_dbm, pk,
                                     mn]))

    # ------------------------------------------------------------------ command tree
    def _register(self) -> None:  # a flat table of the instrument's headers
        c, hw = self.command, self.hw

        def flag(attr: str) -> tuple[object, object]:
            def setter(a: Args, s: Sfx) -> None:
                setattr(self, attr, parse_bool(a[0]))

            return setter, (lambda a, s: "1" if getattr(self, attr) else "0")

        def number(attr: str, unit: str, lo: float, hi: float, default: float,
                   integer: bool = False) -> tuple[object, object]:
            def setter(a: Args, s: Sfx) -> None:
                v = self._num(a, unit, lo, hi, default)
                setattr(self, attr, int(round(v)) if integer else v)

            return setter, (lambda a, s: getattr(self, attr))

        def inst_sel(a: Args, s: Sfx) -> None:
            word = a[0].strip().upper().strip("\"'")
            if word not in ("SA", "BASIC"):
                raise ScpiError(-224)
            self.mode = word

        c(":INSTrument[:SELect]", set=inst_sel, query=lambda a, s: self.mode)
        c(":INSTrument:NSELect", set=lambda a, s: inst_sel(
            [{1: "SA", 8: "BASIC"}.get(int(parse_number(a[0])), "?")], s),
          query=lambda a, s: "1" if self.mode == "SA" else "8")
        c(":INSTrument:CATalog", query=lambda a, s: '"SA 1, BASIC 8"')
        c(":CONFigure", query=lambda a, s: self.meas if self.mode == "SA" else "WAV")
        c(":CONFigure:CATalog", query=lambda a, s: (
            '"' + ",".join(MEASUREMENTS) + '"' if self.mode == "SA" else '"WAV"'))
        c(":CONFigure:SANalyzer", set=lambda a, s: self._select("SAN", preset=True))
        c(":CONFigure:SANalyzer:NDEFault", set=lambda a, s: self._select("SAN", preset=False))
        c(":CONFigure:WAVeform[:NDEFault]", set=lambda a, s: self._need("BASIC"))
        for key, node in (("CENT", "CENTer"), ("SPAN", "SPAN"), ("STAR", "STARt"),
                          ("STOP", "STOP")):
            c(f"[:SENSe]:FREQuency:{node}", set=lambda a, s, k=key: self._set_freq(k, a),
              query=lambda a, s, k=key: self._get_freq(k))
        c("[:SENSe]:FREQuency:SPAN:FULL", set=lambda a, s: self._set_freq("SPAN", ["MAX"]))

        def set_rbw(a: Args, s: Sfx) -> None:
            self.rbw = sp.snap_rbw(self._num(a, "HZ", 1.0, hw.max_rbw_hz, 3e6), hw.max_rbw_hz)
            self.rbw_auto = False

        def set_vbw(a: Args, s: Sfx) -> None:
            self.vbw, self.vbw_auto = self._num(a, "HZ", 1.0, 50e6, 3e6), False

        for bw in ("[:SENSe]:BANDwidth", "[:SENSe]:BWIDth"):  # manual: BANDwidth|BWIDth
            c(f"{bw}[:RESolution]", set=set_rbw, query=lambda a, s: self._rbw())
            c(f"{bw}[:RESolution]:AUTO", *flag("rbw_auto"))
            c(f"{bw}:VIDeo", set=set_vbw, query=lambda a, s: self._vbw())
            c(f"{bw}:VIDeo:AUTO", *flag("vbw_auto"))
        c("[:SENSe]:SWEep:POINts", *number("points", "", 1, hw.max_points, 1001, True))

        def set_swt(a: Args, s: Sfx) -> None:
            self.swt, self.swt_auto = self._num(a, "S", 1e-6, 4000.0, 1e-3), False

        c("[:SENSe]:SWEep:TIME", set=set_swt, query=lambda a, s: self._sweep()[0])
        c("[:SENSe]:SWEep:TIME:AUTO", *flag("swt_auto"))
        c("[:SENSe]:SWEep:TYPE", query=lambda a, s: self._sweep()[1])

        def set_att(a: Args, s: Sfx) -> None:
            v = self._num(a, "DB", 0.0, 70.0, 10.0)
            self.atten_db, self.atten_auto = math.ceil(v / 2 - 1e-9) * 2.0, False

        pw = "[:SENSe]:POWer[:RF]"
        c(f"{pw}:ATTenuation", set=set_att, query=lambda a, s: self._atten())
        c(f"{pw}:ATTenuation:AUTO", *flag("atten_auto"))
        c(f"{pw}:GAIN[:STATe]", *flag("preamp"))
        c(f"{pw}:GAIN:BAND", set=lambda a, s: setattr(
            self, "preamp_band", parse_enum(a[0], ["LOW", "FULL"])),
          query=lambda a, s: self.preamp_band)
        c(":SOURce:NOISe[:STATe]", set=lambda a, s: self._set_noise_source(parse_bool(a[0])),
          query=lambda a, s: "1" if self.bench is not None and self.bench.noise_source_on
          else "0")
        c(":DISPlay:WINDow<n>:TRACe:Y[:SCALe]:RLEVel", *number("ref_dbm", "DBM", -170, 30, 0))

        def set_det(a: Args, s: Sfx, all_traces: bool = False) -> None:
            word = parse_enum(a[0], [*_DETS, "RMS"])
            det = "AVER" if word == "RMS" else word
            for n in range(1, 7) if all_traces else (s[0],):
                self.det[n] = det
            if all_traces or s[0] == 1:
                self.det_auto = False

        c("[:SENSe]:DETector:TRACe<n>", set=set_det, query=lambda a, s: self._det(s[0]))
        c("[:SENSe]:DETector:TRACe<n>:AUTO", set=lambda a, s: setattr(
            self, "det_auto", parse_bool(a[0])), query=lambda a, s: str(int(self.det_auto)))
        c("[:SENSe]:DETector[:FUNCtion]", set=lambda a, s: set_det(a, s, True),
          query=lambda a, s: self._det())

        def set_avg_type(a: Args, s: Sfx) -> None:
            word = parse_enum(a[0], ["RMS", "POWer", "LOG", "SCALar"])
            self.avg_type, self.avg_type_auto = "RMS" if word == "POW" else word, False

        c("[:SENSe]:AVERage:TYPE", set=set_avg_type, query=lambda a, s: self._avg_type())
        c("[:SENSe]:AVERage:TYPE:AUTO", *flag("avg_type_auto"))
        c("[:SENSe]:AVERage:COUNt", *number("avg_count", "", 1, 10000, 100, True))
        c("[:SENSe]:AVERage[:STATe]", *flag("avg_on"))
        c(":INITiate:CONTinuous", *flag("cont"))
        c(":INITiate[:IMMediate]", set=self._initiate)
        c(":INITiate:SANalyzer", set=lambda a, s: (self._select("SAN", False), self._initiate()))
        c(":INITiate:WAVeform", set=lambda a, s: (self._need("BASIC"), self._initiate()))
        c(":ABORt", set=lambda a, s: setattr(self, "busy_until", 0.0))
        self.register_format_commands()  # FORMat:BORDer; FORMat:DATA replaced for INT,32
        c(":FORMat[:TRACe][:DATA]", set=self._set_format,
          query=lambda a, s: "ASC,8" if self.data_format == "ASC" else self.data_format)

        def trace_data(a: Args, s: Sfx) -> bytes:
            m = _TRACE_RE.match(a[0].strip().upper()) if a else None
            if m is None:
                raise ScpiError(-224 if a else -109)
            self._need("SA")
            return self._block(self._trace(int(m.group(1))).power_dbm, trace_data=True)

        c(":TRACe[:DATA]", query=trace_data, waits=True)

        def san(a: Args, s: Sfx, read: bool = False) -> bytes:
            self._need("SA")
            if not 1 <= s[0] <= 6:
                raise ScpiError(-113)
            if read:
                self._select("SAN", preset=False)
                self._initiate()
                self._wait_sweep()
            elif self.meas != "SAN":
                raise ScpiError(-221, "Settings conflict;measurement not active")
            r = self._trace(s[0])
            return self._block(np.column_stack([r.frequency_hz, r.power_dbm]).ravel())

        c(":FETCh:SANalyzer<n>", query=san, waits=True)
        c(":READ:SANalyzer<n>", query=lambda a, s: san(a, s, True), waits=True)

        def wav(a: Args, s: Sfx, read: bool = False) -> bytes:
            self._need("BASIC")
            if read:
                self._initiate()
                self._wait_sweep()
            return self._wav_results(s[0])

        c(":FETCh:WAVeform<n>", query=wav, waits=True)
        c(":READ:WAVeform<n>", query=lambda a, s: wav(a, s, True), waits=True)
        c("[:SENSe]:WAVeform:SRATe", *number("srate", "HZ", 100, hw.max_sample_rate_hz, 12.5e6))
        c("[:SENSe]:WAVeform:DIF:BANDwidth", set=lambda a, s: setattr(self, "srate", 1.25 * (
            self._num(a, "HZ", 80.0, hw.max_sample_rate_hz / 1.25, 10e6))),
          query=lambda a, s: self.srate / 1.25)
        c("[:SENSe]:WAVeform:SWEep:TIME", *number("wav_time", "S", 1e-6, 4000, 2e-3))
        mk = ":CALCulate:MARKer<n>"

        def marker_mode(a: Args, s: Sfx) -> None:
            on = parse_enum(a[0], ["POSition", "OFF"]) == "POS"
            if on and self.markers[s[0]] is None:
                self.markers[s[0]] = (self.start_hz + self.stop_hz) / 2
            elif not on:
                self.markers[s[0]] = None

        c(f"{mk}:MODE", set=marker_mode,
          query=lambda a, s: "OFF" if self.markers[s[0]] is None else "POS")
        c(f"{mk}:MAXimum", set=lambda a, s: self._marker_peak(s[0], False), waits=True)
        c(f"{mk}:MAXimum:NEXT", set=lambda a, s: self._marker_peak(s[0], True), waits=True)
        c(f"{mk}:X", set=self._set_marker_x,
          query=lambda a, s: NAN_RESULT if self.markers[s[0]] is None else self.markers[s[0]])
        c(f"{mk}:Y", query=lambda a, s: self._marker_y(s[0]), waits=True)
        c(f"{mk}:TRACe", set=lambda a, s: self.marker_trace.__setitem__(s[0], int(round(
            self._num(a, "", 1, 6, 1)))), query=lambda a, s: str(self.marker_trace[s[0]]))
        c(":STATus:QUEStionable:INTegrity[:EVENt|:CONDition]",
          query=lambda a, s: str(self.integrity))
        c("*OPT", query=lambda a, s: '"' + ",".join(self.options) + '"')

    # ------------------------------------------------------------------ CHP / ACP / OBW
    def _select(self, key: str, preset: bool) -> None:
        """Make `key` the active measurement (CONFigure stops a running one); `preset` restores
        its Meas Local defaults, as `:CONFigure:<meas>` does (`:NDEFault` does not)."""
        self._need("SA")
        if preset or key != self.meas:
            self.busy_until = 0.0
        if preset:
            if key == "SAN":
                self._meas_preset()
            else:
                self.setups[key] = SETUPS[key]()
                self.meas_acq.pop(key, None)
        self.meas = key

    def _meas_settings(self, key: str) -> sp.SweepSettings:
        s = self.setups[key]
        center, span, rbw = (self.start_hz + self.stop_hz) / 2, s.span(), s.rbw()
        return self._settings_for(center - span / 2, center + span / 2, s.points, rbw, s,
                                  s.sweep_time(self.hw.analysis_bw_hz))

    def _settings_for(self, start_hz: float, stop_hz: float, points: int, rbw_hz: float,
                      setup: PowerMeasSetup, sweep_time_s: float) -> sp.SweepSettings:
        """A measurement sweep: the setup's detector, its averaging, the shared front end."""
        det = setup.DETECTOR
        vbw = rbw_hz if det == "POS" else 10.0 * rbw_hz
        return sp.SweepSettings(start_hz, stop_hz, points, rbw_hz, vbw, det, setup.AVERAGE_TYPE,
                                setup.averages(), self._atten(), self.ref_dbm,
                                self._preamp_on((start_hz + stop_hz) / 2), sweep_time_s)

    def _sweep_now(self, settings: sp.SweepSettings) -> sp.SweepResult:
        """Synthesize one sweep of what the input carries now; integrity bits accumulate over
        the sweeps of one measurement (cleared by `_acquire_meas`)."""
        rng = np.random.default_rng(int(self.rng.integers(2**62)))
        result = sp.synthesize_sweep(self._tones(), settings, self.hw, rng,
                                     self.amplitude_offset_db, modulated=self._modulated(),
                                     external_noise_w_hz=self._external_noise(settings))
        self.integrity |= 16 * result.input_overload + 32 * result.over_range
        return result

    @staticmethod
    def _duration(settings: sp.SweepSettings, result: sp.SweepResult) -> float:
        return float(settings.sweep_time_s or result.sweep_time_s) * settings.average_count

    def _acquire_meas(self, key: str) -> MeasAcquisition:
        """Sweep now and keep the trace(s) for the results."""
        self.integrity = 0
        if key == "HARM":
            return self._acquire_harm()
        if key == "SEM":
            return self._acquire_sem()
        settings = self._meas_settings(key)
        result = self._sweep_now(settings)
        return MeasAcquisition(copy.deepcopy(self.setups[key]),
                                (settings.start_hz + settings.stop_hz) / 2, settings.rbw_hz,
                                self._duration(settings, result), result)

    def _acquire_harm(self) -> MeasAcquisition:
        """Zero span (one display point averaging the whole ST/Harmonic, RMS) at n*f0 for
        n = 1..NUMB; harmonics above the analyzer's range are not measured."""
        setup = self._harm_setup()
        f0 = _harm_fundamental(setup, (self.start_hz + self.stop_hz) / 2)
        swt = setup.sweep_time(self.hw.analysis_bw_hz)
        sweeps, duration = [], 0.0
        for order in range(1, setup.number + 1):
            if order * f0 > self.hw.f_max_hz:
                break
            rbw = setup.rbw_for(order, self.hw.max_rbw_hz)
            settings = self._settings_for(order * f0, order * f0, 1, rbw, setup, swt)
            result = self._sweep_now(settings)
            sweeps.append(Sweep(order, "", result, rbw))
            duration += self._duration(settings, result)
        return MeasAcquisition(copy.deepcopy(setup), f0, sweeps[0].rbw_hz, duration,
                                sweeps[0].result, tuple(sweeps[1:]))

    def _acquire_sem(self) -> MeasAcquisition:
        """The reference channel over Ref Chan Span, then each measured offset on each side over
        its filter positions (+- Meas BW/2, 2 RBW margin), points at most one RBW apart."""
        setup = self._sem_setup()
        settings = self._meas_settings("SEM")
        fc = (settings.start_hz + settings.stop_hz) / 2
        carrier = self._sweep_now(settings)
        duration = self._duration(settings, carrier)
        sweeps = []
        for k in setup.measured():
            rbw, points = setup.offset_rbw_hz[k], setup.side_points(k, self.hw.max_points)
            swt = setup.offset_sweep_time(k, self.hw.max_points, self.hw.analysis_bw_hz)
            near, far = setup.side_range_hz(k)
            for side, sign in (("lower", -1.0), ("upper", 1.0)):
                a, b = sorted((fc + sign * near, fc + sign * far))
                side_settings = self._settings_for(a, b, points, rbw, setup, swt)
                result = self._sweep_now(side_settings)
                sweeps.append(Sweep(k, side, result, rbw))
                duration += self._duration(side_settings, result)
        return MeasAcquisition(copy.deepcopy(setup), fc, settings.rbw_hz, duration, carrier,
                                tuple(sweeps))

    def _meas_query(self, key: str, n: int, how: str,
                    results: Callable[[MeasAcquisition], np.ndarray] | None = None) -> bytes:
        """`:FETCh|READ|MEASure:<meas>[n]?`: READ (re)starts it, MEASure presets it first;
        FETCh answers the last one, -221 if another measurement is active [verify], -230 when
        nothing was measured yet in single mode [verify]. `results` replaces the measurement's
        n-indexed result set (the harmonics queries)."""
        self._need("SA")
        if results is None:
            results = _RESULTS[key] if n == 1 else _RESULTS_N.get((key, n))
            if results is None:
                raise ScpiError(-113, "Undefined header;result index not simulated")
        if how != "FETC":
            self._select(key, preset=how == "MEAS")
            self._initiate()
            self._wait_sweep()
        elif self.meas != key:
            raise ScpiError(-221, "Settings conflict;measurement not active")
        acq = self.meas_acq.get(key)
        if how == "FETC" and (self.cont or acq is None):
            if not self.cont:
                raise ScpiError(-230, "Data corrupt or stale;no measurement completed")
            acq = self.meas_acq[key] = self._acquire_meas(key)
        assert acq is not None
        return self._block(results(acq))

    def _register_measurements(self) -> None:
        for key in SETUPS:
            self._register_meas_control(key, MEASUREMENTS[key], indexed=key != "HARM")
            self._register_meas_setup(key, f"[:SENSe]:{MEASUREMENTS[key]}",
                                      span_points=key != "HARM")
        self._register_chp_obw()
        self._register_acp()
        self._register_harm()
        self._register_toi()
        self._register_sem()

    def _register_meas_control(self, key: str, node: str, indexed: bool = True) -> None:
        c = self.command
        c(f":CONFigure:{node}", set=lambda a, s: self._select(key, preset=True))
        c(f":CONFigure:{node}:NDEFault", set=lambda a, s: self._select(key, preset=False))
        c(f":INITiate:{node}", set=lambda a, s: (self._select(key, False), self._initiate()))
        if indexed:
            self._register_results(key, f"{node}<n>", lambda s: None)

    def _register_results(self, key: str, tail: str,
                          results: Callable[[Sfx], Callable[[MeasAcquisition], np.ndarray]
                                            | None]) -> None:
        """`:FETCh|READ|MEASure:<tail>?`; `results(suffixes)` picks the result function (None:
        the measurement's n-indexed results, n = the first suffix)."""
        for how, verb in (("FETC", "FETCh"), ("READ", "READ"), ("MEAS", "MEASure")):
            self.command(f":{verb}:{tail}", query=lambda a, s, h=how: self._meas_query(
                key, s[0] if s else 1, h, results(s)), waits=True)

    def _setup_flag(self, key: str, attr: str) -> tuple[Callable[..., None], Callable[..., str]]:
        def setter(a: Args, s: Sfx) -> None:
            setattr(self.setups[key], attr, parse_bool(a[0]))

        return setter, (lambda a, s: "1" if getattr(self.setups[key], attr) else "0")

    def _setup_number(self, key: str, attr: str, unit: str, lo: float, hi: float,
                      default: float, integer: bool = False,
                      manual: str | None = None) -> Callable[..., None]:
        """Setter clipping to [lo, hi] with -222; `manual` names an AUTO flag it switches off."""
        def setter(a: Args, s: Sfx) -> None:
            v = self._num(a, unit, lo, hi, default)
            setup = self.setups[key]
            setattr(setup, attr, int(round(v)) if integer else v)
            if manual is not None:
                setattr(setup, manual, False)

        return setter

    def _register_meas_setup(self, key: str, base: str, span_points: bool = True) -> None:
        """Meas Local settings every power measurement has: RBW, sweep time, averaging; span and
        points unless `span_points` is False (the harmonics measure in zero span)."""
        c, hw = self.command, self.hw

        def setup() -> PowerMeasSetup:
            return self.setups[key]

        def set_rbw(a: Args, s: Sfx) -> None:
            v = sp.snap_rbw(self._num(a, "HZ", 1.0, hw.max_rbw_hz, 30e3), hw.max_rbw_hz)
            setup().rbw_hz, setup().rbw_auto = v, False

        for bw in ("BANDwidth", "BWIDth"):
            c(f"{base}:{bw}[:RESolution]", set=set_rbw, query=lambda a, s: setup().rbw())
            c(f"{base}:{bw}[:RESolution]:AUTO", *self._setup_flag(key, "rbw_auto"))
        if span_points:
            c(f"{base}:SWEep:POINts", set=self._setup_number(key, "points", "", 1,
                                                             hw.max_points, 1001, integer=True),
              query=lambda a, s: str(setup().points))
            c(f"{base}:FREQuency:SPAN", set=self._set_meas_span(key),
              query=lambda a, s: setup().span())
        c(f"{base}:SWEep:TIME", set=self._setup_number(key, "swt_s", "S", 1e-6, 4000.0, 1e-3,
                                                       manual="swt_auto"),
          query=lambda a, s: setup().sweep_time(hw.analysis_bw_hz))
        c(f"{base}:SWEep:TIME:AUTO", *self._setup_flag(key, "swt_auto"))
        c(f"{base}:AVERage[:STATe]", *self._setup_flag(key, "avg_on"))
        c(f"{base}:AVERage:COUNt", set=self._setup_number(key, "avg_count", "", 1, 10000, 10,
                                                          integer=True),
          query=lambda a, s: str(setup().avg_count))
        c(f"{base}:AVERage:TCONtrol", set=lambda a, s: parse_enum(a[0], ["EXPonential",
                                                                        "REPeat"]),
          query=lambda a, s: "EXP")  # only the result of one full average is simulated

    def _set_meas_span(self, key: str) -> Callable[..., None]:
        def setter(a: Args, s: Sfx) -> None:
            setup = self.setups[key]
            if isinstance(setup, AcpSetup):
                raise ScpiError(-221, "Settings conflict;ACP span follows the offsets")
            span = self._num(a, "HZ", 100.0, self.hw.f_max_hz - self.hw.f_min_hz, 3e6)
            # CHP: "the minimum value of the span is coupled with Integ BW"
            setup.span_hz = max(span, getattr(setup, "integ_bw_hz", 0.0))

        return setter

    def _register_chp_obw(self) -> None:
        c, chp = self.command, self._chp_setup

        def set_integ(a: Args, s: Sfx) -> None:  # keeps the Span/Integ BW ratio (manual)
            setup = chp()
            ratio = setup.span_hz / setup.integ_bw_hz
            setup.integ_bw_hz = self._num(a, "HZ", 100.0, self.hw.f_max_hz - self.hw.f_min_hz,
                                          2e6)
            setup.span_hz = setup.integ_bw_hz * ratio

        for bw in ("BANDwidth", "BWIDth"):
            c(f"[:SENSe]:CHPower:{bw}:INTegration", set=set_integ,
              query=lambda a, s: chp().integ_bw_hz)
        ob = "[:SENSe]:OBWidth"
        c(f"{ob}:PERCent", set=self._setup_number("OBW", "percent", "", 10.0, 99.99, 99.0),
          query=lambda a, s: self._obw_setup().percent)
        c(f"{ob}:XDB", set=self._setup_number("OBW", "xdb_db", "DB", -100.0, -0.1, -26.0),
          query=lambda a, s: self._obw_setup().xdb_db)

    def _chp_setup(self) -> ChpSetup:
        setup = self.setups["CHP"]
        assert isinstance(setup, ChpSetup)
        return setup

    def _obw_setup(self) -> ObwSetup:
        setup = self.setups["OBW"]
        assert isinstance(setup, ObwSetup)
        return setup

    def _harm_setup(self) -> HarmSetup:
        setup = self.setups["HARM"]
        assert isinstance(setup, HarmSetup)
        return setup

    def _sem_setup(self, s: Sfx = (1,)) -> SemSetup:
        """Subopcode 1 = BTS, 2 = MS: one set of offsets is simulated, as for ACP [verify]."""
        if s[0] not in (1, 2):
            raise ScpiError(-113)
        setup = self.setups["SEM"]
        assert isinstance(setup, SemSetup)
        return setup if s[0] == 1 else copy.deepcopy(setup)

    def _acp_setup(self, s: Sfx = (1,)) -> AcpSetup:
        """Subopcode 1 = BTS/downlink; 2 = MS/uplink is accepted but this simulation keeps one
        set of carrier/offset settings (manual: "accepted without error but ignored") [verify]."""
        if s[0] not in (1, 2):
            raise ScpiError(-113)
        setup = self.setups["ACP"]
        assert isinstance(setup, AcpSetup)
        return setup if s[0] == 1 else copy.deepcopy(setup)

    def _offset_list(self, args: Args, parse: Callable[[str], object]) -> list[object]:
        """Six values A..F; a shorter list is filled with its last value (reference §4.2,
        N9320A programmer's guide) [verify]."""
        if not args:
            raise ScpiError(-109)
        if len(args) > N_OFFSETS:
            raise ScpiError(-108)
        values = [parse(a) for a in args]
        return values + [values[-1]] * (N_OFFSETS - len(values))

    def _register_acp(self) -> None:
        c, ac, hw = self.command, "[:SENSe]:ACPower", self.hw
        span_max = hw.f_max_hz - hw.f_min_hz

        def set_count(a: Args, s: Sfx) -> None:
            if int(round(self._num(a, "", 1, 12, 1))) != 1:
                raise ScpiError(-221, "Settings conflict;one carrier simulated")

        def carrier_number(attr: str) -> Callable[..., None]:
            def setter(a: Args, s: Sfx) -> None:  # a list, one value per carrier
                setattr(self._acp_setup(s), attr, self._num(a[:1], "HZ", 100.0, span_max, 2e6))

            return setter

        def offset_list(attr: str, parse: Callable[[str], object]) -> Callable[..., None]:
            def setter(a: Args, s: Sfx) -> None:
                setattr(self._acp_setup(s), attr, self._offset_list(a, parse))

            return setter

        def hz(arg: str, lo: float) -> float:
            return self._num([arg], "HZ", lo, span_max, lo)

        def csv(values: list[float] | list[bool]) -> str:
            return ",".join(str(int(v)) if isinstance(v, bool) else format_float(v)
                            for v in values)

        c(f"{ac}:CARRier<n>:COUNt", set=set_count, query=lambda a, s: "1")
        for bw in ("BANDwidth", "BWIDth"):
            c(f"{ac}:CARRier<n>:LIST:{bw}[:INTegration]", set=carrier_number("carrier_bw_hz"),
              query=lambda a, s: self._acp_setup(s).carrier_bw_hz)
            c(f"{ac}:OFFSet<n>[:OUTer]:LIST:{bw}[:INTegration]",
              set=offset_list("offset_bw_hz", lambda v: hz(v, 100.0)),
              query=lambda a, s: csv(self._acp_setup(s).offset_bw_hz))
        c(f"{ac}:CARRier<n>:LIST:WIDTh", set=carrier_number("carrier_width_hz"),
          query=lambda a, s: self._acp_setup(s).carrier_width_hz)
        c(f"{ac}:OFFSet<n>[:OUTer]:LIST[:FREQuency]",
          set=offset_list("offset_hz", lambda v: hz(v, 0.0)),
          query=lambda a, s: csv(self._acp_setup(s).offset_hz))
        c(f"{ac}:OFFSet<n>[:OUTer]:LIST:STATe", set=offset_list("offset_on", parse_bool),
          query=lambda a, s: csv(self._acp_setup(s).offset_on))

        def set_method(a: Args, s: Sfx) -> None:
            if parse_enum(a[0], ["IBW", "IBWRange", "FAST", "RBW"]) != "IBW":
                raise ScpiError(-221, "Settings conflict;only IBW is simulated")

        c(f"{ac}:METHod", set=set_method, query=lambda a, s: "IBW")
        c(f"{ac}:CORRection:NOISe[:AUTO]", *self._setup_flag("ACP", "noise_correction"))

    # ------------------------------------------------------------------ HARM / TOI / SEM
    def _register_harm(self) -> None:
        """Harmonics settings and its result queries (no n-indexed `FETCh:HARMonics<n>?`)."""
        c, hm = self.command, "[:SENSe]:HARMonics"
        c(f"{hm}:NUMBer", set=self._setup_number("HARM", "number", "", 2, MAX_HARMONICS,
                                                 MAX_HARMONICS, integer=True),
          query=lambda a, s: str(self._harm_setup().number))

        def set_fund(a: Args, s: Sfx) -> None:
            setup = self._harm_setup()
            setup.fundamental_hz = self._num(a, "HZ", 10.0, self.hw.f_max_hz, 1e9)
            setup.fundamental_auto = False

        c(f"{hm}:FREQuency:FUNDamental", set=set_fund,
          query=lambda a, s: _harm_fundamental(self._harm_setup(), self._get_freq("CENT")))
        c(f"{hm}:FREQuency:FUNDamental:AUTO", *self._setup_flag("HARM", "fundamental_auto"))

        def order(s: Sfx) -> int:
            if not 1 <= s[0] <= HARM_RESULTS:
                raise ScpiError(-113, "Undefined header;harmonic 1..10")
            return s[0]

        results: dict[str, Callable[[Sfx], Callable[[MeasAcquisition], np.ndarray]]] = {
            "HARMonics[:DISTortion]": lambda s: _harm_thd,
            "HARMonics:AMPLitude:ALL": lambda s: _harm_amplitudes,
            "HARMonics:FREQuency:ALL": lambda s: _harm_frequencies,
            "HARMonics:FUNDamental": lambda s: lambda acq: np.array([acq.center_hz]),
            "HARMonics:AMPLitude<n>": lambda s: _pick(_harm_amplitudes, order(s)),
            "HARMonics:FREQuency<n>": lambda s: _pick(_harm_frequencies, order(s)),
        }
        for tail, pick in results.items():
            self._register_results("HARM", tail, pick)

    def _register_toi(self) -> None:
        """`FETCh:TOI:IP3?` besides the n-indexed `FETCh:TOI<n>?` (n = 1, 2)."""
        self._register_results("TOI", "TOI:IP3", lambda s: lambda acq: _toi_results(acq)[:1])

    def _register_sem(self) -> None:
        """Reference channel Integ BW, Offset Freq Define and the offset lists (BTS/MS)."""
        c, se = self.command, "[:SENSe]:SEMask"

        def set_integ(a: Args, s: Sfx) -> None:
            setup = self._sem_setup()
            setup.integ_bw_hz = self._num(a, "HZ", 100.0, self.hw.f_max_hz - self.hw.f_min_hz,
                                          3.84e6)
            setup.span_hz = max(setup.span_hz, setup.integ_bw_hz)

        for bw in ("BANDwidth", "BWIDth"):
            c(f"{se}:{bw}:INTegration", set=set_integ,
              query=lambda a, s: self._sem_setup().integ_bw_hz)
        c(f"{se}:OFFSet<n>:TYPE", set=lambda a, s: setattr(
            self._sem_setup(s), "offset_type", parse_enum(a[0], SEM_OFFSET_TYPES)),
          query=lambda a, s: self._sem_setup(s).offset_type)
        span_max = self.hw.f_max_hz - self.hw.f_min_hz

        def hz(v: str) -> float:
            return self._num([v], "HZ", 0.0, span_max, 0.0)

        def dbm(v: str) -> float:
            return self._num([v], "DBM", -200.0, 50.0, 0.0)

        def db(v: str) -> float:
            return self._num([v], "DB", -200.0, 50.0, 0.0)

        def rbw(v: str) -> float:
            return sp.snap_rbw(self._num([v], "HZ", 1.0, self.hw.max_rbw_hz, 30e3),
                               self.hw.max_rbw_hz)

        def multiple(v: str) -> float:
            return float(int(round(self._num([v], "", 1, 1000, 1))))

        def test(v: str) -> str:
            word = parse_enum(v, ["ABSolute", "RELative", "AND", "OR"])
            if word not in ("ABS", "REL"):
                raise ScpiError(-221, "Settings conflict;only ABS and REL masks are simulated")
            return word

        lists: dict[str, tuple[str, Callable[[str], object]]] = {
            "LIST:FREQuency:STARt": ("start_hz", hz),
            "LIST:FREQuency:STOP": ("stop_hz", hz),
            "LIST:BANDwidth[:RESolution]": ("offset_rbw_hz", rbw),
            "LIST:BWIDth[:RESolution]": ("offset_rbw_hz", rbw),
            "LIST:BANDwidth:IMULti": ("imulti", multiple),
            "LIST:BWIDth:IMULti": ("imulti", multiple),
            "LIST:STARt:ABSolute": ("start_abs_dbm", dbm),
            "LIST:STOP:ABSolute": ("stop_abs_dbm", dbm),
            "LIST:STOP:ABSolute:COUPle": ("stop_abs_couple", parse_bool),
            "LIST:STARt:RCARrier": ("start_rel_db", db),
            "LIST:STOP:RCARrier": ("stop_rel_db", db),
            "LIST:STOP:RCARrier:COUPle": ("stop_rel_couple", parse_bool),
            "LIST:STATe": ("state", parse_bool),
            "LIST:TEST": ("test", test),
        }
        for tail, (attr, parse) in lists.items():
            c(f"{se}:OFFSet<n>[:OUTer]:{tail}", set=self._sem_list_setter(attr, parse),
              query=lambda a, s, at=attr: _csv(getattr(self._sem_setup(s), at)))
        sweep_time = f"{se}:OFFSet<n>[:OUTer]:LIST:SWEep:TIME"
        c(sweep_time, set=self._sem_list_setter("offset_swt_s", lambda v: self._num(
            [v], "S", 1e-6, 4000.0, 10e-3), manual="offset_swt_auto"),
          query=lambda a, s: _csv([self._sem_setup(s).offset_sweep_time(
              k, self.hw.max_points, self.hw.analysis_bw_hz) for k in range(SEM_LIST_SIZE)]))
        c(f"{sweep_time}:AUTO", set=self._sem_list_setter("offset_swt_auto", parse_bool),
          query=lambda a, s: _csv(self._sem_setup(s).offset_swt_auto))

    def _sem_list_setter(self, attr: str, parse: Callable[[str], object],
                         manual: str | None = None) -> Callable[[Args, Sfx], None]:
        """A 12-value offset list: the values given replace the first ones, the rest stay
        ("missing values are not permitted ... subsequent values remain unchanged"); more than
        12 is -108. Every value is parsed before any is stored; `manual` names an AUTO list
        whose entries the given values switch off."""
        def setter(a: Args, s: Sfx) -> None:
            if not a:
                raise ScpiError(-109)
            if len(a) > SEM_LIST_SIZE:
                raise ScpiError(-108)
            values = [parse(v) for v in a]
            setup = self._sem_setup(s)
            getattr(setup, attr)[:len(values)] = values
            if manual is not None:
                getattr(setup, manual)[:len(values)] = [False] * len(values)

        return setter

    def _set_format(self, a: Args, s: Sfx) -> None:
        """ASCii | INTeger,32 | REAL,32 | REAL,64; an invalid width selects the default width
        without an error (manual)."""
        kind = parse_enum(a[0], ["ASCii", "REAL", "INTeger"])
        wide = len(a) > 1 and a[1].strip() == "64"
        self.data_format = {"ASC": "ASC", "INT": "INT,32"}.get(kind, "REAL,64" if wide else
                                                                "REAL,32")



def _chp_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:CHPower?`: channel power (dBm), power spectral density (dBm/Hz)."""
    setup = acq.setup
    assert isinstance(setup, ChpSetup)
    chp = am.channel_power(acq.result, acq.rbw_hz, acq.center_hz, setup.integ_bw_hz)
    return finite([chp.power_dbm, chp.psd_dbm_hz])


def _acp_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:ACPower?` n=1, Total Power Ref, 6 offsets: 4 + 4*6 = 28 values. The four leading
    values are read here as Reference Power #1 (0.0 when one reference carrier is the power
    reference), Reference Power #2 (the reference carrier power, dBm), then 0.0 and the total
    carrier power (equal to #2 with one carrier) [verify]; then per offset A..F: lower rel dB,
    lower abs dBm, upper rel dB, upper abs dBm; 9.91E+37 where an offset is off."""
    s = acq.setup
    assert isinstance(s, AcpSetup)
    on = s.enabled()
    out = [NAN_RESULT] * ACP_RESULTS
    if on:
        r = am.adjacent_channel_power(
            acq.result, acq.rbw_hz, acq.center_hz, s.carrier_bw_hz,
            np.array([s.offset_hz[i] for i in on]), np.array([s.offset_bw_hz[i] for i in on]),
            noise_correction=s.noise_correction)
        carrier = float(r.carrier_dbm)
        for j, i in enumerate(on):
            out[4 + 4 * i:8 + 4 * i] = [float(r.lower_dbc[j]), float(r.lower_dbm[j]),
                                        float(r.upper_dbc[j]), float(r.upper_dbm[j])]
    else:
        carrier = am.channel_power(acq.result, acq.rbw_hz, acq.center_hz, s.carrier_bw_hz,
                                   noise_correction=s.noise_correction).power_dbm
    out[:4] = [0.0, carrier, 0.0, carrier]
    return finite(out)


def _obw_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:OBWidth?`: occupied bandwidth (Hz), total power (dBm), transmit frequency error
    (Hz: midpoint of the OBW edges minus the centre frequency), x dB bandwidth (Hz) [verify the
    order and count against the X-series OBW results table]."""
    s = acq.setup
    assert isinstance(s, ObwSetup)
    obw = am.occupied_bandwidth(acq.result, acq.rbw_hz, s.percent)
    error = (obw.lower_edge_hz + obw.upper_edge_hz) / 2 - acq.center_hz
    xdb = xdb_bandwidth_hz(acq.result.frequency_hz, acq.result.power_dbm, s.xdb_db)
    return finite([obw.bandwidth_hz, obw.total_power_dbm, error, xdb])


def _csv(values: list[float] | list[bool] | list[str]) -> str:
    """A list query reply: booleans as 1/0, numbers NR3, enums as their short form."""
    return ",".join(str(int(v)) if isinstance(v, bool) else v if isinstance(v, str)
                    else format_float(v) for v in values)


def _pick(results: Callable[[MeasAcquisition], np.ndarray],
          order: int) -> Callable[[MeasAcquisition], np.ndarray]:
    """The `order`-th value (1-based) of a result set, as a one-value result."""
    return lambda acq: results(acq)[order - 1:order]


def _harm_fundamental(setup: HarmSetup, center_hz: float) -> float:
    return center_hz if setup.fundamental_auto else setup.fundamental_hz


def _harm_setup_of(acq: MeasAcquisition) -> HarmSetup:
    assert isinstance(acq.setup, HarmSetup)
    return acq.setup


def _harm_powers(acq: MeasAcquisition) -> am.HarmonicPowers | None:
    """Fundamental and the harmonics that were measured (None if only the fundamental was)."""
    if not acq.more:
        return None
    return am.harmonic_powers([acq.result] + [s.result for s in acq.more],
                              [acq.rbw_hz] + [s.rbw_hz for s in acq.more])


def _harm_amplitudes(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:HARMonics:AMPLitude:ALL?`: fundamental dBm, H2..H10 dBc; 0 for harmonics beyond
    the number measured (PSA reference), 9.91E+37 for those above the frequency range [verify]."""
    out = np.zeros(HARM_RESULTS)
    out[1:_harm_setup_of(acq).number] = NAN_RESULT
    powers = _harm_powers(acq)
    if powers is None:
        out[0] = 10.0 * math.log10(max(am.trace_power_w(acq.result, acq.rbw_hz), 1e-30)) + 30.0
    else:
        out[0] = powers.fundamental_dbm
        out[1:1 + powers.harmonic_dbc.size] = powers.harmonic_dbc
    return finite(out.tolist())


def _harm_frequencies(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:HARMonics:FREQuency:ALL?`: n*f0 for the harmonics measured, 0 beyond NUMB."""
    out = np.zeros(HARM_RESULTS)
    number = _harm_setup_of(acq).number
    out[:number] = NAN_RESULT
    measured = 1 + len(acq.more)
    out[:measured] = acq.center_hz * np.arange(1, measured + 1)
    return out


def _harm_thd(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:HARMonics[:DISTortion]?`: total harmonic distortion in percent."""
    powers = _harm_powers(acq)
    return finite([powers.thd_percent if powers is not None else math.nan])


def _toi_powers(acq: MeasAcquisition) -> am.ToiPowers | None:
    try:
        return am.toi(acq.result, acq.rbw_hz)
    except ValueError:
        return None


def _toi2_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:TOI2?`: worst IM Hz, worst IM dBm, worst intercept dBm, lower base Hz, dBm,
    upper base Hz, dBm, lower IM Hz, dBm, lower intercept dBm, upper IM Hz, dBm, upper
    intercept dBm (13 values, X-series TOI results table). "Worst" is the side with the lower
    intercept."""
    t = _toi_powers(acq)
    if t is None:
        return np.full(TOI2_RESULTS, NAN_RESULT)
    worse = "lower" if t.lower_toi_dbm <= t.upper_toi_dbm else "upper"
    im_hz, im_dbm = getattr(t, f"im3_{worse}_hz"), getattr(t, f"im3_{worse}_dbm")
    return finite([im_hz, im_dbm, t.worst_toi_dbm, t.lower_hz, t.lower_dbm, t.upper_hz,
                    t.upper_dbm, t.im3_lower_hz, t.im3_lower_dbm, t.lower_toi_dbm,
                    t.im3_upper_hz, t.im3_upper_dbm, t.upper_toi_dbm])


def _toi_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:TOI?` (n=1): worst intercept dBm, its IM Hz, lower intercept dBm, lower IM Hz,
    upper intercept dBm, upper IM Hz."""
    r = _toi2_results(acq)
    return r[[2, 0, 9, 7, 12, 10]]


def _sem_reference(acq: MeasAcquisition, setup: SemSetup) -> tuple[float, list[float]]:
    """Carrier power and the 10 reference values of `FETCh:SEM?` n=1, read here as: total
    power reference dBm, its PSD dBm/Hz, the spectrum peak in the reference channel dBm and its
    frequency Hz, then 6 values not simulated (9.91E+37) [verify the order and meaning]."""
    r = acq.result
    chp = am.channel_power(r, acq.rbw_hz, acq.center_hz, setup.integ_bw_hz)
    inside = np.abs(r.frequency_hz - acq.center_hz) <= setup.integ_bw_hz / 2
    i = np.flatnonzero(inside)[int(np.argmax(r.power_dbm[inside]))] if inside.any() else 0
    head = [chp.power_dbm, chp.psd_dbm_hz, float(r.power_dbm[i]), float(r.frequency_hz[i])]
    return chp.power_dbm, head + [NAN_RESULT] * (SEM_REFERENCE_VALUES - len(head))


def _sem_side(acq: MeasAcquisition, setup: SemSetup, sweep: Sweep,
              carrier_dbm: float) -> tuple[list[float], float]:
    """One offset side: (rel/abs integrated power, rel/abs peak power, peak offset frequency
    from the reference (centre or edge; negative below it), worst margin). The integrated power
    covers every frequency the sliding Meas BW sees [verify]; margin = limit - power, the
    minimum over the filter positions (positive passes) [verify the sign convention]."""
    k, side = sweep.index, sweep.side
    first, last = setup.centres_hz(k)
    mbw, half = setup.mbw(k), setup.reference_half_hz()
    start_limit, stop_limit = setup.limits_dbm(k, carrier_dbm)
    args = (sweep.result, sweep.rbw_hz, acq.center_hz, 2.0 * half)
    mask = am.sem_margins(*args, [(first, last, start_limit, stop_limit, mbw)])
    peak = am.sem_margins(*args, [(first, last, 0.0, 0.0, mbw)])  # margin = -power
    sign = -1.0 if side == "lower" else 1.0
    reference = acq.center_hz + sign * half
    integrated = am.band_power_w(sweep.result, sweep.rbw_hz,
                                 reference + sign * (first + last) / 2, last - first + mbw)
    integ_dbm = 10.0 * math.log10(integrated) + 30.0 if integrated > 0 else -math.inf
    peak_dbm = float(getattr(peak, f"{side}_power_dbm")[0])
    peak_hz = float(getattr(peak, f"{side}_frequency_hz")[0])
    values = [integ_dbm - carrier_dbm, integ_dbm, peak_dbm - carrier_dbm, peak_dbm,
              peak_hz - reference]
    return values, float(getattr(mask, f"{side}_margin_db")[0])


def _sem_results(acq: MeasAcquisition) -> np.ndarray:
    """`FETCh:SEMask?` n=1 (82 values): 10 reference values; per offset A..F (k = 0..5) at
    10 + 10k: lower rel integrated dBc, abs integrated dBm, rel peak dBc, abs peak dBm, peak
    offset frequency Hz, then the same upper; from 70: minimum margin lower A, upper A, ...,
    upper F (X-series SEM results table, indices as the VMA-mode table 10k + 11..20, 2k + 71..72).
    Offsets not measured read 9.91E+37."""
    setup = acq.setup
    assert isinstance(setup, SemSetup)
    carrier, out = _sem_reference(acq, setup)
    out += [NAN_RESULT] * (SEM_RESULTS - SEM_REFERENCE_VALUES)
    for sweep in acq.more:
        k, side = sweep.index, sweep.side
        values, margin = _sem_side(acq, setup, sweep, carrier)
        base = SEM_REFERENCE_VALUES + SEM_VALUES_PER_OFFSET * k + (0 if side == "lower" else 5)
        out[base:base + 5] = values
        out[SEM_REFERENCE_VALUES + SEM_VALUES_PER_OFFSET * SEM_OFFSETS + 2 * k
            + (side == "upper")] = margin
    return finite(out)


_RESULTS: dict[str, Callable[[MeasAcquisition], np.ndarray]] = {
    "CHP": _chp_results, "ACP": _acp_results, "OBW": _obw_results, "SEM": _sem_results,
    "TOI": _toi_results, "HARM": _harm_amplitudes}
#: result sets other than n = 1: (measurement, n) -> results
_RESULTS_N: dict[tuple[str, int], Callable[[MeasAcquisition], np.ndarray]] = {
    ("TOI", 2): _toi2_results}
