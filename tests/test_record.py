"""HDF5 run record: writer, reader, crash safety and compatibility (benchbot.results)."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchbot.results import (
    RecordBusyError,
    RecordFormatError,
    RunMeta,
    RunRecord,
    open_record,
    summarise,
)

FREQS = np.array([3.30e9, 3.55e9, 3.80e9])
PIN = np.arange(-25.0, 8.01, 0.5)  # 67 levels, as in test_plans/pa_power_sweep.yaml
RUN_ID = "0f8e3c52-9b1d-4c3e-8f7a-2d6b5a4c3b21"


def make_meta(**over: object) -> RunMeta:
    fields: dict[str, object] = dict(
        plan_name="n78-pa-power-sweep", plan_version="1.0",
        plan_text="schema: benchbot.plan/1\nname: n78-pa-power-sweep\n# µ-ünïcode\n",
        bench_name="simulated-keysight", bench_text="schema: benchbot.bench/1\n",
        dut={"part_number": "BB-PA-N78-01", "serial": "SIM-0001", "kind": "power_amplifier",
             "safe_operating_area": {"max_rf_input_dbm": 10.0}},
        operator="lab-engineer",
        software={"python": "3.11", "benchbot": "0.1.0", "numpy": np.__version__,
                  "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version,
                  "pyvisa": "1.16.2", "pyvisa-py": "0.8.1"},
        simulated=True, simulator_seed=20261123, host="bench-pc-1")
    fields.update(over)
    return RunMeta(**fields)  # type: ignore[arg-type]


def sweep_step(rec: RunRecord, index: int = 0, name: str = "compression"):
    return rec.begin_step(
        index, name, "power_sweep",
        {"settle_s": 0.0, "reference_plane": "dut_input", "limits": {"psat_dbm": {"min": 31}}},
        {"frequency": (FREQS, "Hz", "carrier frequency"), "p_in": (PIN, "dBm")},
        {"p_out": (("frequency", "p_in"), "dBm", "output power at the DUT plane"),
         "i_dc": (("frequency", "p_in"), "A", "supply current")})


METRIC = {"metric": "p1db_output_dbm", "unit": "dBm", "value": 30.2,
          "condition": {"frequency_hz": 3.55e9}, "min": 29.0, "max": None, "marginal": 0.5,
          "verdict": "PASS", "margin": 1.2, "method": "linear interpolation", "note": ""}


def full_run(tmp_path: Path) -> Path:
    rec = RunRecord.create(tmp_path, RUN_ID, make_meta(), started_epoch=1795000000.0)
    rec.add_instrument("signal_analyzer", {"manufacturer": "Keysight Technologies",
                       "model": "N9030B", "serial": "MY55001234", "firmware": "A.26.05"},
                       "TCPIP::127.0.0.1::5025::SOCKET", "keysight.n9030b", {"channel": 1},
                       calibration={"due": "2027-03-01"})
    rec.add_path_loss("power_meter", [3.0e9, 3.55e9, 4.0e9], [36.4, 36.55, 36.66], "bench")
    step = sweep_step(rec)
    for i in range(len(FREQS)):
        step.write_rows(i, {"p_out": PIN + 28.0 + i, "i_dc": np.full(PIN.size, 0.1 * (i + 1))})
    rec.add_trace(step, "spectrum_p1db", np.linspace(3e9, 4e9, 2001), np.full(2001, -90.0),
                  "Hz", "dBm", {"rbw_hz": 1e5}, x_name="frequency", y_name="power")
    rec.add_event("warning", "generator unleveled at 8 dBm", step=step)
    rec.end_step(step, [METRIC, dict(METRIC, metric="psat_dbm", custom=1)], "PASS")
    rec.set_traffic_log("signal_analyzer", [(1795000000.5, "write", ":INIT:IMM"),
                                            {"time": 1795000000.6, "direction": "read",
                                             "text": "+1"}])
    path = rec.close("completed", "PASS")
    assert rec.time_spent_s > 0
    return path


def test_round_trip_plain_h5py(tmp_path: Path) -> None:
    path = full_run(tmp_path)
    assert path.name == "20261118T110640Z_n78-pa-power-sweep_SIM-0001_0f8e3c52.h5"
    assert list(tmp_path.iterdir()) == [path]  # renamed, no .partial left
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert (a["format"], a["format_version"], a["run_id"]) == ("benchbot.record", "1.1",
                                                                    RUN_ID)
        assert a["status"] == "completed" and a["verdict"] == "PASS"
        assert a["plan_yaml"] == make_meta().plan_text and len(a["plan_sha256"]) == 64
        assert a["dut.serial"] == "SIM-0001" and a["simulated"] == 1
        assert a["simulator_seed"] == 20261123 and a["software.pyvisa-py"] == "0.8.1"
        assert a["started_utc"] == "2026-11-18T11:06:40.000000Z" and a["ended_epoch"] > 0
        step = f["steps/000_compression"]
        assert step.attrs["status"] == "completed" and step.attrs["verdict"] == "PASS"
        assert json.loads(step.attrs["settings_json"])["reference_plane"] == "dut_input"
        p_out = step["p_out"]
        assert p_out.dtype == np.float64 and p_out.attrs["units"] == "dBm"
        assert p_out.attrs["long_name"] == "output power at the DUT plane"
        assert step["frequency"].is_scale and step["frequency"].attrs["units"] == "Hz"
        assert [d[0].name for d in p_out.dims] == ["/steps/000_compression/frequency",
                                                   "/steps/000_compression/p_in"]
        np.testing.assert_array_equal(p_out[2], PIN + 30.0)
        metrics = step["metrics"][()]
        assert metrics["metric"].tolist() == [b"p1db_output_dbm", b"psat_dbm"]
        assert np.isnan(metrics["max"][0]) and metrics["min"][0] == 29.0
        assert json.loads(metrics["extra"][1]) == {"custom": 1}
        trace = step["traces/spectrum_p1db"]
        assert trace["power"].dims[0][0].name.endswith("/frequency")
        assert trace["frequency"].compression == "gzip" and trace["power"].compression is None
        inst = f["instruments/signal_analyzer"].attrs
        assert inst["idn.model"] == "N9030B" and inst["calibration.due"] == "2027-03-01"
        assert f["calibration/path_loss/power_meter/loss_db"].attrs["units"] == "dB"
        events = f["events"][()]
        assert events["level"].tolist() == [b"warning"]
        assert events["step"][0] == b"000_compression"
        traffic = f["traffic/signal_analyzer"][()]
        assert traffic["text"].tolist() == [b":INIT:IMM", b"+1"]


def test_superblock_readable_by_old_hdf5(tmp_path: Path) -> None:
    path = full_run(tmp_path)
    with h5py.File(path, "r") as f:
        superblock, *_ = f.id.get_create_plist().get_version()
    assert superblock < 2  # v0 here; "latest" would write v3, unreadable by HDF5 1.10 tools
    h5ls = shutil.which("h5ls")
    if h5ls:  # whatever system HDF5 the machine has (Debian 12: 1.10.8)
        out = subprocess.run([h5ls, "-r", "-d", str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and "*ERROR*" not in out.stdout + out.stderr


def test_reader_summary_complete(tmp_path: Path) -> None:
    rec = open_record(full_run(tmp_path))
    assert (rec.status, rec.verdict, rec.partial, rec.interrupted) == ("completed", "PASS",
                                                                       False, False)
    assert rec.dut["serial"] == "SIM-0001" and rec.simulated and rec.simulator_seed == 20261123
    assert rec.instruments["signal_analyzer"]["idn.serial"] == "MY55001234"
    assert rec.path_loss["power_meter"]["loss_db"] == [36.4, 36.55, 36.66]
    (step,) = rec.steps
    assert step.axes == {"frequency": (3, "Hz"), "p_in": (67, "dBm")}
    assert {d.name: d.points_written for d in step.datasets} == {"p_out": 201, "i_dc": 201}
    assert {d.name: d.dims for d in step.datasets}["p_out"] == ("frequency", "p_in")
    assert step.metrics[0]["value"] == 30.2 and step.traces[0].length == 2001
    assert rec.traffic == {"signal_analyzer": 2} and rec.events[0]["level"] == "warning"
    assert "plan_yaml" not in rec.meta and "µ" in rec.plan_text
    json.dumps(rec.to_dict())
    text = summarise(rec.path)
    assert "status completed" in text and "p1db_output_dbm" in text


def kill_child_code(n_complete: int) -> str:
    return textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_record import METRIC, make_meta, sweep_step, PIN
        from benchbot.results import RunRecord
        rec = RunRecord.create(sys.argv[1], None, make_meta(), flush_every_rows=1)
        for k in range({n_complete}):
            step = sweep_step(rec, k, f"step{{k}}")
            for i in range(3):
                step.write_row("p_out", i, PIN + k)
            rec.end_step(step, [METRIC], "PASS")
        step = sweep_step(rec, {n_complete}, "killed")
        step.write_row("p_out", 0, PIN + 100)   # flushed
        step.write_row("p_out", 1, PIN + 101)   # flushed
        step.write_point("p_out", (2, 0), 7.0)  # not flushed (no commit yet)
        print(rec.path, flush=True)
        sys.stdin.read()                        # hold the file open until killed
    """)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_killed_writer_leaves_readable_partial(tmp_path: Path) -> None:
    n = 2
    proc = subprocess.Popen([sys.executable, "-c", kill_child_code(n), str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line, "writer died before reaching the kill point"
        partial = Path(line)
        if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() != "FALSE":
            with pytest.raises(RecordBusyError):
                open_record(partial)
        live = open_record(partial, ignore_lock=True)  # what is flushed is on disk already
        assert len(live.steps) == n + 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert partial.name.endswith(".h5.partial") and partial.exists()
    with h5py.File(partial, "r") as f:  # plain h5py, no h5clear needed
        assert f.attrs["status"] == "running"
        groups = sorted(f["steps"])
        assert groups == ["000_step0", "001_step1", "002_killed"]
        for k, name in enumerate(groups[:n]):
            step = f["steps"][name]
            assert step.attrs["status"] == "completed" and step["metrics"].shape == (1,)
            np.testing.assert_array_equal(step["p_out"][()], np.tile(PIN + k, (3, 1)))
        killed = f["steps/002_killed/p_out"][()]
        np.testing.assert_array_equal(killed[:2], [PIN + 100, PIN + 101])
        assert f["steps/002_killed"].attrs["status"] == "running"
    rec = open_record(partial)
    assert rec.partial and rec.interrupted and rec.status == "interrupted"
    assert [s.status for s in rec.steps] == ["completed", "completed", "interrupted"]
    assert {d.name: d.points_written for d in rec.steps[2].datasets}["p_out"] >= 2 * PIN.size
    assert any("interrupted" in w for w in rec.warnings)
    assert "status interrupted" in summarise(partial)


def test_context_manager_closes_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunRecord.create(tmp_path, None, make_meta()) as rec:
        step = sweep_step(rec)
        step.write_row("p_out", 0, PIN)
        raise RuntimeError("instrument timeout")
    assert rec.closed and rec.path.suffix == ".h5" and rec.path.exists()
    summary = open_record(rec.path)
    assert summary.status == "error" and summary.verdict is None
    assert summary.steps[0].status == "error"
    assert "instrument timeout" in summary.events[-1]["message"]
    assert rec.close("completed") == rec.path  # idempotent: the engine's finally may call it


def test_context_manager_keyboard_interrupt_is_aborted(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), RunRecord.create(tmp_path, None, make_meta()) as rec:
        raise KeyboardInterrupt
    assert open_record(rec.path).status == "aborted"


def test_open_step_at_close_is_incomplete_and_steps_are_read_only(tmp_path: Path) -> None:
    rec = RunRecord.create(tmp_path, None, make_meta())
    done = sweep_step(rec, 0, "a")
    rec.end_step(done, [], "PASS")
    with pytest.raises(RuntimeError):
        done.write_row("p_out", 0, PIN)
    with pytest.raises(RuntimeError):
        rec.end_step(done, [], "PASS")
    open_step = sweep_step(rec, 1, "b")
    open_step.write_point("p_out", (0, 3), 1.5)  # buffered; close() must still store it
    path = rec.close("completed", "PASS")
    summary = open_record(path)
    assert [s.status for s in summary.steps] == ["completed", "incomplete"]
    assert {d.name: d.points_written for d in summary.steps[1].datasets}["p_out"] == 1
    with pytest.raises(RuntimeError):
        rec.add_event("info", "after close")


def test_bad_writes_are_rejected(tmp_path: Path) -> None:
    rec = RunRecord.create(tmp_path, None, make_meta())
    step = sweep_step(rec)
    with pytest.raises(KeyError):
        step.write_row("nope", 0, PIN)
    with pytest.raises(ValueError):
        step.write_point("p_out", (0,), 1.0)
    with pytest.raises(ValueError):
        step.write_row("p_out", 0, PIN[:10])
    with pytest.raises(ValueError):
        rec.begin_step(1, "x", "k", {}, {"f": (FREQS, "Hz")}, {"y": (("g",), "dB", "")})
    rec.begin_step(1, "x", "k", {}, {"f": (FREQS, "Hz")}, {"y": (("f",), "dB", "")})  # retry
    step.add_dataset("gain", ("frequency", "p_in"), "dB", "gain", data=np.ones((3, PIN.size)))
    rec.close()


class FakeVerdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"


@dataclasses.dataclass
class FakeLimit:
    min: float | None = None
    max: float | None = None
    marginal_db: float = 0.0


@dataclasses.dataclass
class FakeMetric:  # shaped like benchbot.limits.MetricResult (storage imports nothing of it)
    metric: str
    value: float
    limit: FakeLimit | None
    verdict: FakeVerdict

    def to_dict(self) -> dict[str, object]:
        return {"step": "compression", "metric": self.metric, "unit": "dBm", "value": self.value,
                "condition": {"frequency_hz": 3.3e9}, "limit": self.limit,
                "verdict": self.verdict, "margin": 0.7}


def test_engine_style_step_api(tmp_path: Path) -> None:
    rec = RunRecord.create(tmp_path, None, make_meta(), flush_every_rows=0)
    step = sweep_step(rec)
    for j in range(PIN.size):
        step.write("p_out", (0, j), PIN[j] + 28.0)
    step.write("i_dc", (0,), np.full(PIN.size, 0.2))
    step.flush()
    step.add_trace("spectrum", [1.0, 2.0], [-10.0, -20.0], "Hz", "dBm", {"rbw_hz": 1e3})
    step.finish([FakeMetric("p1db_output_dbm", 30.2, FakeLimit(min=29.0, marginal_db=0.5),
                            FakeVerdict.PASS),
                 FakeMetric("psat_dbm", 33.0, None, FakeVerdict.FAIL)], FakeVerdict.PASS)
    t0 = time.monotonic()
    rec.set_traffic_log("signal_generator", [(t0, "w", ":OUTP ON"), (t0 + 0.01, "r", "1")])
    path = rec.close("completed", FakeVerdict.PASS)
    summary = open_record(path)
    assert summary.verdict == "pass"
    (s,) = summary.steps
    assert s.verdict == "pass" and s.traces[0].attrs["rbw_hz"] == 1e3
    m0, m1 = s.metrics
    assert (m0["min"], m0["marginal"], m0["verdict"], m0["extra"]) == (29.0, 0.5, "pass", "")
    assert m0["max"] is None and m1["min"] is None and m1["verdict"] == "fail"
    assert {d.name: d.points_written for d in s.datasets} == {"p_out": 67, "i_dc": 67}
    with h5py.File(path, "r") as f:
        traffic = f["traffic/signal_generator"]
        assert abs(traffic["time"][0] - time.time()) < 60  # monotonic stamps moved to Unix time
        assert traffic.attrs["time_source"].startswith("time.monotonic()")
    assert summary.headline()["verdict"] == "pass"


@pytest.mark.parametrize(("every", "flushes"), [(1, 4), (2, 2), (0, 0)])
def test_flush_cadence(tmp_path: Path, every: int, flushes: int) -> None:
    rec = RunRecord.create(tmp_path, None, make_meta(), flush_every_rows=every)
    step = sweep_step(rec)
    before = rec.flush_count
    for i in (0, 1, 2, 0):
        step.write_row("p_out", i, PIN)
    assert rec.flush_count - before == flushes
    rec.close()


def test_never_overwrites(tmp_path: Path) -> None:
    full_run(tmp_path)
    with pytest.raises(FileExistsError):
        RunRecord.create(tmp_path, RUN_ID, make_meta(), started_epoch=1795000000.0)


@pytest.mark.parametrize(("version", "outcome"), [("1.7", "warn"), ("2.0", "error")])
def test_reader_format_versions(tmp_path: Path, version: str, outcome: str) -> None:
    path = full_run(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = version
    if outcome == "error":
        with pytest.raises(RecordFormatError):
            open_record(path)
    else:
        assert "newer" in open_record(path).warnings[0]


def test_reader_rejects_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = 1.0
    with pytest.raises(RecordFormatError):
        open_record(path)


def test_demo_sized_write_cost(tmp_path: Path) -> None:
    """3 frequencies x 67 levels, 8 datasets written point by point, ~1 MB of traces."""
    rng = np.random.default_rng(0)
    names = ["p_in", "p_out", "gain", "i_dc", "v_dc", "pae", "de", "am_pm"]
    rec = RunRecord.create(tmp_path, None, make_meta())
    step = rec.begin_step(0, "compression", "power_sweep", {},
                          {"frequency": (FREQS, "Hz"), "p_in_set": (PIN, "dBm")},
                          {n: (("frequency", "p_in_set"), "1", n) for n in names})
    for i in range(len(FREQS)):
        for j in range(PIN.size):
            for n in names:
                step.write_point(n, (i, j), rng.normal())
        step.flush()
        rec.add_trace(step, f"spectrum_{i}", np.linspace(3e9, 4e9, 10001),
                      rng.normal(size=10001).astype("f4"), "Hz", "dBm")
        rec.add_trace(step, f"iq_{i}", np.arange(16384) / 1e8,
                      rng.normal(size=16384) + 1j * rng.normal(size=16384), "s", "V")
    rec.end_step(step, [METRIC] * 21, "PASS")
    rec.set_traffic_log("signal_generator", [(0.0, "write", ":POW 1 DBM")] * 2000)
    rec.close()
    # measured ~25-35 ms on the 2-core dev VM; 3 % of a 3 s run is 90 ms
    assert rec.time_spent_s < 0.5, rec.time_spent_s


def test_reads_with_xarray_when_available(tmp_path: Path) -> None:
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    path = full_run(tmp_path)
    ds = xr.open_dataset(path, engine="h5netcdf", group="steps/000_compression",
                         phony_dims="access")
    assert ds["p_out"].dims == ("frequency", "p_in") and ds["p_out"].attrs["units"] == "dBm"
    ds.close()


def test_chunked_rows_written_whole_read_back_exactly(tmp_path: Path) -> None:
    """Mirrored datasets are written chunk by chunk (H5Dwrite_chunk): rows in several chunks,
    a partial last chunk, a rewritten row and single points all read back as written, NaN
    where nothing was written."""
    rec = RunRecord.create(tmp_path, None, make_meta(), flush_every_rows=0)
    rows, cols = 3001, 16  # 384 kB of float64: split into chunks of 1501 rows, the last partial
    step = rec.begin_step(0, "big", "s_parameters", {},
                          {"n": (np.arange(rows), ""), "m": (np.arange(cols), "")},
                          {"v": (("n", "m"), "1", "values")})
    expected = np.full((rows, cols), np.nan)
    rng = np.random.default_rng(3)
    for i in (0, 1500, 1501, 3000, 1500):
        expected[i] = rng.normal(size=cols)
        step.write("v", (i,), expected[i])
        step.flush()
    expected[2000, 5] = 42.0
    step.write("v", (2000, 5), 42.0)
    step.flush()
    assert step.group["v"].chunks == (1501, cols)
    np.testing.assert_array_equal(step.group["v"][()], expected)  # through the open file
    path = rec.close("completed")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["steps/000_big/v"][()], expected)


def test_committed_rows_and_step_ends_are_fsynced_other_flushes_are_not(tmp_path: Path) -> None:
    """A power cut loses what is only in the OS cache: a committed row (what a resume keeps)
    and a step's end go to the disk; per-point flushes and events stay cheap."""
    record = RunRecord.create(tmp_path, None, make_meta())
    step = record.begin_step(0, "s", "power_sweep", {}, {"frequency_hz": ([1e9, 2e9], "Hz")},
                             {"p": (("frequency_hz",), "dBm", "p")})
    record.add_event("info", "an event")
    assert record.fsync_count == 0
    step.write("p", (0,), 1.0)
    step.mark_committed(0)
    step.flush()
    assert record.fsync_count == 1
    step.write("p", (1,), 2.0)
    step.flush()  # not committed: no fsync
    assert record.fsync_count == 1
    step.finish([], verdict="pass")
    assert record.fsync_count == 2
    record.close()
