"""The GaN HEMT bias safety kernel: the only way a measurement may touch the device's supplies.

Reference §2.6 implemented as interlocks (a D-mode HEMT conducts Idss at Vgs = 0 V: drain
voltage without a pinched-off gate destroys it in microseconds):

- every point is checked against the SOA (:mod:`benchbot.plan_bias`) *before* anything is
  sent, and refused with :class:`SoaViolation` naming it;
- both compliances are programmed before any output goes on;
- power-up: gate to pinch-off, gate on, settle, Vgs and Ig read back and checked; drain on at
  0 V, ramped to Vds; only then the gate up to its target, in checked steps;
- changes: the move that lowers the dissipation goes first (gate down before drain up, drain
  down before gate up); drain changes ramped; after every change the drain is read back
  (compliance trip, measured Pdiss and Tj = Tbase + Rth·P against the SOA: a fault powers the
  device down and raises :class:`BiasFault`);
- power-down (:func:`power_down_sequence`): drain ramped to 0 V, Id ≈ 0 confirmed, drain off,
  gate to pinch-off, 0 V, gate off; every step attempted even if an earlier one failed, and
  the gate is released only once the drain is confirmed off (otherwise it is held at
  pinch-off: the safe state of a D-mode device with unknown drain);
- leaving the ``with`` block for any reason (exception, Ctrl-C, normal end) powers down, and
  Ctrl-C during the power-down is deferred until it is finished;
- a :class:`benchbot.watchdog.Watchdog` process powers down with its own sessions if this
  process dies.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchbot.plan_bias import BiasPoint, BiasTerminals, TransistorSOA, soa_violations
from benchbot.watchdog import SmuEndpoint, Watchdog, WatchdogSpec
from instruments.interfaces import SmuReading, SourceMeter

_log = logging.getLogger(__name__)

#: a read-back Vgs may sit this far above the programmed pinch-off level (resolution, noise)
PINCH_OFF_TOLERANCE_V = 0.05
#: |Id| below this share of the drain compliance (or 1 µA) counts as "no drain current"
IDLE_CURRENT_SHARE = 0.01

Log = Callable[[str], None]


class SoaViolation(ValueError):
    """A requested bias leaves the SOA; nothing was sent. ``.violations`` names the points."""

    def __init__(self, violations: list[str]) -> None:
        self.violations = list(violations)
        super().__init__("bias refused, outside the safe operating area: "
                         + " | ".join(self.violations))


class BiasFault(RuntimeError):
    """The device was brought to the safe state because of what it did (compliance trip,
    dissipation, gate not pinched off). ``.reading`` is the offending read-back, ``.report``
    the power-down that followed."""

    def __init__(self, message: str, reading: BiasReading | None = None,
                 report: PowerDownReport | None = None) -> None:
        self.reading, self.report = reading, report
        safe = "" if report is None else (
            "; bench safe" if report.safe else "; POWER-DOWN INCOMPLETE")
        super().__init__(message + safe)


@dataclass(frozen=True)
class BiasReading:
    """Gate and drain read back at one bias point, and what they imply thermally."""

    vgs_v: float
    vds_v: float
    ig_a: float
    id_a: float
    gate_in_compliance: bool
    drain_in_compliance: bool
    pdiss_w: float
    tj_c: float


@dataclass(frozen=True)
class BiasSweep:
    """A kernel sweep: one row per point reached (a compliance stop ends it early)."""

    vgs_v: np.ndarray
    vds_v: np.ndarray
    ig_a: np.ndarray
    id_a: np.ndarray
    gate_in_compliance: np.ndarray
    drain_in_compliance: np.ndarray
    stopped_by_compliance: bool

    @classmethod
    def from_readings(cls, readings: Sequence[BiasReading], stopped: bool) -> BiasSweep:
        def col(name: str, dtype: Any = float) -> np.ndarray:
            return np.array([getattr(r, name) for r in readings], dtype=dtype)
        return cls(col("vgs_v"), col("vds_v"), col("ig_a"), col("id_a"),
                   col("gate_in_compliance", bool), col("drain_in_compliance", bool), stopped)


@dataclass
class PowerDownReport:
    """Each power-down step attempted, in order: (step, ok, detail); ``safe`` when both
    outputs were confirmed off."""

    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    safe: bool = False

    def lines(self) -> list[str]:
        return [f"{'ok' if ok else 'FAILED'}: {name}{': ' + detail if detail else ''}"
                for name, ok, detail in self.steps]


def ramp_levels(start_v: float, stop_v: float, step_v: float) -> list[float]:
    """The levels a ramp from ``start_v`` visits to reach ``stop_v`` (excluding the start,
    including the stop), no step larger than ``step_v``."""
    span = stop_v - start_v
    if span == 0:
        return []
    n = max(1, math.ceil(abs(span) / step_v - 1e-9))
    return [start_v + span * k / n for k in range(1, n)] + [stop_v]


def _ramp(smu: SourceMeter, channel: int, start_v: float, stop_v: float, limit_a: float,
          step_v: float, rate_v_per_s: float, sleep: Callable[[float], None]) -> None:
    previous = start_v
    for level in ramp_levels(start_v, stop_v, step_v):
        smu.set_voltage_source(channel, level, limit_a)
        sleep(abs(level - previous) / rate_v_per_s)
        previous = level


def power_down_sequence(
    gate: SourceMeter | None, gate_channel: int, drain: SourceMeter | None,
    drain_channel: int, *, pinch_off_gate_voltage_v: float, gate_current_limit_a: float,
    drain_current_limit_a: float, ramp_rate_v_per_s: float, ramp_step_v: float,
    vds_hint_v: float | None = None, log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PowerDownReport:
    """The §2.6 power-down, shared by the kernel and the watchdog; never raises.

    Drain ramped to 0 V (from its read-back, else ``vds_hint_v``), Id ≈ 0 confirmed, drain
    output off (read back), gate to pinch-off, then, only if the drain is confirmed off, gate
    to 0 V and gate output off. A ``None`` instrument (unreachable) fails its steps."""
    report = PowerDownReport()
    say = log or _log.warning

    def step(name: str, action: Callable[[], str | bool | None]) -> bool:
        try:
            result = action()
            ok = result is not False
            detail = result if isinstance(result, str) else ""
        except BaseException as exc:  # noqa: BLE001 - every step is attempted regardless
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        report.steps.append((name, ok, detail))
        say(f"power-down {'ok' if ok else 'FAILED'}: {name}{': ' + detail if detail else ''}")
        return ok

    def need(smu: SourceMeter | None, what: str) -> SourceMeter:
        if smu is None:
            raise ConnectionError(f"{what} SMU not reachable")
        return smu

    def drain_ramp() -> str:
        d = need(drain, "drain")
        if not d.output_is_on(drain_channel):
            d.set_voltage_source(drain_channel, 0.0, drain_current_limit_a)
            return "drain output already off; level set to 0 V"
        # from the programmed level when known (the read-back carries noise and backs off
        # in compliance), else from the read-back
        start = vds_hint_v if vds_hint_v is not None else d.measure(drain_channel).voltage_v
        if not math.isfinite(start):
            start = 0.0
        try:
            _ramp(d, drain_channel, start, 0.0, drain_current_limit_a, ramp_step_v,
                  ramp_rate_v_per_s, sleep)
        except Exception:
            d.set_voltage_source(drain_channel, 0.0, drain_current_limit_a)  # straight to 0 V
            raise
        return f"from {start:.3g} V"

    def drain_idle() -> str | bool:
        d = need(drain, "drain")
        r = d.measure(drain_channel)
        idle = max(1e-6, IDLE_CURRENT_SHARE * drain_current_limit_a)
        text = f"Vds {r.voltage_v:.3g} V, Id {r.current_a:.3g} A"
        return text if abs(r.current_a) <= idle and abs(r.voltage_v) < 0.5 else False

    def drain_off() -> bool:
        d = need(drain, "drain")
        d.set_output(drain_channel, False)
        return not d.output_is_on(drain_channel)

    def gate_level(level_v: float) -> Callable[[], None]:
        def action() -> None:
            need(gate, "gate").set_voltage_source(gate_channel, level_v, gate_current_limit_a)
        return action

    def gate_off() -> bool:
        g = need(gate, "gate")
        g.set_output(gate_channel, False)
        return not g.output_is_on(gate_channel)

    step("drain ramp to 0 V", drain_ramp)
    step("drain current ≈ 0", drain_idle)
    drain_is_off = step("drain output off", drain_off)
    step("gate to pinch-off", gate_level(pinch_off_gate_voltage_v))
    if drain_is_off:
        step("gate to 0 V", gate_level(0.0))
        report.safe = step("gate output off", gate_off)
    else:
        report.steps.append(("gate held at pinch-off", False, "drain not confirmed off"))
        say("power-down: gate HELD at pinch-off, the drain is not confirmed off")
    return report


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the body runs (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def smu_endpoint(smu: SourceMeter, channel: int) -> SmuEndpoint:
    """How a second process reaches ``smu``: its session's resource and the registry name of
    its driver class (the one whose model suffix matches the identity)."""
    from instruments.registry import DRIVERS

    target = f"{type(smu).__module__}:{type(smu).__name__}"
    names = [name for name, path in DRIVERS.items() if path == target]
    if not names:
        raise LookupError(f"{target} is not in the driver registry")
    model = smu.identity.model.lower().replace(" ", "")
    name = next((n for n in names if n.split(".")[-1] in model), names[0])
    return SmuEndpoint(name, smu.session.resource, channel, smu.session.visa_library)


class BiasKernel:
    """Sequenced, SOA-checked control of one HEMT's gate and drain SMU channels.

    ``with BiasKernel(...) as k: k.power_up(-1.5, 10.0); ...`` powers down on leaving the
    block whatever happens. ``watchdog`` True: a watchdog process (endpoints from the drivers'
    sessions, or ``watchdog_endpoints`` (gate, drain)) is armed before the first output goes on.
    """

    def __init__(self, gate: SourceMeter, gate_channel: int, drain: SourceMeter,
                 drain_channel: int, soa: TransistorSOA, terminals: BiasTerminals,
                 log: Log | None = None, *, watchdog: bool = True,
                 watchdog_endpoints: tuple[SmuEndpoint, SmuEndpoint] | None = None,
                 watchdog_timeout_s: float = 2.0, watchdog_log_path: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if gate is drain and gate_channel == drain_channel:
            raise ValueError(f"gate and drain are the same SMU channel {gate_channel}")
        problems = soa_violations([], soa, terminals)
        if problems:
            raise SoaViolation(problems)
        self.gate, self.gate_channel = gate, gate_channel
        self.drain, self.drain_channel = drain, drain_channel
        self.soa, self.terminals = soa, terminals
        self._external_log = log
        self._sleep = sleep
        self.events: list[tuple[float, str]] = []
        self.vgs_v: float | None = None  # programmed bias; None = outputs off
        self.vds_v: float | None = None
        self.last_power_down: PowerDownReport | None = None
        self._use_watchdog = watchdog
        self._watchdog_endpoints = watchdog_endpoints
        self._watchdog_timeout_s = watchdog_timeout_s
        self._watchdog_log_path = watchdog_log_path
        self.watchdog: Watchdog | None = None

    # ------------------------------------------------------------------ plumbing
    def log(self, text: str) -> None:
        self.events.append((time.time(), text))
        (self._external_log or _log.info)(text)

    @property
    def biased(self) -> bool:
        return self.vgs_v is not None

    def check(self, points: Sequence[BiasPoint | tuple[float, ...]]) -> None:
        """Refuse (SoaViolation, nothing sent) unless every point is inside the SOA."""
        problems = soa_violations(points, self.soa, self.terminals)
        if problems:
            self.log("refused: " + " | ".join(problems))
            raise SoaViolation(problems)

    def read(self) -> BiasReading:
        """Gate and drain read back, with Pdiss and the steady-state Tj estimate."""
        g: SmuReading = self.gate.measure(self.gate_channel)
        d: SmuReading = self.drain.measure(self.drain_channel)
        p_w = abs(d.voltage_v * d.current_a) + abs(g.voltage_v * g.current_a)
        return BiasReading(g.voltage_v, d.voltage_v, g.current_a, d.current_a,
                           g.in_compliance, d.in_compliance, p_w,
                           self.soa.junction_temperature_c(p_w))

    def _fault(self, message: str, reading: BiasReading | None = None) -> BiasFault:
        self.log(f"FAULT: {message}")
        report = self.power_down()
        return BiasFault(message, reading, report)

    def _judge(self, r: BiasReading, compliance_is_fault: bool = True) -> None:
        """Measured drain against the SOA; a fault powers down and raises."""
        where = f"at Vgs {r.vgs_v:.3g} V, Vds {r.vds_v:.3g} V (Id {r.id_a:.4g} A)"
        if r.drain_in_compliance and compliance_is_fault:
            raise self._fault(f"drain compliance trip {where}", r)
        if abs(r.id_a) > self.soa.max_drain_current_a * (1 + 1e-6):
            raise self._fault(f"Id above the SOA {self.soa.max_drain_current_a:g} A {where}", r)
        if r.pdiss_w > self.soa.max_power_w * (1 + 1e-6):
            raise self._fault(f"Pdiss {r.pdiss_w:.3g} W > SOA {self.soa.max_power_w:g} W "
                              f"{where}", r)
        if r.tj_c > self.soa.max_junction_temperature_c:
            raise self._fault(f"estimated Tj {r.tj_c:.0f} °C > SOA "
                              f"{self.soa.max_junction_temperature_c:g} °C {where}", r)

    def _start_watchdog(self) -> None:
        if not self._use_watchdog or (self.watchdog is not None and self.watchdog.running):
            return
        gate_ep, drain_ep = self._watchdog_endpoints or (
            smu_endpoint(self.gate, self.gate_channel),
            smu_endpoint(self.drain, self.drain_channel))
        t = self.terminals
        self.watchdog = Watchdog(WatchdogSpec(
            gate_ep, drain_ep, self.soa.pinch_off_gate_voltage_v, t.gate_current_limit_a,
            t.drain_current_limit_a, t.ramp_rate_v_per_s, t.ramp_step_v,
            self._watchdog_timeout_s, self._watchdog_log_path))
        self.watchdog.start()
        self.log(f"watchdog armed (pid {self.watchdog.pid})")

    def _set_gate(self, vgs_v: float) -> None:
        self.gate.set_voltage_source(self.gate_channel, vgs_v,
                                     self.terminals.gate_current_limit_a)
        self.vgs_v = vgs_v
        if self.watchdog is not None:
            self.watchdog.update(self.vgs_v, self.vds_v)

    def _ramp_drain(self, vds_v: float) -> None:
        t = self.terminals
        start = 0.0 if self.vds_v is None else self.vds_v
        for level in ramp_levels(start, vds_v, t.ramp_step_v):
            self.drain.set_voltage_source(self.drain_channel, level, t.drain_current_limit_a)
            self.vds_v = level
            if self.watchdog is not None:
                self.watchdog.update(self.vgs_v, level)
            self._sleep(abs(level - start) / t.ramp_rate_v_per_s)
            start = level

    def _gate_to(self, vgs_v: float) -> None:
        """Gate down in one step; up in steps of ``gate_step_v``, each settled and the drain
        judged before the next (the caller judges the final point)."""
        assert self.vgs_v is not None
        if vgs_v <= self.vgs_v:
            self._set_gate(vgs_v)
            self._sleep(self.terminals.settle_s)
            return
        levels = ramp_levels(self.vgs_v, vgs_v, self.terminals.gate_step_v)
        for level in levels:
            self._set_gate(level)
            self._sleep(self.terminals.settle_s)
            if level != levels[-1]:
                self._judge(self.read())

    # ------------------------------------------------------------------ sequences
    def power_up(self, vgs_v: float, vds_v: float) -> BiasReading:
        """§2.6 power-up to (vgs, vds); returns the read-back at the target."""
        self.check([(vgs_v, vds_v)])
        if self.biased:
            return self.set_point(vgs_v, vds_v)
        t, pinch_v = self.terminals, self.soa.pinch_off_gate_voltage_v
        if (self.drain.output_is_on(self.drain_channel)
                or self.gate.output_is_on(self.gate_channel)):
            self.log("an output was already on: powering down before power-up")
            if not self.power_down().safe:
                raise BiasFault("could not reach the safe state before power-up")
        self._start_watchdog()
        try:
            self.log(f"power-up to Vgs {vgs_v:g} V, Vds {vds_v:g} V")
            # compliances with the levels, both before any output is on
            self.gate.set_voltage_source(self.gate_channel, pinch_v, t.gate_current_limit_a)
            self.drain.set_voltage_source(self.drain_channel, 0.0, t.drain_current_limit_a)
            self.vgs_v, self.vds_v = pinch_v, None
            self.gate.set_output(self.gate_channel, True)
            self._sleep(t.settle_s)
            g = self.gate.measure(self.gate_channel)
            if (g.in_compliance or g.voltage_v > pinch_v + PINCH_OFF_TOLERANCE_V
                    or abs(g.current_a) > self.soa.max_gate_current_a):
                raise self._fault(f"gate not pinched off: Vgs {g.voltage_v:.3g} V, Ig "
                                  f"{g.current_a:.3g} A, compliance {g.in_compliance}")
            self.log(f"gate pinched off: Vgs {g.voltage_v:.3g} V, Ig {g.current_a:.3g} A")
            self.drain.set_output(self.drain_channel, True)
            self.vds_v = 0.0
            self._ramp_drain(vds_v)
            self._judge(self.read())
            self._gate_to(vgs_v)
            reading = self.read()
            self._judge(reading)
        except (BiasFault, SoaViolation):
            raise
        except BaseException:
            self.log("power-up interrupted: powering down")
            self.power_down()
            raise
        self.log(f"biased: Vgs {reading.vgs_v:.4g} V, Vds {reading.vds_v:.4g} V, "
                 f"Id {reading.id_a:.4g} A, Pdiss {reading.pdiss_w:.3g} W, "
                 f"Tj ≈ {reading.tj_c:.0f} °C")
        return reading

    def _move(self, vgs_v: float, vds_v: float) -> None:
        """Lower-dissipation move first: gate down before drain up, drain before gate up."""
        assert self.vgs_v is not None
        if vgs_v < self.vgs_v:
            self._gate_to(vgs_v)
            self._ramp_drain(vds_v)
        else:
            self._ramp_drain(vds_v)
            self._gate_to(vgs_v)

    def set_point(self, vgs_v: float, vds_v: float) -> BiasReading:
        """SOA-check, then move to (vgs, vds) and judge the measured drain."""
        self.check([(vgs_v, vds_v)])
        if not self.biased:
            return self.power_up(vgs_v, vds_v)
        self._move(vgs_v, vds_v)
        reading = self.read()
        self._judge(reading)
        return reading

    def _sweep(self, points: list[tuple[float, float]], compliance_stops: bool) -> BiasSweep:
        self.check(points)
        readings: list[BiasReading] = []
        for vgs_v, vds_v in points:
            if not self.biased:
                self.power_up(vgs_v, vds_v)
            else:
                self._move(vgs_v, vds_v)
            r = self.read()
            readings.append(r)
            if r.drain_in_compliance and compliance_stops:
                self.log(f"compliance stop at Vgs {vgs_v:g} V, Vds {vds_v:g} V")
                self.power_down()
                return BiasSweep.from_readings(readings, True)
            self._judge(r)
        return BiasSweep.from_readings(readings, False)

    def sweep_drain(self, vgs_v: float, vds_values_v: Sequence[float],
                    compliance_stops: bool = False) -> BiasSweep:
        """Id-Vds at fixed Vgs, every point SOA-checked first. A drain compliance is a fault
        (power-down + BiasFault) unless ``compliance_stops`` (e.g. off-state breakdown: the
        compliance is the stop criterion): then the sweep ends there, powered down."""
        return self._sweep([(vgs_v, float(v)) for v in vds_values_v], compliance_stops)

    def sweep_gate(self, vds_v: float, vgs_values_v: Sequence[float],
                   compliance_stops: bool = False) -> BiasSweep:
        """Id-Vgs (transfer) at fixed Vds; as :meth:`sweep_drain`."""
        return self._sweep([(float(v), vds_v) for v in vgs_values_v], compliance_stops)

    def power_down(self) -> PowerDownReport:
        """§2.6 power-down (see :func:`power_down_sequence`); never raises, Ctrl-C deferred.
        A clean one stops the watchdog; an incomplete one hands over to it."""
        with _sigint_deferred():
            t = self.terminals
            self.log("power-down")
            report = power_down_sequence(
                self.gate, self.gate_channel, self.drain, self.drain_channel,
                pinch_off_gate_voltage_v=self.soa.pinch_off_gate_voltage_v,
                gate_current_limit_a=t.gate_current_limit_a,
                drain_current_limit_a=t.drain_current_limit_a,
                ramp_rate_v_per_s=t.ramp_rate_v_per_s, ramp_step_v=t.ramp_step_v,
                vds_hint_v=self.vds_v, log=self.log, sleep=self._sleep)
            self.last_power_down = report
            if report.safe:
                self.vgs_v = self.vds_v = None
            if self.watchdog is not None:
                with contextlib.suppress(Exception):
                    if report.safe:
                        self.watchdog.stop()
                    else:
                        self.log("handing over to the watchdog")
                        if self.watchdog.hand_over():
                            self.vgs_v = self.vds_v = None
                            report.safe = True
                            self.log("watchdog reports the bench safe")
                self.watchdog = None
            self.log(f"power-down {'complete: bench safe' if report.safe else 'INCOMPLETE'}")
            return report

    def __enter__(self) -> BiasKernel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        if exc_type is not None:
            self.log(f"{exc_type.__name__} inside the bias context: powering down")
        if exc_type is not None or self.biased or self.watchdog is not None:
            self.power_down()
