"""Calibration provenance (issue 6 part 2): the lab inventory, path-loss files and hashes,
the calibration check at run start and the plan's ``calibration_policy``.

Runs go through the real stack (simulators on loopback, drivers over pyvisa-py); the
simulators' received commands are spied on their side to prove a refused run never switched
an output on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import pytest
import yaml

from benchbot import simbench
from benchbot.bench import (
    BenchError,
    builtin_bench_path,
    canonical_table_csv,
    load_bench,
    parse_bench,
)
from benchbot.inventory import (
    BUILTIN_INVENTORIES,
    CalibrationStatus,
    InventoryError,
    check_instrument,
    judge,
    load_inventory,
    parse_inventory,
    policy_findings,
)
from benchbot.plan import parse_plan
from benchbot.report import build_report, render_html
from benchbot.results.check import check_record
from benchbot.runner import RunRequest, run
from benchbot.yamlfile import sha256_text

INVENTORY = builtin_bench_path().with_name(BUILTIN_INVENTORIES["simulated-lab"])
TODAY = dt.date.today()
#: any form of "output on" the drivers send: `:OUTP ON`, `OUTP ON,(@1)`, `OUTPut:STATe 1`...
OUTPUT_ON = re.compile(r"^\s*:?OUTP(UT)?(:STAT(E)?)?\s+(ON|1)\b", re.IGNORECASE)

PLAN = """\
schema: benchbot.plan/1
name: calibration-check
version: "1.0"
{policy}
dut:
  part_number: BB-PA-N78-01
  serial: SIM-CAL-0001
  kind: power_amplifier
  safe_operating_area: {{max_rf_input_dbm: 10.0, max_supply_voltage_v: 5.5,
                         max_supply_current_a: 1.2}}
roles: [signal_generator, signal_analyzer, power_meter, dc_supply]
conditions:
  supplies:
    - {{name: vcc, role: dc_supply, channel: 1, voltage_v: 5.0, current_limit_a: 1.0}}
steps:
  - name: gain
    kind: power_sweep
    frequencies_hz: [3.55e9]
    input_power_dbm: {{start: -20.0, stop: -15.0, step: 5.0}}
    output_power_from: power_meter
    small_signal_max_input_dbm: -15.0
    settle_s: 0.0
"""

GENERATOR_CSV = """\
# MXG port -> DUT input: cable + connector, VNA-measured 2026-10-01 (simulated)
frequency_hz,loss_db
3.0e9,1.42
3.3e9,1.50
3.55e9,1.56
3.8e9,1.62
4.0e9,1.66
"""


def _plan(policy: str | None = None) -> Any:
    return parse_plan(PLAN.format(policy=f"calibration_policy: {policy}" if policy else ""))


def _inventory_data() -> dict[str, Any]:
    return yaml.safe_load(INVENTORY.read_text(encoding="utf-8"))


def _write_inventory(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _set_due(data: dict[str, Any], model: str, serial: str, due: dt.date) -> None:
    (entry,) = [e for e in data["instruments"] if e["model"] == model and e["serial"] == serial]
    entry["due"] = due
    entry["calibrated"] = due - dt.timedelta(days=365)


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    """The built-in Keysight bench in a folder of its own: the generator's path loss from
    `cables/gen_to_dut.csv`, the inventory a copy of the simulated lab's (`inventory.yaml`)."""
    folder = tmp_path / "bench"
    (folder / "cables").mkdir(parents=True)
    (folder / "cables" / "gen_to_dut.csv").write_text(GENERATOR_CSV, encoding="utf-8")
    shutil.copy(INVENTORY, folder / "inventory.yaml")
    data = yaml.safe_load(builtin_bench_path().read_text(encoding="utf-8"))
    data["inventory"] = "inventory.yaml"
    data["instruments"]["signal_generator"]["path_loss"] = {"file": "cables/gen_to_dut.csv"}
    (folder / "bench.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


class _Spy:
    """Every command each simulator received (wrapped on the simulator side of the socket)."""

    def __init__(self, simulated: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.received: dict[str, list[str]] = {}
        for role, device in simulated.devices.items():
            self.received[role] = []
            monkeypatch.setattr(device, "process", self._wrap(role, device.process))

    def _wrap(self, role: str, process: Any) -> Any:
        def spy(message: bytes, cancel: Any = None) -> bytes:
            self.received[role].append(message.decode("latin-1"))
            return process(message, cancel)
        return spy

    def outputs_on(self) -> list[str]:
        return [f"{role}: {line.strip()}" for role, lines in self.received.items()
                for message in lines for line in message.split(";") if OUTPUT_ON.match(line)]


@pytest.fixture
def run_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Run a plan on a bench file; returns (outcome, spy)."""
    def _run(bench_file: Path, plan: Any) -> tuple[Any, _Spy]:
        bench = load_bench(bench_file)
        with simbench.running(bench) as (served, simulated):
            spy = _Spy(simulated, monkeypatch)
            request = RunRequest(plan, PLAN, served, bench_file.read_text(encoding="utf-8"),
                                 tmp_path / "results", simulated=True)
            return run(request), spy
    yield _run


def _attrs(group: h5py.Group) -> dict[str, Any]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}


def _events(path: Path) -> list[tuple[str, str]]:
    with h5py.File(path, "r") as f:
        return [(e["level"].decode(), e["message"].decode()) for e in f["events"][()]]


# ----------------------------------------------------------------------------- validation
def test_inventory_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("""\
schema: benchbot.inventory/1
lab: Lab A
instruments:
  - manufacturer: Keysight Technologies
    model: N5182B
    serial: MY1
    calibrated: 2026-03-02
    due: 2025-03-02
    certificate: C1
  - manufacturer: Keysight Technologies
    model: N5182B
    serial: MY1
    calibrated: 2026-03-02
    due: 2027-03-02
    certifcate: C2
""", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    text = str(exc.value)
    assert f"{path}:8: instruments[0].due: 2025-03-02 is not after the calibration date" in text
    assert f"{path}:15: instruments[1].certifcate: unknown field; did you mean 'certificate'" \
        in text
    assert f"{path}:10: instruments[1].certificate: required field is missing" in text
    path.write_text(path.read_text().replace("2025-03-02", "2027-03-02").replace("certifcate",
                                                                               "certificate"))
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    assert str(exc.value) == (f"{path}:12: instruments[1].serial: N5182B s/n MY1 is already "
                              "listed as instruments[0]")


def test_a_bench_naming_a_broken_inventory_fails_to_load_naming_both_files(
        bench_dir: Path) -> None:
    inventory = bench_dir / "inventory.yaml"
    inventory.write_text(inventory.read_text().replace("due: 2027-03-02", "due: soon"))
    with pytest.raises(BenchError) as exc:
        load_bench(bench_dir / "bench.yaml")
    text = str(exc.value)
    line = next(i for i, t in enumerate((bench_dir / "bench.yaml").read_text().splitlines(), 1)
                if t.startswith("inventory:"))
    assert f"{bench_dir / 'bench.yaml'}:{line}: inventory: " in text
    assert f"{inventory.resolve()}:" in text and "instruments[0].due" in text


def test_path_loss_csv_errors_name_the_bench_entry_and_the_csv_line(bench_dir: Path) -> None:
    csv = bench_dir / "cables" / "gen_to_dut.csv"
    csv.write_text(GENERATOR_CSV.replace("3.55e9,1.56", "3.55e9,1.5x6"))
    with pytest.raises(BenchError) as exc:
        load_bench(bench_dir / "bench.yaml")
    text = str(exc.value)
    assert "instruments.signal_generator.path_loss: " in text
    assert f"{csv.resolve()}:5: not a number: 3.55e9,1.5x6" in text
    csv.write_text(GENERATOR_CSV.replace("3.8e9,1.62", "3.5e9,1.62"))
    with pytest.raises(BenchError, match=r"gen_to_dut.csv:6: frequency_hz 3.5e\+09 is not "
                                         r"above the previous 3.55e\+09"):
        load_bench(bench_dir / "bench.yaml")
    text = (bench_dir / "bench.yaml").read_text().replace(
        "file: cables/gen_to_dut.csv", "file: cables/gen_to_dut.csv\n      loss_db: [1.0]")
    with pytest.raises(BenchError, match="give either file or an inline table"):
        parse_bench(text, "bench.yaml", base_dir=bench_dir)


def test_path_loss_file_and_inline_table_hash_canonically(bench_dir: Path) -> None:
    bench = load_bench(bench_dir / "bench.yaml")
    from_file = bench.instruments["signal_generator"].path_loss
    assert from_file is not None and from_file.file == str(
        (bench_dir / "cables" / "gen_to_dut.csv").resolve())
    assert from_file.source_sha256 == hashlib.sha256(GENERATOR_CSV.encode()).hexdigest()
    assert from_file.frequency_hz == [3.0e9, 3.3e9, 3.55e9, 3.8e9, 4.0e9]
    inline = load_bench(builtin_bench_path()).instruments["signal_generator"].path_loss
    assert inline is not None and inline.file is None
    assert inline.loss_db == from_file.loss_db  # the same table, inline and from the file
    canonical = canonical_table_csv({"frequency_hz": inline.frequency_hz,
                                     "loss_db": inline.loss_db})
    assert inline.source_sha256 == sha256_text(canonical)
    (bench_dir / "cables" / "canonical.csv").write_text(canonical)  # saved: the same hash
    text = (bench_dir / "bench.yaml").read_text().replace("gen_to_dut.csv", "canonical.csv")
    again = parse_bench(text, "bench.yaml", base_dir=bench_dir)
    assert again.instruments["signal_generator"].path_loss.source_sha256 == inline.source_sha256


def test_every_built_in_bench_names_the_simulated_lab_inventory() -> None:
    inventory = load_inventory(INVENTORY)
    assert all(e.due.year == 2027 for e in inventory.instruments)
    for name in ("simulated", "simulated-rs", "simulated-network", "simulated-network-rs",
                 "simulated-gan", "simulated-gan-rf"):
        assert load_bench(builtin_bench_path(name)).inventory_path == INVENTORY.resolve()
    # a copy of a built-in bench text elsewhere still finds the packaged inventory by name
    assert parse_bench(builtin_bench_path().read_text()).inventory_path == INVENTORY.resolve()


# ----------------------------------------------------------------------------- judging
def test_judge_and_lookup() -> None:
    day = dt.date(2026, 11, 24)
    assert judge(day + dt.timedelta(days=31), day, 30) is CalibrationStatus.VALID
    assert judge(day + dt.timedelta(days=30), day, 30) is CalibrationStatus.EXPIRES_SOON
    assert judge(day, day, 30) is CalibrationStatus.EXPIRES_SOON  # valid through the due date
    assert judge(day - dt.timedelta(days=1), day, 30) is CalibrationStatus.EXPIRED
    inventory = parse_inventory(INVENTORY.read_text(), str(INVENTORY))
    # an R&S *IDN? serial carries the order number; the inventory may list the serial only
    entry = inventory.instruments[4].model_copy(update={"serial": "101234"})
    assert entry.matches("SMW200A", "1412.0000K02/101234")
    assert not entry.matches("SMW200A", "1412.0000K02/101235")
    # the noise source is named "Keysight 346A" by the bench, 346A by the inventory
    check = check_instrument(inventory, "noise_source", "", "Keysight 346A", "SIM-346A-0001",
                             day)
    assert check.status is CalibrationStatus.VALID and check.due == dt.date(2027, 6, 30)
    # not listed: its bench cal_due is judged instead, and says so
    check = check_instrument(inventory, "noise_source", "", "Keysight 346B", "X1", day,
                             fallback_due=dt.date(2026, 1, 1), fallback_source="bench")
    assert check.status is CalibrationStatus.EXPIRED and check.attrs()["source"] == "bench"
    unknown = check_instrument(inventory, "dc_supply", "Keysight", "E36313A", "MY1", day)
    assert unknown.status is CalibrationStatus.NOT_IN_INVENTORY
    assert policy_findings([unknown], "refuse", "lab.yaml").warnings
    assert policy_findings([unknown], "strict", "lab.yaml").refusals
    assert policy_findings([check], "warn", "lab.yaml").refusals == []
    assert policy_findings([check], "refuse", "lab.yaml").refusals


def test_calibration_policy_is_a_plan_field() -> None:
    assert _plan().calibration_policy == "refuse"
    assert _plan("warn").calibration_policy == "warn"
    with pytest.raises(Exception, match="calibration_policy"):
        _plan("sometimes")


# ----------------------------------------------------------------------------- runs
def test_a_run_records_calibration_status_and_every_correction_with_its_hash(
        bench_dir: Path, run_on: Any) -> None:
    data = _inventory_data()
    soon = TODAY + dt.timedelta(days=10)
    _set_due(data, "E36312A", "MY59001234", soon)
    _write_inventory(bench_dir / "inventory.yaml", data)
    outcome, spy = run_on(bench_dir / "bench.yaml", _plan())
    assert outcome.status == "completed", outcome.error
    assert spy.outputs_on()  # the spy sees a normal run switch its outputs on
    inventory = load_inventory(bench_dir / "inventory.yaml")
    with h5py.File(outcome.record_path, "r") as f:
        roles = set(f["instruments"])
        assert roles == {"signal_generator", "signal_analyzer", "power_meter",
                         "power_meter.sensor", "dc_supply"}
        for role in roles:
            a = _attrs(f["instruments"][role])
            entry = inventory.find(a["idn.model"], a["idn.serial"])
            assert entry is not None, role
            assert a["calibration.due"] == entry.due.isoformat()
            assert a["calibration.certificate"] == entry.certificate
            assert a["calibration.calibrated"] == entry.calibrated.isoformat()
            assert a["calibration.lab"] == inventory.lab
            assert a["calibration.status"] == ("expires_soon" if role == "dc_supply"
                                               else "valid")
        root = _attrs(f)
        assert root["calibration_policy"] == "refuse"
        assert root["calibration_inventory"] == str((bench_dir / "inventory.yaml").resolve())
        assert root["calibration_inventory_sha256"] == hashlib.sha256(
            (bench_dir / "inventory.yaml").read_bytes()).hexdigest()
        corrections = {c["role"]: c for c in json.loads(root["corrections_json"])
                       if c["kind"] == "path_loss"}
        assert set(corrections) == set(f["calibration/path_loss"]) == {
            "signal_generator", "signal_analyzer", "power_meter"}
        gen = _attrs(f["calibration/path_loss/signal_generator"])
        file_hash = hashlib.sha256(
            (bench_dir / "cables" / "gen_to_dut.csv").read_bytes()).hexdigest()
        assert gen["source_sha256"] == corrections["signal_generator"]["sha256"] == file_hash
        assert gen["source_kind"] == "file"
        assert str((bench_dir / "cables" / "gen_to_dut.csv").resolve()) in gen["source"]
        bench = load_bench(bench_dir / "bench.yaml")
        for role in ("signal_analyzer", "power_meter"):
            table = bench.instruments[role].path_loss
            assert table is not None
            assert _attrs(f["calibration/path_loss"][role])["source_sha256"] == \
                corrections[role]["sha256"] == sha256_text(table.canonical_csv())
    events = _events(outcome.record_path)
    assert any(level == "info" and "dc_supply" in m and f"expires soon: due {soon}" in m
               for level, m in events)
    assert not [m for level, m in events if level == "warning"]
    assert check_record(outcome.record_path).valid
    # the report shows each instrument's status (its content model and the HTML)
    content = build_report(outcome.record_path, figures=False)
    lines = {i.role: i for i in content.instruments}
    assert lines["signal_generator"].calibration.startswith("valid, due 2027-03-02")
    assert lines["signal_generator"].calibration_ok is True
    assert lines["dc_supply"].calibration.startswith(f"expires_soon, due {soon}")
    assert "SIM-CAL-2026-0101" in render_html(content)


def test_an_expired_instrument_refuses_the_run_before_any_output_unless_warned(
        bench_dir: Path, run_on: Any) -> None:
    data = _inventory_data()
    expired = TODAY - dt.timedelta(days=3)
    _set_due(data, "N1912A", "MY55300123", expired)
    _write_inventory(bench_dir / "inventory.yaml", data)

    refused, spy = run_on(bench_dir / "bench.yaml", _plan())
    assert refused.status == "error"
    for part in ("power_meter", "N1912A", "MY55300123", f"due {expired}",
                 "calibration_policy: warn"):
        assert part in refused.error
    assert spy.outputs_on() == []  # the simulators never saw an output switched on
    assert any(spy.received.values())  # ... though they were talked to (*IDN?, safe state)
    with h5py.File(refused.record_path, "r") as f:
        assert len(f["steps"]) == 0
        assert _attrs(f["instruments/power_meter"])["calibration.status"] == "expired"
        assert _attrs(f["instruments/signal_generator"])["calibration.status"] == "valid"
    content = build_report(refused.record_path, figures=False)
    meter = next(i for i in content.instruments if i.role == "power_meter")
    assert meter.calibration.startswith(f"expired, due {expired}")
    assert meter.calibration_ok is False

    # the same bench, the plan accepting it: runs, the expiry recorded as a warning; and a
    # changed path-loss file changes the recorded hash
    csv = bench_dir / "cables" / "gen_to_dut.csv"
    csv.write_text(GENERATOR_CSV.replace("3.55e9,1.56", "3.55e9,1.57"), encoding="utf-8")
    warned, spy = run_on(bench_dir / "bench.yaml", _plan("warn"))
    assert warned.status == "completed", warned.error
    assert spy.outputs_on()
    warnings = [m for level, m in _events(warned.record_path) if level == "warning"]
    assert len(warnings) == 1 and "power_meter" in warnings[0] and "expired" in warnings[0]
    hashes = []
    for record in (refused.record_path, warned.record_path):
        with h5py.File(record, "r") as f:
            hashes.append(_attrs(f["calibration/path_loss/signal_generator"])["source_sha256"])
    assert hashes[0] != hashes[1] == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_unknown_instruments_warn_by_default_and_refuse_when_strict(
        bench_dir: Path, run_on: Any) -> None:
    data = _inventory_data()
    data["instruments"] = [e for e in data["instruments"] if e["model"] != "E36312A"]
    _write_inventory(bench_dir / "inventory.yaml", data)
    refused, spy = run_on(bench_dir / "bench.yaml", _plan("strict"))
    assert refused.status == "error" and "dc_supply" in refused.error
    assert "not in the inventory inventory.yaml" in refused.error
    assert spy.outputs_on() == []
    with h5py.File(refused.record_path, "r") as f:
        assert _attrs(f["instruments/dc_supply"])["calibration.status"] == "not_in_inventory"
    # the default policy: the run goes ahead with the unknown instrument recorded
    outcome, _ = run_on(bench_dir / "bench.yaml", _plan())
    assert outcome.status == "completed", outcome.error
    warnings = [m for level, m in _events(outcome.record_path) if level == "warning"]
    assert warnings == ["calibration of dc_supply Keysight Technologies E36312A s/n "
                        "MY59001234 unknown: not in the inventory inventory.yaml"]


def test_cli_inventory_option_overrides_the_benchs(bench_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from benchbot.cli import main

    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(policy=""), encoding="utf-8")
    bench = str(bench_dir / "bench.yaml")
    assert main(["validate", str(plan), "--bench", bench]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: benchbot.inventory/1\ninstruments: []\n", encoding="utf-8")
    assert main(["validate", str(plan), "--bench", bench, "--inventory", str(bad)]) == 3
    err = "".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert f"{bad.resolve()}:2:instruments:Listshouldhaveatleast1item" in err
    data = _inventory_data()
    _set_due(data, "N5182B", "MY59100123", TODAY - dt.timedelta(days=1))
    expired = _write_inventory(tmp_path / "expired.yaml", data)
    code = main(["run", str(plan), "--bench", bench, "--inventory", str(expired),
                 "--results-dir", str(tmp_path / "results")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4 and "signal_generator" in err and "MY59100123" in err, err
    (record,) = (tmp_path / "results").glob("*.h5")
    with h5py.File(record, "r") as f:
        assert _attrs(f)["calibration_inventory"] == str(expired.resolve())
