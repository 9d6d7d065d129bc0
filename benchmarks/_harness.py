"""Shared pieces of the benchmarks: interleaved timing, medians, table rows, the bench config.

Every figure is a ratio against a baseline measured in the same process and the same run, so
machine speed cancels out; absolute times are printed for context only.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import statistics
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_PLAN = ROOT / "test_plans" / "pa_power_sweep.yaml"


@dataclass(frozen=True)
class Row:
    """One line of the results table (`ratio = measured / baseline` unless stated)."""

    benchmark: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    percent: bool = False  # print the ratio as a percentage (a share)


def interleaved(
    variants: Mapping[str, Callable[[], object]], calls: int, repeats: int
) -> dict[str, list[float]]:
    """Time `calls` back-to-back calls of each variant, `repeats` times, in alternating order.

    The order flips every repetition (A B, B A, A B, ...) so slow drift (CPU frequency, other
    load) hits every variant alike. One untimed warm-up block per variant comes first, and the
    garbage collector is run (not disabled) before each block. Returns seconds per call for
    each block, in repetition order.
    """
    names = list(variants)
    for name in names:
        _block(variants[name], max(1, calls // 4))
    out: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        for name in names if rep % 2 == 0 else reversed(names):
            gc.collect()
            out[name].append(_block(variants[name], calls) / calls)
    return out


def _block(fn: Callable[[], object], calls: int) -> float:
    start = perf_counter_ns()
    for _ in range(calls):
        fn()
    return (perf_counter_ns() - start) * 1e-9


def paired_ratio(measured: list[float], baseline: list[float]) -> float:
    """Median of the per-repetition ratios (each pair ran back to back, so drift cancels)."""
    return statistics.median(m / b for m, b in zip(measured, baseline, strict=True))


def median(values: list[float]) -> float:
    return statistics.median(values)


def all_finite_positive(result: Mapping[str, Any]) -> bool:
    """True if every number in `result` is finite and > 0 (what the smoke test checks)."""
    numbers = [v for v in result.values() if isinstance(v, int | float)]
    return bool(numbers) and all(math.isfinite(v) and v > 0 for v in numbers)


@contextlib.contextmanager
def one_cpu() -> Iterator[int | None]:
    """Pin this thread, and every thread it starts meanwhile, to one CPU; restore on exit.

    The simulators serve from threads of this process. Left free, the client and server threads
    hop between CPUs and a loopback round trip is sometimes ~28 µs, sometimes ~70 µs for whole
    stretches of blocks (cross-CPU wake-ups on a 2-vCPU VM), which swamps a few-% difference.
    On one CPU the hand-off is the same for both clients. Yields the CPU (None where
    `os.sched_setaffinity` does not exist).
    """
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def bench_config(time_scale: float | None = None) -> dict[str, Any]:
    """The simulators' config of the built-in bench (`benchbot/benches/simulated.yaml`).

    `time_scale=0.0` makes simulated operations (sweeps, readings) instantaneous, so only
    software is timed.
    """
    from benchbot.bench import builtin_bench_path, load_bench
    from benchbot.simbench import simulation_config

    config = simulation_config(load_bench(builtin_bench_path()))
    if time_scale is not None:
        config["time_scale"] = time_scale
    return config
