"""VNA steps and DUT control in plan files: every field is validated before anything runs, each
problem as ``<file>:<line>: <yaml path>: <reason>``, and the editor schema still builds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchbot.cli import main
from benchbot.plan import PlanError, parse_plan, plan_json_schema
from benchbot.plan_control import DutControl, network_plan_problems
from benchbot.plan_network import (
    NETWORK_PATHS_METRICS,
    S_PARAMETER_METRICS,
    NetworkPathsStep,
    SParametersStep,
)

PLAN = """\
schema: benchbot.plan/1
name: fem-network
version: "1.0"
dut:
  part_number: BB-FEM-N78-01
  serial: SIM-FEM-1
  kind: front_end_module
  safe_operating_area: {max_rf_input_dbm: 0.0, max_supply_voltage_v: 5.5, max_supply_current_a: 1}
  control:
    interface: rffe
    role: rffe
    vio_v: 1.8
    usid: 0x7
    product_id: 0x42
    states:
      isolation: [{register: 0x00, value: 0x00}]
      tx: [{register: 0x00, value: 0x01}, {register: 0x00, value: 0x11}, {wait_s: 0.001}]
      rx: [{register: 0x00, value: 0x22}, {register: 0x1C, value: 0x38}]
    initial_state: isolation
    safe_state: isolation
roles: [vna, rffe]
steps:
  - name: rx_sparams
    kind: s_parameters
    sweep: {start_hz: 1e9, stop_hz: 6e9, points: 201, if_bandwidth_hz: 1e3, power_dbm: -30}
    ports: [1, 3]
    port_names: [ANT, RX]
    band: {start_hz: 3.3e9, stop_hz: 3.8e9}
    state: rx
    masks:
      s21_db: {segments: [{start_hz: 3.3e9, stop_hz: 3.8e9, min_db: 15}], source: ds 4.2}
    limits:
      gain_db: {min: 15}
      k_factor_min: {min: 1.0}
      mask_s21_db_margin_db: {min: 0.0, marginal_db: 0.5}
  - name: filter
    kind: s_parameters
    sweep: {start_hz: 2e9, stop_hz: 5e9, points: 301}
    filter:
      passband: {start_hz: 3.3e9, stop_hz: 3.8e9}
      rejection:
        - {name: low, start_hz: 2.0e9, stop_hz: 2.7e9}
        - {name: image, frequency_hz: 4.6e9, limit: {min: 40}}
    limits:
      passband_insertion_loss_db: {max: 2.0}
      rejection_db: {min: 30}
  - name: paths
    kind: network_paths
    sweep: {start_hz: 1e9, stop_hz: 6e9, points: 101}
    vna_ports: {ANT: 1, TX: 2, RX: 3}
    states:
      - state: tx
        through: [{from: TX, to: ANT}]
        isolation: [{from: TX, to: RX}]
        active: true
        limits: {gain_db: {min: 25}}
      - state: rx
        through: [{from: ANT, to: RX}]
        active: true
      - state: isolation
        isolation: [{from: ANT, to: RX}, {from: TX, to: ANT}]
    limits: {gain_db: {min: 15}, isolation_db: {min: 20}, return_loss_db: {min: 8}}
"""


def _line_of(text: str, needle: str | tuple[str, int]) -> int:
    """Line of the first (or the ``k``-th of a ``(needle, k)``) line holding ``needle``."""
    needle, k = (needle, 0) if isinstance(needle, str) else needle
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert numbers, f"{needle!r} not in the plan"
    return numbers[k]


def test_the_plan_loads_and_round_trips() -> None:
    plan = parse_plan(PLAN)
    rx, flt, paths = plan.steps
    assert isinstance(rx, SParametersStep) and isinstance(paths, NetworkPathsStep)
    control = plan.dut.control
    assert isinstance(control, DutControl)
    assert list(control.states) == ["isolation", "tx", "rx"]  # the file's order
    assert [(a.kind, a.register_address, a.value) for a in control.states["tx"]] == [
        ("rffe", 0, 1), ("rffe", 0, 0x11), ("wait", None, None)]
    assert [a.reads_back for a in control.states["rx"]] == [True, False]  # PM_TRIG self-clears
    assert (rx.input_port_number, rx.output_port_number, rx.stability_on) == (1, 3, True)
    assert rx.names_of_ports() == ["ANT", "RX"]
    assert rx.metric_band_hz() == (3.3e9, 3.8e9)
    assert rx.dut_rf_input_dbm() == -30 and rx.required_roles() == ("vna",)
    assert rx.sweep.frequency_hz()[[0, -1]] == pytest.approx([1e9, 6e9])
    assert (flt.stability_on, flt.metric_band_hz(), flt.names_of_ports()) == (
        False, (2e9, 5e9), ["P1", "P2"])
    assert paths.total_points() == 3 and paths.port_numbers() == [1, 2, 3]
    assert paths.limit_for(paths.states[0], "gain_db").min == 25
    assert paths.limit_for(paths.states[1], "gain_db").min == 15
    assert paths.states[0].return_loss_ports() == ["TX", "ANT"]
    assert network_plan_problems(plan) == []
    # what the record stores re-validates to the same models (settings, dut_json)
    dumped = json.loads(json.dumps(plan.model_dump(mode="json", by_alias=True)))
    assert dumped["steps"][2]["states"][0]["through"] == [{"from": "TX", "to": "ANT"}]
    assert dumped["dut"]["control"]["states"]["tx"][0]["register"] == 0
    assert DutControl.model_validate(dumped["dut"]["control"]) == control
    assert NetworkPathsStep.model_validate(paths.model_dump(mode="json")) == paths


# (id, text replaced, replacement, YAML path, text on the reported line, reason)
BAD = [
    ("register above 0xFF", "{register: 0x1C, value: 0x38}", "{register: 0x100, value: 0x38}",
     "dut.control.states.rx[1].register", "register: 0x100",
     "256 (0x100) is outside 0..255 (0x00..0xFF): RFFE register addresses"),
    ("value above 0xFF", "{register: 0x1C, value: 0x38}", "{register: 0x1C, value: 300}",
     "dut.control.states.rx[1].value", "value: 300", "300 (0x12C) is outside 0..255"),
    ("usid above 15", "usid: 0x7", "usid: 16", "dut.control.usid", "usid: 16",
     "16 (0x10) is outside 0..15 (0x00..0x0F): an RFFE USID is 4 bits"),
    ("unknown initial state", "initial_state: isolation", "initial_state: sleep",
     "dut.control.initial_state", "initial_state: sleep",
     "unknown state 'sleep'; dut.control.states: isolation, tx, rx"),
    ("gpio write on an rffe bus", "{register: 0x00, value: 0x00}]",
     "{gpio_port: 1, value: 0x00}]", "dut.control.states.isolation[0].gpio_port",
     "isolation: [{gpio_port", "interface is rffe"),
    ("two kinds in one action", "{wait_s: 0.001}", "{wait_s: 0.001, register: 3}",
     "dut.control.states.tx[2]", "{wait_s: 0.001, register: 3}",
     "an action is exactly one of"),
    ("write without value", "{register: 0x00, value: 0x22}", "{register: 0x00}",
     "dut.control.states.rx[0].value", "rx: [{register: 0x00}", "needs a value"),
    ("no usid for a write", "    usid: 0x7\n    product_id: 0x42\n", "",
     "dut.control.states.isolation[0].usid", "isolation: [{register",
     "no usid here and no dut.control.usid"),
    ("vio on gpio", "interface: rffe", "interface: gpio", "dut.control.vio_v", "vio_v: 1.8",
     "only for interface rffe"),
    ("state name", "      rx: [", "      Rx: [", "dut.control.states", "states:",
     "state 'Rx' must be lower-case letters"),
    ("sweep backwards", "stop_hz: 6e9, points: 201", "stop_hz: 0.5e9, points: 201",
     "steps[0].sweep.stop_hz", "stop_hz: 0.5e9", "must be above start_hz (1e+09 Hz)"),
    ("one point", "points: 201", "points: 1", "steps[0].sweep.points", "points: 1",
     "greater than or equal to 2"),
    ("too many points", "points: 201", "points: 100002", "steps[0].sweep.points",
     "points: 100002", "less than or equal to 100001"),
    ("band outside the sweep", "band: {start_hz: 3.3e9, stop_hz: 3.8e9}",
     "band: {start_hz: 3.3e9, stop_hz: 6.8e9}", "steps[0].band", "band: {start_hz: 3.3e9",
     "3.3e+09..6.8e+09 Hz is outside the sweep (1e+09..6e+09 Hz)"),
    ("input port not measured", "    ports: [1, 3]\n", "    ports: [1, 3]\n    input_port: 2\n",
     "steps[0].input_port", "input_port: 2", "VNA port 2 is not in ports [1, 3]"),
    ("repeated port", "ports: [1, 3]", "ports: [1, 1]", "steps[0].ports", "ports: [1, 1]",
     "repeated VNA ports: [1]"),
    ("port names count", "port_names: [ANT, RX]", "port_names: [ANT]", "steps[0].port_names",
     "port_names: [ANT]", "1 names for 2 ports"),
    ("k factor of a 1-port", "ports: [1, 3]\n    port_names: [ANT, RX]",
     "ports: [1]\n    port_names: [ANT]", "steps[0].limits.k_factor_min",
     "k_factor_min: {min", "needs stability_check"),
    ("2-port mask on a 1-port", "ports: [1, 3]\n    port_names: [ANT, RX]",
     "ports: [1]\n    port_names: [ANT]", "steps[0].masks.s21_db", "s21_db: {segments",
     "s21_db needs an output port"),
    ("unknown mask trace", "      s21_db: {segments", "      s31_db: {segments",
     "steps[0].masks.s31_db", "s31_db: {segments",
     "unknown trace 's31_db'; traces with masks: s21_db, s11_db"),
    ("mask roll-up without its mask", "mask_s21_db_margin_db: {min: 0.0",
     "mask_s11_db_margin_db: {min: 0.0", "steps[0].limits.mask_s11_db_margin_db",
     "mask_s11_db_margin_db", "needs masks.s11_db"),
    ("mask outside the sweep", "{start_hz: 3.3e9, stop_hz: 3.8e9, min_db: 15}",
     "{start_hz: 7e9, stop_hz: 8e9, min_db: 15}", "steps[0].masks.s21_db",
     "s21_db: {segments", "no segment overlaps the sweep"),
    ("unknown metric", "gain_db: {min: 15}\n      k_factor", "gain_dbm: {min: 15}\n      k_factor",
     "steps[0].limits.gain_dbm", "gain_dbm:",
     "unknown metric 'gain_dbm'; known s-parameters metrics: gain_db, gain_max_db"),
    ("rejection without entries", "      rejection:\n        - {name: low, start_hz: 2.0e9, "
     "stop_hz: 2.7e9}\n        - {name: image, frequency_hz: 4.6e9, limit: {min: 40}}\n", "",
     "steps[1].limits.rejection_db", "rejection_db: {min: 30}",
     "needs filter.rejection entries"),
    ("filter metric without filter", "    filter:\n      passband: {start_hz: 3.3e9, stop_hz: "
     "3.8e9}\n      rejection:\n        - {name: low, start_hz: 2.0e9, stop_hz: 2.7e9}\n"
     "        - {name: image, frequency_hz: 4.6e9, limit: {min: 40}}\n", "",
     "steps[1].limits.passband_insertion_loss_db", "passband_insertion_loss_db",
     "needs a filter block"),
    ("rejection outside the sweep", "frequency_hz: 4.6e9", "frequency_hz: 5.6e9",
     "steps[1].filter.rejection[1]", "name: image", "outside the sweep (2e+09..5e+09 Hz)"),
    ("rejection half a band", "{name: low, start_hz: 2.0e9, stop_hz: 2.7e9}",
     "{name: low, start_hz: 2.0e9}", "steps[1].filter.rejection[0].stop_hz", "name: low",
     "needs start_hz and stop_hz"),
    ("rejection both forms", "{name: image, frequency_hz: 4.6e9,",
     "{name: image, frequency_hz: 4.6e9, start_hz: 4e9,",
     "steps[1].filter.rejection[1].frequency_hz", "name: image", "not both"),
    ("rejection names", "{name: image,", "{name: low,", "steps[1].filter.rejection",
     "rejection:", "repeated rejection names: low"),
    ("unknown DUT port", "isolation: [{from: TX, to: RX}]", "isolation: [{from: TX, to: RX2}]",
     "steps[2].states[0].isolation[0].to", "isolation: [{from: TX, to: RX2}]",
     "unknown DUT port 'RX2'; vna_ports: ANT, TX, RX"),
    ("a port to itself", "through: [{from: ANT, to: RX}]", "through: [{from: ANT, to: ANT}]",
     "steps[2].states[1].through[0].to", "through: [{from: ANT, to: ANT}]",
     "a path joins two different ports"),
    ("state twice", "      - state: isolation\n", "      - state: tx\n", "steps[2].states[2].state",
     ("      - state: tx", -1), "already measured in states[0]"),
    ("VNA port twice", "{ANT: 1, TX: 2, RX: 3}", "{ANT: 1, TX: 2, RX: 2}", "steps[2].vna_ports",
     "vna_ports:", "VNA ports used twice: [2]"),
    ("state limit it cannot produce", "limits: {gain_db: {min: 25}}",
     "limits: {insertion_loss_db: {max: 1}}", "steps[2].states[0].limits.insertion_loss_db",
     "limits: {insertion_loss_db", "needs a through path in a passive state"),
    ("step limit no state can produce", "{gain_db: {min: 15}, isolation_db",
     "{insertion_loss_db: {max: 1}, isolation_db", "steps[2].limits.insertion_loss_db",
     "limits: {insertion_loss_db", "needs a through path in a passive state"),
    ("mask on a quantity no state has", "    limits: {gain_db: {min: 15}, isolation_db",
     "    masks: {insertion_loss_db: {segments: [{start_hz: 1e9, stop_hz: 2e9, max_db: 1}]}}\n"
     "    limits: {gain_db: {min: 15}, isolation_db", "steps[2].masks.insertion_loss_db",
     "masks: {insertion_loss_db", "no state yields insertion_loss_db"),
    ("port power above range", "power_dbm: -30", "power_dbm: 40", "steps[0].sweep.power_dbm",
     "power_dbm: 40", "less than or equal to 30"),
]


@pytest.mark.parametrize(("old", "new", "path", "needle", "reason"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_plan(old: str, new: str, path: str, needle: str | tuple[str, int],
                  reason: str) -> None:
    assert old in PLAN
    text = PLAN.replace(old, new, 1)
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plans/fem.yaml")
    expected = f"plans/fem.yaml:{_line_of(text, needle)}: {path}: "
    matching = [i.format("plans/fem.yaml") for i in info.value.issues if i.path == path]
    assert matching, f"no issue at {path}: {info.value}"
    assert any(m.startswith(expected) and reason in m for m in matching), str(info.value)


# plan-level: names a step uses that only the whole plan can check
PLAN_LEVEL = [
    ("unknown state of a step", "    state: rx\n", "    state: standby\n", "steps[0].state",
     "unknown state 'standby'; dut.control.states: isolation, tx, rx"),
    ("unknown state in network_paths", "      - state: isolation\n", "      - state: sleep\n",
     "steps[2].states[2].state", "unknown state 'sleep'"),
    ("controller role not in roles", "roles: [vna, rffe]", "roles: [vna]", "dut.control.role",
     "the controller's role 'rffe' is not in roles"),
]


@pytest.mark.parametrize(("old", "new", "path", "reason"), [c[1:] for c in PLAN_LEVEL],
                         ids=[c[0] for c in PLAN_LEVEL])
def test_plan_level_problems(old: str, new: str, path: str, reason: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(PLAN.replace(old, new, 1), "plans/fem.yaml")
    assert any(i.path == path and reason in i.message for i in info.value.issues), \
        str(info.value)


def test_states_need_a_control_profile() -> None:
    start = PLAN.index("  control:")
    text = PLAN[:start] + PLAN[PLAN.index("roles:"):]
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plans/fem.yaml")
    paths = {i.path: i.message for i in info.value.issues}
    assert "needs dut.control" in paths["steps[0].state"]
    assert "needs dut.control" in paths["steps[2].states[0].state"]


def test_a_vna_step_reports_its_port_power_to_the_safety_check() -> None:
    from benchbot.bench import parse_bench
    from benchbot.safety import SafetyError, check_plan_against_bench

    bench = parse_bench("""\
schema: benchbot.bench/1
name: vna-bench
instruments:
  vna: {driver: keysight.n5247b, resource: "TCPIP::192.0.2.1::hislip0::INSTR"}
  rffe: {driver: benchbot.rffe1, resource: "TCPIP::192.0.2.2::5025::SOCKET"}
""")
    check_plan_against_bench(parse_plan(PLAN), bench)
    hot = PLAN.replace("power_dbm: -30", "power_dbm: 5")
    with pytest.raises(SafetyError, match=r"step 'rx_sparams': 5 dBm at the DUT input > "
                       r"dut.safe_operating_area.max_rf_input_dbm 0 dBm"):
        check_plan_against_bench(parse_plan(hot), bench)


def test_metric_catalogues_and_schema() -> None:
    assert S_PARAMETER_METRICS["mask_group_delay_ns_margin_db"].unit == "ns"
    assert S_PARAMETER_METRICS["k_factor_min"].unit == "1"
    assert set(NETWORK_PATHS_METRICS) >= {"insertion_loss_db", "gain_db", "isolation_db",
                                          "return_loss_db", "mask_isolation_db_margin_db"}
    schema = plan_json_schema()
    defs = schema["$defs"]
    kinds = {d["properties"]["kind"].get("const") for d in defs.values()
             if "kind" in d.get("properties", {})}
    assert {"s_parameters", "network_paths"} <= kinds
    assert defs["ControlAction"]["properties"]["register"]["anyOf"][0]["maximum"] == 255
    assert defs["PortPair"]["required"] == ["from", "to"]


def test_benchbot_schema_cli(tmp_path, capsys) -> None:
    out = tmp_path / "plan.schema.json"
    assert main(["schema", "--output", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert "SParametersStep" in schema["$defs"] and "DutControl" in schema["$defs"]


def test_sweep_points_are_linear() -> None:
    step = parse_plan(PLAN).steps[2]
    f = step.sweep.frequency_hz()
    assert f.size == 101 and np.allclose(np.diff(f), 50e6)
