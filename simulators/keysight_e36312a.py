"""Keysight E36312A triple-output DC power supply (CH1 6 V/5 A, CH2-3 25 V/1 A) on the bench.

Command forms: pymeasure `keysight/keysightE36312A.py` (`VOLT %g, (@ch)`, `CURR`, `OUTPut`,
`MEASure:VOLTage? (@ch)`, `MEAS:CURRent? (@ch)`) and the E36300-series programming guide tree
(`[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]`, `INSTrument[:SELect]|:NSELect`, `APPLy`,
`VOLTage:PROTection`, `CURRent:PROTection:STATe`, `OUTPut:PROTection:CLEar`). CV/CC reporting
follows the E364xA/E3631A `STAT:QUES:INST:ISUM<n>:COND?` convention (1 = CC, 2 = CV, 0 = off);
that it is identical on the E36300 series is [verify].

Loads: a channel named in `simulation.wiring` (e.g. `drain: {role: dc_supply, channel: 2}`)
drives that terminal of the simulated GaN HEMT. Its programme is published as an SMU channel
state in `bench.smu[(role, ch)]` (mode "VOLT", level = set voltage, limit = current limit,
output on/off) and its operating point is read back through `simulators.hemt_bench.solve`:
the SMU model's compliance is the supply's CV/CC crossover (in CC the voltage sags until the
device draws exactly the limit; the supply reports CC). Every other channel is loaded by the
bench's PA model (`VirtualBench.channel`), as before.
"""

from __future__ import annotations

from collections.abc import Callable

from simulators import hemt_bench
from simulators.bench import ChannelReading, SmuChannelState, SupplyState, VirtualBench
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

#: channel → (max voltage V, max current A)
RATINGS: dict[int, tuple[float, float]] = {1: (6.0, 5.0), 2: (25.0, 1.0), 3: (25.0, 1.0)}
OVP_MAX_FACTOR = 1.1  # OVP programmable up to 110 % of rating [verify]
VOLTAGE_NOISE_V = 2e-4
CURRENT_NOISE_A = 1e-4


class KeysightE36312A(ScpiDevice):
    """E36312A: per-channel V/I set points, outputs, protection, measurements, CV/CC status."""

    idn = ("Keysight Technologies", "E36312A", "MY59001234", "2.1.4-1.0.4-1.12")  # [verify]
    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "dc_supply",
                 model: str = "keysight_e36312a") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.selected = 1
        #: channels wired to a HEMT terminal (`bench.wiring`): solved by simulators.hemt_bench
        self.wired: tuple[int, ...] = tuple(sorted(
            ch for role_, ch in self.bench.wiring.values() if role_ == self.role))
        for ch in self.wired:
            if ch not in RATINGS:
                raise ValueError(f"wiring names {self.role} channel {ch}; the E36312A has "
                                 f"channels {sorted(RATINGS)}")
        c = self.command
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", set=self._set_voltage,
          query=self._query_voltage)
        c("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", set=self._set_current,
          query=self._query_current)
        c("[SOURce:]VOLTage:PROTection[:LEVel]", set=self._set_ovp, query=self._query_ovp)
        c("[SOURce:]VOLTage:PROTection:TRIPped",
          query=lambda a, s: self._per_channel(a, lambda ch: _b(self.state.tripped.get(ch)
                                                                  == "OV")))
        c("[SOURce:]CURRent:PROTection:STATe", set=self._set_ocp,
          query=lambda a, s: self._per_channel(a, lambda ch: _b(self.state.ocp_enabled[ch])))
        c("[SOURce:]CURRent:PROTection:TRIPped",
          query=lambda a, s: self._per_channel(a, lambda ch: _b(self.state.tripped.get(ch)
                                                                  == "OC")))
        c("OUTPut[:STATe]", set=self._set_output,
          query=lambda a, s: self._per_channel(a, lambda ch: _b(self._output_on(ch))))
        c("OUTPut:PROTection:CLEar", set=self._clear_protection)
        c("MEASure[:SCALar]:VOLTage[:DC]",
          query=lambda a, s: self._per_channel(a, self._measure_voltage))
        c("MEASure[:SCALar]:CURRent[:DC]",
          query=lambda a, s: self._per_channel(a, self._measure_current))
        c("INSTrument[:SELect]", set=self._select, query=lambda a, s: f"CH{self.selected}")
        c("INSTrument:NSELect", set=self._nselect, query=lambda a, s: str(self.selected))
        c("APPLy", set=self._apply, query=self._query_apply)
        c("STATus:QUEStionable:INSTrument:ISUMmary<n>[:EVENt]", query=self._isum)
        c("STATus:QUEStionable:INSTrument:ISUMmary<n>:CONDition", query=self._isum)
        c("SYSTem:REMote", set=lambda a, s: None)
        c("SYSTem:LOCal", set=lambda a, s: None)
        self.reset()

    @property
    def state(self) -> SupplyState:
        """The supply's programmed state lives on the bench (tests may poke it)."""
        return self.bench.supply

    def reset(self) -> None:
        """*RST: outputs off, 0 V, current limits at the rating, OVP at max, OCP off [verify]."""
        super().reset()
        st = self.state
        for ch, (v_max, i_max) in RATINGS.items():
            if st.outputs.get(ch):
                self.bench.log_event(self.role, f"CH{ch} output OFF (*RST)")
            st.outputs[ch] = False
            st.voltage_set[ch] = 0.0
            st.current_limit[ch] = i_max
            st.ovp_level[ch] = v_max * OVP_MAX_FACTOR
            st.ocp_enabled[ch] = False
        st.tripped.clear()
        self.selected = 1
        self._changed()

    # ------------------------------------------------------------------ channel plumbing
    def _split(self, args: list[str]) -> tuple[list[str], list[int]]:
        """Separate a trailing `(@list)` from the parameters; default: the selected channel."""
        if args and args[-1].lstrip().startswith("("):
            channels = parse_channel_list(args[-1])
            for ch in channels:
                if ch not in RATINGS:
                    raise ScpiError(-222, "Data out of range;channel")
            return args[:-1], channels
        return args, [self.selected]

    def _per_channel(self, args: list[str], fn: Callable[[int], str]) -> str:
        params, channels = self._split(args)
        if params:
            raise ScpiError(-108)
        return ",".join(fn(ch) for ch in channels)

    def _output_on(self, ch: int) -> bool:
        if ch in self.wired and not self.state.ocp_enabled.get(ch):
            return bool(self.state.outputs.get(ch))  # no OCP: nothing but a command switches it
        return self._reading(ch).mode != "OFF"

    # ------------------------------------------------------------------ loads
    def _changed(self) -> None:
        """After a state change: a wired channel's new programme is judged by the device model
        at once (as an SMU's is), then the bench re-evaluates its consequences."""
        if self.wired:
            self._wired_readings()
        self.bench.update()

    def _publish(self) -> None:
        """Write each wired channel's programme into `bench.smu` (a supply output is a voltage
        source whose current is clamped at the limit). The state objects are mutated in place,
        never replaced: whoever holds them (a test's recorder) sees every change."""
        st = self.state
        for ch in self.wired:
            state = self.bench.smu.setdefault((self.role, ch), SmuChannelState())
            state.mode = "VOLT"
            state.level = st.voltage_set[ch]
            state.limit = st.current_limit[ch]
            state.output_on = bool(st.outputs.get(ch, False))

    def _wired_readings(self) -> dict[int, ChannelReading]:
        """Operating point of every wired channel from the device model. With over-current
        protection on, a channel found in CC trips (output off, "OC") and the device is solved
        again without it."""
        with self.bench.lock:
            self._publish()
            solved = hemt_bench.solve(self.bench)
            st = self.state
            trips = [ch for ch in self.wired if st.outputs.get(ch) and st.ocp_enabled.get(ch)
                     and solved[(self.role, ch)].in_compliance]
            for ch in trips:
                st.outputs[ch] = False
                st.tripped[ch] = "OC"
                self.bench.log_event(self.role, f"CH{ch} over-current protection tripped "
                                                f"({st.current_limit[ch]:.4g} A reached)")
            if trips:
                self._publish()
                solved = hemt_bench.solve(self.bench)
            out = {}
            for ch in self.wired:
                r = solved[(self.role, ch)]
                if not st.outputs.get(ch):
                    out[ch] = ChannelReading(0.0, 0.0, "OFF")
                else:
                    out[ch] = ChannelReading(r.voltage_v, r.current_a,
                                             "CC" if r.in_compliance else "CV")
            return out

    def _reading(self, ch: int) -> ChannelReading:
        """Operating point of channel `ch`: the HEMT model for a wired channel, the bench's
        PA load otherwise."""
        if ch in self.wired:
            return self._wired_readings()[ch]
        return self.bench.channel(ch)

    def _level(self, arg: str, ch: int, kind: str) -> float:
        v_max, i_max = RATINGS[ch]
        hi = v_max if kind == "V" else i_max
        return parse_number(arg, kind, minimum=0.0, maximum=hi, default=0.0 if kind == "V" else hi)

    # ------------------------------------------------------------------ set points
    def _set_voltage(self, args: list[str], _s: tuple[int, ...]) -> None:
        params, channels = self._split(args)
        if len(params) != 1:
            raise ScpiError(-109 if not params else -108)
        for ch in channels:
            v = self._level(params[0], ch, "V")
            self.state.voltage_set[ch] = v
            self.bench.log_event(self.role, f"CH{ch} voltage {v:.4g} V")
            self._check_ovp(ch)
        self._changed()

    def _set_current(self, args: list[str], _s: tuple[int, ...]) -> None:
        params, channels = self._split(args)
        if len(params) != 1:
            raise ScpiError(-109 if not params else -108)
        for ch in channels:
            i = self._level(params[0], ch, "A")
            self.state.current_limit[ch] = i
            self.bench.log_event(self.role, f"CH{ch} current limit {i:.4g} A")
        self._changed()

    def _query_levels(self, args: list[str], table: dict[int, float], kind: str) -> str:
        params, channels = self._split(args)
        if len(params) > 1:
            raise ScpiError(-108)
        if params:
            return ",".join(format_float(self._level(params[0], ch, kind)) for ch in channels)
        return ",".join(format_float(table[ch]) for ch in channels)

    def _query_voltage(self, args: list[str], _s: tuple[int, ...]) -> str:
        return self._query_levels(args, self.state.voltage_set, "V")

    def _query_current(self, args: list[str], _s: tuple[int, ...]) -> str:
        return self._query_levels(args, self.state.current_limit, "A")

    # ------------------------------------------------------------------ protection
    def _set_ovp(self, args: list[str], _s: tuple[int, ...]) -> None:
        params, channels = self._split(args)
        if len(params) != 1:
            raise ScpiError(-109 if not params else -108)
        for ch in channels:
            hi = RATINGS[ch][0] * OVP_MAX_FACTOR
            self.state.ovp_level[ch] = parse_number(params[0], "V", minimum=0.0, maximum=hi,
                                                    default=hi)
            self._check_ovp(ch)
        self._changed()  # a trip switches an output off

    def _query_ovp(self, args: list[str], _s: tuple[int, ...]) -> str:
        params, channels = self._split(args)
        if params:
            raise ScpiError(-108)
        return ",".join(format_float(self.state.ovp_level[ch]) for ch in channels)

    def _check_ovp(self, ch: int) -> None:
        st = self.state
        if st.outputs.get(ch) and st.voltage_set[ch] > st.ovp_level[ch]:
            st.outputs[ch] = False
            st.tripped[ch] = "OV"
            self.bench.log_event(self.role, f"CH{ch} over-voltage protection tripped")

    def _set_ocp(self, args: list[str], _s: tuple[int, ...]) -> None:
        params, channels = self._split(args)
        if len(params) != 1:
            raise ScpiError(-109 if not params else -108)
        for ch in channels:
            self.state.ocp_enabled[ch] = parse_bool(params[0])
        self._changed()

    def _clear_protection(self, args: list[str], _s: tuple[int, ...]) -> None:
        _, channels = self._split(args)
        for ch in channels:
            if self.state.tripped.pop(ch, None):
                self.bench.log_event(self.role, f"CH{ch} protection cleared")

    # ------------------------------------------------------------------ outputs
    def _set_output(self, args: list[str], _s: tuple[int, ...]) -> None:
        params, channels = self._split(args)
        if len(params) != 1:
            raise ScpiError(-109 if not params else -108)
        on = parse_bool(params[0])
        for ch in channels:
            if on and ch in self.state.tripped:
                raise ScpiError(-221, "Settings conflict;output protection tripped")
            if on != self.state.outputs.get(ch, False):
                self.bench.log_event(self.role, f"CH{ch} output {'ON' if on else 'OFF'}")
            self.state.outputs[ch] = on
            self._check_ovp(ch)
        self._changed()

    # ------------------------------------------------------------------ measurements
    def _measure_voltage(self, ch: int) -> str:
        reading = self._reading(ch)
        v = reading.voltage_v + self.rng.normal(0.0, VOLTAGE_NOISE_V)
        return format_float(v if reading.mode != "OFF" else abs(v) * 0.01)

    def _measure_current(self, ch: int) -> str:
        reading = self._reading(ch)
        if reading.mode == "OFF":
            return format_float(0.0)
        return format_float(reading.current_a + self.rng.normal(0.0, CURRENT_NOISE_A))

    def _isum(self, args: list[str], suffixes: tuple[int, ...]) -> str:
        ch = suffixes[0]
        if ch not in RATINGS:
            raise ScpiError(-113)
        mode = self._reading(ch).mode
        return {"OFF": "0", "CC": "1", "CV": "2"}[mode]

    def questionable_status(self) -> int:
        """QUES summary: bit 13 (ISUM) when any output is in CC or a protection tripped."""
        cc = any(self._reading(ch).mode == "CC" for ch in RATINGS)
        return (1 << 13) if cc or self.state.tripped else 0

    # ------------------------------------------------------------------ selection, APPLy
    def _select(self, args: list[str], _s: tuple[int, ...]) -> None:
        choice = parse_enum(args[0], ["CH1", "CH2", "CH3", "P6V", "P25V", "N25V"])
        self.selected = {"CH1": 1, "CH2": 2, "CH3": 3, "P6V": 1, "P25V": 2, "N25V": 3}[choice]

    def _nselect(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.selected = parse_int(args[0], minimum=1, maximum=3)

    def _apply_channel(self, arg: str) -> int:
        choice = parse_enum(arg, ["CH1", "CH2", "CH3", "P6V", "P25V", "N25V"])
        return {"CH1": 1, "CH2": 2, "CH3": 3, "P6V": 1, "P25V": 2, "N25V": 3}[choice]

    def _apply(self, args: list[str], _s: tuple[int, ...]) -> None:
        """APPLy CH<n>, <voltage>[, <current>]: both set points in one command."""
        if len(args) < 2:
            raise ScpiError(-109)
        if len(args) > 3:
            raise ScpiError(-108)
        ch = self._apply_channel(args[0])
        v = self._level(args[1], ch, "V")
        i = self._level(args[2], ch, "A") if len(args) == 3 else self.state.current_limit[ch]
        self.state.voltage_set[ch] = v
        self.state.current_limit[ch] = i
        self.bench.log_event(self.role, f"CH{ch} APPLy {v:.4g} V, {i:.4g} A")
        self._check_ovp(ch)
        self._changed()

    def _query_apply(self, args: list[str], _s: tuple[int, ...]) -> str:
        ch = self._apply_channel(args[0]) if args else self.selected
        st = self.state
        return f'"{format_float(st.voltage_set[ch])},{format_float(st.current_limit[ch])}"'


def _b(value: bool) -> str:
    return "1" if value else "0"
