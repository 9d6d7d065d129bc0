"""Issue 6 part 6: CSV and netCDF exports of records from real simulated runs (a power sweep
and an S-parameter sweep). Every exported value is compared with a plain h5py read of the
record; CSV headers carry the units and each file the provenance block; each netCDF group
reads back with xarray with the source's variables, dimensions and units; the CLI writes both."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import benchbot.results as results
from benchbot.bench import builtin_bench_path, load_bench
from benchbot.cli import EXIT_ERROR, EXIT_PASS, main
from benchbot.plan import parse_plan
from benchbot.results.export import (
    default_csv_dir,
    default_netcdf_path,
    export_csv,
    export_netcdf,
    netcdf_groups,
    step_tables,
)
from benchbot.runner import RunRequest, run
from benchbot.simbench import running

ROOT = Path(__file__).resolve().parents[1]


def _small_pa(doc: dict) -> None:
    step = doc["steps"][0]
    step["frequencies_hz"] = [3.3e9, 3.55e9]
    step["input_power_dbm"] = {"start": -20.0, "stop": 6.0, "step": 2.0}


def _small_filter(doc: dict) -> None:
    doc["steps"][0]["sweep"]["points"] = 101


#: kind -> (plan file, built-in bench, how to shrink the plan)
PLANS: dict[str, tuple[str, str, Callable[[dict], None]]] = {
    "power_sweep": ("pa_power_sweep.yaml", "simulated", _small_pa),
    "s_parameters": ("n78_band_filter.yaml", "simulated-network", _small_filter),
}


@pytest.fixture(scope="module", params=sorted(PLANS))
def record(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed record of a real run on the simulated bench."""
    plan_file, bench_name, shrink = PLANS[request.param]
    doc = yaml.safe_load((ROOT / "test_plans" / plan_file).read_text(encoding="utf-8"))
    shrink(doc)
    text = yaml.safe_dump(doc)
    plan = parse_plan(text, plan_file)
    bench = load_bench(builtin_bench_path(bench_name))
    with running(bench, plan.dut.part_number) as (served, _):
        outcome = run(RunRequest(plan=plan, plan_text=text, bench=served, bench_text=bench.name,
                                 simulated=True,
                                 results_dir=tmp_path_factory.mktemp(request.param)))
    assert outcome.status == "completed", outcome.error
    return outcome.record_path


# --- helpers: the source, read with plain h5py -----------------------------------------------


def _h5_step(step: h5py.Group) -> dict[str, tuple[tuple[str, ...], np.ndarray, str]]:
    """Every non-axis data dataset of a step: name -> (axis names, values, units)."""
    out = {}
    for name, ds in step.items():
        if not isinstance(ds, h5py.Dataset) or ds.is_scale or ds.dtype.names:
            continue
        dims = tuple(d[0].name.rsplit("/", 1)[-1] for d in ds.dims)
        out[name] = (dims, ds[()], ds.attrs["units"])
    return out


def _split_header(column: str) -> tuple[str, str | None]:
    """'output_power_dbm [dBm]' -> ('output_power_dbm', 'dBm')."""
    name, _, rest = column.partition(" [")
    return name, (rest[:-1] if rest else None)


def _comments(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    block = [line[2:] for line in lines if line.startswith("# ")]
    assert lines[len(block)] and not lines[len(block)].startswith("#")  # one leading block
    return dict(line.split(": ", 1) for line in block[1:])


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows read with the csv module, comment lines skipped."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _num(text: str) -> float:
    return float("nan") if text == "" else float(text)


# --- CSV -------------------------------------------------------------------------------------


def test_step_csv_round_trips_with_units_in_the_header(record: Path, tmp_path: Path) -> None:
    paths = export_csv(record, tmp_path)
    with h5py.File(record, "r") as f:
        for group_name, group in f["steps"].items():
            source = _h5_step(group)
            path = tmp_path / f"{group_name}.csv"
            assert path in paths
            df = pd.read_csv(path, comment="#")
            names = dict(_split_header(c) for c in df.columns)
            axes = [c for c in df.columns if _split_header(c)[0] not in source]
            assert set(names) == set(source) | {_split_header(a)[0] for a in axes}
            for axis in axes:  # the axes' units too
                name, units = _split_header(axis)
                assert units == group[name].attrs["units"]
            back = df.set_index(axes).to_xarray().rename({a: _split_header(a)[0] for a in axes})
            assert back.sizes == {a: group[a].size for a in back.dims}  # a full grid
            for name, (dims, values, units) in source.items():
                column = f"{name} [{units}]"
                assert column in df.columns
                got = back[column].sel({d: group[d][()] for d in back.dims})  # source order
                got = got.transpose(*dims, *[d for d in got.dims if d not in dims]).values
                expected = values.reshape(values.shape + (1,) * (got.ndim - values.ndim))
                np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape))
                assert np.isnan(values).any() == df[column].isna().any()


def test_csv_provenance_block(record: Path, tmp_path: Path) -> None:
    paths = export_csv(record, tmp_path)
    sha = hashlib.sha256(record.read_bytes()).hexdigest()
    with h5py.File(record, "r") as f:
        root = {k: f.attrs[k] for k in ("run_id", "plan_name", "plan_version", "dut.serial",
                                        "bench_name", "status", "verdict")}
        settings = {g: f["steps"][g].attrs["settings_json"] for g in f["steps"]}
        software = f.attrs["software.benchbot"]
    for path in paths:
        meta = _comments(path)
        assert meta["record"] == record.name and meta["record_sha256"] == sha
        assert (meta["run_id"], meta["plan"], meta["plan_version"], meta["dut_serial"],
                meta["bench"], meta["status"], meta["verdict"]) == tuple(root.values())
        assert meta["benchbot_version"] == software
        group = meta.get("step_group")
        if group is not None:
            assert meta["step_settings"] == settings[group]
            assert json.loads(meta["step_settings"])["name"] == meta["step"]
    assert [p.name for p in paths][-2:] == ["metrics.csv", "events.csv"]


def test_metrics_and_events_csv(record: Path, tmp_path: Path) -> None:
    export_csv(record, tmp_path)
    rows = _csv_rows(tmp_path / "metrics.csv")
    assert list(rows[0])[:10] == ["step", "metric", "condition", "value", "unit", "min", "max",
                                  "margin", "verdict", "method"]
    expected = []
    with h5py.File(record, "r") as f:
        for group_name, group in f["steps"].items():
            for m in group["metrics"][()]:
                expected.append((group.attrs["name"], group_name, m))
        events = f["events"][()]
    assert len(rows) == len(expected) > 0
    for row, (step, group_name, m) in zip(rows, expected, strict=True):
        assert (row["step"], row["group"]) == (step, group_name)
        for text in ("metric", "condition", "unit", "verdict", "method", "limit_source", "note"):
            assert row[text] == m[text].decode(), text
        for number in ("value", "min", "max", "margin", "marginal"):
            np.testing.assert_array_equal(_num(row[number]), m[number])
    rows = _csv_rows(tmp_path / "events.csv")
    assert [r["message"] for r in rows] == [e["message"].decode() for e in events]
    assert [float(r["time [s]"]) for r in rows] == events["time"].tolist()


def test_trace_csv(record: Path, tmp_path: Path) -> None:
    paths = export_csv(record, tmp_path)
    with h5py.File(record, "r") as f:
        traces = [(g, t) for g, step in f["steps"].items() if "traces" in step
                  for t in step["traces"].values()]
        if not traces:
            assert not [p for p in paths if ".trace." in p.name]
            return
        for group_name, trace in traces:
            x, y = trace[trace.attrs["x"]], trace[trace.attrs["y"]]
            path = tmp_path / f"{group_name}.trace.{trace.attrs['name']}.csv"
            rows = _csv_rows(path)
            assert list(rows[0]) == [f"{x.name.rsplit('/', 1)[-1]} [{x.attrs['units']}]",
                                     f"{y.name.rsplit('/', 1)[-1]} [{y.attrs['units']}]"]
            got = np.array([[float(v) for v in r.values()] for r in rows])
            np.testing.assert_array_equal(got[:, 0], x[()])
            np.testing.assert_array_equal(got[:, 1].astype(y.dtype), y[()])  # float32 exact
            assert _comments(path)["trace.rbw_hz"] == str(trace.attrs["rbw_hz"])


def test_csv_quotes_text_pandas_would_take_for_a_comment(record: Path, tmp_path: Path) -> None:
    """A '#' in a text cell must not cut the row when read with comment='#'; a provenance
    value with a line break stays one comment line."""
    rec = results.open(record)
    group = next(iter(rec.metrics))
    note = 'ticket #42, "see" the log\nsecond line'
    rec.metrics[group]["note"].values[0] = note
    rec.meta["operator"] = "night shift\nsecond line"  # a multi-line value: one comment line
    export_csv(rec, tmp_path)
    df = pd.read_csv(tmp_path / "metrics.csv", comment="#")
    assert df["note"][0] == note and len(df) == sum(m.sizes["metric_row"]
                                                    for m in rec.metrics.values())
    assert list(df.columns[:2]) == ["step", "metric"]
    assert _comments(tmp_path / "metrics.csv")["operator"] == "night shift second line"


def test_steps_whose_axes_do_not_nest_get_one_table_per_axis_set(record: Path,
                                                                  tmp_path: Path) -> None:
    """A network_paths-like step: s over (state, frequency), a path trace over (path,
    frequency), a per-frequency variable joining the first table."""
    f_hz = np.array([1e9, 2e9, 3e9])
    ds = xr.Dataset(
        {"s_re": (("state", "frequency_hz"), np.arange(6.0).reshape(2, 3), {"units": "1"}),
         "k_factor": (("frequency_hz",), [1.0, np.nan, 3.0], {"units": "1"}),
         "path_db": (("path", "frequency_hz"), -np.arange(6.0).reshape(2, 3), {"units": "dB"})},
        coords={"state": ("state", np.array(["rf1", "rf2"], dtype=object)),
                "frequency_hz": ("frequency_hz", f_hz, {"units": "Hz"}),
                "path": ("path", [0.0, 1.0], {"units": "1"})},
        attrs={"name": "switch", "group": "009_switch", "kind": "network_paths"})
    assert step_tables(ds) == [(("state", "frequency_hz"), ["s_re", "k_factor"]),
                               (("path", "frequency_hz"), ["path_db"])]
    rec = results.open(record)
    rec.steps = {"009_switch": ds}
    rec.metrics, rec.traces = {}, {}
    names = [p.name for p in export_csv(rec, tmp_path)]
    assert names[:2] == ["009_switch.state-frequency_hz.csv", "009_switch.path-frequency_hz.csv"]
    rows = _csv_rows(tmp_path / names[0])
    assert list(rows[0]) == ["state", "frequency_hz [Hz]", "s_re [1]", "k_factor [1]"]
    assert [(r["state"], _num(r["frequency_hz [Hz]"]), _num(r["s_re [1]"])) for r in rows] == [
        (s, f, float(3 * i + j)) for i, s in enumerate(["rf1", "rf2"]) for j, f in enumerate(f_hz)]
    assert [r["k_factor [1]"] for r in rows] == ["1.0", "", "3.0"] * 2  # NaN empty
    assert _comments(tmp_path / names[1])["table_axes"] == "path, frequency_hz"


# --- netCDF ----------------------------------------------------------------------------------


def test_netcdf_round_trips_every_group(record: Path, tmp_path: Path) -> None:
    out = export_netcdf(record, tmp_path / "run.nc")
    assert out == tmp_path / "run.nc" and not list(tmp_path.glob("*.partial"))
    rec = results.open(record)
    groups = netcdf_groups(rec)
    assert {f"steps/{g}" for g in rec.steps} | {f"steps/{g}/metrics" for g in rec.metrics} \
        | {"/", "events"} <= set(groups)
    for name, expected in groups.items():
        with xr.open_dataset(out, group=None if name == "/" else name) as back:
            xr.testing.assert_identical(back.load(), expected)
        for var in expected.variables.values():  # CF-style metadata on every variable
            assert "long_name" in var.attrs
            if var.dtype.kind == "f" and not name.endswith("metrics"):
                assert var.attrs.get("units"), (name, var.name)


def test_netcdf_equals_the_hdf5_source(record: Path, tmp_path: Path) -> None:
    """Compared with h5py directly (not through benchbot's reader)."""
    out = export_netcdf(record, tmp_path / "run.nc")
    with h5py.File(record, "r") as f:
        with xr.open_dataset(out) as root:
            for key in ("run_id", "plan_yaml", "bench_name", "dut.serial", "verdict"):
                assert root.attrs[key] == f.attrs[key]
            assert root.attrs["source_record_sha256"] == hashlib.sha256(
                record.read_bytes()).hexdigest()
        for group_name, group in f["steps"].items():
            with xr.open_dataset(out, group=f"steps/{group_name}") as back:
                for name, (dims, values, units) in _h5_step(group).items():
                    assert back[name].dims == dims
                    assert back[name].attrs["units"] == units
                    np.testing.assert_array_equal(back[name].values, values)
                for axis in back.dims:
                    np.testing.assert_array_equal(back[axis].values, group[axis][()])
                    assert back[axis].attrs["units"] == group[axis].attrs["units"]
                assert back.attrs["settings_json"] == group.attrs["settings_json"]
            with xr.open_dataset(out, group=f"steps/{group_name}/metrics") as back:
                table = group["metrics"][()]
                for field in table.dtype.names:
                    column = table[field]
                    if column.dtype.kind == "O":
                        column = np.array([v.decode() for v in column], dtype=object)
                    np.testing.assert_array_equal(back[field].values, column)
            for trace in group.get("traces", {}).values():
                with xr.open_dataset(out, group=f"steps/{group_name}/traces/"
                                     f"{trace.attrs['name']}") as back:
                    y = back[trace.attrs["y"]]
                    np.testing.assert_array_equal(y.values, trace[trace.attrs["y"]][()])
                    assert y.dtype == trace[trace.attrs["y"]].dtype
                    assert y.dims == (trace.attrs["x"],)
        with xr.open_dataset(out, group="events") as back:
            np.testing.assert_array_equal(back["time"].values, f["events"]["time"])
            assert back["time"].attrs["units"] == "s"


# --- CLI -------------------------------------------------------------------------------------


def test_cli_writes_csv_and_netcdf(record: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "csv", str(record), "-o", str(tmp_path / "csv")]) == EXIT_PASS
    printed = capsys.readouterr().out.split()
    assert printed and all(Path(p).parent == tmp_path / "csv" and Path(p).is_file()
                           for p in printed)
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    copy = tmp_path / record.name  # default outputs go next to the record
    copy.write_bytes(record.read_bytes())
    assert main(["export", "netcdf", str(copy)]) == EXIT_PASS
    assert capsys.readouterr().out.strip() == str(default_netcdf_path(copy))
    assert default_netcdf_path(copy).name == record.name.removesuffix(".h5") + ".nc"
    with xr.open_dataset(default_netcdf_path(copy)) as root:
        assert root.attrs["source_record"] == record.name
    assert main(["export", "csv", str(copy)]) == EXIT_PASS
    assert (default_csv_dir(copy) / "events.csv").is_file()
    not_a_record = tmp_path / "x.h5"
    not_a_record.write_bytes(b"not hdf5")
    assert main(["export", "netcdf", str(not_a_record)]) == EXIT_ERROR
    assert main(["export", "csv", str(tmp_path / "missing.h5")]) == EXIT_ERROR
