"""`benchbot run --resume` of GaN HEMT runs killed (SIGKILL) with the device biased, through the
bias safety kernel: output family, pulsed I-V and off-state breakdown on the simulated GaN bench,
a power sweep at bias on the simulated GaN PA bench.

What a kill leaves, as these tests find it: the simulators run inside the killed process
(`tests._resume.kill_at_point` serves the bench in it), so they die with it and the simulated
device with them; the run's watchdog (a separate process) survives, sees its pipe close and tries
to power the device down, but cannot open a session (connection refused: nothing listens any
more). The resumed run serves a new simulated bench whose SMU outputs are off. On a real bench the
instruments survive the kill and the watchdog's power-down is what leaves them off; the resumed
run's kernel does not assume it: before powering up it reads both outputs and, if one is on,
powers down first (`test_resume_on_a_bench_left_biased_powers_down_before_powering_up`), then
powers up through its checked sequence (compliances first, gate pinched off and read back, drain
on at 0 V and ramped), keeping the sweep's own drain compliance
(`test_a_sweep_keeps_its_own_compliance_when_it_finds_the_device_left_biased`).

Tolerances (`TOLERANCE`): from the spread of uninterrupted runs and of resumed runs against them on
this simulated bench (the simulators' noise restarts with the resumed bench): see the comments.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from benchbot import simbench
from benchbot.bench import BenchDefinition, builtin_bench_path, load_bench
from benchbot.bias import BiasKernel
from benchbot.cli import main
from benchbot.engine import RunOutcome
from benchbot.limits import MetricResult
from benchbot.plan import parse_plan
from benchbot.results.meta import sha256_text
from benchbot.results.reader import open_record
from benchbot.results.resume import inspect
from benchbot.runner import RunRequest
from benchbot.runner import resume as resume_in_process
from instruments.registry import connect
from tests._bias_bench import assert_safe_history, process_alive, record_smu_changes, wait_until
from tests._resume import differences, kill_at_point, resume, run_plan

DATA = Path(__file__).parent / "data"
#: output family, pulsed I-V and breakdown; each kind runs as a plan of its own (`step_plan`)
DC_PLAN = DATA / "resume_hemt_dc.yaml"
#: one power sweep at bias (-1.8 V, 24 V), two carriers of 8 drive levels
PA_PLAN = DATA / "resume_hemt_pa.yaml"
GAN, GAN_RF = "simulated-gan", "simulated-gan-rf"
SEED = 20261124
#: how long a poll for another process may take before the test gives up (a hang, not a timing)
DEADLINE_S = 60.0
#: the DC plan's ramp step (its drain moves in 5 V steps: `assert_safe_history` checks them)
RAMP_STEP_V = 5.0

# Tolerance by metric unit. Measured on these benches: the simulators are seeded, so two
# uninterrupted runs agree exactly (pulsed I-V, whose trapping follows wall time, to 0.0008 %
# collapse and 0.0002 in the dynamic Ron ratio). A row measured again after a resume sees new
# noise (a resumed simulated session serves new streams) and another bias history just before it
# (a power-up instead of the previous row): killed at 3 points of each plan, the resumed runs
# moved Ron by up to 0.020 Ohm, Id,max by 3e-7 A, the collapse by 0.008 %, the dynamic Ron ratio
# by 0.0003, BV by 0.0006 V, G0 by 0.004 dB, P1dB by 0.008 dB(m), Psat by 0.013 dBm and PAE /
# drain efficiency by 0.15 points. The bounds are ~3x those (Id,max and BV: a tenth of a percent
# of the value, above their noise), far below what a resume that got the bias or a compliance
# wrong gives (e.g. Id,max 0.58 A instead of 0.17 A).
TOLERANCE = {"Ohm": 0.06, "Ohm*mm": 0.06, "A": 2e-4, "A/mm": 2e-4, "%": 0.5, "1": 0.001,
             "V": 0.2, "dB": 0.05, "dBm": 0.05}


def tolerance(metric: MetricResult) -> float:
    return TOLERANCE[metric.unit]


# ----------------------------------------------------------------------------- plans, runs

def step_plan_text(step: str) -> str:
    """`DC_PLAN` cut to its step ``step`` (same text every time: the same plan SHA-256)."""
    data = yaml.safe_load(DC_PLAN.read_text(encoding="utf-8"))
    data["name"] = f"resume_hemt_{step}"
    data["steps"] = [s for s in data["steps"] if s["name"] == step]
    return yaml.safe_dump(data, sort_keys=False)


def step_plan(step: str, folder: Path) -> Path:
    """`step_plan_text` as a plan file in ``folder``."""
    path = folder / f"resume_hemt_{step}.yaml"
    path.write_text(step_plan_text(step), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The uninterrupted run of a DC step's plan (or of "pa"), run once per module."""
    records: dict[str, Path] = {}

    def get(step: str) -> Path:
        if step not in records:
            folder = tmp_path_factory.mktemp(f"reference_{step}")
            plan, bench = (PA_PLAN, GAN_RF) if step == "pa" else (step_plan(step, folder), GAN)
            status, records[step] = run_plan(plan, bench, folder / "results")
            assert status == 0, f"the uninterrupted {step} run did not pass"
        return records[step]

    return get


@dataclass
class Killed:
    """A run SIGKILLed inside step ``group``, as its `.h5.partial` was left."""

    partial: Path
    group: str
    point: int
    committed: tuple[int, ...]  # the step's committed rows at the kill
    data: dict[str, np.ndarray]  # the step's datasets at the kill
    watchdog_log: str

    def copy_to(self, folder: Path) -> Path:
        """A copy of the partial record (and its watchdog log) to resume or edit."""
        folder.mkdir(parents=True, exist_ok=True)
        for path in (self.partial, watchdog_log_path(self.partial)):
            if path.exists():
                shutil.copy(path, folder / path.name)
        return folder / self.partial.name


def watchdog_log_path(record: Path) -> Path:
    """Where the kernel's watchdog writes, next to the record (`<name>.watchdog.log`)."""
    name = record.name.removesuffix(".partial").removesuffix(".h5")
    return record.with_name(name + ".watchdog.log")


def kill(plan: Path, bench: str, results: Path, point: int, group: str,
         watch_to_the_end: bool = False) -> Killed:
    """SIGKILL a run of ``plan`` at its ``point``-th point and deal with its orphaned watchdog.

    A watchdog armed at the kill (the device biased: its record's last kernel event about it
    is "watchdog armed (pid N)") acts at once: its pipe closes with the killed process. On this
    simulated bench it cannot reach anything, the simulators died with the run. With
    ``watch_to_the_end`` this waits until it has tried to connect and reported that; otherwise
    it is ended by its pid as soon as it has logged that it acts, so that it can never reach the
    simulators of a later run through a reused port (on a real bench it would power the device
    down)."""
    partial = kill_at_point(plan, bench, results, point)
    log = watchdog_log_path(partial)
    pid = armed_watchdog(partial)
    if pid is not None:
        assert wait_until(lambda: f"watchdog[{pid}]: parent process gone" in _text(log),
                          DEADLINE_S), _text(log)
        if watch_to_the_end:
            assert wait_until(lambda: "cannot open" in _text(log), DEADLINE_S), _text(log)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not process_alive(pid), DEADLINE_S), f"watchdog {pid} lives"
    with h5py.File(partial, "r") as f:
        step = f["steps"][group]
        committed = tuple(int(r) for r in step.attrs.get("committed_rows", []))
        data = {name: ds[()] for name, ds in step.items()
                if isinstance(ds, h5py.Dataset) and not ds.is_scale}
    return Killed(partial, group, point, committed, data, _text(log))


def armed_watchdog(record: Path) -> int | None:
    """The pid of the watchdog the run had armed when it stopped writing (None: the device was
    powered down then, its watchdog stopped)."""
    pid = None
    for line in (str(e["message"]) for e in open_record(record, ignore_lock=True).events):
        match = re.fullmatch(r"bias: watchdog armed \(pid (\d+)\)", line)
        if match:
            pid = int(match.group(1))
        elif line.startswith("bias: power-down complete"):
            pid = None
    return pid


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def events(record: Path) -> list[str]:
    return [str(e["message"]) for e in open_record(record).events]


def index_of(lines: list[str], fragment: str, start: int = 0) -> int:
    """Index of the first line from ``start`` holding ``fragment`` (fails naming it)."""
    for i in range(start, len(lines)):
        if fragment in lines[i]:
            return i
    raise AssertionError(f"no event {fragment!r} after event {start}: {lines[start:]}")


def assert_resumed(killed: Killed, record: Path, reference: Path, why: str) -> None:
    """Equal to the uninterrupted run within `TOLERANCE`; the committed rows kept bit for bit
    and the others measured; one interruption naming the step; a valid record."""
    assert differences(record, reference, tolerance) == [], why
    with h5py.File(record, "r") as f:
        step = f["steps"][killed.group]
        for name, before in killed.data.items():
            after = step[name][()]
            for row in killed.committed:  # kept, not measured again (NaN where never reached)
                np.testing.assert_array_equal(after[row], before[row], err_msg=f"{name} {why}")
            rows = after.reshape(after.shape[0], -1)  # every row measured (or kept)
            assert np.isfinite(rows[0]).any() and (
                after.ndim == 1 or np.isfinite(rows).any(axis=1).all()), (name, why)
        interruptions = f["interruptions"][()]
    (row,) = interruptions
    assert (row["interrupted_status"], row["step"], row["rows_kept"]) == (
        b"interrupted", killed.group.encode(), len(killed.committed)), why
    summary = open_record(record)
    assert (summary.status, summary.format_version) == ("completed", "1.1"), why
    assert main(["results", "check", str(record)]) == 0, why


def assert_powered_up_checked(record: Path, vgs_v: float, vds_v: float, why: str,
                              drain: tuple[str, str, str] = ("smu", ":OUTP2?", ":OUTP2 ON")
                              ) -> int:
    """After the resume event: the kernel powered the device up again to (vgs, vds) by its
    checked sequence (gate pinched off and read back, then biased) before anything was
    measured, and in the resumed run's SCPI traffic it read both outputs before switching the
    gate (SMU channel 1) on, and the gate on before the drain (``drain``: its role, its
    output query and its output-on command). Returns the index of the event saying the device
    is biased."""
    lines = events(record)
    resumed = index_of(lines, "run resumed: interrupted in step")
    up = index_of(lines, f"bias: power-up to Vgs {vgs_v:g} V, Vds {vds_v:g} V", resumed)
    biased = index_of(lines, "bias: biased:", index_of(lines, "bias: gate pinched off", up))
    assert not any("bias:" in line for line in lines[resumed:up]
                   if "watchdog armed" not in line), (lines[resumed:up], why)
    role, query, switch_on = drain
    gate, drain_sent = sent_commands(record, "smu"), sent_commands(record, role)
    gate_on, drain_on = first(gate, ":OUTP1 ON"), first(drain_sent, switch_on)
    assert ":OUTP1?" in [text for _, text in gate[:gate_on]], why
    assert query in [text for _, text in drain_sent[:drain_on]], why
    if role == "smu":
        assert gate_on < drain_on, why
    else:
        assert gate[gate_on][0] < drain_sent[drain_on][0], why
    return biased


def first(sent: list[tuple[float, str]], command: str) -> int:
    return next(i for i, (_, text) in enumerate(sent) if text == command)


def sent_commands(record: Path, role: str) -> list[tuple[float, str]]:
    """(time, command) of every program message the resumed run sent to ``role``."""
    with h5py.File(record, "r") as f:
        rows = f[f"traffic/{role}"][()]
    return [(float(r["time"]), _decode(r["text"])) for r in rows if _decode(r["direction"]) == "w"]


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ----------------------------------------------------------------------------- output family

#: drain voltages per gate step of the output plan
OUTPUT_CURVE = 8
OUTPUT_GATES_V = (-2.0, -1.0, 0.0)
#: chosen: the 4th point of the third curve; the -1 V curve before it (committed) ended in its
#: compliance stop, so the record the kill leaves shows the device in compliance
OUTPUT_KILL_POINT = 2 * OUTPUT_CURVE + 4


@pytest.fixture(scope="module")
def output_kill(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    folder = tmp_path_factory.mktemp("output_kill")
    plan = step_plan("output", folder)
    killed = kill(plan, GAN, folder / "results", OUTPUT_KILL_POINT, "000_output",
                  watch_to_the_end=True)
    assert killed.committed == (0, 1)
    assert (killed.data["drain_in_compliance"][1] == 1.0).any()
    return killed


def test_a_kill_leaves_the_watchdog_without_a_bench_the_simulators_died_with_the_run(
        output_kill: Killed) -> None:
    """The killed run's watchdog acted at once (pipe closed) but could not open a session: the
    simulated SMU lived in the killed process. Nothing is left biased on the simulated bench."""
    log = output_kill.watchdog_log
    assert "parent process gone (pipe closed): making the bias safe" in log, log
    assert re.search(r"cannot open keysight\.b2902a at TCPIP::127\.0\.0\.1::\d+::SOCKET: .*"
                     "Connection refused", log), log
    summary = open_record(output_kill.partial, ignore_lock=True)
    assert summary.interrupted and summary.steps[0].status == "interrupted"


def test_output_family_resumes_from_its_committed_curves(
        output_kill: Killed, reference: Callable[[str], Path], tmp_path: Path) -> None:
    why = f"output family killed at point {OUTPUT_KILL_POINT}"
    partial = output_kill.copy_to(tmp_path)
    status, record = resume(partial)
    assert status == 0, why
    assert_resumed(output_kill, record, reference("output"), why)
    # the interrupted curve was measured again whole, from its first drain voltage, the kernel
    # powering up through its checked sequence to that curve's bias
    assert_powered_up_checked(record, OUTPUT_GATES_V[2], 0.0, why)
    with h5py.File(record, "r") as f:
        assert f["steps/000_output/curve_stopped_by_compliance"][()].tolist() == [0, 1, 1]


def test_resume_on_a_bench_left_biased_powers_down_before_powering_up(
        output_kill: Killed, tmp_path: Path) -> None:
    """The real-bench case where nothing made the device safe after the kill (the watchdog
    could not, e.g. the LAN was down too): the resumed run's set-up finds an output on and has
    the kernel power the device down in the §2.6 order (drain ramped to 0 V and off, then the
    gate) before anything else (meters zeroed, steps); the step then powers up by its checked
    sequence; the simulated SMU saw that order throughout."""
    partial = output_kill.copy_to(tmp_path)
    plan_text = inspect(partial).plan_text
    plan = parse_plan(plan_text)
    with served(GAN, plan.dut.part_number) as (bench, sim, history):
        smu = connect("keysight.b2902a", bench.instruments["smu"].resource)
        try:  # what the killed run had done: biased at the third curve, Vds 3 V
            terminals, soa = plan.conditions.bias, plan.dut.safe_operating_area.transistor
            assert terminals is not None and soa is not None
            BiasKernel(smu, 1, smu, 2, soa, terminals, watchdog=False).power_up(0.0, 3.0)
        finally:
            smu.close()  # the process "dies": no power-down
        assert sim.bench.smu[("smu", 2)].output_on and sim.bench.smu[("smu", 2)].level == 3.0
        outcome = resume_on(bench, GAN, partial, plan_text)
        assert_safe_history(history, ramp_step_v=RAMP_STEP_V)
        assert not sim.bench.hemt.damaged, sim.bench.hemt.damage_reason
    assert outcome.status == "completed", outcome.error
    lines = events(outcome.record_path)
    resumed = index_of(lines, "run resumed: interrupted in step")
    found_on = index_of(lines, "bias: gate or drain output found on at run start: powering "
                        "the transistor down before anything else", resumed)
    safe = index_of(lines, "bias: power-down complete: bench safe", found_on)
    index_of(lines, "bias: power-up to Vgs 0 V, Vds 0 V", safe)


def test_a_sweep_keeps_its_own_compliance_when_it_finds_the_device_left_biased() -> None:
    """Where the resume above goes wrong: the resumed curve at Vgs 0 V must run under its
    step's 0.25 A compliance (it stops there at 3 V); after the power-down it runs at the
    terminals' 0.9 A and reads 0.58 A. For a breakdown sweep that compliance is the stop."""
    plan = parse_plan(step_plan_text("output"))
    terminals, soa = plan.conditions.bias, plan.dut.safe_operating_area.transistor
    assert terminals is not None and soa is not None
    with served(GAN, plan.dut.part_number) as (bench, sim, _):
        smu = connect("keysight.b2902a", bench.instruments["smu"].resource)
        try:
            BiasKernel(smu, 1, smu, 2, soa, terminals, watchdog=False).power_up(0.0, 3.0)
            kernel = BiasKernel(smu, 1, smu, 2, soa, terminals, watchdog=False)
            limits: list[float] = []
            sweep = kernel.sweep_drain(
                0.0, [0.0, 1.0, 3.0], compliance_stops=True, drain_current_limit_a=0.25,
                on_point=lambda i, r: limits.append(sim.bench.smu[("smu", 2)].limit))
            kernel.power_down()
        finally:
            smu.close()
    assert set(limits) == {0.25} and sweep.stopped_by_compliance, (limits, sweep.id_a)


def test_resume_of_a_plan_edited_out_of_the_soa_is_refused_before_anything(
        output_kill: Killed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A record that shows the device in compliance, whose stored plan now has a point outside
    the SOA (edited by hand, its SHA-256 with it): `run --resume` refuses it (exit 3) before it
    starts a bench or touches the record."""
    partial = output_kill.copy_to(tmp_path / "results")
    data = yaml.safe_load(inspect(partial).plan_text)
    data["steps"][0]["gate_voltages_v"].append(2.0)  # the SOA allows -8..1 V
    edit_plan(partial, yaml.safe_dump(data, sort_keys=False))
    before = partial.read_bytes()
    assert main(["run", "--resume", str(partial)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "outside the transistor SOA" in err and "Vgs 2 V outside -8..1 V" in err, err
    assert partial.read_bytes() == before
    assert sorted(p.name for p in partial.parent.iterdir()) == sorted(
        [partial.name, watchdog_log_path(partial).name])


def test_resume_runs_the_kernel_check_before_any_output(output_kill: Killed,
                                                        tmp_path: Path) -> None:
    """The same, where only the bias kernel can refuse: an added step inside the SOA whose drain
    compliance (0.2 A at 25 V) the B2902A cannot source above 21 V. The resumed run stops at
    the kernel's check, before any output goes on; it ends in error, saying why."""
    partial = output_kill.copy_to(tmp_path)
    data = yaml.safe_load(inspect(partial).plan_text)
    data["steps"].append({
        "name": "hot_output", "kind": "output_family", "gate_voltages_v": [-3.0],
        "drain_voltage_v": [0.0, 10.0, 25.0], "ron_gate_voltage_v": -3.0,
        "drain_current_limit_a": 0.2})  # 25 V x 0.2 A = 5 W: inside the 6 W SOA
    text = yaml.safe_dump(data, sort_keys=False)
    parse_plan(text)  # the plan itself is valid
    edit_plan(partial, text)
    with served(GAN, parse_plan(text).dut.part_number) as (bench, sim, history):
        outcome = resume_on(bench, GAN, partial, text)
        assert not any(name == "output_on" and value for _, name, value in history), history
    assert outcome.status == "error" and "SoaViolation" in (outcome.error or ""), outcome.error
    lines = events(outcome.record_path)
    refused = index_of(lines, "bias: refused:", index_of(lines, "run resumed"))
    assert "beyond B2902A channel 2" in lines[refused], lines[refused]
    assert not any("power-up" in line for line in lines[refused:])


# ----------------------------------------------------------------------------- pulsed I-V

PULSES_PER_Q = 12


def test_pulsed_iv_resumes_from_its_committed_quiescent_points(
        reference: Callable[[str], Path], tmp_path: Path) -> None:
    """Killed after the reference (and maybe the first stress) family was committed, before
    the last quiescent point was measured (its pulses are progress points 25-36)."""
    point = random.Random(SEED).randrange(1, 2 * PULSES_PER_Q + 1)
    why = f"pulsed I-V killed at point {point} (random seed {SEED})"
    killed = kill(step_plan("pulsed", tmp_path), GAN, tmp_path / "results", point, "000_pulsed")
    assert killed.committed == tuple(range((point - 1) // PULSES_PER_Q + 1)), why
    status, record = resume(killed.partial)
    assert status == 0, why
    assert_resumed(killed, record, reference("pulsed"), why)
    q = (-5.0, 10.0) if killed.committed == (0,) else (-5.0, 20.0)
    assert_powered_up_checked(record, *q, why)


# ----------------------------------------------------------------------------- breakdown

BREAKDOWN_POINTS = 18  # 0-170 V in 10 V steps; the compliance stop comes near 160 V


def test_breakdown_interrupted_mid_sweep_runs_again_from_its_start_and_says_so(
        reference: Callable[[str], Path], tmp_path: Path) -> None:
    """Killed mid-ramp (10-140 V), the device under off-state stress: the step had no
    committed row, so it is measured again whole; the record shows the device saw two sweeps."""
    point = random.Random(SEED + 1).randrange(2, 16)
    why = f"breakdown killed at point {point} ({10 * (point - 1)} V; random seed {SEED + 1})"
    killed = kill(step_plan("breakdown", tmp_path), GAN, tmp_path / "results", point,
                  "000_breakdown")
    assert killed.committed == (), why
    status, record = resume(killed.partial)
    assert status == 0, why
    assert_resumed(killed, record, reference("breakdown"), why)
    # nothing of the interrupted sweep was committed (its step was deleted); the events say
    # that it started and biased the device, that the run was interrupted in it, and that it
    # started again
    lines = events(record)
    first = index_of(lines, "off-state breakdown sweep 'breakdown' started")
    index_of(lines, "bias: biased: Vgs -7 V", first)
    resumed = index_of(lines, "run resumed: interrupted in step 'breakdown' after 0 committed",
                       first)
    again = index_of(lines, "off-state breakdown sweep 'breakdown' started", resumed)
    index_of(lines, "off-state breakdown sweep 'breakdown' REPEATED after an interruption",
             again)
    assert "a second stress" in lines[first]
    assert_powered_up_checked(record, -7.0, 0.0, why)


# ----------------------------------------------------------------------------- power sweep

PA_ROW = 8  # drive levels per carrier


def test_power_sweep_at_bias_resumes_with_the_bias_reapplied_through_the_kernel(
        reference: Callable[[str], Path], tmp_path: Path) -> None:
    """Killed in the second carrier (3.5 GHz) of a sweep at Vgs -1.8 V, Vds 24 V on the drain
    supply: the 3.4 GHz row is kept; the engine applies the step's bias again through the
    kernel (powered up from pinch-off by its checked sequence) before the 3.5 GHz row is
    measured again, and the row was measured biased."""
    point = PA_ROW + 3
    why = f"power sweep killed at point {point}"
    killed = kill(PA_PLAN, GAN_RF, tmp_path / "results", point, "000_class_ab")
    assert killed.committed == (0,), why
    status, record = resume(killed.partial)
    assert status == 0, why
    assert_resumed(killed, record, reference("pa"), why)
    biased = assert_powered_up_checked(record, -1.8, 24.0, why,
                                       drain=("dc_supply", "OUTP? (@2)", "OUTP ON,(@2)"))
    lines = events(record)
    assert "Vds 24" in lines[biased] or "Vds 23.9" in lines[biased], lines[biased]
    index_of(lines, "bias: power-down complete: bench safe", biased)  # after the row
    with h5py.File(record, "r") as f:
        drain_v = f["steps/000_class_ab/supply_drain_voltage_v"][1]
        drain_a = f["steps/000_class_ab/supply_drain_current_a"][1]
    assert np.allclose(drain_v, 24.0, atol=0.1) and (drain_a > 0.01).all(), why


# ----------------------------------------------------------------------------- helpers

def edit_plan(record: Path, plan_text: str) -> None:
    """Replace a record's stored plan and its SHA-256 (as if it had run that plan)."""
    with h5py.File(record, "r+") as f:
        f.attrs["plan_yaml"] = plan_text
        f.attrs["plan_sha256"] = sha256_text(plan_text)


@contextmanager
def served(bench_name: str, part_number: str
           ) -> Iterator[tuple[BenchDefinition, Any, list[tuple[tuple[str, int], str, Any]]]]:
    """The built-in simulated bench served in this process (as the CLI would), with every SMU
    channel change the simulator makes recorded."""
    bench = load_bench(builtin_bench_path(bench_name))
    with simbench.running(bench, part_number) as (served_bench, sim):
        yield served_bench, sim, record_smu_changes(sim.bench)


def resume_on(bench: BenchDefinition, bench_name: str, partial: Path,
              plan_text: str) -> RunOutcome:
    """What `run --resume` does once it has checked the plan and bench (`runner.resume`), on
    a bench served by the test."""
    point = inspect(partial)
    request = RunRequest(parse_plan(plan_text), plan_text, bench,
                         Path(builtin_bench_path(bench_name)).read_text(encoding="utf-8"),
                         partial.parent, simulated=True, simulator_seed=point.simulator_seed)
    return resume_in_process(request, partial)
