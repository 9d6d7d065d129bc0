"""Step kind → measurement: how the engine runs a step without knowing what it measures.

A measurement is any object (usually a module) with

- ``declare(step, bench) -> (axes, datasets)``: what the step will write, in the record's
  terms (``{axis: (values, units)}``, ``{dataset: (dims, units, long_name)}``), before anything
  is measured;
- ``run(step, bench, ctx) -> list[MetricResult]``: acquire through ``bench``
  (:class:`~benchbot.measurements.base.BenchView`), write through ``ctx``
  (:class:`~benchbot.measurements.base.StepContext`), analyse and judge.

Every step kind of :data:`benchbot.plan.STEP_TYPES` is registered here.
"""

from __future__ import annotations

from typing import Any, Protocol

from benchbot.limits import MetricResult
from benchbot.measurements import (
    breakdown,
    harmonics,
    leakage,
    modulated_sweep,
    network_paths,
    noise_figure,
    output_family,
    power_sweep,
    pulsed_iv,
    s_parameters,
    transfer_curve,
    two_tone,
)
from benchbot.measurements.base import BenchView, StepContext


class Measurement(Protocol):
    """What the engine needs of a measurement (a module satisfies it)."""

    def declare(self, step: Any, bench: BenchView) -> tuple[dict, dict]: ...

    def run(self, step: Any, bench: BenchView, ctx: StepContext) -> list[MetricResult]: ...


_MEASUREMENTS: dict[str, Measurement] = {}


def register(kind: str, measurement: Measurement) -> None:
    """Make ``kind`` runnable by ``measurement``; registering another one for a kind is an error."""
    known = _MEASUREMENTS.get(kind)
    if known is not None and known is not measurement:
        raise ValueError(f"step kind {kind!r} already runs with {known!r}")
    for name in ("declare", "run"):
        if not callable(getattr(measurement, name, None)):
            raise TypeError(f"{measurement!r} has no {name}() and cannot run {kind!r} steps")
    _MEASUREMENTS[kind] = measurement


def measurement_for(kind: str) -> Measurement:
    """The measurement that runs ``kind`` steps (KeyError naming the known kinds)."""
    try:
        return _MEASUREMENTS[kind]
    except KeyError:
        raise KeyError(f"no measurement runs step kind {kind!r}; known kinds: "
                       f"{', '.join(sorted(_MEASUREMENTS))}") from None


def kinds() -> tuple[str, ...]:
    """Registered step kinds."""
    return tuple(_MEASUREMENTS)


register("power_sweep", power_sweep)
register("modulated_power_sweep", modulated_sweep)
register("harmonics", harmonics)
register("two_tone", two_tone)
register("s_parameters", s_parameters)
register("network_paths", network_paths)
register("noise_figure", noise_figure)
register("transfer_curve", transfer_curve)
register("output_family", output_family)
register("leakage", leakage)
register("off_state_breakdown", breakdown)
register("pulsed_iv", pulsed_iv)
