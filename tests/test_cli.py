"""The `benchbot` command as a lab engineer runs it: exit codes, messages, sim + plain pyvisa."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pyvisa
import yaml

ROOT = Path(__file__).parent.parent
DEMO_PLAN = ROOT / "test_plans" / "pa_power_sweep.yaml"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def benchbot(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchbot.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def demo_variant(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(DEMO_PLAN.read_text().replace("e9", "e+9"))
    edit(data)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_run_demo_plan_then_show_its_record(tmp_path: Path) -> None:
    result = benchbot("run", str(DEMO_PLAN), "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "p1db_output_dbm" in result.stdout and "verdict PASS" in result.stdout
    record = re.search(r"record: (\S+\.h5)", result.stdout).group(1)
    assert Path(record).parent == tmp_path
    shown = benchbot("show", record)
    assert shown.returncode == 0, shown.stderr
    assert "n78-pa-power-sweep" in shown.stdout and "p1db_output_dbm" in shown.stdout


def test_failed_limit_exits_1(tmp_path: Path) -> None:
    def tighten(plan: dict) -> None:
        plan["steps"][0]["limits"]["p1db_output_dbm"] = {"min": 32.0}

    result = benchbot("run", str(demo_variant(tmp_path, tighten)), "--results-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "verdict FAIL" in result.stdout


def test_invalid_plan_names_path_line_and_reason(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(DEMO_PLAN.read_text().replace("step: 0.5}", "step: -0.5}"))
    result = benchbot("validate", str(plan))
    assert result.returncode == 3
    assert re.search(r"bad\.yaml:\d+: steps\[0\]\.input_power_dbm", result.stderr), result.stderr


def test_over_max_rf_input_refused_before_any_instrument(tmp_path: Path) -> None:
    def overdrive(plan: dict) -> None:
        plan["steps"][0]["input_power_dbm"]["stop"] = 12.0

    result = benchbot("run", str(demo_variant(tmp_path, overdrive)), "--results-dir",
                      str(tmp_path))
    assert result.returncode == 3
    assert "max_rf_input_dbm" in result.stderr
    assert "simulated bench on loopback" not in result.stdout
    assert not list(tmp_path.glob("*.h5*")), "a refused plan must not open a record"


@pytest.fixture
def served_sim(tmp_path: Path):
    """`benchbot sim --write-bench` in the background; yields (stdout so far, bench file)."""
    bench_file = tmp_path / "served_bench.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "benchbot.cli", "sim", "--write-bench",
                             str(bench_file)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any("serving until Ctrl-C" in line for line in lines):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        lines.append(proc.stdout.readline())
    yield "".join(lines), bench_file
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_sim_serves_instruments_plain_pyvisa_can_query(served_sim) -> None:
    output, _ = served_sim
    resources = re.findall(r"TCPIP::127\.0\.0\.1::\d+::SOCKET", output)
    assert len(resources) == 4
    rm = pyvisa.ResourceManager("@py")
    try:
        idns = []
        for resource in resources:
            inst = rm.open_resource(resource, read_termination="\n", write_termination="\n")
            idns.append(inst.query("*IDN?"))
            inst.close()
    finally:
        rm.close()
    assert {idn.split(",")[1] for idn in idns} == {"N5182B", "N9030B", "N1912A", "E36312A"}


def test_run_on_a_bench_file_of_served_instruments(served_sim, tmp_path: Path) -> None:
    _, bench_file = served_sim
    result = benchbot("run", str(DEMO_PLAN), "--bench", str(bench_file), "--results-dir",
                      str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "simulated bench on loopback" not in result.stdout
    assert "verdict PASS" in result.stdout


@pytest.fixture
def slow_bench(tmp_path: Path) -> Path:
    """The built-in bench with realistic (unscaled) sweep times, so a run lasts long enough."""
    from benchbot.bench import builtin_bench_path

    data = yaml.safe_load(Path(builtin_bench_path()).read_text().replace("e9", "e+9"))
    data["simulation"]["time_scale"] = 1.0
    path = tmp_path / "slow_bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_cli_run_exits_5_with_an_aborted_record(
    slow_bench: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchbot.cli", "run", str(DEMO_PLAN), "--bench", str(slow_bench),
         "--results-dir", str(results)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(results.glob("*.h5.partial")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the sweep
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, out + err
    assert "verdict ABORTED" in out
    (record,) = results.glob("*.h5")
    shown = benchbot("show", str(record))
    assert "aborted" in shown.stdout and "safe state" in shown.stdout
