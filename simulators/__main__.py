"""`python -m simulators [--bench-config YAML]`: serve a virtual bench until Ctrl-C.

The default is the built-in bench file `benchbot/benches/simulated.yaml`, read as plain YAML (the
`simulation:` block, each instrument's `simulator:` key and `path_loss:` table) so nothing from
benchbot is imported.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import yaml

from simulators import SimulatedBench, config_from_bench_file

DEFAULT_BENCH = Path(__file__).resolve().parent.parent / "benchbot" / "benches" / "simulated.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("--bench-config", type=Path, default=DEFAULT_BENCH,
                        help="bench YAML with a `simulation:` block (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="per-reply latency (real LAN instruments: 1-5 ms)")
    args = parser.parse_args(argv)

    data = yaml.safe_load(args.bench_config.read_text(encoding="utf-8"))
    config = config_from_bench_file(data)
    if args.latency_ms is not None:
        config["latency_s"] = args.latency_ms / 1000.0
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimulatedBench(config, host=args.host) as sim:
        for role, resource in sim.resources.items():
            print(f"{role:18s} {sim.bench.instruments[role]:18s} {resource}", flush=True)
        print("serving; Ctrl-C to stop", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
