"""Test-plan file (``schema: benchbot.plan/1``): pydantic models, loading and the editor schema.

A plan says *what* to measure on *which* DUT, never *with what*: instruments are named by role
(``signal_generator``, ``power_meter``...) and bound to real instruments by a bench file
(:mod:`benchbot.bench`). Units are in field names (``_hz``, ``_dbm``, ``_v``, ``_a``, ``_s``,
``_c``).
Every model forbids unknown fields, so a misspelt key is an error, never silently ignored.

Loading errors are one :class:`PlanError` listing every problem as
``<file>:<line>: <yaml path>: <reason>`` (machinery shared with bench files:
:func:`benchbot.bench.validate_yaml`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from benchbot.limits import Limit
from benchbot.yamlfile import (
    DocumentError,
    SourcedDocument,
    load_document,
    parse_document,
    raise_problems,
)

SCHEMA_ID = "benchbot.plan/1"

ROLE_GENERATOR = "signal_generator"
ROLE_ANALYZER = "signal_analyzer"
ROLE_POWER_METER = "power_meter"

MAX_FREQUENCIES = 1001
MAX_LEVELS = 1001
MAX_STEP_POINTS = 100_000  # frequencies x levels
MAX_FREQUENCY_HZ = 500e9
LEVEL_RANGE_DBM = (-150.0, 50.0)
MAX_SETTLE_S = 600.0

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
#: step names become HDF5 group names: no '/', no '.', nothing that needs quoting
_STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class MetricSpec(NamedTuple):
    """What a metric is: its unit, and whether it is judged per frequency or once per step."""

    unit: str
    per_frequency: bool
    description: str


#: The metrics a power-sweep step can put limits on (rf-measurements-and-scpi.md §1.1).
POWER_SWEEP_METRICS: dict[str, MetricSpec] = {
    "small_signal_gain_db": MetricSpec(
        "dB", True, "G0: mean of Pout - Pin over Pin <= small_signal_max_input_dbm"
    ),
    "gain_flatness_db": MetricSpec(
        "dB", False, "peak-to-peak of G0 over the step's frequencies (needs >= 2 frequencies)"
    ),
    "p1db_output_dbm": MetricSpec("dBm", True, "OP1dB: Pout where G(Pin) = G0 - 1 dB"),
    "p1db_input_dbm": MetricSpec("dBm", True, "IP1dB = OP1dB - (G0 - 1)"),
    "psat_dbm": MetricSpec("dBm", True, "maximum Pout over the sweep"),
    "pae_at_p1db_pct": MetricSpec("%", True, "PAE = (Pout - Pin) / P_DC at P1dB"),
    "drain_efficiency_at_p1db_pct": MetricSpec("%", True, "eta_D = Pout / P_DC at P1dB"),
    "drain_efficiency_at_psat_pct": MetricSpec("%", True, "eta_D = Pout / P_DC at Psat"),
    "pae_max_pct": MetricSpec("%", True, "maximum PAE over the sweep"),
    "am_pm_at_p1db_deg": MetricSpec(
        "deg", True, "|phase(Pin) - small-signal phase| at P1dB (needs measure_am_pm)"
    ),
}
_EFFICIENCY_METRICS = {m for m in POWER_SWEEP_METRICS if m.endswith("_pct")}


class PlanError(DocumentError):
    """A plan file that cannot be used; ``.issues`` lists every problem with path and line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} must be lower-case letters, digits and '_'")
    return value


class SafeOperatingArea(_Model):
    """Absolute limits the bench must never exceed at the DUT; checked before anything runs."""

    max_rf_input_dbm: float = Field(ge=-100, le=70, description="max RF power at the DUT input")
    max_supply_voltage_v: float = Field(gt=0, le=1000)
    max_supply_current_a: float = Field(gt=0, le=1000)


class DUT(_Model):
    """The device under test."""

    part_number: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    kind: str = Field(description="e.g. power_amplifier")
    description: str = ""
    safe_operating_area: SafeOperatingArea

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return _identifier(v, "kind")


class SupplySetting(_Model):
    """One DC rail: a channel of the instrument in ``role``, its voltage and current limit."""

    name: str = Field(description="rail name, e.g. vcc")
    role: str = Field(description="bench role of the supply, e.g. dc_supply")
    channel: int = Field(ge=1, le=16)
    voltage_v: float = Field(ge=0)
    current_limit_a: float = Field(gt=0)

    @field_validator("name", "role")
    @classmethod
    def _ids(cls, v: str, info: Any) -> str:
        return _identifier(v, info.field_name)


class Conditions(_Model):
    """Environment and bias under which every step runs."""

    ambient_temperature_c: float | None = Field(default=None, ge=-80, le=250)
    supplies: list[SupplySetting] = Field(default_factory=list)


class PowerRange(_Model):
    """An upward power sweep ``start, start + step, ..., stop`` (stop included), in dBm."""

    start: float = Field(ge=LEVEL_RANGE_DBM[0], le=LEVEL_RANGE_DBM[1])
    stop: float = Field(ge=LEVEL_RANGE_DBM[0], le=LEVEL_RANGE_DBM[1])
    step: float = Field(gt=0, description="dB")

    @model_validator(mode="after")
    def _sane(self) -> PowerRange:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        span = self.stop - self.start
        n = round(span / self.step)
        if span < 0:
            problems.append(
                (("stop",), f"must be >= start ({self.start:g}); sweeps go up", self.stop)
            )
        elif abs(span - n * self.step) > 1e-6 * self.step:
            lo = self.start + np.floor(span / self.step) * self.step
            problems.append(
                (("stop",), f"is not start + a whole number of steps; use {lo:g} or "
                 f"{lo + self.step:g}", self.stop)
            )
        elif n + 1 > MAX_LEVELS:
            problems.append((("step",), f"gives {n + 1} levels, more than {MAX_LEVELS}", self.step))
        raise_problems("PowerRange", problems)
        return self

    def levels_dbm(self) -> np.ndarray:
        """The levels in dBm, ascending, ``stop`` included exactly."""
        n = round((self.stop - self.start) / self.step) + 1
        levels = np.round(self.start + self.step * np.arange(n), 9)
        levels[-1] = self.stop
        return levels


def _known_metric(name: Any) -> Any:
    if isinstance(name, str) and name not in POWER_SWEEP_METRICS:
        raise ValueError(
            f"unknown metric {name!r}; known power-sweep metrics: {', '.join(POWER_SWEEP_METRICS)}"
        )
    return name


#: a limit key: one of POWER_SWEEP_METRICS (the error for any other name lists them)
PowerSweepMetric = Annotated[
    Literal[tuple(POWER_SWEEP_METRICS)],  # type: ignore[valid-type]
    BeforeValidator(_known_metric),
]


class PowerSweepStep(_Model):
    """CW power sweep at each frequency: gain, P1dB, Psat, PAE, drain efficiency, AM-PM."""

    name: str = Field(description="unique; letters, digits, '_' and '-' (an HDF5 group name)")
    kind: Literal["power_sweep"]
    frequencies_hz: list[Annotated[float, Field(gt=0, le=MAX_FREQUENCY_HZ)]] = Field(min_length=1)
    input_power_dbm: PowerRange
    reference_plane: Literal["dut_input", "generator_output"] = Field(
        default="dut_input",
        description="where input_power_dbm applies: at the DUT input (the generator adds the "
        "input path loss) or at the generator port",
    )
    output_power_from: Literal["power_meter", "signal_analyzer"] = "power_meter"
    measure_am_pm: bool = Field(default=False, description="phase from the analyzer IQ capture")
    small_signal_max_input_dbm: float = Field(
        description="G0 = mean gain over levels at or below this DUT input power (>= 2 levels)"
    )
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S)
    limits: dict[PowerSweepMetric, Limit] = Field(
        default_factory=dict,
        description="metric -> limit; unknown metric names are errors",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _STEP_NAME.match(v):
            raise ValueError(
                f"step name {v!r} cannot be an HDF5 group name: use letters, digits, '_' and '-', "
                "starting with a letter, at most 64 characters"
            )
        return v

    @field_validator("frequencies_hz")
    @classmethod
    def _frequencies(cls, v: list[float]) -> list[float]:
        if len(v) > MAX_FREQUENCIES:
            raise ValueError(f"{len(v)} frequencies, more than {MAX_FREQUENCIES}")
        seen = {f for i, f in enumerate(v) if f in v[:i]}
        if seen:
            raise ValueError(f"repeated frequencies: {', '.join(f'{f:g}' for f in sorted(seen))}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PowerSweepStep:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        levels = self.levels_dbm()
        n_small = int(np.sum(levels <= self.small_signal_max_input_dbm + 1e-9))
        if n_small < 2:
            problems.append((("small_signal_max_input_dbm",),
                             f"only {n_small} sweep level(s) at or below it; G0 needs >= 2",
                             self.small_signal_max_input_dbm))
        if len(levels) * len(self.frequencies_hz) > MAX_STEP_POINTS:
            problems.append((("input_power_dbm",), f"{len(levels)} levels x "
                             f"{len(self.frequencies_hz)} frequencies is more than "
                             f"{MAX_STEP_POINTS} points", None))
        if "gain_flatness_db" in self.limits and len(self.frequencies_hz) < 2:
            problems.append((("limits", "gain_flatness_db"), "needs >= 2 frequencies", None))
        if "am_pm_at_p1db_deg" in self.limits and not self.measure_am_pm:
            problems.append((("limits", "am_pm_at_p1db_deg"), "needs measure_am_pm: true", None))
        raise_problems("PowerSweepStep", problems)
        return self

    def levels_dbm(self) -> np.ndarray:
        """Swept input levels in dBm at ``reference_plane``, ascending, stop included."""
        return self.input_power_dbm.levels_dbm()

    def required_roles(self) -> tuple[str, ...]:
        """Bench roles this step drives: generator, output-power instrument, analyzer for AM-PM."""
        roles = [ROLE_GENERATOR, self.output_power_from]
        if self.measure_am_pm and ROLE_ANALYZER not in roles:
            roles.append(ROLE_ANALYZER)
        return tuple(roles)

    def path_loss_roles(self) -> tuple[str, ...]:
        """Roles whose path loss refers powers to the DUT planes (must cover every frequency)."""
        return (ROLE_GENERATOR, self.output_power_from)


Step = Annotated[PowerSweepStep, Field(discriminator="kind")]


class Plan(SourcedDocument, _Model):
    """A test plan: DUT, roles, conditions and steps (``schema: benchbot.plan/1``)."""

    schema_id: Literal["benchbot.plan/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    version: str = Field(min_length=1, description='quoted, e.g. "1.0"')
    description: str = ""
    operator: str = ""
    notes: str = ""
    dut: DUT
    roles: list[str] = Field(min_length=1, description="bench roles the plan uses")
    conditions: Conditions = Field(default_factory=Conditions)
    steps: list[Step] = Field(min_length=1)

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(
                f'quote the version, e.g. version: "{v}" (YAML reads an unquoted 1.10 as 1.1)'
            )
        return v

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        for r in v:
            _identifier(r, "role")
        dup = sorted({r for i, r in enumerate(v) if r in v[:i]})
        if dup:
            raise ValueError(f"repeated roles: {', '.join(dup)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        names: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.name in names:
                problems.append((("steps", i, "name"),
                                 f"name already used by steps[{names[step.name]}]", step.name))
            names.setdefault(step.name, i)
            for role in step.required_roles():
                if role not in self.roles:
                    problems.append((("roles",), f"step {step.name!r} needs role {role!r}; "
                                     "add it to roles", self.roles))
            if not self.conditions.supplies:
                for metric in sorted(_EFFICIENCY_METRICS & set(step.limits)):
                    problems.append((("steps", i, "limits", metric),
                                     "needs a DC supply in conditions.supplies for P_DC", None))
        soa = self.dut.safe_operating_area
        seen: dict[tuple[str, int] | str, int] = {}
        for i, s in enumerate(self.conditions.supplies):
            loc = ("conditions", "supplies", i)
            if s.role not in self.roles:
                problems.append(((*loc, "role"), f"role {s.role!r} is not in roles", s.role))
            if s.voltage_v > soa.max_supply_voltage_v:
                problems.append(((*loc, "voltage_v"), f"{s.voltage_v:g} V is above "
                                 f"dut.safe_operating_area.max_supply_voltage_v "
                                 f"({soa.max_supply_voltage_v:g} V)", s.voltage_v))
            if s.current_limit_a > soa.max_supply_current_a:
                problems.append(((*loc, "current_limit_a"), f"{s.current_limit_a:g} A is above "
                                 f"dut.safe_operating_area.max_supply_current_a "
                                 f"({soa.max_supply_current_a:g} A)", s.current_limit_a))
            for key, field in ((s.name, "name"), ((s.role, s.channel), "channel")):
                if key in seen:
                    problems.append(((*loc, field), f"same {field} as supplies[{seen[key]}]", key))
                seen.setdefault(key, i)
        raise_problems("Plan", problems)
        return self

    def step(self, name: str) -> PowerSweepStep:
        """The step called ``name`` (KeyError if none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    """Validate plan YAML ``text``; ``source`` names it in errors. Raises :class:`PlanError`."""
    return parse_document(Plan, text, source, PlanError)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file. Raises :class:`PlanError` (also for an unreadable file)."""
    return load_document(Plan, path, PlanError)


def plan_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the plan file, for editors (written to docs/plan.schema.json)."""
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    limits = schema["$defs"]["PowerSweepStep"]["properties"]["limits"]
    limits["properties"] = {  # so editors complete metric names and show their units
        m: {"$ref": "#/$defs/Limit", "description": f"[{s.unit}] {s.description}"}
        for m, s in POWER_SWEEP_METRICS.items()
    }
    limits["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"benchbot test plan ({SCHEMA_ID})",
        **{k: v for k, v in schema.items() if k != "title"},
    }
