"""Pulses of several SMU channels in step, shared by the two-channel SMU simulators.

A pulsed I-V system moves gate and drain together: every channel of the group leaves its base
(the quiescent point Q) for its k-th level at the same instant and returns at the same instant.
The operating point inside the pulse comes from `hemt_bench.pulse_all` with the other channels
given as `synchronous`, so Q (all bases) sets the traps and the temperature (reference §2.3).
An aperture that reaches outside the pulse reads the base for that share of its time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from simulators import hemt_bench
from simulators.hemt_bench import TerminalReading

_OPEN = TerminalReading(0.0, 0.0, False)


def in_step_readings(bench: Any, role: str, levels: Mapping[int, tuple[float, float]],
                     width_s: float, period_s: float, *, continuing: bool = False
                     ) -> dict[int, TerminalReading]:
    """In-pulse readings of the channels of `role` in `levels` (channel → (base, top)), all
    pulsing together for `width_s` once per `period_s`; one call charges the device for one
    period (the pulse, then the base). `continuing`: a later point of a pulse train computed
    in one go, so the wall-clock time since the previous point is computing time, not time
    the device spent at Q (that was the previous period's base time, already charged)."""
    if continuing and getattr(bench, "hemt", None) is not None:
        with bench.lock:
            bench.hemt.bias_since_s = time.monotonic()
    first, *others = levels
    base, top = levels[first]
    readings = hemt_bench.pulse_all(bench, role, first, base, top, width_s, period_s,
                                    synchronous={(role, m): levels[m] for m in others})
    return {n: readings.get((role, n), _OPEN) for n in levels}


def share_inside(pulse_delay_s: float, width_s: float, sample_start_s: float,
                 aperture_s: float) -> float:
    """Share (0..1) of the aperture [start, start + aperture] (from the trigger) that lies
    inside the pulse [delay, delay + width]."""
    if aperture_s <= 0.0:
        return 1.0
    start = sample_start_s - pulse_delay_s
    inside = min(width_s, start + aperture_s) - max(0.0, start)
    return min(1.0, max(0.0, inside / aperture_s))


def blend(in_pulse: TerminalReading, at_base: TerminalReading, share: float
          ) -> TerminalReading:
    """What an aperture reads that spends `share` of its time inside the pulse: the
    time-average of the two levels; compliance as inside the pulse."""
    if share >= 1.0:
        return in_pulse
    rest = 1.0 - share
    return TerminalReading(share * in_pulse.voltage_v + rest * at_base.voltage_v,
                           share * in_pulse.current_a + rest * at_base.current_a,
                           in_pulse.in_compliance)
