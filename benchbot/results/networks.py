"""S-parameter steps of a run record as scikit-rf ``Network``s, and their Touchstone export.

A step holds S-parameters when it has the datasets ``s_re`` and ``s_im`` over the axes
``[state,] frequency_hz, port_row, port_col`` (VNA port numbers; ``state`` for steps that
measure a switch/FEM in several control states). Its reference impedance, DUT port names and
the VNA calibration are step attributes ``z0_ohm``, ``port_names`` (JSON) and
``vna_calibration`` (JSON); the same keys in the step's settings are accepted as fallbacks.
State names come from the step attribute ``state_names`` (JSON list), a string ``state`` axis,
or the settings' ``states[i].state``, in that order.

Network keys: the step name, or ``<step>.<state>`` per state (step names never contain '.').
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import skrf

from benchbot.results.format import PARTIAL_SUFFIX, STEPS, decode_attr, safe_name
from benchbot.results.reader import RecordSummary, open_record

S_RE, S_IM = "s_re", "s_im"
AXIS_FREQUENCY, AXIS_ROW, AXIS_COL, AXIS_STATE = "frequency_hz", "port_row", "port_col", "state"


@dataclass(frozen=True, eq=False)
class StepNetwork:
    """One exported network: its key, the step it comes from, the state (if any), the network
    and the provenance written into the Touchstone header."""

    key: str
    group: str  # '003_lna_sparams'
    step: str
    state: str | None
    network: skrf.Network
    state_index: int | None  # position on the step's ``state`` axis
    vna_ports: tuple[int, ...]
    calibration: Any = None
    settings: dict[str, Any] = field(default_factory=dict)


def step_networks(group: str, name: str, axes: Mapping[str, np.ndarray],
                  data: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                  settings: Mapping[str, Any]) -> list[StepNetwork]:
    """The networks of one step from its arrays (empty if it holds no S-parameters).

    Frequency points never written (NaN in every entry) are left out, and so are states with
    no written point at all (an interrupted run)."""
    if S_RE not in data or S_IM not in data or AXIS_FREQUENCY not in axes:
        return []
    s = np.asarray(data[S_RE], dtype=float) + 1j * np.asarray(data[S_IM], dtype=float)
    has_state = s.ndim == 4
    if not has_state:
        s = s[None]
    if s.ndim != 4 or s.shape[2] != s.shape[3]:
        raise ValueError(f"step {name!r}: s_re/s_im have shape {data[S_RE].shape}, expected "
                         "([state,] frequency, port_row, port_col)")
    frequency_hz = np.asarray(axes[AXIS_FREQUENCY], dtype=float)
    ports = _ports(axes, s.shape[2])
    z0 = _z0(attrs, settings, len(ports))
    port_names = _port_names(_lookup(attrs, settings, "port_names"), ports)
    calibration = _decoded(_lookup(attrs, settings, "vna_calibration"))
    states = _state_names(axes, attrs, settings, s.shape[0]) if has_state else [None]
    out = []
    for index, state in enumerate(states):
        block = s[index]
        written = ~np.all(np.isnan(block.real) | np.isnan(block.imag), axis=(1, 2))
        if not written.any():
            continue
        key = name if state is None else f"{name}.{state}"
        ntwk = skrf.Network(frequency=skrf.Frequency.from_f(frequency_hz[written], unit="Hz"),
                            s=block[written], z0=z0, name=key)
        if port_names:
            ntwk.port_names = list(port_names)
        out.append(StepNetwork(key, group, name, state, ntwk, index if has_state else None,
                               ports, calibration, dict(settings)))
    return out


def read_step_networks(path: str | Path, step: str | int | None = None) -> list[StepNetwork]:
    """Every S-parameter network of a record (or of one step: its name, group name or index),
    in step order."""
    summary = open_record(path)
    out: list[StepNetwork] = []
    with h5py.File(summary.path, "r") as f:
        groups = f.get(STEPS, {})
        for s in summary.steps:
            if s.group not in groups or not _selected(step, s.name, s.group, s.index):
                continue
            g = groups[s.group]
            axes, data = {}, {}
            for key, obj in g.items():
                if isinstance(obj, h5py.Dataset) and key in (S_RE, S_IM, AXIS_FREQUENCY,
                                                              AXIS_ROW, AXIS_COL, AXIS_STATE):
                    values = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]
                    (axes if obj.is_scale else data)[key] = values
            out.extend(step_networks(s.group, s.name, axes, data, s.attrs, s.settings))
    if step is not None and not out:
        raise KeyError(f"{path}: no S-parameter step {step!r}")
    return out


def networks_from_record(path: str | Path, step: str | int | None = None
                         ) -> dict[str, skrf.Network]:
    """``{step name | "<step>.<state>": Network}`` for every S-parameter step of a record."""
    return {n.key: n.network for n in read_step_networks(path, step)}


def export_touchstone(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write one Touchstone v1.1 ``.sNp`` (Hz, RI, full precision) per S-parameter step and
    state into ``out_dir`` (default ``<record>_touchstone/`` next to the record), named
    ``<NNN>_<step>[_<state>].sNp``; the header comments name the DUT, plan, step, state,
    VNA ports, calibration, sweep and the record. Returns the written paths."""
    record = Path(path)
    summary = open_record(record)
    networks = read_step_networks(record)
    directory = Path(out_dir) if out_dir is not None else default_touchstone_dir(summary.path)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for item in networks:
        ntwk = item.network.copy()
        ntwk.comments = "\n".join(header_lines(summary, item))
        stem = item.group if item.state is None else f"{item.group}_{safe_name(item.state)}"
        ntwk.write_touchstone(stem, dir=str(directory), skrf_comment=True, form="ri")
        written.append(directory / f"{stem}.s{ntwk.nports}p")
    return written


def default_touchstone_dir(record_path: Path) -> Path:
    """``<record stem>_touchstone/`` next to the record."""
    name = record_path.name.removesuffix(PARTIAL_SUFFIX).removesuffix(".h5")
    return record_path.with_name(f"{name}_touchstone")


def header_lines(summary: RecordSummary, item: StepNetwork) -> list[str]:
    """Provenance comment lines (without the leading '!') for one exported network."""
    dut = summary.dut
    lines = [
        f"benchbot record {summary.path.name} (run {summary.run_id}, status {summary.status})",
        f"DUT {dut.get('part_number', '-')} serial {dut.get('serial', '-')}",
        f"plan {summary.plan.get('name')} {summary.plan.get('version')} "
        f"(sha256 {str(summary.plan.get('sha256') or '')[:16]})",
        f"step {item.step} ({item.group})" + ("" if item.state is None
                                              else f" state {item.state}"),
        f"measured {summary.started_utc or '-'} on bench {summary.bench.get('name')}"
        + (" (SIMULATED)" if summary.simulated else ""),
    ]
    names = item.network.port_names
    ports = ", ".join(f"{k + 1}={'VNA port ' + str(p)}"
                      + (f" ({names[k]})" if names and k < len(names) else "")
                      for k, p in enumerate(item.vna_ports))
    lines.append(f"ports: {ports}")
    vna = next((a for role, a in summary.instruments.items() if role.startswith("vna")), None)
    if vna:
        lines.append("VNA " + " ".join(str(vna.get(f"idn.{k}", ""))
                                       for k in ("manufacturer", "model", "serial")).strip())
    lines.append(f"calibration: {_calibration_text(item.calibration)}")
    sweep = item.settings.get("sweep")
    if isinstance(sweep, Mapping):
        lines.append("sweep: " + ", ".join(f"{k}={v}" for k, v in sweep.items()))
    return lines


def _calibration_text(calibration: Any) -> str:
    if calibration is None or calibration == "":
        return "not recorded"
    if isinstance(calibration, Mapping):
        return ", ".join(f"{k}={v}" for k, v in calibration.items())
    return str(calibration)


# ----------------------------------------------------------------------------- helpers
def _selected(step: str | int | None, name: str, group: str, index: int) -> bool:
    if step is None:
        return True
    if isinstance(step, int):
        return step == index
    return step in (name, group, f"/{STEPS}/{group}")


def _lookup(attrs: Mapping[str, Any], settings: Mapping[str, Any], key: str) -> Any:
    for source in (attrs, settings):
        if key in source and source[key] is not None:
            return source[key]
    return attrs.get(f"settings.{key}")


def _decoded(value: Any) -> Any:
    value = decode_attr(value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _ports(axes: Mapping[str, np.ndarray], n: int) -> tuple[int, ...]:
    row = axes.get(AXIS_ROW)
    if row is None or len(row) != n:
        return tuple(range(1, n + 1))
    return tuple(int(round(float(p))) for p in row)


def _z0(attrs: Mapping[str, Any], settings: Mapping[str, Any], n: int) -> Any:
    value = _decoded(_lookup(attrs, settings, "z0_ohm"))
    if value is None:
        return 50.0
    if isinstance(value, list | tuple):
        return np.asarray(value, dtype=float) if len(value) == n else float(value[0])
    z0 = float(value)
    return 50.0 if math.isnan(z0) else z0


def _port_names(value: Any, ports: tuple[int, ...]) -> list[str] | None:
    """DUT port names in matrix order, from a list (matrix order) or a mapping in either
    direction (VNA port -> name, or name -> VNA port)."""
    value = _decoded(value)
    if isinstance(value, list | tuple) and len(value) == len(ports):
        return [str(v) for v in value]
    if isinstance(value, Mapping) and value:
        by_port: dict[int, str] = {}
        for k, v in value.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                by_port[int(v)] = str(k)  # name -> VNA port
            elif str(k).isdigit():
                by_port[int(k)] = str(v)  # VNA port -> name
        if by_port:
            return [by_port.get(p, f"P{p}") for p in ports]
    return None


def _state_names(axes: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                 settings: Mapping[str, Any], n: int) -> list[str]:
    names = _decoded(attrs.get("state_names"))
    if isinstance(names, list | tuple) and len(names) == n:
        return [str(v) for v in names]
    axis = axes.get(AXIS_STATE)
    if axis is not None and len(axis) == n and np.asarray(axis).dtype.kind in "USO":
        return [str(v) for v in axis]
    states = settings.get("states")
    if isinstance(states, list) and len(states) == n:
        picked = [s.get("state") if isinstance(s, Mapping) else s for s in states]
        if all(isinstance(p, str) for p in picked):
            return picked  # type: ignore[return-value]
    return [f"state{i}" for i in range(n)]

