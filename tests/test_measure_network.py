"""VNA steps: metrics wired to the right ports and bands (against scikit-rf's own computation on
a measured file), masks, filters, switch paths; then end to end through the runner on simulated
benches (plan → engine → drivers → pyvisa-py → simulators): an LNA measured within trace noise
of its model, uncalibrated ports refused before any sweep (and measured when allowed), a switch
measured in every state, in order, without hot switching."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import skrf
import skrf.data
import yaml

from benchbot import simbench
from benchbot.analysis.network import to_network
from benchbot.bench import parse_bench
from benchbot.limits import Verdict
from benchbot.measurements import network_paths, s_parameters
from benchbot.plan import parse_plan
from benchbot.plan_network import NetworkPathsStep, SParametersStep
from benchbot.runner import RunRequest, run
from simulators.network_models import ChebyshevFilterModel

NTWK1 = Path(os.path.dirname(skrf.data.__file__)) / "ntwk1.s2p"


def _step(cls: type, **fields: Any) -> Any:
    return cls.model_validate({"name": "s", **fields})


def _by_metric(results: list) -> dict[str, Any]:
    return {r.metric: r for r in results}


def _in(f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (f >= lo) & (f <= hi)


# ----------------------------------------------------------------- pure: metrics and masks


def test_amplifier_metrics_match_skrf_on_a_measured_file() -> None:
    ntwk = skrf.Network(str(NTWK1))
    f = ntwk.f
    step = _step(SParametersStep, kind="s_parameters",
                 sweep={"start_hz": f[0], "stop_hz": f[-1], "points": f.size},
                 band={"start_hz": 2e9, "stop_hz": 8e9}, stability_check=True)
    results, derived = s_parameters.evaluate(step, ntwk)
    m = _by_metric(results)
    band = _in(f, 2e9, 8e9)
    s_db = ntwk.s_db
    assert m["gain_db"].value == pytest.approx(s_db[band, 1, 0].min())
    assert m["gain_max_db"].value == pytest.approx(s_db[band, 1, 0].max())
    assert m["gain_flatness_db"].value == pytest.approx(np.ptp(s_db[band, 1, 0]))
    assert m["input_return_loss_db"].value == pytest.approx(-s_db[band, 0, 0].max())
    assert m["output_return_loss_db"].value == pytest.approx(-s_db[band, 1, 1].max())
    assert m["reverse_isolation_db"].value == pytest.approx(-s_db[band, 0, 1].max())
    skrf_delay_ns = ntwk.group_delay[:, 1, 0] * 1e9  # scikit-rf's own -dφ/dω
    assert derived["group_delay_ns"] == pytest.approx(skrf_delay_ns, rel=1e-9, abs=1e-12)
    assert m["group_delay_variation_ns"].value == pytest.approx(np.ptp(skrf_delay_ns[band]))
    k_skrf = np.real(ntwk.stability)  # Rollett K as scikit-rf computes it
    assert derived["k_factor"] == pytest.approx(k_skrf, rel=1e-9)
    assert m["k_factor_min"].value == pytest.approx(k_skrf.min())  # whole sweep, not the band
    s = ntwk.s
    delta = s[:, 0, 0] * s[:, 1, 1] - s[:, 0, 1] * s[:, 1, 0]
    mu = (1 - abs(s[:, 0, 0]) ** 2) / (abs(s[:, 1, 1] - delta * np.conj(s[:, 0, 0]))
                                       + abs(s[:, 0, 1] * s[:, 1, 0]))
    assert m["mu_min"].value == pytest.approx(mu.min())
    i = int(np.argmin(np.where(band, s_db[:, 1, 0], np.inf)))
    assert f"min at {f[i] / 1e9:.6g} GHz over 2-8 GHz" in m["gain_db"].note
    assert all(r.verdict is Verdict.PASS and r.limit is None for r in results)  # no limits


def test_input_and_output_ports_pick_the_matrix_entries() -> None:
    """ports [1, 2] with the DUT input on VNA port 2: 'gain' is S12, 'input match' S22."""
    ntwk = skrf.Network(str(NTWK1))
    f = ntwk.f
    step = _step(SParametersStep, kind="s_parameters", input_port=2, output_port=1,
                 sweep={"start_hz": f[0], "stop_hz": f[-1]})
    m = _by_metric(s_parameters.evaluate(step, ntwk)[0])
    assert m["gain_db"].value == pytest.approx(ntwk.s_db[:, 0, 1].min())
    assert m["input_return_loss_db"].value == pytest.approx(-ntwk.s_db[:, 1, 1].max())
    assert m["reverse_isolation_db"].value == pytest.approx(-ntwk.s_db[:, 1, 0].max())
    assert "S12 (VNA ports)" in m["gain_db"].note


def test_filter_passband_ripple_and_rejection() -> None:
    model = ChebyshevFilterModel({"model": "filter", "order": 5, "ripple_db": 0.1,
                                  "passband_start_hz": 3.3e9, "passband_stop_hz": 3.8e9,
                                  "unloaded_q": 300})
    f = np.linspace(2e9, 5e9, 601)
    ntwk = to_network(f, model.s_matrix(f))
    step = _step(SParametersStep, kind="s_parameters",
                 sweep={"start_hz": 2e9, "stop_hz": 5e9, "points": 601},
                 filter={"passband": {"start_hz": 3.3e9, "stop_hz": 3.8e9},
                         "rejection": [{"name": "low", "start_hz": 2e9, "stop_hz": 2.8e9},
                                       {"name": "image", "frequency_hz": 4.6e9,
                                        "limit": {"min": 200}}]},
                 limits={"passband_insertion_loss_db": {"max": 2.0}, "rejection_db": {"min": 30},
                         "passband_ripple_db": {"max": 0.5}})
    assert not step.stability_on  # a filter: no K/μ by default
    results, derived = s_parameters.evaluate(step, ntwk)
    il = -20 * np.log10(np.abs(model.s_matrix(f)[:, 1, 0]))
    pb = _in(f, 3.3e9, 3.8e9)
    m = _by_metric(results)
    assert "k_factor_min" not in m and "k_factor" not in derived
    assert m["passband_insertion_loss_db"].value == pytest.approx(il[pb].min())
    assert 0.3 < il[pb].min() < 2.0  # finite-Q loss, realistic
    assert m["passband_ripple_db"].value == pytest.approx(np.ptp(il[pb]))
    rejection = {r.condition["rejection"]: r for r in results if r.metric == "rejection_db"}
    low = _in(f, 2e9, 2.8e9)
    assert rejection["low"].value == pytest.approx(il[low].min() - il[pb].min())
    assert rejection["low"].verdict is Verdict.PASS and rejection["low"].limit.min == 30
    image = np.interp(4.6e9, f, il) - il[pb].min()
    assert rejection["image"].value == pytest.approx(image)
    assert rejection["image"].limit.min == 200 and rejection["image"].verdict is Verdict.FAIL


def test_masks_judge_every_point_and_roll_up_the_worst() -> None:
    ntwk = skrf.Network(str(NTWK1))
    f = ntwk.f
    s21 = ntwk.s_db[:, 1, 0]
    ceiling = float(np.median(s21[_in(f, 3e9, 6e9)]))  # about half the points fail
    step = _step(SParametersStep, kind="s_parameters",
                 sweep={"start_hz": f[0], "stop_hz": f[-1], "points": f.size},
                 masks={"s21_db": {"segments": [{"start_hz": 3e9, "stop_hz": 6e9,
                                                 "max_db": ceiling}], "source": "ds §2"},
                        "s11_db": {"segments": [{"start_hz": 1e9, "stop_hz": 10e9,
                                                 "max_db": 0.0}], "marginal_db": 0.5}},
                 limits={"mask_s11_db_margin_db": {"min": -100.0}})
    results, derived = s_parameters.evaluate(step, ntwk)
    m = _by_metric(results)
    inside = _in(f, 3e9, 6e9)
    margin = ceiling - s21
    assert m["mask_s21_db_margin_db"].value == pytest.approx(margin[inside].min())
    assert m["mask_s21_db_margin_db"].verdict is Verdict.FAIL
    assert m["mask_s21_db_margin_db"].limit.source == "ds §2"  # the mask's own limit
    worst = f[inside][np.argmin(margin[inside])]
    assert f"at {worst / 1e9:.6g} GHz" in m["mask_s21_db_margin_db"].note
    expected = np.where(inside, (s21 <= ceiling).astype(float), np.nan)
    assert np.array_equal(derived["mask_s21_db_pass"], expected, equal_nan=True)
    assert np.all(np.isnan(derived["mask_s21_db_margin_db"][~inside]))
    # the plan's explicit limit on the roll-up replaces the mask's default (margin >= 0)
    assert m["mask_s11_db_margin_db"].limit.min == -100.0
    assert m["mask_s11_db_margin_db"].verdict is Verdict.PASS


def _sp2t(f: np.ndarray, on: str) -> np.ndarray:
    """A reciprocal SP2T (ANT, RF1, RF2): the ON throw 0.5 dB + 0.1 dB/GHz, OFF -40 dB."""
    s = np.zeros((f.size, 3, 3), complex)
    il = 10 ** (-(0.5 + 0.1 * f / 1e9) / 20)
    off = 10 ** (-(40 - 1.0 * f / 1e9) / 20)
    a1, a2 = (il, off) if on == "rf1" else (off, il)
    for (i, j), v in {(1, 0): a1, (2, 0): a2, (2, 1): off}.items():
        s[:, i, j] = s[:, j, i] = v
    for k in range(3):
        s[:, k, k] = 0.05 * (k + 1) * f / 6e9
    return s


def test_switch_paths_per_state() -> None:
    f = np.linspace(1e9, 6e9, 51)
    step = _step(NetworkPathsStep, kind="network_paths",
                 sweep={"start_hz": 1e9, "stop_hz": 6e9, "points": 51},
                 band={"start_hz": 1e9, "stop_hz": 4e9},
                 vna_ports={"ANT": 1, "RF1": 2, "RF2": 3},
                 states=[{"state": "rf1", "through": [{"from": "ANT", "to": "RF1"}],
                          "isolation": [{"from": "ANT", "to": "RF2"}],
                          "limits": {"insertion_loss_db": {"max": 0.8}}},
                         {"state": "rf2", "through": [{"from": "ANT", "to": "RF2"}],
                          "isolation": [{"from": "ANT", "to": "RF1"}]}],
                 masks={"isolation_db": {"segments": [{"start_hz": 1e9, "stop_hz": 6e9,
                                                       "min_db": 36.0}]}},
                 limits={"insertion_loss_db": {"max": 1.0}, "return_loss_db": {"min": 20}})
    paths = network_paths.paths_of(step)
    assert [(p.state, p.quantity, p.label) for p in paths] == [
        ("rf1", "insertion_loss_db", "ANT->RF1"), ("rf1", "isolation_db", "ANT->RF2"),
        ("rf1", "return_loss_db", "ANT"), ("rf1", "return_loss_db", "RF1"),
        ("rf2", "insertion_loss_db", "ANT->RF2"), ("rf2", "isolation_db", "ANT->RF1"),
        ("rf2", "return_loss_db", "ANT"), ("rf2", "return_loss_db", "RF2")]
    results = []
    for si, st in enumerate(step.states):
        ntwk = to_network(f, _sp2t(f, st.state))
        results += network_paths.evaluate_state(
            step, st, ntwk, [(k, p) for k, p in enumerate(paths) if p.state_index == si])
    table = {(r.condition["state"], r.metric, r.condition["path"]): r for r in results}
    rf1_il = table["rf1", "insertion_loss_db", "ANT->RF1"]
    assert rf1_il.value == pytest.approx(0.9)  # worst = highest IL in band: at 4 GHz
    assert rf1_il.limit.max == 0.8 and rf1_il.verdict is Verdict.FAIL  # the state's limit
    rf2_il = table["rf2", "insertion_loss_db", "ANT->RF2"]
    assert rf2_il.limit.max == 1.0 and rf2_il.verdict is Verdict.PASS  # the step's limit
    assert table["rf1", "isolation_db", "ANT->RF2"].value == pytest.approx(36.0)  # at 4 GHz
    mask = table["rf2", "mask_isolation_db_margin_db", "ANT->RF1"]  # whole sweep: 34 dB at 6 GHz
    assert mask.value == pytest.approx(-2.0) and mask.verdict is Verdict.FAIL
    assert "at 6 GHz" in mask.note
    rl = table["rf1", "return_loss_db", "RF1"]
    assert rl.value == pytest.approx(-20 * np.log10(0.1 * 4 / 6))
    assert rl.verdict is Verdict.PASS and "VNA port 2" in rl.note


# ----------------------------------------------------------------- end to end: simulated VNA

LNA_MODEL = {"model": "amplifier", "small_signal_gain_db": 18.0, "center_frequency_hz": 3.55e9,
             "bandwidth_hz": 2.0e9, "input_return_loss_db": 14.0, "reverse_isolation_db": 40.0}
CAL_12 = {"cal_set": "CalSet_LNA", "cal_type": "SOLT", "ports": [1, 2]}

LNA_PLAN = """\
schema: benchbot.plan/1
name: lna-sparams
version: "1.0"
dut:
  part_number: BB-LNA-01
  serial: SIM-LNA-1
  kind: lna
  safe_operating_area: {max_rf_input_dbm: 0.0, max_supply_voltage_v: 5.5, max_supply_current_a: 1}
roles: [vna]
steps:
  - name: lna
    kind: s_parameters
    sweep: {start_hz: 2e9, stop_hz: 5e9, points: 301, if_bandwidth_hz: 1e3, power_dbm: -25}
    ports: [1, 2]
    port_names: [IN, OUT]
    band: {start_hz: 3.3e9, stop_hz: 3.8e9}
    masks:
      s21_db: {segments: [{start_hz: 3.3e9, stop_hz: 3.8e9, min_db: 16.0, max_db: 20.0}]}
    limits:
      gain_db: {min: 16.0}
      input_return_loss_db: {min: 10.0}
      k_factor_min: {min: 1.0}
"""


def _bench(instruments: dict[str, Any], dut: dict[str, Any], vna: dict[str, Any]) -> str:
    return yaml.safe_dump({
        "schema": "benchbot.bench/1", "name": "network-test", "instruments": instruments,
        "simulation": {"seed": 11, "time_scale": 0.01, "dut": dut, "vna": vna}})


VNA_ENTRY = {"driver": "keysight.n5247b", "resource": "simulated",
             "simulator": "keysight_n5247b", "timeout_s": 10}


def _run(plan_text: str, bench_text: str, results: Path, check: Any = None) -> Any:
    bench, plan = parse_bench(bench_text), parse_plan(plan_text)
    with simbench.running(bench) as (served, simulated):
        outcome = run(RunRequest(plan, plan_text, served, bench_text, results, simulated=True))
        if check is not None:
            check(simulated.bench)
    return outcome


def _step_group(path: Path) -> tuple[dict, dict, list]:
    with h5py.File(path, "r") as f:
        group = next(iter(f["steps"].values()))
        attrs = {k: v for k, v in group.attrs.items()}
        data = {k: group[k][()] for k in group if isinstance(group[k], h5py.Dataset)}
        events = [(e["level"].decode(), e["message"].decode()) for e in f["events"][()]]
    return attrs, data, events


def test_lna_s_parameters_match_the_model(tmp_path: Path) -> None:
    truth: dict[str, np.ndarray] = {}
    f = np.linspace(2e9, 5e9, 301)

    def model(bench: Any) -> None:
        truth["s"] = bench.network.s_matrix(f)

    outcome = _run(LNA_PLAN, _bench({"vna": VNA_ENTRY}, LNA_MODEL, {"calibration": CAL_12}),
                   tmp_path, model)
    assert outcome.status == "completed" and outcome.verdict is Verdict.PASS, outcome.error
    attrs, data, _ = _step_group(outcome.record_path)
    assert json.loads(attrs["port_names"]) == ["IN", "OUT"] and attrs["z0_ohm"] == 50.0
    cal = json.loads(attrs["vna_calibration"])
    assert cal["corrected"] and cal["cal_set"] == "CalSet_LNA" and cal["uncalibrated_ports"] == []
    assert list(data["port_row"]) == [1, 2] and data["s_re"].shape == (301, 2, 2)
    measured = data["s_re"] + 1j * data["s_im"]
    true = truth["s"]
    # trace noise: receiver floor -105 dBm at 1 kHz IFBW vs -25 dBm incident gives σ ≈ 1e-4
    # (linear) per entry, plus 0.002 dB rms high-level jitter; bounds are ~10 σ
    gain_err_db = 20 * np.log10(np.abs(measured[:, 1, 0]) / np.abs(true[:, 1, 0]))
    assert np.max(np.abs(gain_err_db)) < 0.02
    assert np.max(np.abs(np.angle(measured[:, 1, 0] / true[:, 1, 0], deg=True))) < 0.2
    assert np.max(np.abs(measured[:, 0, 0] - true[:, 0, 0])) < 2e-3
    assert np.max(np.abs(measured[:, 0, 1] - true[:, 0, 1])) < 2e-3
    # the metrics agree with the same computation on the model
    m = {r.metric: r for r in outcome.metrics}
    band = _in(f, 3.3e9, 3.8e9)
    true_gain = 20 * np.log10(np.abs(true[band, 1, 0]))
    assert m["gain_db"].value == pytest.approx(true_gain.min(), abs=0.02)
    assert m["gain_flatness_db"].value == pytest.approx(np.ptp(true_gain), abs=0.04)
    true_rl = -20 * np.log10(np.abs(true[band, 0, 0]))
    assert m["input_return_loss_db"].value == pytest.approx(true_rl.min(), abs=0.1)
    k_true = np.real(to_network(f, true).stability)
    assert m["k_factor_min"].value == pytest.approx(k_true.min(), rel=0.02)
    assert m["mask_s21_db_margin_db"].verdict is Verdict.PASS
    assert np.all(data["mask_s21_db_pass"][band] == 1.0)
    assert np.all(np.isnan(data["mask_s21_db_pass"][~band]))


UNCAL_PLAN = LNA_PLAN.replace("    ports: [1, 2]\n    port_names: [IN, OUT]\n",
                              "    ports: [1, 3]\n    port_names: [IN, OUT]\n")


def test_uncalibrated_ports_are_refused_before_any_sweep(tmp_path: Path) -> None:
    bench = _bench({"vna": VNA_ENTRY}, LNA_MODEL, {"calibration": CAL_12})
    outcome = _run(UNCAL_PLAN, bench, tmp_path)
    assert outcome.status == "error" and outcome.verdict is Verdict.ERROR
    assert "VNA ports [3] are not calibrated" in outcome.error
    assert "CalSet_LNA" in outcome.error and "allow_uncalibrated" in outcome.error
    attrs, data, _ = _step_group(outcome.record_path)
    assert json.loads(attrs["vna_calibration"])["uncalibrated_ports"] == [3]
    assert np.all(np.isnan(data["s_re"]))  # nothing measured
    with h5py.File(outcome.record_path, "r") as f:
        sent = [t.decode() for d, t in f["traffic/vna"][()][["direction", "text"]]
                if d == b"w"]
    assert not any("SING" in t.upper() or "DATA" in t.upper() for t in sent), sent


def test_uncalibrated_ports_measured_when_the_plan_allows(tmp_path: Path) -> None:
    plan = UNCAL_PLAN.replace("    band:", "    allow_uncalibrated: true\n    band:")
    bench = _bench({"vna": VNA_ENTRY}, LNA_MODEL, {"calibration": CAL_12})
    outcome = _run(plan, bench, tmp_path)
    assert outcome.status == "completed", outcome.error
    attrs, data, events = _step_group(outcome.record_path)
    cal = json.loads(attrs["vna_calibration"])
    assert cal["uncalibrated_ports"] == [3] and cal["allow_uncalibrated"] is True
    warnings = [msg for level, msg in events if level == "warning"]
    assert any("VNA ports [3] are not calibrated" in w and "allow_uncalibrated" in w
               for w in warnings), events
    assert not np.any(np.isnan(data["s_re"]))
    # DUT port 2 (OUT) is not on VNA port 3: that port sees a matched load, no transmission
    assert np.max(np.abs(data["s_re"][:, 1, 0] + 1j * data["s_im"][:, 1, 0])) < 0.05
    assert {r.metric: r for r in outcome.metrics}["gain_db"].verdict is Verdict.FAIL


# ----------------------------------------------------------------- end to end: switch states

SWITCH = {"model": "switch", "throws": 3, "insertion_loss_db": 0.3,
          "insertion_loss_slope_db_per_ghz": 0.08, "isolation_db": 40.0,
          "isolation_reference_hz": 1.0e9, "isolation_slope_db_per_ghz": -2.4,
          "return_loss_db": 25.0, "off_ports": "reflective", "hot_switch_power_dbm": -20.0,
          "fields": {"throw": {"register": 0x00, "lsb": 0, "width": 3}}}
CONTROLS = {
    "rffe": ({"interface": "rffe", "usid": 0x7, "product_id": 0x9A, "manufacturer_id": 0x1A5},
             {"driver": "benchbot.rffe1", "resource": "simulated",
              "simulator": "benchbot_rffe1"},
             "    interface: rffe\n    role: ctrl\n    usid: 0x7\n    product_id: 0x9A\n",
             "{{register: 0x00, value: {k}}}", "RFFE:WRIT"),
    "gpio": ({"interface": "gpio", "port": 2},
             {"driver": "keysight.daq970a", "resource": "simulated",
              "simulator": "keysight_daq970a", "options": {"slot": 3}},
             "    interface: gpio\n    role: ctrl\n",
             "{{gpio_port: 2, value: {k}}}", "SOUR:DIG:DATA"),
}
THROWS = ("RF1", "RF2", "RF3")


def _switch_plan(interface: str) -> str:
    _, _, head, action, _ = CONTROLS[interface]
    states = "".join(f"      {name}: [{action.format(k=k)}, {{wait_s: 0.0005}}]\n"
                     for k, name in enumerate(("all_off", "rf1", "rf2", "rf3")))
    measured = "".join(
        f"      - state: rf{k}\n        through: [{{from: ANT, to: {t}}}]\n"
        f"        isolation: [{', '.join(f'{{from: ANT, to: {o}}}' for o in THROWS if o != t)}]\n"
        for k, t in enumerate(THROWS, start=1))
    return f"""\
schema: benchbot.plan/1
name: sp3t-paths
version: "1.0"
dut:
  part_number: BB-SW-SP3T-01
  serial: SIM-SW-1
  kind: switch
  safe_operating_area:
    {{max_rf_input_dbm: 20.0, max_supply_voltage_v: 3.6, max_supply_current_a: 0.1}}
  control:
{head}    states:
{states}    initial_state: all_off
    safe_state: all_off
roles: [vna, ctrl]
steps:
  - name: paths
    kind: network_paths
    sweep: {{start_hz: 0.5e9, stop_hz: 6e9, points: 111, if_bandwidth_hz: 1e4, power_dbm: -10}}
    vna_ports: {{ANT: 1, RF1: 2, RF2: 3, RF3: 4}}
    states:
{measured}      - state: all_off
        isolation: [{{from: ANT, to: RF1}}, {{from: ANT, to: RF2}}, {{from: ANT, to: RF3}}]
    limits: {{insertion_loss_db: {{max: 1.0}}, isolation_db: {{min: 20.0}}}}
"""


def _model_in_state(config: dict[str, Any], interface: str, throw: int) -> Any:
    """An independent copy of the switch model, set to ``throw`` through its own controls."""
    from simulators.controlled_duts import controlled_dut_from_config

    model = controlled_dut_from_config(json.loads(json.dumps(config)))
    if interface == "rffe":
        model.set_vio(True, 1.8)
        model.rffe_write(0x7, 0x00, throw)
    else:
        model.set_gpio(2, throw)
    return model


@pytest.mark.parametrize("interface", ["rffe", "gpio"])
def test_switch_every_state_in_order_without_hot_switching(interface: str,
                                                           tmp_path: Path) -> None:
    dut_control, entry, _, _, write_cmd = CONTROLS[interface]
    switch = {**SWITCH, "control": dut_control}
    bench = _bench({"vna": VNA_ENTRY, "ctrl": entry}, switch,
                   {"calibration": {"cal_set": "CalSet_4", "cal_type": "SOLT",
                                    "ports": [1, 2, 3, 4]}})
    after: dict[str, Any] = {}

    def sim_state(sim: Any) -> None:
        slave = sim.network.slave
        after.update(events=list(sim.network.events), counters=dict(sim.network.counters),
                     damaged=sim.network.damaged, rf_on=dict(sim.vna_rf_on),
                     state=sim.network.state_name, vio=slave is not None and slave.powered)

    outcome = _run(_switch_plan(interface), bench, tmp_path, sim_state)
    assert outcome.status == "completed" and outcome.verdict is Verdict.PASS, outcome.error
    # the simulated part saw no hot switching, no reserved code, no damage; left safe
    assert after["events"] == [] and after["counters"].get("hot_switch", 0) == 0
    assert not after["damaged"] and not any(after["rf_on"].values())
    assert after["state"] == "all_off" and not after["vio"]  # safe state, then VIO off
    attrs, data, _ = _step_group(outcome.record_path)
    assert json.loads(attrs["state_names"]) == ["rf1", "rf2", "rf3", "all_off"]
    assert json.loads(attrs["port_names"]) == ["ANT", "RF1", "RF2", "RF3"]
    s = data["s_re"] + 1j * data["s_im"]  # (state, frequency, row, col)
    f = np.linspace(0.5e9, 6e9, 111)
    for si, throw in enumerate((1, 2, 3, 0)):  # each state measured with its own throw on
        true = _model_in_state(switch, interface, throw).s_matrix(f)
        # trace noise at -10 dBm, 10 kHz IFBW: floor -95 dBm, σ ≈ 6e-5 absolute, plus
        # 0.002 dB rms (≈ 2.3e-4 relative) at high level; bound ≈ 10 σ of each
        error = np.abs(s[si] - true)
        assert np.all(error < 6e-4 + 5e-3 * np.abs(true)), (si, np.max(error))
    il = {r.condition["path"]: r.value for r in outcome.metrics
          if r.metric == "insertion_loss_db"}
    assert il == pytest.approx({f"ANT->{t}": 0.3 + 0.08 * 6 for t in THROWS}, abs=0.05)
    # every control write happened with the VNA source off (record traffic, one clock)
    with h5py.File(outcome.record_path, "r") as fh:
        log = sorted([(t, "vna", x.decode()) for t, d, x in fh["traffic/vna"][()] if d == b"w"]
                     + [(t, "ctrl", x.decode()) for t, d, x in fh["traffic/ctrl"][()]
                        if d == b"w"])
    source_on, writes = False, 0
    for _, role, text in log:
        if role == "vna" and text.upper().startswith("OUTP"):
            source_on = text.upper().split()[-1] in ("ON", "1")
        elif role == "ctrl" and text.upper().startswith(write_cmd):
            writes += 1
            assert not source_on, f"{text!r} sent with the VNA source on"
    assert writes == 1 + 3 + 1 + 1  # initial, three throws, all_off, safe state


@pytest.mark.parametrize(("old", "new", "error"), [
    ("rf2: [{register: 0x00, value: 2}", "rf2: [{register: 0x1D, value: 2}",
     "state 'rf2' action 0: USID 0x7 register 0x1D reads back 0x9A after writing 0x02"),
    ("product_id: 0x9A", "product_id: 0x9B",
     "PRODUCT_ID (register 0x1D) of USID 0x7 reads 0x9A, the plan expects 0x9B"),
], ids=["read-only register", "wrong part"])
def test_a_state_the_dut_does_not_take_is_an_error(old: str, new: str, error: str,
                                                   tmp_path: Path) -> None:
    dut_control, entry, *_ = CONTROLS["rffe"]
    bench = _bench({"vna": VNA_ENTRY, "ctrl": entry}, {**SWITCH, "control": dut_control},
                   {"calibration": {"cal_set": "CalSet_4", "cal_type": "SOLT",
                                    "ports": [1, 2, 3, 4]}})
    plan = _switch_plan("rffe")
    assert old in plan
    after: dict[str, Any] = {}
    outcome = _run(plan.replace(old, new), bench, tmp_path,
                   lambda sim: after.update(vio=sim.network.slave.powered,
                                            rf_on=any(sim.vna_rf_on.values())))
    assert outcome.verdict is Verdict.ERROR and error in outcome.error, outcome.error
    assert after == {"vio": False, "rf_on": False}  # powered down, source off all the same
