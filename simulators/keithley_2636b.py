"""Keithley 2636B dual-channel SourceMeter: a TSP (Lua) interpreter subset on the virtual bench.

The 2636B has no SCPI (2600B Reference Manual 2600BS-901-01 §"Remote commands"): each received
line is a Lua chunk, except IEEE 488.2 common commands (`*IDN?`, `*RST`, `*OPC?`, `*ESE`...),
which the core serves (no `*OPT?` on a 2600B [verify]). Channels: `smua` = 1, `smub` = 2.

TSP subset understood here (everything else is a syntax or runtime error as the instrument
reports them: -285 "TSP Syntax error at line 1: unexpected symbol near `X'", -286 "TSP
Runtime error at line 1: attempt to call field `x' (a nil value)"; the whole chunk is
compiled before it runs, so a syntax error executes nothing; the language itself is
`simulators.tsp_core`):
- statements separated by `;` or blanks: `<path> = <expr>` and calls `<path>(<args>)`;
- expressions: numbers (with unary minus), strings, `true|false|nil`, tables `{1, 2}`,
  attribute paths (`smua.source.levelv`, `trigger.timer[1].delay`) and calls;
- `smuX.source.{func,levelv,leveli,limiti,limitv,output,compliance(read-only),rangev,
  rangei,autorangev,autorangei,delay,offmode}`, `smuX.measure.{nplc,delay,i(),v(),iv(),r(),
  p(),autorangei,rangei,autozero,...}` (`iv()` returns current then voltage),
  `smuX.reset()|abort()`,
  `smuX.nvbuffer1|2.{n,readings,sourcevalues,timestamps,statuses,clear(),appendmode,
  collectsourcevalues,collecttimestamps}`, the constants `smuX.OUTPUT_ON|OFF|DCVOLTS|DCAMPS`,
  `ENABLE|DISABLE`, `SOURCE_IDLE|SOURCE_HOLD`, `AUTORANGE_ON|OFF`, `AUTOZERO_OFF|ONCE|AUTO`,
  `LIMIT_AUTO`;
- the SMU trigger model: `smuX.trigger.source.listv({...})|linearv(a, b, n)|limiti|action|
  stimulus`, `smuX.trigger.measure.iv(b1, b2)|i(b)|v(b)|action|stimulus`,
  `smuX.trigger.endpulse.action|stimulus`, `smuX.trigger.endsweep.action`,
  `smuX.trigger.count`, `smuX.trigger.arm.count|stimulus`, `smuX.trigger.initiate()|abort()`,
  event ids `smuX.trigger.ARMED_EVENT_ID...`, `trigger.timer[N].delay|count|passthrough|
  stimulus|EVENT_ID|reset()`;
- `print(...)` (tab-separated; numbers `%.{p-1}e`, p = `format.asciiprecision`, default 6),
  `printbuffer(start, end, field, ...)` (", "-separated, ASCII only), `waitcomplete()`,
  `reset()`, `delay(s)`, `errorqueue.count|next()|clear()`, `format.asciiprecision|data`,
  `localnode.linefreq|model`, `beeper.enable`.

Pulsed sweeps follow the 2600B manual's timer-driven pulse example [verify]: with
`endpulse.action = SOURCE_IDLE` each point is a pulse from the idle level (`source.levelv`);
its width is the delay of the timer whose EVENT_ID is `endpulse.stimulus`, its period the
delay of the timer that is `source.stimulus`; a timer as `measure.stimulus` places the
aperture (its delay from the pulse start; otherwise the measurement follows the source action).
Two channels pulse in step as in Keithley's dual-channel pulsed-sweep example: a channel whose
source stimulus leads (through timers) to the other SMU's ARMED event waits after `initiate()`
and runs when that SMU is initiated; channels sharing source timer, width and period then pulse
together (`simulators.smu_pulse`, quiescent point = both idle levels). Every level, limit or
output change is applied to the device model at once (it is charged for the time it holds).
Buffer status bit 0x40 = compliance [verify].
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators import hemt_bench, smu_pulse
from simulators.bench import SmuChannelState, VirtualBench
from simulators.hemt_bench import TerminalReading
from simulators.keithley_2450 import ChannelReading, read_smu_channel, with_noise
from simulators.scpi_core import ScpiDevice
from simulators.tsp_core import Evaluator, Fn, Obj, Parser, TspError, number, runtime_error

LINE_FREQUENCY_HZ = 50.0
MAX_VOLTAGE_V = 202.0  # 200 V range + 1 % [verify]
MAX_CURRENT_A = 1.515  # 1.5 A range + 1 % (DC) [verify]
STATUS_COMPLIANCE = 0x40  # nvbuffer statuses bit B6 [verify]
TOO_BIG = 1102  # 1102 "Parameter too big" [verify]
CHANNELS = {"smua": 1, "smub": 2}


@dataclass
class BufferPoint:
    reading: float
    source: float
    timestamp_s: float
    status: int
    ready_at: float


@dataclass
class ReadingBuffer:
    """`smuX.nvbufferN`: readings become visible when the point is taken."""

    points: list[BufferPoint] = field(default_factory=list)
    collect_source: bool = False
    collect_time: bool = False

    def visible(self) -> list[BufferPoint]:
        now = time.monotonic()
        return [p for p in self.points if p.ready_at <= now]


# ---------------------------------------------------------------------- the instrument
@dataclass
class Channel:
    """Programmed state of one SMU channel beyond what the bench holds."""

    levelv: float = 0.0
    leveli: float = 0.0
    limiti: float = 0.1
    limitv: float = 20.0
    nplc: float = 1.0
    source_delay_s: float = 0.0
    sweep_values: list[float] = field(default_factory=list)
    sweep_limiti: float = 0.0  # 0 = smuX.LIMIT_AUTO: the source limit applies
    trigger: dict[str, float] = field(default_factory=dict)
    measure_buffers: tuple[str, tuple[str, ...]] = ("iv", ("nvbuffer1", "nvbuffer2"))
    buffers: dict[str, ReadingBuffer] = field(
        default_factory=lambda: {"nvbuffer1": ReadingBuffer(), "nvbuffer2": ReadingBuffer()})


@dataclass
class _Sweep:
    """One channel's trigger-model run as `initiate()` found it programmed."""

    ch: int
    count: int
    values: list[float]
    sourcing: bool
    pulsed: bool
    width_s: float
    period_s: float
    step_s: float
    sample_start_s: float
    aperture_s: float
    stimulus: float
    idle_level: float
    idle_limit: float

    def level(self, k: int) -> float:
        """Source level of point `k` (the idle level when the source action is off)."""
        return self.values[k % len(self.values)] if self.sourcing else self.idle_level


_TRIGGER_DEFAULTS = {"count": 1.0, "arm.count": 1.0, "source.action": 0.0,
                     "measure.action": 0.0, "endpulse.action": 1.0, "endsweep.action": 0.0,
                     "source.stimulus": 0.0, "measure.stimulus": 0.0,
                     "endpulse.stimulus": 0.0, "arm.stimulus": 0.0}
_EVENTS = ("ARMED", "SOURCE_COMPLETE", "MEASURE_COMPLETE", "PULSE_COMPLETE", "SWEEP_COMPLETE",
           "IDLE")


class Keithley2636B(ScpiDevice):
    """2636B: two SMU channels driven by TSP statements (see the module docstring)."""

    idn = ("Keithley Instruments Inc.", "Model 2636B", "4123456", "4.0.4")  # [verify] fw

    def __init__(self, bench: VirtualBench | None = None, role: str = "smu",
                 model: str = "keithley_2636b") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self._common.pop("*OPT", None)
        with self.lock:
            for ch in CHANNELS.values():
                self.bench.smu.setdefault((role, ch), SmuChannelState())
        self.channels: dict[int, Channel] = {1: Channel(), 2: Channel()}
        self.timers: dict[int, dict[str, float]] = {}
        #: channels initiated and waiting for the other SMU's ARMED event to start their sweep
        self.waiting: set[int] = set()
        #: channels whose source function changed since they were last applied
        self._mode_changed: dict[int, bool] = {}
        self.asciiprecision = 0
        self._out: list[str] = []
        self.tsp = Evaluator(self._build_globals())
        self.reset()

    # ------------------------------------------------------------------ state
    def state(self, ch: int) -> SmuChannelState:
        return self.bench.smu[(self.role, ch)]

    def reset(self) -> None:
        """`reset()` / `*RST`: both channels to defaults, outputs off [verify defaults]."""
        super().reset()
        with self.lock:
            for ch in CHANNELS.values():
                self._reset_channel(ch)
            self.timers = {n: {"delay": 10e-6, "count": 1.0, "passthrough": 0.0,
                               "stimulus": 0.0} for n in range(1, 9)}
            self.asciiprecision = 0
            self.tsp.globals.clear()
            self.waiting.clear()

    def _reset_channel(self, ch: int) -> None:
        st = self.state(ch)
        if st.output_on:
            self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} output OFF (reset)")
        self.channels[ch] = Channel(trigger=dict(_TRIGGER_DEFAULTS))
        self.waiting.discard(ch)
        st.mode, st.level, st.limit, st.output_on = "VOLT", 0.0, 0.1, False
        hemt_bench.solve(self.bench)

    def _apply(self, ch: int) -> None:
        """Publish channel `ch`'s programme to the bench; the device model judges (and is
        charged for) every new operating point as it is applied, not only when measured."""
        st, c = self.state(ch), self.channels[ch]
        level = c.levelv if st.mode == "VOLT" else c.leveli
        limit = c.limiti if st.mode == "VOLT" else c.limitv
        if (st.level, st.limit) == (level, limit) and not self._mode_changed.pop(ch, False):
            return  # nothing the device sees moved (e.g. the same limit re-sent)
        st.level, st.limit = level, limit
        hemt_bench.solve(self.bench)

    # ------------------------------------------------------------------ TSP namespace
    def _event_id(self, ch: int, name: str) -> float:
        return float(ch * 100 + _EVENTS.index(name) + 1)

    def _build_globals(self) -> dict[str, Any]:
        g: dict[str, Any] = {name: self._smu_object(ch) for name, ch in CHANNELS.items()}
        timers = Obj({n: self._timer_object(n) for n in range(1, 9)})
        g["trigger"] = Obj({"timer": timers})
        g["print"] = Fn(lambda *a: self._emit("\t".join(self._fmt(v) for v in a)))
        g["printbuffer"] = Fn(self._printbuffer)
        g["waitcomplete"] = Fn(lambda *a: None)  # handled by the executor (blocks unlocked)
        g["reset"] = Fn(lambda *a: self.reset())
        g["delay"] = Fn(lambda s: time.sleep(min(number(s, "delay"), 5.0) * self.time_scale))
        g["errorqueue"] = Obj({"next": Fn(self._error_next),
                               "clear": Fn(lambda: self.errors.clear())},
                              getters={"count": lambda: float(len(self.errors))})
        g["format"] = Obj({"ASCII": 1.0, "REAL32": 4.0, "REAL64": 5.0, "data": 1.0},
                          getters={"asciiprecision": lambda: float(self.asciiprecision)},
                          setters={"asciiprecision": self._set_precision,
                                   "data": self._set_format})
        g["localnode"] = Obj({"model": "2636B", "linefreq": LINE_FREQUENCY_HZ})
        g["beeper"] = Obj({"enable": 1.0, "ON": 1.0, "OFF": 0.0})
        return g

    def _timer_object(self, n: int) -> Obj:
        def setter(key: str) -> Callable[[Any], None]:
            def set_value(v: Any) -> None:
                value = float(v) if isinstance(v, bool) else number(v, key)
                self.timers[n][key] = value
            return set_value

        keys = ("delay", "count", "passthrough", "stimulus")
        return Obj({"EVENT_ID": float(900 + n),
                    "reset": Fn(lambda: self.timers[n].update(delay=10e-6, count=1.0))},
                   getters={k: (lambda k=k: self.timers[n][k]) for k in keys},
                   setters={k: setter(k) for k in keys})

    def _smu_object(self, ch: int) -> Obj:
        c = lambda: self.channels[ch]  # noqa: E731 - the Channel is replaced on reset
        st = lambda: self.state(ch)  # noqa: E731

        def level(kind: str) -> Callable[[Any], None]:
            def set_level(v: Any) -> None:
                value = number(v, kind)
                if abs(value) > (MAX_VOLTAGE_V if kind[-1] == "v" else MAX_CURRENT_A):
                    raise TspError(TOO_BIG, "Parameter too big")
                setattr(c(), kind, value)
                self._apply(ch)
                self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} {kind} = {value:.6g}")
            return set_level

        def set_func(v: Any) -> None:
            mode = "VOLT" if number(v, "func") == 1 else "CURR"
            if st().mode != mode:
                st().mode = mode
                self._mode_changed[ch] = True
            self._apply(ch)

        def set_output(v: Any) -> None:
            on = number(v, "output") != 0
            st().output_on = on
            self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} output {'ON' if on else 'OFF'}")
            hemt_bench.solve(self.bench)

        def set_nplc(v: Any) -> None:
            value = number(v, "nplc")
            if not 0.001 <= value <= 25:
                raise TspError(TOO_BIG if value > 25 else TOO_BIG + 1, "Parameter out of range")
            c().nplc = value

        source = Obj(
            {"rangev": 20.0, "rangei": 0.1, "autorangev": 1.0, "autorangei": 1.0,
             "offmode": 0.0, "highc": 0.0, "settling": 0.0},
            getters={"func": lambda: 1.0 if st().mode == "VOLT" else 0.0,
                     "levelv": lambda: c().levelv, "leveli": lambda: c().leveli,
                     "limiti": lambda: c().limiti, "limitv": lambda: c().limitv,
                     "output": lambda: 1.0 if st().output_on else 0.0,
                     "delay": lambda: c().source_delay_s,
                     "compliance": lambda: self._reading(ch).in_compliance},
            setters={"func": set_func, "levelv": level("levelv"), "leveli": level("leveli"),
                     "limiti": level("limiti"), "limitv": level("limitv"),
                     "output": set_output,
                     "delay": lambda v: setattr(c(), "source_delay_s", number(v, "delay"))})
        measure = Obj(
            {"autorangei": 1.0, "autorangev": 1.0, "rangei": 0.1, "rangev": 20.0,
             "autozero": 2.0, "count": 1.0, "delay": 0.0,
             **{q: Fn(lambda *b, q=q: self._spot(ch, q, b)) for q in ("i", "v", "iv", "r", "p")}},
            getters={"nplc": lambda: c().nplc}, setters={"nplc": set_nplc})
        trig = self._trigger_object(ch)
        consts = {"OUTPUT_ON": 1.0, "OUTPUT_OFF": 0.0, "OUTPUT_DCVOLTS": 1.0,
                  "OUTPUT_DCAMPS": 0.0, "ENABLE": 1.0, "DISABLE": 0.0, "SOURCE_IDLE": 0.0,
                  "SOURCE_HOLD": 1.0, "AUTORANGE_ON": 1.0, "AUTORANGE_OFF": 0.0,
                  "LIMIT_AUTO": 0.0, "OUTPUT_NORMAL": 0.0, "OUTPUT_HIGH_Z": 1.0,
                  "OUTPUT_ZERO": 2.0, "AUTOZERO_OFF": 0.0, "AUTOZERO_ONCE": 1.0,
                  "AUTOZERO_AUTO": 2.0}
        fields: dict[str, Any] = dict(consts)
        fields.update(source=source, measure=measure, trigger=trig,
                      reset=Fn(lambda: self._reset_channel(ch)),
                      abort=Fn(lambda: self._abort(ch)),
                      nvbuffer1=self._buffer_object(ch, "nvbuffer1"),
                      nvbuffer2=self._buffer_object(ch, "nvbuffer2"))
        return Obj(fields)

    def _buffer_object(self, ch: int, name: str) -> Obj:
        buf = lambda: self.channels[ch].buffers[name]  # noqa: E731

        def column(attr: str, needs: str | None = None) -> Callable[[], Any]:
            def get() -> Any:
                if needs is not None and not getattr(buf(), needs):
                    return None
                return [getattr(p, attr) for p in buf().visible()]
            return get

        return Obj({"appendmode": 0.0, "fillmode": 0.0, "capacity": 60000.0, "name": name,
                    "clear": Fn(lambda: buf().points.clear())},
                   getters={"n": lambda: float(len(buf().visible())),
                            "readings": column("reading"),
                            "sourcevalues": column("source", "collect_source"),
                            "timestamps": column("timestamp_s", "collect_time"),
                            "statuses": column("status"),
                            "collectsourcevalues": lambda: float(buf().collect_source),
                            "collecttimestamps": lambda: float(buf().collect_time)},
                   setters={"collectsourcevalues": lambda v: setattr(
                                buf(), "collect_source", number(v, "collect") != 0),
                            "collecttimestamps": lambda v: setattr(
                                buf(), "collect_time", number(v, "collect") != 0)})

    def _trigger_object(self, ch: int) -> Obj:
        t = lambda: self.channels[ch].trigger  # noqa: E731

        def sub(prefix: str, keys: tuple[str, ...], extra: dict[str, Any]) -> Obj:
            return Obj(extra,
                       getters={k: (lambda k=k: t()[f"{prefix}.{k}"]) for k in keys},
                       setters={k: (lambda v, k=k: t().__setitem__(f"{prefix}.{k}",
                                                                  number(v, k)))
                                for k in keys})

        def listv(values: Any) -> None:
            if not isinstance(values, list) or not values:
                raise runtime_error("bad argument #1 to 'listv' (table expected)")
            self.channels[ch].sweep_values = [number(v, "listv") for v in values]

        def linearv(start: Any, stop: Any, points: Any) -> None:
            n = int(number(points, "points"))
            self.channels[ch].sweep_values = list(np.linspace(
                number(start, "start"), number(stop, "stop"), n))

        def measure_into(kind: str) -> Fn:
            def setup(*buffers: Any) -> None:
                names = tuple(b.fields.get("name") for b in buffers if isinstance(b, Obj))
                self.channels[ch].measure_buffers = (kind, names)
            return Fn(setup)

        source = sub("source", ("action", "stimulus"), {"listv": Fn(listv),
                                                         "linearv": Fn(linearv)})
        source.getters["limiti"] = lambda: self.channels[ch].sweep_limiti
        source.setters["limiti"] = lambda v: setattr(self.channels[ch], "sweep_limiti",
                                                     number(v, "limiti"))
        fields: dict[str, Any] = {f"{e}_EVENT_ID": self._event_id(ch, e) for e in _EVENTS}
        fields.update(
            source=source,
            measure=sub("measure", ("action", "stimulus"),
                        {"iv": measure_into("iv"), "i": measure_into("i"),
                         "v": measure_into("v")}),
            endpulse=sub("endpulse", ("action", "stimulus"), {}),
            endsweep=sub("endsweep", ("action",), {}),
            arm=sub("arm", ("count", "stimulus"), {}),
            initiate=Fn(lambda: self._initiate(ch)),
            abort=Fn(lambda: self._abort(ch)))
        return Obj(fields, getters={"count": lambda: t()["count"]},
                   setters={"count": lambda v: t().__setitem__("count", number(v, "count"))})

    # ------------------------------------------------------------------ measurements
    def _reading(self, ch: int, dwell_s: float | None = None) -> ChannelReading:
        return read_smu_channel(self.bench, self.role, ch, dwell_s)

    def _spot(self, ch: int, kind: str, buffers: tuple[Any, ...]) -> Any:
        c = self.channels[ch]
        r = with_noise(self._reading(ch), self.rng, c.nplc)
        self.start_operation(c.nplc / LINE_FREQUENCY_HZ)
        values = {"i": r.current_a, "v": r.voltage_v, "p": r.current_a * r.voltage_v,
                  "r": r.voltage_v / r.current_a if r.current_a else 9.91e37}
        status = STATUS_COMPLIANCE if r.in_compliance else 0
        source = c.levelv if self.state(ch).mode == "VOLT" else c.leveli
        now = time.monotonic()
        order = ("i", "v") if kind == "iv" else (kind,)
        for quantity, b in zip(order, buffers, strict=False):
            if isinstance(b, Obj) and b.fields.get("name") in c.buffers:
                c.buffers[b.fields["name"]].points.append(
                    BufferPoint(values[quantity], source, 0.0, status, now))
        return tuple(values[q] for q in order) if kind == "iv" else values[kind]

    def _initiate(self, ch: int) -> None:
        """`smuX.trigger.initiate()`: a channel whose source events start from the other
        SMU's ARMED event waits (armed) for it; otherwise the sweep runs now, together with
        every channel waiting for this one's ARMED event (synchronous sweeps)."""
        if self.busy or ch in self.waiting:
            raise runtime_error("trigger model is already running")
        start = self._start_event(ch)
        others = [m for m in CHANNELS.values() if m != ch]
        if any(start == self._event_id(m, "ARMED") for m in others):
            self.waiting.add(ch)
            return
        armed = self._event_id(ch, "ARMED")
        group = [ch, *sorted(m for m in self.waiting if self._start_event(m) == armed)]
        self.waiting.difference_update(group)
        self._run_sweeps([self._sweep_plan(m) for m in group])

    def _start_event(self, ch: int) -> float:
        """The event at the root of `ch`'s source stimulus (through chained timers)."""
        event, seen = self.channels[ch].trigger["source.stimulus"], set()
        while int(event) - 900 in self.timers and event not in seen:
            seen.add(event)
            event = self.timers[int(event) - 900]["stimulus"]
        return event

    def _sweep_plan(self, ch: int) -> _Sweep:
        c, st = self.channels[ch], self.state(ch)
        tr = c.trigger
        aperture_s = c.nplc / LINE_FREQUENCY_HZ
        pulsed = tr["endpulse.action"] == 0
        width_s = self._timer_delay(tr["endpulse.stimulus"]) or (aperture_s + c.source_delay_s)
        period_s = self._timer_delay(tr["source.stimulus"]) or (width_s + 1e-4)
        # measure.stimulus a timer (started with the pulse [verify]): its delay places the
        # aperture; otherwise the measurement follows the source action at once
        sample_start_s = self._timer_delay(tr["measure.stimulus"])
        return _Sweep(
            ch=ch, count=int(tr["count"]) or len(c.sweep_values),
            values=c.sweep_values or [c.levelv],
            sourcing=tr["source.action"] != 0 and st.mode == "VOLT", pulsed=pulsed,
            width_s=width_s, period_s=period_s,
            step_s=period_s if pulsed else max(period_s, aperture_s + c.source_delay_s),
            sample_start_s=c.source_delay_s if sample_start_s is None else sample_start_s,
            aperture_s=aperture_s, stimulus=tr["source.stimulus"],
            idle_level=st.level, idle_limit=st.limit)

    def _run_sweeps(self, sweeps: list[_Sweep]) -> None:
        """Run the trigger models of `sweeps` together, readings into the buffers: channels
        pulsing from the same timer with the same width pulse in step (the quiescent point
        is all idle levels); every other point is a DC step of its channel."""
        for sw in sweeps:
            c = self.channels[sw.ch]
            if c.trigger["measure.action"] != 0:
                for name in c.measure_buffers[1]:
                    c.buffers[name].points.clear()
            if c.sweep_limiti > 0:
                self.state(sw.ch).limit = c.sweep_limiti
        t0 = time.monotonic()
        for k in range(max(sw.count for sw in sweeps)):
            active = [sw for sw in sweeps if k < sw.count]
            readings = self._pulse_readings([sw for sw in active if sw.pulsed and sw.sourcing], k)
            for sw in active:
                st = self.state(sw.ch)
                if sw.ch not in readings:
                    st.level = sw.level(k)
                    # the sweep is computed at once: charge the device for the step's time
                    readings[sw.ch] = self._reading(sw.ch, sw.step_s)
            for sw in active:
                self._store(sw, k, readings[sw.ch], t0)
        for sw in sweeps:
            st = self.state(sw.ch)
            hold = self.channels[sw.ch].trigger["endsweep.action"] == 1 and sw.sourcing
            st.level = st.level if hold else sw.idle_level
            st.limit = sw.idle_limit
        self.start_operation(max(sw.count * sw.step_s for sw in sweeps))

    def _pulse_readings(self, pulsing: list[_Sweep], k: int) -> dict[int, ChannelReading]:
        """Point `k` of the pulsing channels, those sharing source timer, width and period
        in one in-step pulse; an aperture reaching outside the pulse reads the base too."""
        groups: dict[tuple[float, float, float], list[_Sweep]] = {}
        for sw in pulsing:
            groups.setdefault((sw.stimulus, sw.width_s, sw.period_s), []).append(sw)
        out: dict[int, ChannelReading] = {}
        for (_, width_s, period_s), members in groups.items():
            inside = smu_pulse.in_step_readings(
                self.bench, self.role, {sw.ch: (sw.idle_level, sw.level(k)) for sw in members},
                width_s, period_s, continuing=k > 0)
            for sw in members:
                share = smu_pulse.share_inside(0.0, width_s, sw.sample_start_s, sw.aperture_s)
                base = inside[sw.ch]
                if share < 1.0:
                    q = self._reading(sw.ch)
                    base = TerminalReading(q.voltage_v, q.current_a, q.in_compliance)
                r = smu_pulse.blend(inside[sw.ch], base, share)
                out[sw.ch] = ChannelReading(r.voltage_v, r.current_a, r.in_compliance)
        return out

    def _store(self, sw: _Sweep, k: int, reading: ChannelReading, t0: float) -> None:
        c = self.channels[sw.ch]
        r = with_noise(reading, self.rng, c.nplc)
        if c.trigger["measure.action"] == 0:
            return
        kind, names = c.measure_buffers
        ready = t0 + (k + 1) * sw.step_s * self.time_scale
        status = STATUS_COMPLIANCE if r.in_compliance else 0
        quantities = {"iv": (r.current_a, r.voltage_v), "i": (r.current_a,),
                      "v": (r.voltage_v,)}[kind]
        for name, q in zip(names, quantities, strict=False):
            c.buffers[name].points.append(BufferPoint(q, sw.level(k), k * sw.step_s, status,
                                                      ready))

    def _abort(self, ch: int) -> None:
        """`smuX.trigger.abort()`: the sweep (or its wait to start) ends."""
        self.waiting.discard(ch)
        self.busy_until = 0.0

    def _timer_delay(self, stimulus: float) -> float | None:
        n = int(stimulus) - 900
        return self.timers[n]["delay"] if n in self.timers else None

    # ------------------------------------------------------------------ output
    def _fmt(self, v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return "nil"
        if isinstance(v, float | int):
            digits = self.asciiprecision or 6
            return f"{float(v):.{digits - 1}e}"
        if isinstance(v, str):
            return v
        return f"{'table' if isinstance(v, list) else 'userdata'}: 0x{id(v) & 0xFFFFFF:06x}"

    def _emit(self, line: str) -> None:
        self._out.append(line)

    def _printbuffer(self, start: Any, end: Any, *columns: Any) -> None:
        a, b = int(number(start, "start")), int(number(end, "end"))
        for col in columns:
            if not isinstance(col, list):
                raise runtime_error("bad argument to 'printbuffer' (buffer field expected)")
            if not 1 <= a <= b <= len(col):
                raise runtime_error("printbuffer: index out of range")
        self._emit(", ".join(self._fmt(col[i]) for i in range(a - 1, b) for col in columns))

    def _set_precision(self, v: Any) -> None:
        value = int(number(v, "asciiprecision"))
        if not 0 <= value <= 16:
            raise TspError(TOO_BIG, "Parameter too big")
        self.asciiprecision = value

    def _set_format(self, v: Any) -> None:
        if number(v, "data") != 1:
            raise runtime_error("format.data: only format.ASCII is simulated")

    def _error_next(self) -> tuple[Any, ...]:
        if not self.errors:
            return (0.0, "Queue Is Empty", 0.0, 0.0)
        code, message = self.errors.popleft()
        return (float(code), message, 20.0, 1.0)  # severity 20 [verify]

    # ------------------------------------------------------------------ execution
    def process(self, message: bytes, cancel: threading.Event | None = None) -> bytes:
        """One line = one Lua chunk; `*` common commands go to the IEEE 488.2 core."""
        text = message.decode("latin-1").rstrip("\r\n")
        if text.lstrip().startswith("*"):
            return super().process(message, cancel)
        self._out = []
        try:
            statements = Parser(text).chunk()
            for stmt in statements:
                if stmt[0] == "call" and stmt[1][1] == ("name", "waitcomplete"):
                    if not self._wait_idle(cancel):
                        return b""
                    continue
                with self.lock:
                    self.tsp.run_statement(stmt)
        except TspError as err:
            with self.lock:
                self.push_error(err.code, err.message)
        return "".join(line + "\n" for line in self._out).encode("latin-1")
