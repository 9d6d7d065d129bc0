"""Launch a plan: validate, connect the bench, run the engine, close the record.

This is what the CLI, the pytest plugin and (later) the bench agent call. Validation and
safety checks happen before any instrument is touched.
"""

from __future__ import annotations

import platform
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchbot.bench import BenchDefinition
from benchbot.engine import Engine, ProgressListener, RunOutcome
from benchbot.limits import Verdict
from benchbot.plan import Plan
from benchbot.results.reader import open_record
from benchbot.results.record import RunMeta, RunRecord
from benchbot.results.resume import inspect, prepare
from benchbot.resume import ResumedRun, wait_for_watchdogs
from benchbot.safety import check_plan_against_bench
from instruments.interfaces import Instrument
from instruments.registry import connect

PACKAGES = ("benchbot", "numpy", "scipy", "h5py", "pydantic", "pyvisa", "pyvisa-py")


@dataclass(frozen=True)
class RunRequest:
    plan: Plan
    plan_text: str
    bench: BenchDefinition
    bench_text: str
    results_dir: Path
    visa_library: str = "@py"
    simulated: bool = False
    simulator_seed: int | None = None


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    import h5py

    versions["hdf5"] = h5py.version.hdf5_version
    return versions


def connect_bench(bench: BenchDefinition, visa_library: str) -> dict[str, Instrument]:
    """Open every instrument of the bench; on any failure close those already open."""
    opened: dict[str, Instrument] = {}
    try:
        for role, entry in bench.instruments.items():
            opened[role] = connect(entry.driver, entry.resource, visa_library=visa_library,
                                   timeout_s=entry.timeout_s, **entry.options)
    except BaseException:
        for instrument in opened.values():
            instrument.close()
        raise
    return opened


def run(request: RunRequest, listener: ProgressListener | None = None) -> RunOutcome:
    """Run the plan on the bench; the record is closed whatever happens."""
    check_plan_against_bench(request.plan, request.bench)
    record = RunRecord.create(request.results_dir, str(uuid.uuid4()), _meta(request))
    return _execute(request, record, listener, None)


def resume(request: RunRequest, record_path: Path,
           listener: ProgressListener | None = None) -> RunOutcome:
    """Continue the interrupted run of `record_path` (same plan and bench, checked by the
    caller against the record's SHA-256): completed steps are kept, the running step continues
    from its committed rows after the bench state is re-established, the rest runs as planned.
    The record continues in place (same file name and run id) and shows the interruption."""
    check_plan_against_bench(request.plan, request.bench)
    point = inspect(record_path)
    summary = open_record(record_path)
    wait_for_watchdogs(summary.events, summary.host)
    resumed = ResumedRun.from_summary(point, summary.steps)
    prepare(record_path)
    record = RunRecord.reopen(point.partial_path)
    return _execute(request, record, listener, resumed)


def _execute(request: RunRequest, record: RunRecord, listener: ProgressListener | None,
             resumed: ResumedRun | None) -> RunOutcome:
    """Connect the bench and run the engine on `record`; the record is closed whatever
    happens (a bench that cannot be connected closes it with status "error")."""
    try:
        instruments = connect_bench(request.bench, request.visa_library)
    except BaseException as exc:
        record.add_event("error", f"bench connection failed: {type(exc).__name__}: {exc}")
        path = record.close(status="error", verdict=Verdict.ERROR.value)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return RunOutcome(path, "error", Verdict.ERROR, [], f"{type(exc).__name__}: {exc}")
    try:
        engine = Engine(request.plan, request.bench, instruments, record, listener, resumed)
        return engine.run()
    finally:
        for instrument in instruments.values():
            instrument.close()


def _meta(request: RunRequest) -> RunMeta:
    plan, bench = request.plan, request.bench
    return RunMeta(
        plan_name=plan.name, plan_version=plan.version, plan_text=request.plan_text,
        bench_name=bench.name, bench_text=request.bench_text,
        dut=plan.dut.model_dump(mode="json"), operator=plan.operator,
        simulated=request.simulated, simulator_seed=request.simulator_seed,
        software=software_versions(),
    )
