"""Switch and FEM paths per control state (reference §1.8): for each state in the plan's order
the VNA source goes off, the DUT takes the state through its controller
(:mod:`benchbot.measurements.dut_control`), the source comes back on for one full S-matrix
sweep of ``vna_ports`` and goes off again. Per state:

- through paths: insertion loss ``-20·log10|S(to,from)|`` (worst = highest over the band), or
  gain ``20·log10|S(to,from)|`` for an active state (worst = lowest);
- isolation paths: ``-20·log10|S(to,from)|`` with the path OFF (worst = lowest);
- return loss ``-20·log10|S(p,p)|`` of every port on a through path (worst = lowest).

Record layout: axes ``state`` (index into the step attribute ``state_names``, JSON),
``frequency_hz``, ``port_row``, ``port_col`` (VNA ports, in ``vna_ports`` order) and ``path``
(index into the step attribute ``paths``: JSON list of {state, quantity, from, to}); datasets
``s_re``, ``s_im`` over (state, frequency_hz, port_row, port_col), ``path_db`` over (path,
frequency_hz) -- each path's quantity in dB -- and per mask ``mask_<quantity>_pass`` /
``mask_<quantity>_margin_db`` over (path, frequency_hz), NaN for paths of other quantities.
Per state also ``stimulus_hz`` over (state, frequency_hz), the stimulus as the VNA returned it
(the metrics use it; the ``frequency_hz`` axis is the plan's), and ``reference_impedance_ohm``
over (state). Step attributes ``z0_ohm``, ``port_names`` (JSON, the DUT port names of
``port_row``), ``vna_calibration`` (JSON).

Resume unit (``benchbot run --resume``): one state — its sweep, committed once its S-matrix,
stimulus, reference impedance and its paths' rows are written. A resumed run sets up the VNA
and powers the DUT up again, keeps the committed states as recorded (their metrics, ``path_db``
and mask rows computed again from the stored S-matrix: the same numbers) and sets and sweeps
the others.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import skrf

from benchbot.analysis import network as na
from benchbot.limits import MetricResult
from benchbot.measurements import dut_control
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.s_parameters import (
    band_text,
    checked_data,
    ghz,
    prepare_vna,
    result,
    s_axes,
    s_datasets,
    sweep_once,
)
from benchbot.plan_control import check_control_states
from benchbot.plan_network import (
    NetworkPathsStep,
    PathState,
    mask_limit,
    trace_unit,
)
from instruments.interfaces import VectorNetworkAnalyzer

S_DIMS = ("state", "frequency_hz", "port_row", "port_col")
PATH_DIMS = ("path", "frequency_hz")
#: the worst value of each quantity over the band: the highest loss, the lowest gain,
#: isolation or return loss
WORST = {"insertion_loss_db": "max", "gain_db": "min", "isolation_db": "min",
         "return_loss_db": "min"}


class Path(NamedTuple):
    """One judged quantity of one state: a through/isolation path, or a port's return loss
    (``from_port == to_port``)."""

    state_index: int
    state: str
    quantity: str
    from_port: str
    to_port: str

    @property
    def label(self) -> str:
        return self.from_port if self.from_port == self.to_port else \
            f"{self.from_port}->{self.to_port}"

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "quantity": self.quantity, "from": self.from_port,
                "to": self.to_port}


def paths_of(step: NetworkPathsStep) -> list[Path]:
    """Every judged path, state by state in the plan's order."""
    out: list[Path] = []
    for si, st in enumerate(step.states):
        out += [Path(si, st.state, st.through_trace, p.from_port, p.to_port) for p in st.through]
        out += [Path(si, st.state, "isolation_db", p.from_port, p.to_port) for p in st.isolation]
        out += [Path(si, st.state, "return_loss_db", p, p) for p in st.return_loss_ports()]
    return out


def declare(step: NetworkPathsStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    names = [st.state for st in step.states]
    paths = paths_of(step)
    axes = {"state": (np.arange(len(names), dtype=float), "1",
                      "index into step attribute state_names: " + ", ".join(names)),
            **s_axes(step.sweep.frequency_hz(), step.port_numbers()),
            "path": (np.arange(len(paths), dtype=float), "1",
                     "index into step attribute paths: " +
                     ", ".join(f"{p.state}:{p.quantity}:{p.label}" for p in paths))}
    datasets = s_datasets(S_DIMS)
    datasets["stimulus_hz"] = (S_DIMS[:2], "Hz", "stimulus frequency as the VNA returned it "
                               "(the metrics use it; the frequency_hz axis is the plan's)")
    datasets["reference_impedance_ohm"] = (S_DIMS[:1], "Ohm", "reference impedance of the "
                                           "state's S-matrix")
    datasets["path_db"] = (PATH_DIMS, "dB", "the path's quantity (attribute paths): insertion "
                           "loss, gain, isolation or return loss")
    for trace in step.masks:
        datasets[f"mask_{trace}_pass"] = (PATH_DIMS, "1", f"{trace} mask: 1 pass, 0 fail, NaN "
                                          "not judged")
        datasets[f"mask_{trace}_margin_db"] = (PATH_DIMS, trace_unit(trace),
                                               f"margin of {trace} to its mask, positive inside")
    return axes, datasets


def run(step: NetworkPathsStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Every state in order: source off, state set and read back, one sweep, source off; each
    state committed with its paths (a state committed before an interruption is read back)."""
    check_control_states(step, bench.dut_control)  # every state defined, before anything
    ports = step.port_numbers()
    paths = paths_of(step)
    vna = prepare_vna(step, bench, ports, ctx)
    ctx.set_attrs({"port_names": json.dumps(list(step.vna_ports)),
                   "state_names": json.dumps([st.state for st in step.states]),
                   "paths": json.dumps([p.as_dict() for p in paths])})
    results: list[MetricResult] = []
    with dut_control.powered(bench, ctx.log):
        for si, st in enumerate(step.states):
            row = ctx.stored_row(si)
            measured = row is None
            if row is None:
                dut_control.apply_state(bench, st.state, rf_on_after=False, log=ctx.log)
                row = _sweep_state(step, vna, ports, si, ctx)
            if si == 0:
                ctx.set_attrs({"z0_ohm": float(row["reference_impedance_ohm"])})
            ntwk = na.to_network(row["stimulus_hz"], row["s_re"] + 1j * row["s_im"],
                                 float(row["reference_impedance_ohm"]),
                                 name=f"{step.name}_{st.state}")
            state_paths = [(k, p) for k, p in enumerate(paths) if p.state_index == si]
            # the path rows are indexed by path, not state: written again for a replayed state
            results += evaluate_state(step, st, ntwk, state_paths, ctx)
            if measured:
                ctx.commit(row=si)
                ctx.point_done()
    ctx.commit()
    return results


def _sweep_state(step: NetworkPathsStep, vna: VectorNetworkAnalyzer, ports: list[int], si: int,
                 ctx: StepContext) -> dict[str, np.ndarray]:
    """One sweep of the DUT in state ``si``, written at ``si``; returns what was written."""
    data = checked_data(step, sweep_once(vna, ports), ports, ctx)
    s = np.asarray(data.s, dtype=complex)
    row = {"s_re": s.real, "s_im": s.imag,
           "stimulus_hz": np.asarray(data.frequency_hz, dtype=float),
           "reference_impedance_ohm": np.asarray(float(data.z0_ohm))}
    for name, values in row.items():
        ctx.write(name, (si,), values)
    return row


def path_values(step: NetworkPathsStep, ntwk: skrf.Network, path: Path) -> np.ndarray:
    """The path's quantity per frequency, dB."""
    index = {name: k + 1 for k, name in enumerate(step.vna_ports)}  # matrix order
    a, b = index[path.from_port], index[path.to_port]
    if path.quantity == "return_loss_db":
        return na.return_loss_db(ntwk, a)
    if path.quantity == "gain_db":
        return na.gain_db(ntwk, b, a)
    return na.isolation_db(ntwk, b, a)  # insertion loss or isolation: -20·log10|S(to,from)|


def evaluate_state(step: NetworkPathsStep, st: PathState, ntwk: skrf.Network,
                   paths: list[tuple[int, Path]], ctx: StepContext | None = None
                   ) -> list[MetricResult]:
    """Metrics of one state's paths; with ``ctx`` also their ``path_db`` and mask rows."""
    f = np.asarray(ntwk.frequency.f, dtype=float)
    band = step.metric_band_hz()
    out: list[MetricResult] = []
    for k, path in paths:
        values = path_values(step, ntwk, path)
        condition: dict[str, float | str] = {"state": st.state, "path": path.label}
        ports = (f"VNA port {step.vna_ports[path.from_port]}" if path.from_port == path.to_port
                 else f"S{step.vna_ports[path.to_port]}{step.vna_ports[path.from_port]} "
                 "(VNA ports)")
        worst = na.worst_in_band(values, f, band, WORST[path.quantity])  # type: ignore[arg-type]
        out.append(result(step, path.quantity, worst.value,
                          f"{ports}: worst at {ghz(worst.frequency_hz)} over {band_text(band)}",
                          condition, limit=step.limit_for(st, path.quantity)))
        if ctx is not None:
            ctx.write("path_db", (k,), values)
        spec = step.masks.get(path.quantity)
        if spec is None:
            continue
        verdict = spec.evaluate(f, values)
        metric = f"mask_{path.quantity}_margin_db"
        out.append(result(step, metric, verdict.worst_margin,
                          f"{ports}: {verdict.note(trace_unit(path.quantity))}", condition,
                          limit=mask_limit(spec, step.limit_for(st, metric))))
        if ctx is not None:
            ctx.write(f"mask_{path.quantity}_pass", (k,), verdict.pass_as_float())
            ctx.write(f"mask_{path.quantity}_margin_db", (k,), verdict.margin_per_point)
    return out

