"""Verdicts, limits and the evaluation of one measured value against one limit.

Verdicts are ordered by severity so that a roll-up is ``max()`` (OpenTAP ``Verdict``); a limit is a
small validator with an optional marginal band that serialises into the record (OpenHTF
``InRange`` with ``marginal_minimum``/``marginal_maximum``).

Decision rules (also stored in the record, see :data:`DECISION_RULE`):

- limits are inclusive: ``min <= value <= max`` passes;
- ``margin`` is the signed distance to the nearest limit, in the metric's unit, positive inside;
- a value inside the limits whose margin is ``<= marginal_db`` is MARGINAL;
- a metric that could not be computed (NaN, e.g. no 1 dB compression within the sweep) is FAIL
  when it has a limit -- the DUT did not demonstrate the requirement -- and the reason belongs in
  the result's ``note``. ERROR is reserved for the test system failing (instrument error,
  exception) and is set by the engine, never by :func:`evaluate`: errors are not failures.
- a metric without a limit is informational: PASS, margin NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

DECISION_RULE = (
    "simple acceptance, inclusive limits, no guard band; MARGINAL when inside the limits "
    "within marginal_db of one; a metric that could not be computed FAILs its limit"
)


class Verdict(StrEnum):
    """Outcome of a metric, step or run; by severity PASS < MARGINAL < FAIL < ERROR < ABORTED.

    The string value ("pass", "marginal", ...) is what records store; comparisons use the severity
    order, not the alphabet.
    """

    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    ERROR = "error"
    ABORTED = "aborted"

    @property
    def severity(self) -> int:
        """0 for PASS up to 4 for ABORTED."""
        return _SEVERITY[self]

    def _other(self, other: object) -> int:
        if not isinstance(other, Verdict):
            raise TypeError(f"cannot compare Verdict with {type(other).__name__}")
        return other.severity

    def __lt__(self, other: object) -> bool:
        return self.severity < self._other(other)

    def __le__(self, other: object) -> bool:
        return self.severity <= self._other(other)

    def __gt__(self, other: object) -> bool:
        return self.severity > self._other(other)

    def __ge__(self, other: object) -> bool:
        return self.severity >= self._other(other)



_SEVERITY = {v: i for i, v in enumerate(Verdict)}


def roll_up(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts``; PASS for none (PASS is the identity of ``max``)."""
    return max(verdicts, default=Verdict.PASS)


class Limit(BaseModel):
    """Inclusive acceptance limits ``min <= value <= max`` with an optional marginal band.

    ``marginal_db`` is in the metric's own unit (dB for the dB/dBm metrics, percentage points
    for ``*_pct``, degrees for ``*_deg``); the name follows the plan file format.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min: float | None = Field(default=None, description="lower limit (inclusive), metric unit")
    max: float | None = Field(default=None, description="upper limit (inclusive), metric unit")
    marginal_db: float = Field(
        default=0.0,
        ge=0.0,
        description="inside the limits but within this of one -> MARGINAL (metric unit)",
    )
    source: str = Field(
        default="",
        description="where the limit comes from, e.g. '3GPP TS 38.104 Table 6.6.3.5.2-1' or "
        "'datasheet BB-PA-N78-01 rev A §4'; stored with every result judged against it",
    )

    @model_validator(mode="after")
    def _sane(self) -> Limit:
        if self.min is None and self.max is None:
            raise ValueError("a limit needs min, max or both")
        if self.min is not None and self.max is not None:
            if self.min > self.max:
                raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
            if self.marginal_db > 0 and 2 * self.marginal_db >= self.max - self.min:
                raise ValueError(
                    f"marginal_db ({self.marginal_db:g}) leaves no PASS region between "
                    f"min ({self.min:g}) and max ({self.max:g})"
                )
        return self

    def margin(self, value: float) -> float:
        """Signed distance from ``value`` to the nearest limit, positive inside (NaN for NaN)."""
        candidates = []
        if self.min is not None:
            candidates.append(value - self.min)
        if self.max is not None:
            candidates.append(self.max - value)
        return float(min(candidates))

    def describe(self, unit: str = "") -> str:
        """Human-readable form, e.g. ``25 <= x <= 31 dB (marginal 0.5) [datasheet §4]``."""
        u = f" {unit}" if unit else ""
        if self.min is not None and self.max is not None:
            text = f"{self.min:g} <= x <= {self.max:g}{u}"
        elif self.min is not None:
            text = f"x >= {self.min:g}{u}"
        else:
            text = f"x <= {self.max:g}{u}"
        if self.marginal_db:
            text += f" (marginal {self.marginal_db:g})"
        if self.source:
            text += f" [{self.source}]"
        return text


def evaluate(value: float, limit: Limit | None) -> tuple[Verdict, float]:
    """Judge ``value`` against ``limit``: ``(verdict, margin)`` under :data:`DECISION_RULE`."""
    value = float(value)
    if limit is None:
        return Verdict.PASS, math.nan
    if math.isnan(value):
        return Verdict.FAIL, math.nan
    margin = limit.margin(value)
    if margin < 0:
        return Verdict.FAIL, margin
    if limit.marginal_db > 0 and margin <= limit.marginal_db:
        return Verdict.MARGINAL, margin
    return Verdict.PASS, margin


@dataclass(frozen=True)
class MetricResult:
    """One judged metric of one step at one condition (e.g. ``{"frequency_hz": 3.5e9}``)."""

    step: str
    metric: str
    unit: str
    value: float
    condition: dict[str, float | str] = field(default_factory=dict)
    limit: Limit | None = None
    verdict: Verdict = Verdict.PASS
    margin: float = math.nan
    note: str = ""

    @classmethod
    def judge(
        cls,
        step: str,
        metric: str,
        unit: str,
        value: float,
        limit: Limit | None = None,
        condition: dict[str, float | str] | None = None,
        note: str = "",
    ) -> MetricResult:
        """Build a result, evaluating ``value`` against ``limit`` with :func:`evaluate`."""
        verdict, margin = evaluate(value, limit)
        return cls(
            step=step,
            metric=metric,
            unit=unit,
            value=float(value),
            condition=dict(condition or {}),
            limit=limit,
            verdict=verdict,
            margin=margin,
            note=note,
        )

    @classmethod
    def from_record_row(cls, step: str, row: dict[str, Any]) -> MetricResult:
        """A record's metrics-table row (NaN read as None) as the result it was written from."""
        lo, hi = row.get("min"), row.get("max")
        limit = None
        if lo is not None or hi is not None:
            limit = Limit(min=lo, max=hi, marginal_db=row.get("marginal") or 0.0,
                          source=row.get("limit_source") or "")
        value, margin = row.get("value"), row.get("margin")
        return cls(
            step=step, metric=row["metric"], unit=row.get("unit", ""),
            value=math.nan if value is None else float(value),
            condition=json.loads(row.get("condition") or "{}"), limit=limit,
            verdict=Verdict(row.get("verdict") or "pass"),
            margin=math.nan if margin is None else float(margin), note=row.get("note", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a record (verdict as its string, limit as a dict or None).

        A limit with a source also gives a top-level ``limit_source`` (the record's metrics
        table has a column for it).
        """
        data: dict[str, Any] = {
            "step": self.step,
            "metric": self.metric,
            "unit": self.unit,
            "value": self.value,
            "condition": dict(self.condition),
            "limit": None if self.limit is None else self.limit.model_dump(),
            "verdict": self.verdict.value,
            "margin": self.margin,
            "note": self.note,
        }
        if self.limit is not None and self.limit.source:
            data["limit_source"] = self.limit.source
        return data
