"""pytest plugin (entry point `pytest11`): test your plans against the simulated bench.

Fixtures:
- `benchbot_bench_file`: path of the bench file to simulate (override it in your conftest to
  use your own bench with a `simulation` block; default: the built-in simulated bench).
- `simulated_bench`: the bench served on loopback for one test → `SimulatedBenchHandle` with
  `.definition` (resources filled in), `.state` (the simulators' virtual bench, to assert on
  RF/DC state and DUT damage) and `.resources`.
- `run_plan`: callable `run_plan(path_or_plan, results_dir=None) -> RunOutcome` running a plan
  on that simulated bench.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchbot import simbench
from benchbot.bench import BenchDefinition, builtin_bench_path, load_bench
from simulators import SimulatedBench


@dataclass
class SimulatedBenchHandle:
    definition: BenchDefinition
    bench_text: str
    simulated: SimulatedBench

    @property
    def state(self) -> Any:
        return self.simulated.bench

    @property
    def servers(self) -> dict[str, Any]:
        return self.simulated.servers

    @property
    def resources(self) -> dict[str, str]:
        return self.simulated.resources


@pytest.fixture
def benchbot_bench_file() -> Path:
    return Path(builtin_bench_path())


@pytest.fixture
def simulated_bench(benchbot_bench_file: Path) -> Iterator[SimulatedBenchHandle]:
    bench = load_bench(benchbot_bench_file)
    text = Path(benchbot_bench_file).read_text(encoding="utf-8")
    with simbench.running(bench) as (served, simulated):
        yield SimulatedBenchHandle(served, text, simulated)


@pytest.fixture
def run_plan(
    simulated_bench: SimulatedBenchHandle, tmp_path: Path
) -> Callable[..., Any]:
    from benchbot.plan import load_plan
    from benchbot.runner import RunRequest, run

    def _run(plan_path: Path | str, results_dir: Path | None = None, listener: Any = None):
        plan_path = Path(plan_path)
        request = RunRequest(
            plan=load_plan(plan_path), plan_text=plan_path.read_text(encoding="utf-8"),
            bench=simulated_bench.definition, bench_text=simulated_bench.bench_text,
            results_dir=results_dir or tmp_path, simulated=True,
            simulator_seed=(simulated_bench.definition.simulation or {}).get("seed"),
        )
        return run(request, listener)

    return _run
