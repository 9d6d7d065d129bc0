"""The whole stack on the simulated bench: plan → engine → drivers → pyvisa-py → simulators.

Safe state is proven by reading the simulators' own state, not the framework's belief.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from benchbot.engine import SilentListener
from benchbot.limits import Verdict

DEMO_PLAN = Path(__file__).parent.parent / "test_plans" / "pa_power_sweep.yaml"


def assert_bench_safe(state) -> None:
    assert state.generator.rf_on is False, "generator RF left on"
    assert not any(state.supply.outputs.values()), f"supply left on: {state.supply.outputs}"
    assert state.dut.damaged is False


def metric(outcome, name: str, frequency_hz: float) -> float:
    (value,) = [m.value for m in outcome.metrics
                if m.metric == name and m.condition["frequency_hz"] == frequency_hz]
    return value


def test_demo_plan_matches_the_pa_model(run_plan, simulated_bench, tmp_path: Path) -> None:
    outcome = run_plan(DEMO_PLAN, tmp_path)
    assert outcome.verdict is Verdict.PASS and outcome.status == "completed"
    dut = simulated_bench.state.dut
    for f in (3.30e9, 3.55e9, 3.80e9):
        assert metric(outcome, "p1db_output_dbm", f) == pytest.approx(dut.p1db_output_dbm(f),
                                                                      abs=0.1)
        assert metric(outcome, "p1db_input_dbm", f) == pytest.approx(dut.p1db_input_dbm(f),
                                                                     abs=0.1)
        assert metric(outcome, "small_signal_gain_db", f) == pytest.approx(
            dut.small_signal_gain_db(f), abs=0.1)
        assert 0 < metric(outcome, "am_pm_at_p1db_deg", f) < dut.am_pm_max_deg
    assert outcome.record_path.suffix == ".h5" and outcome.record_path.exists()
    assert not list(tmp_path.glob("*.partial"))
    assert_bench_safe(simulated_bench.state)


def test_record_holds_every_point_identity_and_traffic(run_plan, tmp_path: Path) -> None:
    outcome = run_plan(DEMO_PLAN, tmp_path)
    with h5py.File(outcome.record_path, "r") as f:
        assert f.attrs["status"] == "completed" and f.attrs["verdict"] == "pass"
        step = f["steps/000_compression"]
        assert step["output_power_dbm"].shape == (3, 67)
        assert step["output_power_dbm"].attrs["units"] == "dBm"
        assert not (step["output_power_dbm"][()] != step["output_power_dbm"][()]).any()  # no NaN
        models = {f[f"instruments/{role}"].attrs["idn.model"] for role in f["instruments"]}
        assert models == {"N5182B", "N9030B", "N1912A", "8481A", "E36312A"}  # 8481A: sensor
        assert "traffic" in f and len(f["traffic/signal_generator"]) > 100


class _FaultAfter(SilentListener):
    """Injects a fault into the simulated bench once `after` points have been measured."""

    def __init__(self, after: int, fault) -> None:
        self.after, self.fault, self.points = after, fault, 0

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.after:
            self.fault()


def test_dropped_connection_mid_sweep_ends_safe_with_error(
    run_plan, simulated_bench, tmp_path: Path
) -> None:
    listener = _FaultAfter(80, simulated_bench.servers["power_meter"].drop_next)
    outcome = run_plan(DEMO_PLAN, tmp_path, listener=listener)
    assert outcome.verdict is Verdict.ERROR and outcome.status == "error"
    assert "power" in outcome.error.lower() or "connection" in outcome.error.lower()
    assert_bench_safe(simulated_bench.state)
    with h5py.File(outcome.record_path, "r") as f:  # the first frequency row survived
        assert f.attrs["status"] == "error"
        pout = f["steps/000_compression/output_power_dbm"][()]
        assert not (pout[0] != pout[0]).any()


@pytest.fixture
def short_timeout_bench(tmp_path: Path) -> Path:
    """The built-in bench with a 0.5 s VISA timeout on the power meter."""
    import yaml

    from benchbot.bench import builtin_bench_path

    data = yaml.safe_load(Path(builtin_bench_path()).read_text())
    data["instruments"]["power_meter"]["timeout_s"] = 0.5
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_instrument_timeout_mid_sweep_ends_safe(short_timeout_bench: Path, tmp_path: Path) -> None:
    from benchbot import simbench
    from benchbot.bench import load_bench
    from benchbot.plan import load_plan
    from benchbot.runner import RunRequest, run

    bench = load_bench(short_timeout_bench)
    with simbench.running(bench) as (served, simulated):
        listener = _FaultAfter(30, lambda: simulated.servers["power_meter"].delay_replies(2.0))
        request = RunRequest(load_plan(DEMO_PLAN), DEMO_PLAN.read_text(), served,
                             short_timeout_bench.read_text(), tmp_path, simulated=True)
        outcome = run(request, listener)
        assert outcome.verdict is Verdict.ERROR
        assert "Timeout" in outcome.error
        assert_bench_safe(simulated.bench)


def test_ctrl_c_mid_sweep_aborts_safely(run_plan, simulated_bench, tmp_path: Path) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    outcome = run_plan(DEMO_PLAN, tmp_path, listener=_FaultAfter(50, interrupt))
    assert outcome.verdict is Verdict.ABORTED and outcome.status == "aborted"
    assert_bench_safe(simulated_bench.state)
    with h5py.File(outcome.record_path, "r") as f:
        events = [e.decode() if isinstance(e, bytes) else str(e) for e in f["events"]["message"]]
        assert any("aborted" in e for e in events)
        assert any("safe state" in e for e in events)


def test_failed_limits_still_end_safe(run_plan, simulated_bench, tmp_path: Path) -> None:
    plan = tmp_path / "tight.yaml"
    plan.write_text(DEMO_PLAN.read_text().replace("p1db_output_dbm: {min: 29.0,",
                                                  "p1db_output_dbm: {min: 32.0,"))
    outcome = run_plan(plan, tmp_path)
    assert outcome.verdict is Verdict.FAIL and outcome.status == "completed"
    assert_bench_safe(simulated_bench.state)
