"""Issue 6 part 5: the per-run report (self-contained HTML and PDF) renders for every plan in
test_plans/, from records of real runs on the simulated benches (reduced plans: one frequency,
coarser voltage steps, fewer VNA points, so the whole file stays fast); the HTML references
nothing outside itself and holds every metric row and the record's SHA-256; the PDF opens, has a
page per step and its text holds the verdict tables; an aborted run's report says so.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import h5py
import pytest
import yaml
from pypdf import PdfReader

from benchbot.cli import main
from benchbot.limits import Verdict
from benchbot.plots.render import FIGURES_BY_KIND
from benchbot.report import build_report, render_html, render_pdf
from benchbot.report.content import NOT_RECORDED, default_report_path
from benchbot.results.reader import open_record
from tests.test_layers import imported_packages

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted(p.stem for p in (ROOT / "test_plans").glob("*.yaml"))


def _reduce(node: Any) -> Any:
    """A faster version of a plan: one carrier frequency (two where gain flatness is judged),
    <= 201 VNA points, every other drive level and bias voltage, 4 noise averages. Steps,
    limits, masks and conditions are kept."""
    if isinstance(node, list):
        return [_reduce(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _reduce(v) for k, v in node.items()}
    if isinstance(out.get("frequencies_hz"), list):
        out["frequencies_hz"] = out["frequencies_hz"][:1] if "gain_flatness_db" not in \
            out.get("limits", {}) else out["frequencies_hz"][::2]
    if isinstance(out.get("points"), int) and "start_hz" in out:
        out["points"] = min(out["points"], 201)
    if "step_v" in out and "start_v" in out:
        out["step_v"] = 2 * out["step_v"]
    if {"start", "stop", "step"} <= out.keys() and "input_power_dbm" not in out:
        n = round((out["stop"] - out["start"]) / out["step"])
        if n % 2 == 0:  # a drive sweep (dBm): every other level
            out["step"] = 2 * out["step"]
    for key, value in out.items():  # long voltage lists (I-V families): every other point
        if key.endswith("_v") and isinstance(value, list) and len(value) > 4:
            out[key] = value[::2] if len(value) % 2 else value[::2] + value[-1:]
    if isinstance(out.get("average_count"), int):
        out["average_count"] = min(out["average_count"], 4)
    return out


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One record per plan of test_plans/, each run by `benchbot run` on its simulated bench."""
    tmp = tmp_path_factory.mktemp("report_plans")
    out = {}
    for name in PLANS:
        doc = _reduce(yaml.safe_load((ROOT / "test_plans" / f"{name}.yaml").read_text("utf-8")))
        plan = tmp / f"{name}.yaml"
        plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        assert main(["run", str(plan), "--results-dir", str(tmp / name)]) in (0, 1), name
        (out[name],) = (tmp / name).glob("*.h5")
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _squash(text: str) -> str:
    """Text without whitespace: a long metric name may wrap inside a narrow PDF cell."""
    return re.sub(r"\s+", "", text)


def _external_references(html: str) -> list[str]:
    """Every src/href/url()/@import in the page that is not inline data or an in-page anchor."""
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    refs += re.findall(r"url\(([^)]*)\)", html) + re.findall(r"@import[^;]*", html)
    bad = [r for r in refs if not (r.startswith("data:image/png;base64,") or r.startswith("#"))]
    bad += re.findall(r"<(?:script|link|iframe|object|embed)\b[^>]*>", html, re.IGNORECASE)
    return bad


@pytest.mark.parametrize("plan", PLANS)
def test_report_renders_for_every_plan(records: dict[str, Path], plan: str) -> None:
    path = records[plan]
    summary = open_record(path)
    content = build_report(path, figure_dpi=60)
    html = render_html(content)
    sha = _sha256(path)

    assert content.record_sha256 == sha and sha in html
    assert _external_references(html) == []
    assert "http://" not in html and "https://" not in html
    rows = [(s.name, m["metric"]) for s in summary.steps for m in s.metrics]
    assert rows, "every plan judges metrics"
    assert content.metric_count == len(rows)
    assert html.count('<tr class="row-') - len(summary.steps) == len(rows)  # metric rows
    for _, metric in rows:
        assert f'<td class="nowrap">{metric}</td>' in html
    plotted = [s for s in summary.steps if s.kind in FIGURES_BY_KIND]
    assert html.count("<img ") >= len(plotted) > 0
    for instrument in summary.instruments.values():
        assert str(instrument["idn.serial"]) in html
    assert f'id="overall-verdict">{summary.verdict}<' in html

    reader = PdfReader(_pdf(content))
    pages = [page.extract_text() for page in reader.pages]
    text = _squash("".join(pages))
    assert len(pages) >= 1 + len(summary.steps)  # every step starts on a page of its own
    for step in summary.steps:
        heading = f"Step {step.index}: {step.name}"
        assert any(p.startswith(heading) for p in pages), heading  # it opens a page
    assert text.count("Verdicttable") == len(summary.steps)
    for _, metric in rows:
        assert _squash(metric) in text
    assert sha in text
    assert _squash(f"page 1 of {len(pages)}") in _squash(pages[0])


def _pdf(content: Any) -> Any:
    import io

    return io.BytesIO(render_pdf(content))


def _strip_calibration(record: Path, tmp_path: Path) -> Path:
    """A copy of `record` without the `calibration.*` instrument attributes (an older record,
    or one from a bench without an inventory)."""
    copy = tmp_path / record.name
    shutil.copy(record, copy)
    with h5py.File(copy, "r+") as f:
        for group in f["instruments"].values():
            for key in [k for k in group.attrs if k.startswith("calibration.")]:
                del group.attrs[key]
    return copy


def test_every_instrument_without_calibration_data_says_not_recorded(
        records: dict[str, Path], tmp_path: Path) -> None:
    content = build_report(_strip_calibration(records["lna_n78"], tmp_path), figures=False)
    assert content.instruments
    assert {i.calibration for i in content.instruments} == {NOT_RECORDED}


def test_calibration_attributes_of_an_instrument_are_reported(records: dict[str, Path],
                                                              tmp_path: Path) -> None:
    copy = _strip_calibration(records["lna_n78"], tmp_path)
    with h5py.File(copy, "r+") as f:
        f["instruments/vna"].attrs["calibration.status"] = "expired"
        f["instruments/vna"].attrs["calibration.due"] = "2026-01-31"
    content = build_report(copy, figures=False)
    vna = next(i for i in content.instruments if i.role == "vna")
    assert vna.calibration == "expired, due 2026-01-31" and vna.calibration_ok is False
    assert content.record_sha256 == _sha256(copy) != _sha256(records["lna_n78"])


class _InterruptAfter:
    """Run listener: Ctrl-C after `after` measured points."""

    def __init__(self, after: int) -> None:
        self.after, self.points = after, 0

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.after:
            raise KeyboardInterrupt

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_an_aborted_run_says_so(run_plan: Any, tmp_path: Path) -> None:
    doc = _reduce(yaml.safe_load((ROOT / "test_plans" / "pa_power_sweep.yaml").read_text()))
    plan = tmp_path / "pa.yaml"
    plan.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    outcome = run_plan(plan, tmp_path / "results", listener=_InterruptAfter(8))
    assert outcome.verdict is Verdict.ABORTED

    content = build_report(outcome.record_path, figure_dpi=60)
    assert content.interrupted and content.verdict == "aborted"
    html = render_html(content)
    assert re.search(r'<div class="alert" id="interruption">RUN ABORTED', html)
    assert 'id="overall-verdict">aborted<' in html
    pages = [p.extract_text() for p in PdfReader(_pdf(content)).pages]
    assert "RUN ABORTED" in pages[0]
    assert all("ABORTED · INCOMPLETE RUN" in page for page in pages)  # every running header


def test_cli_writes_both_reports_next_to_the_record(records: dict[str, Path],
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    record = tmp_path / records["n78_band_filter"].name
    shutil.copy(records["n78_band_filter"], record)
    assert main(["report", str(record)]) == 0
    written = capsys.readouterr().out.split()
    expected = [default_report_path(record, ".html"), default_report_path(record, ".pdf")]
    assert [Path(p) for p in written] == expected
    assert expected[0].read_text("utf-8").startswith("<!DOCTYPE html>")
    assert expected[1].read_bytes().startswith(b"%PDF-")

    assert main(["report", str(record), "--pdf", str(tmp_path / "only.pdf")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "only.pdf")]
    assert main(["report", str(tmp_path / "missing.h5")]) == 4


def test_the_report_layer_knows_no_instruments_or_simulators() -> None:
    files = sorted((ROOT / "benchbot" / "report").rglob("*.py"))
    assert files
    for file in files:
        assert not imported_packages(file) & {"instruments", "simulators", "pyvisa"}, file
