"""Figures of VNA steps (benchbot.plots.network) from a record written with the real writer:
which figures exist, that the curves are the stored S-parameters, that mask segments are drawn
where the plan puts them (sloped included) and failing points are marked; `benchbot plot`."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from benchbot.cli import main
from benchbot.plots import DPI, load_record, step_figures
from benchbot.plots.data import RecordData, StepData
from tests._network_record import F_HZ, lna_s, write_network_record


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> RecordData:
    return load_record(write_network_record(tmp_path_factory.mktemp("records")))


def step(record: RecordData, name: str) -> StepData:
    return next(s for s in record.steps if s.name == name)


def lines(fig: Figure, ax_index: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ax = fig.axes[ax_index]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, line in enumerate(ax.get_lines()):
        out[line.get_label() if not line.get_label().startswith("_") else f"_{k}"] = (
            np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
    return out


def test_figures_per_step(record: RecordData) -> None:
    names = {s.name: [n for n, _ in step_figures(record, s)] for s in record.steps}
    assert names == {"lna": ["s_parameters", "stability"],
                     "switch": ["state_rf1", "state_rf2"],  # the unmeasured state has none
                     "compression": []}


def test_s_parameter_curves_and_masks(record: RecordData) -> None:
    (_, fig), _ = step_figures(record, step(record, "lna"))
    gain = lines(fig, 0)
    x, y = gain["|S21| (forward gain)"]
    np.testing.assert_allclose(x, F_HZ / 1e9)
    np.testing.assert_allclose(y, 20 * np.log10(np.abs(lna_s(F_HZ)[:, 1, 0])))
    masks = [v for k, v in gain.items() if k.startswith(("mask s21_db", "_"))]
    segments = {(tuple(x), tuple(y)) for x, y in masks}
    assert ((3.3, 3.8), (14.0, 14.0)) in segments and ((3.3, 3.8), (17.0, 17.0)) in segments
    assert ((4.2, 4.5), (8.0, 2.0)) in segments  # the sloped upper line
    fails = next(v for k, v in gain.items() if k.startswith("fails mask"))
    stored = step(record, "lna").data["mask_s21_db_pass"]
    assert fails[0].size == int(np.sum(stored == 0.0)) > 0
    assert np.all((fails[0] >= 4.2) & (fails[0] <= 4.5))
    _, gd = next(v for k, v in lines(fig, 3).items() if k.startswith("group delay of S21"))
    shown = np.isfinite(gd)  # drawn where S21 transmits (within 40 dB of its peak)
    np.testing.assert_allclose(gd[shown], 0.6, rtol=1e-9)  # the model's 0.6 ns
    gain_db = 20 * np.log10(np.abs(lna_s(F_HZ)[:, 1, 0]))
    np.testing.assert_array_equal(shown, gain_db >= gain_db.max() - 40.0)
    labels = [fig.axes[i].get_ylabel() for i in range(4)]
    assert labels == ["|S21| (dB)", "|S11|, |S22| (dB)", "|S12| (dB)", "Group delay (ns)"]
    assert fig.axes[3].get_xlabel() == "Frequency (GHz)"
    assert fig.axes[0].get_legend() is not None


def test_stability_figure_only_when_wanted(record: RecordData) -> None:
    lna = step(record, "lna")
    summary = dataclasses.replace(lna.summary, settings={**lna.settings,
                                                         "stability_check": False})
    quiet = dataclasses.replace(lna, summary=summary)
    assert [n for n, _ in step_figures(record, quiet)] == ["s_parameters"]
    _, fig = step_figures(record, lna)[1]
    assert fig.axes[0].get_yscale() == "log"
    assert "unconditionally stable" in fig.get_suptitle()


def test_paths_figure(record: RecordData) -> None:
    (_, fig), _ = step_figures(record, step(record, "switch"))
    assert [ax.get_title() for ax in fig.axes] == ["through paths", "isolation paths",
                                                   "return loss"]
    through = lines(fig, 0)
    _, il = through["ANT → RF1"]
    np.testing.assert_allclose(il, 0.5 + 0.1 * F_HZ / 1e9, rtol=1e-9)
    assert set(lines(fig, 1)) >= {"ANT → RF2", "RF1 → RF2"}
    assert any(k.startswith("mask isolation_db") for k in lines(fig, 1))
    # ANT→RF2 isolation (37 dB falling 1.2 dB/GHz) fails the 36 dB mask above 3.33 GHz
    fail_x, fail_y = lines(fig, 1)["fails mask"]
    f_ghz = F_HZ / 1e9
    np.testing.assert_allclose(fail_x, f_ghz[40 - 1.2 * f_ghz < 36.0])
    np.testing.assert_allclose(fail_y, 40 - 1.2 * fail_x, rtol=1e-9)
    assert "fails mask" not in lines(fig, 0)
    assert {"ANT", "RF1", "RF2"} <= set(lines(fig, 2))


def test_cli_plot_writes_150_dpi_pngs(record: RecordData, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(record.path), "--out", str(tmp_path)]) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    assert [p.name for p in paths] == ["000_lna_s_parameters.png", "000_lna_stability.png",
                                       "001_switch_state_rf1.png", "001_switch_state_rf2.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        i = data.index(b"pHYs")
        ppm = struct.unpack(">I", data[i + 4:i + 8])[0]
        assert round(ppm * 0.0254) == DPI


def test_one_port_step_has_a_reflection_figure_only(record: RecordData) -> None:
    lna = step(record, "lna")
    one_port = dataclasses.replace(
        lna, axes={**lna.axes, "port_row": lna.axes["port_row"][:1],
                   "port_col": lna.axes["port_col"][:1]},
        data={"s_re": lna.data["s_re"][:, :1, :1], "s_im": lna.data["s_im"][:, :1, :1]},
        summary=dataclasses.replace(lna.summary, attrs={}, settings={"masks": {}}))
    figures = step_figures(record, one_port)
    assert [n for n, _ in figures] == ["s_parameters"]
    _, y = lines(figures[0][1], 0)["|S11|"]
    np.testing.assert_allclose(y, 20 * np.log10(np.abs(lna_s(F_HZ)[:, 0, 0])))
