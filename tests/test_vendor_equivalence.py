"""Issue 3 part 4: the same plan, unchanged, on the Keysight and on the R&S simulated bench gives
the same results within noise. Runs through the real CLI (`benchbot run --bench ...`) on a
shortened copy of the n78 characterisation plan and compares every metric of the two records."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchbot.cli import main
from benchbot.results.reader import open_record

ROOT = Path(__file__).resolve().parents[1]
N78 = ROOT / "test_plans" / "n78_pa_characterisation.yaml"
F_HZ = 3.55e9

#: allowed |Keysight - R&S| per unit: the two benches share the DUT, cables and power meter, so
#: what differs is each analyzer's noise, RBW set, attenuator steps and sweep statistics
TOLERANCE = {"dB": 0.6, "dBm": 0.3, "dBc": 1.0, "%": 0.2, "Hz": 0.01 * 100e6, "deg": 0.3,
             "dB/dB": 0.3}
#: per metric: at the rated 20 dBm the PA's own ACLR2 (about 67 dB, from its output spectrum)
#: lies below both analyzers' noise-corrected floors (PXA: DANL -155 dBm/Hz, 2 dB attenuator
#: steps; FSW: -156 dBm/Hz, 1 dB steps), so each reads its own floor, 56-58 dB
METRIC_TOLERANCE = {"aclr2_db_at_rated_pout": 3.0}


def _short_plan(tmp: Path, builtin: bool = False) -> Path:
    """The n78 plan at one frequency in 2 dB steps; `builtin`: harmonics, TOI and SEM by the
    analyzer's own measurements instead of benchbot's sweeps, IQ FFT and trace integration."""
    doc = yaml.safe_load(N78.read_text(encoding="utf-8"))
    for step in doc["steps"]:
        step["frequencies_hz"] = [F_HZ]
        levels = step["input_power_dbm"]
        levels["step"] = 2.0
        step.get("limits", {}).pop("gain_flatness_db", None)
        if step["kind"] == "two_tone":  # one OIP3 region for every method (the analyzer's
            step.update(extraction_min_input_dbm=-12.0, extraction_max_input_dbm=-8.0)  # TOI
        if builtin and step["kind"] in ("harmonics", "two_tone"):  # reports no noise floor)
            step["method"] = "analyzer"
        if builtin and step["kind"] == "two_tone":  # nor IM5
            step["measure_im5"] = False
        if builtin and step["kind"] == "modulated_power_sweep":
            step["sem"]["method"] = "analyzer"
    if builtin:
        doc["steps"] = doc["steps"][1:]  # compression has no built-in variant
    path = tmp / f"n78_short{'_builtin' if builtin else ''}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _metrics(record: Path) -> dict[tuple[str, str], tuple[float, str]]:
    summary = open_record(record)
    return {(step.name, m["metric"]): (m["value"], m["unit"])
            for step in summary.steps for m in step.metrics if m["value"] is not None}


def _run(plan: Path, bench: str, results: Path) -> Path:
    assert main(["run", str(plan), "--bench", bench, "--results-dir", str(results)]) == 0
    (record,) = results.glob("*.h5")
    return record


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("vendors")
    plan = _short_plan(tmp)
    return {bench: _run(plan, bench, tmp / bench) for bench in ("simulated", "simulated-rs")}


def test_the_plan_ran_on_each_vendors_instruments(records: dict[str, Path]) -> None:
    models = {bench: {role: inst["idn.model"]
                      for role, inst in open_record(path).instruments.items()}
              for bench, path in records.items()}
    assert models["simulated"]["signal_generator"] == "N5182B"
    assert models["simulated"]["signal_analyzer"] == "N9030B"
    assert models["simulated-rs"]["signal_generator"] == "SMW200A"
    assert models["simulated-rs"]["signal_analyzer"].startswith("FSW")


def test_every_metric_agrees_within_noise(records: dict[str, Path]) -> None:
    keysight, rs = _metrics(records["simulated"]), _metrics(records["simulated-rs"])
    assert set(keysight) == set(rs) and len(keysight) > 20
    worse: list[Any] = []
    for key, (value, unit) in keysight.items():
        other = rs[key][0]
        if math.isnan(value) and math.isnan(other):
            continue
        if not abs(value - other) <= METRIC_TOLERANCE.get(key[1], TOLERANCE[unit]):
            worse.append((key, value, other, unit))
    assert not worse, worse


@pytest.mark.parametrize("bench", ["simulated", "simulated-rs"])
def test_builtin_harmonics_toi_and_sem_agree_with_benchbots_own(
        records: dict[str, Path], bench: str, tmp_path: Path) -> None:
    """The analyzer's own harmonics, TOI and SEM measurements against benchbot's narrow sweeps,
    coherent IQ FFT and trace integration on the same bench: harmonics and IMD3 within 0.3 dB;
    OIP3 over the same input range within 1 dB; the SEM margin within 2.5 dB (the worst point
    is 10 MHz past the channel edge, where the PA's emissions are near the analyzer's noise)."""
    software = _metrics(records[bench])
    builtin = _metrics(_run(_short_plan(tmp_path, builtin=True), bench, tmp_path / "out"))
    tolerance = {"h2_dbc": 0.3, "h3_dbc": 0.3, "imd3_dbc_at_rated_pout": 0.3, "oip3_dbm": 1.0,
                 "sem_margin_db_at_rated_pout": 2.5}
    for (step, name), (value, _) in builtin.items():
        if name in tolerance:
            assert value == pytest.approx(software[(step, name)][0], abs=tolerance[name]), name
    assert {name for _, name in builtin} >= set(tolerance)
