"""Bench capabilities: what a bench can do, named by the vendor-neutral instrument classes
its drivers implement (``signal_generator``, ``signal_analyzer``, ``vna``, ``power_meter``,
``dc_supply``, ``smu``, ``rffe``, ``gpio``), plus ``noise_source`` for a bench that carries
one. A catalogue entry needs the capabilities of its plan's roles; a bench can run it when its
capabilities include all of them."""

from __future__ import annotations

from typing import Any

from benchbot.bench import BenchDefinition
from benchbot.plan import Plan
from instruments.interfaces import (
    DCSupply,
    GpioController,
    Instrument,
    PowerMeter,
    RffeController,
    SignalAnalyzer,
    SignalGenerator,
    SourceMeter,
    VectorNetworkAnalyzer,
)
from instruments.registry import driver_class

CAPABILITY_BY_CLASS: dict[type[Instrument], str] = {
    SignalGenerator: "signal_generator",
    SignalAnalyzer: "signal_analyzer",
    VectorNetworkAnalyzer: "vna",
    PowerMeter: "power_meter",
    DCSupply: "dc_supply",
    SourceMeter: "smu",
    RffeController: "rffe",
    GpioController: "gpio",
}
NOISE_SOURCE = "noise_source"
KNOWN_CAPABILITIES = frozenset(CAPABILITY_BY_CLASS.values()) | {NOISE_SOURCE}


def driver_capabilities(driver: str) -> list[str]:
    """The capabilities of driver ``driver`` (as bench files name it), sorted."""
    cls = driver_class(driver)
    return sorted(cap for base, cap in CAPABILITY_BY_CLASS.items() if issubclass(cls, base))


def bench_inventory(bench: BenchDefinition, bench_file: str) -> dict[str, Any]:
    """The bench's instrument inventory as JSON: role → driver, resource, capabilities; the
    noise source; and the bench file it came from."""
    roles = {role: {"driver": entry.driver, "resource": entry.resource,
                    "simulator": entry.simulator,
                    "capabilities": driver_capabilities(entry.driver)}
             for role, entry in bench.instruments.items()}
    noise = None if bench.noise_source is None else {
        "model": bench.noise_source.model, "serial": bench.noise_source.serial,
        "driven_by": bench.noise_source.driven_by}
    return {"bench_file": bench_file, "roles": roles, "noise_source": noise}


def bench_capabilities(bench: BenchDefinition) -> list[str]:
    """Every capability of the bench's instruments (and its noise source), sorted."""
    caps = {c for entry in bench.instruments.values() for c in driver_capabilities(entry.driver)}
    if bench.noise_source is not None:
        caps.add(NOISE_SOURCE)
    return sorted(caps)


def plan_capabilities(plan: Plan, bench: BenchDefinition | None) -> list[str]:
    """What a bench needs to run ``plan``: a role named after a capability needs it; any other
    role needs the capabilities of the instrument playing it on ``bench`` (the plan's own);
    a noise-figure step needs a noise source. ValueError naming a role neither explains."""
    needed: set[str] = set()
    for role in plan.roles:
        if role in KNOWN_CAPABILITIES:
            needed.add(role)
        elif bench is not None and role in bench.instruments:
            needed.update(driver_capabilities(bench.instruments[role].driver))
        else:
            raise ValueError(f"plan {plan.name}: role {role!r} is neither a capability "
                             f"({', '.join(sorted(KNOWN_CAPABILITIES))}) nor on its bench")
    if any(step.kind == "noise_figure" for step in plan.steps):
        needed.add(NOISE_SOURCE)
    return sorted(needed)


def is_capable(bench_capabilities: list[str] | frozenset[str], required: list[str]) -> bool:
    """Whether a bench with ``bench_capabilities`` can run what needs ``required``."""
    return set(required) <= set(bench_capabilities)
