"""A GaN HEMT's drain on a DC power-supply channel (E36312A ch2) and its gate on an SMU
(B2902A ch1): the bias kernel drives the supply through ``SupplyAsSourceMeter``, the simulated
supply's channel is the device's drain (``simulation.wiring``), its CC mode is the compliance,
and the watchdog and the engine reach the supply drain too. Everything over real sockets; the
§2.6 order is judged on what the simulators did (``tests._bias_bench``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchbot import simbench
from benchbot.bench import BenchDefinition, builtin_bench_path, load_bench
from benchbot.bias import BiasFault, BiasKernel, smu_endpoint
from benchbot.engine import RunOutcome, SilentListener
from benchbot.plan import parse_plan
from benchbot.plan_bias import BiasTerminals, TerminalChannel
from benchbot.results.reader import open_record
from benchbot.runner import RunRequest, run
from benchbot.watchdog import SmuEndpoint
from instruments.interfaces import DCSupply, SourceMeter
from instruments.registry import connect
from instruments.supply_source import SupplyAsSourceMeter
from simulators import SimulatedBench
from simulators.keysight_e36312a import CURRENT_NOISE_A, VOLTAGE_NOISE_V
from tests._bias_bench import (
    DRAIN_KEY,
    GATE_KEY,
    PINCH_OFF_V,
    RAMP_STEP_V,
    SOA,
    assert_safe_history,
    process_alive,
    record_smu_changes,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
SUPPLY_KEY = ("dc_supply", 2)
#: the RF-test bias of the brief; Id ≈ 74 mA on the simulated 1 mm device (Pdiss ≈ 1.5 W)
VGS_V, VDS_V = -1.8, 20.0
#: 20 V x 0.25 A = 5 W worst case, inside the 6 W SOA
DRAIN_LIMIT_A = 0.25
#: well below the device's current at (VGS_V, VDS_V): the supply must go into CC
LOW_LIMIT_A = 0.03
History = list[tuple[tuple[str, int], str, Any]]


def config() -> dict[str, Any]:
    return {"seed": 5, "time_scale": 0.01,
            "instruments": {"smu": "keysight_b2902a", "dc_supply": "keysight_e36312a"},
            "dut": {"model": "gan_hemt", "gate_width_mm": 1.0},
            "wiring": {"gate": {"role": "smu", "channel": 1},
                       "drain": {"role": "dc_supply", "channel": 2}}}


def terminals(drain_limit_a: float = DRAIN_LIMIT_A) -> BiasTerminals:
    return BiasTerminals(gate=TerminalChannel(role="smu", channel=1),
                         drain=TerminalChannel(role="dc_supply", channel=2),
                         gate_current_limit_a=1e-3, drain_current_limit_a=drain_limit_a,
                         settle_s=1e-3, ramp_step_v=RAMP_STEP_V, gate_step_v=1.5)


def as_smu_history(history: History) -> History:
    """The recorder's history with the supply channel in the drain's place (the helpers of
    tests._bias_bench know the drain as ("smu", 2), unused on this bench)."""
    return [(DRAIN_KEY if key == SUPPLY_KEY else key, name, value)
            for key, name, value in history if key != DRAIN_KEY]


@pytest.fixture
def sim() -> Iterator[SimulatedBench]:
    with SimulatedBench(config()) as s:
        yield s


@contextlib.contextmanager
def instruments(sim: SimulatedBench) -> Iterator[tuple[SourceMeter, DCSupply]]:
    smu = connect("keysight.b2902a", sim.resources["smu"])
    supply = connect("keysight.e36312a", sim.resources["dc_supply"])
    assert isinstance(smu, SourceMeter) and isinstance(supply, DCSupply)
    try:
        yield smu, supply
    finally:
        smu.close()
        supply.close()


def model_id_a(sim: SimulatedBench, vgs_v: float, vds_v: float) -> float:
    _, i_d = sim.bench.hemt.currents(np.array([vgs_v]), np.array([vds_v]))
    return float(np.ravel(i_d)[0])


def assert_off(sim: SimulatedBench) -> None:
    gate, drain = sim.bench.smu[GATE_KEY], sim.bench.smu[SUPPLY_KEY]
    assert not gate.output_on and not drain.output_on, (gate, drain)
    assert gate.level == 0.0 and drain.level == 0.0, (gate, drain)
    assert not sim.bench.supply.outputs[2]


# ----------------------------------------------------------------------------- the kernel

def test_kernel_biases_through_the_supply_reads_the_model_and_powers_down_in_order(
        sim: SimulatedBench) -> None:
    history = record_smu_changes(sim.bench)
    with instruments(sim) as (smu, supply):
        with BiasKernel(smu, 1, SupplyAsSourceMeter(supply), 2, SOA, terminals(),
                        watchdog=False) as k:
            r = k.power_up(VGS_V, VDS_V)
            # the supply's programme is what the device sees
            drain = sim.bench.smu[SUPPLY_KEY]
            assert (drain.mode, drain.level, drain.limit, drain.output_on) == (
                "VOLT", VDS_V, DRAIN_LIMIT_A, True)
            assert supply.output_is_on(2) and not supply.in_current_limit(2)
            expected = model_id_a(sim, r.vgs_v, r.vds_v)
            assert 0.05 < expected < 0.1
            assert r.id_a == pytest.approx(expected, abs=5 * CURRENT_NOISE_A)
            assert r.vds_v == pytest.approx(VDS_V, abs=5 * VOLTAGE_NOISE_V)
            assert not r.drain_in_compliance and not r.gate_in_compliance
        assert k.last_power_down is not None and k.last_power_down.safe
        assert not supply.output_is_on(2) and not smu.output_is_on(1)
    assert_off(sim)
    assert_safe_history(as_smu_history(history))
    assert ("dc_supply", 1) not in sim.bench.smu  # unwired channels stay the PA-load model
    assert not sim.bench.hemt.damaged, sim.bench.hemt.damage_reason


def test_current_limit_below_the_device_current_is_a_fault_bench_safe_device_intact(
        sim: SimulatedBench) -> None:
    history = record_smu_changes(sim.bench)
    with instruments(sim) as (smu, supply):
        kernel = BiasKernel(smu, 1, SupplyAsSourceMeter(supply), 2, SOA,
                            terminals(LOW_LIMIT_A), watchdog=False)
        with pytest.raises(BiasFault, match="drain compliance trip") as fault, kernel:
            kernel.power_up(VGS_V, VDS_V)
        r = fault.value.reading
        assert r is not None and r.drain_in_compliance
        # CC: the supply held the limit and its voltage sagged far below the 20 V set point
        assert r.id_a == pytest.approx(LOW_LIMIT_A, abs=5 * CURRENT_NOISE_A)
        assert r.vds_v < 0.5 * VDS_V
        assert model_id_a(sim, VGS_V, VDS_V) > 2 * LOW_LIMIT_A
        assert fault.value.report is not None and fault.value.report.safe
        assert not supply.output_is_on(2) and not smu.output_is_on(1)
    assert_off(sim)
    assert_safe_history(as_smu_history(history))
    assert not sim.bench.hemt.damaged, sim.bench.hemt.damage_reason


# ----------------------------------------------------------------------------- adapter + sim

def test_supply_reports_cv_and_cc_from_the_device_and_the_adapter_refuses_what_it_cannot(
        sim: SimulatedBench) -> None:
    history = record_smu_changes(sim.bench)
    with instruments(sim) as (smu, supply):
        drain = SupplyAsSourceMeter(supply)
        assert drain.identity.model == "E36312A" and drain.channels == (1, 2, 3)
        assert smu_endpoint(drain, 2) == SmuEndpoint(
            "keysight.e36312a", sim.resources["dc_supply"], 2)
        # refused before anything is sent
        with pytest.raises(NotImplementedError, match="cannot force a current"):
            drain.set_current_source(2, 0.01, 5.0)
        with pytest.raises(ValueError, match="negative"):
            drain.set_voltage_source(2, -1.0, 0.1)
        with pytest.raises(NotImplementedError, match="list"):
            drain.voltage_list_sweep(2, np.array([0.0, 1.0]), 0.1)
        with pytest.raises(NotImplementedError, match="pulse"):
            drain.pulsed_iv_sweep(1, 2, np.zeros(2), np.zeros(2), gate_base_v=0.0,
                                  drain_base_v=0.0, gate_current_limit_a=1e-3,
                                  drain_current_limit_a=0.1, pulse_width_s=1e-4,
                                  pulse_period_s=1e-2)
        assert not history

        # gate pinched off, drain at 10 V with a limit below what the device will draw
        smu.set_voltage_source(1, PINCH_OFF_V, 1e-3)
        smu.set_output(1, True)
        drain.set_voltage_source(2, 10.0, LOW_LIMIT_A)
        drain.set_output(2, True)
        assert not drain.measure(2).in_compliance  # pinched off: CV
        smu.set_voltage_source(1, VGS_V, 1e-3)
        cc = drain.measure(2)
        assert cc.in_compliance and supply.in_current_limit(2)
        assert cc.current_a == pytest.approx(LOW_LIMIT_A, abs=5 * CURRENT_NOISE_A)
        assert cc.voltage_v < 5.0
        # a lower limit goes in before the voltage moves; here the limit goes up: CV again
        mark = len(history)
        drain.set_voltage_source(2, 8.0, DRAIN_LIMIT_A)
        changes = [name for key, name, _ in history[mark:] if key == SUPPLY_KEY]
        assert changes == ["limit", "level"], changes
        cv = drain.measure(2)
        assert not cv.in_compliance and not supply.in_current_limit(2)
        assert cv.voltage_v == pytest.approx(8.0, abs=5 * VOLTAGE_NOISE_V)
        assert cv.current_a == pytest.approx(model_id_a(sim, VGS_V, 8.0),
                                             abs=5 * CURRENT_NOISE_A)
        # channel 1 is not wired: no device on it (the PA-load model, no PA here)
        supply.set_current_limit_a(1, 1.0)
        supply.set_voltage_v(1, 3.0)
        supply.set_output(1, True)
        assert supply.measure_current_a(1) == pytest.approx(0.0, abs=5 * CURRENT_NOISE_A)
        assert not supply.in_current_limit(1)
        supply.set_output(1, False)
        # down in the §2.6 order by hand
        smu.set_voltage_source(1, PINCH_OFF_V, 1e-3)
        drain.set_voltage_source(2, 0.0, DRAIN_LIMIT_A)
        drain.set_output(2, False)
        smu.set_voltage_source(1, 0.0, 1e-3)
        smu.set_output(1, False)
        assert not drain.measure(2).in_compliance  # off: neither CV nor CC
    assert not sim.bench.hemt.damaged


# ----------------------------------------------------------------------------- watchdog

#: the kernel's process: bias through the supply, report the watchdog's pid, wait to be killed
CHILD = """
import json, sys, time
from benchbot.bias import BiasKernel
from benchbot.plan_bias import BiasTerminals, TransistorSOA
from instruments.registry import connect
from instruments.supply_source import SupplyAsSourceMeter
args = json.loads(sys.argv[1])
smu = connect("keysight.b2902a", args["smu"])
drain = SupplyAsSourceMeter(connect("keysight.e36312a", args["dc_supply"]))
kernel = BiasKernel(smu, 1, drain, 2, TransistorSOA.model_validate(args["soa"]),
                    BiasTerminals.model_validate(args["terminals"]), watchdog=True,
                    watchdog_timeout_s=1.0, log=lambda text: print(text, file=sys.stderr))
kernel.__enter__()
kernel.power_up(args["vgs"], args["vds"])
print("BIASED", kernel.watchdog.pid, flush=True)
time.sleep(60)
"""






def test_watchdog_makes_a_supply_drain_safe_when_the_kernel_process_dies(
        sim: SimulatedBench) -> None:
    history = record_smu_changes(sim.bench)
    args = {"smu": sim.resources["smu"], "dc_supply": sim.resources["dc_supply"],
            "soa": SOA.model_dump(), "terminals": terminals().model_dump(),
            "vgs": VGS_V, "vds": 10.0}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog_pid = None
    state = sim.bench.smu
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.startswith("BIASED"), (line, child.stderr.read() if child.stderr else "")
        watchdog_pid = int(line.split()[1])
        assert state[GATE_KEY].output_on and state[SUPPLY_KEY].output_on
        assert state[SUPPLY_KEY].level == 10.0
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5.0)
        assert wait_until(lambda: not state[GATE_KEY].output_on, 20.0), "not made safe"
        assert wait_until(lambda: not process_alive(watchdog_pid), 5.0), "watchdog did not exit"
    finally:
        if child.poll() is None:
            child.kill()
        if watchdog_pid is not None and process_alive(watchdog_pid):
            os.kill(watchdog_pid, signal.SIGKILL)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert_off(sim)
    assert_safe_history(as_smu_history(history))
    assert not sim.bench.hemt.damaged, sim.bench.hemt.damage_reason


# ----------------------------------------------------------------------------- engine

GAN_BENCH = Path(builtin_bench_path("simulated-gan"))
GAN_PLAN = REPO / "test_plans" / "gan_hemt_dc_pulsed.yaml"


def supply_bench(tmp_path: Path) -> tuple[BenchDefinition, str]:
    """The built-in simulated GaN bench with an E36312A whose channel 2 is the drain (a short
    driver timeout: a lost link is noticed fast, far above the simulator's answer times)."""
    data = yaml.safe_load(GAN_BENCH.read_text(encoding="utf-8"))
    data["name"] = "simulated-gan-supply-drain"
    data["instruments"]["dc_supply"] = {"driver": "keysight.e36312a", "resource": "simulated",
                                        "simulator": "keysight_e36312a", "timeout_s": 1.0}
    data["simulation"]["wiring"]["drain"] = {"role": "dc_supply", "channel": 2}
    text = yaml.safe_dump(data, sort_keys=False)
    path = tmp_path / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return load_bench(path), text


def plan_text(gate_role: str = "smu") -> str:
    """The repository's GaN plan cut to one coarse transfer curve at Vds 5 V, the drain on the
    supply's channel 2 (5 V x 0.9 A = 4.5 W worst case, inside the 6 W SOA)."""
    data = yaml.safe_load(GAN_PLAN.read_text(encoding="utf-8"))
    data.pop("bench", None)
    data["roles"] = ["smu", "dc_supply"]
    data["conditions"]["bias"]["gate"] = {"role": gate_role, "channel": 1}
    data["conditions"]["bias"]["drain"] = {"role": "dc_supply", "channel": 2}
    data["steps"] = [{"name": "transfer", "kind": "transfer_curve", "drain_voltage_v": 5.0,
                      "gate_voltage_v": {"start_v": -5.0, "stop_v": 0.0, "step_v": 1.0}}]
    return yaml.safe_dump(data, sort_keys=False)


@contextlib.contextmanager
def served_supply_bench(tmp_path: Path) -> Iterator[tuple[SimulatedBench, BenchDefinition,
                                                          str, History]]:
    bench, text = supply_bench(tmp_path)
    sim = SimulatedBench(simbench.simulation_config(bench, "BB-GAN-HEMT-1MM"))
    resources = sim.start()
    try:
        yield sim, simbench.with_resources(bench, resources), text, record_smu_changes(sim.bench)
    finally:
        sim.stop()


def run_plan(bench: BenchDefinition, bench_text: str, text: str, results: Path,
             listener: SilentListener | None = None) -> tuple[RunOutcome, list[str]]:
    request = RunRequest(parse_plan(text), text, bench, bench_text, results, simulated=True)
    outcome = run(request, listener)
    summary = open_record(outcome.record_path)
    return outcome, [f"{e['level']}: {e['message']}" for e in summary.events]


def has(lines: list[str], *fragments: str) -> bool:
    return any(all(f in line for f in fragments) for line in lines)


def test_engine_drives_a_supply_drain_through_the_kernel(tmp_path: Path) -> None:
    with served_supply_bench(tmp_path) as (sim, bench, bench_text, history):
        outcome, lines = run_plan(bench, bench_text, plan_text(), tmp_path)
        assert outcome.status == "completed", (outcome.error, lines)
        assert_off(sim)
        assert_safe_history(as_smu_history(history), ramp_step_v=1.0)
        assert not sim.bench.hemt.damaged
        # the transfer curve went through the supply: its level reached the 5 V of the step
        assert any(key == SUPPLY_KEY and name == "level" and value == 5.0
                   for key, name, value in history)
    assert has(lines, "bias: watchdog armed"), lines
    assert has(lines, "bias: power-down complete: bench safe"), lines
    assert has(lines, "safe state: dc_supply outputs off (read back)"), lines


def test_engine_refuses_a_gate_on_a_supply(tmp_path: Path) -> None:
    with served_supply_bench(tmp_path) as (sim, bench, bench_text, history):
        outcome, lines = run_plan(bench, bench_text, plan_text(gate_role="dc_supply"),
                                  tmp_path)
        assert not history  # nothing was sourced
    assert outcome.status == "error"
    assert "conditions.bias.gate.role 'dc_supply' is a DC supply" in (outcome.error or "")


class StopSupplyAt(SilentListener):
    """At the ``at``-th stored point, the supply's server stops: the main session loses its
    link and the watchdog cannot open one (the kernel's power-down cannot end safe)."""

    def __init__(self, sim: SimulatedBench, at: int) -> None:
        self.sim, self.at, self.points = sim, at, 0

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.at:
            self.sim.servers["dc_supply"].stop()


def test_engine_leaves_an_unsafe_supply_drain_to_the_kernel(tmp_path: Path) -> None:
    """The kernel's power-down fails on the drain (supply unreachable, for the watchdog too):
    the engine's generic switch-off must not touch that supply behind the kernel's back, and
    the gate stays held at pinch-off."""
    with served_supply_bench(tmp_path) as (sim, bench, bench_text, history):
        outcome, lines = run_plan(bench, bench_text, plan_text(), tmp_path,
                                  StopSupplyAt(sim, 3))
        gate = sim.bench.smu[GATE_KEY]
        assert gate.output_on and gate.level == PINCH_OFF_V, gate
        assert not sim.bench.hemt.damaged
    assert outcome.status == "error"
    assert has(lines, "safe state FAILED: transistor power-down incomplete"), lines
    assert not has(lines, "safe state", "dc_supply"), lines  # never touched by the engine
    assert not has(lines, "safe state", "smu"), lines
