"""Keithley 2636B dual-channel SourceMeter: a TSP (Lua) interpreter subset on the virtual bench.

The 2636B has no SCPI (2600B Reference Manual 2600BS-901-01 §"Remote commands"): each received
line is a Lua chunk, except IEEE 488.2 common commands (`*IDN?`, `*RST`, `*OPC?`, `*ESE`...),
which the core serves (no `*OPT?` on a 2600B [verify]). Channels: `smua` = 1, `smub` = 2.

TSP subset understood here (everything else is a syntax or runtime error as the instrument
reports them: -285 "TSP Syntax error at line 1: unexpected symbol near `X'", -286 "TSP
Runtime error at line 1: attempt to call field `x' (a nil value)"; the whole chunk is
compiled before it runs, so a syntax error executes nothing):
- statements separated by `;` or blanks: `<path> = <expr>` and calls `<path>(<args>)`;
- expressions: numbers (with unary minus), strings, `true|false|nil`, tables `{1, 2}`,
  attribute paths (`smua.source.levelv`, `trigger.timer[1].delay`) and calls;
- `smuX.source.{func,levelv,leveli,limiti,limitv,output,compliance(read-only),rangev,
  rangei,autorangev,autorangei,delay,offmode}`, `smuX.measure.{nplc,delay,i(),v(),iv(),r(),
  p(),autorangei,...}` (`iv()` returns current then voltage), `smuX.reset()`,
  `smuX.nvbuffer1|2.{n,readings,sourcevalues,timestamps,statuses,clear(),appendmode,
  collectsourcevalues,collecttimestamps}`, the constants `smuX.OUTPUT_ON|OFF|DCVOLTS|DCAMPS`,
  `ENABLE|DISABLE`, `SOURCE_IDLE|SOURCE_HOLD`, `AUTORANGE_ON|OFF`, `LIMIT_AUTO`;
- the SMU trigger model: `smuX.trigger.source.listv({...})|linearv(a, b, n)|limiti|action|
  stimulus`, `smuX.trigger.measure.iv(b1, b2)|i(b)|v(b)|action|stimulus`,
  `smuX.trigger.endpulse.action|stimulus`, `smuX.trigger.endsweep.action`,
  `smuX.trigger.count`, `smuX.trigger.arm.count|stimulus`, `smuX.trigger.initiate()`,
  event ids `smuX.trigger.ARMED_EVENT_ID...`, `trigger.timer[N].delay|count|passthrough|
  stimulus|EVENT_ID|reset()`;
- `print(...)` (tab-separated; numbers `%.{p-1}e`, p = `format.asciiprecision`, default 6),
  `printbuffer(start, end, field, ...)` (", "-separated, ASCII only), `waitcomplete()`,
  `reset()`, `delay(s)`, `errorqueue.count|next()|clear()`, `format.asciiprecision|data`,
  `localnode.linefreq|model`, `beeper.enable`.

Pulsed sweeps follow the 2600B manual's timer-driven pulse example [verify]: with
`endpulse.action = SOURCE_IDLE` each point is a pulse from the idle level (`source.levelv`);
its width is the delay of the timer whose EVENT_ID is `endpulse.stimulus`, its period the
delay of the timer that is `source.stimulus`. Buffer status bit 0x40 = compliance [verify].
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.bench import SmuChannelState, VirtualBench
from simulators.keithley_2450 import (
    ChannelReading,
    pulse_smu_channel,
    read_smu_channel,
    with_noise,
)
from simulators.scpi_core import ScpiDevice

LINE_FREQUENCY_HZ = 50.0
MAX_VOLTAGE_V = 202.0  # 200 V range + 1 % [verify]
MAX_CURRENT_A = 1.515  # 1.5 A range + 1 % (DC) [verify]
STATUS_COMPLIANCE = 0x40  # nvbuffer statuses bit B6 [verify]
SYNTAX, RUNTIME, TOO_BIG = -285, -286, 1102  # 1102 "Parameter too big" [verify]
CHANNELS = {"smua": 1, "smub": 2}


class TspError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _syntax(near: str) -> TspError:
    return TspError(SYNTAX, f"TSP Syntax error at line 1: unexpected symbol near `{near}'")


def _runtime(text: str) -> TspError:
    return TspError(RUNTIME, f"TSP Runtime error at line 1: {text}")


# ---------------------------------------------------------------------- parser
_TOKEN = re.compile(r"""\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)
    |(?P<str>"[^"]*"|'[^']*')|(?P<sym>[.,(){}\[\]=;-]))""", re.X)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    text = text.split("--", 1)[0].rstrip() if "--" in text and '"' not in text else text
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            if text[i:].strip() == "":
                break
            raise _syntax(text[i:].strip()[:1])
        kind = m.lastgroup or "sym"
        tokens.append((kind, m.group(kind)))
        i = m.end()
    return tokens


class Parser:
    """Recursive descent over the token list; produces nested tuples (see `_primary`)."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "<eof>")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise _syntax(tok[1])
        self.i += 1
        return tok

    def chunk(self) -> list[tuple[Any, ...]]:
        statements = []
        while self.peek()[0] != "eof":
            if self.peek()[1] == ";":
                self.take()
                continue
            target = self._primary()
            if self.peek()[1] == "=":
                if target[0] not in ("name", "index"):
                    raise _syntax("=")
                self.take()
                statements.append(("assign", target, self.expr()))
            elif target[0] == "call":
                statements.append(("call", target))
            else:
                raise _syntax(self.peek()[1])
        return statements

    def expr(self) -> tuple[Any, ...]:
        kind, value = self.peek()
        if value == "-":
            self.take()
            return ("neg", self.expr())
        if kind == "num":
            self.take()
            return ("const", float(value))
        if kind == "str":
            self.take()
            return ("const", value[1:-1])
        if value in ("true", "false", "nil"):
            self.take()
            return ("const", {"true": True, "false": False, "nil": None}[value])
        if value == "{":
            self.take()
            items = []
            while self.peek()[1] != "}":
                items.append(self.expr())
                if self.peek()[1] != ",":
                    break
                self.take()
            self.take("}")
            return ("table", items)
        return self._primary()

    def _primary(self) -> tuple[Any, ...]:
        kind, value = self.take()
        if kind != "name":
            raise _syntax(value)
        node: tuple[Any, ...] = ("name", value)
        while True:
            sym = self.peek()[1]
            if sym == ".":
                self.take()
                k, name = self.take()
                if k != "name":
                    raise _syntax(name)
                node = ("index", node, ("const", name), name)
            elif sym == "[":
                self.take()
                key = self.expr()
                self.take("]")
                node = ("index", node, key, "?")
            elif sym == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] != ",":
                        break
                    self.take()
                self.take(")")
                node = ("call", node, args)
            else:
                return node


# ---------------------------------------------------------------------- object model
class Fn:
    """A TSP function (Python callable taking evaluated arguments)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn


class Obj:
    """A TSP object: fields (constants, attributes), computed getters and checked setters."""

    def __init__(self, fields: dict[str, Any] | None = None,
                 getters: dict[str, Callable[[], Any]] | None = None,
                 setters: dict[str, Callable[[Any], None]] | None = None) -> None:
        self.fields = dict(fields or {})
        self.getters = dict(getters or {})
        self.setters = dict(setters or {})

    def get(self, key: Any) -> Any:
        key = _key(key)
        if key in self.getters:
            return self.getters[key]()
        return self.fields.get(key)

    def set(self, key: Any, value: Any) -> None:
        key = _key(key)
        if key in self.setters:
            self.setters[key](value)
        elif key in self.fields and not isinstance(self.fields[key], Obj | Fn):
            self.fields[key] = value
        else:
            raise _runtime(f"attempt to set read-only or unknown attribute `{key}'")


def _key(key: Any) -> Any:
    return int(key) if isinstance(key, float) and key.is_integer() else key


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _runtime(f"bad argument ({what}: number expected)")
    return float(value)


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
        self.asciiprecision = 0
        self.globals: dict[str, Any] = {}
        self._out: list[str] = []
        self._builtins = self._build_globals()
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
            self.globals.clear()

    def _reset_channel(self, ch: int) -> None:
        st = self.state(ch)
        if st.output_on:
            self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} output OFF (reset)")
        self.channels[ch] = Channel(trigger=dict(_TRIGGER_DEFAULTS))
        st.mode, st.level, st.limit, st.output_on = "VOLT", 0.0, 0.1, False

    def _apply(self, ch: int) -> None:
        st, c = self.state(ch), self.channels[ch]
        st.level = c.levelv if st.mode == "VOLT" else c.leveli
        st.limit = c.limiti if st.mode == "VOLT" else c.limitv

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
        g["delay"] = Fn(lambda s: time.sleep(min(_number(s, "delay"), 5.0) * self.time_scale))
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
                value = float(v) if isinstance(v, bool) else _number(v, key)
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
                value = _number(v, kind)
                if abs(value) > (MAX_VOLTAGE_V if kind[-1] == "v" else MAX_CURRENT_A):
                    raise TspError(TOO_BIG, "Parameter too big")
                setattr(c(), kind, value)
                self._apply(ch)
                self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} {kind} = {value:.6g}")
            return set_level

        def set_func(v: Any) -> None:
            st().mode = "VOLT" if _number(v, "func") == 1 else "CURR"
            self._apply(ch)

        def set_output(v: Any) -> None:
            on = _number(v, "output") != 0
            st().output_on = on
            self.bench.log_event(self.role, f"smu{'ab'[ch - 1]} output {'ON' if on else 'OFF'}")

        def set_nplc(v: Any) -> None:
            value = _number(v, "nplc")
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
                     "delay": lambda v: setattr(c(), "source_delay_s", _number(v, "delay"))})
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
                  "OUTPUT_ZERO": 2.0}
        fields: dict[str, Any] = dict(consts)
        fields.update(source=source, measure=measure, trigger=trig,
                      reset=Fn(lambda: self._reset_channel(ch)),
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
                                buf(), "collect_source", _number(v, "collect") != 0),
                            "collecttimestamps": lambda v: setattr(
                                buf(), "collect_time", _number(v, "collect") != 0)})

    def _trigger_object(self, ch: int) -> Obj:
        t = lambda: self.channels[ch].trigger  # noqa: E731

        def sub(prefix: str, keys: tuple[str, ...], extra: dict[str, Any]) -> Obj:
            return Obj(extra,
                       getters={k: (lambda k=k: t()[f"{prefix}.{k}"]) for k in keys},
                       setters={k: (lambda v, k=k: t().__setitem__(f"{prefix}.{k}",
                                                                  _number(v, k)))
                                for k in keys})

        def listv(values: Any) -> None:
            if not isinstance(values, list) or not values:
                raise _runtime("bad argument #1 to 'listv' (table expected)")
            self.channels[ch].sweep_values = [_number(v, "listv") for v in values]

        def linearv(start: Any, stop: Any, points: Any) -> None:
            n = int(_number(points, "points"))
            self.channels[ch].sweep_values = list(np.linspace(
                _number(start, "start"), _number(stop, "stop"), n))

        def measure_into(kind: str) -> Fn:
            def setup(*buffers: Any) -> None:
                names = tuple(b.fields.get("name") for b in buffers if isinstance(b, Obj))
                self.channels[ch].measure_buffers = (kind, names)
            return Fn(setup)

        source = sub("source", ("action", "stimulus"), {"listv": Fn(listv),
                                                         "linearv": Fn(linearv)})
        source.getters["limiti"] = lambda: self.channels[ch].sweep_limiti
        source.setters["limiti"] = lambda v: setattr(self.channels[ch], "sweep_limiti",
                                                     _number(v, "limiti"))
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
            abort=Fn(lambda: setattr(self, "busy_until", 0.0)))
        return Obj(fields, getters={"count": lambda: t()["count"]},
                   setters={"count": lambda v: t().__setitem__("count", _number(v, "count"))})

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
        """Run the SMU trigger model: DC or pulsed list sweep, readings into the buffers."""
        c, st = self.channels[ch], self.state(ch)
        if self.busy:
            raise _runtime("trigger model is already running")
        tr = c.trigger
        count = int(tr["count"]) or len(c.sweep_values)
        values = c.sweep_values or [c.levelv]
        sourcing = tr["source.action"] != 0 and st.mode == "VOLT"
        pulsed = tr["endpulse.action"] == 0
        aperture_s = c.nplc / LINE_FREQUENCY_HZ
        width_s = self._timer_delay(tr["endpulse.stimulus"]) or (aperture_s + c.source_delay_s)
        period_s = self._timer_delay(tr["source.stimulus"]) or (width_s + 1e-4)
        step_s = period_s if pulsed else max(period_s, aperture_s + c.source_delay_s)
        kind, names = c.measure_buffers
        for name in names:
            if tr["measure.action"] != 0:
                c.buffers[name].points.clear()
        idle_level, idle_limit = st.level, st.limit
        if c.sweep_limiti > 0:
            st.limit = c.sweep_limiti
        t0 = time.monotonic()
        for k in range(count):
            v = values[k % len(values)] if sourcing else idle_level
            if pulsed and sourcing:
                r = pulse_smu_channel(self.bench, self.role, ch, idle_level, v, width_s,
                                      period_s)
            else:
                st.level = v
                r = self._reading(ch, step_s)  # the sweep is computed at once: charge its time
            r = with_noise(r, self.rng, c.nplc)
            if tr["measure.action"] == 0:
                continue
            ready = t0 + (k + 1) * step_s * self.time_scale
            status = STATUS_COMPLIANCE if r.in_compliance else 0
            quantities = {"iv": (r.current_a, r.voltage_v), "i": (r.current_a,),
                          "v": (r.voltage_v,)}[kind]
            for name, q in zip(names, quantities, strict=False):
                c.buffers[name].points.append(BufferPoint(q, v, k * step_s, status, ready))
        hold = tr["endsweep.action"] == 1 and sourcing
        st.level = st.level if hold else idle_level
        st.limit = idle_limit
        self.start_operation(count * step_s)

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
        a, b = int(_number(start, "start")), int(_number(end, "end"))
        for col in columns:
            if not isinstance(col, list):
                raise _runtime("bad argument to 'printbuffer' (buffer field expected)")
            if not 1 <= a <= b <= len(col):
                raise _runtime("printbuffer: index out of range")
        self._emit(", ".join(self._fmt(col[i]) for i in range(a - 1, b) for col in columns))

    def _set_precision(self, v: Any) -> None:
        value = int(_number(v, "asciiprecision"))
        if not 0 <= value <= 16:
            raise TspError(TOO_BIG, "Parameter too big")
        self.asciiprecision = value

    def _set_format(self, v: Any) -> None:
        if _number(v, "data") != 1:
            raise _runtime("format.data: only format.ASCII is simulated")

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
                    self._run_statement(stmt)
        except TspError as err:
            with self.lock:
                self.push_error(err.code, err.message)
        return "".join(line + "\n" for line in self._out).encode("latin-1")

    def _run_statement(self, stmt: tuple[Any, ...]) -> None:
        if stmt[0] == "assign":
            target, value = stmt[1], self._eval(stmt[2])
            if target[0] == "name":
                self.globals[target[1]] = value
                return
            obj = self._eval(target[1])
            if not isinstance(obj, Obj):
                raise _runtime(f"attempt to index field `{target[3]}' (a nil value)")
            obj.set(self._eval(target[2]), value)
        else:
            self._eval(stmt[1])

    def _eval(self, node: tuple[Any, ...], multi: bool = False) -> Any:
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "neg":
            return -_number(self._eval(node[1]), "operand")
        if kind == "table":
            return [self._eval(e) for e in node[1]]
        if kind == "name":
            return self.globals.get(node[1], self._builtins.get(node[1]))
        if kind == "index":
            obj = self._eval(node[1])
            key = self._eval(node[2])
            if isinstance(obj, Obj):
                return obj.get(key)
            if isinstance(obj, list) and isinstance(key, float) and 1 <= key <= len(obj):
                return obj[int(key) - 1]
            raise _runtime(f"attempt to index field `{_label(node[1])}' (a nil value)")
        fn = self._eval(node[1])
        if not isinstance(fn, Fn):
            raise _runtime(f"attempt to call field `{_label(node[1])}' (a nil value)")
        args: list[Any] = []
        for i, a in enumerate(node[2]):
            value = self._eval(a, multi=i == len(node[2]) - 1)
            args.extend(value if isinstance(value, tuple) else (value,))
        try:
            result = fn.fn(*args)
        except TypeError:
            raise _runtime("bad argument count") from None
        if isinstance(result, tuple) and not multi:
            return result[0]
        return result


def _label(node: tuple[Any, ...]) -> str:
    """The name a runtime error message quotes for an expression node."""
    if node[0] == "name":
        return str(node[1])
    if node[0] == "index":
        return str(node[3])
    return "?"
