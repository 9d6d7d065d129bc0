"""`benchbot` command line: run, validate, show, sim, schema, plot, export, serve.

Exit status of `run`: 0 pass (marginal included), 1 fail, 3 invalid plan or bench (nothing
touched), 4 error during the run, 5 aborted (Ctrl-C / SIGTERM). 2 is argparse's usage error.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from benchbot import simbench
from benchbot.bench import (
    BUILTIN_BENCHES,
    BenchDefinition,
    BenchError,
    builtin_bench_path,
    load_bench,
)
from benchbot.console import RichProgress, metrics_tables, verdict_text
from benchbot.limits import MetricResult, Verdict
from benchbot.plan import Plan, PlanError, load_plan, parse_plan, plan_json_schema
from benchbot.safety import SafetyError, check_plan_against_bench

if TYPE_CHECKING:  # the runner pulls in pyvisa: imported only when a run starts
    from benchbot.engine import RunOutcome
    from benchbot.results.index import IndexedRecord
    from benchbot.runner import RunRequest

EXIT_PASS, EXIT_FAIL, EXIT_INVALID, EXIT_ERROR, EXIT_ABORTED = 0, 1, 3, 4, 5
EXIT_BY_VERDICT = {
    Verdict.PASS: EXIT_PASS, Verdict.MARGINAL: EXIT_PASS, Verdict.FAIL: EXIT_FAIL,
    Verdict.ERROR: EXIT_ERROR, Verdict.ABORTED: EXIT_ABORTED,
}
DEFAULT_RESULTS_DIR = Path("results")  # where `run` writes and `results list` looks

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
    run.add_argument("plan", type=Path, nargs="?",
                     help="the test plan (with --resume: optional; the record's own plan)")
    run.add_argument("--resume", type=Path, metavar="RECORD",
                     help="continue the interrupted run of RECORD (its .h5.partial, or an .h5 "
                     "that ended aborted or in error) from its last committed sweep point")
    run.add_argument("--bench", type=Path,
                     help="bench file, or a built-in simulated bench: simulated (Keysight, "
                     "default) or simulated-rs (Rohde & Schwarz)")
    run.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    run.add_argument("--visa-library", default="@py", help="pyvisa backend (default @py)")
    run.add_argument("--inventory", type=Path,
                     help="lab calibration inventory (benchbot.inventory/1) instead of the one the "
                     "bench names")
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check a plan (and bench) without touching any")
    validate.add_argument("plan", type=Path)
    validate.add_argument("--bench", type=Path)
    validate.add_argument("--inventory", type=Path,
                          help="lab calibration inventory (benchbot.inventory/1) instead of "
                          "the one the bench names")
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

    _add_report(sub)

    export = sub.add_parser("export", help="export data of an HDF5 run record")
    export_sub = export.add_subparsers(required=True, metavar="FORMAT")
    touchstone = export_sub.add_parser(
        "touchstone", help="one Touchstone .sNp per S-parameter step (and per control state)")
    touchstone.add_argument("record", type=Path)
    touchstone.add_argument("--out", type=Path,
                            help="output directory (default: <record>_touchstone/)")
    touchstone.set_defaults(func=cmd_export_touchstone)
    csv_export = export_sub.add_parser(
        "csv", help="tidy CSV per step and trace, metrics.csv, events.csv (units in headers)")
    csv_export.add_argument("record", type=Path)
    csv_export.add_argument("-o", "--out", type=Path,
                            help="output directory (default: <record>_csv/)")
    csv_export.set_defaults(func=cmd_export_csv)
    netcdf = export_sub.add_parser(
        "netcdf", help="one netCDF-4 file: a group per step, metrics, traces, events")
    netcdf.add_argument("record", type=Path)
    netcdf.add_argument("-o", "--out", type=Path, help="output file (default: <record>.nc)")
    netcdf.set_defaults(func=cmd_export_netcdf)

    results = sub.add_parser("results", help="work with run records and results folders")
    results_sub = results.add_subparsers(required=True, metavar="ACTION")
    _add_results_list(results_sub)
    _add_results_check(results_sub)
    _add_serve(sub)
    _add_agent(sub)
    return parser


def _add_serve(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="run the booking service (web API; OpenAPI at /openapi.json)",
        description="Migrates the database on start; an empty one gets the lab, an admin "
        "(password from BENCHBOT_ADMIN_PASSWORD, else printed once), the built-in benches "
        "and the catalogue of shipped test plans.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                       "(default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    serve.add_argument("--database", metavar="URL",
                       help="an SQLite file or a postgresql+psycopg://user@host/db URL "
                       "(default: results/service/benchbot.sqlite3)")
    serve.add_argument("--no-local-agent", action="store_true",
                       help="do not run an agent for each built-in simulated bench (default: "
                       "run them, so the whole flow works on this machine)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the booking service with uvicorn until Ctrl-C."""
    import uvicorn

    from benchbot.service.agent_api import AgentSettings
    from benchbot.service.app import create_app
    from benchbot.service.db import Database
    from benchbot.service.errors import DatabaseUnavailable, InvalidInput

    if not 0 < args.port < 65536:
        errors.print(f"[bold red]refused:[/] --port: {args.port} is not a TCP port (1-65535)",
                     highlight=False)
        return EXIT_INVALID
    try:
        local_agents = None if args.no_local_agent else _loopback_url(args.host, args.port)
        app = create_app(args.database,
                         agents=AgentSettings(local_agent_server_url=local_agents))
        probe = Database(args.database)
        try:
            probe.check_reachable()
        finally:
            probe.dispose()
    except (InvalidInput, DatabaseUnavailable) as exc:
        return _database_refused(exc)
    # Everything imported so far lives as long as the process: keep it out of the cyclic
    # garbage collector's full passes, which otherwise walk ~200 000 objects and stalled the
    # server for 150-260 ms at a time under load (benchmarks/service_load.py).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port)
    return EXIT_PASS


def _database_refused(exc: Exception) -> int:
    """Report bad service input (``InvalidInput`` names its option: exit 3) or a database that
    cannot be reached (exit 4)."""
    from benchbot.service.errors import InvalidInput

    if isinstance(exc, InvalidInput):
        errors.print(f"[bold red]refused:[/] --{exc}", highlight=False)
        return EXIT_INVALID
    errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return EXIT_ERROR


def _loopback_url(host: str, port: int) -> str:
    """The service's URL for agents on this machine (a wildcard address: loopback)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


AGENT_TOKEN_ENV = "BENCHBOT_AGENT_TOKEN"


def _add_agent(sub: argparse._SubParsersAction) -> None:
    agent = sub.add_parser(
        "agent", help="pull this bench's jobs from the booking service and run them",
        description="Runs on the bench PC: claims the bench's due jobs over the service's HTTP "
        "API (outbound only), runs each plan, reports progress, uploads the record and its "
        "reports. Ctrl-C or SIGTERM aborts a running job through the safe state, reports it "
        "and stops (exit 5).")
    agent.add_argument("--bench", required=True, metavar="NAME",
                       help="the bench's name in the service")
    agent.add_argument("--server", required=True, metavar="URL",
                       help="the booking service, e.g. https://lab.example.com")
    agent.add_argument("--token", help=f"the bench's agent token (default: ${AGENT_TOKEN_ENV}; "
                       "created by `benchbot agent-token`)")
    agent.add_argument("--bench-file", type=Path, metavar="BENCH.yaml",
                       help="this PC's instruments (default: the built-in simulated bench of "
                       "that name)")
    agent.add_argument("--poll-s", type=float, default=5.0, metavar="S",
                       help="seconds between claims while the bench has no due job (default 5)")
    agent.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR / "agent",
                       help="where records are written before upload (default results/agent)")
    agent.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    agent.set_defaults(func=cmd_agent)

    token = sub.add_parser(
        "agent-token", help="create a bench agent token (printed once, stored hashed)",
        description="Prints a new token for the bench's agent on stdout, once: give it to "
        "`benchbot agent --token` (or $BENCHBOT_AGENT_TOKEN) on the bench PC.")
    token.add_argument("--bench", required=True, metavar="NAME",
                       help="the bench (its name in the service)")
    token.add_argument("--label", default="", help="where it is used, e.g. the bench PC's name")
    token.add_argument("--database", metavar="URL",
                       help="the service's database, as for serve "
                       "(default: results/service/benchbot.sqlite3)")
    token.set_defaults(func=cmd_agent_token)


def cmd_agent(args: argparse.Namespace) -> int:
    """Pull and run the bench's jobs until Ctrl-C / SIGTERM."""
    import logging
    import os

    from benchbot.agent.client import ServiceRefused
    from benchbot.agent.job import AgentSetupError, resolve_bench
    from benchbot.agent.loop import AgentConfig, AgentStopped, serve

    token = (args.token or os.environ.get(AGENT_TOKEN_ENV, "")).strip()
    try:
        if not token:
            raise AgentSetupError(f"--token: give the bench's agent token (or set "
                                  f"${AGENT_TOKEN_ENV})")
        if not args.server.startswith(("http://", "https://")):
            raise AgentSetupError(f"--server: {args.server!r} is not an http(s):// URL")
        if not args.poll_s > 0:
            raise AgentSetupError(f"--poll-s: must be > 0, got {args.poll_s}")
        bench = resolve_bench(args.bench, args.bench_file)
    except AgentSetupError as exc:
        errors.print(f"[bold red]refused:[/] {exc}", highlight=False)
        return EXIT_INVALID
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s agent %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per heartbeat
    config = AgentConfig(server_url=args.server, token=token, bench_name=args.bench,
                         bench=bench, results_dir=args.results_dir, poll_s=args.poll_s,
                         exit_with_parent=args.exit_with_parent)
    try:
        with _sigterm_as_interrupt():
            serve(config)
    except KeyboardInterrupt:
        errors.print("agent stopped", highlight=False)
    except AgentStopped as exc:
        errors.print(f"agent stopped: {exc}", highlight=False)
        return EXIT_ABORTED
    except ServiceRefused as exc:
        errors.print(f"[bold red]refused by the service:[/] {exc}", highlight=False)
        return EXIT_INVALID
    return EXIT_PASS


def cmd_agent_token(args: argparse.Namespace) -> int:
    """Create a token for the bench's agent and print it (only its SHA-256 is stored)."""
    from benchbot.service.agent_tokens import create_token
    from benchbot.service.db import Database
    from benchbot.service.errors import DatabaseUnavailable, InvalidInput

    try:
        db = Database(args.database)
        try:
            db.check_reachable()
            if db.current_revision() != db.head_revision():
                errors.print(f"[bold red]refused:[/] --database: {db.display_url} is not "
                             "migrated to this benchbot's schema: start `benchbot serve` on "
                             "it once", highlight=False)
                return EXIT_INVALID
            new = create_token(db, bench_name=args.bench, label=args.label)
        finally:
            db.dispose()
    except (InvalidInput, DatabaseUnavailable) as exc:
        return _database_refused(exc)
    errors.print(f"agent token {new.token_id} for bench {new.bench_name} (shown only now; "
                 f"give it to `benchbot agent --token` or ${AGENT_TOKEN_ENV}):",
                 highlight=False)
    sys.stdout.write(new.token + "\n")
    return EXIT_PASS


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


def cmd_run(args: argparse.Namespace) -> int:
    from benchbot.runner import RunRequest  # heavy imports only when running

    if args.resume is not None:
        return _cmd_resume(args)
    if args.plan is None:
        errors.print("benchbot run: give a PLAN, or --resume RECORD")
        return 2
    plan = load_plan(args.plan)
    bench, bench_text = _bench(args.bench, plan)
    if args.inventory is not None:
        bench = bench.with_inventory(args.inventory)
    check_plan_against_bench(plan, bench)
    request = RunRequest(
        plan=plan, plan_text=args.plan.read_text(encoding="utf-8"), bench=bench,
        bench_text=bench_text, results_dir=args.results_dir, visa_library=args.visa_library,
    )
    return _launch(request, None)


def _cmd_resume(args: argparse.Namespace) -> int:
    """`run --resume RECORD`: the record's plan (or PLAN, if it is the same file) on the bench
    the interrupted run used (`--bench`, the plan's bench, or the built-in bench of that name),
    all refused before anything is touched if they differ from what the record says."""
    from benchbot.results.meta import sha256_text
    from benchbot.results.resume import ResumeError, inspect
    from benchbot.resume import ResumeRefused
    from benchbot.runner import RunRequest

    try:
        point = inspect(args.resume)
    except ResumeError as exc:
        errors.print(f"[bold red]refused:[/] {exc}", markup=True, highlight=False)
        return EXIT_INVALID
    plan_text = (args.plan.read_text(encoding="utf-8") if args.plan is not None
                 else point.plan_text)
    if sha256_text(plan_text) != point.plan_sha256:
        raise PlanError.single("plan", f"{args.plan} is not the plan of the interrupted run "
                               f"(SHA-256 differs); omit PLAN to use the record's own")
    plan = load_plan(args.plan) if args.plan is not None else parse_plan(
        plan_text, f"{args.resume} (plan_yaml)")
    bench, bench_text = _bench(args.bench, plan)
    if args.bench is None and sha256_text(bench_text) != point.bench_sha256:
        for name in BUILTIN_BENCHES:  # e.g. a run started with --bench simulated-rs
            path = builtin_bench_path(name)
            if sha256_text(path.read_text(encoding="utf-8")) == point.bench_sha256:
                bench, bench_text = _bench(path, plan)
    if sha256_text(bench_text) != point.bench_sha256:
        raise BenchError.single("--bench", f"bench {bench.name!r} is not the bench file of the "
                                f"interrupted run ({point.bench_name!r}; SHA-256 differs): give "
                                "the same bench file with --bench")
    if args.inventory is not None:
        bench = bench.with_inventory(args.inventory)
    console.print(f"resuming {point.source_path.name}: {point.interrupted_status}; "
                  f"{sum(s.completed for s in point.steps)} of {len(plan.steps)} step(s) "
                  "completed before")
    request = RunRequest(
        plan=plan, plan_text=plan_text, bench=bench, bench_text=bench_text,
        results_dir=point.source_path.parent, visa_library=args.visa_library,
    )
    try:
        return _launch(request, point.source_path, session=point.resumes + 1)
    except ResumeRefused as exc:
        errors.print(f"[bold red]refused:[/] {exc}", markup=True, highlight=False)
        return EXIT_INVALID


def _launch(request: RunRequest, resume_from: Path | None, session: int = 0) -> int:
    """Print the header, run (or resume) on the simulated bench or the hardware, print the
    metrics, the verdict and the record; the exit status by verdict. ``session``: the resumed
    session's number (a simulated bench draws fresh noise for it)."""
    plan, bench = request.plan, request.bench
    console.print(f"plan [bold]{plan.name}[/] v{plan.version} · DUT {plan.dut.part_number} "
                  f"s/n {plan.dut.serial} · bench [bold]{bench.name}[/]")
    with _sigterm_as_interrupt():
        if bench.fully_simulated:
            seed = (bench.simulation or {}).get("seed")
            with simbench.running(bench, plan.dut.part_number, session) as (served, _):
                again = f", resumed session {session}" if session else ""
                console.print(f"simulated bench on loopback (seed {seed}{again})")
                outcome = _run(request, served, True, seed, resume_from)
        else:
            outcome = _run(request, bench, False, None, resume_from)
    for table in metrics_tables(outcome.metrics):
        console.print(table)
    if outcome.error:
        errors.print(f"[bold red]{outcome.status}:[/] {outcome.error}", highlight=False)
    console.print(f"verdict {verdict_text(outcome.verdict)} · status {outcome.status}")
    console.print(f"record: {outcome.record_path}")
    return EXIT_BY_VERDICT[outcome.verdict]


def _run(request: RunRequest, bench: BenchDefinition, simulated: bool, seed: int | None,
         resume_from: Path | None) -> RunOutcome:
    from benchbot.runner import resume, run

    request = replace(request, bench=bench, simulated=simulated, simulator_seed=seed)
    with RichProgress(console, len(request.plan.steps)) as progress:
        if resume_from is not None:
            return resume(request, resume_from, progress)
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
    if args.inventory is not None:
        bench = bench.with_inventory(args.inventory)
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
    results = [MetricResult.from_record_row(step.name, row) for step in summary.steps
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


def _add_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="write the customer report of a run record: self-contained HTML and PDF",
        description="Without --html/--pdf both are written next to the record as "
        "<record>_report.html and <record>_report.pdf; with either, only the ones given.")
    report.add_argument("record", type=Path)
    report.add_argument("--html", type=Path, metavar="OUT", help="write the HTML report here")
    report.add_argument("--pdf", type=Path, metavar="OUT", help="write the PDF report here")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Build the report content once, write HTML and/or PDF; prints each path on its own line."""
    from benchbot.report import build_report, write_html, write_pdf
    from benchbot.report.content import default_report_path
    from benchbot.results.reader import RecordFormatError

    html, pdf = args.html, args.pdf
    if html is None and pdf is None:
        html, pdf = (default_report_path(args.record, suffix) for suffix in (".html", ".pdf"))
    try:
        content = build_report(args.record)
        paths = ([write_html(content, html)] if html else []) + (
            [write_pdf(content, pdf)] if pdf else [])
    except (OSError, RecordFormatError) as exc:
        errors.print(f"[bold red]cannot report:[/] {exc}", highlight=False)
        return EXIT_ERROR
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return EXIT_PASS


def _export(args: argparse.Namespace, export: Any) -> list[Path] | None:
    """Run ``export(record, out)``; None (after saying why) if the record cannot be read."""
    from benchbot.results.reader import RecordFormatError

    try:
        out = export(args.record, args.out)
    except (OSError, RecordFormatError, ValueError) as exc:
        errors.print(f"[bold red]cannot export:[/] {exc}", highlight=False)
        return None
    paths = out if isinstance(out, list) else [out]
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return paths


def cmd_export_touchstone(args: argparse.Namespace) -> int:
    """Touchstone files of every S-parameter step; prints each path on its own line."""
    from benchbot.results.networks import export_touchstone

    paths = _export(args, export_touchstone)
    if paths == []:
        errors.print(f"no S-parameter steps in {args.record}", highlight=False)
    return EXIT_ERROR if paths is None else EXIT_PASS


def cmd_export_csv(args: argparse.Namespace) -> int:
    """CSV files of a record; prints each path on its own line."""
    from benchbot.results.export import export_csv

    return EXIT_ERROR if _export(args, export_csv) is None else EXIT_PASS


def cmd_export_netcdf(args: argparse.Namespace) -> int:
    """One netCDF-4 file of a record; prints its path."""
    from benchbot.results.export import export_netcdf

    return EXIT_ERROR if _export(args, export_netcdf) is None else EXIT_PASS


def _add_results_list(results_sub: argparse._SubParsersAction) -> None:
    listing = results_sub.add_parser(
        "list", help="list the records of a results folder (SQLite index, rebuilt from the files)",
        description="Text filters are case-insensitive and take globs (SIM-00*); dates are UTC "
        "(YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+hh:mm]); --until DATE includes that day.")
    listing.add_argument("folder", type=Path, nargs="?", default=DEFAULT_RESULTS_DIR,
                         help=f"results folder (default: {DEFAULT_RESULTS_DIR}/, where run writes)")
    listing.add_argument("--serial", help="DUT serial number")
    listing.add_argument("--part-number", help="DUT part number")
    listing.add_argument("--plan", help="plan name")
    listing.add_argument("--verdict", help="pass, marginal, fail, error, aborted or none")
    listing.add_argument("--status", help="completed, interrupted, aborted, error, ...")
    listing.add_argument("--bench", help="bench name")
    listing.add_argument("--since", type=_when, metavar="DATE", help="started on or after")
    listing.add_argument("--until", type=_when, metavar="DATE", help="started on or before")
    listing.add_argument("--limit", type=int, metavar="N", help="only the N newest")
    listing.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    listing.set_defaults(func=cmd_results_list)


def _when(text: str) -> str:
    from benchbot.results.index import parse_when

    try:
        parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def cmd_results_list(args: argparse.Namespace) -> int:
    """Newest first; unreadable files and records still being written are named on stderr."""
    from benchbot.results.index import Filters, listing

    filters = Filters(serial=args.serial, plan=args.plan, verdict=args.verdict, bench=args.bench,
                      since=args.since, until=args.until, part_number=args.part_number,
                      status=args.status, limit=args.limit)
    try:
        records, report = listing(args.folder, filters)
    except FileNotFoundError:
        errors.print(f"[bold red]no results folder[/] {args.folder}/ (`benchbot run` writes to "
                     f"{DEFAULT_RESULTS_DIR}/ in its working directory; name another folder as "
                     "an argument)", highlight=False)
        return EXIT_ERROR
    except OSError as exc:
        errors.print(f"[bold red]cannot list:[/] {exc}", highlight=False)
        return EXIT_ERROR
    if args.json:
        out = {"folder": str(args.folder), "records": [r.to_dict() for r in records],
               "problems": [{"path": p.relpath, "error": p.error} for p in report.problems],
               "being_written": report.busy}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        _print_records(records, report.records, args.folder)
    for note in report.notes:
        errors.print(f"[yellow]note:[/] {note}", highlight=False)
    for path in report.busy:
        errors.print(f"[yellow]being written (not listed):[/] {path}", highlight=False)
    for problem in report.problems:
        errors.print(f"[bold red]unreadable, skipped:[/] {problem.relpath}: {problem.error}",
                     highlight=False)
    return EXIT_PASS


def _print_records(records: list[IndexedRecord], total: int, folder: Path) -> None:
    """A table as wide as its content; in a terminal too narrow for it, two lines per record
    (the path never wraps or truncates: it is copied into `benchbot show`)."""
    from rich import box
    from rich.measure import Measurement

    shown = f"{len(records)} of {total}" if len(records) != total else str(total)
    title = f"{shown} record{'s' * (total != 1)} in {folder}/ (newest first)"
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column in ("record", "started UTC", "plan", "DUT serial", "bench", "verdict", "status"):
        table.add_column(column, no_wrap=True)
    rows = [_record_cells(r) for r in records]
    for row in rows:
        table.add_row(*row)
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if not console.is_terminal:  # piped into grep/less/a file: full rows, whatever the width
        Console(width=max(natural, console.width)).print(table)
    elif natural <= console.width:
        console.print(table)
    else:
        console.print(f"[bold]{title}[/]", highlight=False)
        for path, started, plan, serial, bench, verdict, status in rows:
            console.print(path, highlight=False, soft_wrap=True)
            console.print(f"  {verdict} {status}  {started}  s/n {serial}  {plan}  {bench}",
                          highlight=False)


def _record_cells(r: IndexedRecord) -> list[str]:
    try:
        verdict = verdict_text(Verdict((r.verdict or "").lower()))
    except ValueError:
        verdict = r.verdict or "—"
    status = r.status if r.status == "completed" else f"[bold yellow]{r.status}[/]"
    return [r.relpath, (r.started_utc or "—").replace("T", " ")[:19], r.plan_name or "—",
            r.serial or "—", r.bench or "—", verdict, status]

def _add_results_check(results_sub: argparse._SubParsersAction) -> None:
    check = results_sub.add_parser(
        "check", help="validate records against the format (docs/record-format.md)",
        description="One line per problem: <record>: <HDF5 path>: <reason>. Exit 0 when every "
        "record is valid (warnings allowed), 1 otherwise.")
    check.add_argument("records", type=Path, nargs="+", metavar="RECORD")
    check.add_argument("--json", action="store_true", help="JSON on stdout instead of lines")
    check.set_defaults(func=cmd_results_check)


def cmd_results_check(args: argparse.Namespace) -> int:
    """Check each record; problems on stdout (they are the command's output)."""
    from benchbot.results.check import check_records

    reports = check_records(args.records)
    if args.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
    else:
        for report in reports:
            for problem in report.problems:
                sys.stdout.write(f"{report.record}: {problem}\n")
            verdict = "valid" if report.valid else f"INVALID ({len(report.errors)} errors)"
            sys.stdout.write(f"{report.record}: {verdict} (format {report.format_version or '?'}"
                             f", {report.steps} steps)\n")
    return EXIT_PASS if all(r.valid for r in reports) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
