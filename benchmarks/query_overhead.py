"""(a) Per-query overhead of the driver stack against a bare pyvisa loop on the same simulator.

Both clients talk to the same simulated N1912A server (built-in bench, `time_scale` 0 so a
reading takes no simulated time) through the process's one pyvisa-py ResourceManager:

- ``*IDN?``: `ScpiSession.query` vs ``inst.query`` on a resource opened directly with the same
  terminations and timeout;
- one typical driver call: `KeysightN1912A.measure_power_dbm` (``READ1?`` + float + range check)
  vs ``float(inst.query("READ1?"))``.

Blocks of calls alternate between the two (`_harness.interleaved`); µs/query are medians over
the repetitions, the ratio is the median of the per-repetition ratios. The process (client and
simulator threads) is pinned to one CPU while it runs (`_harness.one_cpu`).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from benchmarks._harness import Row, bench_config, interleaved, median, one_cpu, paired_ratio

TARGET = 1.10


def measure(quick: bool = False) -> dict[str, float]:
    """Run the benchmark; returns µs/query for both clients and the ratios."""
    from instruments.keysight.n1912a import KeysightN1912A
    from instruments.registry import connect
    from instruments.scpi import resource_manager
    from simulators import SimulatedBench

    calls, repeats = (100, 6) if quick else (250, 40)
    with one_cpu(), SimulatedBench(bench_config(time_scale=0.0)) as sim, ExitStack() as opened:
        resource = sim.resources["power_meter"]
        meter = connect("keysight.n1912a", resource, channel=1)
        opened.callback(meter.close)
        if not isinstance(meter, KeysightN1912A):
            raise TypeError(f"expected a KeysightN1912A, got {type(meter).__name__}")
        inst: Any = resource_manager("@py").open_resource(
            resource, read_termination="\n", write_termination="\n", timeout=5000
        )
        opened.callback(inst.close)
        meter.measure_power_dbm()  # puts the meter in single-shot mode (READ? needs it)
        session_query = meter.session.query
        bare_query = inst.query
        idn = interleaved(
            {"session": lambda: session_query("*IDN?"), "pyvisa": lambda: bare_query("*IDN?")},
            calls, repeats,
        )
        read = interleaved(
            {"driver": meter.measure_power_dbm, "pyvisa": lambda: float(bare_query("READ1?"))},
            calls, repeats,
        )
    return {
        "idn_session_us": median(idn["session"]) * 1e6,
        "idn_pyvisa_us": median(idn["pyvisa"]) * 1e6,
        "idn_ratio": paired_ratio(idn["session"], idn["pyvisa"]),
        "read_driver_us": median(read["driver"]) * 1e6,
        "read_pyvisa_us": median(read["pyvisa"]) * 1e6,
        "read_ratio": paired_ratio(read["driver"], read["pyvisa"]),
        "calls_per_block": float(calls),
        "repeats": float(repeats),
    }


def rows(result: dict[str, float]) -> list[Row]:
    """Table rows for `measure`'s result."""
    return [
        Row("(a) *IDN?: ScpiSession.query / pyvisa query",
            f"{result['idn_session_us']:.1f} µs/query", f"{result['idn_pyvisa_us']:.1f} µs/query",
            result["idn_ratio"], f"≤ {TARGET:.2f}", result["idn_ratio"] <= TARGET),
        Row("(a) N1912A.measure_power_dbm / pyvisa READ1?",
            f"{result['read_driver_us']:.1f} µs/call", f"{result['read_pyvisa_us']:.1f} µs/call",
            result["read_ratio"], f"≤ {TARGET:.2f}", result["read_ratio"] <= TARGET),
    ]
