"""The content of a per-run report, built once from a record and shared by the HTML and PDF.

`build_report(path)` reads the record with `benchbot.results.reader.open_record` (summary,
instruments, metrics, events) and `benchbot.plots` (figures), and turns everything into
display-ready text: numbers formatted with units, limits as "≥ 16.5", margins signed, conditions
as "3.55 GHz · Vds 5 V". Renderers only lay out what is here; they never read the record.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from benchbot.plots.data import StepData, json_dict, load_record, number_or_none
from benchbot.plots.render import step_figures
from benchbot.results.export import file_sha256
from benchbot.results.format import ABORTED, COMPLETED, ERROR, INTERRUPTED, PARTIAL_SUFFIX
from benchbot.results.reader import RecordSummary, StepSummary

#: resolution of the report's figures: 9 x 5.4 in figures -> 1080 x 648 px, sharp on A4 at 170 mm
FIGURE_DPI = 120
NOT_RECORDED = "not recorded"
#: calibration statuses that are in calibration (``expires_soon`` is still valid: a notice)
CALIBRATION_OK = frozenset({"valid", "expires_soon", "ok", "calibrated", "in calibration",
                            "current"})
#: event levels reported as deviations (info events are the normal course of a run)
DEVIATION_LEVELS = ("warning", "error", "critical")
#: verdict of a metric row without a limit: reported, not judged
NOT_JUDGED = "info"


@dataclass(frozen=True)
class MetricLine:
    """One row of a verdict table, every cell as display text."""

    metric: str
    condition: str
    value: str
    unit: str
    limit: str
    margin: str
    verdict: str  # pass / marginal / fail / error / aborted, or "info" (no limit)
    method: str
    limit_source: str = ""
    marginal: str = ""  # "marginal band 0.3 dB": inside the limit but this close is MARGINAL


@dataclass(frozen=True)
class FigureImage:
    """A rendered figure of a step: PNG bytes and its pixel size."""

    name: str
    caption: str
    png: bytes
    width_px: int
    height_px: int


@dataclass(frozen=True)
class StepSection:
    """One plan step: status, verdict, settings, verdict table, figures."""

    index: int
    name: str
    kind: str
    status: str
    verdict: str
    started_utc: str
    ended_utc: str
    settings: list[tuple[str, str]]
    metrics: list[MetricLine]
    limit_sources: list[tuple[str, str]]  # (source, the metrics judged against it)
    figures: list[FigureImage]
    counts: dict[str, int]  # verdict -> number of judged rows
    notes: list[str] = field(default_factory=list)  # e.g. VNA calibration in use

    @property
    def anchor(self) -> str:
        """HTML id of the step's section."""
        return f"step-{self.index:03d}"


@dataclass(frozen=True)
class InstrumentLine:
    """An instrument of the bench as the run identified it (*IDN?) and its calibration status."""

    role: str
    manufacturer: str
    model: str
    serial: str
    firmware: str
    options: str
    resource: str
    driver: str
    calibration: str
    calibration_ok: bool | None  # None: not recorded


@dataclass(frozen=True)
class Deviation:
    """An event of level warning/error (or a reader warning, or a step that did not complete)."""

    time_utc: str
    level: str
    step: str
    message: str


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows, as text (and figure PNGs)."""

    title: str
    subtitle: str
    record_name: str
    record_sha256: str
    record_size_bytes: int
    verdict: str
    status: str
    interrupted: bool  # aborted, error, or interrupted (.partial): results are incomplete
    interruption: str  # one prominent sentence saying what happened, "" for a completed run
    resumptions: list[str]  # one sentence per interruption the run was resumed from
    summary: list[tuple[str, str]]
    steps: list[StepSection]
    instruments: list[InstrumentLine]
    corrections: list[tuple[str, str]]  # path-loss tables, VNA cal sets
    conditions: list[tuple[str, str]]
    software: list[tuple[str, str]]
    deviations: list[Deviation]
    integrity: list[tuple[str, str]]
    info_events: int  # events not listed (level info)
    simulated: bool
    generated_utc: str
    generator: str

    @property
    def metric_count(self) -> int:
        """Rows over all verdict tables."""
        return sum(len(s.metrics) for s in self.steps)


def default_report_path(record_path: str | Path, suffix: str) -> Path:
    """``<record stem>_report<suffix>`` next to the record (``.h5``/``.partial`` removed)."""
    path = Path(record_path)
    name = path.name.removesuffix(PARTIAL_SUFFIX).removesuffix(".h5")
    return path.with_name(f"{name}_report{suffix}")




def build_report(record_path: str | Path, *, figures: bool = True,
                 figure_dpi: int = FIGURE_DPI) -> ReportContent:
    """The report content of one record (complete or `.partial`).

    `figures=False` skips rendering the plots (quick previews, tests of the tables only).
    """
    path = Path(record_path)
    sha = file_sha256(path)  # before reading: the hash is of the file as it is on disk
    record = load_record(path)
    s = record.summary
    steps = [_step_section(step, s, figures, figure_dpi, record) for step in record.steps]
    verdict = (s.verdict or ("aborted" if s.status == ABORTED else "error"
                             if s.status == ERROR else "none")).lower()
    interrupted = s.interrupted or s.status in (ABORTED, ERROR)
    deviations = _deviations(s)
    return ReportContent(
        title=f"Test report — {s.plan.get('name')} v{s.plan.get('version')}",
        subtitle=_dut_line(s.dut),
        record_name=path.name, record_sha256=sha, record_size_bytes=path.stat().st_size,
        verdict=verdict, status=s.status, interrupted=interrupted,
        interruption=_interruption(s, deviations) if interrupted else "",
        resumptions=[_resumption(row) for row in s.interruptions],
        summary=_summary_rows(s), steps=steps, instruments=_instruments(s),
        corrections=_corrections(s), conditions=_conditions(s),
        software=sorted((k, str(v)) for k, v in s.software.items()),
        deviations=deviations,
        integrity=[("record file", path.name), ("record SHA-256", sha),
                   ("record size", f"{path.stat().st_size:,} bytes"),
                   ("format version", s.format_version),
                   ("plan SHA-256", str(s.plan.get("sha256") or "-")),
                   ("bench SHA-256", str(s.bench.get("sha256") or "-"))],
        info_events=sum(1 for e in s.events if str(e.get("level")) not in DEVIATION_LEVELS),
        simulated=s.simulated,
        generated_utc=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        generator=f"benchbot {_version()}",
    )


# --------------------------------------------------------------------------------- summary
def _version() -> str:
    try:
        return metadata.version("benchbot")
    except metadata.PackageNotFoundError:
        return "unknown"


def _dut_line(dut: Mapping[str, Any]) -> str:
    kind = str(dut.get("kind") or "").replace("_", " ")
    return (f"DUT {dut.get('part_number', '-')} · serial {dut.get('serial', '-')}"
            + (f" · {kind}" if kind else ""))


def _time(text: Any) -> str:
    """'2026-11-24T02:53:59.484097Z' -> '2026-11-24 02:53:59 UTC'."""
    if not text:
        return "-"
    t = str(text)
    return t[:19].replace("T", " ") + " UTC" if len(t) >= 19 and t[10] == "T" else t


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, sec = divmod(float(seconds), 60.0)
    return f"{int(minutes)} min {sec:.0f} s" if minutes >= 1 else f"{sec:.1f} s"


def _summary_rows(s: RecordSummary) -> list[tuple[str, str]]:
    dut = s.dut
    rows = [
        ("plan", f"{s.plan.get('name')} version {s.plan.get('version')}"),
        ("DUT", f"{dut.get('part_number', '-')}, serial {dut.get('serial', '-')}"),
    ]
    if dut.get("kind"):
        rows.append(("DUT kind", str(dut["kind"]).replace("_", " ")))
    if dut.get("description"):
        rows.append(("DUT description", str(dut["description"])))
    plan = _plan(s)
    if plan.get("description"):
        rows.append(("plan description", str(plan["description"])))
    description = s.meta.get("description")
    if description:
        rows.append(("run description", str(description)))
    rows += [
        ("bench", str(s.bench.get("name") or "-")),
        ("bench type", "hardware" if not s.simulated else "SIMULATED" + (
            "" if s.simulator_seed is None else f" (simulator seed {s.simulator_seed})")),
        ("operator", s.operator or "-"),
        ("host", s.host or "-"),
        ("started", _time(s.started_utc)),
        ("ended", _time(s.ended_utc)),
        ("duration", _duration(s.duration_s)),
        ("status", s.status),
        ("run id", s.run_id),
    ]
    extra = {k.removeprefix("extra."): v for k, v in s.meta.items() if k.startswith("extra.")}
    rows += [(k.replace("_", " "), str(v)) for k, v in sorted(extra.items())]
    return rows


def _interruption(s: RecordSummary, deviations: list[Deviation]) -> str:
    errors = [d.message for d in deviations if d.level in ("error", "critical")]
    reason = f" Reason: {errors[-1]}" if errors else ""
    unfinished = [st.name for st in s.steps if st.status != COMPLETED]
    steps = f" Steps not completed: {', '.join(unfinished)}." if unfinished else ""
    if s.status == ABORTED:
        head = "RUN ABORTED — the run was stopped before the end of the plan; results are " \
               "incomplete."
    elif s.status == ERROR:
        head = "RUN ENDED WITH AN ERROR — results are incomplete."
    else:
        head = ("RUN INTERRUPTED — the record was never closed (process killed or power lost); "
                "it holds only what was stored before the interruption.")
    return head + steps + reason


def _resumption(row: Mapping[str, Any]) -> str:
    """One /interruptions row as a sentence a customer can read."""
    kept = int(row.get("rows_kept") or 0)
    step = str(row.get("step") or "")
    where = (f"during step {step.split('_', 1)[-1]} ({kept} committed row(s) kept, the rest "
             "measured again)" if step else "between steps")
    return (f"Interrupted {where}: {row.get('note') or row.get('interrupted_status')}. Last "
            f"record activity {_time(row.get('last_activity_utc'))}, resumed "
            f"{_time(row.get('resumed_utc'))} on the same instruments and corrections after "
            "the bench state was re-established.")


def _deviations(s: RecordSummary) -> list[Deviation]:
    out = [Deviation(_time(e.get("time_utc")), str(e.get("level")), str(e.get("step") or ""),
                     str(e.get("message") or "")) for e in s.events
           if str(e.get("level")) in DEVIATION_LEVELS]
    out += [Deviation("-", "warning", "", w) for w in s.warnings]
    out += [Deviation(_time(st.ended_utc), "warning", st.name, f"step status: {st.status}")
            for st in s.steps if st.status != COMPLETED]
    return out


# ----------------------------------------------------------------------------- instruments
def _instruments(s: RecordSummary) -> list[InstrumentLine]:
    out = []
    for role, a in s.instruments.items():
        calibration, ok = _calibration(a)
        out.append(InstrumentLine(
            role=str(a.get("role", role)), manufacturer=str(a.get("idn.manufacturer", "-")),
            model=str(a.get("idn.model", "-")), serial=str(a.get("idn.serial", "-")),
            firmware=str(a.get("idn.firmware", "-")), options=str(a.get("idn.options") or ""),
            resource=str(a.get("resource", "-")), driver=str(a.get("driver", "-")),
            calibration=calibration, calibration_ok=ok))
    return out


def _calibration(attrs: Mapping[str, Any]) -> tuple[str, bool | None]:
    """Calibration status from `calibration.*` attributes of an instrument group.

    The lab calibration inventory (issue 6 part 2) will write these; a record without them
    says "not recorded" rather than implying a status. Known keys: status, due, certificate;
    any others are listed as they are.
    """
    cal = {k.removeprefix("calibration."): v for k, v in attrs.items()
           if k.startswith("calibration.")}
    if not cal:
        return NOT_RECORDED, None
    status = str(cal.pop("status", "")).strip()
    parts = [status] if status else []
    if "due" in cal:
        parts.append(f"due {cal.pop('due')}")
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in sorted(cal.items())]
    ok = None
    if status:
        ok = status.lower() in CALIBRATION_OK
    return ", ".join(parts), ok


def _corrections(s: RecordSummary) -> list[tuple[str, str]]:
    """Every correction the run applied (`corrections_json`: kind, role, source, SHA-256 of
    the source file or identity), path-loss spans from their tables, and each S-parameter
    step's VNA calibration as it was checked."""
    rows = []
    listed = [c for c in _json_list(s.meta.get("corrections_json")) if isinstance(c, dict)]
    for c in listed:
        kind, role = str(c.get("kind", "")), str(c.get("role", ""))
        detail = _path_loss_span(s.path_loss.get(role, {})) if kind == "path_loss" else ""
        digest = str(c.get("sha256") or "-")
        rows.append((f"{kind.replace('_', ' ')} · {role}",
                     f"{detail}source {c.get('source', '-')}; sha256 {digest[:16]}…"))
    if not listed:  # records before corrections_json: the tables themselves
        for role, table in s.path_loss.items():
            rows.append((f"path loss · {table.get('role', role)}",
                         f"{_path_loss_span(table)}source {table.get('source', '-')}; "
                         f"sha256 {str(table.get('sha256', '-'))[:16]}… (of the table)"))
    for st in s.steps:
        cal = json_dict(st.attrs.get("vna_calibration"))
        if cal:
            rows.append((f"VNA calibration · step {st.name}", _vna_cal_text(cal)))
    return rows


def _json_list(text: Any) -> list[Any]:
    """A JSON array stored as text; [] for anything else."""
    try:
        value = json.loads(text) if isinstance(text, str) and text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _path_loss_span(table: Mapping[str, Any]) -> str:
    freqs = table.get("frequency_hz") or []
    losses = table.get("loss_db") or []
    if not freqs:
        return ""
    return (f"{len(freqs)} points, {min(freqs) / 1e9:.4g}–{max(freqs) / 1e9:.4g} GHz, "
            f"{min(losses):.2f}–{max(losses):.2f} dB; ")


def _vna_cal_text(cal: Mapping[str, Any]) -> str:
    state = "corrected" if cal.get("corrected") else "UNCORRECTED"
    text = f"{state}; cal set {cal.get('cal_set') or '-'} ({cal.get('cal_type') or '-'})"
    ports = cal.get("measured_ports")
    if ports:
        text += f"; measured ports {', '.join(str(p) for p in ports)}"
    if cal.get("uncalibrated_ports"):
        text += f"; UNCALIBRATED ports {', '.join(str(p) for p in cal['uncalibrated_ports'])}"
    return text


# ------------------------------------------------------------------------------ conditions
def _conditions(s: RecordSummary) -> list[tuple[str, str]]:
    """Plan conditions (ambient, bias, supplies) and each step's own bias/conditions."""
    rows = _flatten(_plan(s).get("conditions") or {})
    for st in s.steps:
        for key in ("bias", "conditions", "state"):
            value = st.settings.get(key)
            if value not in (None, {}, []):
                rows += [(f"step {st.name} · {label}", text)
                         for label, text in _flatten({key: value})]
    return rows or [("conditions", "none stated in the plan")]


def _plan(s: RecordSummary) -> dict[str, Any]:
    """The plan as stored verbatim in the record ({} when absent or unreadable)."""
    try:
        plan = yaml.safe_load(s.plan_text) if s.plan_text else {}
    except yaml.YAMLError:
        return {}
    return plan if isinstance(plan, dict) else {}


def _flatten(value: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, item in value.items():
        label = f"{prefix}{_label(str(key))}"
        if isinstance(item, Mapping):
            if all(not isinstance(v, Mapping | list) for v in item.values()):
                rows.append((label, _inline(item)))
            else:
                rows += _flatten(item, f"{label} · ")
        elif isinstance(item, list) and all(isinstance(v, Mapping) for v in item):
            for i, entry in enumerate(item):
                name = entry.get("name", i + 1)
                rows.append((f"{label} · {name}",
                             _inline({k: v for k, v in entry.items() if k != "name"})))
        else:
            rows.append((label, _quantity(str(key), item)))
    return rows


def _inline(item: Mapping[str, Any]) -> str:
    return ", ".join(f"{_label(str(k))} {_quantity(str(k), v)}" for k, v in item.items()
                     if v is not None)


#: name suffix -> unit shown, for plan settings and metric conditions named in SI
_SUFFIX_UNITS = (("_v_per_s", "V/s"), ("_a_per_mm", "A/mm"), ("_k_per_w", "K/W"), ("_dbm", "dBm"),
                 ("_db", "dB"), ("_hz", "Hz"), ("_v", "V"), ("_a", "A"), ("_w", "W"),
                 ("_s", "s"), ("_c", "°C"), ("_mm", "mm"), ("_pct", "%"), ("_deg", "°"))


def _label(key: str) -> str:
    for suffix, _ in _SUFFIX_UNITS:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def _quantity(key: str, value: Any) -> str:
    unit = next((u for suffix, u in _SUFFIX_UNITS if key.endswith(suffix)), "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_quantity(key, v) for v in value)
    if not isinstance(value, int | float):
        return str(value)
    return _with_unit(float(value), unit)


def _with_unit(value: float, unit: str) -> str:
    if unit == "Hz":
        factor, prefix = next(((f, p) for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k"))
                               if abs(value) >= f), (1.0, ""))
        return f"{value / factor:.6g} {prefix}Hz"
    if unit in ("A", "V", "W", "s", "A/mm") and value != 0 and abs(value) < 0.1:
        factor, prefix = _si_prefix(abs(value))
        return f"{value / factor:.4g} {prefix}{unit}"
    sep = "" if unit in ("°", "%", "") else " "
    return f"{value:.6g}{sep}{unit}"


def _si_prefix(magnitude: float) -> tuple[float, str]:
    for factor, prefix in ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if magnitude >= factor * 0.9995:
            return factor, prefix
    return 1e-15, "f"


# -------------------------------------------------------------------------------- steps
def _step_section(step: StepData, s: RecordSummary, figures: bool, dpi: int,
                  record: Any) -> StepSection:
    summary = step.summary
    lines = [_metric_line(row) for row in summary.metrics]
    counts: dict[str, int] = {}
    for line in lines:
        if line.verdict != NOT_JUDGED:
            counts[line.verdict] = counts.get(line.verdict, 0) + 1
    by_source: dict[str, list[str]] = {}
    for ln in lines:
        if ln.limit_source and ln.metric not in by_source.setdefault(ln.limit_source, []):
            by_source[ln.limit_source].append(ln.metric)
    sources = [(source, ", ".join(metrics)) for source, metrics in by_source.items()]
    images = _figures(record, step, dpi) if figures else []
    notes = []
    cal = json_dict(summary.attrs.get("vna_calibration"))
    if cal:
        notes.append("VNA calibration: " + _vna_cal_text(cal))
    if summary.status != COMPLETED:
        notes.append(f"Step status {summary.status.upper()}: its data and metrics are "
                     "incomplete.")
    verdict = summary.verdict or ("aborted" if summary.status == ABORTED else
                                  "error" if summary.status == ERROR else
                                  INTERRUPTED if summary.status == INTERRUPTED else "none")
    return StepSection(
        index=summary.index, name=summary.name, kind=summary.kind, status=summary.status,
        verdict=str(verdict).lower(), started_utc=_time(summary.started_utc),
        ended_utc=_time(summary.ended_utc), settings=_settings(summary),
        metrics=lines, limit_sources=sources, figures=images, counts=counts, notes=notes)


#: plan-step settings shown in full elsewhere (limits: in the verdict table; masks: on the plots)
_SETTINGS_HIDDEN = {"name", "kind", "limits", "masks", "bias", "conditions", "state"}


def _settings(summary: StepSummary) -> list[tuple[str, str]]:
    rows = []
    for key, value in summary.settings.items():
        if key in _SETTINGS_HIDDEN or value in (None, {}, []):
            continue
        rows.append((_label(key), _setting_text(key, value)))
    return rows


def _setting_text(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        if {"start", "stop", "step"} <= value.keys() or {"start_v", "stop_v"} <= value.keys():
            start = value.get("start", value.get("start_v"))
            stop = value.get("stop", value.get("stop_v"))
            step = value.get("step", value.get("step_v"))
            return (f"{_quantity(key, start)} to {_quantity(key, stop)} in steps of "
                    f"{_quantity(key, step)}")
        return _inline(value)
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            return "; ".join(_inline(v) for v in value)
        if len(value) > 12:
            return f"{len(value)} values, {_quantity(key, value[0])} … {_quantity(key, value[-1])}"
    return _quantity(key, value)


def _figures(record: Any, step: StepData, dpi: int) -> list[FigureImage]:
    out = []
    for name, fig in step_figures(record, step):
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
        png = buffer.getvalue()
        # PNG IHDR: width and height are the big-endian uint32 at bytes 16..24
        width, height = struct.unpack(">II", png[16:24])
        out.append(FigureImage(name, _figure_caption(step, name), png, width, height))
    return out


def _figure_caption(step: StepData, name: str) -> str:
    return f"Step {step.name}: {name.replace('_', ' ')}"


# --------------------------------------------------------------------------------- metrics
#: units as a customer reads them
_UNIT_TEXT = {"Ohm": "Ω", "Ohm*mm": "Ω·mm", "ohm": "Ω", "1": "", "deg": "°"}
#: units scaled for display (the record keeps SI): unit -> SI prefixes applied by magnitude
_SCALED_UNITS = {"A", "A/mm", "S", "S/mm", "V", "W", "s", "F", "H", "Hz"}


def _metric_line(row: Mapping[str, Any]) -> MetricLine:
    unit = str(row.get("unit") or "")
    value, lo, hi = (number_or_none(row.get(key)) for key in ("value", "min", "max"))
    factor, shown_unit = _display_scale(unit, [v for v in (value, lo, hi) if v is not None])
    has_limit = lo is not None or hi is not None
    verdict = str(row.get("verdict") or "").lower() if has_limit else NOT_JUDGED
    margin = number_or_none(row.get("margin"))
    marginal = number_or_none(row.get("marginal"))
    limit = _limit_text(lo, hi, factor)
    band = ""
    if has_limit and marginal:
        band = f"marginal band {marginal:g}" + (" dB" if unit.startswith("dB") else "")
    method = str(row.get("method") or "")
    note = str(row.get("note") or "")
    method = f"{method}; {note}" if method and note else method or note
    return MetricLine(
        metric=str(row.get("metric", "")), condition=_condition_text(row.get("condition")),
        value="no value" if value is None else _number(value / factor),
        unit=shown_unit, limit=limit,
        margin="" if margin is None or not has_limit else f"{margin / factor:+.3g}",
        verdict=verdict or NOT_JUDGED, method=method,
        limit_source=str(row.get("limit_source") or "") if has_limit else "", marginal=band)


def _display_scale(unit: str, values: Iterable[float]) -> tuple[float, str]:
    text = _UNIT_TEXT.get(unit, unit)
    if unit not in _SCALED_UNITS:
        return 1.0, text
    magnitudes = [abs(v) for v in values if v != 0 and math.isfinite(v)]
    if not magnitudes:
        return 1.0, text
    biggest = max(magnitudes)
    if unit == "Hz":
        factor, prefix = next(((f, p) for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k"))
                               if biggest >= f), (1.0, ""))
        return factor, prefix + text
    if biggest >= 0.1:
        return 1.0, text
    factor, prefix = _si_prefix(biggest)
    return factor, prefix + text


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.4g}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def _limit_text(lo: float | None, hi: float | None, factor: float) -> str:
    if lo is None and hi is None:
        return ""
    if lo is not None and hi is not None:
        return f"{lo / factor:g} … {hi / factor:g}"
    return f"≥ {lo / factor:g}" if lo is not None else f"≤ {hi / factor:g}"  # type: ignore[operator]


def _condition_text(text: Any) -> str:
    condition = json_dict(text)
    if not condition:
        return "whole step"
    parts = []
    for key, value in condition.items():
        if key == "frequency_hz" and isinstance(value, int | float):
            parts.append(_with_unit(float(value), "Hz"))
        elif key in ("path", "state", "quiescent_point", "port", "mode"):
            parts.append(f"{key.replace('_', ' ')} {value}")
        else:
            name = _CONDITION_NAMES.get(key, _label(key))
            parts.append(f"{name} {_quantity(key, value)}")
    return " · ".join(parts)


#: condition keys by the symbols an RF / device engineer reads
_CONDITION_NAMES = {"drain_voltage_v": "Vds", "gate_voltage_v": "Vgs",
                    "output_power_dbm": "Pout", "input_power_dbm": "Pin"}


