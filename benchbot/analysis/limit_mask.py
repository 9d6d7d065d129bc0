"""Frequency-dependent limit lines (limit masks) over a swept trace, judged point by point.

A mask is a list of segments, each a frequency range with a lower line, an upper line or both;
a line may slope (value at ``start_hz`` and at ``stop_hz``, straight in the trace's unit over
linear frequency, as a VNA's limit-line table with begin/end stimulus and response defines it).

Decision rule (the point-wise form of :data:`benchbot.limits.DECISION_RULE`):

- a point is judged by every segment whose range holds it (edges inclusive); overlapping
  segments judge it twice and the smaller margin counts; points outside every segment are not
  judged (no verdict, margin NaN);
- margin = signed distance to the nearest line, positive inside, in the trace's unit;
- a judged point without a value (NaN) fails: the DUT did not demonstrate the requirement;
- the roll-up is the worst margin over the judged points and the frequency where it occurs;
  it is NaN when a judged point has no value or no point was judged (then the mask FAILs);
  MARGINAL when every point passes but the worst margin is within ``marginal_db``.

Segment values are in the trace's unit: dB for ``s21_db``-style traces, ns for
``group_delay_ns``; the ``_db`` field names follow the plan file format of
:class:`benchbot.limits.Limit` (``marginal_db``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from benchbot.limits import Limit, Verdict


class MaskSegment(BaseModel):
    """One limit-line segment over ``start_hz <= f <= stop_hz``.

    ``min_db``/``max_db`` are the lines' values at ``start_hz``; ``min_stop_db``/``max_stop_db``
    their values at ``stop_hz`` for a sloped line (omitted: the line is flat).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start_hz: float = Field(ge=0.0, description="segment start frequency (Hz, inclusive)")
    stop_hz: float = Field(gt=0.0, description="segment stop frequency (Hz, inclusive)")
    min_db: float | None = Field(default=None, description="lower line at start_hz (trace unit)")
    min_stop_db: float | None = Field(
        default=None, description="lower line at stop_hz for a sloped line (default: min_db)")
    max_db: float | None = Field(default=None, description="upper line at start_hz (trace unit)")
    max_stop_db: float | None = Field(
        default=None, description="upper line at stop_hz for a sloped line (default: max_db)")

    @field_validator("stop_hz")
    @classmethod
    def _stop_above_start(cls, stop_hz: float, info: ValidationInfo) -> float:
        start_hz = info.data.get("start_hz")
        if start_hz is not None and stop_hz <= start_hz:
            raise ValueError(f"{stop_hz:g} Hz must be above start_hz ({start_hz:g} Hz)")
        return stop_hz

    @field_validator("min_stop_db", "max_stop_db")
    @classmethod
    def _slope_needs_start(cls, value: float | None, info: ValidationInfo) -> float | None:
        start = "min_db" if info.field_name == "min_stop_db" else "max_db"
        if value is not None and info.data.get(start) is None:
            raise ValueError(f"a sloped line needs {start} (its value at start_hz)")
        return value

    @model_validator(mode="after")
    def _sane(self) -> MaskSegment:
        if self.min_db is None and self.max_db is None:
            raise ValueError("min_db/max_db: a segment needs a lower line (min_db), an upper "
                             "line (max_db) or both")
        if self.min_db is not None and self.max_db is not None:
            for where, lo, hi in (("start_hz", self.min_db, self.max_db),
                                  ("stop_hz", self.min_end, self.max_end)):
                if lo > hi:  # type: ignore[operator]
                    raise ValueError(f"min_db/max_db: the lower line ({lo:g}) is above the upper "
                                     f"line ({hi:g}) at {where}")
        return self

    @property
    def min_end(self) -> float | None:
        """Lower line at ``stop_hz``."""
        return self.min_db if self.min_stop_db is None else self.min_stop_db

    @property
    def max_end(self) -> float | None:
        """Upper line at ``stop_hz``."""
        return self.max_db if self.max_stop_db is None else self.max_stop_db

    def covers(self, frequency_hz: ArrayLike) -> np.ndarray:
        """True where ``start_hz <= f <= stop_hz``."""
        f = np.asarray(frequency_hz, dtype=float)
        return (f >= self.start_hz) & (f <= self.stop_hz)

    def lower_at(self, frequency_hz: ArrayLike) -> np.ndarray:
        """The lower line at each frequency (NaN outside the segment or without a lower line)."""
        return self._line(frequency_hz, self.min_db, self.min_end)

    def upper_at(self, frequency_hz: ArrayLike) -> np.ndarray:
        """The upper line at each frequency (NaN outside the segment or without an upper line)."""
        return self._line(frequency_hz, self.max_db, self.max_end)

    def _line(self, frequency_hz: ArrayLike, at_start: float | None, at_stop: float | None
              ) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        if at_start is None or at_stop is None:
            return np.full(f.shape, np.nan)
        x = (f - self.start_hz) / (self.stop_hz - self.start_hz)
        return np.where(self.covers(f), at_start + (at_stop - at_start) * x, np.nan)


class LimitMaskSpec(BaseModel):
    """A plan's mask for one trace: segments, where the limits come from, a marginal band."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    segments: list[MaskSegment] = Field(min_length=1, description="limit-line segments")
    source: str = Field(default="", description="datasheet section or standard clause")
    marginal_db: float = Field(
        default=0.0, ge=0.0,
        description="every point passes but the worst margin is within this -> MARGINAL "
        "(trace unit)")

    def evaluate(self, frequency_hz: ArrayLike, values: ArrayLike) -> MaskResult:
        """:func:`evaluate_mask` with this spec's segments and marginal band."""
        return evaluate_mask(frequency_hz, values, self.segments, self.marginal_db)

    def margin_limit(self) -> Limit:
        """The roll-up's limit: worst margin >= 0 (with this mask's band and source), for a
        ``MetricResult.judge(..., value=result.worst_margin, limit=spec.margin_limit())``."""
        return Limit(min=0.0, marginal_db=self.marginal_db, source=self.source)


@dataclass(frozen=True, eq=False)
class MaskResult:
    """Point-wise and rolled-up outcome of a mask on one trace."""

    frequency_hz: np.ndarray
    judged: np.ndarray  # bool: some segment holds the point
    pass_per_point: np.ndarray  # bool: True where judged and inside every line (or not judged)
    margin_per_point: np.ndarray  # trace unit, positive inside, NaN where not judged/no value
    worst_margin: float  # NaN if a judged point has no value or nothing was judged
    worst_frequency_hz: float  # where worst_margin occurs (first unmeasured point if NaN)
    points_checked: int
    points_failed: int  # judged points outside a line or without a value
    points_unmeasured: int  # judged points without a value (NaN)
    marginal_db: float = 0.0

    @property
    def verdict(self) -> Verdict:
        """FAIL on any failing/unmeasured point or nothing judged, else MARGINAL/PASS by the
        worst margin (the same as judging ``worst_margin`` against :meth:`LimitMaskSpec.
        margin_limit`)."""
        if self.points_checked == 0 or self.points_failed or math.isnan(self.worst_margin):
            return Verdict.FAIL
        if self.marginal_db > 0 and self.worst_margin <= self.marginal_db:
            return Verdict.MARGINAL
        return Verdict.PASS

    def pass_as_float(self) -> np.ndarray:
        """1.0 pass, 0.0 fail, NaN not judged: the record's ``mask_<trace>_pass`` dataset."""
        return np.where(self.judged, self.pass_per_point.astype(float), np.nan)

    def note(self, unit: str = "dB") -> str:
        """One line for a result's note, e.g. ``worst margin -0.81 dB at 3.6125 GHz; ...``."""
        if self.points_checked == 0:
            return "the mask covers none of the measured frequencies"
        parts = []
        finite = np.isfinite(self.margin_per_point)
        if finite.any():
            i = int(np.nanargmin(np.where(finite, self.margin_per_point, np.inf)))
            parts.append(f"worst margin {self.margin_per_point[i]:.3g} {unit} at "
                         f"{self.frequency_hz[i] / 1e9:.6g} GHz")
        parts.append(f"{self.points_failed}/{self.points_checked} points fail")
        if self.points_unmeasured:
            parts.append(f"{self.points_unmeasured} judged points have no value")
        return "; ".join(parts)


def evaluate_mask(frequency_hz: ArrayLike, values: ArrayLike, segments: list[MaskSegment],
                  marginal_db: float = 0.0) -> MaskResult:
    """Judge ``values`` (one per frequency, the trace's unit) against the mask ``segments``."""
    f = np.asarray(frequency_hz, dtype=float)
    v = np.asarray(values, dtype=float)
    if f.ndim != 1 or v.shape != f.shape:
        raise ValueError(f"frequency {f.shape} and values {v.shape} must be equal 1-D shapes")
    judged = np.zeros(f.shape, dtype=bool)
    margin = np.full(f.shape, np.inf)
    with np.errstate(invalid="ignore"):
        for seg in segments:
            inside = seg.covers(f)
            judged |= inside
            lower = np.where(np.isnan(seg.lower_at(f)), -np.inf, seg.lower_at(f))
            upper = np.where(np.isnan(seg.upper_at(f)), np.inf, seg.upper_at(f))
            seg_margin = np.minimum(v - lower, upper - v)  # NaN where v is NaN
            margin = np.where(inside, np.fmin(margin, seg_margin), margin)
            margin = np.where(inside & np.isnan(v), np.nan, margin)
    margin = np.where(judged, margin, np.nan)
    unmeasured = judged & np.isnan(v)
    failed = judged & (unmeasured | (margin < 0))
    checked = int(judged.sum())
    if checked == 0:
        worst, where = math.nan, math.nan
    elif unmeasured.any():
        worst, where = math.nan, float(f[np.argmax(unmeasured)])
    else:
        i = int(np.nanargmin(margin))
        worst, where = float(margin[i]), float(f[i])
    return MaskResult(
        frequency_hz=f, judged=judged, pass_per_point=~failed, margin_per_point=margin,
        worst_margin=worst, worst_frequency_hz=where, points_checked=checked,
        points_failed=int(failed.sum()), points_unmeasured=int(unmeasured.sum()),
        marginal_db=float(marginal_db))
