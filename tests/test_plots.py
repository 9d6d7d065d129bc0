"""Figures from a run record (benchbot.plots) and the `benchbot plot` command.

The record is synthetic but physical: a Rapp PA swept in CW (gain, PAE, AM-PM), and a 20 MHz
NR test-model waveform through a memoryless cubic PA whose analyzer trace (Welch PSD -> Gaussian
RBW, stored at the analyzer input like a real step) carries the spectral regrowth the SEM and
ACLR figures show. It is written with the real record writer, so the figures read exactly what a
run writes.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from benchbot.analysis.nr_bands import bs_nr_aclr
from benchbot.analysis.power_sweep import analyse_power_sweep
from benchbot.analysis.spectrum import aclr_from_psd, analyzer_trace, psd_welch
from benchbot.cli import main
from benchbot.plots import DPI, default_out_dir, load_record, step_figures
from benchbot.results import RunMeta, RunRecord
from benchbot.waveforms.nr import generate_nr

FREQS_HZ = np.array([3.40e9, 3.55e9, 3.70e9])
PIN_DBM = np.arange(-20.0, 8.01, 1.0)
MOD_FREQS_HZ = np.array([3.50e9, 3.60e9])
DRIVE_DBM = np.arange(-10.0, 6.01, 2.0)
#: analyzer path loss (DUT output -> analyzer input): more loss at the harmonics
LOSS_TABLE = (np.array([3.0e9, 4.0e9, 6.6e9, 7.6e9, 9.9e9, 11.4e9]),
              np.array([36.6, 36.9, 37.6, 37.85, 38.4, 38.8]))


def analyzer_loss_db(frequency_hz: np.ndarray) -> np.ndarray:
    return np.interp(frequency_hz, *LOSS_TABLE)

BW_MHZ, SCS_KHZ = 20, 30
RBW_HZ = 30e3
SPUR_OFFSET_HZ = 13e6  # 3 MHz outside the upper channel edge of the second carrier
DATASHEET = "datasheet BB-PA-N78-01 rev A"
ACLR_SOURCE = "3GPP TS 38.104 Table 6.6.3.5.2-1"
EVM_SOURCE = "3GPP TS 38.104 Table 6.5.2.2-1 (256QAM)"


# ------------------------------------------------------------------------------ synthetic DUT
def rapp_pa(pin_dbm: np.ndarray, gain_db: float, psat_dbm: float, p: float = 2.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Output power (dBm) and AM-PM (deg) of a Rapp amplifier."""
    v_lin = np.sqrt(10 ** ((pin_dbm + gain_db - 30) / 10))
    v_sat = np.sqrt(10 ** ((psat_dbm - 30) / 10))
    r = v_lin / v_sat
    v_out = v_lin / (1 + r ** (2 * p)) ** (1 / (2 * p))
    return 10 * np.log10(v_out**2) + 30, 12.0 * r**2 / (1 + r**2)


def gain_db(frequency_hz: float) -> float:
    """Small-signal gain of the synthetic PA: a slope and a roll-off around 3.55 GHz."""
    x = (frequency_hz - 3.55e9) / 1e9
    return 28.0 - 4.0 * x - 20.0 * x**2


def meta() -> RunMeta:
    return RunMeta(plan_name="n78-pa-plots", plan_version="1.0", plan_text="name: n78-pa-plots\n",
                   bench_name="simulated-keysight", bench_text="name: simulated-keysight\n",
                   dut={"part_number": "BB-PA-N78-01", "serial": "SIM-0042",
                        "kind": "power_amplifier"},
                   operator="lab-engineer", software={"benchbot": "0.1.0"}, simulated=True,
                   simulator_seed=7, host="bench-pc-1")


def metric(name: str, unit: str, value: float, condition: dict, **limit: object) -> dict:
    return {"metric": name, "unit": unit, "value": value, "condition": condition,
            "verdict": "pass", "margin": float("nan"), **limit}


def write_power_sweep(rec: RunRecord) -> None:
    dims = ("frequency_hz", "drive_level_dbm")
    step = rec.begin_step(
        0, "compression", "power_sweep", {"small_signal_max_input_dbm": -12.0},
        {"frequency_hz": (FREQS_HZ, "Hz"), "drive_level_dbm": (PIN_DBM, "dBm")},
        {"input_power_dbm": (dims, "dBm", "power at the DUT input plane"),
         "output_power_dbm": (dims, "dBm", "power at the DUT output plane"),
         "dc_power_w": (dims, "W", "sum of V*I"),
         "output_phase_deg": (dims, "deg", "output phase")})
    metrics = []
    for i, f_hz in enumerate(FREQS_HZ):
        pout, am_pm = rapp_pa(PIN_DBM, gain_db(f_hz), 33.0 - i * 0.5)
        pdc = 0.4 + 10 ** ((pout - 30) / 10) / (0.62 - 0.04 * i)
        n = PIN_DBM.size if i < 2 else PIN_DBM.size - 6  # the last row was interrupted
        step.write_rows(i, {"input_power_dbm": np.where(np.arange(PIN_DBM.size) < n, PIN_DBM,
                                                        np.nan),
                            "output_power_dbm": np.r_[pout[:n], [np.nan] * (PIN_DBM.size - n)],
                            "dc_power_w": np.r_[pdc[:n], [np.nan] * (PIN_DBM.size - n)],
                            "output_phase_deg": np.r_[40.0 + am_pm[:n],
                                                      [np.nan] * (PIN_DBM.size - n)]})
        cond = {"frequency_hz": float(f_hz)}
        metrics += [metric("p1db_output_dbm", "dBm", 30.0, cond, min=29.0, limit_source=DATASHEET),
                    metric("pae_at_p1db_pct", "%", 35.0, cond, min=30.0, limit_source=DATASHEET),
                    metric("am_pm_at_p1db_deg", "deg", 4.0, cond, max=10.0)]
    f0 = float(FREQS_HZ[1])
    f = np.linspace(0.5 * f0, 3.5 * f0, 6001)  # f0/2000 steps: n*f0 falls on a point
    trace = np.full(f.size, -40.0)
    for n, level in ((1, 30.0), (2, -2.0), (3, -12.0)):  # at the DUT output plane
        trace = np.maximum(trace, level - ((f - n * f0) / 1.2e6) ** 2)
    trace = trace - analyzer_loss_db(f)
    rec.add_trace(step, "spectrum_max_drive_3550MHz", f, trace, "Hz", "dBm",
                  {"rbw_hz": 3e6, "detector": "peak", "carrier_frequency_hz": f0,
                   "generator_power_dbm": 9.5,
                   "reference_plane": "analyzer input (no path-loss correction)"},
                  x_name="frequency", y_name="power")
    rec.end_step(step, metrics, "pass")


def nr_spectrum(carrier_hz: float, level_dbm: float, spur: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 20 MHz TM1.1 through a cubic PA as a 30 kHz RBW RMS trace at the analyzer input."""
    wf = generate_nr(BW_MHZ, SCS_KHZ, "NR-FR1-TM1.1", n_slots=4, seed=5, oversampling=8)
    x = wf.iq * np.sqrt(10 ** ((level_dbm - 30) / 10))
    v_sat2 = 10 ** ((level_dbm + 9 - 30) / 10)
    y = x * (1 - 0.12 * np.abs(x) ** 2 / v_sat2)  # third-order regrowth, ~ -40 dBc ACLR
    fs = wf.sample_rate_hz
    noise = (np.random.default_rng(1).standard_normal(y.size) * (1 + 1j)) * np.sqrt(
        10 ** ((-125 - 30) / 10) * fs / 2)  # -125 dBm/Hz floor at the DUT output
    psd = psd_welch(y + noise, fs, rbw_hz=5e3, center_hz=carrier_hz)
    sweep = carrier_hz + np.linspace(-60e6, 60e6, 8001)
    trace, _ = analyzer_trace(psd, RBW_HZ, sweep)
    if spur:
        sigma = RBW_HZ / (2 * np.sqrt(2 * np.log(2)))
        spur_w = 10 ** ((-4.0 - 30) / 10) * np.exp(-((sweep - carrier_hz - SPUR_OFFSET_HZ) ** 2)
                                                    / (2 * sigma**2))
        trace = 10 * np.log10(10 ** ((trace - 30) / 10) + spur_w) + 30
    return sweep, trace - analyzer_loss_db(sweep)


def write_modulated(rec: RunRecord) -> None:
    dims = ("frequency_hz", "drive_level_dbm")
    step = rec.begin_step(
        1, "aclr_evm", "modulated_power_sweep",
        {"waveform": {"test_model": "NR-FR1-TM3.1a", "bandwidth_mhz": BW_MHZ,
                      "scs_khz": SCS_KHZ}, "sem_mask": "bs_cat_a"},
        {"frequency_hz": (MOD_FREQS_HZ, "Hz"), "drive_level_dbm": (DRIVE_DBM, "dBm"),
         "aclr_offset_hz": (np.array([20e6, 40e6]), "Hz")},
        {"output_power_dbm": (dims, "dBm", "channel power at the DUT output plane"),
         "aclr_lower_dbc": ((*dims, "aclr_offset_hz"), "dBc", "lower adjacent channel"),
         "aclr_upper_dbc": ((*dims, "aclr_offset_hz"), "dBc", "upper adjacent channel"),
         "evm_pct": (dims, "%", "EVM"), "obw_hz": (dims, "Hz", "OBW 99 %"),
         "pae_pct": (dims, "%", "PAE")})
    metrics = []
    for i, f_hz in enumerate(MOD_FREQS_HZ):
        pout, _ = rapp_pa(DRIVE_DBM, 28.0, 33.0)
        backoff = 33.0 - pout
        aclr1 = -62.0 + 2.4 * (pout - pout[0]) + i
        step.write_rows(i, {
            "output_power_dbm": pout,
            "aclr_lower_dbc": np.stack([aclr1, aclr1 - 12.0], axis=-1),
            "aclr_upper_dbc": np.stack([aclr1 + 0.7, aclr1 - 11.0], axis=-1),
            "evm_pct": 0.8 + 0.1 * i + 6.0 * np.exp(-(backoff + 0.4 * i) / 2.2),
            "obw_hz": np.full(DRIVE_DBM.size, 19.0e6),
            "pae_pct": 45.0 * 10 ** (-backoff / 20)})
        cond = {"frequency_hz": float(f_hz)}
        metrics += [metric("aclr_db", "dB", 45.5, cond, min=45.0, limit_source=ACLR_SOURCE),
                    metric("evm_pct", "%", 2.9, cond, max=3.5, limit_source=EVM_SOURCE)]
        sweep, trace = nr_spectrum(float(f_hz), 36.0, spur=i == 1)
        rec.add_trace(step, f"spectrum_{f_hz / 1e6:.0f}MHz_max_drive", sweep, trace, "Hz", "dBm",
                      {"rbw_hz": RBW_HZ, "detector": "rms", "carrier_frequency_hz": float(f_hz),
                       "channel_bandwidth_hz": BW_MHZ * 1e6, "scs_khz": SCS_KHZ,
                       "reference_plane": "analyzer input (no path-loss correction)"},
                      x_name="frequency", y_name="power")
    rec.end_step(step, metrics, "fail")


@pytest.fixture(scope="module")
def record_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = RunRecord.create(tmp_path_factory.mktemp("records"), None, meta(),
                           started_epoch=1795000000.0)
    rec.add_path_loss("signal_analyzer", *LOSS_TABLE, "bench")
    write_power_sweep(rec)
    write_modulated(rec)
    return rec.close("completed", "fail")


EXPECTED = {
    "000_compression_gain_pae_vs_pout.png", "000_compression_pout_vs_pin.png",
    "000_compression_am_pm_vs_pout.png", "000_compression_spectrum_spectrum_max_drive_3550MHz.png",
    "001_aclr_evm_aclr_vs_pout.png", "001_aclr_evm_evm_vs_pout.png",
    "001_aclr_evm_spectrum_spectrum_3500MHz_max_drive.png",
    "001_aclr_evm_spectrum_spectrum_3600MHz_max_drive.png",
}


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


# ------------------------------------------------------------------------------ tests
def test_the_synthetic_trace_has_realistic_regrowth() -> None:
    """Guard for the fixture itself: ACLR of the synthetic PA near -40 dBc, not a flat line."""
    wf = generate_nr(BW_MHZ, SCS_KHZ, "NR-FR1-TM1.1", n_slots=1, seed=5, oversampling=8)
    x = wf.iq
    y = x * (1 - 0.12 * np.abs(x) ** 2 / 10 ** 0.9)
    res = aclr_from_psd(psd_welch(y, wf.sample_rate_hz, rbw_hz=30e3), bs_nr_aclr(BW_MHZ, SCS_KHZ))
    assert -48 < -res.lower_db[0] < -32


def test_cli_plot_renders_every_figure_without_warnings(record_path: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """`benchbot plot RECORD --out DIR`: one 150 dpi PNG per figure, paths printed."""
    out = tmp_path / "cli"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["plot", str(record_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    files = sorted(out.glob("*.png"))
    assert {p.name for p in files} == EXPECTED
    assert sorted(printed) == sorted(str(p) for p in files)
    for p in files:
        width, height = png_size(p)
        assert width > 8 * DPI and height > 4 * DPI  # 150 dpi on a ~9 x 5.4 in figure


def test_default_output_directory_is_next_to_the_record(tmp_path: Path) -> None:
    for name in ("run.h5", "run.h5.partial"):
        assert default_out_dir(tmp_path / name) == tmp_path / "run_plots"


def _figures(record_path: Path, step_index: int) -> dict[str, Figure]:
    record = load_record(record_path)
    return dict(step_figures(record, record.steps[step_index]))


def _legend_texts(fig: Figure) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends
            for t in [legend.get_title(), *legend.get_texts()]]


def test_pout_vs_pin_marks_the_analysed_p1db(record_path: Path) -> None:
    fig = _figures(record_path, 0)["pout_vs_pin"]
    ax = fig.axes[0]
    pout, _ = rapp_pa(PIN_DBM, gain_db(FREQS_HZ[0]), 33.0)
    expected = analyse_power_sweep(PIN_DBM, pout, None, -12.0)
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    xs = [float(m.get_xdata()[0]) for m in markers]
    ys = [float(m.get_ydata()[0]) for m in markers]
    assert any(abs(x - expected.p1db_input_dbm) < 1e-9 and abs(y - expected.p1db_output_dbm)
               < 1e-9 for x, y in zip(xs, ys, strict=True))
    texts = _legend_texts(fig)
    assert any("OP1dB ≥ 29 dBm" in t and DATASHEET in t for t in texts)
    assert "SIM-0042" in fig.get_suptitle() and "compression" in fig.get_suptitle()
    assert "(dBm)" in ax.get_xlabel() and "(dBm)" in ax.get_ylabel()


def test_gain_pae_uses_twin_axes_and_an_interrupted_row_still_plots(record_path: Path) -> None:
    fig = _figures(record_path, 0)["gain_pae_vs_pout"]
    gain_ax, pae_ax = fig.axes[0], fig.axes[1]
    assert "Gain" in gain_ax.get_ylabel() and "PAE" in pae_ax.get_ylabel()
    curves = [ln for ln in gain_ax.get_lines() if len(ln.get_xdata()) > 1]
    assert len(curves) == 3 and len(curves[2].get_xdata()) == PIN_DBM.size - 6


def test_aclr_limit_line_is_minus_limit_dbc_with_its_source(record_path: Path) -> None:
    fig = _figures(record_path, 1)["aclr_vs_pout"]
    assert len([ax for ax in fig.axes if ax.get_title()]) == len(MOD_FREQS_HZ)
    for ax in fig.axes:
        limit = [ln for ln in ax.get_lines() if ln.get_color() == "tab:red"]
        assert limit and all(np.allclose(ln.get_ydata(), -45.0) for ln in limit)
        assert ax.get_lines()[0].get_linestyle() == "-"
    texts = _legend_texts(fig)
    assert any("ACLR ≥ 45 dB" in t and ACLR_SOURCE in t for t in texts)  # metric "aclr_db"
    assert any(t.startswith("ACLR2 upper (+40 MHz)") for t in texts)


def test_evm_limit_line(record_path: Path) -> None:
    fig = _figures(record_path, 1)["evm_vs_pout"]
    ax = fig.axes[0]
    limit = [ln for ln in ax.get_lines() if ln.get_color() == "tab:red"]
    assert limit and np.allclose(limit[0].get_ydata(), 3.5)
    assert limit[0].get_linestyle() == "--"
    assert any(EVM_SOURCE in t for t in _legend_texts(fig))


def test_sem_figure_finds_the_spur_and_shades_the_aclr_channels(record_path: Path) -> None:
    figs = _figures(record_path, 1)
    clean = figs["spectrum_spectrum_3500MHz_max_drive"]
    spur = figs["spectrum_spectrum_3600MHz_max_drive"]
    clean_texts, spur_texts = _legend_texts(clean), _legend_texts(spur)
    assert any(t.startswith("worst margin +") for t in clean_texts)
    worst = next(t for t in spur_texts if t.startswith("worst margin"))
    assert worst.startswith("worst margin -")
    ax = spur.axes[0]
    marker = next(ln for ln in ax.get_lines() if ln.get_marker() == "v")
    assert abs(float(marker.get_xdata()[0]) - SPUR_OFFSET_HZ / 1e6) <= 0.06  # in MHz
    assert any("Table 6.6.4.2.1-2" in t for t in spur_texts)
    assert any(t.startswith("ACLR1 channels, ±20 MHz") for t in spur_texts)
    assert any("main channel, 18.36 MHz BW_Config" in t for t in spur_texts)
    caption = spur_texts[0]  # the legend title
    assert "DUT output plane" in caption and "path loss" in caption and "FAIL" in caption


def test_cw_spectrum_marks_the_harmonics_in_dbc(record_path: Path) -> None:
    fig = _figures(record_path, 0)["spectrum_spectrum_max_drive_3550MHz"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("f0 30.0 dBm") for t in texts)
    # at the DUT output plane: each harmonic corrected with the loss at its own frequency
    assert any(t.startswith("H2 -32.0 dBc") for t in texts)
    assert any(t.startswith("H3 -42.0 dBc") for t in texts)
    assert any("not RMS" in t or "peak" in t for t in _legend_texts(fig))


def test_cli_plot_of_a_missing_record_fails_cleanly(tmp_path: Path) -> None:
    assert main(["plot", str(tmp_path / "nope.h5")]) != 0
