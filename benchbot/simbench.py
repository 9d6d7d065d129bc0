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


def simulation_config(bench: BenchDefinition, part_number: str | None = None,
                      session: int = 0) -> dict[str, Any]:
    """The simulators' plain-data configuration: physics from `simulation`, cables from
    the path-loss tables (the simulated cables are exactly as characterised), the noise
    source's ENR table as calibrated, and the DUT: `simulation.dut`, or from a DUT library
    (`simulation.duts`, by part number) the part the plan names -- the fixture holds it.
    `session`: 0 for a new run, k for the k-th resumed session of a run (new noise streams)."""
    if bench.simulation is None:
        raise SimulationError(f"bench {bench.name!r} has no 'simulation' block")
    missing = [role for role, e in bench.instruments.items() if not e.simulator]
    if missing:
        raise SimulationError(f"bench {bench.name!r}: no simulator for role(s) {missing}")
    config = dict(bench.simulation)
    if session:
        config["session"] = session
    library = config.pop("duts", None)
    if library:
        config["dut"] = _dut_from_library(bench, library, part_number)
    if bench.noise_source is not None:
        config["noise_source"] = {**config.get("noise_source", {}),
                                  **bench.noise_source.simulation_config()}
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


def _dut_from_library(bench: BenchDefinition, library: dict[str, Any],
                      part_number: str | None) -> dict[str, Any]:
    if part_number is None:
        return dict(next(iter(library.values())))
    if part_number not in library:
        raise SimulationError(f"bench {bench.name!r} has no simulated DUT {part_number!r} in "
                              f"simulation.duts; it has: {', '.join(library)}")
    return dict(library[part_number])


@contextmanager
def running(bench: BenchDefinition, part_number: str | None = None, session: int = 0
            ) -> Iterator[tuple[BenchDefinition, SimulatedBench]]:
    """Serve the simulated bench for the duration of the block, with the DUT ``part_number``
    when the bench simulates a library of DUTs (the first one without a part number);
    ``session`` k > 0 for the k-th resumed session of a run."""
    simulated = SimulatedBench(simulation_config(bench, part_number, session))
    resources = simulated.start()
    try:
        yield with_resources(bench, resources), simulated
    finally:
        simulated.stop()
