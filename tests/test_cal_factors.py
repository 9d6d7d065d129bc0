"""Power-sensor cal factors and VNA cal-set identity as recorded corrections (issue 6 part 2).

A thermocouple sensor without EEPROM (8481A) reads low by its cal factor unless the meter is
given the certificate's table; the simulated N1912A models exactly that. Everything goes over
real sockets: drivers and raw pyvisa-py sessions to the SCPI simulators, whole runs through the
engine and the HDF5 record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from benchbot import simbench
from benchbot.bench import BenchError, builtin_bench_path, load_bench, parse_bench
from benchbot.inventory import BUILTIN_INVENTORIES
from benchbot.plan import load_plan, parse_plan
from benchbot.results.check import check_record
from benchbot.runner import RunRequest, run
from benchbot.safety import SafetyError, check_plan_against_bench
from instruments.errors import InstrumentError
from instruments.keysight.n1912a import KeysightN1912A
from instruments.registry import connect
from simulators import SimulatedBench, config_from_bench_file

BENCH_FILE = builtin_bench_path()
INVENTORY = BENCH_FILE.with_name(BUILTIN_INVENTORIES["simulated-lab"])
SENSOR_CSV = BENCH_FILE.with_name("sensor_8481A_MY41098765.csv")
F0 = 3.55e9

PLAN = """\
schema: benchbot.plan/1
name: cal-factors
version: "1.0"
{policy}
dut:
  part_number: BB-PA-N78-01
  serial: SIM-CF-0001
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
    frequencies_hz: [3.3e9, 3.8e9]
    input_power_dbm: {{start: -20.0, stop: -15.0, step: 5.0}}
    output_power_from: power_meter
    small_signal_max_input_dbm: -15.0
    settle_s: 0.0
"""

NETWORK_PLAN = """\
schema: benchbot.plan/1
name: vna-cal-identity
version: "1.0"
dut:
  part_number: BB-LNA-N78-01
  serial: SIM-CF-LNA-1
  kind: lna
  safe_operating_area: {max_rf_input_dbm: -10.0, max_supply_voltage_v: 3.6,
                        max_supply_current_a: 0.05}
roles: [vna]
steps:
  - name: sparams
    kind: s_parameters
    sweep: {start_hz: 3.0e9, stop_hz: 4.0e9, points: 11, if_bandwidth_hz: 1.0e4,
            power_dbm: -30.0}
    ports: [1, 2]
"""


def _doc(path: Path = BENCH_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _csv_table() -> tuple[list[float], list[float], list[float]]:
    rows = np.loadtxt(SENSOR_CSV, delimiter=",", comments="#", skiprows=5)
    return rows[:, 0].tolist(), rows[:, 1].tolist(), rows[:, 2].tolist()


def _true_cal_factor_pct(frequency_hz: float) -> float:
    truth = _doc()["simulation"]["power_sensors"]["power_meter"]["cal_factor"]
    return float(np.interp(frequency_hz, truth["frequency_hz"], truth["cal_factor_pct"]))


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    """The built-in Keysight bench in a folder of its own, the sensor's certificate table
    in `certs/` and the simulated lab's inventory copied next to it."""
    folder = tmp_path / "bench"
    (folder / "certs").mkdir(parents=True)
    shutil.copy(SENSOR_CSV, folder / "certs" / "8481A.csv")
    shutil.copy(INVENTORY, folder / "inventory.yaml")
    data = _doc()
    data["inventory"] = "inventory.yaml"
    data["instruments"]["power_meter"]["sensor"]["cal_factors"] = {"file": "certs/8481A.csv"}
    _write(folder / "bench.yaml", data)
    return folder


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _run(bench_file: Path, plan_text: str, results: Path) -> tuple[Any, Any]:
    """Run on a bench file's simulators; (outcome, the simulated power meter device)."""
    bench = load_bench(bench_file)
    with simbench.running(bench) as (served, simulated):
        outcome = run(RunRequest(parse_plan(plan_text), plan_text, served,
                                 bench_file.read_text(encoding="utf-8"), results,
                                 simulated=True))
        return outcome, simulated.devices.get("power_meter")


def _corrections(record: Path) -> dict[tuple[str, str], dict[str, Any]]:
    with h5py.File(record, "r") as f:
        return {(c["kind"], c["role"]): c for c in json.loads(f.attrs["corrections_json"])}


def _readings_dbm(record: Path) -> np.ndarray:
    with h5py.File(record, "r") as f:
        return f["steps/000_gain/output_reading_dbm"][()]


# ----------------------------------------------------------------------------- bench file
def test_the_certificate_table_is_read_from_its_csv_and_hashed_like_path_loss(
        bench_dir: Path) -> None:
    sensor = load_bench(bench_dir / "bench.yaml").instruments["power_meter"].sensor
    assert sensor is not None and sensor.model == "8481A" and sensor.serial == "MY41098765"
    table = sensor.table
    assert table is not None
    csv = bench_dir / "certs" / "8481A.csv"
    assert table.file == str(csv.resolve())
    assert table.source_sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()
    freqs, factors, uncertainty = _csv_table()
    assert (table.frequency_hz, table.cal_factor_pct, table.uncertainty_pct) == (
        freqs, factors, uncertainty)
    assert sensor.reference_cal_factor == 100.0  # the certificate's 50 MHz row
    assert sensor.table_name == "CF_Y41098765" and len(sensor.table_name) <= 12
    # the same table inline hashes as its canonical CSV, and that text saved as a file too
    inline = parse_bench((bench_dir / "bench.yaml").read_text().replace(
        "cal_factors:\n        file: certs/8481A.csv",
        f"cal_factors: {{frequency_hz: {freqs}, cal_factor_pct: {factors}, "
        f"uncertainty_pct: {uncertainty}}}"), "bench.yaml", base_dir=bench_dir)
    inline_table = inline.instruments["power_meter"].sensor.table
    assert inline_table.file is None and inline_table.cal_factor_pct == factors
    (bench_dir / "certs" / "canonical.csv").write_text(inline_table.canonical_csv())
    again = parse_bench((bench_dir / "bench.yaml").read_text().replace("8481A.csv",
                                                                        "canonical.csv"),
                        "bench.yaml", base_dir=bench_dir)
    assert again.instruments["power_meter"].sensor.table.source_sha256 == \
        inline_table.source_sha256


@pytest.mark.parametrize(("csv_edit", "expected"), [
    (("frequency_hz,cal_factor_pct,uncertainty_pct", "frequency_hz,cf_pct"),
     "header must be frequency_hz,cal_factor_pct or frequency_hz,cal_factor_pct,"
     "uncertainty_pct (got frequency_hz,cf_pct)"),
    (("3e9,98.2,1.4", "3e9,98.2"), ":11: expected 3 values"),
    (("4e9,97.9,1.4", "2.5e9,97.9,1.4"), ":12: frequency_hz 2.5e+09 is not above the previous"),
    (("5e9,97.5,1.6", "5e9,0.5,1.6"), "8481A.csv:13: cal_factor_pct: Input should be greater "
     "than or equal to 1"),
])
def test_a_bad_certificate_table_names_the_bench_entry_and_the_csv_line(
        bench_dir: Path, csv_edit: tuple[str, str], expected: str) -> None:
    csv = bench_dir / "certs" / "8481A.csv"
    text = csv.read_text()
    assert csv_edit[0] in text
    csv.write_text(text.replace(csv_edit[0], csv_edit[1]))
    with pytest.raises(BenchError) as exc:
        load_bench(bench_dir / "bench.yaml")
    assert "instruments.power_meter.sensor.cal_factors" in str(exc.value)
    assert expected in str(exc.value)


@pytest.mark.parametrize(("edit", "path", "reason"), [
    ({"cal_factors": "eeprom"}, "cal_factors",
     "'eeprom' is not a table; give sensor_eeprom"),
    ({"cal_factors": "sensor_eeprom", "reference_cal_factor_pct": 99.0},
     "reference_cal_factor_pct", "only with a cal-factor table"),
    ({"cal_factors": {"frequency_hz": [1e9, 2e9], "cal_factor_pct": [99.0, 98.5]}},
     "reference_cal_factor_pct", "required: the table has no 50 MHz row"),
    ({"cal_factors": {"frequency_hz": [50e6, 1e9], "cal_factor_pct": [100.0, 99.1],
                      "uncertainty_pct": [1.0]}},
     "cal_factors.uncertainty_pct", "1 values for 2 frequencies"),
])
def test_bad_sensor_entries_are_refused_naming_the_field(
        tmp_path: Path, edit: dict[str, Any], path: str, reason: str) -> None:
    data = _doc()
    data["instruments"]["power_meter"]["sensor"].update(edit)
    with pytest.raises(BenchError) as exc:
        parse_bench(yaml.safe_dump(data, sort_keys=False), "b.yaml", base_dir=tmp_path)
    issues = [i for i in exc.value.issues
              if i.path == f"instruments.power_meter.sensor.{path}"]
    assert issues and reason in issues[0].message, str(exc.value)
    # a sensor with its EEPROM is a bench entry too
    data = _doc()
    data["instruments"]["power_meter"]["sensor"] = {"model": "N1921A", "serial": "MY1",
                                                    "cal_factors": "sensor_eeprom"}
    sensor = parse_bench(yaml.safe_dump(data), "b.yaml").instruments["power_meter"].sensor
    assert sensor.table is None


# ----------------------------------------------------------------------------- the meter
@pytest.fixture
def meter_bench() -> Iterator[tuple[SimulatedBench, KeysightN1912A, Any]]:
    """The built-in bench's simulators, the PA powered and driven at -20 dBm CW, and the
    N1912A driver (channel A: the 8481A without EEPROM) zeroed, 256 averages."""
    with SimulatedBench(config_from_bench_file(_doc())) as sim:
        r = sim.resources
        meter = connect("keysight.n1912a", r["power_meter"], channel=1)
        gen = connect("keysight.n5182b", r["signal_generator"])
        supply = connect("keysight.e36312a", r["dc_supply"])
        meter.zero()
        meter.set_averaging(256)
        supply.set_voltage_v(1, 5.0)
        supply.set_current_limit_a(1, 1.0)
        supply.set_output(1, True)
        gen.set_power_dbm(-20.0)
        gen.set_rf_output(True)
        try:
            yield sim, meter, gen
        finally:
            for inst in (gen, supply, meter):
                inst.make_safe()
                inst.close()


def _reading_error_db(sim: SimulatedBench, meter: KeysightN1912A, gen: Any,
                      frequency_hz: float) -> float:
    """Meter reading minus the power the simulated world delivers to the sensor, dB."""
    gen.set_frequency_hz(frequency_hz)
    meter.set_frequency_hz(frequency_hz)
    reading = meter.measure_power_dbm()
    return reading - sim.bench.total_power_dbm("power_meter")


def test_without_the_table_the_meter_reads_low_by_the_cal_factor_with_it_right(
        meter_bench: Any) -> None:
    sim, meter, gen = meter_bench
    sensor = load_bench(BENCH_FILE).instruments["power_meter"].sensor
    table = sensor.table
    noise_db = 3 * 0.02 / math.sqrt(256) + 0.002  # 3 sigma of the averaged reading
    frequencies = (3.3e9, F0, 3.8e9)
    without = [_reading_error_db(sim, meter, gen, f) for f in frequencies]
    for f, error in zip(frequencies, without, strict=True):
        expected = 10 * math.log10(_true_cal_factor_pct(f) / 100)  # about -0.08 dB
        assert error == pytest.approx(expected, abs=noise_db)
        assert error < -0.07
    # a wrong table (another sensor's, 2 % high) is off by the difference
    wrong = [v + 2.0 for v in table.cal_factor_pct]
    meter.load_cal_factor_table("WRONG", table.frequency_hz, wrong, 100.0)
    for f in frequencies:
        expected = 10 * math.log10(_true_cal_factor_pct(f) / (_true_cal_factor_pct(f) + 2.0))
        assert _reading_error_db(sim, meter, gen, f) == pytest.approx(expected, abs=noise_db)
    # the certificate's table: the reading is right at every frequency
    meter.load_cal_factor_table(sensor.table_name, table.frequency_hz, table.cal_factor_pct,
                                sensor.reference_cal_factor)
    for f in frequencies:
        assert _reading_error_db(sim, meter, gen, f) == pytest.approx(0.0, abs=noise_db)
    assert meter.applied_cal_factor_table() == (sensor.table_name, True)
    # what the meter holds, in plain SCPI on the session
    raw = meter.session
    raw.write(f'MEM:TABL:SEL "{sensor.table_name}"')
    freqs = [float(v) for v in raw.query("MEM:TABL:FREQ?").split(",")]
    gains = [float(v) for v in raw.query("MEM:TABL:GAIN?").split(",")]
    assert raw.query("SENS1:CORR:CSET1:SEL?").strip('"') == sensor.table_name
    assert freqs == table.frequency_hz
    assert gains == [sensor.reference_cal_factor, *table.cal_factor_pct]


def test_the_driver_refuses_tables_the_meter_cannot_hold_and_a_table_for_an_eeprom_sensor(
        meter_bench: Any) -> None:
    sim, meter, _ = meter_bench
    with pytest.raises(ValueError, match="1 to 12 letters"):
        meter.load_cal_factor_table("TOO_LONG_NAME_X", [1e9], [99.0], 100.0)
    with pytest.raises(ValueError, match="1 to 80 frequencies"):
        meter.load_cal_factor_table("T81", list(np.linspace(1e9, 9e9, 81)), [99.0] * 81, 100.0)
    with pytest.raises(ValueError, match="must be 1 to 150 %"):
        meter.load_cal_factor_table("T", [1e9], [0.5], 100.0)
    # channel B of a meter whose sensor has EEPROM: the meter refuses a table there
    config = config_from_bench_file(_doc())
    config["power_sensors"]["power_meter"].update({"channel": 2, "model": "N1921A"})
    with SimulatedBench(config) as other:
        eeprom = connect("keysight.n1912a", other.resources["power_meter"], channel=2)
        try:
            with pytest.raises(InstrumentError) as info:
                eeprom.load_cal_factor_table("CF_EEPROM", [1e9], [99.0], 100.0)
            assert info.value.code == -221 and "CSET1:STAT ON" in info.value.command
        finally:
            eeprom.close()


# ----------------------------------------------------------------------------- runs
def test_a_run_loads_the_bench_table_and_records_it_with_its_hash(
        bench_dir: Path, tmp_path: Path) -> None:
    outcome, device = _run(bench_dir / "bench.yaml", PLAN.format(policy=""), tmp_path / "r")
    assert outcome.status == "completed", outcome.error
    sensor = load_bench(bench_dir / "bench.yaml").instruments["power_meter"].sensor
    csv = bench_dir / "certs" / "8481A.csv"
    file_hash = hashlib.sha256(csv.read_bytes()).hexdigest()
    freqs, factors, uncertainty = _csv_table()
    # the meter holds the bench file's table, selected and on for channel A
    held = device.tables[sensor.table_name]
    assert held.frequency_hz == freqs and held.gain_pct == [100.0, *factors]
    assert (device.channels[1].cal_table, device.channels[1].cal_table_on) == (
        sensor.table_name, True)
    corrections = _corrections(outcome.record_path)
    entry = corrections[("power_sensor_cal_factors", "power_meter")]
    assert entry == {"kind": "power_sensor_cal_factors", "role": "power_meter",
                     "source": f"file {csv.resolve()} (bench file simulated-keysight: "
                     "instruments.power_meter.sensor.cal_factors, Keysight 8481A s/n "
                     "MY41098765)", "file": str(csv.resolve()), "sha256": file_hash,
                     "path": "/calibration/cal_factors/power_meter"}
    assert corrections[("path_loss", "power_meter")]["path"] == \
        "/calibration/path_loss/power_meter"
    with h5py.File(outcome.record_path, "r") as f:
        group = f["calibration/cal_factors/power_meter"]
        assert list(group["frequency"][()]) == freqs
        assert group["frequency"].attrs["units"] == "Hz"
        assert list(group["cal_factor_pct"][()]) == factors
        assert list(group["uncertainty_pct"][()]) == uncertainty
        assert group["cal_factor_pct"].attrs["units"] == "%"
        assert group["cal_factor_pct"].dims[0][0].name == group["frequency"].name
        attrs = dict(group.attrs)
        assert attrs["source_sha256"] == file_hash and attrs["source_kind"] == "file"
        assert attrs["sha256"] == hashlib.sha256(
            np.asarray(freqs).tobytes() + np.asarray(factors).tobytes()
            + np.asarray(uncertainty).tobytes()).hexdigest()
        assert attrs["reference_cal_factor_pct"] == 100.0
        assert (attrs["sensor_model"], attrs["sensor_serial"]) == ("8481A", "MY41098765")
        meta = dict(f["instruments/power_meter.sensor"].attrs)
        assert (meta["idn.model"], meta["idn.serial"]) == ("8481A", "MY41098765")
        assert meta["calibration.status"] == "valid"
        assert meta["calibration.certificate"] == "SIM-CAL-2026-0105"
        assert meta["calibration.due"] == "2027-05-20"
        events = [e["message"].decode() for e in f["events"][()]]
    assert any("cal factors of Keysight 8481A s/n MY41098765 loaded as table CF_Y41098765 "
               "(21 points" in m for m in events)
    assert check_record(outcome.record_path).valid

    # the same bench with the sensor wrongly declared as carrying its own cal factors: no
    # table is loaded, the 8481A's readings come out low by its cal factor at each frequency
    data = yaml.safe_load((bench_dir / "bench.yaml").read_text())
    data["instruments"]["power_meter"]["sensor"]["cal_factors"] = "sensor_eeprom"
    eeprom_bench = _write(bench_dir / "eeprom.yaml", data)
    wrong, device = _run(eeprom_bench, PLAN.format(policy=""), tmp_path / "w")
    assert wrong.status == "completed", wrong.error
    assert device.channels[1].cal_table_on is False
    offset = _readings_dbm(wrong.record_path) - _readings_dbm(outcome.record_path)
    for row, f in zip(offset, (3.3e9, 3.8e9), strict=True):
        assert row == pytest.approx(10 * math.log10(_true_cal_factor_pct(f) / 100), abs=0.01)
    entry = _corrections(wrong.record_path)[("power_sensor_cal_factors", "power_meter")]
    assert entry["file"] is None and entry["path"] is None
    assert entry["source"].startswith("sensor EEPROM of Keysight 8481A s/n MY41098765")
    assert entry["sha256"] == hashlib.sha256(entry["source"].encode()).hexdigest()
    with h5py.File(wrong.record_path, "r") as f:
        assert "cal_factors" not in f["calibration"]


def test_an_expired_sensor_refuses_the_run_before_any_output_unless_warned(
        bench_dir: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((bench_dir / "inventory.yaml").read_text())
    expired = dt.date.today() - dt.timedelta(days=2)
    (entry,) = [e for e in data["instruments"] if e["model"] == "8481A"]
    entry.update(due=expired, calibrated=expired - dt.timedelta(days=365))
    _write(bench_dir / "inventory.yaml", data)
    refused, device = _run(bench_dir / "bench.yaml", PLAN.format(policy=""), tmp_path / "r")
    assert refused.status == "error"
    for part in ("power_meter.sensor", "8481A", "MY41098765", f"due {expired}"):
        assert part in refused.error
    assert device.tables == {}  # refused before the set-up: nothing loaded
    with h5py.File(refused.record_path, "r") as f:
        assert len(f["steps"]) == 0
        assert f["instruments/power_meter.sensor"].attrs["calibration.status"] == "expired"
    warned, _ = _run(bench_dir / "bench.yaml", PLAN.format(policy="calibration_policy: warn"),
                     tmp_path / "w")
    assert warned.status == "completed", warned.error
    with h5py.File(warned.record_path, "r") as f:
        warnings = [e["message"].decode() for e in f["events"][()]
                    if e["level"].decode() == "warning"]
    assert len(warnings) == 1 and "power_meter.sensor" in warnings[0]
    # not in the inventory: the bench's cal_due is judged, and the record says where from
    data["instruments"].remove(entry)
    _write(bench_dir / "inventory.yaml", data)
    bench = yaml.safe_load((bench_dir / "bench.yaml").read_text())
    bench["instruments"]["power_meter"]["sensor"]["cal_due"] = "2099-01-01"
    outcome, _ = _run(_write(bench_dir / "bench.yaml", bench), PLAN.format(policy=""),
                      tmp_path / "d")
    with h5py.File(outcome.record_path, "r") as f:
        meta = dict(f["instruments/power_meter.sensor"].attrs)
    assert (meta["calibration.status"], meta["calibration.due"]) == ("valid", "2099-01-01")
    assert meta["calibration.source"] == "bench file instruments.power_meter.sensor.cal_due"


def test_the_vna_cal_set_identity_is_a_correction_stable_between_runs(tmp_path: Path) -> None:
    network = builtin_bench_path("simulated-network")
    first, _ = _run(network, NETWORK_PLAN, tmp_path / "a")
    second, _ = _run(network, NETWORK_PLAN, tmp_path / "b")
    assert first.status == second.status == "completed", (first.error, second.error)
    entries = [_corrections(r.record_path) for r in (first, second)]
    assert {k: c["sha256"] for k, c in entries[0].items()} == \
        {k: c["sha256"] for k, c in entries[1].items()}  # what a resume compares
    entry = entries[0][("vna_calibration", "vna")]
    assert entry == {"kind": "vna_calibration", "role": "vna",
                     "source": "CalSet_4port_ecal_2026-11-20 (Full 4 Port(1,2,3,4), ports "
                     "1,2,3,4, correction on)", "file": None,
                     "sha256": hashlib.sha256(entry["source"].encode()).hexdigest(),
                     "path": None}
    with h5py.File(first.record_path, "r") as f:  # the step records the same calibration
        step = json.loads(f["steps/000_sparams"].attrs["vna_calibration"])
    assert (step["cal_set"], step["cal_type"], step["ports"], step["corrected"]) == (
        "CalSet_4port_ecal_2026-11-20", "Full 4 Port(1,2,3,4)", [1, 2, 3, 4], True)
    # another cal set on the VNA: another identity, another hash
    data = _doc(network)
    data["simulation"]["vna"]["calibration"]["cal_set"] = "CalSet_recal_2026-11-23"
    other = _write(tmp_path / "network.yaml", data)
    third, _ = _run(other, NETWORK_PLAN, tmp_path / "c")
    entry3 = _corrections(third.record_path)[("vna_calibration", "vna")]
    assert entry3["source"].startswith("CalSet_recal_2026-11-23 (")
    assert entry3["sha256"] != entry["sha256"]


def test_a_sensor_on_an_instrument_that_is_no_power_meter_is_refused_before_any_output(
        bench_dir: Path, tmp_path: Path) -> None:
    data = yaml.safe_load((bench_dir / "bench.yaml").read_text())
    data["instruments"]["signal_analyzer"]["sensor"] = data["instruments"]["power_meter"].pop(
        "sensor")
    outcome, device = _run(_write(bench_dir / "bench.yaml", data), PLAN.format(policy=""),
                           tmp_path / "r")
    assert outcome.status == "error"
    assert "bench role 'signal_analyzer' has a sensor (instruments.signal_analyzer.sensor) but " \
        "is not a power meter" in outcome.error
    assert device.tables == {}
    with h5py.File(outcome.record_path, "r") as f:
        assert len(f["steps"]) == 0


def test_a_plan_beyond_the_cal_factor_table_is_refused_naming_the_sensor(
        bench_dir: Path) -> None:
    """The meter would silently apply the table's end value outside it: refused at validation
    (nothing touched), like a frequency outside a path-loss table."""
    data = _doc(bench_dir / "bench.yaml")
    data["instruments"]["power_meter"]["sensor"]["cal_factors"] = {
        "frequency_hz": [50e6, 1e9, 3e9], "cal_factor_pct": [100.0, 99.0, 98.0]}
    bench = load_bench(_write(bench_dir / "narrow.yaml", data))
    plan = load_plan(Path(__file__).parents[1] / "test_plans" / "pa_power_sweep.yaml")
    with pytest.raises(SafetyError, match=r"outside the cal-factor table of the 8481A sensor "
                       r"on role 'power_meter' \(0\.05 GHz to 3 GHz\)"):
        check_plan_against_bench(plan, bench)
    check_plan_against_bench(plan, load_bench(bench_dir / "bench.yaml"))  # the full table: ok
