"""`benchbot` command line: run, validate, show, sim, schema, plot, export.

Exit status of `run`: 0 pass (marginal included), 1 fail, 3 invalid plan or bench (nothing
touched), 4 error during the run, 5 aborted (Ctrl-C / SIGTERM). 2 is argparse's usage error.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchbot import simbench
from benchbot.bench import BenchDefinition, BenchError, builtin_bench_path, load_bench
from benchbot.console import RichProgress, metric_from_record, metrics_tables, verdict_text
from benchbot.limits import Verdict
from benchbot.plan import Plan, PlanError, load_plan, plan_json_schema
from benchbot.safety import SafetyError, check_plan_against_bench

if TYPE_CHECKING:  # the runner pulls in pyvisa: imported only when a run starts
    from benchbot.engine import RunOutcome
    from benchbot.runner import RunRequest

EXIT_PASS, EXIT_FAIL, EXIT_INVALID, EXIT_ERROR, EXIT_ABORTED = 0, 1, 3, 4, 5
EXIT_BY_VERDICT = {
    Verdict.PASS: EXIT_PASS, Verdict.MARGINAL: EXIT_PASS, Verdict.FAIL: EXIT_FAIL,
    Verdict.ERROR: EXIT_ERROR, Verdict.ABORTED: EXIT_ABORTED,
}
SIMULATED_RESOURCE = "simulated"

console = Console()
errors = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (PlanError, BenchError, SafetyError, simbench.SimulationError) as exc:
        errors.print(f"[bold red]refused:[/] {exc}", markup=True, highlight=False)
        return EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a test plan (default: on the built-in simulated bench)")
    run.add_argument("plan", type=Path)
    run.add_argument("--bench", type=Path,
                     help="bench file, or a built-in simulated bench: simulated (Keysight, "
                     "default) or simulated-rs (Rohde & Schwarz)")
    run.add_argument("--results-dir", type=Path, default=Path("results"))
    run.add_argument("--visa-library", default="@py", help="pyvisa backend (default @py)")
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check a plan (and bench) without touching any")
    validate.add_argument("plan", type=Path)
    validate.add_argument("--bench", type=Path)
    validate.set_defaults(func=cmd_validate)

    show = sub.add_parser("show", help="summarise an HDF5 run record")
    show.add_argument("record", type=Path)
    show.set_defaults(func=cmd_show)

    sim = sub.add_parser("sim", help="serve the simulated bench until Ctrl-C")
    sim.add_argument("--bench", type=Path, help="bench file with a simulation block")
    sim.add_argument("--dut", metavar="PART_NUMBER",
                     help="the DUT to put in the fixture of a bench with a DUT library "
                     "(simulation.duts; default: its first part)")
    sim.add_argument("--write-bench", type=Path,
                     help="also write a bench file pointing at the served resources")
    sim.set_defaults(func=cmd_sim)

    schema = sub.add_parser("schema", help="print the plan JSON Schema (for editors)")
    schema.add_argument("--output", type=Path)
    schema.set_defaults(func=cmd_schema)

    plot = sub.add_parser("plot", help="write PNG figures (150 dpi) of an HDF5 run record")
    plot.add_argument("record", type=Path)
    plot.add_argument("--out", type=Path, help="output directory (default: <record>_plots/)")
    plot.set_defaults(func=cmd_plot)

    export = sub.add_parser("export", help="export data of an HDF5 run record")
    export_sub = export.add_subparsers(required=True, metavar="FORMAT")
    touchstone = export_sub.add_parser(
        "touchstone", help="one Touchstone .sNp per S-parameter step (and per control state)")
    touchstone.add_argument("record", type=Path)
    touchstone.add_argument("--out", type=Path,
                            help="output directory (default: <record>_touchstone/)")
    touchstone.set_defaults(func=cmd_export_touchstone)
    return parser


def _bench(path: Path | None, plan: Plan | None = None) -> tuple[BenchDefinition, str]:
    """A bench file, or a built-in simulated bench by name (`simulated`, `simulated-rs`...);
    without `--bench`, the plan's own `bench` (a name, or a file relative to the plan), else
    the default simulated bench."""
    if path is None and plan is not None and plan.bench is not None:
        path = Path(plan.bench)
        if plan.source_path is not None and path.suffix:
            path = Path(plan.source_path).parent / path
    if path is None:
        path = builtin_bench_path()
    elif not path.exists() and path.suffix == "" and len(path.parts) == 1:
        path = builtin_bench_path(str(path))
    return load_bench(path), Path(path).read_text(encoding="utf-8")


def _is_simulated(bench: BenchDefinition) -> bool:
    return all(e.resource == SIMULATED_RESOURCE for e in bench.instruments.values())


def cmd_run(args: argparse.Namespace) -> int:
    from benchbot.runner import RunRequest  # heavy imports only when running

    plan = load_plan(args.plan)
    bench, bench_text = _bench(args.bench, plan)
    check_plan_against_bench(plan, bench)
    request = RunRequest(
        plan=plan, plan_text=args.plan.read_text(encoding="utf-8"), bench=bench,
        bench_text=bench_text, results_dir=args.results_dir, visa_library=args.visa_library,
    )
    console.print(f"plan [bold]{plan.name}[/] v{plan.version} · DUT {plan.dut.part_number} "
                  f"s/n {plan.dut.serial} · bench [bold]{bench.name}[/]")
    with _sigterm_as_interrupt():
        if _is_simulated(bench):
            seed = (bench.simulation or {}).get("seed")
            with simbench.running(bench, plan.dut.part_number) as (served, _):
                console.print(f"simulated bench on loopback (seed {seed})")
                outcome = _run(request, served, simulated=True, seed=seed)
        else:
            outcome = _run(request, bench, simulated=False, seed=None)
    for table in metrics_tables(outcome.metrics):
        console.print(table)
    if outcome.error:
        errors.print(f"[bold red]{outcome.status}:[/] {outcome.error}", highlight=False)
    console.print(f"verdict {verdict_text(outcome.verdict)} · status {outcome.status}")
    console.print(f"record: {outcome.record_path}")
    return EXIT_BY_VERDICT[outcome.verdict]


def _run(
    request: RunRequest, bench: BenchDefinition, simulated: bool, seed: int | None
) -> RunOutcome:
    from benchbot.runner import run

    request = replace(request, bench=bench, simulated=simulated, simulator_seed=seed)
    with RichProgress(console, len(request.plan.steps)) as progress:
        return run(request, progress)


class _sigterm_as_interrupt:
    """SIGTERM (a supervisor stopping us) takes the same safe path as Ctrl-C."""

    def __enter__(self) -> None:
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._raise)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")


def cmd_validate(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    bench, _ = _bench(args.bench, plan)
    check_plan_against_bench(plan, bench)
    points = sum(s.total_points() for s in plan.steps)
    console.print(f"[bold green]valid[/]: {args.plan} — plan {plan.name} v{plan.version}, "
                  f"{len(plan.steps)} step(s), {points} points, roles {', '.join(plan.roles)}; "
                  f"safe on bench {bench.name}")
    return EXIT_PASS


def cmd_show(args: argparse.Namespace) -> int:
    from benchbot.results.reader import open_record

    summary = open_record(args.record)
    meta = Table.grid(padding=(0, 2))
    for key, value in summary.headline().items():
        meta.add_row(f"[bold]{key}[/]", str(value))
    console.print(meta)
    results = [metric_from_record(step.name, row) for step in summary.steps
               for row in step.metrics]
    for table in metrics_tables(results):
        console.print(table)
    for step in summary.steps:
        if not step.metrics:
            console.print(f"step {step.name} ({step.kind}): {step.status}, no metrics")
    console.print("[bold]events[/]")
    for event in summary.events:
        console.print(f"  {event['time_utc']}  {event['level']:<7} {event['message']}",
                      highlight=False)
    return EXIT_PASS


def cmd_sim(args: argparse.Namespace) -> int:
    import yaml

    bench, _ = _bench(args.bench)
    with simbench.running(bench, args.dut) as (served, simulated):
        dut = (simulated.bench.config.get("dut") or {}).get("model", "none")
        table = Table(title=f"simulated bench {bench.name} (DUT model: {dut})",
                      header_style="bold")
        for column in ("role", "model", "VISA resource"):
            table.add_column(column)
        for role, entry in served.instruments.items():
            table.add_row(role, entry.simulator or "", entry.resource)
        console.print(table)
        if args.write_bench:
            data = served.model_dump(mode="json", exclude_none=True, by_alias=True)
            args.write_bench.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            console.print(f"bench file for these resources: {args.write_bench}")
        console.print("serving until Ctrl-C …")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopped")
    return EXIT_PASS


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(plan_json_schema(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_PASS


def cmd_plot(args: argparse.Namespace) -> int:
    """One PNG per figure the record supports; prints each path on its own line."""
    from benchbot.plots import render_record
    from benchbot.results.reader import RecordFormatError

    try:
        paths = render_record(args.record, args.out)
    except (OSError, RecordFormatError) as exc:
        errors.print(f"[bold red]cannot plot:[/] {exc}", highlight=False)
        return EXIT_ERROR
    if not paths:
        errors.print(f"no figures for the steps of {args.record}", highlight=False)
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return EXIT_PASS


def cmd_export_touchstone(args: argparse.Namespace) -> int:
    """Touchstone files of every S-parameter step; prints each path on its own line."""
    from benchbot.results.networks import export_touchstone
    from benchbot.results.reader import RecordFormatError

    try:
        paths = export_touchstone(args.record, args.out)
    except (OSError, RecordFormatError, ValueError) as exc:
        errors.print(f"[bold red]cannot export:[/] {exc}", highlight=False)
        return EXIT_ERROR
    if not paths:
        errors.print(f"no S-parameter steps in {args.record}", highlight=False)
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
