"""The bias watchdog (benchbot.watchdog): a spawned process that powers a biased HEMT down with
its own sessions when the process running the kernel dies. The simulators run in this test
process; the kernel runs in a child process that the test kills with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchbot.bias import BiasKernel
from instruments.interfaces import SourceMeter
from instruments.registry import connect
from simulators import SimulatedBench
from tests._bias_bench import (
    DRIVER,
    SOA,
    assert_safe_history,
    hemt_config,
    process_alive,
    record_smu_changes,
    terminals,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent

#: the kernel's process: bias the device, report the watchdog's pid, then wait to be killed
CHILD = """
import json, sys, time
from benchbot.bias import BiasKernel
from benchbot.plan_bias import BiasTerminals, TransistorSOA
from instruments.registry import connect
args = json.loads(sys.argv[1])
smu = connect(args["driver"], args["resource"])
kernel = BiasKernel(smu, 1, smu, 2, TransistorSOA.model_validate(args["soa"]),
                    BiasTerminals.model_validate(args["terminals"]), watchdog=True,
                    watchdog_timeout_s=1.0, log=lambda text: print(text, file=sys.stderr))
kernel.__enter__()
kernel.power_up(-1.5, 10.0)
print("BIASED", kernel.watchdog.pid, flush=True)
time.sleep(60)
"""






@pytest.fixture(params=["keysight_b2902a", "keithley_2636b"])
def sim(request: pytest.FixtureRequest) -> Iterator[tuple[SimulatedBench, str]]:
    with SimulatedBench(hemt_config(request.param)) as s:
        yield s, request.param


def test_simulators_accept_a_second_connection(sim: tuple[SimulatedBench, str]) -> None:
    bench, model = sim
    first = connect(DRIVER[model], bench.resources["smu"])
    second = connect(DRIVER[model], bench.resources["smu"])
    assert isinstance(first, SourceMeter) and isinstance(second, SourceMeter)
    first.set_voltage_source(1, -5.0, 1e-3)
    first.set_output(1, True)
    assert second.output_is_on(1)  # one instrument, seen from both sessions
    assert second.measure(1).voltage_v == pytest.approx(-5.0, abs=1e-3)
    second.set_output(1, False)
    assert not first.output_is_on(1)
    first.close()
    second.close()


def test_clean_power_down_stops_the_watchdog(sim: tuple[SimulatedBench, str]) -> None:
    bench, model = sim
    smu = connect(DRIVER[model], bench.resources["smu"])
    assert isinstance(smu, SourceMeter)
    with BiasKernel(smu, 1, smu, 2, SOA, terminals(), watchdog=True) as k:
        k.power_up(-2.0, 2.0)
        assert k.watchdog is not None and k.watchdog.running
        process = k.watchdog._process
    assert process is not None and process.exitcode == 0  # stopped, did not act
    assert k.watchdog is None and not bench.bench.smu[("smu", 2)].output_on
    smu.close()


def test_killed_kernel_process_watchdog_powers_down_in_order(
        sim: tuple[SimulatedBench, str]) -> None:
    bench, model = sim
    history = record_smu_changes(bench.bench)
    args = {"driver": DRIVER[model], "resource": bench.resources["smu"],
            "soa": SOA.model_dump(), "terminals": terminals().model_dump()}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog_pid = None
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.startswith("BIASED"), (line, child.stderr.read() if child.stderr else "")
        watchdog_pid = int(line.split()[1])
        smu_state = bench.bench.smu
        assert smu_state[("smu", 1)].output_on and smu_state[("smu", 2)].output_on
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5.0)
        assert wait_until(lambda: not smu_state[("smu", 1)].output_on, 10.0), "not made safe"
        assert wait_until(lambda: not process_alive(watchdog_pid), 5.0), "watchdog did not exit"
    finally:
        if child.poll() is None:
            child.kill()
        if watchdog_pid is not None and process_alive(watchdog_pid):
            os.kill(watchdog_pid, signal.SIGKILL)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert_safe_history(history)
    assert not bench.bench.hemt.damaged, bench.bench.hemt.damage_reason
