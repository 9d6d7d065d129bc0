"""(g) 4-port, 1601-point S-matrix fetched and stored, against the raw transfer of the same bytes.

For each vendor's simulated VNA (Keysight N5247B PNA-X, R&S ZNA26; `time_scale` 0) the driver
sets up a 1601-point sweep and runs it once (``measure_s_parameters((1, 2, 3, 4))``); the
simulator then serves the latched sweep. Timed, in alternating blocks (`_harness.interleaved`):

- driver + store: ``fetch_s_parameters((1, 2, 3, 4))`` (one REAL,64 block: Keysight
  ``CALC1:DATA:SNP:PORTS?``, R&S ``CALC1:DATA:SGR? SDAT``; pyvisa-py read, block parse, complex
  (F, 4, 4) matrix) then the record's write of ``s_re``/``s_im`` exactly as the
  ``s_parameters`` step declares them, and a flush of the HDF5 file (what a step commits);
- baseline: a plain `socket` that sends the same query and reads the whole block into a new
  buffer (`trace_fetch.RawBlockClient`), viewed as float64 without a copy;
- second baseline, the bare minimum that lands the same bytes in a file: that raw read, then one
  `os.pwrite` of the payload into a preallocated file (no HDF5, no reordering, no fsync -- the
  record's flush does not fsync either).

Both are measured twice: on loopback at memory speed, and with the simulator sending no faster
than a gigabit LAN (`link_rate_bit_per_s` 1e9: the instrument's own link, as a PNA-X or ZNA
has). ratio = baseline time / (driver + store) time, median of the per-repetition pairs. The
issue's target (≥ 0.9 of the raw transfer) is judged over the instrument link: on loopback the
raw transfer runs at memcpy speed and merely writing the same bytes to the file costs more than
a tenth of it (the pwrite row), so there the ratio is reported for the absolute overhead only.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks._harness import Row, interleaved, median, one_cpu, paired_ratio
from benchmarks.trace_fetch import RawBlockClient

TARGET = 0.9
POINTS = 1601
PORTS = (1, 2, 3, 4)
#: vendor label -> (driver, simulator model, the driver's one-block query)
VNAS = {
    "Keysight PNA-X": ("keysight.n5247b", "keysight_n5247b",
                       b"CALC1:DATA:SNP:PORTS? '1,2,3,4'\n"),
    "R&S ZNA": ("rs.zna", "rs_zna26", b"CALC1:DATA:SGR? SDAT\n"),
}


#: the instrument's LAN in the second measurement (gigabit Ethernet, as on a PNA-X or ZNA)
LINK_RATE_BIT_PER_S = 1e9


def _config(model: str, link_rate_bit_per_s: float = 0.0) -> dict[str, Any]:
    return {"seed": 7, "time_scale": 0.0, "instruments": {"vna": model},
            "link_rate_bit_per_s": link_rate_bit_per_s,
            "dut": {"model": "filter"},
            "vna": {"calibration": {"cal_set": "bench", "cal_type": "full", "ports": [1, 2, 3, 4]}}}


def _record(directory: Path) -> Any:
    """A run record with one step declared as the s_parameters measurement declares it."""
    import numpy as np

    from benchbot.measurements.s_parameters import s_axes, s_datasets
    from benchbot.results import RunMeta, RunRecord

    meta = RunMeta(plan_name="bench-g", plan_version="1", plan_text="", bench_name="sim",
                   bench_text="", dut={"part_number": "x", "serial": "x", "kind": "filter"},
                   operator="", software={}, simulated=True)
    record = RunRecord.create(directory, None, meta)
    f = np.linspace(1e9, 6e9, POINTS)
    step = record.begin_step(0, "sparams", "s_parameters", {}, s_axes(f, list(PORTS)),
                             s_datasets(("frequency_hz", "port_row", "port_col")))
    return record, step


def _measure_one(driver: str, model: str, query: bytes, quick: bool,
                 link_rate_bit_per_s: float = 0.0) -> dict[str, float]:
    from instruments.interfaces import VectorNetworkAnalyzer
    from instruments.registry import connect
    from simulators import SimulatedBench

    calls, repeats = (2, 4) if quick else (10, 30)
    with one_cpu(), SimulatedBench(_config(model, link_rate_bit_per_s)) as sim, \
            ExitStack() as opened:
        server = sim.servers["vna"]
        vna = connect(driver, server.resource, timeout_s=30.0)
        opened.callback(vna.close)
        if not isinstance(vna, VectorNetworkAnalyzer):
            raise TypeError(f"{driver} is not a VectorNetworkAnalyzer")
        vna.configure_sweep(1e9, 6e9, POINTS, 1e3, -10.0)
        measured = vna.measure_s_parameters(PORTS)
        raw = RawBlockClient(server.host, server.port, query, "<f8")
        opened.callback(raw.close)
        directory = Path(opened.enter_context(tempfile.TemporaryDirectory()))
        record, step = _record(directory)
        opened.callback(record.close)

        def fetch_and_store() -> None:
            data = vna.fetch_s_parameters(PORTS)  # type: ignore[attr-defined]
            step.write_rows((), {"s_re": data.s.real, "s_im": data.s.imag})
            step.flush()

        fd = os.open(directory / "raw.bin", os.O_RDWR | os.O_CREAT)
        opened.callback(os.close, fd)

        def raw_fetch_and_write() -> None:
            os.pwrite(fd, memoryview(raw.fetch()), 0)

        nbytes = raw.fetch().nbytes
        fetch_and_store()
        raw_fetch_and_write()
        if not (step.group["s_re"][()] == measured.s.real).all():
            raise RuntimeError("the stored S-matrix differs from the measured one")
        times = interleaved({"driver": fetch_and_store, "raw": raw.fetch,
                             "raw_write": raw_fetch_and_write}, calls, repeats)
    driver_s, raw_s = median(times["driver"]), median(times["raw"])
    return {"driver_ms": driver_s * 1e3, "raw_ms": raw_s * 1e3,
            "raw_write_ms": median(times["raw_write"]) * 1e3,
            "raw_mb_s": nbytes / raw_s / 1e6, "ratio": paired_ratio(times["raw"], times["driver"]),
            "ratio_write": paired_ratio(times["raw_write"], times["driver"]),
            "payload_bytes": float(nbytes)}


def measure(quick: bool = False) -> dict[str, float]:
    """Both vendors, on loopback and over a simulated gigabit link; keys prefixed
    ``keysight_`` / ``rs_`` and ``keysight_lan_`` / ``rs_lan_``."""
    result: dict[str, float] = {}
    for prefix, (driver, model, query) in zip(("keysight_", "rs_"), VNAS.values(), strict=True):
        for key, value in _measure_one(driver, model, query, quick).items():
            result[prefix + key] = value
        lan = _measure_one(driver, model, query, quick, LINK_RATE_BIT_PER_S)
        for key in ("driver_ms", "raw_ms", "ratio", "payload_bytes"):
            result[f"{prefix}lan_{key}"] = lan[key]
    return result


def rows(result: dict[str, float]) -> list[Row]:
    """Table rows for `measure`'s result."""
    out = []
    for prefix, label in zip(("keysight_", "rs_"), VNAS, strict=True):
        out.append(Row(
            f"(g) {label} 4-port {POINTS}-pt S-matrix on loopback (memory speed): fetch + "
            "store / raw socket",
            f"{result[prefix + 'driver_ms']:.2f} ms",
            f"{result[prefix + 'raw_ms']:.2f} ms "
            f"({result[prefix + 'payload_bytes'] / 1e3:.0f} kB)",
            result[prefix + "ratio"], "info", None))
        out.append(Row(
            f"(g) {label}: fetch + store / raw read + pwrite of the same bytes",
            f"{result[prefix + 'driver_ms']:.2f} ms", f"{result[prefix + 'raw_write_ms']:.2f} ms",
            result[prefix + "ratio_write"], "info", None))
        lan_ratio = result[prefix + "lan_ratio"]
        out.append(Row(
            f"(g) {label} over a 1 Gbit/s instrument link: fetch + store / raw socket",
            f"{result[prefix + 'lan_driver_ms']:.2f} ms",
            f"{result[prefix + 'lan_raw_ms']:.2f} ms", lan_ratio, f"≥ {TARGET:.2f}",
            lan_ratio >= TARGET))
    return out
