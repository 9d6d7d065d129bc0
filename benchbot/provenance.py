"""What a record states about the bench before any output: each instrument's (and power
sensor's, and noise source's) calibration as judged from the lab inventory, every correction the
bench applies with its origin and SHA-256, and the `/instruments` and `/calibration` content.

The engine calls these at run start; a resumed run compares `corrections` with the record's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from benchbot.bench import BenchDefinition, sha256_hex
from benchbot.inventory import CalibrationCheck, Inventory, check_instrument
from benchbot.results.record import RunRecord
from instruments.interfaces import Instrument, PowerMeter, VectorNetworkAnalyzer

#: the `/instruments/<role>` group of the bench's noise source (not a VISA instrument)
NOISE_SOURCE_ROLE = "noise_source"


def calibration_checks(bench: BenchDefinition, instruments: Mapping[str, Instrument],
                       inventory: Inventory | None, today: dt.date) -> list[CalibrationCheck]:
    """Every instrument's calibration (by role, in bench order), then each power meter's
    sensor's (role ``<meter role>.sensor``), then the noise source's; a sensor or the
    noise source not in the inventory is judged on its bench ``cal_due``, if any."""
    checks = []
    for role, instrument in instruments.items():
        ident = instrument.identity
        checks.append(check_instrument(inventory, role, ident.manufacturer, ident.model,
                                       ident.serial, today))
    for role, entry in bench.instruments.items():
        sensor = entry.sensor
        if sensor is not None:
            checks.append(check_instrument(
                inventory, f"{role}.sensor", sensor.manufacturer, sensor.model,
                sensor.serial, today,
                fallback_due=dt.date.fromisoformat(sensor.cal_due) if sensor.cal_due
                else None, fallback_source=f"bench file instruments.{role}.sensor.cal_due"))
    source = bench.noise_source
    if source is not None:
        checks.append(check_instrument(
            inventory, NOISE_SOURCE_ROLE, "", source.model, source.serial, today,
            fallback_due=dt.date.fromisoformat(source.cal_due) if source.cal_due else None,
            fallback_source="bench file noise_source.cal_due"))
    return checks

def corrections(bench: BenchDefinition, instruments: Mapping[str, Instrument]
                ) -> list[dict[str, Any]]:
    """The corrections this bench applies, each with its origin and SHA-256: path-loss
    tables, power sensors' cal factors (a certificate's table, or the sensor's EEPROM),
    the noise source's ENR and each VNA's active calibration as it reports it (cal set,
    type, ports; its identity text hashed). Nothing timed goes into a hash: a resumed run
    compares them with the interrupted run's."""
    out: list[dict[str, Any]] = []
    for role, entry in bench.instruments.items():
        table = entry.path_loss
        if table is None:
            continue
        where = f"bench file {bench.name}: instruments.{role}.path_loss"
        out.append({"kind": "path_loss", "role": role,
                    "source": f"file {table.file} ({where})" if table.file else where,
                    "file": table.file, "sha256": table.source_sha256,
                    "path": f"/calibration/path_loss/{role}"})
    for role, entry in bench.instruments.items():
        sensor = entry.sensor
        if sensor is None:
            continue
        if not isinstance(instruments.get(role), PowerMeter):
            raise TypeError(f"bench role {role!r} has a sensor (instruments.{role}.sensor) "
                            "but is not a power meter")
        cal = sensor.table
        if cal is None:
            text = (f"sensor EEPROM of {sensor.describe()}, applied by the meter (bench file "
                    f"{bench.name}: instruments.{role}.sensor)")
            out.append({"kind": "power_sensor_cal_factors", "role": role, "source": text,
                        "file": None, "sha256": sha256_hex(text.encode("utf-8")), "path": None})
            continue
        where = (f"bench file {bench.name}: instruments.{role}.sensor.cal_factors, "
                 f"{sensor.describe()}")
        out.append({"kind": "power_sensor_cal_factors", "role": role,
                    "source": f"file {cal.file} ({where})" if cal.file else where,
                    "file": cal.file, "sha256": cal.source_sha256,
                    "path": f"/calibration/cal_factors/{role}"})
    source = bench.noise_source
    if source is not None:
        out.append({"kind": "enr", "role": NOISE_SOURCE_ROLE,
                    "source": f"bench file {bench.name}: noise_source.enr "
                              f"({source.model} s/n {source.serial})", "file": None,
                    "sha256": source.enr.source_sha256, "path": None})
    for role, instrument in instruments.items():
        if isinstance(instrument, VectorNetworkAnalyzer):
            cal = instrument.calibration()
            ports = ",".join(str(p) for p in cal.ports) or "none"
            text = (f"{cal.cal_set or 'no cal set'} ({cal.cal_type or 'type unknown'}, "
                    f"ports {ports}, correction {'on' if cal.corrected else 'off'})")
            out.append({"kind": "vna_calibration", "role": role, "source": text,
                                "file": None, "sha256": sha256_hex(text.encode("utf-8")),
                                "path": None})
    return out


def write_bench(record: RunRecord, bench: BenchDefinition, instruments: Mapping[str, Instrument],
                checks: list[CalibrationCheck], corrections: list[dict[str, Any]]) -> None:
    """`/instruments/<role>` (identity, resource, driver, calibration), each power meter's
    sensor as `/instruments/<role>.sensor` and the noise source likewise, the path-loss
    and cal-factor tables as applied."""
    _write_instruments(record, bench, instruments, {c.role: c for c in checks})
    _write_tables(record, bench, corrections)


def _write_instruments(record: RunRecord, bench: BenchDefinition,
                       instruments: Mapping[str, Instrument],
                       by_role: Mapping[str, CalibrationCheck]) -> None:
    for role, instrument in instruments.items():
        entry = bench.instruments[role]
        ident = instrument.identity
        record.add_instrument(
            role,
            idn={"manufacturer": ident.manufacturer, "model": ident.model,
                 "serial": ident.serial, "firmware": ident.firmware,
                 "options": ",".join(ident.options)},
            resource=entry.resource, driver=entry.driver, options=dict(entry.options),
            calibration=by_role[role].attrs(),
        )
    for role, entry in bench.instruments.items():
        sensor = entry.sensor
        if sensor is not None:
            sensor_role = f"{role}.sensor"
            record.add_instrument(
                sensor_role, idn={"manufacturer": sensor.manufacturer,
                                  "model": sensor.model, "serial": sensor.serial},
                resource=f"sensor input of {role}", driver="",
                calibration=by_role[sensor_role].attrs())
    source = bench.noise_source
    if source is not None and NOISE_SOURCE_ROLE not in instruments:
        record.add_instrument(
            NOISE_SOURCE_ROLE, idn={"model": source.model, "serial": source.serial},
            resource=f"+28 V drive of {source.driven_by}", driver="",
            calibration=by_role[NOISE_SOURCE_ROLE].attrs())


def _write_tables(record: RunRecord, bench: BenchDefinition,
                  corrections: list[dict[str, Any]]) -> None:
    """The path-loss and cal-factor tables of `corrections`, as applied."""
    for correction in corrections:
        if correction["kind"] == "path_loss":
            table = bench.instruments[correction["role"]].path_loss
            assert table is not None
            record.add_path_loss(
                correction["role"], table.frequency_hz, table.loss_db,
                source=correction["source"],
                attrs={"source_sha256": table.source_sha256, "interpolation": "linear",
                       "source_kind": "file" if table.file else "inline"})
        elif correction["kind"] == "power_sensor_cal_factors" and correction["path"]:
            sensor = bench.instruments[correction["role"]].sensor
            assert sensor is not None and sensor.table is not None
            cal = sensor.table
            record.add_cal_factors(
                correction["role"], cal.frequency_hz, cal.cal_factor_pct,
                source=correction["source"], uncertainty_pct=cal.uncertainty_pct,
                attrs={"source_sha256": cal.source_sha256,
                       "source_kind": "file" if cal.file else "inline",
                       "interpolation": "linear, by the meter",
                       "reference_cal_factor_pct": sensor.reference_cal_factor,
                       "sensor_model": sensor.model, "sensor_serial": sensor.serial,
                       "table_name": sensor.table_name})
