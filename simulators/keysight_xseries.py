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
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from simulators import spectrum as sp
from simulators.scpi_core import ScpiDevice, ScpiError, parse_bool, parse_enum, parse_number
from simulators.signals import Tone

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

Args = list[str]
Sfx = tuple[int, ...]
NAN_RESULT = 9.91e37  # X-series "not a number" result
_OPTIONS = {"N9030B": ("526", "B1X", "B25", "DP2", "EA3", "EP1", "FSA", "MPB", "NF2", "P26",
                       "PFR"),
            "N9020B": ("526", "B25", "DP2", "EA3", "FSA", "P26", "PFR")}
_DETS = ["AVERage", "POSitive", "SAMPle", "NEGative", "NORMal"]
_TRACE_RE = re.compile(r"^TRAC(?:E)?([1-6])$")


@dataclass
class _Acquisition:
    """What one sweep/capture saw: tones at INIT time, settings, and a seed for its noise."""

    tones: list[Tone]
    settings: sp.SweepSettings
    seed: int
    cache: dict[int, sp.SweepResult] = field(default_factory=dict)


class KeysightXSeriesAnalyzer(ScpiDevice):
    """X-series analyzer on the virtual bench; `model` is "N9030B"/"N9020B" or a simulator key."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "signal_analyzer",
                 model: str = "N9030B") -> None:
        super().__init__(bench, role, model)
        self.hw = sp.MODELS["N9020B" if "9020" in model else "N9030B"]
        self.options = _OPTIONS[self.hw.model]
        self.idn = ("Keysight Technologies", self.hw.model,
                    f"MY{int(self.rng.integers(10**7, 10**8))}", "A.33.03")
        self.amplitude_offset_db = float(self.rng.uniform(-0.06, 0.06))
        self._cond = threading.Condition(self.lock)
        self.mode = "SA"  # *RST presets the current mode; it does not change it
        self._register()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        hw = self.hw
        self.cont = True
        self.start_hz, self.stop_hz = 10e6, hw.f_spec_max_hz
        self.atten_db, self.atten_auto, self.ref_dbm, self.preamp = 10.0, True, 0.0, False
        self.srate, self.wav_time = 12.5e6, 2e-3
        self._meas_preset()
        self.markers: dict[int, float | None] = dict.fromkeys(range(1, 13))
        self.marker_trace: dict[int, int] = dict.fromkeys(range(1, 13), 1)
        self.last: _Acquisition | None = None
        self.last_iq: tuple[list[Tone], float, float, int, int, float, float] | None = None
        self.integrity = 0

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

    def _atten(self) -> float:
        if not self.atten_auto:
            return self.atten_db
        gain = sp.preamp_gain_db((self.start_hz + self.stop_hz) / 2) if self.preamp else 0.0
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
            self.preamp, None if self.swt_auto or kind == "FFT" else t)

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

    def _need(self, mode: str) -> None:
        if self.mode != mode:
            raise ScpiError(-113, "Undefined header;not available in this mode")

    def _acquire(self) -> _Acquisition:
        acq = _Acquisition(self._tones(), self.settings(), int(self.rng.integers(2**62)))
        _, _, overload, over = sp.input_flags(acq.tones, acq.settings, self.hw,
                                              self.amplitude_offset_db)
        self.integrity = 16 * overload + 32 * over
        return acq

    def _initiate(self, *_a: object) -> None:
        if self.busy:
            raise ScpiError(-213)
        if self.mode == "BASIC":
            n = min(max(int(round(self.srate * self.wav_time)), 1), 4_000_000)
            fc, tones = (self.start_hz + self.stop_hz) / 2, self._tones()
            _, comp, overload = sp.mixer_state(tones, self._atten(), self.preamp, self.hw)
            self.integrity = 16 * overload
            nd = float(sp.noise_density_dbm_hz(self.hw, fc, self._atten(), self.preamp))
            self.last_iq = (tones, fc, self.srate, n, int(self.rng.integers(2**62)), nd,
                            self.amplitude_offset_db - comp)
            self.start_operation(n / self.srate + 1e-3)
            return
        self.last = self._acquire()
        t, _ = self._sweep()
        self.start_operation(t * (self.avg_count if self.avg_on else 1))

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
                                               self.amplitude_offset_db)
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
        if self.last_iq is None:
            raise ScpiError(-230, "Data corrupt or stale;no waveform acquired")
        tones, fc, fs, n, seed, nd, gain_db = self.last_iq
        rng = np.random.default_rng(seed)
        x = sp.iq_capture(tones, fc, fs, n, rng, nd, gain_db=gain_db,
                          t0_s=float(rng.uniform(0.0, 1.0)))
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
        return self._block(np.array([1.0 / self.last_iq[2], mean_dbm, mean_dbm, v.size,
                                     pk - mean_dbm, pk, mn]))

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
        c(":CONFigure", query=lambda a, s: "SAN" if self.mode == "SA" else "WAV")
        c(":CONFigure:CATalog", query=lambda a, s: '"SAN"' if self.mode == "SA" else '"WAV"')
        c(":CONFigure:SANalyzer", set=lambda a, s: (self._need("SA"), self._meas_preset()))
        c(":CONFigure:SANalyzer:NDEFault", set=lambda a, s: self._need("SA"))
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
        c(":INITiate:SANalyzer", set=lambda a, s: (self._need("SA"), self._initiate()))
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
                self._initiate()
                self._wait_sweep()
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

    def _set_format(self, a: Args, s: Sfx) -> None:
        """ASCii | INTeger,32 | REAL,32 | REAL,64; an invalid width selects the default width
        without an error (manual)."""
        kind = parse_enum(a[0], ["ASCii", "REAL", "INTeger"])
        wide = len(a) > 1 and a[1].strip() == "64"
        self.data_format = {"ASC": "ASC", "INT": "INT,32"}.get(kind, "REAL,64" if wide else
                                                                "REAL,32")

