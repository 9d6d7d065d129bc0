"""Keithley 2636B dual-channel SourceMeter, driven by TSP (Lua) statements.

The 2636B has no SCPI tree (2600B Reference Manual 2600BS-901-01): only the IEEE 488.2 common
commands; everything else is a TSP statement (reference §4.8; pymeasure ``keithley2600.py``,
QCoDeS ``_Keithley_2600.py``, Tektronix tsp-toolkit 2636B definitions). Channel 1 is
``smua``, channel 2 ``smub``. Statements used:
``smuX.source.func = smuX.OUTPUT_DCVOLTS|OUTPUT_DCAMPS``, ``smuX.source.limiti|limitv``
(always before the level), ``smuX.source.levelv|leveli``, ``smuX.source.output =
smuX.OUTPUT_ON|OUTPUT_OFF``, ``print(smuX.measure.iv())`` (current, then voltage, tab
separated), ``print(smuX.source.compliance)`` (``true`` while the output is clamped),
``smuX.measure.nplc``, ``print(localnode.linefreq)``, ``format.asciiprecision = 12``;
errors: ``print(errorqueue.count)``, ``print(errorqueue.next())`` (code, message, severity,
node); list sweeps through the SMU trigger model (``smuX.trigger.source.listv({...})``,
``trigger.measure.iv(smuX.nvbuffer1, smuX.nvbuffer2)``, ``trigger.initiate()``,
``waitcomplete()``, ``printbuffer(1, n, ...)``); pulsed sweeps with ``endpulse.action =
SOURCE_IDLE`` and trigger timers setting period and width, after the 2600B manual's pulse
examples [verify]; two channels pulsed in step (`pulsed_iv_sweep`) after Keithley's
``KE26XXB_Pulsed_Sweep_Dual.tsp`` example (tektronix/keithley on GitHub): timer 1 period,
timer 2 measure delay, timer 3 width, shared by smua and smub, fixed ranges, ``autozero``
once. Buffer status bit 0x40 = compliance [verify].

Ratings (2636B data sheet): ±200 V; ±1.5 A DC up to ±20 V, ±100 mA above. Pulse width here
≥ 100 µs with the integration inside the pulse [verify].

The session reads the error queue with ``print(errorqueue.next())`` (code, message, severity,
node, tab separated; code 0 "Queue Is Empty" ends it), also in its timeout recovery.
"""

from __future__ import annotations

import numpy as np

from instruments.common import num
from instruments.errors import IdentityMismatch, UnexpectedResponse
from instruments.interfaces import Identity, SmuReading, SmuSweepResult, SourceMeter
from instruments.scpi import ScpiSession

MAX_VOLTAGE_V = 200.0
LOW_RANGE_V = 20.0
MAX_CURRENT_A = 1.5
HIGH_VOLTAGE_CURRENT_A = 0.1
NPLC_RANGE = (0.001, 25.0)
MIN_PULSE_WIDTH_S = 100e-6
MIN_PULSE_OFF_S = 10e-6  # base time between pulses [verify]
#: a measurement's time beyond its aperture; Keithley's dual-channel pulsed-sweep example
#: starts it this much earlier so it ends inside the pulse [verify]
MEASURE_OVERHEAD_S = 60e-6
#: how far a channel may sit from the pulse base it is given (pulsed I-V) [verify resolution]
BASE_TOLERANCE_V = 1e-3
STATUS_COMPLIANCE = 0x40
ASCII_PRECISION = 12


def parse_tsp_error(reply: str, command: str) -> tuple[int, str]:
    """``print(errorqueue.next())`` → (code, message)."""
    fields = reply.split("\t")
    try:
        code = int(float(fields[0]))
    except ValueError:
        raise UnexpectedResponse(reply, command, "code<TAB>message<TAB>severity<TAB>node") from None
    return code, fields[1].strip() if len(fields) > 1 else ""


class Keithley2636B(SourceMeter):
    """Two SMU channels (1 = smua, 2 = smub)."""

    supported_models = ("MODEL 2636B",)
    channels = (1, 2)

    #: DC ranges (2636B data sheet: ±20 V at up to ±1.5 A, ±200 V at ±0.1 A) [verify]
    dc_ranges = ((20.0, 1.5), (200.0, 0.1))

    def __init__(self, session: ScpiSession) -> None:
        # the error queue in TSP (also what the session's timeout recovery drains)
        session.error_query = "print(errorqueue.next())"
        session.error_parser = parse_tsp_error  # type: ignore[method-assign]
        super().__init__(session)
        # full-precision numbers in every print (does not touch any output)
        self._tsp(f"format.asciiprecision = {ASCII_PRECISION}")

    # -- plumbing ---------------------------------------------------------------------------

    def _read_identity(self) -> Identity:
        """``*IDN?`` only: a 2600B has no ``*OPT?`` [verify]."""
        idn = self.session.query("*IDN?").strip()
        fields = [f.strip() for f in idn.split(",")]
        if len(fields) != 4 or fields[1].upper() not in self.supported_models:
            raise IdentityMismatch(self.supported_models, idn)
        return Identity(*fields)

    @staticmethod
    def _smu(channel: int) -> str:
        if channel not in (1, 2):
            raise ValueError(f"the 2636B has channels 1 (smua) and 2 (smub), not {channel!r}")
        return "smua" if channel == 1 else "smub"

    def _tsp(self, *statements: str) -> None:
        """Send statements (one per line), then read the TSP error queue once."""
        for statement in statements:
            self.session.write(statement)
        self.check_errors("; ".join(statements))

    def check_errors(self, after: str) -> None:
        """Drain ``errorqueue`` (TSP, through the session's error query): raise
        `InstrumentError` naming `after` if anything was queued."""
        self.session.check_errors(after)

    def _print_numbers(self, expression: str, count: int) -> list[float]:
        command = f"print({expression})"
        reply = self.session.query(command)
        fields = reply.split("\t")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise UnexpectedResponse(reply, command, f"{count} numbers") from None
        if len(values) != count:
            raise UnexpectedResponse(reply, command, f"{count} numbers")
        return values

    def _print_bool(self, expression: str) -> bool:
        command = f"print({expression})"
        reply = self.session.query(command).strip()
        if reply not in ("true", "false"):
            raise UnexpectedResponse(reply, command, "true|false")
        return reply == "true"

    # -- Instrument -------------------------------------------------------------------------

    def reset(self) -> None:
        """``reset()`` (both channels: outputs off, defaults), errors cleared, then safe."""
        self.session.write("reset()")
        self.session.write("errorqueue.clear()")
        self._tsp(f"format.asciiprecision = {ASCII_PRECISION}")
        self.make_safe()

    def make_safe(self) -> None:
        """Outputs off, smub (drain side) before smua."""
        self._tsp("smub.source.output = smub.OUTPUT_OFF", "smua.source.output = smua.OUTPUT_OFF")

    # -- SourceMeter ------------------------------------------------------------------------

    @staticmethod
    def _check_voltage(voltage_v: float, current_limit_a: float) -> None:
        if abs(voltage_v) > MAX_VOLTAGE_V:
            raise ValueError(f"{voltage_v} V is beyond the 2636B's ±{MAX_VOLTAGE_V:g} V")
        if not 0.0 < current_limit_a <= MAX_CURRENT_A:
            raise ValueError(f"current limit {current_limit_a} A is outside 0–{MAX_CURRENT_A} A")
        if abs(voltage_v) > LOW_RANGE_V and current_limit_a > HIGH_VOLTAGE_CURRENT_A:
            raise ValueError(f"above ±{LOW_RANGE_V:g} V the 2636B limits current to "
                             f"{HIGH_VOLTAGE_CURRENT_A * 1e3:g} mA")

    def set_voltage_source(self, channel: int, voltage_v: float, current_limit_a: float
                           ) -> None:
        smu = self._smu(channel)
        self._check_voltage(voltage_v, current_limit_a)
        self._tsp(f"{smu}.source.func = {smu}.OUTPUT_DCVOLTS",
                  f"{smu}.source.limiti = {num(current_limit_a)}",
                  f"{smu}.source.levelv = {num(voltage_v)}")

    def set_current_source(self, channel: int, current_a: float, voltage_limit_v: float
                           ) -> None:
        smu = self._smu(channel)
        if abs(current_a) > MAX_CURRENT_A:
            raise ValueError(f"{current_a} A is beyond the 2636B's ±{MAX_CURRENT_A:g} A")
        if not 0.0 < voltage_limit_v <= MAX_VOLTAGE_V:
            raise ValueError(f"voltage limit {voltage_limit_v} V is outside 0–{MAX_VOLTAGE_V} V")
        if voltage_limit_v > LOW_RANGE_V and abs(current_a) > HIGH_VOLTAGE_CURRENT_A:
            raise ValueError(f"above ±{LOW_RANGE_V:g} V the 2636B sources at most "
                             f"{HIGH_VOLTAGE_CURRENT_A * 1e3:g} mA")
        self._tsp(f"{smu}.source.func = {smu}.OUTPUT_DCAMPS",
                  f"{smu}.source.limitv = {num(voltage_limit_v)}",
                  f"{smu}.source.leveli = {num(current_a)}")

    def set_output(self, channel: int, on: bool) -> None:
        smu = self._smu(channel)
        self._tsp(f"{smu}.source.output = {smu}.OUTPUT_{'ON' if on else 'OFF'}")

    def output_is_on(self, channel: int) -> bool:
        smu = self._smu(channel)
        return self._print_numbers(f"{smu}.source.output", 1)[0] != 0

    def set_aperture_s(self, channel: int, aperture_s: float) -> None:
        smu = self._smu(channel)
        nplc = aperture_s * self._print_numbers("localnode.linefreq", 1)[0]
        if not NPLC_RANGE[0] <= nplc <= NPLC_RANGE[1]:
            raise ValueError(f"aperture {aperture_s} s is {nplc:g} NPLC, outside "
                             f"{NPLC_RANGE[0]:g}–{NPLC_RANGE[1]:g}")
        self._tsp(f"{smu}.measure.nplc = {num(nplc)}")

    def measure(self, channel: int) -> SmuReading:
        """``print(smuX.measure.iv(), ...)`` then ``smuX.source.compliance``."""
        smu = self._smu(channel)
        current_a, voltage_v = self._print_numbers(f"{smu}.measure.iv()", 2)
        return SmuReading(voltage_v=voltage_v, current_a=current_a,
                          in_compliance=self.compliance(channel))

    def compliance(self, channel: int) -> bool:
        """``smuX.source.compliance``: the output is clamped at its limit now."""
        return self._print_bool(f"{self._smu(channel)}.source.compliance")

    def voltage_list_sweep(
        self, channel: int, voltages_v: np.ndarray, current_limit_a: float,
        aperture_s: float = 1e-3, pulse_width_s: float | None = None,
        pulse_period_s: float | None = None, pulse_base_v: float = 0.0,
    ) -> SmuSweepResult:
        """List sweep through the SMU trigger model; with ``pulse_width_s`` each point is a
        pulse from ``pulse_base_v`` (the idle level), timed by trigger timers 1 (period) and
        2 (width). The output must already be on; the idle level is restored afterwards."""
        smu = self._smu(channel)
        values = np.asarray(voltages_v, dtype=float).ravel()
        if values.size == 0:
            raise ValueError("empty sweep")
        for v in (*values, pulse_base_v):
            self._check_voltage(float(v), current_limit_a)
        pulsed = pulse_width_s is not None
        if pulsed:
            period_s = pulse_period_s if pulse_period_s is not None else 100 * pulse_width_s
            if pulse_width_s < MIN_PULSE_WIDTH_S or aperture_s > 0.8 * pulse_width_s:
                raise ValueError(f"pulse width {pulse_width_s} s: ≥ {MIN_PULSE_WIDTH_S:g} s and "
                                 "≥ 1.25 × the aperture needed")
            if period_s <= pulse_width_s:
                raise ValueError("pulse period must exceed the pulse width")
        if not self.output_is_on(channel):
            raise RuntimeError(f"{smu} output is off: switch it on (safety kernel) first")
        idle_v, idle_limit_a = self._print_numbers(
            f"{smu}.source.levelv, {smu}.source.limiti", 2)
        self.set_aperture_s(channel, aperture_s)
        n = values.size
        setup = [f"{smu}.source.limiti = {num(current_limit_a)}",
                 f"{smu}.source.levelv = {num(pulse_base_v if pulsed else idle_v)}",
                 *_trigger_sweep(smu, values, current_limit_a),
                 f"{smu}.trigger.endsweep.action = {smu}.SOURCE_IDLE"]
        if pulsed:
            setup += [f"trigger.timer[1].delay = {num(period_s)}",
                      f"trigger.timer[1].count = {max(n - 1, 1)}",
                      "trigger.timer[1].passthrough = true",
                      f"trigger.timer[1].stimulus = {smu}.trigger.ARMED_EVENT_ID",
                      f"trigger.timer[2].delay = {num(pulse_width_s)}",
                      "trigger.timer[2].count = 1", "trigger.timer[2].passthrough = false",
                      "trigger.timer[2].stimulus = trigger.timer[1].EVENT_ID",
                      f"{smu}.trigger.source.stimulus = trigger.timer[1].EVENT_ID",
                      f"{smu}.trigger.measure.stimulus = 0",
                      f"{smu}.trigger.endpulse.stimulus = trigger.timer[2].EVENT_ID",
                      f"{smu}.trigger.endpulse.action = {smu}.SOURCE_IDLE"]
        else:
            setup += [f"{smu}.trigger.source.stimulus = 0",
                      f"{smu}.trigger.measure.stimulus = 0",
                      f"{smu}.trigger.endpulse.stimulus = 0",
                      f"{smu}.trigger.endpulse.action = {smu}.SOURCE_HOLD"]
        self._tsp(*setup)
        step_s = period_s if pulsed else aperture_s + 0.01
        self.session.write(f"{smu}.trigger.initiate()")
        self.session.opc(timeout_s=max(10.0, 5.0 * n * step_s))
        self.check_errors(f"{smu}.trigger.initiate()")
        data = self._read_sweep(smu, n)
        self._tsp(f"{smu}.source.limiti = {num(idle_limit_a)}",
                  f"{smu}.source.levelv = {num(idle_v)}")
        return _result(values, data)

    def pulsed_iv_sweep(
        self, gate_channel: int, drain_channel: int, gate_pulse_v: np.ndarray,
        drain_pulse_v: np.ndarray, *, gate_base_v: float, drain_base_v: float,
        gate_current_limit_a: float, drain_current_limit_a: float, pulse_width_s: float,
        pulse_period_s: float, aperture_s: float | None = None,
    ) -> tuple[SmuSweepResult, SmuSweepResult]:
        """Synchronous pulsed sweeps on both SMUs (after Keithley's 2600B dual-channel
        pulsed-sweep example): trigger timer 1 (period) is both channels' source stimulus,
        timer 2 (width − aperture − measure overhead) their measure stimulus, timer 3 (width)
        their end-pulse stimulus with ``endpulse.action = SOURCE_IDLE``, so each point is a
        pulse from the idle level (the base, where each output must already sit as a voltage
        source) to the listed level. The gate SMU is initiated first and waits; the drain
        SMU's ARMED event starts timer 1, so both pulse together. Ranges are fixed for the
        sweep; afterwards limits, ranges, NPLC and the idle levels are as before."""
        plan = ((self._smu(gate_channel), gate_pulse_v, gate_current_limit_a, gate_base_v),
                (self._smu(drain_channel), drain_pulse_v, drain_current_limit_a, drain_base_v))
        if gate_channel == drain_channel:
            raise ValueError(f"gate and drain are both on channel {gate_channel}")
        levels = {smu: np.asarray(v, dtype=float).ravel() for smu, v, _, _ in plan}
        points = levels[plan[0][0]].size
        if points == 0 or levels[plan[1][0]].size != points:
            raise ValueError(f"{points} gate levels and {levels[plan[1][0]].size} drain levels:"
                             " the channels pulse in step, one (non-empty) pair per pulse")
        for smu, _, limit, base in plan:
            for v in (*levels[smu], base):
                self._check_voltage(float(v), limit)
        aperture = pulse_width_s / 2.0 if aperture_s is None else aperture_s
        _check_pulse(pulse_width_s, pulse_period_s, aperture)
        nplc = aperture * self._print_numbers("localnode.linefreq", 1)[0]
        if not NPLC_RANGE[0] <= nplc <= NPLC_RANGE[1]:
            raise ValueError(f"aperture {aperture} s is {nplc:g} NPLC, outside "
                             f"{NPLC_RANGE[0]:g}–{NPLC_RANGE[1]:g}")
        saved = {}
        for smu, _, _, base in plan:
            if not self._print_numbers(f"{smu}.source.output", 1)[0]:
                raise RuntimeError(f"{smu} output is off: switch it on (safety kernel) first")
            saved[smu] = self._print_numbers(", ".join(f"{smu}.{a}" for a in _SAVED), len(_SAVED))
            func, level = saved[smu][:2]
            if func != 1 or abs(level - base) > BASE_TOLERANCE_V:
                raise RuntimeError(f"{smu} is not a voltage source at its {base:g} V base "
                                   f"(levelv {level:g}): bias the quiescent point first")
        timers = [f"trigger.timer[1].delay = {num(pulse_period_s)}",
                  f"trigger.timer[1].count = {max(points - 1, 1)}",
                  "trigger.timer[1].passthrough = true",
                  f"trigger.timer[1].stimulus = {plan[1][0]}.trigger.ARMED_EVENT_ID",
                  f"trigger.timer[2].delay = {num(pulse_width_s - aperture - MEASURE_OVERHEAD_S)}",
                  f"trigger.timer[3].delay = {num(pulse_width_s)}"]
        for t in (2, 3):
            timers += [f"trigger.timer[{t}].count = 1", f"trigger.timer[{t}].passthrough = false",
                       f"trigger.timer[{t}].stimulus = trigger.timer[1].EVENT_ID"]
        try:
            self._tsp(*timers)
            for smu, _, limit, base in plan:
                self._tsp(*_pulse_channel_setup(smu, levels[smu], limit, base, nplc,
                                                max(limit, saved[smu][2])))
            for smu, *_ in plan:
                self.session.write(f"{smu}.trigger.initiate()")
            self.session.opc(timeout_s=max(10.0, 5.0 * points * pulse_period_s))
            self.check_errors("smua/smub.trigger.initiate()")
            gate, drain = (_result(levels[smu], self._read_sweep(smu, points))
                           for smu, *_ in plan)
        except BaseException:
            for smu, *_ in plan:  # neither SMU may stay armed, waiting for timer events
                self.session.write(f"{smu}.abort()")  # [verify] ends overlapped operations
            raise
        finally:
            self._restore_all([(smu, saved[smu]) for smu, *_ in reversed(plan)])
        return gate, drain

    def _restore_all(self, channels: list[tuple[str, list[float]]]) -> None:
        """Each SMU back to the settings `_SAVED` read (each tried even if one failed)."""
        failure: Exception | None = None
        for smu, values in channels:
            before = dict(zip(_SAVED, values, strict=True))
            statements = [f"{smu}.source.limiti = {num(before['source.limiti'])}"]
            for fixed, auto in (("source.rangev", "source.autorangev"),
                                ("measure.rangei", "measure.autorangei")):
                statements.append(f"{smu}.{auto} = {smu}.AUTORANGE_ON" if before[auto]
                                  else f"{smu}.{fixed} = {num(before[fixed])}")
            statements += [f"{smu}.{a} = {num(before[a])}"
                           for a in ("measure.autozero", "measure.nplc", "measure.delay")]
            try:
                self._tsp(*statements)
            except Exception as exc:  # noqa: BLE001 - the other SMU must still be restored
                failure = failure or exc
        if failure is not None:
            raise failure

    def _read_sweep(self, smu: str, n: int) -> np.ndarray:
        """Rows of (I, V, source value, timestamp, status) from the channel's nvbuffers."""
        buf = f"{smu}.nvbuffer1"
        command = (f"printbuffer(1, {n}, {buf}.readings, {smu}.nvbuffer2.readings, "
                   f"{buf}.sourcevalues, {buf}.timestamps, {buf}.statuses)")
        reply = self.session.query(command)
        try:
            return np.asarray([float(f) for f in reply.split(",")]).reshape(n, 5)
        except ValueError:
            raise UnexpectedResponse(reply[:200], command, f"{5 * n} numbers") from None


#: settings a pulsed I-V sweep reads before it changes them: function and idle level (checked
#: against the base), then what it restores afterwards (a range only if its autorange was off)
_SAVED = ("source.func", "source.levelv", "source.limiti", "source.rangev",
          "source.autorangev", "measure.rangei", "measure.autorangei", "measure.autozero",
          "measure.nplc", "measure.delay")


def _check_pulse(width_s: float, period_s: float, aperture_s: float) -> None:
    """The 2636B pulse timing: width ≥ MIN_PULSE_WIDTH_S, the aperture and the measurement
    overhead inside the pulse, some base time in every period."""
    if width_s < MIN_PULSE_WIDTH_S:
        raise ValueError(f"pulse width {width_s} s is below the 2636B's "
                         f"{MIN_PULSE_WIDTH_S * 1e6:g} µs minimum")
    if aperture_s + MEASURE_OVERHEAD_S > width_s:
        raise ValueError(f"aperture {aperture_s} s plus {MEASURE_OVERHEAD_S * 1e6:g} µs "
                         f"measurement overhead does not fit in a {width_s} s pulse")
    if period_s < width_s + MIN_PULSE_OFF_S:
        raise ValueError(f"pulse period {period_s} s leaves no base time after a "
                         f"{width_s} s pulse")


def _trigger_sweep(smu: str, values: np.ndarray, current_limit_a: float) -> list[str]:
    """The list, its limit and the measurement (I into nvbuffer1, V into nvbuffer2, with
    source values and timestamps) of one trigger-model sweep of `values`."""
    table = ", ".join(num(v) for v in values)
    return [f"{smu}.trigger.source.listv({{{table}}})",
            f"{smu}.trigger.source.limiti = {num(current_limit_a)}",
            f"{smu}.trigger.measure.action = {smu}.ENABLE",
            f"{smu}.trigger.measure.iv({smu}.nvbuffer1, {smu}.nvbuffer2)",
            f"{smu}.nvbuffer1.clear()", f"{smu}.nvbuffer2.clear()",
            f"{smu}.nvbuffer1.collectsourcevalues = 1",
            f"{smu}.nvbuffer1.collecttimestamps = 1",
            f"{smu}.trigger.count = {values.size}", f"{smu}.trigger.arm.count = 1",
            f"{smu}.trigger.source.action = {smu}.ENABLE"]


def _pulse_channel_setup(smu: str, values: np.ndarray, limit_a: float, base_v: float,
                         nplc: float, range_a: float) -> list[str]:
    """One SMU of a synchronous pulsed sweep: fixed ranges (source: the largest level;
    measure: the larger of the pulse and the DC limit, so neither exceeds it [verify]),
    autozero once, no measure delay (timer 2 places the measurement), the base as idle
    level, timers 1/2/3 as source/measure/end-pulse stimuli."""
    top = max(abs(base_v), float(np.max(np.abs(values))))
    return [f"{smu}.source.autorangev = {smu}.AUTORANGE_OFF",
            f"{smu}.source.rangev = {num(top)}",
            f"{smu}.measure.autorangei = {smu}.AUTORANGE_OFF",
            f"{smu}.measure.rangei = {num(range_a)}",
            f"{smu}.measure.autozero = {smu}.AUTOZERO_ONCE",
            f"{smu}.measure.nplc = {num(nplc)}", f"{smu}.measure.delay = 0",
            f"{smu}.source.levelv = {num(base_v)}",
            *_trigger_sweep(smu, values, limit_a),
            f"{smu}.trigger.arm.stimulus = 0",
            f"{smu}.trigger.source.stimulus = trigger.timer[1].EVENT_ID",
            f"{smu}.trigger.measure.stimulus = trigger.timer[2].EVENT_ID",
            f"{smu}.trigger.endpulse.stimulus = trigger.timer[3].EVENT_ID",
            f"{smu}.trigger.endpulse.action = {smu}.SOURCE_IDLE",
            f"{smu}.trigger.endsweep.action = {smu}.SOURCE_IDLE"]


def _result(values: np.ndarray, data: np.ndarray) -> SmuSweepResult:
    """A sweep result from `_read_sweep` rows; times from the first point."""
    return SmuSweepResult(
        source_values=values, voltage_v=data[:, 1], current_a=data[:, 0],
        time_s=data[:, 3] - data[0, 3],
        in_compliance=(data[:, 4].astype(int) & STATUS_COMPLIANCE) != 0)
