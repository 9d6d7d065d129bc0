"""GaN bias safety through the ENGINE: every fault path of a transfer-curve run ends with the
bench safe and the device intact.

Each scenario runs a real plan (benchbot.runner / benchbot.engine, or ``benchbot run`` in a
subprocess) against the simulated GaN bench (``benchbot/benches/simulated-gan.yaml``) served
in this test process, injects the fault mid-sweep, and then judges three independent views:

- the simulator's state: both SMU channels off at 0 V, ``bench.hemt.damaged`` False;
- the §2.6 order over every SMU channel change the *simulator* saw
  (``tests._bias_bench.assert_safe_history``: gate before drain, drain ramped, drain off
  before the gate is released);
- the run record: its status and the events that say what happened and who made it safe.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchbot import simbench
from benchbot.bench import BenchDefinition, builtin_bench_path, load_bench
from benchbot.engine import Engine, RunOutcome, SilentListener
from benchbot.plan import Plan, PlanError, parse_plan
from benchbot.plan_hemt import TransferCurveStep
from benchbot.results.meta import RunMeta
from benchbot.results.reader import RecordSummary, open_record
from benchbot.results.record import RunRecord
from benchbot.runner import RunRequest, connect_bench, run
from simulators import SimulatedBench
from tests._bias_bench import (
    DRAIN_KEY,
    GATE_KEY,
    assert_safe_history,
    record_smu_changes,
    replay,
)

REPO = Path(__file__).resolve().parent.parent
BENCH_PATH = Path(builtin_bench_path("simulated-gan"))
PLAN_PATH = REPO / "test_plans" / "gan_hemt_dc_pulsed.yaml"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
#: the driver timeout of the broken-link scenarios (pyvisa-py reports a closed peer only as a
#: read timeout): short, so the run fails fast, yet far above the
#: ≤ 0.16 s the simulated SMU took to answer under load (the other scenarios keep a roomy 5 s)
HUNG_TIMEOUT_S = 0.75
#: the coarse transfer grid of the in-process runs (6 points, 1 V apart; gate_step_v 0.5 V)
COARSE = {"start_v": -5.0, "stop_v": 0.0, "step_v": 1.0}
#: the finer grid of the subprocess runs (21 points): a sweep long enough to be caught mid-way
FINE = {"start_v": -5.0, "stop_v": 0.0, "step_v": 0.25}
#: how long a poll for something another process does may take before the test gives up
#: (a deadline for a hang, not a speed requirement)
DEADLINE_S = 60.0

History = list[tuple[tuple[str, int], str, Any]]


# ----------------------------------------------------------------------------- plans, benches

def plan_data(gate_v: Any = None, drain_v: float = 5.0, **bias: Any) -> dict[str, Any]:
    """The repository's GaN plan cut to one transfer-curve step on a coarse gate grid, no
    limits (nothing here is about the figures); ``bias`` overrides ``conditions.bias``."""
    data = yaml.safe_load(PLAN_PATH.read_text(encoding="utf-8"))
    data["bench"] = None
    data["conditions"]["bias"].update(bias)
    data["steps"] = [{
        "name": "transfer", "kind": "transfer_curve", "drain_voltage_v": drain_v,
        "gate_voltage_v": gate_v or COARSE,
    }]
    return data


def plan_text(data: dict[str, Any]) -> str:
    return yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False)


def gan_bench(timeout_s: float) -> BenchDefinition:
    """The built-in simulated GaN bench with the given driver timeout."""
    bench = load_bench(BENCH_PATH)
    smu = bench.instruments["smu"].model_copy(update={"timeout_s": timeout_s})
    return bench.model_copy(update={"instruments": {"smu": smu}})


@dataclass
class Served:
    """The simulated GaN bench served in this process, the bench definition pointing at it and
    the SMU channel changes the simulator has made since it started."""

    sim: SimulatedBench
    bench: BenchDefinition
    history: History

    @property
    def server(self) -> Any:
        return self.sim.servers["smu"]

    def messages(self) -> list[bytes]:
        """Every program message the SMU simulator was sent (see :func:`served`)."""
        return self.sim.devices["smu"].received  # type: ignore[attr-defined,no-any-return]


@contextlib.contextmanager
def served(part_number: str = "BB-GAN-HEMT-1MM", timeout_s: float = 5.0
           ) -> Iterator[Served]:
    """Serve the bench; every program message reaching the SMU simulator is kept (counted on
    the simulator side, so "nothing was sent" is what the instrument saw)."""
    bench = gan_bench(timeout_s)
    sim = SimulatedBench(simbench.simulation_config(bench, part_number))
    device = sim.devices["smu"]
    received: list[bytes] = []
    process = device.process

    def counting(message: bytes, cancel: threading.Event | None = None) -> bytes:
        received.append(bytes(message))  # the simulator's own log of what reached it
        return process(message, cancel)

    device.received = received  # type: ignore[attr-defined]
    device.process = counting  # type: ignore[method-assign]
    resources = sim.start()
    try:
        history = record_smu_changes(sim.bench)
        yield Served(sim, simbench.with_resources(bench, resources), history)
    finally:
        sim.stop()


class AtPoint(SilentListener):
    """Runs ``action`` when the ``at``-th point of the run has been stored (mid-sweep)."""

    def __init__(self, at: int, action: Callable[[], None]) -> None:
        self.at, self.action, self.points = at, action, 0

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.at:
            self.action()


def run_in_process(s: Served, data: dict[str, Any], results: Path,
                   listener: SilentListener | None = None) -> RunOutcome:
    """The runner's path (validate, connect, engine, close) with a progress listener."""
    text = plan_text(data)
    request = RunRequest(parse_plan(text), text, s.bench, BENCH_PATH.read_text(), results,
                         simulated=True)
    return run(request, listener)


def events(outcome: RunOutcome) -> tuple[RecordSummary, list[str]]:
    summary = open_record(outcome.record_path)
    return summary, [f"{e['level']}: {e['message']}" for e in summary.events]


def assert_ends_safe(s: Served) -> None:
    """The simulator's end state: both outputs off at 0 V, the device intact."""
    gate, drain = s.sim.bench.smu[GATE_KEY], s.sim.bench.smu[DRAIN_KEY]
    assert not gate.output_on and not drain.output_on, (gate, drain)
    assert gate.level == 0.0 and drain.level == 0.0, (gate, drain)
    hemt = s.sim.bench.hemt
    assert not hemt.damaged, hemt.damage_reason


def assert_bench_safe(s: Served, ramp_step_v: float = 1.0) -> None:
    """The simulator's view: the safe end state and the §2.6 order all along."""
    assert_ends_safe(s)
    assert_safe_history(s.history, ramp_step_v=ramp_step_v)


def assert_mid_sweep_when_faulted(s: Served, fault_index: int) -> None:
    """The fault hit a biased device: the drain was on and the gate above pinch-off."""
    snaps = replay(s.history[:fault_index])
    assert snaps and snaps[-1].drain_on and snaps[-1].gate_on and snaps[-1].gate_v > -5.0, snaps


def has(lines: list[str], *fragments: str) -> bool:
    return any(all(f in line for f in fragments) for line in lines)


# ----------------------------------------------------------------------------- the hook itself

def test_stalled_link_times_out_while_a_second_session_gets_through() -> None:
    """The fault-injection hook the timeout scenario relies on (ScpiServer
    .stall_open_connections): the hung session is not executed, a new one is served."""
    from instruments.errors import InstrumentTimeout
    from instruments.registry import connect

    with served() as s:
        resource = s.bench.instruments["smu"].resource
        first = connect("keysight.b2902a", resource, timeout_s=HUNG_TIMEOUT_S)
        s.server.stall_open_connections()
        second = connect("keysight.b2902a", resource, timeout_s=HUNG_TIMEOUT_S)
        with pytest.raises(InstrumentTimeout):
            first.set_output(1, True)
        assert not s.sim.bench.smu[GATE_KEY].output_on  # swallowed, never executed
        second.set_output(1, True)
        assert s.sim.bench.smu[GATE_KEY].output_on
        second.set_output(1, False)
        first.close()
        second.close()


# ----------------------------------------------------------------------------- 1. timeout

def test_instrument_timeout_mid_sweep_the_watchdog_makes_it_safe(tmp_path: Path) -> None:
    """The SMU link hangs mid-sweep: the main session times out, the kernel's power-down over
    it fails step by step, and the watchdog, with its own session, powers the device down."""
    with served(timeout_s=HUNG_TIMEOUT_S) as s:
        fault_at: list[int] = []

        def hang() -> None:
            fault_at.append(len(s.history))
            s.server.stall_open_connections()  # for good: this session never recovers

        outcome = run_in_process(s, plan_data(), tmp_path, AtPoint(3, hang))
        assert fault_at, "the run never reached the fault point"
        assert_mid_sweep_when_faulted(s, fault_at[0])
        assert_bench_safe(s)
    summary, lines = events(outcome)
    assert outcome.status == "error" and summary.status == "error"
    assert "InstrumentTimeout" in (outcome.error or ""), outcome.error
    assert has(lines, "bias: power-down FAILED: drain ramp to 0 V"), lines
    assert has(lines, "bias: handing over to the watchdog"), lines
    assert has(lines, "bias: watchdog reports the bench safe"), lines
    assert has(lines, "bias: power-down complete: bench safe"), lines
    log = outcome.record_path.with_suffix(".watchdog.log").read_text(encoding="utf-8")
    assert "power-down handed over by the parent" in log and "complete: bench safe" in log


# ----------------------------------------------------------------------------- 2. dropped link

def test_dropped_connection_mid_sweep_the_watchdog_makes_it_safe(tmp_path: Path) -> None:
    """The instrument closes the main session's socket mid-sweep (ConnectionLost from then
    on): the watchdog's own session powers the device down."""
    with served(timeout_s=HUNG_TIMEOUT_S) as s:
        fault_at: list[int] = []

        def drop() -> None:
            fault_at.append(len(s.history))
            s.server.drop_next()

        outcome = run_in_process(s, plan_data(), tmp_path, AtPoint(3, drop))
        assert fault_at, "the run never reached the fault point"
        assert_mid_sweep_when_faulted(s, fault_at[0])
        assert_bench_safe(s)
    summary, lines = events(outcome)
    assert outcome.status == "error" and summary.status == "error"
    assert "ConnectionLost" in (outcome.error or ""), outcome.error
    assert has(lines, "bias: handing over to the watchdog"), lines
    assert has(lines, "bias: watchdog reports the bench safe"), lines
    assert has(lines, "safe state: transistor bias powered down by the watchdog"), lines
    assert not has(lines, "safe state FAILED"), lines  # the dead session is not retried


# ----------------------------------------------------------------------------- 3. compliance

def test_drain_compliance_trip_mid_sweep_powers_down_and_says_why(tmp_path: Path) -> None:
    """A drain compliance of 0.1 A (SOA-valid: 5 V x 0.1 A = 0.5 W) below Idss ≈ 0.5 A: the
    kernel trips on the way up the transfer curve, powers down itself, the run is in error."""
    data = plan_data(drain_current_limit_a=0.1)
    plan = parse_plan(plan_text(data))  # valid: every point is inside the SOA
    step = plan.steps[0]
    assert isinstance(step, TransferCurveStep)
    assert [p.vgs_v for p in step.bias_points()] == [-5.0, -4.0, -3.0, -2.0, -1.0, 0.0]
    with served() as s:
        outcome = run_in_process(s, data, tmp_path)
        assert_bench_safe(s)
        # the simulator's drain channel did get the 0.1 A compliance the trip is judged against
        assert any(key == DRAIN_KEY and name == "limit" and value == pytest.approx(0.1)
                   for key, name, value in s.history)
    summary, lines = events(outcome)
    assert outcome.status == "error" and summary.status == "error"
    assert "BiasFault: drain compliance trip at Vgs" in (outcome.error or ""), outcome.error
    assert "bench safe" in (outcome.error or "")
    assert has(lines, "bias: FAULT: drain compliance trip"), lines
    assert has(lines, "bias: power-down complete: bench safe"), lines
    assert not has(lines, "handing over to the watchdog"), lines
    step = summary.steps[0]
    assert step.name == "transfer" and step.verdict == "error" and step.status == "error"


# ----------------------------------------------------------------------------- 4. Ctrl-C

def assert_powered_down_in_order(s: Served, lines: list[str]) -> None:
    """The §2.6 order on the simulator and a kernel power-down that did not fail. (These
    tests found that a Ctrl-C landing while a query waited for its reply left the session one
    reply late, so the power-down switched the drain off at full Vds: ScpiSession now marks an
    interrupted transaction for resync.)"""
    assert_safe_history(s.history, ramp_step_v=1.0)
    assert not has(lines, "power-down FAILED"), lines


def interrupt_while_a_reply_is_pending(s: Served, send: Callable[[], None],
                                       hold_s: float = 1.5) -> None:
    """Hold back the SMU's next reply for ``hold_s`` and, as soon as the query it answers has
    reached the simulator (the client now blocks in its read), call ``send`` (the SIGINT) from
    another thread: the interrupt lands mid-query, where a run spends most of its time."""
    seen = len(s.messages())
    s.server.delay_replies(hold_s, 1)

    def watch() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not any(b"?" in m for m in s.messages()[seen:]):
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
        send()

    threading.Thread(target=watch, name="sigint-mid-query", daemon=True).start()


def assert_aborted_safe(s: Served, outcome: RunOutcome) -> list[str]:
    """Aborted, the device intact and off, the record saying so; returns its event lines."""
    assert_ends_safe(s)
    summary, lines = events(outcome)
    assert outcome.status == "aborted" and summary.status == "aborted"
    assert has(lines, "error: run aborted"), lines
    assert has(lines, "bias: power-down complete: bench safe"), lines
    assert summary.steps[0].verdict == "aborted"
    return lines


def test_ctrl_c_between_transactions_aborts_safe(tmp_path: Path) -> None:
    """A real SIGINT in the main thread mid-sweep, while no query is outstanding (raised as a
    point is stored): the default handler's KeyboardInterrupt, kernel power-down in order."""
    with served() as s:
        outcome = run_in_process(s, plan_data(), tmp_path,
                                 AtPoint(3, lambda: signal.raise_signal(signal.SIGINT)))
        lines = assert_aborted_safe(s, outcome)
        assert_safe_history(s.history, ramp_step_v=1.0)
    assert not has(lines, "handing over to the watchdog"), lines
    assert has(lines, "safe state: transistor bias powered down"), lines


def test_ctrl_c_while_a_reply_is_pending_aborts_safe(tmp_path: Path) -> None:
    """SIGINT delivered to the main thread while it waits for an SMU reply mid-sweep."""
    main = threading.main_thread().ident
    assert main is not None
    with served() as s:
        def ctrl_c() -> None:
            interrupt_while_a_reply_is_pending(
                s, lambda: signal.pthread_kill(main, signal.SIGINT))

        outcome = run_in_process(s, plan_data(), tmp_path, AtPoint(3, ctrl_c))
        lines = assert_aborted_safe(s, outcome)
        assert_powered_down_in_order(s, lines)


def test_abort_requested_mid_sweep_aborts_safe(tmp_path: Path) -> None:
    """A supervisor's ``engine.abort_requested`` (set from another thread, as a UI or an agent
    would) stops the sweep at the next point."""
    text = plan_text(plan_data())
    plan: Plan = parse_plan(text)
    with served() as s:
        meta = RunMeta(plan_name=plan.name, plan_version=plan.version, plan_text=text,
                       bench_name=s.bench.name, bench_text=BENCH_PATH.read_text(),
                       dut=plan.dut.model_dump(mode="json"), operator="", software={},
                       simulated=True)
        record = RunRecord.create(tmp_path, str(uuid.uuid4()), meta)
        instruments = connect_bench(s.bench, "@py")
        engine: Engine | None = None

        def request_abort() -> None:
            assert engine is not None
            t = threading.Thread(target=engine.abort_requested.set)
            t.start()
            t.join()

        try:
            engine = Engine(plan, s.bench, instruments, record, AtPoint(3, request_abort))
            outcome = engine.run()
        finally:
            for instrument in instruments.values():
                instrument.close()
        lines = assert_aborted_safe(s, outcome)
        assert_safe_history(s.history, ramp_step_v=1.0)
    assert has(lines, "run aborted: abort requested"), lines


# ----------------------------------------------------------------------------- subprocess runs

def write_files(s: Served, data: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """Plan and bench files for ``benchbot run`` against the bench served in this process."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text(data), encoding="utf-8")
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump(s.bench.model_dump(mode="json", exclude_none=True,
                                                       by_alias=True), sort_keys=False))
    return plan, bench


def start_cli_run(plan: Path, bench: Path, results: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchbot.cli", "run", str(plan), "--bench", str(bench),
         "--results-dir", str(results)], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def wait_for(condition: Callable[[], bool], what: str,
             proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``condition`` until it holds; fail after DEADLINE_S (or if ``proc`` ended)."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"benchbot run ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S:g} s")
        time.sleep(0.005)


def gate_rises(s: Served) -> int:
    """How many times the gate level went up while the drain was on (sweep progress)."""
    rises, previous = 0, None
    for snap in replay(list(s.history)):
        if previous is not None and snap.drain_on and snap.gate_v > previous.gate_v:
            rises += 1
        previous = snap
    return rises


def child_pids(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            if fields.get("PPid", "").strip() == str(pid):
                found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigint_to_benchbot_run_mid_sweep_exits_aborted_and_safe(tmp_path: Path) -> None:
    """Ctrl-C at the terminal of ``benchbot run``: exit 5, an aborted record, the device powered
    down in order. The signal lands while the run waits for an SMU reply (the usual case)."""
    results = tmp_path / "results"
    with served() as s:
        plan, bench = write_files(s, plan_data(FINE), tmp_path)
        proc = start_cli_run(plan, bench, results)
        try:
            wait_for(lambda: gate_rises(s) >= 3, "sweep under way", proc)
            interrupt_while_a_reply_is_pending(s, lambda: proc.send_signal(signal.SIGINT))
            out, err = proc.communicate(timeout=DEADLINE_S)
        finally:
            stop(proc)
        assert proc.returncode == 5, out + err
        assert "verdict ABORTED" in out and "status aborted" in out
        (record,) = results.glob("*.h5")
        summary = open_record(record)
        lines = [e["message"] for e in summary.events]
        assert summary.status == "aborted"
        assert has(lines, "bias: power-down complete: bench safe"), lines
        assert_ends_safe(s)
        assert_powered_down_in_order(s, lines)


def test_sigkill_of_benchbot_run_mid_sweep_the_watchdog_powers_down(tmp_path: Path) -> None:
    """``benchbot run`` killed outright: no engine, no finally; the watchdog process it spawned
    sees the pipe close and powers the device down through its own session."""
    results = tmp_path / "results"
    with served() as s:
        plan, bench = write_files(s, plan_data(FINE), tmp_path)
        proc = start_cli_run(plan, bench, results)
        orphans: list[int] = []
        try:
            wait_for(lambda: gate_rises(s) >= 3, "sweep under way", proc)
            orphans = child_pids(proc.pid)  # the watchdog (and multiprocessing's tracker)
            assert s.sim.bench.smu[DRAIN_KEY].output_on
            proc.kill()
            proc.communicate(timeout=DEADLINE_S)
            smu = s.sim.bench.smu
            wait_for(lambda: not smu[GATE_KEY].output_on and not smu[DRAIN_KEY].output_on,
                     "power-down by the watchdog")
            wait_for(lambda: not any(alive(pid) for pid in orphans), "watchdog exit")
        finally:
            stop(proc)
            for pid in orphans:  # only if the watchdog hung: it exits by itself
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        assert_bench_safe(s)
    (log,) = results.glob("*.watchdog.log")
    text = log.read_text(encoding="utf-8")
    assert "parent process gone (pipe closed): making the bias safe" in text, text
    assert "power-down complete: bench safe" in text, text
    (partial,) = results.glob("*.h5.partial")  # the killed run never closed its record
    assert open_record(partial, ignore_lock=True).interrupted


# ----------------------------------------------------------------------------- 6. SOA refusal

def soa_breaking_plan() -> dict[str, Any]:
    """One point out: the transfer curve's last gate voltage, +2 V, is above the SOA's +1 V
    (the others are inside: 5 V x 0.9 A = 4.5 W worst case, SOA 6 W)."""
    return plan_data([-5.0, -3.0, -1.0, 0.0, 2.0])


REFUSAL = ("steps[0]: outside the transistor SOA: point 4 (Vgs 2 V, Vds 5 V): "
           "Vgs 2 V outside -8..1 V")


def test_plan_outside_the_soa_is_refused_before_any_instrument(tmp_path: Path) -> None:
    data = soa_breaking_plan()
    with served() as s:
        with pytest.raises(PlanError) as refused:
            run_in_process(s, data, tmp_path)
        assert s.messages() == [] and s.history == []
    text = str(refused.value)
    assert REFUSAL in text and len(refused.value.issues) == 1, text
    assert not list(tmp_path.glob("*.h5*")), "a refused plan must not open a record"


def test_benchbot_run_refuses_a_plan_outside_the_soa_without_touching_the_bench(
        tmp_path: Path) -> None:
    with served() as s:
        plan, bench = write_files(s, soa_breaking_plan(), tmp_path)
        result = subprocess.run(
            [sys.executable, "-m", "benchbot.cli", "run", str(plan), "--bench", str(bench),
             "--results-dir", str(tmp_path / "results")], cwd=REPO, env=ENV,
            capture_output=True, text=True, timeout=DEADLINE_S)
        assert s.messages() == [] and s.history == []
    assert result.returncode == 3, result.stdout + result.stderr
    assert REFUSAL in " ".join(result.stderr.split()), result.stderr  # rich wraps long lines
    assert not (tmp_path / "results").exists()
