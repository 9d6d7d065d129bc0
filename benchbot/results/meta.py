"""Run-level metadata: `RunMeta` (what the caller states), the root attributes and file name."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from benchbot.results.format import (
    FORMAT,
    FORMAT_VERSION,
    RUNNING,
    safe_name,
    set_attrs,
    to_json,
    to_text,
    utc_compact,
    utc_iso,
)


@dataclass(frozen=True)
class RunMeta:
    """What a run record states about the run at its start (root attributes)."""

    plan_name: str
    plan_version: str
    plan_text: str  # the plan file's YAML, verbatim
    bench_name: str
    bench_text: str  # the bench file's YAML, verbatim
    dut: Mapping[str, Any]  # part_number, serial, kind, ...; `serial` goes into the file name
    operator: str
    software: Mapping[str, str]  # python, benchbot, numpy, h5py, hdf5, pyvisa, pyvisa-py, ...
    simulated: bool
    simulator_seed: int | None = None
    host: str = field(default_factory=socket.gethostname)
    tenant: str = ""
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # booking id, station, ... as `extra.*`


def sha256_text(text: str) -> str:
    """Hex SHA-256 of UTF-8 text (as stored in `plan_sha256` / `bench_sha256`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_file_name(started_epoch: float, plan_name: str, dut_serial: str, run_id: str) -> str:
    """`<UTC yyyymmddThhmmssZ>_<plan>_<serial>_<short id>.h5` (without `.partial`)."""
    short = run_id.replace("-", "")[:8]
    return (f"{utc_compact(started_epoch)}_{safe_name(plan_name)}_"
            f"{safe_name(dut_serial, 'noserial')}_{safe_name(short)}.h5")


def write_root(file: h5py.File, run_id: str, meta: RunMeta, started: float) -> None:
    """The root attributes of a new record (status "running")."""
    attrs = file.attrs
    attrs["format"] = FORMAT
    attrs["format_version"] = FORMAT_VERSION
    attrs["run_id"] = run_id
    attrs["plan_name"] = meta.plan_name
    attrs["plan_version"] = to_text(meta.plan_version)
    attrs["plan_sha256"] = sha256_text(meta.plan_text)
    attrs["plan_yaml"] = meta.plan_text
    attrs["bench_name"] = meta.bench_name
    attrs["bench_sha256"] = sha256_text(meta.bench_text)
    attrs["bench_yaml"] = meta.bench_text
    attrs["dut_json"] = to_json(dict(meta.dut))
    set_attrs(attrs, meta.dut, "dut.")
    attrs["operator"] = meta.operator
    attrs["tenant"] = meta.tenant
    attrs["description"] = meta.description
    attrs["simulated"] = np.int8(bool(meta.simulated))
    if meta.simulator_seed is not None:
        attrs["simulator_seed"] = np.int64(meta.simulator_seed)
    attrs["software_json"] = to_json(dict(meta.software))
    set_attrs(attrs, meta.software, "software.")
    attrs["host"] = meta.host
    set_attrs(attrs, meta.extra, "extra.")
    attrs["started_utc"] = utc_iso(started)
    attrs["started_epoch"] = started
    attrs["status"] = RUNNING
