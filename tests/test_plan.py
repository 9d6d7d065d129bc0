"""Plan files: the demo plan loads; each bad plan gives one clear error with YAML path and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchbot.analysis.power_sweep import METRIC_UNITS
from benchbot.plan import (
    POWER_SWEEP_METRICS,
    Plan,
    PlanError,
    PowerRange,
    load_plan,
    parse_plan,
    plan_json_schema,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "test_plans" / "pa_power_sweep.yaml"
TEXT = DEMO.read_text(encoding="utf-8")


def test_demo_plan_loads() -> None:
    plan = load_plan(DEMO)
    assert plan.schema_id == "benchbot.plan/1" and plan.name == "n78-pa-power-sweep"
    assert plan.version == "1.0"
    assert plan.dut.safe_operating_area.max_rf_input_dbm == 10.0
    assert plan.conditions.supplies[0].voltage_v == 5.0
    step = plan.steps[0]
    assert step.frequencies_hz == [3.30e9, 3.55e9, 3.80e9]
    levels = step.levels_dbm()
    assert len(levels) == 67 and levels[0] == -25.0 and levels[-1] == 8.0
    assert np.allclose(np.diff(levels), 0.5)
    assert step.required_roles() == ("signal_generator", "power_meter", "signal_analyzer")
    assert step.path_loss_roles() == ("signal_generator", "power_meter")
    assert step.limits["p1db_output_dbm"].marginal_db == 0.5
    assert plan.sha256 == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert plan.source_text == TEXT and plan.source_path == str(DEMO)
    assert plan.step("compression") is step
    json.dumps(plan.model_dump(mode="json", by_alias=True))


def test_metric_catalogue_matches_analysis() -> None:
    per_frequency = {m: s.unit for m, s in POWER_SWEEP_METRICS.items() if s.per_frequency}
    assert per_frequency == METRIC_UNITS
    assert set(POWER_SWEEP_METRICS) - set(METRIC_UNITS) == {"gain_flatness_db"}


def _line_of(text: str, needle: str) -> int:
    """1-based number of the last line containing ``needle``."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert numbers, f"{needle!r} not in the plan"
    return numbers[-1]


STEP = "- name: compression"
# (id, text replaced, replacement, YAML path, text on the reported line, reason)
BAD_PLANS = [
    ("not a number", "min: 29.0, marginal_db", "min: abc, marginal_db",
     "steps[0].limits.p1db_output_dbm.min", "min: abc",
     "unable to parse string as a number (got 'abc')"),
    ("unknown metric", "am_pm_at_p1db_deg: {max: 10.0}",
     "am_pm_at_p1db_deg: {max: 10.0}\n      p1db_outptu_dbm: {min: 1}",
     "steps[0].limits.p1db_outptu_dbm", "p1db_outptu_dbm", "unknown metric 'p1db_outptu_dbm'; "
     "known power-sweep metrics: small_signal_gain_db, gain_flatness_db, p1db_output_dbm"),
    ("misspelt field", "    settle_s: 0.0", "    settle_s: 0.0\n    setle_s: 1",
     "steps[0].setle_s", "setle_s", "unknown field; did you mean 'settle_s'?"),
    ("unknown top-level field", "operator: lab-engineer", "operator: lab-engineer\nbudget: 3",
     "budget", "budget", "unknown field; allowed: schema, name, version"),
    ("unknown step kind", "kind: power_sweep", "kind: power_swep",
     "steps[0].kind", "kind: power_swep", "unknown kind 'power_swep'; known kinds: 'power_sweep'"),
    ("missing step kind", "    kind: power_sweep\n", "",
     "steps[0].kind", STEP, "required field is missing"),
    ("missing frequencies", "    frequencies_hz: [3.30e9, 3.55e9, 3.80e9]\n", "",
     "steps[0].frequencies_hz", STEP, "required field is missing"),
    ("no frequencies", "[3.30e9, 3.55e9, 3.80e9]", "[]",
     "steps[0].frequencies_hz", "frequencies_hz", "at least 1 item"),
    ("negative frequency", "[3.30e9, 3.55e9, 3.80e9]", "[3.30e9, -3.55e9]",
     "steps[0].frequencies_hz[1]", "frequencies_hz", "greater than 0"),
    ("repeated frequency", "[3.30e9, 3.55e9, 3.80e9]", "[3.30e9, 3.55e9, 3.3e9]",
     "steps[0].frequencies_hz", "frequencies_hz", "repeated frequencies: 3.3e+09"),
    ("too many frequencies", "[3.30e9, 3.55e9, 3.80e9]",
     "[" + ", ".join(str(3e9 + i * 1e6) for i in range(1002)) + "]",
     "steps[0].frequencies_hz", "frequencies_hz", "1002 frequencies, more than 1001"),
    ("step name with slash", "name: compression", "name: comp/ression",
     "steps[0].name", "comp/ression", "cannot be an HDF5 group name"),
    ("duplicate step name", "am_pm_at_p1db_deg: {max: 10.0}\n",
     "am_pm_at_p1db_deg: {max: 10.0}\n  - name: compression\n    kind: power_sweep\n"
     "    frequencies_hz: [3.5e9]\n    input_power_dbm: {start: -20, stop: 0, step: 1}\n"
     "    small_signal_max_input_dbm: -15\n",
     "steps[1].name", STEP, "name already used by steps[0]"),
    ("stop off the step grid", "step: 0.5}", "step: 0.7}",
     "steps[0].input_power_dbm.stop", "input_power_dbm", "use 7.9 or 8.6"),
    ("stop below start", "stop: 8.0", "stop: -30",
     "steps[0].input_power_dbm.stop", "input_power_dbm", "must be >= start (-25)"),
    ("zero step", "step: 0.5}", "step: 0}",
     "steps[0].input_power_dbm.step", "input_power_dbm", "greater than 0"),
    ("too many levels", "step: 0.5}", "step: 0.01}",
     "steps[0].input_power_dbm.step", "input_power_dbm", "3301 levels, more than 1001"),
    ("absurd level", "stop: 8.0", "stop: 80.0",
     "steps[0].input_power_dbm.stop", "input_power_dbm", "less than or equal to 50"),
    ("G0 needs two points", "small_signal_max_input_dbm: -15.0",
     "small_signal_max_input_dbm: -25.0", "steps[0].small_signal_max_input_dbm",
     "small_signal_max_input_dbm", "only 1 sweep level(s) at or below it; G0 needs >= 2"),
    ("AM-PM limit without AM-PM", "measure_am_pm: true", "measure_am_pm: false",
     "steps[0].limits.am_pm_at_p1db_deg", "am_pm_at_p1db_deg", "needs measure_am_pm: true"),
    ("empty limit", "p1db_input_dbm: {min: 0.0}", "p1db_input_dbm: {}",
     "steps[0].limits.p1db_input_dbm", "p1db_input_dbm", "a limit needs min, max or both"),
    ("inverted limit", "p1db_input_dbm: {min: 0.0}", "p1db_input_dbm: {min: 5, max: 1}",
     "steps[0].limits.p1db_input_dbm", "p1db_input_dbm", "min (5) is above max (1)"),
    ("negative settle", "settle_s: 0.0", "settle_s: -1",
     "steps[0].settle_s", "settle_s", "greater than or equal to 0"),
    ("bad reference plane", "reference_plane: dut_input", "reference_plane: dut",
     "steps[0].reference_plane", "reference_plane", "'dut_input' or 'generator_output'"),
    ("role the step needs", "roles: [signal_generator, signal_analyzer, power_meter, dc_supply]",
     "roles: [signal_generator, signal_analyzer, dc_supply]",
     "roles", "roles:", "step 'compression' needs role 'power_meter'; add it to roles"),
    ("supply role not in roles", "      role: dc_supply", "      role: bias_supply",
     "conditions.supplies[0].role", "role: bias_supply", "role 'bias_supply' is not in roles"),
    ("supply above SOA voltage", "voltage_v: 5.0", "voltage_v: 6.0",
     "conditions.supplies[0].voltage_v", "voltage_v: 6.0",
     "6 V is above dut.safe_operating_area.max_supply_voltage_v (5.5 V)"),
    ("supply above SOA current", "current_limit_a: 1.0", "current_limit_a: 1.5",
     "conditions.supplies[0].current_limit_a", "current_limit_a",
     "1.5 A is above dut.safe_operating_area.max_supply_current_a (1.2 A)"),
    ("efficiency limit without supply", "  supplies:\n", "  supplies: []\n  old_supplies:\n",
     "conditions.old_supplies", "old_supplies", "unknown field; did you mean 'supplies'?"),
    ("missing SOA", "  safe_operating_area:\n", "  soa:\n",
     "dut.safe_operating_area", "dut:", "required field is missing"),
    ("unquoted version", 'version: "1.0"', "version: 1.0",
     "version", "version", 'quote the version, e.g. version: "1.0"'),
    ("wrong schema", "schema: benchbot.plan/1", "schema: benchbot.plan/2",
     "schema", "schema:", "Input should be 'benchbot.plan/1'"),
    ("infinite SOA", "max_rf_input_dbm: 10.0", "max_rf_input_dbm: .inf",
     "dut.safe_operating_area.max_rf_input_dbm", "max_rf_input_dbm", "finite number"),
    ("duplicate key", "  serial: SIM-0001", "  serial: SIM-0001\n  serial: SIM-0002",
     "dut.serial", "SIM-0002", "duplicate key (first on line 12)"),
]


@pytest.mark.parametrize(("old", "new", "path", "needle", "reason"),
                         [case[1:] for case in BAD_PLANS], ids=[case[0] for case in BAD_PLANS])
def test_bad_plan(old: str, new: str, path: str, needle: str, reason: str) -> None:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plans/pa.yaml")
    line = _line_of(text, needle)
    expected = f"plans/pa.yaml:{line}: {path}: "
    matching = [i.format("plans/pa.yaml") for i in info.value.issues if i.path == path]
    assert matching, f"no issue at {path}: {info.value}"
    assert any(m.startswith(expected) and reason in m for m in matching), str(info.value)
    assert str(info.value).count(expected) >= 1


def test_every_problem_is_listed_once_in_one_error() -> None:
    text = (TEXT.replace("min: 29.0, marginal_db", "min: abc, marginal_db")
            .replace("    settle_s: 0.0", "    settle_s: 0.0\n    setle_s: 1")
            .replace("voltage_v: 5.0", "voltage_v: x"))
    with pytest.raises(PlanError) as info:
        parse_plan(text, "pa.yaml")
    message = str(info.value)
    assert message.splitlines()[0] == "3 problems in pa.yaml:"
    paths = [i.path for i in info.value.issues]
    assert paths == ["conditions.supplies[0].voltage_v", "steps[0].setle_s",
                     "steps[0].limits.p1db_output_dbm.min"]  # in file order
    assert all(line.startswith("pa.yaml:") for line in message.splitlines()[1:])


def test_flatness_needs_two_frequencies() -> None:
    assert "gain_flatness_db" in TEXT
    text = TEXT.replace("[3.30e9, 3.55e9, 3.80e9]", "[3.55e9]")
    with pytest.raises(PlanError) as info:
        parse_plan(text, "pa.yaml")
    line = _line_of(text, "gain_flatness_db")
    assert str(info.value) == (f"pa.yaml:{line}: steps[0].limits.gain_flatness_db: "
                               "needs >= 2 frequencies")


def test_efficiency_limits_need_a_supply() -> None:
    text = TEXT.replace("roles: [signal_generator, signal_analyzer, power_meter, dc_supply]",
                        "roles: [signal_generator, signal_analyzer, power_meter]")
    text = text[:text.index("  supplies:")] + "\n" + text[text.index("steps:"):]
    with pytest.raises(PlanError) as info:
        parse_plan(text, "pa.yaml")
    assert [(i.path, i.line, i.message) for i in info.value.issues] == [
        (f"steps[0].limits.{m}", _line_of(text, m), "needs a DC supply in conditions.supplies "
         "for P_DC") for m in ("pae_at_p1db_pct", "drain_efficiency_at_psat_pct")]


def test_cross_field_problems_are_all_reported() -> None:
    text = (TEXT.replace("voltage_v: 5.0", "voltage_v: 6.0")
            .replace("current_limit_a: 1.0", "current_limit_a: 2.0"))
    with pytest.raises(PlanError) as info:
        parse_plan(text, "pa.yaml")
    assert {i.path for i in info.value.issues} == {
        "conditions.supplies[0].voltage_v", "conditions.supplies[0].current_limit_a"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("schema: benchbot.plan/1\nname: [a, b\n", 3, "invalid YAML"),
        ("schema: benchbot.plan/1\n  name: x\n", 2, "invalid YAML"),
        ("", 1, "expected a YAML mapping at the top level, got an empty file"),
        ("- a\n- b\n", 1, "expected a YAML mapping at the top level, got a list"),
        ("x: !!python/object:os.system {}\n", 1, "invalid YAML"),
        ("schema: benchbot.plan/1\nname: a\x10\n", 2, "invalid YAML: special characters"),
    ],
)
def test_unparseable_files(text: str, line: int, reason: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml:{line}: {reason}")


def test_yaml_nested_too_deeply_is_invalid_yaml_not_a_crash() -> None:
    with pytest.raises(PlanError, match=r"p\.yaml: invalid YAML: nested too deeply"):
        parse_plan("x: " + "[" * 5000, "p.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="missing.yaml: cannot read"):
        load_plan(tmp_path / "missing.yaml")


def test_plan_can_be_built_in_python() -> None:
    plan = Plan.model_validate(parse_plan(TEXT).model_dump(by_alias=True))
    assert plan.steps[0].name == "compression" and plan.sha256 is None


def test_json_schema_is_generated_and_up_to_date() -> None:
    schema = plan_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    limits = schema["$defs"]["PowerSweepStep"]["properties"]["limits"]
    assert set(limits["properties"]) == set(POWER_SWEEP_METRICS)
    assert schema["additionalProperties"] is False
    on_disk = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))
    assert on_disk == schema, "regenerate docs/plan.schema.json with `benchbot schema`"


@given(start=st.integers(-300, 100), step_tenths=st.integers(1, 50), n=st.integers(1, 200))
def test_levels_include_stop_exactly(start: int, step_tenths: int, n: int) -> None:
    start_dbm, step_db = start / 10, step_tenths / 10
    stop_dbm = round(start_dbm + (n - 1) * step_db, 6)
    if stop_dbm > 50:
        return
    levels = PowerRange(start=start_dbm, stop=stop_dbm, step=step_db).levels_dbm()
    assert len(levels) == n
    assert levels[0] == start_dbm and levels[-1] == stop_dbm
    assert np.allclose(np.diff(levels), step_db)
