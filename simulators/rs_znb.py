"""Simulated Rohde & Schwarz ZNB/ZNA vector network analyzers (ZNB20, ZNA26, ZNA67, 4 ports).

Physics: `simulators.vna_core.VnaFrontEnd` (true S-matrix of `bench.network`, receiver noise vs
IFBW and port power, averaging, raw error box without correction). This module owns the SCPI tree,
the channel/trace bookkeeping and the R&S data layouts only.

Sources: R&S ZNB/ZNBT User Manual 1173.9163.02 and ZNA User Manual 1178.6462.02 (command
reference), R&S's public examples (RsInstrument_ZNB_S21_Magnitude_write_to_csv.py) and its own
RsaToolbox library, scikit-rf `skrf/vi/vna/rohde_schwarz/rs_vna.py`. Reproduced behaviour:
- `*IDN?` ``Rohde-Schwarz,ZNA26-4Port,<order no><serial>,<firmware>`` (the form real units send,
  e.g. ``Rohde-Schwarz,ZNA67-4Port,1332450064101810,2.73``); `SYST:ERR?` ``0,"No error"`` and
  ``<code>,"<text>;<detail>"`` (no plus sign).
- Channels <Ch> and traces: ``CALCulate<Ch>:PARameter:SDEFine 'Trc2','S21'`` creates a trace and
  makes it the channel's active trace (a channel that does not exist yet is created);
  ``:MEASure`` changes its parameter; ``:SELect``; ``:CATalog?`` → ``'Trc1,S21,Trc2,S11'``;
  ``:DELete '<name>'``, ``:DELete:ALL`` (every channel), ``:DELete:CALL`` (channel <Ch>);
  trace names are unique across channels. ``:DEFine:SGRoup 1,2`` creates the n² traces
  ``Ch1_SG_S11, Ch1_SG_S12, ..., Ch1_SG_S21, ...`` (ZNL/ZNB manual: S<p1><p1>, S<p1><p2> ...
  S<pn><pn>); ``CALCulate<Ch>:DATA:SGRoup? SDATa|FDATa`` returns those traces one after another in
  that order (row-major: S11, S12, S21, S22), each N Re/Im pairs for SDATa.
- ``CALCulate<Ch>:DATA? SDATa|FDATa|MDATa`` (active trace), ``CALCulate:DATA:TRACe? '<name>',
  SDATa``, ``CALCulate<Ch>:DATA:STIMulus?``, ``CALCulate<Ch>:DATA:CALL? SDATa`` with
  ``:CALL:CATalog?`` → ``'S11,S12,S21,S22'`` (with a full n-port correction active: the n×n
  matrix of the calibrated ports, manual example); ``CALCulate<Ch>:FORMat MLOGarithmic|PHASe|
  UPHase|REAL|IMAGinary|MLINear|SWR|GDELay|SMITh|POLar`` (FDATa: 1 value per point, 2 for
  SMITh/POLar).
- *RST: one channel, trace 'Trc1' = S21 in window 1, continuous sweep, full span, 201 points,
  10 kHz IFBW, -10 dBm [verify], averaging off (count 10), sweep count 1, INIT:SCOPe ALL, RF on,
  FORMat ASCii (``ASC,0``), FORMat:BORDer SWAPped (little-endian) [verify]. The channel's user
  calibration is not part of the preset (the cal pool keeps the cal group): *RST leaves the
  channel uncorrected until ``MMEMory:LOAD:CORRection <Ch>,'<group>'`` reloads it [verify].
  Power-on state = *RST, except RF off and the bench's installed cal group applied to channel 1
  (the lab's instrument as the previous run's make_safe left it).
- ``INITiate<Ch>[:IMMediate]`` is available in single sweep mode only (``INITiate<Ch>:
  CONTinuous OFF``; otherwise -213): it runs ``SENSe:SWEep:COUNt`` sweeps in channel <Ch>
  (``INITiate:SCOPe SINGle``) or in every single-sweep channel (``ALL``); `*OPC?`/`*WAI` and the
  data queries wait for all of them. With ``SENSe:AVERage ON`` the sweeps feed the channel's
  running average (``AVERage:COUNt`` sweeps, restarted by ``AVERage:CLEar`` or a settings
  change). Data are taken when the sweep starts. In single sweep mode a trace without a sweep at
  its current stimulus answers -230 "Data corrupt or stale" [verify: the instrument shows the old
  trace]; in continuous mode every query reads the latest (steady-state averaged) sweep.
- Calibration state [verify the response forms]: ``[SENSe<Ch>:]CORRection[:STATe]`` (ON needs a
  cal), ``:SSTate?`` → ``'CAL'`` | ``'CAL OFF'`` | ``''`` (R&S RsaToolbox), ``:DATE?``,
  ``:COLLect:METHod:DEFine?`` → ``'<cal name>',<type>,<port>,...`` [verify: query form],
  ``MMEMory:LOAD:CORRection? <Ch>`` → ``'<cal group>'`` (RsaToolbox).
- Sweep time = `VnaFrontEnd.sweep_time_s` × source ports the channel needs (every calibrated port
  a trace touches when a full n-port correction is on); ``[SENSe<Ch>:]SWEep:TIME?``.
- Numbers out of range: -222 and the setting is unchanged; IF bandwidths round up to the
  1/1.5/2/3/5/7 decade steps [verify]; frequencies couple start/stop/center/span.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    parse_bool,
    parse_enum,
    parse_int,
    parse_number,
    parse_string,
)
from simulators.scpi_parse import STANDARD_ERRORS
from simulators.vna_core import VnaFrontEnd, VnaSweep

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

Args = list[str]
Sfx = tuple[int, ...]


@dataclass(frozen=True)
class ZnbSpec:
    """One model: `*IDN?` model field, order number (the serial's prefix), ports, ranges."""

    model: str
    order_number: str
    ports: int
    f_min_hz: float
    f_max_hz: float
    power_min_dbm: float
    power_max_dbm: float
    ifbw_max_hz: float
    firmware: str
    options: tuple[str, ...]


#: data-sheet ranges [verify: power and IFBW limits depend on options]
SPECS: dict[str, ZnbSpec] = {
    "rs_znb20": ZnbSpec("ZNB20-4Port", "1311601064", 4, 100e3, 20e9, -40.0, 10.0, 1e6,
                        "3.45", ("ZNB-K2", "ZNB-K4", "ZNB-K17")),
    "rs_zna26": ZnbSpec("ZNA26-4Port", "1332450024", 4, 10e6, 26.5e9, -60.0, 15.0, 10e6,
                        "2.73", ("ZNA-K2", "ZNA-K4", "ZNA-K17")),
    "rs_zna67": ZnbSpec("ZNA67-4Port", "1332450064", 4, 10e6, 67e9, -60.0, 10.0, 10e6,
                        "2.73", ("ZNA-K2", "ZNA-K4", "ZNA-K17")),
}
MAX_POINTS = 100_001
PRESET_POINTS = 201
PRESET_IFBW_HZ = 10e3
PRESET_POWER_DBM = -10.0
PRESET_AVERAGE_COUNT = 10
MAX_AVERAGE_COUNT = 1000
MAX_SWEEP_COUNT = 999
_IFBW_MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
_FORMATS = ["MLOGarithmic", "PHASe", "UPHase", "REAL", "IMAGinary", "MLINear", "SWR", "GDELay",
            "SMITh", "POLar"]
_DATA_KINDS = ["SDATa", "FDATa", "MDATa"]
_S_PARAMETER = re.compile(r"^S(\d)(\d)$|^S(\d\d)(\d\d)$")


def rs_error(code: int, detail: str) -> ScpiError:
    """An error with the R&S message form ``<standard text>;<detail>``."""
    text = {-114: "Header suffix out of range", -256: "File name not found"}.get(
        code, STANDARD_ERRORS.get(code, "Error"))
    return ScpiError(code, f"{text};{detail}")


def rs_number(x: float) -> str:
    """R&S numeric response: plain decimal/exponent without a plus sign."""
    return f"{x:.12g}"


def round_up_ifbw(value_hz: float, maximum_hz: float) -> float:
    """The next available IF bandwidth at or above `value_hz` (1/1.5/2/3/5/7 steps) [verify]."""
    for decade in range(0, 8):
        for m in _IFBW_MANTISSAS:
            step = m * 10.0**decade
            if step >= value_hz * (1 - 1e-9):
                return min(step, maximum_hz)
    return maximum_hz


def formatted(s: np.ndarray, fmt: str, frequency_hz: np.ndarray) -> np.ndarray:
    """FDATa of one trace: the complex trace in the trace format (manual, CALCulate:FORMat)."""
    mag = np.abs(s)
    if fmt == "MLOG":
        return 20.0 * np.log10(np.maximum(mag, 1e-30))
    if fmt == "MLIN":
        return mag
    if fmt == "PHAS":
        return np.degrees(np.angle(s))
    if fmt == "UPH":
        return np.degrees(np.unwrap(np.angle(s)))
    if fmt == "REAL":
        return s.real
    if fmt == "IMAG":
        return s.imag
    if fmt == "SWR":
        m = np.minimum(mag, 1.0 - 1e-12)
        return (1.0 + m) / (1.0 - m)
    if fmt == "GDEL":  # tau = -dphi/domega
        if s.size < 2:
            return np.zeros(s.size)
        return -np.gradient(np.unwrap(np.angle(s)), 2.0 * np.pi * frequency_hz)
    return interleaved(s)  # SMITh, POLar: Re, Im per point


def interleaved(s: np.ndarray) -> np.ndarray:
    """Complex values as Re, Im, Re, Im ... (a float64 view, no copy when contiguous)."""
    return np.ascontiguousarray(s, dtype=np.complex128).view(np.float64).ravel()


@dataclass
class _Trace:
    name: str
    receive_port: int
    source_port: int
    fmt: str = "MLOG"
    group: bool = False

    @property
    def parameter(self) -> str:
        return f"S{self.receive_port}{self.source_port}"


@dataclass
class _Acquisition:
    """What the last sweep read: settings key, measured ports, (F, n, n) complex data."""

    key: tuple[float, ...]
    ports: tuple[int, ...]
    s: np.ndarray


@dataclass
class _Channel:
    number: int
    start_hz: float
    stop_hz: float
    name: str = ""
    points: int = PRESET_POINTS
    ifbw_hz: float = PRESET_IFBW_HZ
    power_dbm: float = PRESET_POWER_DBM
    average_on: bool = False
    average_count: int = PRESET_AVERAGE_COUNT
    sweep_count: int = 1
    continuous: bool = True
    manual_sweep_time_s: float | None = None
    traces: dict[str, _Trace] = field(default_factory=dict)
    active: str = ""
    group_ports: tuple[int, ...] = ()
    calibration: dict[str, Any] | None = None
    correction_on: bool = False
    acquisition: _Acquisition | None = None
    averaged: int = 0  # sweeps in the running average

    def __post_init__(self) -> None:
        self.name = self.name or f"Ch{self.number}"

    def sweep(self, average_count: int = 1) -> VnaSweep:
        return VnaSweep(self.start_hz, self.stop_hz, self.points, self.ifbw_hz, self.power_dbm,
                        average_count)

    def stimulus(self) -> tuple[float, ...]:
        return (self.start_hz, self.stop_hz, float(self.points))

    def settings_key(self) -> tuple[float, ...]:
        return (*self.stimulus(), self.ifbw_hz, self.power_dbm, float(self.correction_on))

    def cal_ports(self) -> tuple[int, ...]:
        if self.calibration is None or not self.correction_on:
            return ()
        return tuple(sorted(self.calibration["ports"]))

    def measured_ports(self) -> tuple[int, ...]:
        ports = {p for t in self.traces.values() for p in (t.receive_port, t.source_port)}
        return tuple(sorted(ports | set(self.cal_ports())))

    def source_ports(self) -> int:
        """Partial sweeps per sweep: each trace's source port; a full n-port correction needs
        every calibrated port as a source as soon as a trace touches one of them."""
        sources = {t.source_port for t in self.traces.values()}
        touched = {p for t in self.traces.values() for p in (t.receive_port, t.source_port)}
        if touched & set(self.cal_ports()):
            sources |= set(self.cal_ports())
        return len(sources) or len(self.measured_ports())


class RohdeSchwarzZNB(ScpiDevice):
    """ZNB/ZNA on the virtual bench; `model` is a simulator key (`rs_znb20`, `rs_zna26`...)."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "vna",
                 model: str = "rs_zna26") -> None:
        if bench is None:
            raise ValueError("the ZNB simulator needs a VirtualBench (its physics lives there)")
        super().__init__(bench, role, model)
        self.spec = SPECS[model]
        self.front_end = VnaFrontEnd(bench, role, self.spec.ports,
                                     (self.spec.f_min_hz, self.spec.f_max_hz))
        serial = int(self.unit_rng.integers(100_000, 200_000))
        self.idn = ("Rohde-Schwarz", self.spec.model, f"{self.spec.order_number}{serial}",
                    self.spec.firmware)
        self.options = self.spec.options
        installed = self.front_end.installed_calibration()
        ports = [p for p in installed["ports"] if 1 <= p <= self.spec.ports]
        self.cal_pool: dict[str, Any] | None = (
            {**installed, "ports": ports} if installed["cal_set"] or ports else None)
        vna_cfg = (bench.config.get("vna") or {}).get("calibration") or {}
        self.cal_date = str(vna_cfg.get("date") or time.strftime("%Y-%m-%d,%H:%M:%S"))
        self.rf_on = False
        self.scope_all = True
        self.channels: dict[int, _Channel] = {}
        self.windows: dict[int, list[str]] = {}
        self._register()
        super().reset()
        self._preset()
        if self.cal_pool is not None:
            self._load_cal(self.channels[1], self.cal_pool)

    # ------------------------------------------------------------------ state
    @staticmethod
    def _format_error(code: int, message: str) -> str:
        return f'{code},"{message}"'  # R&S: 0,"No error" (no sign)

    def reset(self) -> None:
        """*RST: preset channel and trace, ASCII data, little-endian blocks, RF on."""
        super().reset()
        self._preset()
        self._set_rf(True)

    def _preset(self) -> None:
        self.data_format, self.byte_order = "ASC", "SWAP"
        self.scope_all = True
        self.channels = {}
        self.windows = {1: []}
        ch = self._new_channel(1)
        self._add_trace(ch, _Trace("Trc1", 2, 1))
        self.windows[1].append("Trc1")

    def _set_rf(self, on: bool) -> None:
        self.rf_on = on
        self.front_end.set_rf(on)

    def _new_channel(self, number: int) -> _Channel:
        if number < 1:
            raise rs_error(-114, f"channel {number}")
        ch = _Channel(number, self.spec.f_min_hz, self.spec.f_max_hz)
        self.channels[number] = ch
        return ch

    def _ch(self, s: Sfx, create: bool = False) -> _Channel:
        ch = self.channels.get(s[0])
        if ch is None:
            if not create:
                raise rs_error(-114, f"channel {s[0]} does not exist")
            ch = self._new_channel(s[0])
        return ch

    def _trace(self, name: str) -> tuple[_Channel, _Trace]:
        for ch in self.channels.values():
            if name in ch.traces:
                return ch, ch.traces[name]
        raise rs_error(-224, f"trace '{name}' does not exist")

    def _parameter(self, text: str) -> tuple[int, int]:
        m = _S_PARAMETER.match(parse_string(text).strip().upper())
        if not m:
            raise rs_error(-224, f"parameter {text} (S-parameters only)")
        i, j = (int(g) for g in m.groups() if g is not None)
        if not (1 <= i <= self.spec.ports and 1 <= j <= self.spec.ports):
            raise rs_error(-222, f"{text}: the analyzer has {self.spec.ports} ports")
        return i, j

    def _add_trace(self, ch: _Channel, trace: _Trace) -> None:
        if any(trace.name in c.traces for c in self.channels.values()):
            raise rs_error(-221, f"trace name '{trace.name}' exists")
        ch.traces[trace.name] = trace
        ch.active = trace.name

    def _delete(self, ch: _Channel, names: list[str]) -> None:
        for name in names:
            trace = ch.traces.pop(name)
            if trace.group:
                ch.group_ports = ()
            for shown in self.windows.values():
                if name in shown:
                    shown.remove(name)
        if ch.active not in ch.traces:
            ch.active = next(iter(ch.traces), "")

    def _load_cal(self, ch: _Channel, cal: dict[str, Any]) -> None:
        ch.calibration = dict(cal)
        ch.correction_on = True

    # ------------------------------------------------------------------ sweeps and data
    def _sweep_duration_s(self, ch: _Channel) -> float:
        auto = self.front_end.sweep_time_s(ch.sweep(), ch.source_ports())
        return max(auto, ch.manual_sweep_time_s or 0.0)

    def _acquire(self, ch: _Channel, sweeps: int) -> None:
        """Run `sweeps` sweeps: the last one (no averaging) or the running average."""
        ports = ch.measured_ports()
        if not ports:
            ch.acquisition = None
            return
        key = ch.settings_key()
        prev = ch.acquisition
        k_prev = ch.averaged if (ch.average_on and prev is not None and prev.key == key
                                 and prev.ports == ports) else 0
        n = ch.average_count if ch.average_on else 1
        try:
            data = self.front_end.measure(ch.sweep(min(sweeps, n)), ports, ch.cal_ports())
        except ValueError as exc:
            raise rs_error(-221, str(exc)) from None
        if k_prev and prev is not None:
            w = min(1.0, sweeps / min(k_prev + sweeps, n))
            data = (1.0 - w) * prev.s + w * data
        ch.averaged = min(k_prev + sweeps, n)
        ch.acquisition = _Acquisition(key, ports, data)

    def _initiate(self, a: Args, s: Sfx) -> None:
        ch = self._ch(s)
        if ch.continuous:
            raise rs_error(-213, "single sweep mode only (INITiate:CONTinuous OFF)")
        if self.busy:
            raise rs_error(-213, "sweep in progress")
        targets = ([c for c in self.channels.values() if not c.continuous] if self.scope_all
                   else [ch])
        total_s = 0.0
        for c in targets:
            self._acquire(c, c.sweep_count)
            if c.measured_ports():
                total_s += self._sweep_duration_s(c) * c.sweep_count
        self.start_operation(total_s)

    def _data(self, ch: _Channel, ports: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(frequency, (F, n, n) data of `ports`) from the latest sweep."""
        if ch.continuous:
            self._acquire(ch, ch.average_count if ch.average_on else 1)
        acq = ch.acquisition
        if acq is None or acq.key[:3] != ch.stimulus() or not set(ports) <= set(acq.ports):
            raise rs_error(-230, f"no sweep data for channel {ch.number} at the current "
                                 "settings (INITiate first)")
        idx = np.array([acq.ports.index(p) for p in ports])
        return ch.sweep().frequency_hz(), acq.s[:, idx[:, None], idx[None, :]]

    def _trace_values(self, ch: _Channel, trace: _Trace, kind: str) -> np.ndarray:
        f, s = self._data(ch, (trace.receive_port, trace.source_port))
        values = s[:, 0, 1]  # S(receive, source)
        return interleaved(values) if kind in ("SDAT", "MDAT") else formatted(values, trace.fmt, f)

    def _active(self, ch: _Channel) -> _Trace:
        if not ch.active:
            raise rs_error(-221, f"no trace in channel {ch.number}")
        return ch.traces[ch.active]

    def _query_data(self, a: Args, s: Sfx) -> bytes:
        ch = self._ch(s)
        kind = parse_enum(a[0], _DATA_KINDS)
        return self.format_values(self._trace_values(ch, self._active(ch), kind))

    def _query_trace_data(self, a: Args, s: Sfx) -> bytes:
        ch, trace = self._trace(parse_string(a[0]))
        kind = parse_enum(a[1], _DATA_KINDS) if len(a) > 1 else "SDAT"
        return self.format_values(self._trace_values(ch, trace, kind))

    def _query_sgroup(self, a: Args, s: Sfx) -> bytes:
        ch = self._ch(s)
        kind = parse_enum(a[0], _DATA_KINDS)
        if not ch.group_ports:
            raise rs_error(-221, f"no S-parameter group in channel {ch.number}")
        f, block = self._data(ch, ch.group_ports)
        if kind == "FDAT":
            n = len(ch.group_ports)
            group = [t for t in ch.traces.values() if t.group]  # created row-major
            parts = [formatted(block[:, k // n, k % n], t.fmt, f) for k, t in enumerate(group)]
            return self.format_values(np.concatenate(parts))
        # traces S11, S12, ... S1n, S21 ... one after another: (n, n, F) row-major, Re/Im
        return self.format_values(interleaved(block.transpose(1, 2, 0)))

    def _call_ports(self, ch: _Channel) -> tuple[int, ...]:
        if ch.cal_ports():
            return ch.cal_ports()
        return tuple(sorted({p for t in ch.traces.values()
                             for p in (t.receive_port, t.source_port)}))

    def _query_call(self, a: Args, s: Sfx) -> bytes:
        ch = self._ch(s)
        parse_enum(a[0] if a else "SDAT", ["SDATa"])
        ports = self._call_ports(ch)
        if not ports:
            raise rs_error(-221, f"no S-parameter trace in channel {ch.number}")
        _, block = self._data(ch, ports)
        return self.format_values(interleaved(block.transpose(1, 2, 0)))

    # ------------------------------------------------------------------ settings
    def _set_frequency(self, which: str, a: Args, s: Sfx) -> None:
        ch, lo, hi = self._ch(s), self.spec.f_min_hz, self.spec.f_max_hz
        if which == "SPAN":
            span = parse_number(a[0], "HZ", minimum=0.0, maximum=hi - lo, default=hi - lo)
            center = min(max((ch.start_hz + ch.stop_hz) / 2, lo + span / 2), hi - span / 2)
            ch.start_hz, ch.stop_hz = center - span / 2, center + span / 2
            return
        value = parse_number(a[0], "HZ", minimum=lo, maximum=hi,
                             default=lo if which == "STAR" else hi)
        if which == "STAR":
            ch.start_hz, ch.stop_hz = value, max(ch.stop_hz, value)
        elif which == "STOP":
            ch.start_hz, ch.stop_hz = min(ch.start_hz, value), value
        else:  # CENTer keeps the span where it fits [verify]
            half = min((ch.stop_hz - ch.start_hz) / 2, value - lo, hi - value)
            ch.start_hz, ch.stop_hz = value - half, value + half

    def _set_ifbw(self, a: Args, s: Sfx) -> None:
        value = parse_number(a[0], "HZ", minimum=1.0, maximum=self.spec.ifbw_max_hz,
                             default=PRESET_IFBW_HZ)
        self._ch(s).ifbw_hz = round_up_ifbw(value, self.spec.ifbw_max_hz)

    def _set_power(self, a: Args, s: Sfx) -> None:
        self._ch(s).power_dbm = parse_number(
            a[0], "DBM", minimum=self.spec.power_min_dbm, maximum=self.spec.power_max_dbm,
            default=PRESET_POWER_DBM)

    def _set_sdefine(self, a: Args, s: Sfx) -> None:
        if len(a) < 2:
            raise ScpiError(-109)
        i, j = self._parameter(a[1])
        self._add_trace(self._ch(s, create=True), _Trace(parse_string(a[0]), i, j))

    def _set_measure(self, a: Args, s: Sfx) -> None:
        if len(a) < 2:
            raise ScpiError(-109)
        _, trace = self._trace(parse_string(a[0]))
        trace.receive_port, trace.source_port = self._parameter(a[1])

    def _set_select(self, a: Args, s: Sfx) -> None:
        ch, name = self._ch(s), parse_string(a[0])
        if name not in ch.traces:
            raise rs_error(-224, f"trace '{name}' is not in channel {ch.number}")
        ch.active = name

    def _set_sgroup(self, a: Args, s: Sfx) -> None:
        ports = tuple(parse_int(x, minimum=1, maximum=self.spec.ports) for x in a)
        if not ports or any(b <= p for p, b in zip(ports, ports[1:], strict=False)):
            raise rs_error(-224, "logical ports must be given in ascending order")
        ch = self._ch(s, create=True)
        self._delete(ch, [n for n, t in ch.traces.items() if t.group])
        for i in ports:
            for j in ports:
                self._add_trace(ch, _Trace(f"{ch.name}_SG_S{i}{j}", i, j, group=True))
        ch.group_ports = ports

    def _set_feed(self, a: Args, s: Sfx) -> None:
        name = parse_string(a[0])
        self._trace(name)
        if s[0] not in self.windows:
            raise rs_error(-114, f"window {s[0]} does not exist (DISPlay:WINDow<n>:STATe ON)")
        if name not in self.windows[s[0]]:
            self.windows[s[0]].append(name)

    def _set_window(self, a: Args, s: Sfx) -> None:
        if parse_bool(a[0]):
            self.windows.setdefault(s[0], [])
        else:
            self.windows.pop(s[0], None)

    def _set_correction(self, a: Args, s: Sfx) -> None:
        ch, on = self._ch(s), parse_bool(a[0])
        if on and ch.calibration is None:
            raise rs_error(-221, f"no calibration in channel {ch.number}")
        ch.correction_on = on

    def _load_correction(self, a: Args, s: Sfx) -> None:
        if len(a) < 2:
            raise ScpiError(-109)
        ch = self._ch((parse_int(a[0], minimum=1),))
        name = parse_string(a[1])
        pool = self.cal_pool
        if pool is None or name.lower().removesuffix(".cal") != str(
                pool["cal_set"]).lower().removesuffix(".cal"):
            raise rs_error(-256, f"cal group '{name}' is not in the cal pool")
        self._load_cal(ch, pool)

    def _sst(self, a: Args, s: Sfx) -> str:
        ch = self._ch(s)
        if ch.calibration is None:
            return "''"
        return "'CAL'" if ch.correction_on else "'CAL OFF'"

    def _method(self, a: Args, s: Sfx) -> str:
        cal = self._ch(s).calibration
        if cal is None:
            return "''"
        return ",".join([f"'{cal['cal_set']}'", str(cal["cal_type"]),
                         *(str(p) for p in cal["ports"])])

    def _set_format(self, a: Args, s: Sfx) -> None:
        kind = parse_enum(a[0], ["ASCii", "REAL"])
        if kind == "ASC":
            self.data_format = "ASC"
            return
        bits = parse_int(a[1]) if len(a) > 1 else 32
        if bits not in (32, 64):
            raise ScpiError(-224)
        self.data_format = f"REAL,{bits}"

    # ------------------------------------------------------------------ registration
    def _flag(self, get: Callable[[Sfx], bool], put: Callable[[Sfx, bool], None]
              ) -> dict[str, Any]:
        return {"set": lambda a, s: put(s, parse_bool(a[0])),
                "query": lambda a, s: "1" if get(s) else "0"}

    def _register(self) -> None:
        c, sens = self.command, "[:SENSe<n>]"
        ch = self._ch
        c("INSTrument:PORT:COUNt", query=lambda a, s: str(self.spec.ports))
        c("SYSTem:PRESet", set=lambda a, s: self.reset())
        c("SYSTem:DISPlay:UPDate", set=lambda a, s: None)
        c("FORMat[:DATA]", set=self._set_format,
          query=lambda a, s: "ASC,0" if self.data_format == "ASC" else self.data_format)
        c("FORMat:BORDer", set=lambda a, s: setattr(
            self, "byte_order", parse_enum(a[0], ["NORMal", "SWAPped"])),
          query=lambda a, s: self.byte_order)
        c("OUTPut<n>[:STATe]", set=lambda a, s: self._set_rf(parse_bool(a[0])),
          query=lambda a, s: "1" if self.rf_on else "0")
        for node, which in (("STARt", "STAR"), ("STOP", "STOP"), ("CENTer", "CENT"),
                            ("SPAN", "SPAN")):
            c(f"{sens}:FREQuency:{node}", set=lambda a, s, w=which: self._set_frequency(w, a, s),
              query=lambda a, s, w=which: rs_number(self._frequency(ch(s), w)))
        c(f"{sens}:SWEep:POINts", set=lambda a, s: setattr(ch(s), "points", parse_int(
            a[0], minimum=1, maximum=MAX_POINTS, default=PRESET_POINTS)),
          query=lambda a, s: str(ch(s).points))
        for bw in ("BANDwidth", "BWIDth"):
            c(f"{sens}:{bw}[:RESolution]", set=self._set_ifbw,
              query=lambda a, s: rs_number(ch(s).ifbw_hz))
        c(f"{sens}:SWEep:TYPE", set=lambda a, s: parse_enum(a[0], ["LINear"]),
          query=lambda a, s: "LIN")
        c(f"{sens}:SWEep:TIME", set=lambda a, s: setattr(ch(s), "manual_sweep_time_s",
                                                         parse_number(a[0], "S", minimum=0.0)),
          query=lambda a, s: rs_number(self._sweep_duration_s(ch(s))))
        c(f"{sens}:SWEep:TIME:AUTO", **self._flag(
            lambda s: ch(s).manual_sweep_time_s is None,
            lambda s, v: setattr(ch(s), "manual_sweep_time_s",
                                 None if v else self._sweep_duration_s(ch(s)))))
        c(f"{sens}:SWEep:COUNt", set=lambda a, s: setattr(ch(s), "sweep_count", parse_int(
            a[0], minimum=1, maximum=MAX_SWEEP_COUNT, default=1)),
          query=lambda a, s: str(ch(s).sweep_count))
        c(f"{sens}:AVERage[:STATe]", **self._flag(
            lambda s: ch(s).average_on, lambda s, v: setattr(ch(s), "average_on", v)))
        c(f"{sens}:AVERage:COUNt", set=lambda a, s: setattr(ch(s), "average_count", parse_int(
            a[0], minimum=1, maximum=MAX_AVERAGE_COUNT, default=PRESET_AVERAGE_COUNT)),
          query=lambda a, s: str(ch(s).average_count))
        c(f"{sens}:AVERage:CLEar", set=lambda a, s: setattr(ch(s), "averaged", 0))
        c(f"{sens}:AVERage:MODE", set=lambda a, s: parse_enum(
            a[0], ["AUTO", "FLATten", "REDuce", "MOVing"]), query=lambda a, s: "AUTO")
        c("SOURce<n>:POWer<n>[:LEVel][:IMMediate][:AMPLitude]", set=self._set_power,
          query=lambda a, s: rs_number(ch(s).power_dbm))
        c("INITiate<n>:CONTinuous", **self._flag(
            lambda s: ch(s).continuous, lambda s, v: setattr(ch(s), "continuous", v)))
        c("INITiate<n>[:IMMediate]", set=self._initiate)
        c("INITiate<n>[:IMMediate]:SCOPe", set=lambda a, s: setattr(
            self, "scope_all", parse_enum(a[0], ["ALL", "SINGle"]) == "ALL"),
          query=lambda a, s: "ALL" if self.scope_all else "SING")
        self._register_traces()
        self._register_correction()

    def _frequency(self, ch: _Channel, which: str) -> float:
        return {"STAR": ch.start_hz, "STOP": ch.stop_hz, "CENT": (ch.start_hz + ch.stop_hz) / 2,
                "SPAN": ch.stop_hz - ch.start_hz}[which]

    def _register_traces(self) -> None:
        c, par, ch = self.command, "CALCulate<n>:PARameter", self._ch
        c(f"{par}:SDEFine", set=self._set_sdefine)
        c(f"{par}:MEASure", set=self._set_measure,
          query=lambda a, s: f"'{self._trace(parse_string(a[0]))[1].parameter}'")
        c(f"{par}:SELect", set=self._set_select, query=lambda a, s: f"'{ch(s).active}'")
        c(f"{par}:CATalog", query=lambda a, s: "'" + ",".join(
            f"{t.name},{t.parameter}" for t in ch(s).traces.values()) + "'")
        c(f"{par}:DELete", set=lambda a, s: self._delete(*self._trace_for_delete(a)))
        c(f"{par}:DELete:ALL", set=lambda a, s: [
            self._delete(x, list(x.traces)) for x in self.channels.values()])
        c(f"{par}:DELete:CALL", set=lambda a, s: self._delete(ch(s), list(ch(s).traces)))
        c(f"{par}:DELete:SGRoup", set=lambda a, s: self._delete(
            ch(s), [n for n, t in ch(s).traces.items() if t.group]))
        c(f"{par}:DEFine:SGRoup", set=self._set_sgroup,
          query=lambda a, s: ",".join(str(p) for p in ch(s).group_ports))
        c("CALCulate<n>:FORMat", set=lambda a, s: setattr(
            self._active(ch(s)), "fmt", parse_enum(a[0], _FORMATS)),
          query=lambda a, s: self._active(ch(s)).fmt)
        c("CALCulate<n>:DATA", query=self._query_data, waits=True)
        c("CALCulate<n>:DATA:TRACe", query=self._query_trace_data, waits=True)
        c("CALCulate<n>:DATA:SGRoup", query=self._query_sgroup, waits=True)
        c("CALCulate<n>:DATA:CALL", query=self._query_call, waits=True)
        c("CALCulate<n>:DATA:CALL:CATalog", query=lambda a, s: "'" + ",".join(
            f"S{i}{j}" for i in self._call_ports(ch(s)) for j in self._call_ports(ch(s))) + "'")
        c("CALCulate<n>:DATA:STIMulus", query=lambda a, s: self.format_values(
            ch(s).sweep().frequency_hz()))
        c("DISPlay[:WINDow<n>][:STATe]", set=self._set_window,
          query=lambda a, s: "1" if s[0] in self.windows else "0")
        c("DISPlay[:WINDow<n>]:TRACe<n>:FEED", set=self._set_feed)
        c("DISPlay[:WINDow<n>]:TRACe:EFEed", set=self._set_feed)
        c("CONFigure:CHANnel<n>[:STATe]", set=self._set_channel_state,
          query=lambda a, s: "1" if s[0] in self.channels else "0")
        c("CONFigure:CHANnel<n>:NAME", set=lambda a, s: setattr(
            ch(s), "name", parse_string(a[0])), query=lambda a, s: f"'{ch(s).name}'")
        c("CONFigure:CHANnel:CATalog", query=lambda a, s: "'" + ",".join(
            f"{n},{x.name}" for n, x in sorted(self.channels.items())) + "'")

    def _set_channel_state(self, a: Args, s: Sfx) -> None:
        if parse_bool(a[0]):
            self._ch(s, create=True)
        elif s[0] in self.channels:
            ch = self.channels[s[0]]
            self._delete(ch, list(ch.traces))
            del self.channels[s[0]]

    def _trace_for_delete(self, a: Args) -> tuple[_Channel, list[str]]:
        ch, trace = self._trace(parse_string(a[0]))
        return ch, [trace.name]

    def _register_correction(self) -> None:
        c, corr, ch = self.command, "[:SENSe<n>]:CORRection", self._ch
        c(f"{corr}[:STATe]", set=self._set_correction,
          query=lambda a, s: "1" if ch(s).cal_ports() else "0")
        c(f"{corr}:SSTate", query=self._sst)
        c(f"{corr}:DATE", query=lambda a, s: (
            f"'{self.cal_date}'" if ch(s).calibration is not None else "''"))
        c(f"{corr}:COLLect:METHod:DEFine", query=self._method)
        c("MMEMory:LOAD:CORRection", set=self._load_correction, query=lambda a, s: (
            f"'{ch((parse_int(a[0], minimum=1),)).calibration['cal_set']}'"
            if a and ch((parse_int(a[0], minimum=1),)).calibration is not None else "''"))
