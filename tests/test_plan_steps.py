"""Plan files with modulated, harmonics and two-tone steps: every new field is validated before
anything runs, each problem as ``<file>:<line>: <yaml path>: <reason>``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchbot.plan import (
    HARMONICS_METRICS,
    MODULATED_SWEEP_METRICS,
    STEP_TYPES,
    TWO_TONE_METRICS,
    HarmonicsStep,
    ModulatedPowerSweepStep,
    PlanError,
    TwoToneStep,
    load_plan,
    parse_plan,
    plan_json_schema,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "test_plans" / "n78_pa_characterisation.yaml"
FULL_TEXT = DEMO.read_text(encoding="utf-8")
# the demo without its CW compression step: the modulated, harmonics and two-tone steps are
# steps[0..2] here, and only their fields are in play
TEXT = (FULL_TEXT[:FULL_TEXT.index("  - name: compression")]
        + FULL_TEXT[FULL_TEXT.index("  - name: aclr_evm"):])


def _line_of(text: str, needle: str) -> int:
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert numbers, f"{needle!r} not in the plan"
    return numbers[-1]


def test_demo_plan_loads_every_step_kind() -> None:
    plan = load_plan(DEMO)
    _, mod, harm, imd = plan.steps
    assert isinstance(mod, ModulatedPowerSweepStep) and isinstance(harm, HarmonicsStep)
    assert isinstance(imd, TwoToneStep)
    assert mod.waveform.test_model_name == "NR-FR1-TM3.1a"
    assert mod.waveform.modulation == "256QAM"
    assert (mod.waveform.bandwidth_mhz, mod.waveform.scs_khz) == (100, 30)
    assert mod.aclr.requirement == "bs" and mod.aclr.uses_analyzer and not mod.aclr.uses_iq
    assert mod.limits["aclr1_db_at_rated_pout"].source.startswith("3GPP TS 38.104 Table 6.6.3")
    assert mod.required_roles() == ("signal_generator", "signal_analyzer")
    assert mod.total_points() == 3 * 21
    assert harm.orders() == [2, 3]
    assert harm.path_loss_frequencies("signal_analyzer") == pytest.approx(
        [n * f for f in (3.35e9, 3.55e9, 3.75e9) for n in (1, 2, 3)])
    assert harm.path_loss_frequencies("signal_generator") == [3.35e9, 3.55e9, 3.75e9]
    assert imd.rms_offset_db() == pytest.approx(3.0103, abs=1e-4)
    assert sorted(imd.path_loss_frequencies("signal_analyzer")) == pytest.approx(
        [3.55e9 + k * 1e6 for k in (-25, -15, -5, 5, 15, 25)])
    assert mod.rms_offset_db() == 0.0
    json.dumps(plan.model_dump(mode="json", by_alias=True))


def test_limit_source_is_kept_and_described() -> None:
    limit = load_plan(DEMO).step("aclr_evm").limits["evm_pct_at_rated_pout"]
    assert limit.source == "3GPP TS 38.104 Table 6.5.2.2-1 (256QAM)"
    assert limit.describe("%") == "x <= 3.5 % [3GPP TS 38.104 Table 6.5.2.2-1 (256QAM)]"


# (id, text replaced, replacement, YAML path, text on the reported line, reason)
BAD = [
    ("SCS not in FR1", "subcarrier_spacing_hz: 30e3", "subcarrier_spacing_hz: 20e3",
     "steps[0].waveform.subcarrier_spacing_hz", "subcarrier_spacing_hz: 20e3",
     "20000 Hz is not an FR1 data subcarrier spacing (15e3, 30e3, 60e3); TS 38.104 Table "
     "5.3.2-1 N_RB at 15 kHz: 5 MHz (25 RB)"),
    ("bandwidth not at that SCS", "subcarrier_spacing_hz: 30e3", "subcarrier_spacing_hz: 15e3",
     "steps[0].waveform.channel_bandwidth_hz", "channel_bandwidth_hz: 100e6",
     "1e+08 Hz is not an NR FR1 channel bandwidth at 15 kHz SCS; TS 38.104 Table 5.3.2-1 N_RB "
     "at 15 kHz: 5 MHz (25 RB), 10 MHz (52 RB)"),
    ("odd bandwidth", "channel_bandwidth_hz: 100e6", "channel_bandwidth_hz: 35e6",
     "steps[0].waveform.channel_bandwidth_hz", "channel_bandwidth_hz: 35e6",
     "at 30 kHz: 5 MHz (11 RB)"),
    ("unknown test model", "test_model: TM3.1a", "test_model: TM9",
     "steps[0].waveform.test_model", "test_model: TM9", "Input should be 'TM1.1'"),
    ("unknown standard", "standard: nr_fr1", "standard: lte",
     "steps[0].waveform.standard", "standard: lte", "Input should be 'nr_fr1'"),
    ("unknown TDD pattern", "duplex: FDD", "duplex: TDD, tdd_pattern: XYZ",
     "steps[0].waveform.tdd_pattern", "tdd_pattern: XYZ", "unknown TDD pattern 'XYZ'"),
    ("bad duplex", "duplex: FDD", "duplex: HD-FDD",
     "steps[0].waveform.duplex", "duplex: HD-FDD", "'FDD' or 'TDD'"),
    ("zero slots", "slots: 2", "slots: 0",
     "steps[0].waveform.slots", "slots: 0", "greater than or equal to 1"),
    ("misspelt waveform field", "seed: 1}", "seed: 1, sed: 2}",
     "steps[0].waveform.sed", "sed: 2", "unknown field"),
    ("bad ACLR requirement", "requirement: bs", "requirement: bts",
     "steps[0].aclr.requirement", "requirement: bts", "'bs' or 'ue'"),
    ("bad ACLR method", "method: analyzer}", "method: vsa}",
     "steps[0].aclr.method", "method: vsa", "'analyzer', 'iq' or 'both'"),
    ("ACLR by IQ outside the capture", "method: analyzer}", "method: iq}",
     "steps[0].aclr.method", "requirement: bs, method: iq",
     "iq: ACLR1 reaches +-149.14 MHz, which needs an IQ capture rate >= 372.85 MS/s "
     "(80% usable); iq_oversampling 1 gives 122.88 MS/s: use iq_oversampling >= 4"),
    ("unknown modulated metric", "evm_pct_at_rated_pout: {max: 3.5",
     "evm_at_rated: {max: 3.5", "steps[0].limits.evm_at_rated", "evm_at_rated",
     "unknown metric 'evm_at_rated'; known modulated-power-sweep metrics: modulated_gain_db, "
     "aclr1_db_at_rated_pout"),
    ("rated Pout missing", "    rated_output_power_dbm: 20.0", "",
     "steps[0].limits.aclr1_db_at_rated_pout", "aclr1_db_at_rated_pout",
     "needs rated_output_power_dbm"),
    ("ACLR2 for a UE", ["requirement: bs", "      obw_hz_at_rated_pout:"],
     ["requirement: ue", "      aclr2_db_at_rated_pout: {min: 45}\n      obw_hz_at_rated_pout:"],
     "steps[0].limits.aclr2_db_at_rated_pout", "aclr2_db_at_rated_pout",
     "aclr.requirement: bs (the UE requirement has ACLR1 only)"),
    ("EVM limit without EVM", "measure_evm: true", "measure_evm: false",
     "steps[0].limits.evm_pct_at_rated_pout", "evm_pct_at_rated_pout",
     "needs rated_output_power_dbm and measure_evm: true"),
    ("OBW limit without OBW", "measure_obw: true", "measure_obw: false",
     "steps[0].limits.obw_hz_at_rated_pout", "obw_hz_at_rated_pout",
     "needs rated_output_power_dbm and measure_obw: true"),
    ("Pout at ACLR limit without threshold", "    aclr_threshold_db: 45.0", "",
     "steps[0].limits.pout_at_aclr_limit_dbm", "pout_at_aclr_limit_dbm",
     "needs aclr_threshold_db"),
    ("Pout at EVM limit without threshold",
     ["    evm_threshold_pct: 3.5", "      obw_hz_at_rated_pout:"],
     ["    # no EVM threshold",
      "      pout_at_evm_limit_dbm: {min: 20}\n      obw_hz_at_rated_pout:"],
     "steps[0].limits.pout_at_evm_limit_dbm", "pout_at_evm_limit_dbm",
     "needs evm_threshold_pct and measure_evm: true"),
    ("negative EVM threshold", "evm_threshold_pct: 3.5", "evm_threshold_pct: -1",
     "steps[0].evm_threshold_pct", "evm_threshold_pct: -1", "greater than 0"),
    ("too many small-signal points", "    rated_output_power_dbm: 20.0",
     "    rated_output_power_dbm: 20.0\n    small_signal_points: 30",
     "steps[0].small_signal_points", "small_signal_points: 30",
     "30 is more than the 21 sweep level(s)"),
    ("IQ oversampling 0", "    measure_evm: true", "    measure_evm: true\n    iq_oversampling: 0",
     "steps[0].iq_oversampling", "iq_oversampling: 0", "greater than or equal to 1"),
    ("bad output instrument", "output_power_from: signal_analyzer",
     "output_power_from: vna", "steps[0].output_power_from", "output_power_from: vna",
     "'signal_analyzer' or 'power_meter'"),
    ("limit source not text", 'source: "3GPP TS 38.104 §6.6.2"}', "source: [a, b]}",
     "steps[0].limits.obw_hz_at_rated_pout.source", "obw_hz_at_rated_pout",
     "Input should be a valid string"),
    ("harmonic order beyond H5", "max_harmonic: 3", "max_harmonic: 6",
     "steps[1].max_harmonic", "max_harmonic: 6", "less than or equal to 5"),
    ("H4 limit with max_harmonic 3", "      h3_dbc: {max: -30.0",
     "      h4_dbc: {max: -40.0}\n      h3_dbc: {max: -30.0",
     "steps[1].limits.h4_dbc", "h4_dbc", "needs max_harmonic >= 4"),
    ("unknown harmonics metric", "      h3_dbc: {max: -30.0", "      h3_db: {max: -30.0",
     "steps[1].limits.h3_db", "h3_db:", "known harmonics metrics: h2_dbc, h3_dbc, h4_dbc"),
    ("RBW wider than span", "    max_harmonic: 3", "    max_harmonic: 3\n    rbw_hz: 2e6",
     "steps[1].rbw_hz", "rbw_hz: 2e6", "wider than span_hz (1e+06 Hz)"),
    ("tone spacing too wide", "tone_spacing_hz: 10e6", "tone_spacing_hz: 30e6",
     "steps[2].tone_spacing_hz", "tone_spacing_hz: 30e6", "less than or equal to 25000000"),
    ("IMD5 limit without IM5", ["    method: iq ", "      imd3_dbc_at_rated_pout:"],
     ["    measure_im5: false\n    method: iq ",
      "      imd5_dbc_at_rated_pout: {max: -40}\n      imd3_dbc_at_rated_pout:"],
     "steps[2].limits.imd5_dbc_at_rated_pout",
     "imd5_dbc_at_rated_pout",
     "needs rated_output_power_dbm, measure_im5: true and method sweep or iq"),
    ("extraction region empty", "    method: iq ",
     "    extraction_min_input_dbm: -5\n    extraction_max_input_dbm: -10\n    method: iq ",
     "steps[2].extraction_min_input_dbm", "extraction_min_input_dbm",
     "must be below extraction_max_input_dbm (-10)"),
    ("bad two-tone method", "method: iq ", "method: fft ",
     "steps[2].method", "method: fft", "'sweep', 'iq' or 'analyzer'"),
    ("unknown two-tone metric", "imd3_dbc_at_rated_pout: {max", "oip5_dbm: {max",
     "steps[2].limits.oip5_dbm", "oip5_dbm", "known two-tone metrics: oip3_dbm"),
]


@pytest.mark.parametrize(("old", "new", "path", "needle", "reason"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_plan(old: str | list[str], new: str | list[str], path: str, needle: str,
                  reason: str) -> None:
    text = TEXT
    olds, news = ([old], [new]) if isinstance(old, str) else (old, new)
    for o, n in zip(olds, news, strict=True):
        assert o in text
        text = text.replace(o, n, 1)
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plans/mod.yaml")
    expected = f"plans/mod.yaml:{_line_of(text, needle)}: {path}: "
    matching = [i.format("plans/mod.yaml") for i in info.value.issues if i.path == path]
    assert matching, f"no issue at {path}: {info.value}"
    assert any(m.startswith(expected) and reason in m for m in matching), str(info.value)


def test_the_ue_requirement_has_no_aclr2_but_its_plan_is_valid() -> None:
    text = TEXT.replace("requirement: bs", "requirement: ue")
    step = parse_plan(text).steps[0]
    assert isinstance(step, ModulatedPowerSweepStep) and step.aclr.requirement == "ue"


def test_pae_limit_needs_a_supply() -> None:
    text = TEXT.replace("      obw_hz_at_rated_pout:",
                        "      pae_at_rated_pout_pct: {min: 15}\n      obw_hz_at_rated_pout:")
    text = text.replace("roles: [signal_generator, signal_analyzer, power_meter, dc_supply]",
                        "roles: [signal_generator, signal_analyzer, power_meter]")
    text = text[:text.index("  supplies:")] + "\n" + text[text.index("steps:"):]
    with pytest.raises(PlanError) as info:
        parse_plan(text, "m.yaml")
    assert [(i.path, i.message) for i in info.value.issues] == [
        ("steps[0].limits.pae_at_rated_pout_pct",
         "needs a DC supply in conditions.supplies for P_DC")]


def test_power_meter_output_needs_its_role() -> None:
    text = (TEXT.replace("output_power_from: signal_analyzer", "output_power_from: power_meter")
            .replace("roles: [signal_generator, signal_analyzer, power_meter, dc_supply]",
                     "roles: [signal_generator, signal_analyzer, dc_supply]"))
    with pytest.raises(PlanError, match="step 'aclr_evm' needs role 'power_meter'"):
        parse_plan(text, "m.yaml")


def test_two_tone_levels_are_per_tone_and_the_schema_knows_every_step() -> None:
    imd = load_plan(DEMO).step("imd")
    assert np.allclose(imd.levels_dbm()[[0, -1]], [-24.0, 0.0])
    schema = plan_json_schema()
    for kind, model in STEP_TYPES.items():
        props = schema["$defs"][model.__name__]["properties"]
        assert props["kind"]["const"] == kind
        assert set(props["limits"]["properties"]) == set(model.METRICS)
    assert set(ModulatedPowerSweepStep.METRICS) == set(MODULATED_SWEEP_METRICS)
    assert set(HarmonicsStep.METRICS) == set(HARMONICS_METRICS)
    assert set(TwoToneStep.METRICS) == set(TWO_TONE_METRICS)
    assert schema["$defs"]["Limit"]["properties"]["source"]["type"] == "string"
