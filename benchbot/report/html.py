"""The report as one self-contained HTML file: jinja2 template, inline CSS, inline PNG figures.

Nothing is fetched when the file is opened (no scripts, fonts, style sheets or images from
elsewhere), so it can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from benchbot.report.content import ReportContent

TEMPLATE = "report.html.j2"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("benchbot.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,  # a template typo fails loudly, never renders blank
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return env


def render_html(content: ReportContent) -> str:
    """The report page as a string."""
    return _environment().get_template(TEMPLATE).render(r=content)


def write_html(content: ReportContent, out: str | Path) -> Path:
    """Write the page (UTF-8); returns its path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(content), encoding="utf-8")
    return path
