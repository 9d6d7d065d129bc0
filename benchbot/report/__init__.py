"""Per-run reports: one self-contained HTML file and a PDF with the same content.

`build_report(record)` builds the content once (summary, verdict tables, figures, instruments,
conditions, deviations, the record's SHA-256); `write_html` and `write_pdf` lay it out.
"""

from benchbot.report.content import ReportContent, build_report, file_sha256
from benchbot.report.html import render_html, write_html
from benchbot.report.pdf import render_pdf, write_pdf

__all__ = [
    "ReportContent",
    "build_report",
    "file_sha256",
    "render_html",
    "render_pdf",
    "write_html",
    "write_pdf",
]
