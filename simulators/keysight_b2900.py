"""Keysight B2902A / B2912A two-channel source-measure units on the virtual bench.

Command forms: Agilent/Keysight B2900 SCPI Command Reference (Edition 2): source
``[:SOURce<n>]:FUNCtion:MODE VOLT|CURR``, ``[:SOURce<n>]:FUNCtion[:SHAPe] DC|PULSe``,
``[:SOURce<n>]:VOLTage[:LEVel][:IMMediate][:AMPLitude]`` (the pulse base in pulse mode),
``...:TRIGgered[:AMPLitude]``, ``:VOLTage:MODE FIXed|SWEep|LIST``, ``[:SOURce<n>]:LIST:VOLTage``
(+ ``:APPend``, ``:POINts?``; at most 2500 values), ``:PULSe:WIDTh``/``:DELay``; limits
``:SENSe<n>:CURRent[:DC]:PROTection[:LEVel]`` and ``...:PROTection:TRIPped?``; aperture
``:SENSe<n>:CURRent[:DC]:APERture``/``:NPLCycles``; ``:OUTPut<n>[:STATe]``, ``:OUTPut<n>:ON:AUTO``;
triggers ``:TRIGger<n>[:ALL]|:ACQuire|:TRANsient:COUNt|:DELay|:SOURce|:TIMer``;
``:INITiate[:IMMediate][:ALL] (@1,2)``, ``:FETCh:ARRay:CURRent? (@1)``, ``:MEASure:CURRent? (@1)``,
``:FORMat:ELEMents:SENSe VOLT,CURR,TIME,STAT,SOUR``. Status data bit 0 = current source, bits 1-2
= compliance (Table 1-2); ``STAT:QUES:COND?`` bit 0/1 = voltage/current summary (Table 4-4).

Physics: every channel's programme is published in ``bench.smu[(role, n)]``; readings come from
``simulators.hemt_bench.solve(bench)`` / ``.pulse_all(...)`` when a HEMT is on the bench,
otherwise each channel drives an open circuit. A sweep is computed when it is initiated (under
the bench lock) and takes its simulated time (``start_operation``): FETCh waits for it.
``:INIT (@1,2)`` checks both channels before either sources; channels in pulse mode with the
same pulse delay, width, timer period and count pulse in step (``simulators.smu_pulse``: the
quiescent point is both bases). Marked [verify]: values not confirmed character by character
in the manual.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators import hemt_bench, smu_pulse
from simulators.bench import SmuChannelState, VirtualBench
from simulators.hemt_bench import TerminalReading
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    format_float,
    parse_bool,
    parse_channel_list,
    parse_enum,
    parse_int,
    parse_number,
)

CHANNELS = (1, 2)
V_MAX = 210.0  # ±210 V range (B2902A/B2912A data sheet)
I_MAX_DC = 3.03  # ±3.03 A DC (at |V| ≤ 6 V)
I_MAX_PULSE = 10.5  # ±10.5 A pulsed, width ≤ 1 ms, duty ≤ 2.5 % [verify]
HIGH_CURRENT_MAX_WIDTH_S = 1e-3  # [verify]
HIGH_CURRENT_MAX_DUTY = 0.025  # [verify]
I_MIN_LIMIT = 1e-9  # smallest compliance accepted [verify]
MAX_LIST_POINTS = 2500  # Edition 2 of the command reference; later firmware: 100000 [verify]
MIN_PULSE_WIDTH_S = {"B2902A": 50e-6, "B2912A": 10e-6}  # data sheets [verify]
MAX_PULSE_WIDTH_S = 100_000.0
MIN_PULSE_OFF_S = 10e-6  # shortest base time between pulses [verify]
APERTURE_RANGE_S = (8e-6, 2.0)  # [verify]
SETTLING_S = 100e-6  # source settling before each DC sweep point (auto wait) [verify]
ELEMENTS = ("VOLT", "CURR", "RES", "TIME", "STAT", "SOUR")  # response order [verify]
STAT_CURRENT_SOURCE, STAT_COMPLIANCE = 1, 2  # Table 1-2 bit 0, bits 1-2 (which of them [verify])
INVALID = 9.91e37  # SCPI "not a number"
VOLTAGE_NOISE_V, CURRENT_NOISE_A, GAIN_NOISE = 5e-6, 2e-12, 2e-6  # per reading at 1 PLC


@dataclass
class B2900Channel:
    """Programme of one channel (source, limits, pulse, triggers) and its last acquisition."""

    mode: str = "VOLT"
    shape: str = "DC"
    level: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    triggered: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    sweep_mode: dict[str, str] = field(default_factory=lambda: {"VOLT": "FIX", "CURR": "FIX"})
    lists: dict[str, list[float]] = field(default_factory=lambda: {"VOLT": [0.0], "CURR": [0.0]})
    start: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    stop: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    sweep_points: int = 1
    #: compliance: current limit while sourcing voltage ("CURR") and vice versa ("VOLT")
    protection: dict[str, float] = field(default_factory=lambda: {"CURR": 1e-4, "VOLT": 2.0})
    output_on: bool = False
    auto_on: bool = True  # :OUTP:ON:AUTO reset ON: INIT/READ/MEAS switch the output on
    off_mode: str = "ZERO"
    pulse_width_s: float = 1e-4  # [verify]
    pulse_delay_s: float = 0.0
    aperture_s: float = 0.1 / 50.0  # NPLC 0.1 at 50 Hz [verify]
    count: dict[str, int] = field(default_factory=lambda: {"ACQ": 1, "TRAN": 1})
    delay_s: dict[str, float] = field(default_factory=lambda: {"ACQ": 0.0, "TRAN": 0.0})
    trigger_source: dict[str, str] = field(default_factory=lambda: {"ACQ": "AINT", "TRAN": "AINT"})
    timer_s: dict[str, float] = field(default_factory=lambda: {"ACQ": 1e-5, "TRAN": 1e-5})
    data: dict[str, np.ndarray] | None = None


class KeysightB2900(ScpiDevice):
    """B2902A (`keysight_b2902a`) or B2912A (`keysight_b2912a`): two channels, SCPI only."""

    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "smu",
                 model: str = "keysight_b2902a") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.model_name = "B2912A" if model.endswith("b2912a") else "B2902A"
        self.idn = ("Keysight Technologies", self.model_name, "MY51140123", "3.4.2011.5100")
        self.channels: dict[int, B2900Channel] = {}
        self.elements: tuple[str, ...] = ELEMENTS
        self.line_frequency_hz = 50.0
        self._clock_zero = time.monotonic()
        self.register_format_commands()
        self._register()
        self.reset()

    # ------------------------------------------------------------------ registration
    def _register(self) -> None:
        c = self.command
        src = "[:SOURce<n>]"
        c(f"{src}:FUNCtion:MODE", set=self._set_mode, query=lambda a, s: self._ch(s).mode)
        c(f"{src}:FUNCtion[:SHAPe]", set=self._set_shape, query=lambda a, s: self._ch(s).shape)
        for kind in ("VOLTage", "CURRent"):
            k = kind[:4].upper()
            c(f"{src}:{kind}[:LEVel][:IMMediate][:AMPLitude]", set=self._setter(k, "level"),
              query=self._getter(k, "level"))
            c(f"{src}:{kind}[:LEVel]:TRIGgered[:AMPLitude]", set=self._setter(k, "triggered"),
              query=self._getter(k, "triggered"))
            c(f"{src}:{kind}:STARt", set=self._setter(k, "start"), query=self._getter(k, "start"))
            c(f"{src}:{kind}:STOP", set=self._setter(k, "stop"), query=self._getter(k, "stop"))
            c(f"{src}:{kind}:POINts", set=self._set_points,
              query=lambda a, s: str(self._ch(s).sweep_points))
            c(f"{src}:{kind}:MODE", set=self._sweep_mode_setter(k),
              query=lambda a, s, k=k: self._ch(s).sweep_mode[k])
            c(f"{src}:LIST:{kind}[:DATA]", set=self._list_setter(k, append=False),
              query=lambda a, s, k=k: self.format_values(self._ch(s).lists[k]))
            c(f"{src}:LIST:{kind}:APPend", set=self._list_setter(k, append=True))
            c(f"{src}:LIST:{kind}:POINts", query=lambda a, s, k=k: str(len(self._ch(s).lists[k])))
            sense = f":SENSe<n>:{kind}[:DC]"
            c(f"{sense}:PROTection[:LEVel][:BOTH]", set=self._set_protection(k),
              query=lambda a, s, k=k: format_float(self._ch(s).protection[k]))
            c(f"{sense}:PROTection:TRIPped", query=lambda a, s, k=k: _b(self._tripped(s, k)))
            c(f"{sense}:APERture", set=self._set_aperture,
              query=lambda a, s: format_float(self._ch(s).aperture_s))
            c(f"{sense}:NPLCycles", set=self._set_nplc,
              query=lambda a, s: format_float(self._ch(s).aperture_s * self.line_frequency_hz))
            c(f"{sense}:RANGe[:UPPer]", set=lambda a, s: None, query=lambda a, s: "+1.05E-01")
            c(f"{sense}:RANGe:AUTO", set=lambda a, s: None, query=lambda a, s: "1")
        c(f"{src}:SWEep:POINts", set=self._set_points,
          query=lambda a, s: str(self._ch(s).sweep_points))
        c(f"{src}:PULSe:WIDTh", set=self._set_width,
          query=lambda a, s: format_float(self._ch(s).pulse_width_s))
        c(f"{src}:PULSe:DELay", set=self._set_pulse_delay,
          query=lambda a, s: format_float(self._ch(s).pulse_delay_s))
        c(":SENSe<n>:FUNCtion[:ON]", set=lambda a, s: None, query=lambda a, s: '"VOLT","CURR"')
        c(":SENSe<n>:REMote", set=lambda a, s: None, query=lambda a, s: "0")
        c(":OUTPut<n>[:STATe]", set=self._set_output, query=lambda a, s: _b(self._ch(s).output_on))
        c(":OUTPut<n>:ON:AUTO", set=self._set_auto_on, query=lambda a, s: _b(self._ch(s).auto_on))
        c(":OUTPut<n>:OFF:MODE", set=self._set_off_mode, query=lambda a, s: self._ch(s).off_mode)
        for layer, keys in (("[:ALL]", ("ACQ", "TRAN")), (":ACQuire", ("ACQ",)),
                            (":TRANsient", ("TRAN",))):
            c(f":TRIGger<n>{layer}:COUNt", set=self._trigger_setter("count", keys),
              query=self._trigger_getter("count", keys[0]))
            c(f":TRIGger<n>{layer}:DELay", set=self._trigger_setter("delay_s", keys),
              query=self._trigger_getter("delay_s", keys[0]))
            c(f":TRIGger<n>{layer}:SOURce[:SIGNal]", set=self._trigger_setter("source", keys),
              query=self._trigger_getter("trigger_source", keys[0]))
            c(f":TRIGger<n>{layer}:TIMer", set=self._trigger_setter("timer_s", keys),
              query=self._trigger_getter("timer_s", keys[0]))
        c(":FORMat:ELEMents:SENSe", set=self._set_elements, query=lambda a, s: ",".join(
            self.elements))
        c(":SYSTem:LFRequency", set=self._set_lfr, query=lambda a, s: str(int(
            self.line_frequency_hz)))
        c(":INITiate[:IMMediate][:ALL|:ACQuire|:TRANsient]", set=self._initiate)
        c(":ABORt[:ALL|:ACQuire|:TRANsient]", set=lambda a, s: self._abort())
        c(":IDLE[:ALL|:ACQuire|:TRANsient]", query=lambda a, s: "1", waits=True)
        c(":FETCh:ARRay", query=lambda a, s: self._fetch(a, self.elements), waits=True)
        c(":FETCh[:SCALar]", query=lambda a, s: self._fetch(a, self.elements, True), waits=True)
        c(":MEASure", query=lambda a, s: self._measure(a, self.elements), waits=True)
        for kind, element in (("VOLTage[:DC]", "VOLT"), ("CURRent[:DC]", "CURR"),
                              ("RESistance", "RES"), ("TIME", "TIME"), ("STATus", "STAT"),
                              ("SOURce", "SOUR")):
            c(f":FETCh:ARRay:{kind}", query=lambda a, s, e=element: self._fetch(a, (e,)),
              waits=True)
            c(f":FETCh[:SCALar]:{kind}", query=lambda a, s, e=element: self._fetch(a, (e,), True),
              waits=True)
            c(f":MEASure[:SCALar]:{kind}", query=lambda a, s, e=element: self._measure(a, (e,)),
              waits=True)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """*RST: both outputs off, voltage source 0 V, 100 µA compliance, DC, fixed, count 1."""
        super().reset()
        self.channels = {n: B2900Channel() for n in CHANNELS}
        self.elements = ELEMENTS
        for n in CHANNELS:
            self._publish(n)

    def _ch(self, suffixes: tuple[int, ...]) -> B2900Channel:
        n = suffixes[0] if suffixes else 1
        if n not in self.channels:
            raise ScpiError(-114, "Header suffix out of range")
        return self.channels[n]

    def _number(self, suffixes: tuple[int, ...]) -> int:
        self._ch(suffixes)
        return suffixes[0] if suffixes else 1

    def _channel_list(self, args: list[str]) -> list[int]:
        numbers = parse_channel_list(",".join(args)) if args else [1]
        if any(n not in self.channels for n in numbers):
            raise ScpiError(-224, "Illegal parameter value;channel")
        return numbers

    def _publish(self, n: int) -> None:
        """Write channel `n`'s programme into the bench (what the device model sees)."""
        ch = self.channels[n]
        limit_kind = "CURR" if ch.mode == "VOLT" else "VOLT"
        programme = (ch.mode, ch.level[ch.mode], ch.protection[limit_kind], ch.output_on)
        state = self.bench.smu.get((self.role, n))
        if state is not None and (state.mode, state.level, state.limit,
                                  state.output_on) == programme:
            return  # e.g. the same compliance re-sent: the operating point did not move
        state = self.bench.smu.setdefault((self.role, n), SmuChannelState())
        state.mode, state.level, state.limit, state.output_on = programme
        hemt_bench.solve(self.bench)  # the device model judges the new operating point

    def _changed(self, suffixes: tuple[int, ...]) -> None:
        n = self._number(suffixes)
        self.channels[n].data = None
        self._publish(n)

    # ------------------------------------------------------------------ setters
    def _set_mode(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).mode = parse_enum(args[0], ["VOLTage", "CURRent"])
        self._changed(s)

    def _set_shape(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        shape = parse_enum(args[0], ["DC", "PULSe"])
        self._check_high_current(ch.mode, shape, ch.protection["CURR"], ch.output_on)
        ch.shape = shape
        self._changed(s)

    def _source_value(self, arg: str, kind: str, ch: B2900Channel) -> float:
        maximum = V_MAX if kind == "VOLT" else I_MAX_PULSE if ch.shape == "PULS" else I_MAX_DC
        return parse_number(arg, "V" if kind == "VOLT" else "A", minimum=-maximum,
                            maximum=maximum, default=0.0)

    def _setter(self, kind: str, attribute: str) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> None:
            ch = self._ch(s)
            value = self._source_value(args[0], kind, ch)
            getattr(ch, attribute)[kind] = value
            if attribute == "level":
                ch.triggered[kind] = value  # the triggered level follows [verify]
            self._changed(s)
        return handler

    def _getter(self, kind: str, attribute: str) -> Any:
        return lambda a, s: format_float(getattr(self._ch(s), attribute)[kind])

    def _set_points(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).sweep_points = parse_int(args[0], minimum=1, maximum=MAX_LIST_POINTS,
                                             default=1)

    def _sweep_mode_setter(self, kind: str) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> None:
            self._ch(s).sweep_mode[kind] = parse_enum(args[0], ["FIXed", "SWEep", "LIST"])
            self._changed(s)
        return handler

    def _list_setter(self, kind: str, append: bool) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> None:
            ch = self._ch(s)
            values = [self._source_value(a, kind, ch) for a in args]
            new = (ch.lists[kind] if append else []) + values
            if not values or len(new) > MAX_LIST_POINTS:
                raise ScpiError(-222, "Data out of range;list length")
            ch.lists[kind] = new
            self._changed(s)
        return handler

    def _set_protection(self, kind: str) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> None:
            hi = I_MAX_PULSE if kind == "CURR" else V_MAX
            lo = I_MIN_LIMIT if kind == "CURR" else 0.02  # [verify]
            ch = self._ch(s)
            value = parse_number(args[0], "A" if kind == "CURR" else "V", minimum=lo,
                                 maximum=hi, default=1e-4 if kind == "CURR" else 2.0)
            if kind == "CURR":
                self._check_high_current(ch.mode, ch.shape, value, ch.output_on)
            ch.protection[kind] = value
            self._changed(s)
        return handler

    def _set_aperture(self, args: list[str], s: tuple[int, ...]) -> None:
        lo, hi = APERTURE_RANGE_S
        self._ch(s).aperture_s = parse_number(args[0], "S", minimum=lo, maximum=hi,
                                              default=0.1 / self.line_frequency_hz)

    def _set_nplc(self, args: list[str], s: tuple[int, ...]) -> None:
        f = self.line_frequency_hz
        lo, hi = APERTURE_RANGE_S
        self._ch(s).aperture_s = parse_number(args[0], minimum=lo * f, maximum=hi * f,
                                              default=0.1) / f

    def _set_width(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).pulse_width_s = parse_number(
            args[0], "S", minimum=MIN_PULSE_WIDTH_S[self.model_name], maximum=MAX_PULSE_WIDTH_S,
            default=1e-4)

    def _set_pulse_delay(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).pulse_delay_s = parse_number(args[0], "S", minimum=0.0, maximum=99999.9,
                                                 default=0.0)

    def _set_output(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        on = parse_bool(args[0])
        self._check_high_current(ch.mode, ch.shape, ch.protection["CURR"], on)
        ch.output_on = on
        self.bench.log_event(self.role, f"CH{self._number(s)} output {'ON' if on else 'OFF'}")
        self._changed(s)

    def _set_auto_on(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).auto_on = parse_bool(args[0])

    def _set_off_mode(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).off_mode = parse_enum(args[0], ["ZERO", "HIZ", "NORMal"])

    def _trigger_setter(self, attribute: str, keys: tuple[str, ...]) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> None:
            ch = self._ch(s)
            value: int | str | float
            if attribute == "count":
                value = parse_int(args[0], minimum=1, maximum=100_000, default=1)
            elif attribute == "source":
                value = parse_enum(args[0], ["AINT", "BUS", "TIMer", "INT1", "INT2", "LAN"])
            elif attribute == "delay_s":
                value = parse_number(args[0], "S", minimum=0.0, maximum=100_000.0, default=0.0)
            else:  # timer period
                value = parse_number(args[0], "S", minimum=1e-5, maximum=100_000.0,
                                     default=1e-5)
            table = getattr(ch, "trigger_source" if attribute == "source" else attribute)
            for key in keys:
                table[key] = value
        return handler

    def _trigger_getter(self, attribute: str, key: str) -> Any:
        def handler(args: list[str], s: tuple[int, ...]) -> str:
            value = getattr(self._ch(s), attribute)[key]
            return str(value) if isinstance(value, int | str) else format_float(value)
        return handler

    def _set_elements(self, args: list[str], _s: tuple[int, ...]) -> None:
        chosen = {parse_enum(a, ["VOLTage", "CURRent", "RESistance", "TIME", "STATus",
                                 "SOURce"]) for a in args}
        if not chosen:
            raise ScpiError(-109)
        self.elements = tuple(e for e in ELEMENTS if e in chosen)

    def _set_lfr(self, args: list[str], _s: tuple[int, ...]) -> None:
        value = parse_int(args[0])
        if value not in (50, 60):
            raise ScpiError(-224)
        self.line_frequency_hz = float(value)

    @staticmethod
    def _check_high_current(mode: str, shape: str, current_limit_a: float, on: bool) -> None:
        """Above the DC rating only short, low-duty pulses are allowed (data sheet) [verify]."""
        if current_limit_a > I_MAX_DC and mode == "VOLT" and shape == "DC" and on:
            raise ScpiError(-221, "Settings conflict;compliance above DC range needs pulse mode")

    # ------------------------------------------------------------------ physics
    def _solved(self, duration_s: float | None = None) -> dict[int, tuple[float, float, bool]]:
        """Terminal V, I and compliance of both channels at the present programme."""
        solved = hemt_bench.solve(self.bench, duration_s)  # open circuits without a device
        out = {}
        for n in CHANNELS:
            r = solved.get((self.role, n)) or hemt_bench.open_reading(
                self.bench.smu[(self.role, n)])
            out[n] = (float(r.voltage_v), float(r.current_a), bool(r.in_compliance))
        return out

    def _noisy(self, ch: B2900Channel, v: float, i: float) -> tuple[float, float]:
        scale = math.sqrt(1.0 / max(ch.aperture_s * self.line_frequency_hz, 1e-3))
        v += (VOLTAGE_NOISE_V + GAIN_NOISE * abs(v)) * scale * self.rng.standard_normal()
        i += (CURRENT_NOISE_A + GAIN_NOISE * abs(i)) * scale * self.rng.standard_normal()
        return v, i

    def _tripped(self, s: tuple[int, ...], kind: str) -> bool:
        """Compliance now: a voltage source at its current limit ("CURR") or vice versa."""
        n = self._number(s)
        ch = self.channels[n]
        limited = "CURR" if ch.mode == "VOLT" else "VOLT"
        return kind == limited and ch.output_on and self._solved()[n][2]

    def questionable_status(self) -> int:
        """Table 4-4: bit 0 voltage summary, bit 1 current summary (compliance) [verify]."""
        solved = self._solved()
        status = 0
        for n, ch in self.channels.items():
            if ch.output_on and solved[n][2]:
                status |= 2 if ch.mode == "VOLT" else 1
        return status

    # ------------------------------------------------------------------ acquisition
    def _source_points(self, ch: B2900Channel) -> np.ndarray:
        kind, points = ch.mode, ch.count["ACQ"]
        mode = ch.sweep_mode[kind]
        if mode == "LIST":
            values = np.asarray(ch.lists[kind], dtype=float)
        elif mode == "SWE":
            values = np.linspace(ch.start[kind], ch.stop[kind], ch.sweep_points)
        else:
            return np.full(points, ch.triggered[kind])
        if values.size != points:
            raise ScpiError(-221, "Settings conflict;trigger count differs from sweep points")
        return values

    def _period_s(self, ch: B2900Channel) -> float:
        """Time between sweep points: the timer, or what the point itself takes."""
        if ch.shape == "PULS":
            busy = ch.pulse_delay_s + ch.pulse_width_s + MIN_PULSE_OFF_S
            if ch.trigger_source["TRAN"] != "TIM":
                return max(busy, ch.delay_s["ACQ"] + ch.aperture_s) + 1e-3  # AINT [verify]
            if ch.timer_s["TRAN"] < busy:
                raise ScpiError(-221, "Settings conflict;pulse does not fit in the period")
            return ch.timer_s["TRAN"]
        busy = ch.delay_s["TRAN"] + SETTLING_S + ch.delay_s["ACQ"] + ch.aperture_s
        if ch.trigger_source["ACQ"] == "TIM":
            return max(ch.timer_s["ACQ"], busy)
        return busy

    def _arm(self, n: int) -> tuple[np.ndarray, float]:
        """Checks before channel `n` runs (automatic output-on, points, timing, the
        high-current pulse limits): its source points and its period."""
        ch = self.channels[n]
        if not ch.output_on:
            if not ch.auto_on:
                raise ScpiError(-221, "Settings conflict;output is off")
            ch.output_on = True  # automatic output on (:OUTP:ON:AUTO ON)
            self.bench.log_event(self.role, f"CH{n} output ON (automatic, at INIT)")
            self._publish(n)
        sources = self._source_points(ch)
        period = self._period_s(ch)
        if ch.shape == "PULS" and ch.protection["CURR"] > I_MAX_DC and (
                ch.pulse_width_s > HIGH_CURRENT_MAX_WIDTH_S
                or ch.pulse_width_s / period > HIGH_CURRENT_MAX_DUTY):
            raise ScpiError(-221, "Settings conflict;pulse width or duty above high-current limit")
        return sources, period

    def _groups(self, numbers: list[int], plans: dict[int, tuple[np.ndarray, float]]
                ) -> list[list[int]]:
        """Channels of one INIT that pulse in step: both in pulse mode with the same pulse
        delay, width, period and point count (started together by the channel list, their
        timers run together [verify]); every other channel runs on its own. Pulses of
        different timing are not modelled as overlapping (each pulses alone)."""
        groups: dict[tuple[float, ...], list[int]] = {}
        singles = []
        for n in numbers:
            ch = self.channels[n]
            if ch.shape != "PULS":
                singles.append([n])
                continue
            sources, period = plans[n]
            key = (ch.pulse_delay_s, ch.pulse_width_s, period, float(sources.size))
            groups.setdefault(key, []).append(n)
        return [*groups.values(), *singles]

    def _point(self, group: list[int], levels: dict[int, float], period: float, k: int
               ) -> dict[int, TerminalReading]:
        """Readings of `group` at trigger `k`: its channels pulse together from their
        bases (immediate levels) to `levels`, or one channel steps its DC level."""
        first = self.channels[group[0]]
        if first.shape == "PULS":
            inside = smu_pulse.in_step_readings(
                self.bench, self.role,
                {n: (self.channels[n].level[self.channels[n].mode], levels[n]) for n in group},
                first.pulse_width_s, period, continuing=k > 0)
            out = {}
            for n in group:
                ch = self.channels[n]
                share = smu_pulse.share_inside(ch.pulse_delay_s, ch.pulse_width_s,
                                               ch.delay_s["ACQ"], ch.aperture_s)
                # the part of the aperture outside the pulse reads the base (all at Q)
                base = TerminalReading(*self._solved()[n]) if share < 1.0 else inside[n]
                out[n] = smu_pulse.blend(inside[n], base, share)
            return out
        n = group[0]
        state = self.bench.smu[(self.role, n)]
        saved = state.level
        state.level = levels[n]
        try:
            return {n: TerminalReading(*self._solved(duration_s=period)[n])}
        finally:
            state.level = saved

    def _acquire(self, group: list[int], plans: dict[int, tuple[np.ndarray, float]]) -> float:
        """Run the trigger sequence of `group` now (one channel, or channels pulsing in
        step); store each channel's arrays; return the duration."""
        sources = {n: plans[n][0] for n in group}
        period = plans[group[0]][1]
        count = sources[group[0]].size
        t0 = time.monotonic() - self._clock_zero
        rows: dict[int, list[tuple[float, ...]]] = {n: [] for n in group}
        for k in range(count):
            readings = self._point(group, {n: float(sources[n][k]) for n in group}, period, k)
            for n in group:
                ch, r = self.channels[n], readings[n]
                v, i = self._noisy(ch, r.voltage_v, r.current_a)
                stat = (STAT_CURRENT_SOURCE if ch.mode == "CURR" else 0) | (
                    STAT_COMPLIANCE if r.in_compliance else 0)
                rows[n].append((v, i, v / i if i != 0 else INVALID,
                                t0 + k * period + ch.delay_s["ACQ"], stat, sources[n][k]))
        for n in group:
            table = np.asarray(rows[n], dtype=float).reshape(-1, len(ELEMENTS))
            self.channels[n].data = {e: table[:, j] for j, e in enumerate(ELEMENTS)}
            self._publish(n)  # back at the immediate level (pulse base) after the sweep [verify]
        return period * count

    def _initiate(self, args: list[str], _s: tuple[int, ...]) -> None:
        """``:INIT (@1,2)`` starts the listed channels together [verify]: every check runs
        before anything is sourced; channels pulsing with the same timing pulse in step."""
        numbers = self._channel_list(args)
        for n in numbers:
            self.channels[n].data = None
        plans = {n: self._arm(n) for n in numbers}
        durations = [self._acquire(group, plans) for group in self._groups(numbers, plans)]
        self.start_operation(max(durations))  # channels run in parallel

    def _abort(self) -> None:
        self.busy_until = time.monotonic()

    def _fetch(self, args: list[str], elements: tuple[str, ...], latest: bool = False) -> bytes:
        parts = []
        for n in self._channel_list(args):
            data = self.channels[n].data
            if data is None:
                raise ScpiError(-230, "Data corrupt or stale;no acquisition")
            table = np.column_stack([data[e] for e in elements])
            parts.append(table[-1:] if latest else table)
        return self.format_values(np.concatenate(parts).ravel())

    def _measure(self, args: list[str], elements: tuple[str, ...]) -> bytes:
        """MEASure? = INITiate + FETCh:ARRay? on the listed channels (the whole trigger count)."""
        self._initiate(args, ())
        return self._fetch(args, elements)


def _b(value: bool) -> str:
    return "1" if value else "0"
