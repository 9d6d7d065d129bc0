"""The §2.6 power-down of a GaN HEMT's gate and drain SMU channels, shared by the bias kernel
(:mod:`benchbot.bias`) and its watchdog process (:mod:`benchbot.watchdog`): drain ramped to 0 V,
Id ≈ 0 confirmed, drain off, gate to pinch-off, and only then gate to 0 V and off; every step
attempted even if an earlier one failed (reference §2.6)."""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from instruments.interfaces import SourceMeter

_log = logging.getLogger(__name__)

#: |Id| below this share of the drain compliance (or 1 µA) counts as "no drain current"
IDLE_CURRENT_SHARE = 0.01

Log = Callable[[str], None]


@dataclass
class PowerDownReport:
    """Each power-down step attempted, in order: (step, ok, detail); ``safe`` when both
    outputs were confirmed off, ``by_watchdog`` when the watchdog's own sessions did it (this
    process's failed)."""

    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    safe: bool = False
    by_watchdog: bool = False

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


def ramp(smu: SourceMeter, channel: int, start_v: float, stop_v: float, limit_a: float,
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
            ramp(d, drain_channel, start, 0.0, drain_current_limit_a, ramp_step_v,
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
def sigint_deferred() -> Iterator[None]:
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
