"""(c) 100 001-point trace fetch: the analyzer driver against a raw socket on the same simulator.

The simulated N9030B (built-in bench, `time_scale` 0) is set up once through the driver —
``configure_sweep(points=100001)`` (the X-series maximum, also the simulator's), REAL,32,
little-endian — and swept once (``single_sweep``); the simulator then serves the cached sweep
for every ``:TRAC? TRACE1``. Timed, in alternating blocks (`_harness.interleaved`):

- driver: `KeysightXSeriesAnalyzer.fetch_trace()` (pyvisa-py read + block parse + the frequency
  axis + `Trace`);
- baseline: a plain `socket` connection to the same server that sends ``:TRAC? TRACE1\\n``,
  parses the ``#<n><len>`` header and `recv_into`s exactly the rest of the reply into a new
  buffer of the reply's size (a fresh one per fetch: like the driver, it returns an array the
  caller owns), then views it as float32 (`np.frombuffer`, no copy).

MB/s = reply bytes (header + 400 004 payload + NL) / time per fetch, 1 MB = 10⁶ B.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

import numpy as np

from benchmarks._harness import Row, bench_config, interleaved, median, one_cpu, paired_ratio

TARGET = 0.9
POINTS = 100_001
QUERY = b":TRAC? TRACE1\n"


class RawBlockClient:
    """The baseline: one SCPI query and a definite-length block read on a plain TCP socket,
    viewed as ``dtype`` (little-endian float32 for a trace, float64 for S-parameters)."""

    def __init__(self, host: str, port: int, query: bytes = QUERY, dtype: str = "<f4",
                 timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.query = query
        self.dtype = np.dtype(dtype)

    def fetch(self) -> np.ndarray:
        """Send the query; read ``#<n><len><payload>\\n`` completely; view it as ``dtype``."""
        sock = self.sock
        sock.sendall(self.query)
        head = bytearray()
        while len(head) < 2 or len(head) < 2 + int(chr(head[1])):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            head += chunk
        if head[0] != 0x23:  # '#'
            raise ValueError(f"not a definite-length block: {bytes(head[:16])!r}")
        ndigits = int(chr(head[1]))
        offset = 2 + ndigits
        total = offset + int(head[2:offset]) + 1  # + the NL terminator
        buf = bytearray(total)
        view = memoryview(buf)
        got = len(head)
        view[:got] = head
        while got < total:
            n = sock.recv_into(view[got:total])
            if not n:
                raise ConnectionError("server closed the connection")
            got += n
        if buf[total - 1] != 0x0A:
            raise ValueError("block not followed by NL")
        size = self.dtype.itemsize
        return np.frombuffer(buf, dtype=self.dtype, count=(total - offset - 1) // size,
                             offset=offset)

    def close(self) -> None:
        self.sock.close()


def measure(quick: bool = False) -> dict[str, float]:
    """Run the benchmark; returns MB/s of both readers, their ratio and the reply size."""
    from instruments.keysight.x_series import KeysightXSeriesAnalyzer
    from instruments.registry import connect
    from simulators import SimulatedBench

    calls, repeats = (2, 4) if quick else (20, 40)
    with one_cpu(), SimulatedBench(bench_config(time_scale=0.0)) as sim, ExitStack() as opened:
        server = sim.servers["signal_analyzer"]
        analyzer = connect("keysight.n9030b", server.resource, timeout_s=30.0)
        opened.callback(analyzer.close)
        if not isinstance(analyzer, KeysightXSeriesAnalyzer):
            raise TypeError(f"expected a KeysightXSeriesAnalyzer, got {type(analyzer).__name__}")
        raw = RawBlockClient(server.host, server.port)
        opened.callback(raw.close)
        analyzer.configure_sweep(center_hz=3.55e9, span_hz=100e6, rbw_hz=1e3, points=POINTS)
        analyzer.single_sweep()
        trace = analyzer.fetch_trace()
        reference = raw.fetch()
        if trace.power_dbm.size != POINTS or not np.array_equal(trace.power_dbm, reference):
            raise RuntimeError("driver and raw socket disagree about the trace")
        nbytes = 2 + len(str(4 * POINTS)) + 4 * POINTS + 1
        times = interleaved({"driver": analyzer.fetch_trace, "raw": raw.fetch}, calls, repeats)
    driver_s, raw_s = median(times["driver"]), median(times["raw"])
    return {
        "driver_mb_s": nbytes / driver_s / 1e6,
        "raw_mb_s": nbytes / raw_s / 1e6,
        "driver_ms": driver_s * 1e3,
        "raw_ms": raw_s * 1e3,
        # throughput ratio = inverse time ratio, per repetition pair
        "ratio": paired_ratio(times["raw"], times["driver"]),
        "reply_bytes": float(nbytes),
        "points": float(POINTS),
    }


def rows(result: dict[str, float]) -> list[Row]:
    """Table rows for `measure`'s result."""
    return [
        Row(f"(c) {int(result['points'])}-pt trace: fetch_trace / raw socket",
            f"{result['driver_mb_s']:.0f} MB/s ({result['driver_ms']:.2f} ms)",
            f"{result['raw_mb_s']:.0f} MB/s ({result['raw_ms']:.2f} ms)",
            result["ratio"], f"≥ {TARGET:.2f}", result["ratio"] >= TARGET),
    ]
