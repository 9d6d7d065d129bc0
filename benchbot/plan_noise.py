"""The ``noise_figure`` plan step: Y-factor noise figure with a noise source, with second-stage
(receiver) correction (rf-measurements-and-scpi.md §1.7).

The bench carries the noise source (``noise_source`` in the bench file: model, serial, ENR
calibration table, the role whose +28 V output drives it, its cold temperature, and the GPIO
test-set switch that bypasses the DUT for the receiver calibration). A plan step only says where
and how to measure; :mod:`benchbot.measurements.noise_figure` reads the rest from the bench and
refuses frequencies the ENR table does not cover before anything is switched.

The noise source sits at the DUT's input plane and the receiver calibration absorbs every loss
after the DUT, so no path-loss table is read.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from benchbot.limits import Limit
from benchbot.plan_common import (
    FrequencyList,
    MetricSpec,
    Problems,
    StepBase,
    identifier,
    metric_key,
)
from benchbot.yamlfile import raise_problems

#: the role whose +28 V output drives the noise source and which measures the noise powers
ROLE_ANALYZER = "signal_analyzer"
MAX_SETTLE_S = 600.0
MAX_AVERAGES = 10_000
#: the widest noise bandwidth a channel-power measurement integrates here
MAX_MEASUREMENT_BANDWIDTH_HZ = 100e6
#: what a noise source puts at the DUT input, for the safety check: a 346-type source with
#: ENR <= 25 dB over <= 50 GHz delivers k·T0·ENR·B < -42 dBm in total
NOISE_SOURCE_MAX_OUTPUT_DBM = -40.0

NOISE_FIGURE_METRICS: dict[str, MetricSpec] = {
    "noise_figure_db": MetricSpec(
        "dB", True, "DUT noise figure (Y-factor; second-stage corrected when enabled)"),
    "gain_db": MetricSpec(
        "dB", True, "DUT gain from the Y-factor noise powers, (N2h - N2c)/(N1h - N1c): "
        "needs second_stage_correction"),
    "noise_figure_max_db": MetricSpec(
        "dB", False, "worst (highest) noise figure over the step's frequencies"),
}

NoiseFigureMetric = metric_key(NOISE_FIGURE_METRICS, "noise-figure")


class NoiseFigureStep(StepBase):
    """Y-factor noise figure at each frequency: the analyzer's channel power of noise with the
    source hot and cold, through the DUT and (for the second-stage correction) through the test
    set's bypass."""

    METRICS: ClassVar[dict[str, MetricSpec]] = NOISE_FIGURE_METRICS

    kind: Literal["noise_figure"]
    frequencies_hz: FrequencyList = Field(
        min_length=1, description="measurement frequencies (each inside the ENR table)")
    measurement_bandwidth_hz: float = Field(
        default=4e6, gt=0, le=MAX_MEASUREMENT_BANDWIDTH_HZ,
        description="noise bandwidth integrated at each frequency (channel power)")
    average_count: int = Field(default=10, ge=1, le=MAX_AVERAGES,
                               description="sweeps averaged (in power) per noise reading")
    preamplifier: bool = Field(default=True, description="the analyzer's internal preamp")
    second_stage_correction: bool = Field(
        default=True, description="calibrate the receiver through the bench's noise-source "
        "bypass and remove its contribution (Friis); also gives the DUT gain")
    bypass_role: str = Field(
        default="gpio", description="bench role of the GPIO controller that switches the "
        "noise-source bypass (must be the bench's noise_source.bypass.role); with "
        "second_stage_correction only")
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S,
                            description="wait after switching the noise source or the route")
    state: str | None = Field(
        default=None, description="DUT control state (dut.control.states) set before measuring, "
        "e.g. a FEM's receive path; the DUT is powered through its controller for the step")
    limits: dict[NoiseFigureMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit; unknown metric names are errors")

    @field_validator("bypass_role")
    @classmethod
    def _role(cls, v: str) -> str:
        return identifier(v, "role")

    @model_validator(mode="after")
    def _consistent(self) -> NoiseFigureStep:
        problems: Problems = []
        low = [f for f in self.frequencies_hz if f <= self.measurement_bandwidth_hz / 2]
        if low:
            problems.append((("measurement_bandwidth_hz",), f"{self.measurement_bandwidth_hz:g} "
                             f"Hz reaches 0 Hz around {', '.join(f'{f:g}' for f in low)} Hz",
                             self.measurement_bandwidth_hz))
        problems += self._limit_needs(self.limits, {
            "gain_db": (self.second_stage_correction, "needs second_stage_correction: true (the "
                        "gain comes from the receiver calibration)")})
        raise_problems("NoiseFigureStep", problems)
        return self

    def total_points(self) -> int:
        """One point per frequency and route (receiver calibration, DUT)."""
        return len(self.frequencies_hz) * (2 if self.second_stage_correction else 1)

    def required_roles(self) -> tuple[str, ...]:
        if self.second_stage_correction:
            return (ROLE_ANALYZER, self.bypass_role)
        return (ROLE_ANALYZER,)

    def control_states(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(location, state) of every DUT control state the step sets (plan cross-check)."""
        return [(("state",), self.state)] if self.state is not None else []

    def dut_rf_input_dbm(self) -> float | None:
        """Only the noise source drives the DUT (no generator): at most
        NOISE_SOURCE_MAX_OUTPUT_DBM in total."""
        return NOISE_SOURCE_MAX_OUTPUT_DBM
