"""Issue 4 part 5: the network plans in test_plans/ run through the real CLI on both built-in
network benches (Keysight PNA-X + PXA, R&S ZNA + FSW) and pass; the two vendors agree within
noise; the LNA's exported Touchstone file equals the simulated part within the trace noise; NF
equals the model within 0.2 dB; every record renders its figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skrf
import yaml

from benchbot.bench import builtin_bench_path
from benchbot.cli import main
from benchbot.results.reader import open_record
from simulators.network_models import network_dut_from_config

ROOT = Path(__file__).resolve().parents[1]
PLANS = ("lna_n78", "sp3t_switch", "n78_band_filter", "n78_fem")
BENCHES = ("simulated-network", "simulated-network-rs")
#: |Keysight - R&S| per unit: the same DUT, each VNA's receiver noise and each analyzer's
#: noise statistics (NF: 20 averages of 4 MHz channel power, ~0.05 dB rms each)
TOLERANCE = {"dB": 0.15, "ns": 0.05, "1": 0.05}


def _metrics(record: Path) -> dict[tuple[str, str, str], tuple[float, str]]:
    summary = open_record(record)
    return {(step.name, m["metric"], m["condition"]): (m["value"], m["unit"])
            for step in summary.steps for m in step.metrics if m["value"] is not None}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    tmp = tmp_path_factory.mktemp("network_plans")
    out = {}
    for plan in PLANS:
        for bench in BENCHES:
            results = tmp / f"{plan}_{bench}"
            code = main(["run", str(ROOT / "test_plans" / f"{plan}.yaml"), "--bench", bench,
                         "--results-dir", str(results)])
            assert code == 0, (plan, bench)  # PASS
            (out[plan, bench],) = results.glob("*.h5")
    return out


@pytest.mark.parametrize("plan", PLANS)
def test_both_vendors_agree(records: dict[tuple[str, str], Path], plan: str) -> None:
    keysight, rs = (_metrics(records[plan, bench]) for bench in BENCHES)
    assert keysight.keys() == rs.keys()
    for key, (value, unit) in keysight.items():
        tolerance = TOLERANCE.get(unit, 0.15)
        if key[1].startswith(("k_factor", "mu")):
            tolerance = 0.02 * abs(value)
        assert abs(value - rs[key][0]) <= tolerance, (key, value, rs[key][0])


def _fixture_dut(part_number: str) -> dict:
    bench = yaml.safe_load(builtin_bench_path("simulated-network").read_text(encoding="utf-8"))
    return bench["simulation"]["duts"][part_number]


@pytest.mark.parametrize("bench", BENCHES)
def test_lna_touchstone_export_equals_the_part(records: dict[tuple[str, str], Path], bench: str,
                                               tmp_path: Path) -> None:
    assert main(["export", "touchstone", str(records["lna_n78", bench]), "--out",
                 str(tmp_path)]) == 0
    (s2p,) = tmp_path.glob("*.s2p")
    measured = skrf.Network(str(s2p))
    truth = network_dut_from_config(_fixture_dut("BB-LNA-N78-01")).s_matrix(measured.f)
    # receiver floor -125 dBm (10 Hz) -> -105 dBm at 1 kHz IFBW vs -30 dBm incident:
    # sigma ~ 1.3e-4 per entry, plus 0.002 dB rms high-level jitter on |S21| ~ 8 (18 dB)
    error = np.abs(measured.s - truth)
    assert np.max(error[:, 0, 0]) < 2e-3 and np.max(error[:, 0, 1]) < 2e-3
    gain_error_db = 20 * np.log10(np.abs(measured.s[:, 1, 0] / truth[:, 1, 0]))
    assert np.max(np.abs(gain_error_db[np.abs(truth[:, 1, 0]) > 1.0])) < 0.02


@pytest.mark.parametrize("bench", BENCHES)
def test_lna_noise_figure_equals_the_model(records: dict[tuple[str, str], Path],
                                           bench: str) -> None:
    dut = network_dut_from_config(_fixture_dut("BB-LNA-N78-01"))
    checked = 0
    for (step, metric, condition), (value, _) in _metrics(records["lna_n78", bench]).items():
        if step == "noise_figure" and metric == "noise_figure_db":
            f_hz = json.loads(condition)["frequency_hz"]
            model_db = 10 * np.log10(dut.noise_factor(np.array([f_hz]))[0])
            assert abs(value - model_db) < 0.2, (f_hz, value, model_db)
            checked += 1
    assert checked == 5  # every frequency of the plan


@pytest.mark.parametrize("plan", PLANS)
def test_every_record_renders_its_figures(records: dict[tuple[str, str], Path], plan: str,
                                          tmp_path: Path) -> None:
    assert main(["plot", str(records[plan, BENCHES[0]]), "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names, plan
    if plan in ("lna_n78", "n78_fem"):
        assert any("noise_figure" in n for n in names), names


def test_the_fixture_holds_the_part_the_plan_names() -> None:
    from benchbot.bench import load_bench
    from benchbot.simbench import SimulationError, simulation_config

    bench = load_bench(builtin_bench_path("simulated-network"))
    assert simulation_config(bench, "BB-SW-SP3T-01")["dut"]["model"] == "switch"
    assert simulation_config(bench)["dut"]["model"] == "amplifier"  # the library's first part
    config = simulation_config(bench, "BB-LNA-N78-01")
    assert config["noise_source"]["enr"]["enr_db"][0] == bench.noise_source.enr.enr_db[0]
    assert config["noise_source"]["bypass"] == {"gpio_port": 1, "thru_value": 1}
    with pytest.raises(SimulationError, match="no simulated DUT 'BB-NOPE'.*BB-FEM-N78-01"):
        simulation_config(bench, "BB-NOPE")


def _fem_counters(plan_text: str, tmp_path: Path) -> dict[str, int]:
    """Run a FEM plan on the simulated network bench; the part's order/hot-switch counters."""
    from benchbot.bench import load_bench
    from benchbot.plan import parse_plan
    from benchbot.runner import RunRequest, run
    from benchbot.simbench import running

    bench_path = builtin_bench_path("simulated-network")
    bench, plan = load_bench(bench_path), parse_plan(plan_text)
    with running(bench, plan.dut.part_number) as (served, simulated):
        outcome = run(RunRequest(plan, plan_text, served, bench_path.read_text(), tmp_path,
                                 simulated=True))
        assert outcome.status == "completed", outcome.error
        return dict(simulated.bench.network.counters)


def test_fem_modes_are_entered_in_a_safe_order(tmp_path: Path) -> None:
    """The plan's break-before-make sequences leave the part without a single order violation
    or hot switch; the same plan enabling the PA before selecting the TX path is caught by the
    simulated part (so the check is live)."""
    doc = yaml.safe_load((ROOT / "test_plans" / "n78_fem.yaml").read_text(encoding="utf-8"))
    doc["steps"] = doc["steps"][:1]  # the path measurements
    good = _fem_counters(yaml.safe_dump(doc), tmp_path / "good")
    assert good.get("order_violation", 0) == 0 and good.get("hot_switch", 0) == 0, good
    doc["dut"]["control"]["states"]["tx"] = [{"register": 0x00, "value": 0x10},
                                             {"register": 0x00, "value": 0x11}]
    bad = _fem_counters(yaml.safe_dump(doc), tmp_path / "bad")
    assert bad.get("order_violation", 0) >= 1, bad


def test_a_noise_figure_plan_the_noise_source_cannot_serve_is_refused_before_anything(
        tmp_path: Path) -> None:
    """validate/run refuse, naming the step and the reason: a frequency above the ENR table, and
    a bypass role that is not the bench's."""
    doc = yaml.safe_load((ROOT / "test_plans" / "lna_n78.yaml").read_text(encoding="utf-8"))
    nf = doc["steps"][1]
    nf["frequencies_hz"] = [3.55e9, 9.0e9]
    nf["bypass_role"] = "vna"
    plan = tmp_path / "bad_nf.yaml"
    plan.write_text(yaml.safe_dump(doc), encoding="utf-8")
    from benchbot.bench import load_bench
    from benchbot.plan import load_plan
    from benchbot.safety import SafetyError, check_plan_against_bench

    with pytest.raises(SafetyError) as info:
        check_plan_against_bench(load_plan(plan), load_bench(builtin_bench_path(BENCHES[0])))
    text = str(info.value)
    assert "step 'noise_figure': 9e+09 Hz is outside the ENR table" in text
    assert "bypass_role 'vna' is not the bench's noise_source.bypass.role 'gpio'" in text
    assert main(["run", str(plan), "--results-dir", str(tmp_path / "r")]) == 3
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
