"""Issue 6 part 1: records of real runs on the simulated benches pass `benchbot results check`;
each deliberate corruption is reported with its HDF5 path; `benchbot.results.open` gives
xarray objects equal to plain h5py reads, with the axes as dimensions and the units; a
`.partial` left by a killed run opens and says it is interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

import benchbot.results as results
from benchbot.bench import builtin_bench_path, load_bench
from benchbot.cli import main
from benchbot.plan import parse_plan
from benchbot.results import RecordFormatError, RunRecord, check_record
from benchbot.runner import RunRequest, run
from benchbot.simbench import running

ROOT = Path(__file__).resolve().parents[1]
PA_STEP = "/steps/000_compression"


def _small_pa(doc: dict) -> None:
    step = doc["steps"][0]
    step["frequencies_hz"] = [3.3e9, 3.55e9]
    step["input_power_dbm"] = {"start": -20.0, "stop": 6.0, "step": 2.0}


def _small_filter(doc: dict) -> None:
    doc["steps"][0]["sweep"]["points"] = 201


def _small_transfer(doc: dict) -> None:
    doc["steps"] = doc["steps"][:1]  # the transfer curve only
    doc["steps"][0]["gate_voltage_v"]["step_v"] = 0.5


#: kind -> (plan file, built-in bench, how to shrink the plan)
PLANS: dict[str, tuple[str, str, Callable[[dict], None]]] = {
    "power_sweep": ("pa_power_sweep.yaml", "simulated", _small_pa),
    "network": ("n78_band_filter.yaml", "simulated-network", _small_filter),
    "gan_transfer": ("gan_hemt_dc_pulsed.yaml", "simulated-gan", _small_transfer),
}


def _plan_text(kind: str) -> tuple[str, str]:
    plan_file, bench_name, shrink = PLANS[kind]
    doc = yaml.safe_load((ROOT / "test_plans" / plan_file).read_text(encoding="utf-8"))
    shrink(doc)
    return yaml.safe_dump(doc), bench_name


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One closed record per kind, from real runs on the simulated benches."""
    out: dict[str, Path] = {}
    for kind in PLANS:
        text, bench_name = _plan_text(kind)
        plan = parse_plan(text, PLANS[kind][0])
        bench = load_bench(builtin_bench_path(bench_name))
        with running(bench, plan.dut.part_number) as (served, _):
            outcome = run(RunRequest(plan=plan, plan_text=text, bench=served,
                                     bench_text=bench.name, simulated=True,
                                     results_dir=tmp_path_factory.mktemp(kind)))
        assert outcome.status == "completed", outcome.error
        out[kind] = outcome.record_path
    return out


# ---------------------------------------------------------------------- results check
def test_every_real_record_is_valid(records: dict[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for kind, path in records.items():
        report = check_record(path)
        assert report.valid and report.problems == [], (kind, [str(p) for p in report.problems])
        assert report.format_version == "1.1" and report.steps == 1
    assert main(["results", "check", *map(str, records.values())]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(records) and all("valid (format 1.1" in ln for ln in lines)


def _del_root_attr(f: h5py.File) -> None:
    del f.attrs["run_id"]


def _del_step_attr(f: h5py.File) -> None:
    del f[PA_STEP].attrs["kind"]


def _detach(f: h5py.File) -> None:
    f[f"{PA_STEP}/output_power_dbm"].dims[1].detach_scale(f[f"{PA_STEP}/drive_level_dbm"])


def _wrong_length(f: h5py.File) -> None:
    """output_power_dbm one drive level short, but attached to the full axes."""
    g = f[PA_STEP]
    attrs = dict(g["output_power_dbm"].attrs)
    del g["output_power_dbm"]
    ds = g.create_dataset("output_power_dbm", data=np.zeros((2, 13)))
    ds.attrs["units"], ds.attrs["long_name"] = attrs["units"], attrs["long_name"]
    ds.dims[0].attach_scale(g["frequency_hz"])
    ds.dims[1].attach_scale(g["drive_level_dbm"])


def _no_units(f: h5py.File) -> None:
    del f[f"{PA_STEP}/dc_power_w"].attrs["units"]


def _major(f: h5py.File) -> None:
    f.attrs["format_version"] = "2.0"


def _truncated_metrics(f: h5py.File) -> None:
    """The metrics table rewritten without its last fields (method, note, extra)."""
    g = f[PA_STEP]
    rows = g["metrics"][()]
    keep = list(rows.dtype.names[:-3])
    del g["metrics"]
    g.create_dataset("metrics", data=rows[keep].copy())


def _events_not_a_table(f: h5py.File) -> None:
    del f["events"]
    f.create_dataset("events", data=np.arange(3.0))


def _bad_trace(f: h5py.File) -> None:
    trace = next(iter(f[f"{PA_STEP}/traces"].values()))
    trace["y"].dims[0].detach_scale(trace["x"])


def _closed_but_running(f: h5py.File) -> None:
    f.attrs["status"] = "running"


def _path_loss_hash(f: h5py.File) -> None:
    f["calibration/path_loss/power_meter/loss_db"][0] += 0.1


def _cal_factor_changed(f: h5py.File) -> None:
    f["calibration/cal_factors/power_meter/cal_factor_pct"][0] += 1.0


def _committed_row_outside(f: h5py.File) -> None:
    f[PA_STEP].attrs["committed_rows"] = np.array([0, 7], np.int64)
    f[PA_STEP].attrs["committed_axis"] = "frequency_hz"


def _interruptions_without_step(f: h5py.File) -> None:
    f.create_dataset("interruptions", data=np.zeros(1, [("interrupted_status", "f8")]))


CORRUPTIONS: dict[str, tuple[Callable[[h5py.File], None], str, str]] = {
    # name: (corruption, HDF5 path reported, words of the reason)
    "missing root attr": (_del_root_attr, "/", "'run_id' is missing"),
    "missing step attr": (_del_step_attr, PA_STEP, "'kind' is missing"),
    "detached dimension": (_detach, f"{PA_STEP}/output_power_dbm",
                           "dimension 1 is not attached"),
    "wrong length": (_wrong_length, f"{PA_STEP}/output_power_dbm",
                     "dimension 1 has length 13 but its scale 'drive_level_dbm' has shape (14,)"),
    "no units": (_no_units, f"{PA_STEP}/dc_power_w", "no 'units'"),
    "unknown major": (_major, "/", "major version 2 is unknown"),
    "truncated metrics": (_truncated_metrics, f"{PA_STEP}/metrics",
                          "field 'method' is missing"),
    "events not a table": (_events_not_a_table, "/events", "compound table"),
    "trace detached": (_bad_trace, f"{PA_STEP}/traces/", "dimension 0 is not attached"),
    "closed but running": (_closed_but_running, "/", "not a .partial"),
    "path loss changed": (_path_loss_hash, "/calibration/path_loss/power_meter",
                          "sha256 does not match"),
    "cal factor changed": (_cal_factor_changed, "/calibration/cal_factors/power_meter",
                           "sha256 does not match the frequency and cal_factor_pct"),
    "committed row outside": (_committed_row_outside, PA_STEP, "holds rows [7] outside"),
    "interruptions malformed": (_interruptions_without_step, "/interruptions",
                                "field 'interrupted_status' must be a UTF-8 string"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_reported_with_its_path(records: dict[str, Path], tmp_path: Path,
                                                   name: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    corrupt, where, reason = CORRUPTIONS[name]
    path = tmp_path / records["power_sweep"].name
    shutil.copy(records["power_sweep"], path)
    with h5py.File(path, "r+") as f:
        corrupt(f)
    report = check_record(path)
    assert not report.valid
    hits = [p for p in report.errors if p.path.startswith(where) and reason in p.message]
    assert hits, [str(p) for p in report.problems]
    if where == "/":
        assert any(p.path == "/" for p in hits)
    # the CLI: non-zero exit, one line per problem naming the path; --json says the same
    assert main(["results", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: {hits[0]}" in out.splitlines() and "INVALID" in out
    assert main(["results", "check", "--json", str(path)]) == 1
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert {"path": hits[0].path, "message": hits[0].message, "severity": "error"} \
        in doc["problems"]


def test_a_newer_minor_version_is_valid_with_a_warning(records: dict[str, Path],
                                                       tmp_path: Path) -> None:
    path = tmp_path / records["power_sweep"].name
    shutil.copy(records["power_sweep"], path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = "1.7"
        f[PA_STEP].create_group("added_in_1_7")
    report = check_record(path)
    assert report.valid and {p.severity for p in report.problems} == {"warning"}
    assert any(p.path == "/" and "newer" in p.message for p in report.problems)
    assert "newer" in " ".join(results.open(path).warnings)


def test_not_a_record_is_invalid(tmp_path: Path) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something.else"
    text = tmp_path / "text.h5"
    text.write_text("not HDF5")
    for path in (other, text):
        report = check_record(path)
        assert not report.valid and report.errors[0].path == "/"
    assert main(["results", "check", str(other), str(text)]) == 1


# ---------------------------------------------------------------------- open()
def _dims(ds: h5py.Dataset) -> tuple[str, ...]:
    return tuple(d[0].name.rsplit("/", 1)[-1] for d in ds.dims)


@pytest.mark.parametrize("kind", list(PLANS))
def test_open_equals_h5py(records: dict[str, Path], kind: str) -> None:
    path = records[kind]
    rec = results.open(path)
    assert rec.status == "completed" and not rec.interrupted and not rec.warnings
    with h5py.File(path, "r") as f:
        assert rec.meta["run_id"] == f.attrs["run_id"] and rec.format_version == "1.1"
        assert list(rec.steps) == list(f["steps"])
        for key, ds in rec.steps.items():
            g = f["steps"][key]
            assert ds.encoding["benchbot_reader"] == "h5netcdf"
            assert ds.attrs["kind"] == g.attrs["kind"] and ds.attrs["status"] == "completed"
            assert rec.step(str(g.attrs["name"])) is ds
            data = [n for n, o in g.items() if isinstance(o, h5py.Dataset) and not o.is_scale
                    and n != "metrics"]
            assert sorted(ds.data_vars) == sorted(data) and data
            for name in data:
                da = ds[name]
                assert da.dims == _dims(g[name])
                assert da.attrs["units"] == g[name].attrs["units"]
                assert da.attrs["long_name"] == g[name].attrs["long_name"]
                np.testing.assert_array_equal(da.values, g[name][()])
                for dim in da.dims:  # the axes are coordinates with their units
                    np.testing.assert_array_equal(da[dim].values, g[dim][()])
                    assert da[dim].attrs["units"] == g[dim].attrs["units"]
            table = g["metrics"][()]
            metrics = rec.metrics[key]
            assert metrics.sizes["metric_row"] == table.shape[0] > 0
            np.testing.assert_array_equal(metrics["value"].values, table["value"])
            assert list(metrics["metric"].values) == [m.decode() for m in table["metric"]]
            for name, trace in rec.traces[key].items():
                tg = g["traces"][name]
                y, x = tg.attrs["y"], tg.attrs["x"]
                np.testing.assert_array_equal(trace.values, tg[y][()])
                np.testing.assert_array_equal(trace[x].values, tg[x][()])
                assert trace.attrs["units"] == tg[y].attrs["units"]
                assert trace[x].attrs["units"] == tg[x].attrs["units"]
        assert rec.events.sizes["event"] == f["events"].shape[0]
        assert set(rec.instruments) == set(f["instruments"])
        for role, loss in rec.path_loss.items():
            pg = f["calibration/path_loss"][role]
            assert loss.dims == ("frequency",) and loss.attrs["units"] == "dB"
            np.testing.assert_array_equal(loss.values, pg["loss_db"][()])
            np.testing.assert_array_equal(loss["frequency"].values, pg["frequency"][()])
            assert loss.attrs["sha256"] == pg.attrs["sha256"]
        assert set(rec.traffic) == set(f["traffic"])


def test_open_labels_the_power_sweep_axes(records: dict[str, Path]) -> None:
    ds = results.open(records["power_sweep"]).step("compression")
    p_out = ds["output_power_dbm"]
    assert p_out.dims == ("frequency_hz", "drive_level_dbm") and p_out.attrs["units"] == "dBm"
    assert ds["frequency_hz"].attrs["units"] == "Hz"
    # label-based selection works: the row at 3.55 GHz is the second row of the dataset
    with h5py.File(records["power_sweep"], "r") as f:
        row = f[f"{PA_STEP}/output_power_dbm"][1]
    np.testing.assert_array_equal(p_out.sel(frequency_hz=3.55e9).values, row)


def test_open_refuses_an_unknown_major_version(records: dict[str, Path],
                                               tmp_path: Path) -> None:
    path = tmp_path / records["network"].name
    shutil.copy(records["network"], path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = "2.0"
    with pytest.raises(RecordFormatError, match="major version 2"):
        results.open(path)


def test_a_multidimensional_trace_is_built_from_h5py(tmp_path: Path) -> None:
    """h5netcdf refuses a variable with labelled and unlabelled dimensions; open() builds it
    from h5py (further dimensions named <y>_dim<k>) and the checker accepts it (format 1.0
    attaches only a trace's first dimension)."""
    from tests.test_record import make_meta

    rec = RunRecord.create(tmp_path, None, make_meta())
    step = rec.begin_step(0, "s", "custom", {}, {"f": (np.arange(4.0), "Hz")},
                          {"v": (("f",), "dB", "values")})
    step.write_row("v", (), np.arange(4.0))
    y = np.arange(15.0).reshape(5, 3)
    rec.add_trace(step, "grid", np.arange(5.0), y, "Hz", "dBm", x_name="x", y_name="p")
    rec.end_step(step, [], "pass")
    path = rec.close("completed", "pass")
    assert check_record(path).valid, [str(p) for p in check_record(path).problems]
    trace = results.open(path).traces["000_s"]["grid"]
    assert trace.dims == ("x", "p_dim1") and trace.attrs["units"] == "dBm"
    np.testing.assert_array_equal(trace.values, y)


# ---------------------------------------------------------------------- .partial
KILLED_RUN = textwrap.dedent("""
    import sys
    import yaml
    from benchbot.bench import builtin_bench_path, load_bench
    from benchbot.engine import SilentListener
    from benchbot.plan import parse_plan
    from benchbot.runner import RunRequest, run
    from benchbot.simbench import running

    class HoldAt(SilentListener):
        '''Announce the record, then block mid-sweep until the parent kills us.'''
        points = 0

        def point_done(self, index):
            HoldAt.points += 1
            if HoldAt.points == int(sys.argv[3]):
                print("holding", flush=True)
                sys.stdin.read()

    text = open(sys.argv[1], encoding="utf-8").read()
    plan = parse_plan(text, "plan.yaml")
    bench = load_bench(builtin_bench_path("simulated"))
    with running(bench, plan.dut.part_number) as (served, _):
        run(RunRequest(plan=plan, plan_text=text, bench=served, bench_text=bench.name,
                       simulated=True, results_dir=sys.argv[2]), HoldAt())
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_a_killed_run_opens_as_interrupted(tmp_path: Path) -> None:
    """A power sweep killed (SIGKILL) in its second frequency row: the `.partial` is valid,
    opens, says it is interrupted and holds what was flushed (NaN for the rest)."""
    text, _ = _plan_text("power_sweep")
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(text, encoding="utf-8")
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(plan_path), str(out), "20"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    (partial,) = out.glob("*.h5.partial")
    report = check_record(partial)
    assert report.valid, [str(p) for p in report.problems]
    rec = results.open(partial)
    assert rec.partial and rec.interrupted and rec.status == "interrupted"
    assert rec.stored_status == "running"
    assert any("interrupted" in w for w in rec.warnings)
    ds = rec.step("compression")
    assert ds.attrs["status"] == "interrupted" and ds.attrs["stored_status"] == "running"
    p_out = ds["output_power_dbm"]
    with h5py.File(partial, "r") as f:
        np.testing.assert_array_equal(p_out.values, f[f"{PA_STEP}/output_power_dbm"][()])
    measured = int(np.isfinite(p_out.values).sum())
    assert 0 < measured < p_out.size  # the first row was committed, the run never finished
    assert np.isfinite(p_out.sel(frequency_hz=3.3e9).values).all()
