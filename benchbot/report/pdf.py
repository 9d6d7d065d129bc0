"""The report as a PDF (A4 portrait) with the same content as the HTML page.

Laid out with reportlab (BSD licence, pure Python wheels, no system libraries; weasyprint
would need Pango/cairo). Text is set in DejaVu Sans, taken from matplotlib's own font files
(matplotlib is a dependency already), because the PDF base-14 fonts have no ≥, ≤, Ω or µ
in their encoding. Every page carries the record name, the start of its SHA-256 and
"page N of M"; every step starts on a new page; figures are never split.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from benchbot.report.content import ReportContent, StepSection

PAGE_W, PAGE_H = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 14 * mm, 18 * mm, 16 * mm
TEXT_W = PAGE_W - 2 * MARGIN_X
#: at most this tall, so two figures share a page (A4 text height is ~263 mm)
FIGURE_MAX_H = 118 * mm

VERDICT_COLORS = {
    "pass": colors.HexColor("#1a7f37"), "marginal": colors.HexColor("#9a6700"),
    "fail": colors.HexColor("#c62828"), "error": colors.HexColor("#8e1b5c"),
    "aborted": colors.HexColor("#8e1b5c"), "interrupted": colors.HexColor("#8e1b5c"),
    "none": colors.HexColor("#8e1b5c"), "info": colors.HexColor("#57606a"),
}
ROW_BACKGROUNDS = {"fail": colors.HexColor("#fdecea"), "marginal": colors.HexColor("#fff4d6"),
                   "error": colors.HexColor("#f8e6f0"), "aborted": colors.HexColor("#f8e6f0")}
LINE = colors.HexColor("#d0d7de")
HEAD = colors.HexColor("#f3f5f7")
ALERT_BG, ALERT_FG = colors.HexColor("#fbeaf2"), colors.HexColor("#5c0f38")
FONT, BOLD, MONO = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"


@cache
def _fonts() -> None:
    """Register DejaVu Sans (regular, bold, mono) from matplotlib's bundled TTF files."""
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in ((FONT, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"),
                       (MONO, "DejaVuSansMono.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(ttf / file)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


@cache
def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=11.5)
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontName=BOLD, fontSize=17, leading=21),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=10.5, leading=13,
                                   textColor=colors.HexColor("#444444")),
        "h2": ParagraphStyle("h2", base, fontName=BOLD, fontSize=13, leading=16, spaceBefore=10,
                             spaceAfter=4),
        "h3": ParagraphStyle("h3", base, fontName=BOLD, fontSize=10.5, leading=13,
                             spaceBefore=6, spaceAfter=3),
        "small": ParagraphStyle("small", base, fontSize=7.5, leading=9.5,
                                textColor=colors.HexColor("#57606a")),
        "cell": ParagraphStyle("cell", base, fontSize=7.5, leading=9.2),
        "cell_b": ParagraphStyle("cell_b", base, fontName=BOLD, fontSize=7.5, leading=9.2),
        "cell_r": ParagraphStyle("cell_r", base, fontSize=7.5, leading=9.2, alignment=TA_RIGHT),
        "cell_m": ParagraphStyle("cell_m", base, fontSize=6.5, leading=8,
                                 textColor=colors.HexColor("#444444")),
        "mono": ParagraphStyle("mono", base, fontName=MONO, fontSize=7.5, leading=9.2),
        "alert": ParagraphStyle("alert", base, fontName=BOLD, fontSize=10, leading=13,
                                textColor=ALERT_FG),
        "badge": ParagraphStyle("badge", base, fontName=BOLD, fontSize=15, leading=18,
                                textColor=colors.white, alignment=1),
        "caption": ParagraphStyle("caption", base, fontSize=7.5, leading=9.5,
                                  textColor=colors.HexColor("#57606a"), spaceAfter=8),
    }


def _heading(text: str, style: str = "h2", room_mm: float = 35) -> list[Flowable]:
    """A heading that starts a new page unless `room_mm` is left below it for what follows.

    (keepWithNext would glue the heading to a whole long table and push both to the next page.)
    """
    return [CondPageBreak(room_mm * mm), Paragraph(text, _styles()[style])]


def _p(text: Any, style: str = "cell") -> Paragraph:
    return Paragraph(escape(str(text)), _styles()[style])


def _verdict(text: str, style: str = "cell_b") -> Paragraph:
    color = VERDICT_COLORS.get(text, colors.black).hexval()[2:]
    shown = escape(text.upper() if text != "info" else "info")
    return Paragraph(f'<font color="#{color}">{shown}</font>', _styles()[style])


def _grid(data: list[list[Any]], widths: list[float], header: bool = True,
          extra: list[tuple[Any, ...]] | None = None) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, LINE), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEAD))
    table.setStyle(TableStyle(style + (extra or [])))
    return table


def _kv(rows: list[tuple[str, str]], label_w: float = 42 * mm, width: float = TEXT_W,
        value_style: str = "cell") -> Table:
    data = [[_p(label, "cell_b"), _p(value, value_style)] for label, value in rows]
    return _grid(data, [label_w, width - label_w], header=False,
                 extra=[("BACKGROUND", (0, 0), (0, -1), HEAD)])


def _alert(text: str) -> Table:
    table = Table([[_p(text, "alert")]], colWidths=[TEXT_W])
    table.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 2.5, VERDICT_COLORS["error"]),
                               ("BACKGROUND", (0, 0), (-1, -1), ALERT_BG),
                               ("LEFTPADDING", (0, 0), (-1, -1), 8),
                               ("TOPPADDING", (0, 0), (-1, -1), 6),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 7)]))
    return table


# ------------------------------------------------------------------------------- sections
def _header(r: ReportContent) -> list[Flowable]:
    badge = Table([[_p(r.verdict.upper(), "badge")]], colWidths=[36 * mm], rowHeights=[11 * mm])
    badge.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), VERDICT_COLORS.get(r.verdict, colors.black)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    head = Table([[[_p(r.title, "title"), _p(r.subtitle, "subtitle")], badge]],
                 colWidths=[TEXT_W - 38 * mm, 38 * mm], hAlign="LEFT")
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    out: list[Flowable] = [head, Spacer(1, 4 * mm)]
    if r.interrupted:
        out += [_alert(r.interruption), Spacer(1, 3 * mm)]
    if r.simulated:
        note = Table([[_p("Measured on a SIMULATED bench (instrument simulators and a DUT "
                          "model), not on hardware.")]], colWidths=[TEXT_W])
        note.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, VERDICT_COLORS["marginal"]),
                                  ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fff8e1"))]))
        out += [note, Spacer(1, 2 * mm)]
    return out


def _summary(r: ReportContent) -> list[Flowable]:
    half = (len(r.summary) + 1) // 2
    col = (TEXT_W - 4 * mm) / 2
    pair = Table([[_kv(r.summary[:half], 30 * mm, col), _kv(r.summary[half:], 30 * mm, col)]],
                 colWidths=[col + 2 * mm, col + 2 * mm], hAlign="LEFT")
    pair.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [*_heading("Summary"), pair, Spacer(1, 2 * mm),
            _kv([("record", r.record_name), ("record SHA-256", r.record_sha256)],
                30 * mm, value_style="mono")]


def _overview(r: ReportContent) -> list[Flowable]:
    data: list[list[Any]] = [[_p(h, "cell_b") for h in
                              ("#", "step", "kind", "status", "judged metrics", "verdict")]]
    extra = []
    for row, s in enumerate(r.steps, start=1):
        counts = ", ".join(f"{n} {v}" for v, n in s.counts.items()) or "none"
        data.append([_p(s.index, "cell_r"), _p(s.name), _p(s.kind.replace("_", " ")),
                     _p(s.status), _p(counts), _verdict(s.verdict)])
        if s.verdict in ROW_BACKGROUNDS:
            extra.append(("BACKGROUND", (0, row), (-1, row), ROW_BACKGROUNDS[s.verdict]))
    if not r.steps:
        data.append([_p("-"), _p("no step was started"), "", "", "", ""])
    widths = [8 * mm, 46 * mm, 36 * mm, 26 * mm, 44 * mm]
    widths.append(TEXT_W - sum(widths))
    return [*_heading("Verdicts by step"), _grid(data, widths, extra=extra)]


def _deviations(r: ReportContent) -> list[Flowable]:
    out: list[Flowable] = _heading("Deviations and interruptions")
    if r.resumptions:
        out.append(_p(f"This run was interrupted and resumed ({len(r.resumptions)}×).", "h3"))
        out += [_p(f"• {text}", "base") for text in r.resumptions]
        out.append(Spacer(1, 2 * mm))
    if r.deviations:
        data: list[list[Any]] = [[_p(h, "cell_b") for h in ("time", "level", "step", "message")]]
        extra = []
        for row, d in enumerate(r.deviations, start=1):
            data.append([_p(d.time_utc), _p(d.level), _p(d.step), _p(d.message)])
            level = "error" if d.level in ("error", "critical") else "marginal"
            extra.append(("BACKGROUND", (0, row), (-1, row), ROW_BACKGROUNDS[level]))
        widths = [38 * mm, 16 * mm, 26 * mm]
        out.append(_grid(data, widths + [TEXT_W - sum(widths)], extra=extra))
    else:
        out.append(_p("None: no warning or error was logged and every step completed.", "base"))
    out.append(_p(f"{r.info_events} informational event(s) of the normal course of the run "
                  "(instrument set-up, bias sequencing, safe-state actions) are in the record "
                  "and not listed here; `benchbot show` lists them.", "small"))
    return out


def _instruments(r: ReportContent) -> list[Flowable]:
    styles = _styles()
    data: list[list[Any]] = [[_p(h, "cell_b") for h in (
        "role", "instrument", "serial", "firmware", "resource", "driver", "calibration")]]
    for i in r.instruments:
        name: list[Any] = [_p(f"{i.manufacturer} {i.model}")]
        if i.options:
            name.append(_p(f"options {i.options}", "cell_m"))
        cal = _p(i.calibration)
        if i.calibration_ok is not None:
            color = VERDICT_COLORS["pass" if i.calibration_ok else "fail"].hexval()[2:]
            cal = Paragraph(f'<font color="#{color}">{escape(i.calibration)}</font>',
                            styles["cell"])
        data.append([_p(i.role), name, _p(i.serial), _p(i.firmware), _p(i.resource, "mono"),
                     _p(i.driver), cal])
    if not r.instruments:
        data.append([_p("-"), _p("no instrument recorded"), "", "", "", "", ""])
    widths = [25 * mm, 36 * mm, 20 * mm, 19 * mm, 31 * mm, 27 * mm]
    out: list[Flowable] = [*_heading("Instruments and calibration"),
                           _grid(data, widths + [TEXT_W - sum(widths)])]
    if r.corrections:
        out += [*_heading("Corrections applied", "h3", 25), _kv(r.corrections)]
    return out


def _step(s: StepSection) -> list[Flowable]:
    styles = _styles()
    color = VERDICT_COLORS.get(s.verdict, colors.black).hexval()[2:]
    out: list[Flowable] = [
        Paragraph(f"Step {s.index}: {escape(s.name)} <font size=9 color='#57606a'>"
                  f"({escape(s.kind.replace('_', ' '))})</font> — "
                  f"<font color='#{color}'>{escape(s.verdict.upper())}</font>", styles["h2"]),
        _p(f"status {s.status} · {s.started_utc} → {s.ended_utc}", "small"), Spacer(1, 2 * mm)]
    for note in s.notes:
        out += [_alert(note) if s.status != "completed" else _p(note, "base"), Spacer(1, 2 * mm)]
    if s.settings:
        out += [_kv(s.settings, 42 * mm), Spacer(1, 1 * mm)]
    out += _heading("Verdict table", "h3", 40)
    if s.metrics:
        out.append(_metrics_table(s))
        for source, metrics in s.limit_sources:
            out.append(Paragraph(f"limits from <b>{escape(source)}</b>: {escape(metrics)}",
                                 styles["small"]))
    else:
        out.append(_p("No metrics" + (": the step did not complete." if s.status != "completed"
                                      else "."), "base"))
    for n, fig in enumerate(s.figures, start=1):
        width = TEXT_W
        height = width * fig.height_px / fig.width_px
        if height > FIGURE_MAX_H:
            width, height = width * FIGURE_MAX_H / height, FIGURE_MAX_H
        image = Image(io.BytesIO(fig.png), width=width, height=height)
        out.append(KeepTogether([Spacer(1, 3 * mm), image,
                                 _p(f"Figure {s.index}.{n} — {fig.caption}", "caption")]))
    return out


#: metric, condition, value, unit, limit, margin, verdict, method (sum: TEXT_W = 182 mm)
METRIC_WIDTHS_MM = (36, 24, 15, 14, 20, 15, 14, 44)


def _metrics_table(s: StepSection) -> Table:
    data: list[list[Any]] = [[_p(h, "cell_b") for h in (
        "metric", "condition", "value", "unit", "limit", "margin", "verdict", "method")]]
    extra = []
    for row, m in enumerate(s.metrics, start=1):
        data.append([_p(m.metric), _p(m.condition), _p(m.value, "cell_r"), _p(m.unit),
                     [_p(m.limit)] + ([_p(m.marginal, "cell_m")] if m.marginal else []),
                     _p(m.margin, "cell_r"), _verdict(m.verdict),
                     _p(m.method, "cell_m")])
        if m.verdict in ROW_BACKGROUNDS:
            extra.append(("BACKGROUND", (0, row), (-1, row), ROW_BACKGROUNDS[m.verdict]))
    widths = [w * mm for w in METRIC_WIDTHS_MM]
    widths[-1] = TEXT_W - sum(widths[:-1])
    return _grid(data, widths, extra=extra)


def _closing(r: ReportContent) -> list[Flowable]:
    return [
        *_heading("Software versions", room_mm=60), _kv(r.software),
        *_heading("Record integrity", room_mm=45), _kv(r.integrity, value_style="mono"),
        _p(f"Check: `sha256sum {r.record_name}` must print the record SHA-256 above; any "
           "change to the record changes it.", "small"),
        Spacer(1, 4 * mm),
        _p(f"Generated {r.generated_utc} by {r.generator}.", "small"),
    ]


# ------------------------------------------------------------------------------- document
def _numbered_canvas(r: ReportContent) -> type[Canvas]:
    """A canvas that draws the running header and 'page N of M' once the page count is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802  (reportlab API)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            self.saveState()
            self.setStrokeColor(LINE)
            self.setLineWidth(0.6)
            top = PAGE_H - MARGIN_TOP + 5 * mm
            self.line(MARGIN_X, top - 1.5 * mm, PAGE_W - MARGIN_X, top - 1.5 * mm)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#57606a"))
            self.drawString(MARGIN_X, top, f"{r.title} · {r.subtitle}")
            color = VERDICT_COLORS.get(r.verdict, colors.black)
            self.setFillColor(color)
            self.setFont(BOLD, 8)
            label = r.verdict.upper() + (" · INCOMPLETE RUN" if r.interrupted else "")
            self.drawRightString(PAGE_W - MARGIN_X, top, label)
            bottom = MARGIN_BOTTOM - 8 * mm
            self.line(MARGIN_X, bottom + 3.5 * mm, PAGE_W - MARGIN_X, bottom + 3.5 * mm)
            self.setFont(FONT, 7)
            self.setFillColor(colors.HexColor("#57606a"))
            self.drawString(MARGIN_X, bottom,
                            f"{r.record_name} · SHA-256 {r.record_sha256[:16]}…")
            self.drawRightString(PAGE_W - MARGIN_X, bottom,
                                 f"page {self._pageNumber} of {total}")
            self.restoreState()

    return NumberedCanvas


def _story(r: ReportContent) -> list[Flowable]:
    story: list[Flowable] = []
    story += _header(r)
    story += _summary(r)
    story += _overview(r)
    story += _deviations(r)
    story += [*_heading("Test conditions"), _kv(r.conditions)]
    story += _instruments(r)
    for step in r.steps:
        story.append(PageBreak())
        story += _step(step)
    story += _closing(r)
    return story


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    _fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title=f"{content.title} · {content.subtitle}",
        author=content.generator, subject=f"record {content.record_name} "
        f"sha256 {content.record_sha256}", creator=content.generator,
        invariant=False)
    doc.build(_story(content), canvasmaker=_numbered_canvas(content))
    return buffer.getvalue()


def write_pdf(content: ReportContent, out: str | Path) -> Path:
    """Write the PDF; returns its path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_pdf(content))
    return path
