"""(b) The demo plan on the built-in simulated bench: wall time, HDF5 share, simulator share.

The plan (`test_plans/pa_power_sweep.yaml`; `--quick`: 3 dB instead of 0.5 dB steps) runs through
`benchbot.runner.run` on the bench served by `benchbot.simbench.running`, records to a temporary
directory. Timed: `runner.run` from call to return (connect, engine, safe state, traffic log,
record close). Measured against that wall time in the same run:

- HDF5 writer: the run record's cumulative `RunRecord.time_spent_s` (every public writer call,
  step writers included, from `create` to `close`). `runner.run` does not hand the record out,
  so `benchbot.runner.RunRecord` is replaced, for the duration of the call only, by a subclass
  whose `create` remembers the instance;
- simulators: each simulated device's `process` (one SCPI program message) is wrapped while the
  bench is up; summed thread CPU time of the server threads inside it (`time.thread_time`) and
  summed wall time inside it, which also includes the simulated sweep/reading/settling waits
  (`time_scale` 0.02 of the instruments' real times).

Medians over the repetitions.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from benchmarks._harness import DEMO_PLAN, Row, median

HDF5_TARGET = 0.03


class _DeviceClock:
    """Wraps `ScpiDevice.process` on each simulated device: summed wall and thread-CPU time."""

    def __init__(self, devices: dict[str, Any]) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.messages = 0
        self._lock = threading.Lock()
        for device in devices.values():
            device.process = self._wrap(device.process)

    def _wrap(self, process: Callable[..., bytes]) -> Callable[..., bytes]:
        def timed(message: bytes, cancel: threading.Event | None = None) -> bytes:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return process(message, cancel)
            finally:
                cpu = time.thread_time() - cpu
                wall = time.perf_counter() - wall
                with self._lock:
                    self.wall_s += wall
                    self.cpu_s += cpu
                    self.messages += 1

        return timed


def _plan_text(quick: bool) -> str:
    text = DEMO_PLAN.read_text(encoding="utf-8")
    if not quick:
        return text
    doc = yaml.safe_load(text)
    for step in doc["steps"]:
        step["input_power_dbm"]["step"] = 3.0
    return yaml.safe_dump(doc, sort_keys=False)


def run_once(plan_text: str, results_dir: Path, plan_path: Path = DEMO_PLAN,
             bench_name: str = "simulated") -> dict[str, float]:
    """One run of a plan on a built-in simulated bench; wall time, writer time and simulator
    times in seconds."""
    from benchbot import runner, simbench
    from benchbot.bench import builtin_bench_path, load_bench
    from benchbot.engine import SilentListener
    from benchbot.plan import parse_plan
    from benchbot.results.record import RunRecord

    records: list[RunRecord] = []

    class CapturedRecord(RunRecord):
        @classmethod
        def create(cls, *args: Any, **kwargs: Any) -> RunRecord:
            record = super().create(*args, **kwargs)
            records.append(record)
            return record

    bench_path = builtin_bench_path(bench_name)
    bench = load_bench(bench_path)
    plan = parse_plan(plan_text, str(plan_path))
    seed = (bench.simulation or {}).get("seed")
    with simbench.running(bench) as (served, simulated):
        clock = _DeviceClock(simulated.devices)
        request = runner.RunRequest(
            plan=plan, plan_text=plan_text, bench=served,
            bench_text=bench_path.read_text(encoding="utf-8"), results_dir=results_dir,
            simulated=True, simulator_seed=seed,
        )
        with mock.patch.object(runner, "RunRecord", CapturedRecord):
            start = time.perf_counter()
            outcome = runner.run(request, SilentListener())
            wall = time.perf_counter() - start
    if outcome.status != "completed" or len(records) != 1:
        raise RuntimeError(f"{plan_path.name} did not complete: {outcome.status} {outcome.error}")
    return {
        "wall_s": wall,
        "hdf5_s": records[0].time_spent_s,
        "sim_cpu_s": clock.cpu_s,
        "sim_wall_s": clock.wall_s,
        "scpi_messages": float(clock.messages),
        "record_bytes": float(outcome.record_path.stat().st_size),
    }


def measure(quick: bool = False) -> dict[str, float]:
    """Run the plan (1× quick, 5× full); medians of wall time and of each share."""
    repeats = 1 if quick else 5
    text = _plan_text(quick)
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="benchbot-bench-") as tmp:
        for i in range(repeats):
            runs.append(run_once(text, Path(tmp) / f"run{i}"))

    def med(key: str) -> float:
        return median([r[key] for r in runs])

    def share(key: str) -> float:
        return median([r[key] / r["wall_s"] for r in runs])

    return {
        "wall_s": med("wall_s"),
        "hdf5_s": med("hdf5_s"),
        "hdf5_share": share("hdf5_s"),
        "sim_cpu_s": med("sim_cpu_s"),
        "sim_cpu_share": share("sim_cpu_s"),
        "sim_wall_s": med("sim_wall_s"),
        "sim_wall_share": share("sim_wall_s"),
        "scpi_messages": med("scpi_messages"),
        "record_bytes": med("record_bytes"),
        "repeats": float(repeats),
    }


def rows(result: dict[str, float]) -> list[Row]:
    """Table rows for `measure`'s result."""
    wall = f"{result['wall_s']:.2f} s wall"
    share = result["hdf5_share"]
    return [
        Row(f"(b) demo plan wall time, {int(result['scpi_messages'])} SCPI messages",
            wall, "—", None, "—", None),
        Row("(b) HDF5 writer (RunRecord.time_spent_s) / wall",
            f"{result['hdf5_s'] * 1e3:.0f} ms", wall, share, f"≤ {HDF5_TARGET:.0%}",
            share <= HDF5_TARGET, percent=True),
        Row("(b) simulators' CPU (server threads) / wall",
            f"{result['sim_cpu_s'] * 1e3:.0f} ms", wall, result["sim_cpu_share"], "info", None,
            percent=True),
        Row("(b) in simulators incl. simulated waits / wall",
            f"{result['sim_wall_s'] * 1e3:.0f} ms", wall, result["sim_wall_share"], "info", None,
            percent=True),
    ]
