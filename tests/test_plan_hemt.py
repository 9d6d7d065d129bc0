"""GaN HEMT plan validation: every planned bias point against the transistor SOA, named by
step and point, and the cross-checks only the whole plan can make (pure: no bench)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from benchbot.plan import PlanError, load_plan, parse_plan
from benchbot.plan_hemt import step_bias_points

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "test_plans" / "gan_hemt_dc_pulsed.yaml"


def _plan(**changes: object) -> dict:
    doc = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    for path, value in changes.items():
        *keys, last = path.split("__")
        node = doc
        for key in keys:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return doc


def _errors(doc: dict) -> str:
    with pytest.raises(PlanError) as err:
        parse_plan(yaml.safe_dump(doc), "hemt.yaml")
    return str(err.value)


def test_the_shipped_plan_is_inside_its_soa() -> None:
    plan = load_plan(PLAN)
    kinds = [s.kind for s in plan.steps]
    assert kinds == ["transfer_curve", "output_family", "leakage", "pulsed_iv",
                     "off_state_breakdown"]
    assert sum(len(step_bias_points(s)) for s in plan.steps) > 300


def test_a_point_outside_the_soa_names_the_step_and_the_point() -> None:
    text = _errors(_plan(steps__0__drain_voltage_v=10.0))  # 10 V x 0.9 A = 9 W > 6 W
    # point 0 sits at pinch-off, where the SOA bounds the drain current at 5 mA (enforced)
    assert "point 0 " not in text
    assert "steps[0]: outside the transistor SOA: point 1 (Vgs -4.95 V, Vds 10 V)" in text
    assert "Pdiss 9 W (Vds × drain compliance) > SOA 6 W" in text


def test_a_step_compliance_brings_a_point_back_inside() -> None:
    doc = _plan(steps__0__drain_voltage_v=10.0, steps__0__drain_current_limit_a=0.5)
    parse_plan(yaml.safe_dump(doc), "hemt.yaml")  # 10 V x 0.5 A = 5 W


def test_pulses_are_checked_with_their_quiescent_base() -> None:
    text = _errors(_plan(steps__3__pulse_width_s=2e-3, steps__3__pulse_period_s=0.1))
    assert "steps[3]" in text and "pulse width 0.002 s > SOA 0.001 s" in text


def test_breakdown_sweeps_need_the_soa_breakdown_bounds() -> None:
    doc = _plan(dut__safe_operating_area__transistor__max_breakdown_test_voltage_v=None)
    assert "needs max_breakdown_test_voltage_v" in _errors(doc)
    text = _errors(_plan(steps__4__gate_voltage_v=-2.0))
    assert "breakdown sweep gate -2 V is above pinch-off -5 V" in text


def test_biased_steps_need_terminals_and_a_transistor_soa() -> None:
    assert "needs conditions.bias" in _errors(_plan(conditions__bias=None))
    assert "needs dut.safe_operating_area.transistor" in _errors(
        _plan(dut__safe_operating_area__transistor=None))


def test_per_mm_limits_need_a_gate_width() -> None:
    assert "a per-mm figure needs dut.gate_width_mm" in _errors(_plan(dut__gate_width_mm=None))


def test_a_bias_terminal_cannot_also_be_a_dut_supply() -> None:
    doc = _plan(conditions__supplies=[{"name": "vdd", "role": "smu", "channel": 2,
                                       "voltage_v": 5.0, "current_limit_a": 0.1}])
    assert "smu channel 2 is the transistor's drain: only the bias kernel" in _errors(doc)


def test_pulsed_iv_needs_gate_and_drain_on_one_smu() -> None:
    doc = _plan(conditions__bias__drain={"role": "drain_smu", "channel": 1},
                roles=["smu", "drain_smu"])
    assert "must be two channels of one SMU" in _errors(doc)


def test_the_compliance_hint_is_a_limit_that_validates() -> None:
    text = _errors(_plan(steps__0__drain_voltage_v=12.0))
    found = re.search(r"drain_current_limit_a of at most ([0-9.]+) A", text)
    assert found, text
    parse_plan(yaml.safe_dump(_plan(steps__0__drain_voltage_v=12.0,
                                    steps__0__drain_current_limit_a=float(found[1]))), "h.yaml")
