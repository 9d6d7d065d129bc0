"""Run benchbot's benchmarks and print one table of ratios against same-run baselines.

    python benchmarks/run.py            # full (about 15 s)
    python benchmarks/run.py --quick    # smoke run (a few seconds; figures are rough)
    python benchmarks/run.py --only trace_fetch --json results.json
    python benchmarks/run.py --only trace_fetch --profile 20   # + cProfile, top 20 by own time

Exit status 0 whatever the figures are: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from benchmarks import (
    n78_plan,
    nr_analysis,
    plan_walltime,
    query_overhead,
    s_matrix_fetch,
    service_load,
    trace_fetch,
)
from benchmarks._harness import Row

BENCHMARKS: dict[str, ModuleType] = {
    "query_overhead": query_overhead,
    "plan_walltime": plan_walltime,
    "trace_fetch": trace_fetch,
    "nr_analysis": nr_analysis,
    "n78_plan": n78_plan,
    "s_matrix_fetch": s_matrix_fetch,
    "service_load": service_load,
}


def run_all(
    names: list[str],
    quick: bool,
    progress: Callable[[str], None] | None = None,
    profiles: dict[str, cProfile.Profile] | None = None,
) -> dict[str, dict[str, float]]:
    """Run the named benchmarks in order; returns {name: result dict}.

    With `profiles` (a dict to fill), each benchmark runs under cProfile (this thread only:
    the simulators' server threads are not profiled) and its profile is stored by name.
    Profiling slows Python code several-fold, so the figures of a profiled run are not valid.
    """
    results: dict[str, dict[str, float]] = {}
    for name in names:
        if progress is not None:
            progress(name)
        profiler = cProfile.Profile() if profiles is not None else None
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            results[name] = BENCHMARKS[name].measure(quick=quick)
        finally:
            if profiler is not None:
                profiler.disable()
                profiles[name] = profiler  # type: ignore[index]
        results[name]["elapsed_s"] = time.perf_counter() - start
    return results


def profile_text(profiler: cProfile.Profile, top: int) -> str:
    """The `top` functions by own time, then by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def table(results: dict[str, dict[str, float]], quick: bool) -> Table:
    """The rich table: benchmark, measured, baseline, ratio, target, met."""
    title = "benchbot benchmarks" + (" (--quick: rough figures)" if quick else "")
    out = Table(title=title, header_style="bold", show_lines=False)
    for column, justify in (("benchmark", "left"), ("measured", "right"), ("baseline", "right"),
                            ("ratio", "right"), ("target", "center"), ("met", "center")):
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, result in results.items():
        row: Row
        for row in BENCHMARKS[name].rows(result):
            ratio = "—" if row.ratio is None else _ratio_text(row.ratio, row.percent)
            met = "—" if row.met is None else ("[green]yes[/]" if row.met else "[red]no[/]")
            out.add_row(row.benchmark, row.measured, row.baseline, ratio, row.target, met)
    return out


def _ratio_text(ratio: float, percent: bool) -> str:
    if not math.isfinite(ratio):
        return str(ratio)
    return f"{ratio:.1%}" if percent else f"{ratio:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few repetitions")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS),
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the raw result dicts here")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="run under cProfile and print the top N functions (figures invalid)")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    names = args.only or list(BENCHMARKS)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    console.print(f"Python {platform.python_version()} · {platform.machine()} · {cpus} CPU(s)"
                  f" · {platform.platform(terse=True)}")
    profiles: dict[str, cProfile.Profile] | None = {} if args.profile else None
    with console.status("") as status:
        results = run_all(names, args.quick,
                          lambda name: status.update(f"running {name} …"), profiles)
    if profiles:
        for name, profiler in profiles.items():
            console.rule(f"cProfile: {name} (main thread)")
            console.out(profile_text(profiler, args.profile), highlight=False)
    console.print(table(results, args.quick))
    if profiles:
        console.print("[yellow]profiled run: the figures above include cProfile overhead[/]")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        console.print(f"raw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
