"""Start a simulated bench described by a bench file and hand back its real VISA resources.

The simulators are SCPI servers on loopback; once started, the bench definition is an
ordinary one whose resources are `TCPIP::127.0.0.1::PORT::SOCKET` strings, so the run that
follows is identical to one on hardware.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchbot.bench import BenchDefinition
from simulators import SimulatedBench


class SimulationError(ValueError):
    """The bench file cannot be simulated (no simulation block, or a role with no simulator)."""


def simulation_config(bench: BenchDefinition) -> dict[str, Any]:
    """The simulators' plain-data configuration: physics from `simulation`, cables from
    the path-loss tables (the simulated cables are exactly as characterised)."""
    if bench.simulation is None:
        raise SimulationError(f"bench {bench.name!r} has no 'simulation' block")
    missing = [role for role, e in bench.instruments.items() if not e.simulator]
    if missing:
        raise SimulationError(f"bench {bench.name!r}: no simulator for role(s) {missing}")
    config = dict(bench.simulation)
    config["instruments"] = {role: e.simulator for role, e in bench.instruments.items()}
    config["paths"] = {
        role: {"frequency_hz": list(map(float, e.path_loss.frequency_hz)),
               "loss_db": list(map(float, e.path_loss.loss_db))}
        for role, e in bench.instruments.items() if e.path_loss is not None
    }
    return config


def with_resources(bench: BenchDefinition, resources: dict[str, str]) -> BenchDefinition:
    """A copy of the bench whose instruments point at the given VISA resources."""
    instruments = {
        role: entry.model_copy(update={"resource": resources[role]})
        for role, entry in bench.instruments.items()
    }
    return bench.model_copy(update={"instruments": instruments})


@contextmanager
def running(bench: BenchDefinition) -> Iterator[tuple[BenchDefinition, SimulatedBench]]:
    """Serve the simulated bench for the duration of the block."""
    simulated = SimulatedBench(simulation_config(bench))
    resources = simulated.start()
    try:
        yield with_resources(bench, resources), simulated
    finally:
        simulated.stop()
