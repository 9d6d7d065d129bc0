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
  device down and raises :class:`BiasFault`; :meth:`BiasKernel.monitor`, used while RF is on,
  raises without powering down so that the RF step turns its source off first);
- sweeps: gate (transfer), drain (output, leakage; breakdown with its own compliance as the
  stop), pulsed I-V from a quiescent point (gate and drain pulsed in step on one SMU);
- power-down (:func:`benchbot.power_down.power_down_sequence`): drain ramped to 0 V, Id ≈ 0
  confirmed, drain off, gate to pinch-off, 0 V, gate off; every step attempted even if an
  earlier one failed, and the gate is released only once the drain is confirmed off
  (otherwise it is held at pinch-off: the safe state of a D-mode device with unknown drain);
- the drain may be a DC supply channel (:class:`instruments.supply_source.SupplyAsSourceMeter`:
  its constant-current mode is the drain compliance); the gate is always an SMU;
- leaving the ``with`` block for any reason (exception, Ctrl-C, normal end) powers down, and
  Ctrl-C during the power-down is deferred until it is finished;
- a :class:`benchbot.watchdog.Watchdog` process powers down with its own sessions if this
  process dies.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbot.plan_bias import (
    BiasPoint,
    BiasTerminals,
    TransistorSOA,
    describe_point,
    soa_violations,
)
from benchbot.power_down import (
    Log,
    PowerDownReport,
    power_down_sequence,
    ramp_levels,
    sigint_deferred,
)
from benchbot.watchdog import SmuEndpoint, Watchdog, WatchdogSpec
from instruments.interfaces import SmuReading, SmuSweepResult, SourceMeter
from instruments.supply_source import SupplyAsSourceMeter

_log = logging.getLogger(__name__)

#: a read-back Vgs may sit this far above the programmed pinch-off level (resolution, noise)
PINCH_OFF_TOLERANCE_V = 0.05
#: called with (index, reading) for every point of a kernel sweep
PointCallback = Callable[[int, "BiasReading"], None]


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


@dataclass(frozen=True)
class PulsedSweep:
    """A kernel pulsed I-V sweep: the in-pulse gate and drain results and Q read after."""

    gate: SmuSweepResult
    drain: SmuSweepResult
    at_quiescent: BiasReading


def smu_endpoint(smu: SourceMeter, channel: int) -> SmuEndpoint:
    """How a second process reaches ``smu``: its session's resource and the registry name of
    its driver class (the one whose model suffix matches the identity). A DC supply driving the
    drain through :class:`SupplyAsSourceMeter` is named by its supply driver (the watchdog
    wraps its own session of it again)."""
    from instruments.registry import DRIVERS

    instrument = smu.supply if isinstance(smu, SupplyAsSourceMeter) else smu
    target = f"{type(instrument).__module__}:{type(instrument).__name__}"
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
        #: the drain compliance in force (a breakdown sweep lowers it for its duration)
        self.drain_current_limit_a = terminals.drain_current_limit_a
        self._off_state_test = False  # inside a breakdown sweep
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
        """Refuse (SoaViolation, nothing sent) unless every point is inside the SOA and every
        DC level with its limit is within what the gate and drain instruments can source."""
        problems = soa_violations(points, self.soa, self.terminals)
        problems += self._range_problems(points)
        if problems:
            self.log("refused: " + " | ".join(problems))
            raise SoaViolation(problems)

    def _point(self, vgs_v: float, vds_v: float) -> BiasPoint:
        """A DC point under the drain compliance in force."""
        return BiasPoint(vgs_v, vds_v, drain_current_limit_a=self.drain_current_limit_a)

    def _range_problems(self, points: Sequence[BiasPoint | tuple[float, ...]]) -> list[str]:
        """One message per terminal whose (level, limit) some DC point or pulse base puts
        outside its instrument's DC ranges (in-pulse levels: the instrument's pulse ranges,
        checked by its driver), the first offending point named."""
        problems: list[str] = []
        for name, smu, channel in (("gate", self.gate, self.gate_channel),
                                   ("drain", self.drain, self.drain_channel)):
            for index, raw in enumerate(points):
                p = raw if isinstance(raw, BiasPoint) else BiasPoint(*raw)
                pulsed = p.pulse_width_s is not None
                vgs, vds = (p.base_vgs_v, p.base_vds_v) if pulsed else (p.vgs_v, p.vds_v)
                level = vgs if name == "gate" else vds
                limit = (self.terminals.gate_current_limit_a if name == "gate"
                         else p.drain_current_limit_a or self.terminals.drain_current_limit_a)
                capable = smu.max_current_limit_a(channel, level)
                if limit > capable * (1 + 1e-9):
                    problems.append(
                        f"point {index} {describe_point(p)}: {name} limit {limit:g} A at "
                        f"{level:g} V is beyond {smu.identity.model} channel {channel} "
                        f"({capable:g} A there)")
                    break
        return problems

    def read(self) -> BiasReading:
        """Gate and drain read back, with Pdiss and the steady-state Tj estimate."""
        g: SmuReading = self.gate.measure(self.gate_channel)
        d: SmuReading = self.drain.measure(self.drain_channel)
        p_w = abs(d.voltage_v * d.current_a) + abs(g.voltage_v * g.current_a)
        return BiasReading(g.voltage_v, d.voltage_v, g.current_a, d.current_a,
                           g.in_compliance, d.in_compliance, p_w,
                           self.soa.junction_temperature_c(p_w))

    def _fault(self, message: str, reading: BiasReading | None = None,
               power_down: bool = True) -> BiasFault:
        self.log(f"FAULT: {message}")
        report = self.power_down() if power_down else None
        return BiasFault(message, reading, report)

    def monitor(self) -> BiasReading:
        """Read gate and drain during an RF step and judge them against the SOA; a fault
        raises :class:`BiasFault` *without* powering down: the RF step turns its source off
        first and the engine then powers down (RF off before bias off, §2.6)."""
        reading = self.read()
        self._judge(reading, power_down=False)
        return reading

    def _judge(self, r: BiasReading, compliance_is_fault: bool = True,
               power_down: bool = True) -> None:
        """Measured drain against the SOA; a fault powers down (unless ``power_down`` is
        False) and raises."""
        where = f"at Vgs {r.vgs_v:.3g} V, Vds {r.vds_v:.3g} V (Id {r.id_a:.4g} A)"
        if r.drain_in_compliance and compliance_is_fault:
            raise self._fault(f"drain compliance trip {where}", r, power_down)
        cap = self.soa.max_off_state_drain_current_a
        if (cap is not None and not self._off_state_test
                and r.vgs_v <= self.soa.pinch_off_gate_voltage_v + 1e-6 and abs(r.id_a) > cap):
            raise self._fault(f"Id {r.id_a:.3g} A with the gate pinched off > SOA "
                              f"max_off_state_drain_current_a {cap:g} A {where}", r, power_down)
        if abs(r.id_a) > self.soa.max_drain_current_a * (1 + 1e-6):
            raise self._fault(f"Id above the SOA {self.soa.max_drain_current_a:g} A {where}", r,
                              power_down)
        if r.pdiss_w > self.soa.max_power_w * (1 + 1e-6):
            raise self._fault(f"Pdiss {r.pdiss_w:.3g} W > SOA {self.soa.max_power_w:g} W "
                              f"{where}", r, power_down)
        if r.tj_c > self.soa.max_junction_temperature_c:
            raise self._fault(f"estimated Tj {r.tj_c:.0f} °C > SOA "
                              f"{self.soa.max_junction_temperature_c:g} °C {where}", r, power_down)

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
            self.drain.set_voltage_source(self.drain_channel, level, self.drain_current_limit_a)
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
        self.check([self._point(vgs_v, vds_v)])
        return self._power_up_checked(vgs_v, vds_v)

    def _power_up_checked(self, vgs_v: float, vds_v: float) -> BiasReading:
        """:meth:`power_up` after the caller's SOA check (a sweep checks all its points)."""
        if self.biased:
            return self.set_point(vgs_v, vds_v)
        t, pinch_v = self.terminals, self.soa.pinch_off_gate_voltage_v
        if (self.drain.output_is_on(self.drain_channel)
                or self.gate.output_is_on(self.gate_channel)):
            self.log("an output was already on: powering down before power-up")
            limit_a = self.drain_current_limit_a  # this sweep's compliance: a safe power-down
            if not self.power_down().safe:       # restores the plan's, which must not stay
                raise BiasFault("could not reach the safe state before power-up")
            self.drain_current_limit_a = limit_a
        self._start_watchdog()
        try:
            self.log(f"power-up to Vgs {vgs_v:g} V, Vds {vds_v:g} V")
            # compliances with the levels, both before any output is on
            self.gate.set_voltage_source(self.gate_channel, pinch_v, t.gate_current_limit_a)
            self.drain.set_voltage_source(self.drain_channel, 0.0, self.drain_current_limit_a)
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
        self.check([self._point(vgs_v, vds_v)])
        if not self.biased:
            return self.power_up(vgs_v, vds_v)
        self._move(vgs_v, vds_v)
        reading = self.read()
        self._judge(reading)
        return reading

    def _use_drain_limit(self, limit_a: float | None) -> None:
        """Put ``limit_a`` (None: the terminals') in force; a change while biased powers down
        first, so a compliance is never changed under a conducting channel."""
        wanted = self.terminals.drain_current_limit_a if limit_a is None else limit_a
        if wanted == self.drain_current_limit_a:
            return
        if self.biased:
            self.log(f"drain compliance {self.drain_current_limit_a:g} A -> {wanted:g} A: "
                     "powering down first")
            if not self.power_down().safe:
                raise BiasFault("could not reach the safe state to change the compliance")
        self.drain_current_limit_a = wanted

    def _sweep(self, points: list[tuple[float, float]], compliance_stops: bool,
               drain_current_limit_a: float | None = None, off_state_test: bool = False,
               on_point: PointCallback | None = None) -> BiasSweep:
        self.check([BiasPoint(vgs, vds, drain_current_limit_a=drain_current_limit_a,
                              off_state_test=off_state_test) for vgs, vds in points])
        self._use_drain_limit(drain_current_limit_a)
        self._off_state_test = off_state_test  # its compliance, not the off-state cap, bounds Id
        try:
            return self._sweep_points(points, compliance_stops, off_state_test, on_point)
        finally:
            self._off_state_test = False

    def _sweep_points(self, points: list[tuple[float, float]], compliance_stops: bool,
                      off_state_test: bool, on_point: PointCallback | None) -> BiasSweep:
        readings: list[BiasReading] = []
        for vgs_v, vds_v in points:
            if not self.biased:
                self._power_up_checked(vgs_v, vds_v)
            else:
                self._move(vgs_v, vds_v)
            r = self.read()
            readings.append(r)
            if on_point is not None:  # stored (and an abort checked) before it is judged
                on_point(len(readings) - 1, r)
            if r.drain_in_compliance and compliance_stops:
                self.log(f"compliance stop at Vgs {vgs_v:g} V, Vds {vds_v:g} V")
                self.power_down()
                return BiasSweep.from_readings(readings, True)
            self._judge(r)
        if off_state_test:  # never leave the bench at a breakdown-test voltage
            self.power_down()
        return BiasSweep.from_readings(readings, False)

    def sweep_drain(self, vgs_v: float, vds_values_v: Sequence[float],
                    compliance_stops: bool = False, drain_current_limit_a: float | None = None,
                    off_state_test: bool = False, on_point: PointCallback | None = None
                    ) -> BiasSweep:
        """Id-Vds at fixed Vgs, every point SOA-checked first. A drain compliance is a fault
        (power-down + BiasFault) unless ``compliance_stops`` (e.g. off-state breakdown: the
        compliance is the stop criterion): then the sweep ends there, powered down.
        ``drain_current_limit_a`` is this sweep's compliance; ``off_state_test`` checks the
        points as a breakdown sweep (SOA breakdown-test bounds) and powers down at the end.
        ``on_point(k, reading)`` gets every point as it is read, before it is judged."""
        return self._sweep([(vgs_v, float(v)) for v in vds_values_v], compliance_stops,
                           drain_current_limit_a, off_state_test, on_point)

    def sweep_gate(self, vds_v: float, vgs_values_v: Sequence[float],
                   compliance_stops: bool = False, on_point: PointCallback | None = None,
                   drain_current_limit_a: float | None = None) -> BiasSweep:
        """Id-Vgs (transfer) at fixed Vds; as :meth:`sweep_drain`."""
        return self._sweep([(float(v), vds_v) for v in vgs_values_v], compliance_stops,
                           drain_current_limit_a, on_point=on_point)

    def pulsed_sweep(self, quiescent: tuple[float, float], points: Sequence[tuple[float, float]],
                     pulse_width_s: float, pulse_period_s: float,
                     aperture_s: float | None = None,
                     drain_current_limit_a: float | None = None) -> PulsedSweep:
        """Pulsed I-V from the quiescent point Q = (Vgs,Q, Vds,Q) (reference §2.3): every
        pulse and Q itself SOA-checked first, the device biased at Q by the DC sequence, then
        gate and drain pulsed in step to each (Vgs, Vds) and back to Q; Q is judged after.
        Gate and drain must be two channels of one SMU (one trigger system)."""
        if self.gate is not self.drain:
            raise ValueError("pulsed I-V needs gate and drain on two channels of one SMU")
        q_vgs, q_vds = quiescent
        limit = drain_current_limit_a
        self.check([BiasPoint(q_vgs, q_vds, drain_current_limit_a=limit)] + [
            BiasPoint(vgs, vds, pulse_width_s, pulse_period_s, limit, base_vgs_v=q_vgs,
                      base_vds_v=q_vds) for vgs, vds in points])
        self._use_drain_limit(limit)
        self.set_point(q_vgs, q_vds)
        t = self.terminals
        gate_v = np.array([p[0] for p in points], float)
        drain_v = np.array([p[1] for p in points], float)
        self.log(f"pulsed I-V from Q ({q_vgs:g} V, {q_vds:g} V): {len(points)} pulses of "
                 f"{pulse_width_s:g} s every {pulse_period_s:g} s")
        gate, drain = self.drain.pulsed_iv_sweep(
            self.gate_channel, self.drain_channel, gate_v, drain_v, gate_base_v=q_vgs,
            drain_base_v=q_vds, gate_current_limit_a=t.gate_current_limit_a,
            drain_current_limit_a=self.drain_current_limit_a, pulse_width_s=pulse_width_s,
            pulse_period_s=pulse_period_s, aperture_s=aperture_s)
        at_q = self.read()
        self._judge(at_q)
        return PulsedSweep(gate, drain, at_q)

    def power_down(self) -> PowerDownReport:
        """§2.6 power-down (see :func:`power_down_sequence`); never raises, Ctrl-C deferred.
        A clean one stops the watchdog; an incomplete one hands over to it."""
        with sigint_deferred():
            t = self.terminals
            self.log("power-down")
            report = power_down_sequence(
                self.gate, self.gate_channel, self.drain, self.drain_channel,
                pinch_off_gate_voltage_v=self.soa.pinch_off_gate_voltage_v,
                gate_current_limit_a=t.gate_current_limit_a,
                drain_current_limit_a=self.drain_current_limit_a,
                ramp_rate_v_per_s=t.ramp_rate_v_per_s, ramp_step_v=t.ramp_step_v,
                vds_hint_v=self.vds_v, log=self.log, sleep=self._sleep)
            self.last_power_down = report
            if report.safe:
                self.vgs_v = self.vds_v = None
                self.drain_current_limit_a = t.drain_current_limit_a
            if self.watchdog is not None:
                with contextlib.suppress(Exception):
                    if report.safe:
                        self.watchdog.stop()
                    else:
                        self.log("handing over to the watchdog")
                        if self.watchdog.hand_over():
                            self.vgs_v = self.vds_v = None
                            report.safe = report.by_watchdog = True
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
