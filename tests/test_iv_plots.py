"""I-V figures (benchbot.plots.iv) from GaN HEMT model curves: they render to PNG, the axes carry
units (mA/mm with a gate width, mA without), compliance points are marked, the Vth markers and
the max-gm tangent are where the extraction put them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from benchbot.analysis import iv
from benchbot.plots import iv as iv_plots
from benchbot.plots.style import save
from simulators.gan_hemt import GanHemt

T0 = 25.0
VGS_STEPS = np.array([-3.0, -2.0, -1.0, 0.0, 1.0])
VDS = np.round(np.arange(0.0, 10.0 + 1e-9, 0.25), 6)


@pytest.fixture(scope="module")
def hemt() -> GanHemt:
    return GanHemt.from_config(None)


def _png(fig: Figure, path: Path) -> Path:
    save(fig, path)
    assert path.stat().st_size > 20_000  # a real 150 dpi figure, not an empty canvas
    with path.open("rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return path


def _compliance_marks(fig: Figure) -> int:
    return sum(len(line.get_xdata()) for ax in fig.axes for line in ax.get_lines()
               if line.get_marker() == "x")


def test_output_family_normalised_with_compliance(tmp_path: Path) -> None:
    half = GanHemt(gate_width_mm=0.5)
    family = np.array([half.channel_current(v, VDS) for v in VGS_STEPS])  # DC, self-heating
    limit_a = 0.3  # 0.6 A/mm: the open-channel curves run into it
    flags = family >= limit_a
    family = np.where(flags, limit_a, family)
    fig = iv_plots.output_family_figure(VDS, VGS_STEPS, family, gate_width_mm=0.5,
                                        compliance=flags, subtitle="simulated GaN HEMT, DC")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Id (mA/mm)" and ax.get_xlabel() == "Vds (V)"
    assert _compliance_marks(fig) == int(flags.sum()) > 0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Vgs = +1 V" in labels and "in compliance (excluded)" in labels
    assert labels[0] == "Vgs = +1 V" and labels[-1] == "in compliance (excluded)"
    curve = next(line for line in ax.get_lines() if line.get_label() == "Vgs = -2 V")
    # in mA/mm: A·1e3 / 0.5 mm
    assert max(curve.get_ydata()) == pytest.approx(max(family[1][~flags[1]]) * 2e3)
    _png(fig, tmp_path / "output_family.png")


def test_output_family_without_width_is_in_ma(hemt: GanHemt) -> None:
    family = np.array([hemt.channel_current(v, VDS, T0, 0.0) for v in VGS_STEPS])
    fig = iv_plots.output_family_figure(VDS, VGS_STEPS, family)
    assert fig.axes[0].get_ylabel() == "Id (mA)" and _compliance_marks(fig) == 0
    with pytest.raises(ValueError):
        iv_plots.output_family_figure(VDS, VGS_STEPS[:2], family)


def test_transfer_figure_markers(hemt: GanHemt, tmp_path: Path) -> None:
    vgs = np.round(np.arange(-5.0, 1.5 + 1e-9, 0.05), 6)
    ig, i_d = hemt.currents(vgs, 10.0, T0, 0.0)
    flags = i_d > 0.9
    i_d = np.where(flags, 0.9, i_d)
    curve = iv.transconductance(vgs, i_d, compliance=flags)
    cc = iv.vth_constant_current(vgs, i_d, 1.0, compliance=flags)
    gm = iv.vth_max_gm(vgs, i_d, 1.0, compliance=flags, vgs_max_v=0.0)
    fig = iv_plots.transfer_figure(
        vgs, i_d, curve.gm_s, vth_cc_v=cc.value, vth_gm_v=gm.value,
        vgs_at_gm_max_v=gm.at["vgs_at_gm_max_v"], id_at_gm_max_a=gm.at["id_at_gm_max_a"],
        gm_max_s=gm.at["gm_max_s"], gate_width_mm=1.0, compliance=flags, ig_a=ig, vds_v=10.0,
        subtitle="simulated GaN HEMT, isothermal")
    ax_lin, ax_log = fig.axes[0], fig.axes[1]
    assert ax_lin.get_ylabel() == "Id (mA/mm)" and ax_lin.get_xlabel() == "Vgs (V)"
    assert ax_log.get_yscale() == "log" and ax_log.get_ylabel() == "|I| (mA/mm)"
    assert any(a.get_ylabel() == "gm (mS/mm)" for a in fig.axes)
    tangent = next(line for line in ax_lin.get_lines() if "tangent" in str(line.get_label()))
    x, y = tangent.get_xdata(), tangent.get_ydata()
    assert x[0] == pytest.approx(gm.value) and y[0] == pytest.approx(0.0, abs=1e-9)
    labels = [t.get_text() for t in ax_log.get_legend().get_texts()]
    assert any(f"{cc.value:.3f} V" in label for label in labels)
    assert _compliance_marks(fig) == 2 * int(flags.sum())  # on the linear and the log panel
    _png(fig, tmp_path / "transfer.png")


def test_pulsed_iv_figure(hemt: GanHemt, tmp_path: Path) -> None:
    steps = np.array([-2.0, -1.0, 0.0, 1.0])
    vds = np.unique(np.r_[np.linspace(0.0, 0.2, 5), VDS])  # fine near 0 V for Ron
    n_q = {"Q (0 V, 0 V)": 0.0, "Q (-5 V, 28 V)": hemt.trap_equilibrium(-5.0, 28.0),
           "Q (-5 V, 48 V)": hemt.trap_equilibrium(-5.0, 48.0)}
    fams = {q: np.array([hemt.channel_current(v, vds, T0, n) for v in steps])
            for q, n in n_q.items()}
    flags = {"Q (0 V, 0 V)": fams["Q (0 V, 0 V)"] > 0.95}
    cc = iv.current_collapse(steps, vds, fams["Q (0 V, 0 V)"], fams["Q (-5 V, 28 V)"])
    dyn = iv.dynamic_ron_ratio(steps, vds, fams["Q (0 V, 0 V)"], fams["Q (-5 V, 28 V)"])
    assert dyn.ok
    fig = iv_plots.pulsed_iv_figure(vds, steps, fams, compliance=flags, gate_width_mm=1.0,
                                    knee_vds_v=5.0, collapse_pct=cc.value,
                                    dynamic_ron_ratio=dyn.value,
                                    subtitle="simulated, 500 ns pulses, isothermal")
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("Id (mA/mm")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Q (0 V, 0 V) (reference)" in labels and "Q (-5 V, 48 V)" in labels
    assert any(f"collapse {cc.value:.1f} %" in label and f"{dyn.value:.2f}" in label
               for label in labels)
    assert labels.index("Vgs = +1 V") < labels.index("Vgs = -2 V")
    assert _compliance_marks(fig) == int(flags["Q (0 V, 0 V)"].sum()) > 0
    _png(fig, tmp_path / "pulsed.png")
    with pytest.raises(ValueError):
        iv_plots.pulsed_iv_figure(vds, steps, {})
