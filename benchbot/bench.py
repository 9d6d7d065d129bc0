"""Bench file (``schema: benchbot.bench/1``): which instrument plays which role, and path losses.

A bench binds the roles a plan names to drivers and VISA resources and carries, per role, the
calibrated loss between that instrument's port and the DUT reference plane (:class:`PathLoss`,
a validated, interpolated object in the spirit of OpenTAP's ``RfConnection``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchbot.yamlfile import (
    DocumentError,
    Loc,
    SourcedDocument,
    load_document,
    parse_document,
    raise_problems,
)

SCHEMA_ID = "benchbot.bench/1"
#: a frequency this close to a table end (relative) counts as inside it (float round-off)
EXTRAPOLATION_TOLERANCE = 1e-6



class BenchError(DocumentError):
    """A bench file that cannot be used; ``.issues`` lists every problem with path and line."""


class PathLossError(ValueError):
    """A loss was asked for at a frequency the path-loss table does not cover."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)



def _table_problems(frequency_hz: list[float], values: list[float], values_field: str
                    ) -> list[tuple[Loc, str, Any]]:
    """Problems of a table against frequency: lengths differ, frequencies not increasing."""
    problems: list[tuple[Loc, str, Any]] = []
    if len(frequency_hz) != len(values):
        problems.append(((values_field,), f"{len(values)} values for "
                         f"{len(frequency_hz)} frequencies", None))
    for i in range(1, len(frequency_hz)):
        if frequency_hz[i] <= frequency_hz[i - 1]:
            problems.append((("frequency_hz", i), f"{frequency_hz[i]:g} Hz is not above "
                             f"the previous {frequency_hz[i - 1]:g} Hz (must strictly "
                             "increase)", frequency_hz[i]))
    return problems


class PathLoss(_Model):
    """Loss (dB, positive = loss) from an instrument port to the DUT plane against frequency.

    Interpolated linearly in frequency; never extrapolated beyond the table by more than
    :data:`EXTRAPOLATION_TOLERANCE` (relative) -- a loss the bench was not calibrated for is
    an error, not a guess.
    """

    frequency_hz: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    loss_db: list[Annotated[float, Field(ge=-100, le=200)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self) -> PathLoss:
        raise_problems("PathLoss", _table_problems(self.frequency_hz, self.loss_db, "loss_db"))
        return self

    @property
    def range_hz(self) -> tuple[float, float]:
        """(lowest, highest) table frequency."""
        return self.frequency_hz[0], self.frequency_hz[-1]

    def covers(self, frequency_hz: float) -> bool:
        """Whether ``frequency_hz`` is inside the table (within the tolerance)."""
        lo, hi = self.range_hz
        tol = EXTRAPOLATION_TOLERANCE * frequency_hz
        return lo - tol <= frequency_hz <= hi + tol

    def loss_db_at(self, frequency_hz: float | np.ndarray) -> float | np.ndarray:
        """Loss in dB at ``frequency_hz`` (scalar or array). Raises :class:`PathLossError`."""
        f = np.asarray(frequency_hz, dtype=float)
        for fi in np.atleast_1d(f):
            if not self.covers(float(fi)):
                lo, hi = self.range_hz
                raise PathLossError(f"{fi:g} Hz is outside the path-loss table "
                                    f"({lo:g} to {hi:g} Hz); refusing to extrapolate")
        loss = np.interp(f, self.frequency_hz, self.loss_db)
        return float(loss) if loss.ndim == 0 else loss


class InstrumentEntry(_Model):
    """One bench role: driver, VISA resource (or ``simulated``), options and path loss."""

    driver: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$", description="e.g. keysight.n9030b")
    resource: str = Field(min_length=1, description="VISA resource, or 'simulated'")
    simulator: str | None = Field(default=None, description="simulator model key")
    options: dict[str, Any] = Field(default_factory=dict, description="driver options")
    timeout_s: float = Field(default=5.0, gt=0, le=600, description="VISA I/O timeout, s")
    path_loss: PathLoss | None = Field(default=None, description="instrument port <-> DUT plane")

    @model_validator(mode="after")
    def _simulated(self) -> InstrumentEntry:
        if self.resource == "simulated" and not self.simulator:
            raise_problems("InstrumentEntry", [(("simulator",),
                           "required when resource is 'simulated'", None)])
        return self


class EnrTable(_Model):
    """A noise source's calibrated excess noise ratio against frequency (its cal report)."""

    frequency_hz: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    enr_db: list[Annotated[float, Field(ge=0, le=40)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self) -> EnrTable:
        raise_problems("EnrTable", _table_problems(self.frequency_hz, self.enr_db, "enr_db"))
        return self


class TestSetSwitch(_Model):
    """A GPIO-driven test-set switch: ``port`` of the controller in ``role`` written with
    ``thru_value`` routes the noise source straight to the analyzer (receiver calibration,
    the DUT bypassed), with ``dut_value`` through the DUT."""

    role: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    port: int = Field(ge=0, le=255)
    thru_value: int = Field(ge=0, le=255)
    dut_value: int = Field(ge=0, le=255)


class NoiseSourceEntry(_Model):
    """A 346-type noise source on the DUT's input, powered by ``driven_by``'s +28 V output."""

    model: str = Field(min_length=1, description="e.g. Keysight 346B")
    serial: str = Field(min_length=1)
    enr: EnrTable
    driven_by: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="role with the 28 V drive")
    cold_temperature_k: float = Field(default=296.15, gt=0, le=400,
                                      description="physical temperature of the source when off")
    bypass: TestSetSwitch | None = Field(default=None, description="receiver-calibration route")
    cal_due: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    def simulation_config(self) -> dict[str, Any]:
        """The simulated source is exactly as calibrated (like the simulated cables)."""
        config: dict[str, Any] = {
            "enr": {"frequency_hz": list(self.enr.frequency_hz), "enr_db": list(self.enr.enr_db)},
            "cold_temperature_k": self.cold_temperature_k,
        }
        if self.bypass is not None:
            config["bypass"] = {"gpio_port": self.bypass.port,
                                "thru_value": self.bypass.thru_value}
        return config


class BenchDefinition(SourcedDocument, _Model):
    """A bench: role -> instrument, and the simulators' physical truth when simulated."""

    schema_id: Literal["benchbot.bench/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    instruments: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], InstrumentEntry] = (
        Field(min_length=1)
    )
    noise_source: NoiseSourceEntry | None = Field(default=None, description="Y-factor source")
    simulation: dict[str, Any] | None = Field(default=None, description="free-form, simulators'")

    model_config = ConfigDict(populate_by_name=True)


    @property
    def simulated(self) -> bool:
        """True when any role is served by a simulator."""
        return any(e.resource == "simulated" for e in self.instruments.values())


def parse_bench(text: str, source: str = "<bench>") -> BenchDefinition:
    """Validate bench YAML ``text``; ``source`` names it in errors. Raises :class:`BenchError`."""
    return parse_document(BenchDefinition, text, source, BenchError)


def load_bench(path: str | Path) -> BenchDefinition:
    """Read and validate a bench file. Raises :class:`BenchError`."""
    return load_document(BenchDefinition, path, BenchError)


#: the packaged simulated benches, by the name `--bench` accepts
BUILTIN_BENCHES = ("simulated", "simulated-rs", "simulated-network", "simulated-network-rs",
                   "simulated-gan", "simulated-gan-rf")


def builtin_bench_path(name: str = "simulated") -> Path:
    """A packaged simulated bench: ``simulated`` (Keysight MXG + PXA, the default) or
    ``simulated-rs`` (R&S SMW200A + FSW on the same physical bench)."""
    if name not in BUILTIN_BENCHES:
        raise BenchError.single("--bench", f"no built-in bench {name!r} and no such file; "
                                f"built-in: {', '.join(BUILTIN_BENCHES)}")
    return Path(str(resources.files("benchbot").joinpath("benches", f"{name}.yaml")))

