"""S-parameters of a DUT by one VNA sweep: the full S-matrix of the step's ports, corrected at
the DUT planes, and the metrics of an amplifier (gain, flatness, match, reverse isolation,
group delay, stability K/μ) or a filter (passband IL, ripple, rejection), with frequency limit
masks (reference §1.8).

Before anything sweeps: the VNA's range and port count are checked, the sweep is configured
(correction state follows the stimulus on a real VNA, so calibration is read *after* it), the
active calibration is read, recorded as the step attribute ``vna_calibration`` (JSON) and
checked: ports it does not cover are refused unless the plan sets ``allow_uncalibrated``, in
which case the run logs a warning and the data is stored as the raw, uncorrected one it is.

Record layout (names fixed: plots and Touchstone export read them): axes ``frequency_hz``,
``port_row``, ``port_col`` (VNA port numbers); datasets ``s_re``, ``s_im`` over
(frequency_hz, port_row, port_col); step attributes ``z0_ohm``, ``port_names`` (JSON),
``vna_calibration`` (JSON). Derived: ``group_delay_ns``, ``k_factor``, ``mu``, and per mask
``mask_<trace>_pass`` (1 pass, 0 fail, NaN not judged) and ``mask_<trace>_margin_db``.

Resume unit (``benchbot run --resume``): the whole step. Its one sweep is a single acquisition
and commits no row, so a step interrupted before it completed runs again from its start (VNA
set-up, calibration check, DUT state, sweep).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import skrf

from benchbot.analysis import network as na
from benchbot.limits import Limit, MetricResult
from benchbot.measurements import dut_control
from benchbot.measurements.base import BenchView, StepContext
from benchbot.plan_control import check_control_states
from benchbot.plan_network import (
    ROLE_VNA,
    SParametersStep,
    mask_limit,
    trace_unit,
)
from instruments.interfaces import SParameterData, VectorNetworkAnalyzer, VnaCalibration

S_DIMS = ("frequency_hz", "port_row", "port_col")
#: a returned stimulus this far (relative) from the planned one is logged as a deviation
FREQUENCY_TOLERANCE = 1e-6


class UncalibratedPortsError(RuntimeError):
    """The VNA's active calibration does not cover ports the step measures."""


# ----------------------------------------------------------------- shared with network_paths


def s_axes(frequency_hz: np.ndarray, ports: list[int]) -> dict[str, tuple]:
    """The S-matrix axes: stimulus and the VNA port numbers of rows and columns."""
    p = np.asarray(ports, dtype=float)
    return {"frequency_hz": (frequency_hz, "Hz"),
            "port_row": (p, "1", "VNA port of the S-matrix row (wave out, b)"),
            "port_col": (p, "1", "VNA port of the S-matrix column (wave in, a)")}


def s_datasets(dims: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], str, str]]:
    return {"s_re": (dims, "1", "Re S(port_row, port_col), as the VNA corrected it"),
            "s_im": (dims, "1", "Im S(port_row, port_col), as the VNA corrected it")}


def prepare_vna(step: Any, bench: BenchView, ports: list[int], ctx: StepContext
                ) -> VectorNetworkAnalyzer:
    """Source off, range and ports checked, sweep configured, calibration read, recorded and
    checked (raises :class:`UncalibratedPortsError` before any sweep)."""
    vna = bench.role(ROLE_VNA, VectorNetworkAnalyzer)
    vna.set_rf_output(False)
    sweep = step.sweep
    lo, hi = vna.frequency_range_hz()
    if sweep.start_hz < lo or sweep.stop_hz > hi:
        raise ValueError(f"step {step.name!r}: sweep {sweep.start_hz:g}..{sweep.stop_hz:g} Hz "
                         f"is outside the VNA's range {lo:g}..{hi:g} Hz")
    beyond = [p for p in ports if p > vna.port_count]
    if beyond:
        raise ValueError(f"step {step.name!r}: VNA ports {beyond} do not exist (the VNA has "
                         f"{vna.port_count})")
    vna.configure_sweep(sweep.start_hz, sweep.stop_hz, sweep.points, sweep.if_bandwidth_hz,
                        sweep.power_dbm, sweep.average_count)
    check_calibration(step, vna.calibration(tuple(ports)), ports, ctx)
    return vna


def calibration_record(cal: VnaCalibration, ports: list[int], allowed: bool) -> dict[str, Any]:
    """What the record keeps of the VNA's correction (step attribute ``vna_calibration``)."""
    uncovered = [p for p in ports if not cal.corrected or p not in cal.ports]
    return {"corrected": bool(cal.corrected), "cal_set": cal.cal_set, "cal_type": cal.cal_type,
            "ports": list(cal.ports), "measured_ports": list(ports),
            "uncalibrated_ports": uncovered, "allow_uncalibrated": bool(allowed)}


def check_calibration(step: Any, cal: VnaCalibration, ports: list[int], ctx: StepContext
                      ) -> None:
    """Record the calibration; refuse uncovered ports unless ``step.allow_uncalibrated``."""
    info = calibration_record(cal, ports, step.allow_uncalibrated)
    ctx.set_attrs({"vna_calibration": json.dumps(info)})
    uncovered = info["uncalibrated_ports"]
    if not uncovered:
        ctx.log("info", f"VNA calibration {cal.cal_set!r} ({cal.cal_type}) covers ports {ports}")
        return
    what = (f"cal set {cal.cal_set!r} ({cal.cal_type or 'type unknown'}) covers ports "
            f"{list(cal.ports)}" if cal.corrected else
            f"correction is off (cal set {cal.cal_set or 'none'!r})")
    message = f"step {step.name!r}: VNA ports {uncovered} are not calibrated: {what}"
    if not step.allow_uncalibrated:
        raise UncalibratedPortsError(f"{message}; calibrate them, or set allow_uncalibrated: "
                                     "true to measure raw data")
    ctx.log("warning", f"{message}; measuring anyway (allow_uncalibrated: true): the data is "
            "raw, not referred to the DUT planes")


def checked_data(step: Any, data: SParameterData, ports: list[int], ctx: StepContext
                 ) -> SParameterData:
    """The VNA's answer checked against the plan: ports in order, frequency grid."""
    if tuple(data.ports) != tuple(ports):
        raise RuntimeError(f"step {step.name!r}: the VNA returned ports {list(data.ports)}, "
                           f"asked for {ports}")
    planned = step.sweep.frequency_hz()
    f = np.asarray(data.frequency_hz, dtype=float)
    if f.shape != planned.shape or np.asarray(data.s).shape != (f.size, len(ports), len(ports)):
        raise RuntimeError(f"step {step.name!r}: the VNA returned {f.size} points of a "
                           f"{np.asarray(data.s).shape} matrix; the plan asked for "
                           f"{planned.size} points of {len(ports)} ports")
    off = float(np.max(np.abs(f - planned) / planned))
    if off > FREQUENCY_TOLERANCE:
        ctx.log("warning", f"step {step.name!r}: the VNA's stimulus differs from the plan's by "
                f"up to {off:.2g} (relative); metrics use the VNA's frequencies, the record's "
                "axis the plan's")
    return data


def sweep_once(vna: VectorNetworkAnalyzer, ports: list[int]) -> SParameterData:
    """Source on, one synchronised sweep (all averages), source off whatever happens."""
    vna.set_rf_output(True)
    try:
        return vna.measure_s_parameters(tuple(ports))
    finally:
        vna.set_rf_output(False)


def result(step: Any, metric: str, value: float, note: str,
           condition: dict[str, float | str] | None = None, limit: Limit | None = None
           ) -> MetricResult:
    """``metric`` judged against ``limit`` (default: the step's limit on it)."""
    if limit is None:
        limit = step.limits.get(metric)
    return MetricResult.judge(step.name, metric, step.METRICS[metric].unit, value, limit,
                              condition or {}, note)


def ghz(frequency_hz: float) -> str:
    return f"{frequency_hz / 1e9:.6g} GHz"


def band_text(band: tuple[float, float]) -> str:
    return f"{band[0] / 1e9:.6g}-{band[1] / 1e9:.6g} GHz"


# ----------------------------------------------------------------- the step


def declare(step: SParametersStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    f = step.sweep.frequency_hz()
    axes = s_axes(f, step.ports)
    datasets: dict[str, tuple[tuple[str, ...], str, str]] = s_datasets(S_DIMS)
    if step.output_port_number is not None:
        datasets["group_delay_ns"] = (("frequency_hz",), "ns", "group delay of S(out,in), "
                                      "-dphi/domega")
    if step.stability_on:
        datasets["k_factor"] = (("frequency_hz",), "1", "Rollett K of the input/output 2-port")
        datasets["mu"] = (("frequency_hz",), "1", "Edwards-Sinsky mu (load side)")
    for trace in step.masks:
        datasets[f"mask_{trace}_pass"] = (("frequency_hz",), "1",
                                          f"{trace} mask: 1 pass, 0 fail, NaN not judged")
        datasets[f"mask_{trace}_margin_db"] = (("frequency_hz",), trace_unit(trace),
                                               f"margin of {trace} to its mask, positive inside")
    return axes, datasets


def run(step: SParametersStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Checks, one sweep (DUT in ``step.state`` if given), storage, metrics."""
    check_control_states(step, bench.dut_control)
    ports = list(step.ports)
    vna = prepare_vna(step, bench, ports, ctx)
    ctx.set_attrs({"port_names": json.dumps(step.names_of_ports()),
                   "input_port": step.input_port_number,
                   "output_port": step.output_port_number})
    with dut_control.powered(bench, ctx.log):
        if step.state is not None:
            dut_control.apply_state(bench, step.state, rf_on_after=False, log=ctx.log)
        data = checked_data(step, sweep_once(vna, ports), ports, ctx)
    ctx.set_attrs({"z0_ohm": float(data.z0_ohm)})
    s = np.asarray(data.s, dtype=complex)
    ctx.write("s_re", (), s.real)
    ctx.write("s_im", (), s.imag)
    ctx.commit()
    ctx.point_done()
    ntwk = na.to_network(data.frequency_hz, s, data.z0_ohm, name=step.name)
    results, derived = evaluate(step, ntwk)
    for name, values in derived.items():
        ctx.write(name, (), values)
    ctx.commit()
    return results


def evaluate(step: SParametersStep, ntwk: skrf.Network
             ) -> tuple[list[MetricResult], dict[str, np.ndarray]]:
    """(metrics, derived datasets) of one measured network (pure: no instrument)."""
    f = np.asarray(ntwk.frequency.f, dtype=float)
    band = step.metric_band_hz()
    i = step.ports.index(step.input_port_number) + 1
    out_port = step.output_port_number
    results: list[MetricResult] = []
    derived: dict[str, np.ndarray] = {}
    traces = {"s11_db": na.gain_db(ntwk, i, i)}
    rl_in = na.worst_in_band(na.return_loss_db(ntwk, i), f, band, "min")
    results.append(result(step, "input_return_loss_db", rl_in.value,
                          f"worst at {ghz(rl_in.frequency_hz)} over {band_text(band)}"))
    if out_port is not None:
        o = step.ports.index(out_port) + 1
        results += _two_port_metrics(step, ntwk, i, o, band, traces, derived)
        if step.stability_on:
            results += _stability(step, ntwk, i, o, derived)
        if step.filter is not None:
            results += _filter_metrics(step, ntwk, i, o)
    for trace, spec in step.masks.items():
        verdict = spec.evaluate(f, traces[trace])
        derived[f"mask_{trace}_pass"] = verdict.pass_as_float()
        derived[f"mask_{trace}_margin_db"] = verdict.margin_per_point
        metric = f"mask_{trace}_margin_db"
        results.append(result(step, metric, verdict.worst_margin,
                              f"{trace}: {verdict.note(trace_unit(trace))}",
                              limit=mask_limit(spec, step.limits.get(metric))))
    return results, derived


def _two_port_metrics(step: SParametersStep, ntwk: skrf.Network, i: int, o: int,
                      band: tuple[float, float], traces: dict[str, np.ndarray],
                      derived: dict[str, np.ndarray]) -> list[MetricResult]:
    f = np.asarray(ntwk.frequency.f, dtype=float)
    inside = na.band_mask(f, *band)
    where = f"over {band_text(band)}"
    gain = na.gain_db(ntwk, o, i)
    delay_ns = na.group_delay_s(ntwk, o, i) * 1e9
    traces.update(s21_db=gain, s22_db=na.gain_db(ntwk, o, o), s12_db=na.gain_db(ntwk, i, o),
                  group_delay_ns=delay_ns)
    derived["group_delay_ns"] = delay_ns
    g_min = na.worst(gain[inside], f[inside], "min")
    g_max = na.worst(gain[inside], f[inside], "max")
    rl_out = na.worst_in_band(na.return_loss_db(ntwk, o), f, band, "min")
    iso = na.worst_in_band(na.isolation_db(ntwk, i, o), f, band, "min")
    path = f"S{step.ports[o - 1]}{step.ports[i - 1]} (VNA ports)"
    return [
        result(step, "gain_db", g_min.value, f"{path}: min at {ghz(g_min.frequency_hz)} {where}"),
        result(step, "gain_max_db", g_max.value,
               f"{path}: max at {ghz(g_max.frequency_hz)} {where}"),
        result(step, "gain_flatness_db", na.flatness_db(gain[inside]),
               f"{path}: peak-to-peak {where}"),
        result(step, "output_return_loss_db", rl_out.value,
               f"worst at {ghz(rl_out.frequency_hz)} {where}"),
        result(step, "reverse_isolation_db", iso.value,
               f"worst at {ghz(iso.frequency_hz)} {where}"),
        result(step, "group_delay_variation_ns", na.flatness_db(delay_ns[inside]),
               f"peak-to-peak {where}; mean {np.nanmean(delay_ns[inside]):.4g} ns"),
    ]


def _stability(step: SParametersStep, ntwk: skrf.Network, i: int, o: int,
               derived: dict[str, np.ndarray]) -> list[MetricResult]:
    """K and μ of the input/output 2-port (other ports terminated), over the whole sweep:
    an amplifier may oscillate out of band (reference §1.8)."""
    factors = na.stability(ntwk.subnetwork([i - 1, o - 1]))  # port 1 = input, 2 = output
    derived["k_factor"] = factors.k
    derived["mu"] = factors.mu
    f = np.asarray(ntwk.frequency.f, dtype=float)
    k = na.worst(factors.k, f, "min")
    mu = na.worst(factors.mu, f, "min")
    j = int(np.argmin(np.abs(f - k.frequency_hz))) if np.isfinite(k.frequency_hz) else 0
    sweep = band_text((float(f[0]), float(f[-1])))
    return [
        result(step, "k_factor_min", k.value, f"min at {ghz(k.frequency_hz)} over {sweep}; "
               f"|delta| = {factors.delta_abs[j]:.3g} there (stable: K > 1 and |delta| < 1)"),
        result(step, "mu_min", mu.value, f"min at {ghz(mu.frequency_hz)} over {sweep} "
               "(stable: mu > 1)"),
    ]


def _filter_metrics(step: SParametersStep, ntwk: skrf.Network, i: int, o: int
                    ) -> list[MetricResult]:
    spec = step.filter
    assert spec is not None
    passband = spec.passband.edges_hz
    il = na.passband_insertion_loss(ntwk, passband, o, i)
    out = [
        result(step, "passband_insertion_loss_db", il.value,
               f"min IL at {ghz(il.frequency_hz)} in passband {band_text(passband)}"),
        result(step, "passband_ripple_db", na.passband_ripple_db(ntwk, passband, o, i),
               f"peak-to-peak IL in passband {band_text(passband)}"),
    ]
    for entry in spec.rejection:
        where: Any = entry.frequency_hz if entry.frequency_hz is not None else entry.edges_hz
        rej = na.rejection(ntwk, where, passband, o, i)
        span = (ghz(entry.frequency_hz) if entry.frequency_hz is not None
                else band_text(entry.edges_hz))
        out.append(result(step, "rejection_db", rej.value,
                          f"IL(f) - min passband IL ({il.value:.3g} dB); least at "
                          f"{ghz(rej.frequency_hz)} in {span}", {"rejection": entry.name},
                          limit=entry.limit))
    return out

