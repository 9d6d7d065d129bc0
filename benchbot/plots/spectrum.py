"""Spectrum trace figures: a modulated carrier with its SEM mask and ACLR channels shaded, or a CW
output spectrum with its harmonics marked.

The SEM is evaluated on the stored trace with `benchbot.analysis.sem.evaluate_sem`
(integration-bandwidth method) so the plotted mask, the MBW-integrated power and the worst
margin are the judged quantities; both are in dBm per *measurement* bandwidth, while the raw
trace is in dBm per RBW (the legend says which is which). A trace stored at the analyzer input
(attribute ``reference_plane``) is moved to the DUT output plane with the record's analyzer
path-loss table before anything is compared with an absolute limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchbot.analysis.nr_bands import AclrParams, bs_nr_aclr, ue_nr_aclr
from benchbot.analysis.sem import (
    SemMask,
    SemResult,
    bs_obue_mask,
    evaluate_sem,
    ue_sem_mask,
)
from benchbot.plots.data import RecordData, StepData, Trace
from benchbot.plots.style import (
    LIMIT_STYLE,
    frequency_label,
    legend_outside,
    new_figure,
    title,
    wrap,
)

ANALYZER_ROLE = "signal_analyzer"
MAIN_SHADE = {"color": "#009E73", "alpha": 0.16, "linewidth": 0}
ADJ_SHADE = ({"color": "#0072B2", "alpha": 0.13, "linewidth": 0},
             {"color": "#E69F00", "alpha": 0.15, "linewidth": 0})
RMS_DETECTORS = ("rms", "average", "aver", "avg")


@dataclass(frozen=True)
class Carrier:
    """What the figure knows about the signal in a trace."""

    frequency_hz: float
    channel_bandwidth_hz: float | None
    scs_khz: int | None
    requirement: str = "bs"  # "bs" (TS 38.104) or "ue" (TS 38.101-1)
    power_class: int = 3


def figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """One figure per stored power-vs-frequency trace of the step."""
    out = []
    for trace in step.traces:
        if trace.x_units != "Hz" or trace.y_units != "dBm" or trace.y.ndim != 1:
            continue
        carrier = carrier_of(trace, step)
        if carrier is None:
            continue
        if carrier.channel_bandwidth_hz:
            out.append((f"spectrum_{trace.name}", modulated_figure(record, step, trace, carrier)))
        else:
            out.append((f"spectrum_{trace.name}", cw_figure(record, step, trace, carrier)))
    return out


# ------------------------------------------------------------------------------ metadata
def _first(sources: list[dict[str, Any]], *keys: str) -> Any:
    for source in sources:
        for key in keys:
            if source.get(key) not in (None, ""):
                return source[key]
    return None


def carrier_of(trace: Trace, step: StepData) -> Carrier | None:
    """Carrier frequency, channel bandwidth and SCS from the trace attributes or step settings."""
    settings = step.settings
    sources = [trace.attrs, settings, settings.get("waveform") or {}]
    f_hz = _first(sources, "carrier_frequency_hz", "frequency_hz", "center_frequency_hz",
                  "center_hz")
    if f_hz is None:
        return None
    bw_hz = _first(sources, "channel_bandwidth_hz")
    if bw_hz is None:
        bw_mhz = _first(sources, "channel_bandwidth_mhz", "bandwidth_mhz")
        bw_hz = None if bw_mhz is None else float(bw_mhz) * 1e6
    scs = _first(sources, "scs_khz", "subcarrier_spacing_khz")
    if scs is None:
        scs_hz = _first(sources, "subcarrier_spacing_hz", "scs_hz")
        scs = None if scs_hz is None else round(float(scs_hz) / 1e3)
    aclr = settings.get("aclr") or {}
    return Carrier(float(f_hz), None if bw_hz is None else float(bw_hz),
                   None if scs is None else int(scs), str(aclr.get("requirement", "bs")),
                   int(aclr.get("power_class", 3)))


def plane_correction(record: RecordData, trace: Trace) -> tuple[np.ndarray, str]:
    """(dB to add at each trace point, text) that move a trace to the DUT output plane.

    A trace stored at the analyzer input gets the record's analyzer path-loss table
    interpolated at every point (harmonics see their own loss); without a table, the scalar
    ``output_path_loss_db`` the step stored with the trace, if any.
    """
    zero = np.zeros(trace.x.shape)
    plane = str(trace.attrs.get("reference_plane", ""))
    if "analyzer" not in plane.lower():
        return zero, "as stored" + (f" ({plane})" if plane else "")
    role = str(trace.attrs.get("role", ANALYZER_ROLE))
    table = record.path_loss_table(role)
    if table is not None:
        f_tab, loss_tab = table
        loss = np.interp(trace.x, f_tab, loss_tab)
        text = (f"DUT output plane (analyzer reading + {role} path loss, "
                f"{loss.min():.2f}-{loss.max():.2f} dB over the span)")
        if trace.x[0] < f_tab[0] or trace.x[-1] > f_tab[-1]:
            text += "; loss held constant outside its table"
        return loss, text
    stored = _num(trace.attrs.get("output_path_loss_db"))
    if stored is not None:
        return zero + stored, (f"DUT output plane (analyzer reading + {stored:.2f} dB output "
                               "path loss at the carrier)")
    return zero, f"{plane}; no '{role}' path-loss table in the record: NOT corrected"


def sem_mask_for(step: StepData, carrier: Carrier) -> SemMask:
    """The step's mask: setting ``sem_mask`` (bs_cat_a, bs_cat_b, ue) if given, else the UE SEM
    for a UE ACLR requirement and the BS Wide Area Category A OBUE mask otherwise."""
    default = "ue" if carrier.requirement == "ue" else "bs_cat_a"
    choice = str(step.settings.get("sem_mask") or default).lower()
    if choice == "ue" and carrier.channel_bandwidth_hz:
        return ue_sem_mask(round(carrier.channel_bandwidth_hz / 1e6))
    return bs_obue_mask("B" if choice.endswith("b") else "A")


def aclr_params(step: StepData, carrier: Carrier) -> AclrParams | None:
    """ACLR channels of the step's requirement (TS 38.104 Table 6.6.3.5.2-1 for a BS, 38.101-1
    Table 6.5.2.4.1-1 for a UE) when the channel bandwidth and SCS are known."""
    if not carrier.channel_bandwidth_hz or carrier.scs_khz is None:
        return None
    bw_mhz = round(carrier.channel_bandwidth_hz / 1e6)
    try:
        if carrier.requirement == "ue":
            return ue_nr_aclr(bw_mhz, carrier.scs_khz, carrier.power_class)
        return bs_nr_aclr(bw_mhz, carrier.scs_khz)
    except ValueError:
        return None


# ------------------------------------------------------------------------------ modulated
def modulated_figure(record: RecordData, step: StepData, trace: Trace, carrier: Carrier
                     ) -> Figure:
    """Trace around the carrier, ACLR channels shaded, SEM limit, MBW power and worst margin."""
    bw = float(carrier.channel_bandwidth_hz or 0.0)
    shift_db, plane_text = plane_correction(record, trace)
    power = trace.y.astype(float) + shift_db
    offset_mhz = (trace.x - carrier.frequency_hz) / 1e6
    fig, (ax,) = new_figure(width_in=10.5, height_in=5.6)
    rbw = _num(trace.attrs.get("rbw_hz"))
    ax.plot(offset_mhz, power, color="0.25", linewidth=0.8, zorder=2,
            label=f"trace, dBm / {_bw(rbw)} RBW ({_detector(trace)})")
    _shade_channels(ax, step, carrier)
    mask = sem_mask_for(step, carrier)
    result = None
    if rbw:
        result = evaluate_sem(trace.x, power, rbw, carrier.frequency_hz, bw, mask)
        _draw_sem(ax, result, carrier.frequency_hz)
    ax.set_xlim(*_zoom(offset_mhz, bw, mask))
    ax.set_xlabel(f"Frequency offset from carrier {frequency_label(carrier.frequency_hz)} (MHz)")
    ax.set_ylabel("Power (dBm in the bandwidth stated in the legend)")
    title(fig, record, step, f"Spectrum and SEM ({mask.name})",
          f"{frequency_label(carrier.frequency_hz)}, {bw / 1e6:g} MHz channel")
    legend_outside(fig, ax=ax, caption=_caption(plane_text, result, trace))
    return fig


def _shade_channels(ax: Axes, step: StepData, carrier: Carrier) -> None:
    params = aclr_params(step, carrier)
    if params is None:
        return
    offsets = np.asarray(step.axes.get("aclr_offset_hz", params.offsets_hz), dtype=float)
    half_main, half_adj = params.main_mbw_hz / 2e6, params.adjacent_mbw_hz / 2e6
    ax.axvspan(-half_main, half_main, label=f"main channel, {params.main_mbw_hz / 1e6:g} MHz "
               "BW_Config", zorder=0, **MAIN_SHADE)
    for k, off in enumerate(offsets):
        style = ADJ_SHADE[k % len(ADJ_SHADE)]
        c = off / 1e6
        ax.axvspan(c - half_adj, c + half_adj, zorder=0,
                   label=f"ACLR{k + 1} channels, ±{c:g} MHz ({params.adjacent_mbw_hz / 1e6:g} MHz)",
                   **style)
        ax.axvspan(-c - half_adj, -c + half_adj, zorder=0, **style)


def _draw_sem(ax: Axes, result: SemResult, carrier_hz: float) -> None:
    _draw_mask(ax, result)
    power_label = "power in MBW (sliding), dBm / MBW"
    for seg in result.segments:
        if seg.power_dbm.size:
            ax.plot((seg.frequency_hz - carrier_hz) / 1e6, seg.power_dbm, color="#CC79A7",
                    linewidth=1.3, zorder=3, label=power_label)
            power_label = "_"
    worst = result.worst
    if worst is None:
        return
    xw = (result.worst_frequency_hz - carrier_hz) / 1e6
    color = "tab:red" if result.worst_margin_db < 0 else "tab:green"
    ax.plot([xw], [worst.worst_power_dbm], marker="v", markersize=9, color=color, zorder=6,
            linestyle="none", label=f"worst margin {result.worst_margin_db:+.2f} dB")
    above = result.worst_margin_db < 0  # text on the side away from the limit line
    ax.annotate(f"{result.worst_margin_db:+.2f} dB\n@ {result.worst_frequency_hz / 1e9:.6f} GHz",
                (xw, worst.worst_power_dbm), xytext=(0, 12 if above else -10),
                textcoords="offset points", ha="center", va="bottom" if above else "top",
                fontsize=7.5, color=color)


def _draw_mask(ax: Axes, result: SemResult) -> None:
    """The mask as one stepped line per side over the offsets each row's table states (broken
    where the table leaves a gap); the MBW of each row written once above it."""
    half_bw_mhz = result.channel_bandwidth_hz / 2e6
    offsets, limits = _mask_polyline(result.mask)
    label = wrap(f"SEM limit, dBm / MBW\n({result.mask.source})")
    for sign in (-1.0, 1.0):
        ax.plot(sign * (half_bw_mhz + offsets / 1e6), limits, zorder=4, label=label,
                **LIMIT_STYLE)
        label = "_"
    for seg in result.mask.segments:
        lo, hi = seg.display_range_hz
        y = float(np.mean(seg.limit_dbm_at(np.clip([lo, hi], seg.start_hz, seg.stop_hz))))
        ax.annotate(f"/{_bw(seg.mbw_hz)}", (half_bw_mhz + (lo + hi) / 2e6, y), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7,
                    color="tab:red",
                    bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 0.5})


def _mask_polyline(mask: SemMask) -> tuple[np.ndarray, np.ndarray]:
    """(offset Hz, limit dBm) vertices of the mask from the channel edge outwards; NaN breaks."""
    xs: list[float] = []
    ys: list[float] = []
    for seg in sorted(mask.segments, key=lambda s: s.display_range_hz[0]):
        lo, hi = seg.display_range_hz
        if xs and lo > xs[-1] + 1.0:  # a gap in the table: no line across it
            xs.append(math.nan)
            ys.append(math.nan)
        xs += [lo, hi]
        ys += list(seg.limit_dbm_at(np.clip([lo, hi], seg.start_hz, seg.stop_hz)))
    return np.asarray(xs), np.asarray(ys)


def _zoom(offset_mhz: np.ndarray, bw: float, mask: SemMask) -> tuple[float, float]:
    reach = (bw / 2 + mask.max_offset_hz) / 1e6 * 1.04
    return max(float(offset_mhz[0]), -reach), min(float(offset_mhz[-1]), reach)


def _caption(plane_text: str, result: SemResult | None, trace: Trace) -> str:
    lines = [f"reference plane: {plane_text}"]
    if result is None:
        lines.append("no RBW stored with the trace: SEM not evaluated")
    else:
        verdict = "PASS" if result.passed else ("INCOMPLETE" if not result.complete else "FAIL")
        lines.append(f"SEM {verdict}: worst margin {result.worst_margin_db:+.2f} dB")
        if not result.complete:
            lines.append("trace span does not cover the whole mask")
        lines += [n for n in result.notes if "not fully inside" not in n]
    if not _rms(trace):
        lines.append(f"detector {_detector(trace)}: not RMS, integrated powers are biased")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CW
def cw_figure(record: RecordData, step: StepData, trace: Trace, carrier: Carrier) -> Figure:
    """Whole stored span (e.g. carrier to H3) in GHz, carrier and harmonics labelled in dBc."""
    shift_db, plane_text = plane_correction(record, trace)
    power = trace.y.astype(float) + shift_db
    fig, (ax,) = new_figure()
    rbw = _num(trace.attrs.get("rbw_hz"))
    ax.plot(trace.x / 1e9, power, color="0.2", linewidth=0.9,
            label=f"trace, dBm / {_bw(rbw)} RBW ({_detector(trace)})")
    levels = _harmonic_levels(trace.x, power, carrier.frequency_hz, rbw or 0.0)
    fundamental = levels.get(1)
    for n, (f_hz, p_dbm) in sorted(levels.items()):
        text = _harmonic_text(n, p_dbm, None if fundamental is None else fundamental[1])
        ax.plot([f_hz / 1e9], [p_dbm], marker="v", color="#0072B2", markersize=7,
                linestyle="none")
        ax.annotate(text, (f_hz / 1e9, p_dbm), xytext=(0, 8), textcoords="offset points",
                    ha="center", fontsize=8, color="#0072B2")
    ax.set_xlabel("Frequency (GHz)")
    ax.set_ylabel(f"Power (dBm / {_bw(rbw)} RBW)")
    ax.set_ylim(top=max(power.max() + 12.0, ax.get_ylim()[1]))
    drive = _num(trace.attrs.get("generator_power_dbm"))
    where = frequency_label(carrier.frequency_hz) + (
        f", generator {drive:g} dBm" if drive is not None else "")
    title(fig, record, step, "Output spectrum and harmonics", where)
    legend_outside(fig, ax=ax, caption=f"reference plane: {plane_text}")
    return fig


def _harmonic_text(n: int, p_dbm: float, fundamental_dbm: float | None) -> str:
    if n == 1:
        return f"f0 {p_dbm:.1f} dBm"
    if fundamental_dbm is None:
        return f"H{n} {p_dbm:.1f} dBm"
    return f"H{n} {p_dbm - fundamental_dbm:.1f} dBc"


def _harmonic_levels(f: np.ndarray, p: np.ndarray, f0: float, rbw: float
                     ) -> dict[int, tuple[float, float]]:
    """Peak (frequency, dBm) within ±max(2 RBW, 2 bins) of n*f0 for harmonics in the span."""
    if f.size < 2:
        return {}
    window = max(2.0 * rbw, 2.0 * abs(float(f[1] - f[0])))
    out = {}
    for n in range(1, 6):
        sel = np.abs(f - n * f0) <= window
        if sel.any():
            i = int(np.flatnonzero(sel)[np.argmax(p[sel])])
            out[n] = (float(f[i]), float(p[i]))
    return out


# ------------------------------------------------------------------------------ helpers
def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _bw(hz: float | None) -> str:
    if hz is None:
        return "? Hz"
    return f"{hz / 1e6:g} MHz" if hz >= 1e6 else f"{hz / 1e3:g} kHz"


def _detector(trace: Trace) -> str:
    return str(trace.attrs.get("detector", "detector unknown"))


def _rms(trace: Trace) -> bool:
    return str(trace.attrs.get("detector", "rms")).lower() in RMS_DETECTORS
