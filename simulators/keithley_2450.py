"""Keithley 2450 SourceMeter (SCPI command set, one channel) on the virtual bench.

Command forms: 2450 Reference Manual (2450-901-01) SCPI command reference, checked against
pymeasure `keithley2450.py` and QCoDeS `Keithley_2450.py` (reference §4.8):
`:SOURce[1]:FUNCtion VOLTage|CURRent`, `:SOURce[1]:VOLTage[:LEVel]`, `:SOURce[1]:VOLTage:ILIMit`,
`:SOURce[1]:CURRent:VLIMit`, `...:ILIMit:TRIPped?` (the "source limit" indicator),
`:SENSe[1]:FUNCtion "CURR"`, `:SENSe[1]:CURRent:NPLCycles`, `:OUTPut[:STATe]`,
`:READ? ["buffer"][,<elements>]`, `:TRACe:DATA? <start>,<end>[,"buffer"][,<elements>]`,
`:SOURce[1]:LIST:VOLTage <list>` + `:SOURce[1]:SWEep:VOLTage:LIST <start>[,<delay>...]`,
`:SOURce[1]:SWEep:VOLTage:LINear <start>,<stop>,<points>[,<delay>...]`, `:INITiate`, `:ABORt`.

The 2450 has no pulse mode (a pulse needs an external trigger model or a 2461): only DC
list/linear sweeps are simulated. Buffer element `SOURSTATus` carries the source status;
bit values [verify]: 0x08 "source level was limited" (the front panel's source-limit flag),
0x10 output on. Physics: `simulators.hemt_bench` (a wired HEMT terminal, else an open circuit:
`read_smu_channel`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from simulators import hemt_bench
from simulators.bench import SmuChannelState, VirtualBench
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    parse_bool,
    parse_enum,
    parse_int,
    parse_number,
    parse_string,
)

LINE_FREQUENCY_HZ = 50.0
#: 2450 ratings: ±210 V (20 V range ±1.05 A, 200 V range ±105 mA), ±1.05 A (2450 data sheet)
MAX_VOLTAGE_V = 210.0
MAX_CURRENT_A = 1.05
HIGH_VOLTAGE_CURRENT_A = 0.105
#: SOURSTATus bits [verify]
SOURCE_STATUS_LIMIT = 0x08
SOURCE_STATUS_OUTPUT_ON = 0x10
#: measurement noise at NPLC 1 (scaled by 1/sqrt(NPLC)); 2450 data sheet class figures
VOLTAGE_NOISE_V = 20e-6
CURRENT_NOISE_A = 20e-12
CURRENT_NOISE_REL = 10e-6
OVERHEAD_S = 1e-3  # per reading: autozero, A/D set-up [typ]


@dataclass(frozen=True)
class ChannelReading:
    """What a channel sees: terminal voltage, current and whether the output is limited."""

    voltage_v: float
    current_a: float
    in_compliance: bool


def read_smu_channel(bench: VirtualBench, role: str, channel: int,
                     dwell_s: float | None = None) -> ChannelReading:
    """DC operating point of one SMU channel (caller holds `bench.lock`); `dwell_s` is how
    long the point lasts when a sweep is computed in one go (the device is charged for it)."""
    point = hemt_bench.solve(bench, dwell_s).get((role, channel))
    if point is None:
        point = hemt_bench.open_reading(bench.smu.get((role, channel)))
    return ChannelReading(float(point.voltage_v), float(point.current_a),
                          bool(point.in_compliance))


def pulse_smu_channel(bench: VirtualBench, role: str, channel: int, base_v: float,
                      pulse_v: float, width_s: float, period_s: float) -> ChannelReading:
    """In-pulse reading of a voltage pulse from `base_v` (caller holds `bench.lock`)."""
    point = hemt_bench.pulse(bench, role, channel, base_v, pulse_v, width_s, period_s)
    return ChannelReading(float(point.voltage_v), float(point.current_a),
                          bool(point.in_compliance))


def with_noise(reading: ChannelReading, rng: np.random.Generator, nplc: float
               ) -> ChannelReading:
    """Seeded measurement noise, falling as 1/sqrt(integration time)."""
    scale = 1.0 / math.sqrt(max(nplc, 1e-3))
    v = reading.voltage_v + rng.normal(0.0, VOLTAGE_NOISE_V * scale)
    sigma_i = (CURRENT_NOISE_A + CURRENT_NOISE_REL * abs(reading.current_a)) * scale
    return ChannelReading(v, reading.current_a + rng.normal(0.0, sigma_i), reading.in_compliance)


@dataclass(frozen=True)
class BufferEntry:
    """One reading in a 2450 reading buffer."""

    reading: float
    source: float
    relative_s: float
    source_status: int
    unit: str
    source_unit: str


#: `:TRACe:DATA?` / `:READ?` elements this simulator gives (2450 manual `<bufferElements>`)
ELEMENTS = ["READing", "SOURce", "RELative", "SOURSTATus", "UNIT", "SOURUNIT"]


class Keithley2450(ScpiDevice):
    """2450: DC V/I source with limit, V/I measure, list/linear sweeps into `defbuffer1`."""

    idn = ("KEITHLEY INSTRUMENTS", "MODEL 2450", "04412345", "1.7.12b")  # [verify] firmware
    options = ()
    channel = 1

    def __init__(self, bench: VirtualBench | None = None, role: str = "smu",
                 model: str = "keithley_2450") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        with self.lock:
            self.bench.smu.setdefault((role, self.channel), SmuChannelState())
        self.buffers: dict[str, list[BufferEntry]] = {"defbuffer1": [], "defbuffer2": []}
        self.source_list: dict[str, list[float]] = {"VOLT": [], "CURR": []}
        self.sweep: tuple[str, list[float], float, str] | None = None
        self._t0 = time.monotonic()
        c = self.command
        src = "[:SOURce<n>]"
        c(f"{src}:FUNCtion[:MODE]", set=self._set_function,
          query=lambda a, s: self.state.mode)
        for func, unit in (("VOLTage", "V"), ("CURRent", "A")):
            key = func[:4].upper()
            c(f"{src}:{func}[:LEVel][:IMMediate][:AMPLitude]",
              set=lambda a, s, k=key, u=unit: self._set_level(k, a[0], u),
              query=lambda a, s, k=key: self.level[k])
            lim = "ILIMit" if key == "VOLT" else "VLIMit"
            c(f"{src}:{func}:{lim}[:LEVel]",
              set=lambda a, s, k=key: self._set_limit(k, a[0]),
              query=lambda a, s, k=key: self.limit[k])
            c(f"{src}:{func}:{lim}[:LEVel]:TRIPped",
              query=lambda a, s, k=key: int(self._tripped(k)))
            c(f"{src}:LIST:{func}[:VALues]", set=lambda a, s, k=key: self._set_list(k, a, False),
              query=lambda a, s, k=key: ",".join(f"{v:.6E}" for v in self.source_list[k]))
            c(f"{src}:LIST:{func}:APPend", set=lambda a, s, k=key: self._set_list(k, a, True))
            c(f"{src}:LIST:{func}:POINts", query=lambda a, s, k=key: len(self.source_list[k]))
            c(f"{src}:SWEep:{func}:LIST", set=lambda a, s, k=key: self._sweep_list(k, a))
            c(f"{src}:SWEep:{func}:LINear", set=lambda a, s, k=key: self._sweep_linear(k, a))
            c(f"{src}:{func}:READ:BACK", set=lambda a, s: None, query=lambda a, s: 1)
            c(f"[:SENSe<n>]:{func}:NPLCycles", set=self._set_nplc, query=lambda a, s: self.nplc)
            c(f"[:SENSe<n>]:{func}:RANGe:AUTO", set=lambda a, s: None, query=lambda a, s: 1)
            c(f"[:SENSe<n>]:{func}:RSENse", set=lambda a, s: None, query=lambda a, s: 0)
        c("[:SENSe<n>]:FUNCtion[:ON]", set=self._set_sense, query=lambda a, s: f'"{self.sense}:DC"')
        c(":OUTPut<n>[:STATe]", set=self._set_output, query=lambda a, s: int(self.state.output_on))
        c(":READ", query=self._read, waits=True)
        c(":TRACe:DATA", query=self._trace_data, waits=True)
        c(":TRACe:ACTual", query=lambda a, s: len(self._buffer(a)), waits=True)
        c(":TRACe:CLEar", set=lambda a, s: self._buffer(a).clear())
        c(":INITiate[:IMMediate]", set=lambda a, s: self._initiate())
        c(":ABORt", set=lambda a, s: self._abort())
        c(":SYSTem:LFRequency", query=lambda a, s: int(LINE_FREQUENCY_HZ))
        c(":ROUTe:TERMinals", set=lambda a, s: None, query=lambda a, s: "FRON")
        self.reset()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> SmuChannelState:
        """The programmed output lives on the bench (the device model reads it)."""
        return self.bench.smu[(self.role, self.channel)]

    def reset(self) -> None:
        """*RST: output off, voltage source 0 V, 105 µA limit, 21 V limit, sense current,
        NPLC 1 (2450 manual "Instrument defaults") [verify]."""
        super().reset()
        with self.lock:
            if self.state.output_on:
                self.bench.log_event(self.role, "output OFF (*RST)")
            self.level = {"VOLT": 0.0, "CURR": 0.0}
            self.limit = {"VOLT": 105e-6, "CURR": 21.0}
            self.sense = "CURR"
            self.nplc = 1.0
            self.sweep = None
            for buf in self.buffers.values():
                buf.clear()
            self.source_list = {"VOLT": [], "CURR": []}
            self.state.mode, self.state.output_on = "VOLT", False
            self._apply()

    def _apply(self) -> None:
        """Copy the programmed function, level and limit into the bench state."""
        mode = self.state.mode
        self.state.level = self.level[mode]
        self.state.limit = self.limit[mode]

    def _check_level(self, key: str, value: float) -> None:
        hi = MAX_VOLTAGE_V if key == "VOLT" else MAX_CURRENT_A
        if abs(value) > hi:
            raise ScpiError(-222, "Parameter out of range")

    # ------------------------------------------------------------------ handlers
    def _set_function(self, args: list[str], _s: tuple[int, ...]) -> None:
        func = parse_enum(args[0], ["VOLTage", "CURRent"])
        if func != self.state.mode:
            if self.state.output_on:  # the 2450 turns the output off on a function change
                self.bench.log_event(self.role, "output OFF (source function change)")
            self.state.output_on = False
        self.state.mode = func
        self._apply()

    def _set_level(self, key: str, arg: str, unit: str) -> None:
        value = parse_number(arg, unit)
        self._check_level(key, value)
        self.level[key] = value
        self._apply()
        self.bench.log_event(self.role, f"{key} level {value:.6g}")

    def _set_limit(self, key: str, arg: str) -> None:
        if key == "VOLT":
            value = parse_number(arg, "A", minimum=1e-9, maximum=MAX_CURRENT_A,
                                 default=105e-6)
        else:
            value = parse_number(arg, "V", minimum=0.02, maximum=MAX_VOLTAGE_V, default=21.0)
        self.limit[key] = value
        self._apply()

    def _set_nplc(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.nplc = parse_number(args[0], minimum=0.01, maximum=10.0, default=1.0)

    def _set_sense(self, args: list[str], _s: tuple[int, ...]) -> None:
        word = parse_string(args[0]) if args[0].strip()[:1] in "\"'" else args[0]
        self.sense = parse_enum(word.split(":")[0], ["VOLTage", "CURRent"])

    def _set_output(self, args: list[str], _s: tuple[int, ...]) -> None:
        on = parse_bool(args[0])
        if on and self.state.mode == "VOLT" and abs(self.level["VOLT"]) > 21.0 \
                and self.limit["VOLT"] > HIGH_VOLTAGE_CURRENT_A:
            raise ScpiError(-221, "Settings conflict;limit exceeds 200 V range rating")
        self.state.output_on = on
        self.bench.log_event(self.role, f"output {'ON' if on else 'OFF'}")

    def _tripped(self, key: str) -> bool:
        return self.state.mode == key and read_smu_channel(
            self.bench, self.role, self.channel).in_compliance

    # ------------------------------------------------------------------ measurements
    def _reading_time_s(self) -> float:
        return self.nplc / LINE_FREQUENCY_HZ + OVERHEAD_S

    def _measure_entry(self, relative_s: float, dwell_s: float | None = None) -> BufferEntry:
        r = with_noise(read_smu_channel(self.bench, self.role, self.channel, dwell_s), self.rng,
                       self.nplc)
        return self._entry(r, relative_s)

    def _entry(self, r: ChannelReading, relative_s: float) -> BufferEntry:
        status = (SOURCE_STATUS_LIMIT if r.in_compliance else 0) | (
            SOURCE_STATUS_OUTPUT_ON if self.state.output_on else 0)
        measured = r.current_a if self.sense == "CURR" else r.voltage_v
        source = r.voltage_v if self.state.mode == "VOLT" else r.current_a
        return BufferEntry(measured, source, relative_s, status,
                           "Amp DC" if self.sense == "CURR" else "Volt DC",
                           "Volt DC" if self.state.mode == "VOLT" else "Amp DC")

    def _buffer(self, args: list[str]) -> list[BufferEntry]:
        name = parse_string(args[0]) if args and args[0].strip() else "defbuffer1"
        if name not in self.buffers:
            raise ScpiError(-222, f"Buffer {name} not found")
        return self.buffers[name]

    def _split_buffer_elements(self, args: list[str]) -> tuple[list[BufferEntry], list[str]]:
        if args and args[0].strip()[:1] in "\"'":
            buf, rest = self._buffer(args[:1]), args[1:]
        else:
            buf, rest = self._buffer([]), args
        elements = [parse_enum(e, ELEMENTS) for e in rest] or ["READ"]
        return buf, elements

    @staticmethod
    def _format_entry(entry: BufferEntry, elements: list[str]) -> list[str]:
        out = []
        for e in elements:
            if e == "READ":
                out.append(f"{entry.reading:.9E}")
            elif e == "SOUR":
                out.append(f"{entry.source:.9E}")
            elif e == "REL":
                out.append(f"{entry.relative_s:.9E}")
            elif e == "SOURSTAT":
                out.append(str(entry.source_status))
            elif e == "UNIT":
                out.append(entry.unit)
            else:
                out.append(entry.source_unit)
        return out

    def _read(self, args: list[str], _s: tuple[int, ...]) -> str:
        buf, elements = self._split_buffer_elements(args)
        entry = self._measure_entry(time.monotonic() - self._t0)
        buf.append(entry)
        self.start_operation(self._reading_time_s())
        return ",".join(self._format_entry(entry, elements))

    def _trace_data(self, args: list[str], _s: tuple[int, ...]) -> str:
        if len(args) < 2:
            raise ScpiError(-109)
        start = parse_int(args[0], minimum=1)
        end = parse_int(args[1], minimum=start)
        buf, elements = self._split_buffer_elements(args[2:])
        if end > len(buf):
            raise ScpiError(-222, "Index out of range;buffer has fewer readings")
        return ",".join(v for entry in buf[start - 1:end]
                        for v in self._format_entry(entry, elements))

    # ------------------------------------------------------------------ sweeps
    def _set_list(self, key: str, args: list[str], append: bool) -> None:
        values = [parse_number(a) for a in args]
        for v in values:
            self._check_level(key, v)
        if append:
            self.source_list[key] += values
        else:
            self.source_list[key] = values

    def _sweep_options(self, args: list[str]) -> tuple[float, int, str]:
        """`<delay>,<count>,<failAbort>,["buffer"]` tails shared by the sweep commands."""
        delay = parse_number(args[0], "S", minimum=0.0, maximum=1e4) if args else 0.0
        count = parse_int(args[1], minimum=1, maximum=1000) if len(args) > 1 else 1
        buffer = "defbuffer1"
        for extra in args[2:]:
            if extra.strip()[:1] in "\"'":
                buffer = parse_string(extra)
                self._buffer([extra])
        return delay, count, buffer

    def _sweep_list(self, key: str, args: list[str]) -> None:
        """`:SOUR:SWE:VOLT:LIST <startIndex>[,<delay>[,<count>[,<failAbort>[,"buf"]]]]`."""
        values = self.source_list[key]
        start = parse_int(args[0], minimum=1) if args else 1
        if not values or start > len(values):
            raise ScpiError(-221, "Settings conflict;source list is empty")
        delay, count, buffer = self._sweep_options(args[1:])
        self._arm_sweep(key, values[start - 1:] * count, delay, buffer)

    def _sweep_linear(self, key: str, args: list[str]) -> None:
        """`:SOUR:SWE:VOLT:LIN <start>,<stop>,<points>[,<delay>[,<count>[,...]]]`."""
        if len(args) < 3:
            raise ScpiError(-109)
        start, stop = parse_number(args[0]), parse_number(args[1])
        points = parse_int(args[2], minimum=2, maximum=100_000)
        for v in (start, stop):
            self._check_level(key, v)
        delay, count, buffer = self._sweep_options(args[3:])
        self._arm_sweep(key, list(np.linspace(start, stop, points)) * count, delay, buffer)

    def _arm_sweep(self, key: str, values: list[float], delay_s: float, buffer: str) -> None:
        """Loads the sweep trigger model (it runs on `:INIT`); the function becomes `key`."""
        if key != self.state.mode:
            self.state.mode = key
            self._apply()
        self.sweep = (key, [float(v) for v in values], delay_s, buffer)
        self.buffers[buffer].clear()

    def _initiate(self) -> None:
        """Run the loaded sweep: the output goes on, each point settles for its delay and is
        measured; the source stays at the last point's level (2450 config-list recall)
        [verify]. Readings are computed now, the operation lasts the sweep time."""
        if self.busy:
            raise ScpiError(-213, "Init ignored")
        if self.sweep is None:
            raise ScpiError(-221, "Settings conflict;no trigger model loaded")
        key, values, delay_s, buffer = self.sweep
        if not self.state.output_on:
            self.state.output_on = True
            self.bench.log_event(self.role, "output ON (sweep)")
        buf = self.buffers[buffer]
        buf.clear()
        step_s = delay_s + self._reading_time_s()
        for i, v in enumerate(values):
            self.level[key] = v
            self._apply()
            buf.append(self._measure_entry(i * step_s + delay_s, step_s))
        self.start_operation(step_s * len(values))

    def _abort(self) -> None:
        self.busy_until = 0.0
