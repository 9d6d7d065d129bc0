"""What every plan step shares, whatever it measures: the model base, metric catalogues,
limit keys and :class:`StepBase` (name, kind, roles, progress, limit prerequisites).

Step families live in their own modules (:mod:`benchbot.plan` for the generator/analyzer
steps, :mod:`benchbot.plan_network` and :mod:`benchbot.plan_noise` for VNA and noise-figure
steps) and :mod:`benchbot.plan` joins them into the plan's discriminated union.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
#: step names become HDF5 group names: no '/', no '.', nothing that needs quoting
_STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

#: (yaml path inside the model, reason, offending value) -- see benchbot.yamlfile.raise_problems
Problems = list[tuple[tuple[str | int, ...], str, Any]]

MAX_FREQUENCIES = 1001
MAX_FREQUENCY_HZ = 500e9


def _distinct_frequencies(v: list[float]) -> list[float]:
    if len(v) > MAX_FREQUENCIES:
        raise ValueError(f"{len(v)} frequencies, more than {MAX_FREQUENCIES}")
    seen = {f for i, f in enumerate(v) if f in v[:i]}
    if seen:
        raise ValueError(f"repeated frequencies: {', '.join(f'{f:g}' for f in sorted(seen))}")
    return v


#: a step's list of carrier/measurement frequencies: positive, at most MAX_FREQUENCIES, distinct
FrequencyList = Annotated[list[Annotated[float, Field(gt=0, le=MAX_FREQUENCY_HZ)]],
                          AfterValidator(_distinct_frequencies)]


class MetricSpec(NamedTuple):
    """What a metric is: its unit, and whether it is judged per frequency or once per step."""

    unit: str
    per_frequency: bool
    description: str


class PlanModel(BaseModel):
    """Base of every plan model: unknown keys are errors, values frozen, no NaN/inf."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def identifier(value: str, what: str) -> str:
    """``value`` if it is a lower-case identifier, else ValueError naming ``what``."""
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} {value!r} must be lower-case letters, digits and '_'")
    return value


def metric_key(catalogue: dict[str, MetricSpec], what: str) -> Any:
    """A limit key type: one of ``catalogue`` (the error for any other name lists them)."""

    def known(name: Any) -> Any:
        if isinstance(name, str) and name not in catalogue:
            raise ValueError(f"unknown metric {name!r}; known {what} metrics: "
                             f"{', '.join(catalogue)}")
        return name

    return Annotated[Literal[tuple(catalogue)], BeforeValidator(known)]


class StepBase(PlanModel):
    """A step's name and kind, and what it tells the engine and the safety check.

    Subclasses fix ``kind`` to a literal (the plan's discriminator), add their settings and
    ``limits`` keyed by their metric catalogue (:attr:`METRICS`).
    """

    METRICS: ClassVar[dict[str, MetricSpec]] = {}

    name: str = Field(description="unique; letters, digits, '_' and '-' (an HDF5 group name)")
    kind: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _STEP_NAME.match(v):
            raise ValueError(
                f"step name {v!r} cannot be an HDF5 group name: use letters, digits, '_' and '-', "
                "starting with a letter, at most 64 characters"
            )
        return v

    def total_points(self) -> int:
        """Measurement points (the progress total)."""
        raise NotImplementedError

    def required_roles(self) -> tuple[str, ...]:
        """Bench roles this step drives."""
        return ()

    def path_loss_roles(self) -> tuple[str, ...]:
        """Roles whose path loss refers powers to the DUT planes (must cover every frequency
        of :meth:`path_loss_frequencies`)."""
        return ()

    def path_loss_frequencies(self, role: str) -> list[float]:
        """Frequencies at which ``role``'s path loss is used."""
        return []

    def dut_rf_input_dbm(self) -> float | None:
        """The highest RF power this step applies at the DUT's input plane when it does not
        depend on the bench (a VNA's calibrated port power); None when the safety check must
        work it out from the generator path loss."""
        return None

    def _limit_needs(self, limits: dict[str, Any], needs: dict[str, tuple[bool, str]]
                     ) -> Problems:
        """One problem per limited metric whose prerequisite (``needs[metric]``) is not met."""
        return [(("limits", m), needs[m][1], None)
                for m in limits if m in needs and not needs[m][0]]
