"""Plan x bench safety checks: roles, path-loss coverage, DUT max RF input, supply SOA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchbot.bench import BenchDefinition, builtin_bench_path, load_bench, parse_bench
from benchbot.plan import Plan, load_plan, parse_plan
from benchbot.safety import (
    SafetyError,
    check_plan_against_bench,
    dut_input_levels_dbm,
    generator_levels_dbm,
)

ROOT = Path(__file__).resolve().parents[1]
PLAN_TEXT = (ROOT / "test_plans" / "pa_power_sweep.yaml").read_text(encoding="utf-8")
BENCH_TEXT = builtin_bench_path().read_text(encoding="utf-8")
GEN_LOSS = {3.30e9: 1.50, 3.55e9: 1.56, 3.80e9: 1.62}  # from the bench file


def plan(*replacements: tuple[str, str]) -> Plan:
    text = PLAN_TEXT
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    return parse_plan(text, "plan.yaml")


def bench(*replacements: tuple[str, str]) -> BenchDefinition:
    text = BENCH_TEXT
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    return parse_bench(text, "bench.yaml")


def violations(p: Plan, b: BenchDefinition) -> list[str]:
    with pytest.raises(SafetyError) as info:
        check_plan_against_bench(p, b)
    assert str(info.value).startswith("refusing to run:")
    return info.value.violations


def test_demo_plan_is_safe_on_the_builtin_bench() -> None:
    check_plan_against_bench(load_plan(ROOT / "test_plans" / "pa_power_sweep.yaml"),
                             load_bench(builtin_bench_path()))


def test_generator_setpoints_add_the_input_loss_at_the_dut_input_plane() -> None:
    p, b = plan(), bench()
    step = p.steps[0]
    gen = generator_levels_dbm(step, b)
    assert gen.shape == (3, 67)
    for fi, f in enumerate(step.frequencies_hz):
        assert np.allclose(gen[fi], step.levels_dbm() + GEN_LOSS[f])
    assert np.allclose(dut_input_levels_dbm(step, b), np.tile(step.levels_dbm(), (3, 1)))


def test_generator_output_plane_subtracts_the_input_loss() -> None:
    p = plan(("reference_plane: dut_input", "reference_plane: generator_output"))
    step, b = p.steps[0], bench()
    assert np.allclose(generator_levels_dbm(step, b), np.tile(step.levels_dbm(), (3, 1)))
    dut_in = dut_input_levels_dbm(step, b)
    assert np.allclose(dut_in[1], step.levels_dbm() - 1.56)


def test_level_above_max_rf_input_is_refused_naming_the_first_point() -> None:
    p = plan(("stop: 8.0", "stop: 12.0"))
    (message,) = violations(p, bench())
    assert message == (
        "step 'compression': at 3.3 GHz, level 10.5 dBm (dut_input) puts 10.50 dBm at the DUT "
        "input (generator 12.00 dBm) > dut.safe_operating_area.max_rf_input_dbm 10 dBm; "
        "12 of 225 points exceed it"
    )


def test_level_at_max_rf_input_is_allowed() -> None:
    check_plan_against_bench(plan(("stop: 8.0", "stop: 10.0")), bench())


def test_generator_output_plane_is_judged_after_the_input_loss() -> None:
    # 11.5 dBm at the generator is 10.0/9.94/9.88 dBm at the DUT: safe
    safe = plan(("reference_plane: dut_input", "reference_plane: generator_output"),
                ("stop: 8.0", "stop: 11.5"))
    check_plan_against_bench(safe, bench())
    # 12 dBm at the generator is 10.5 dBm at 3.3 GHz, 10.38 at 3.8 GHz: both refused
    unsafe = plan(("reference_plane: dut_input", "reference_plane: generator_output"),
                  ("stop: 8.0", "stop: 12.0"))
    (message,) = violations(unsafe, bench())
    assert "at 3.3 GHz, level 12 dBm (generator_output) puts 10.50 dBm at the DUT input" in message
    assert "3 of 225 points" in message


def test_a_gain_block_in_the_input_path_is_accounted_for() -> None:
    # negative loss = an amplifier between generator and DUT: the DUT sees more than the setpoint
    b = bench(("loss_db: [1.42, 1.50, 1.56, 1.62, 1.66]", "loss_db: [-3, -3, -3, -3, -3]"))
    p = plan(("reference_plane: dut_input", "reference_plane: generator_output"))
    (message,) = violations(p, b)
    assert "level 7.5 dBm (generator_output) puts 10.50 dBm at the DUT input" in message


def test_missing_role_and_uncovered_frequency_are_all_listed() -> None:
    b = bench(("  power_meter:\n", "  power_sensor:\n"))
    p = plan(("[3.30e9, 3.55e9, 3.80e9]", "[3.30e9, 3.55e9, 4.2e9]"))
    found = violations(p, b)
    assert found[0].startswith("role 'power_meter' (plan roles) has no instrument in bench "
                               "'simulated-keysight'; bench roles: signal_generator, ")
    assert found[1] == ("step 'compression': 4.2 GHz outside the path-loss table of role "
                        "'signal_generator' (3 GHz to 4 GHz)")
    assert len(found) == 2


def test_missing_output_path_loss_is_refused() -> None:
    p = plan(("output_power_from: power_meter", "output_power_from: signal_analyzer"))
    text_without = BENCH_TEXT.replace(
        "    path_loss:   # DUT output -> analyzer input\n"
        "      frequency_hz: [3.0e9, 3.3e9, 3.55e9, 3.8e9, 4.0e9, 6.6e9, 7.1e9, 7.6e9, 9.9e9, "
        "10.65e9, 11.4e9]\n"
        "      loss_db: [36.60, 36.70, 36.78, 36.85, 36.90, 37.60, 37.72, 37.85, 38.40, 38.60, "
        "38.80]\n", "")
    assert text_without != BENCH_TEXT
    (message,) = violations(p, parse_bench(text_without))
    assert message == ("step 'compression': role 'signal_analyzer' has no path_loss in bench "
                       "'simulated-keysight'; powers cannot be referred to the DUT")


def test_unsafe_dut_input_level_is_refused_even_without_tables() -> None:
    b = bench(("  signal_generator:\n", "  generator:\n"))
    found = violations(plan(("stop: 8.0", "stop: 12.0")), b)
    assert any("level 12 dBm at the DUT input > dut.safe_operating_area.max_rf_input_dbm 10 dBm"
               in v for v in found)


def test_supplies_outside_the_soa_are_refused() -> None:
    # the plan model refuses these already; the check must not depend on that
    p = plan()
    supply = p.conditions.supplies[0].model_copy(update={"voltage_v": 6.0, "current_limit_a": 2.0})
    bad = p.model_copy(update={"conditions": p.conditions.model_copy(
        update={"supplies": [supply]})})
    assert violations(bad, bench()) == [
        "supply 'vcc': 6 V > dut.safe_operating_area.max_supply_voltage_v 5.5 V",
        "supply 'vcc': current limit 2 A > dut.safe_operating_area.max_supply_current_a 1.2 A",
    ]


def test_generator_levels_need_the_generator_table() -> None:
    b = bench(("[3.0e9, 3.3e9, 3.55e9, 3.8e9, 4.0e9]\n      loss_db: [1.42",
               "[3.4e9, 3.5e9, 3.55e9, 3.8e9, 4.0e9]\n      loss_db: [1.42"))
    with pytest.raises(SafetyError, match="3.3 GHz outside the path-loss table"):
        generator_levels_dbm(plan().steps[0], b)
