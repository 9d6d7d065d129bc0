"""Test-plan file (``schema: benchbot.plan/1``): pydantic models, loading and the editor schema.

A plan says *what* to measure on *which* DUT, never *with what*: instruments are named by role
(``signal_generator``, ``power_meter``...) and bound to real instruments by a bench file
(:mod:`benchbot.bench`). Units are in field names (``_hz``, ``_dbm``, ``_v``, ``_a``, ``_s``,
``_c``).
Every model forbids unknown fields, so a misspelt key is an error, never silently ignored.

Step kinds (``kind``, :data:`STEP_TYPES`): ``power_sweep`` (CW gain/P1dB/PAE/AM-PM),
``modulated_power_sweep`` (NR FR1 test model: ACLR/EVM/OBW/PAE vs RMS Pout), ``harmonics``
(H2..Hn) and ``two_tone`` (IMD3/IMD5, OIP3). Each has its own metric catalogue for ``limits``;
a limit on a metric the step's settings cannot produce is an error, as is a waveform outside
TS 38.104 Table 5.3.2-1. How each kind is measured: :mod:`benchbot.measurements`.

Loading errors are one :class:`PlanError` listing every problem as
``<file>:<line>: <yaml path>: <reason>`` (machinery shared with bench files:
:func:`benchbot.bench.validate_yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from benchbot.analysis.nr_bands import bs_nr_aclr, ue_nr_aclr
from benchbot.inventory import CalibrationPolicy
from benchbot.limits import Limit
from benchbot.plan_bias import BiasSetpoint, BiasTerminals, TransistorSOA
from benchbot.plan_common import (
    FrequencyList,
    MetricSpec,
    PlanModel,
    Problems,
    StepBase,
    identifier,
    metric_key,
)
from benchbot.plan_control import DutControl, network_plan_problems
from benchbot.plan_hemt import (
    BreakdownStep,
    LeakageStep,
    OutputFamilyStep,
    PulsedIvStep,
    TransferCurveStep,
    hemt_plan_problems,
)
from benchbot.plan_network import NetworkPathsStep, SParametersStep
from benchbot.plan_noise import NoiseFigureStep
from benchbot.waveforms.nr import (
    DEFAULT_TDD_PATTERN,
    N_RB_TABLE,
    TEST_MODELS,
    fft_size_for,
    n_rb,
    tdd_pattern,
)
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

MAX_LEVELS = 1001
MAX_STEP_POINTS = 100_000  # frequencies x levels
LEVEL_RANGE_DBM = (-150.0, 50.0)
MAX_SETTLE_S = 600.0
MAX_WAVEFORM_SLOTS = 80  # 2 frames (a TDD test model) at 60 kHz SCS
MAX_TONE_SPACING_HZ = 25e6  # the ARB clock is 8 x spacing, at most 200 MSa/s
#: an IQ capture's usable bandwidth as a fraction of its sample rate (X-series IQ Analyzer:
#: sample rate = 1.25 x IF bandwidth [verify per model]); ACLR from IQ only inside it
IQ_USABLE_FRACTION = 0.8
MAX_HARMONIC = 5  # H2..H5 (rf-measurements-and-scpi.md §1.6: "n = 2, 3 (up to 5)")



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

_AT_RATED = "interpolated linearly in RMS Pout at rated_output_power_dbm"
#: The metrics a modulated power sweep can put limits on (rf-measurements-and-scpi.md §1.3-1.5).
MODULATED_SWEEP_METRICS: dict[str, MetricSpec] = {
    "modulated_gain_db": MetricSpec(
        "dB", True, "small-signal modulated gain: mean of Pout - Pin (RMS) over the "
        "small_signal_points lowest levels"),
    "aclr1_db_at_rated_pout": MetricSpec(
        "dB", True, f"3GPP ACLR1 (positive; worse of lower/upper) {_AT_RATED}"),
    "aclr2_db_at_rated_pout": MetricSpec(
        "dB", True, f"3GPP ACLR2 (positive; worse of lower/upper; BS only) {_AT_RATED}"),
    "evm_pct_at_rated_pout": MetricSpec("%", True, f"RMS EVM (38.104 Annex B) {_AT_RATED}"),
    "obw_hz_at_rated_pout": MetricSpec("Hz", True, f"99 % occupied bandwidth {_AT_RATED}"),
    "pae_at_rated_pout_pct": MetricSpec("%", True, f"PAE = (Pout - Pin)/P_DC {_AT_RATED}"),
    "pout_at_aclr_limit_dbm": MetricSpec(
        "dBm", True, "highest RMS Pout with worst ACLR1 >= aclr_threshold_db (interpolated)"),
    "pout_at_evm_limit_dbm": MetricSpec(
        "dBm", True, "highest RMS Pout with EVM <= evm_threshold_pct (interpolated)"),
    "sem_margin_db_at_rated_pout": MetricSpec(
        "dB", True, "worst margin to the spectrum emission mask (positive passes) at the level "
        "nearest the rated Pout (needs sem)"),
}

#: The metrics a harmonics step can put limits on: H_n = P(n*f) - P(f), worst over the levels.
HARMONICS_METRICS: dict[str, MetricSpec] = {
    f"h{n}_dbc": MetricSpec("dBc", True, f"H{n} = P({n}f) - P(f) at the DUT output, the worst "
                            "(highest) over the swept input levels")
    for n in range(2, MAX_HARMONIC + 1)
}

#: The metrics a two-tone step can put limits on (rf-measurements-and-scpi.md §1.6, per tone).
TWO_TONE_METRICS: dict[str, MetricSpec] = {
    "oip3_dbm": MetricSpec(
        "dBm", True, "per-tone OIP3: crossing of fixed 1:1 and 3:1 lines fitted over the "
        "extraction region, worse side"),
    "iip3_dbm": MetricSpec("dBm", True, "per-tone IIP3 at the same crossing"),
    "im3_slope_db_per_db": MetricSpec(
        "dB/dB", True, "fitted IM3 slope over the extraction region (3 when weakly nonlinear)"),
    "imd3_dbc_at_rated_pout": MetricSpec(
        "dBc", True, "P_IM3 - P_tone (negative; worse side) interpolated in per-tone Pout at "
        "rated_output_power_dbm"),
    "imd5_dbc_at_rated_pout": MetricSpec(
        "dBc", True, "P_IM5 - P_tone (negative; worse side) interpolated in per-tone Pout at "
        "rated_output_power_dbm"),
}


class PlanError(DocumentError):
    """A plan file that cannot be used; ``.issues`` lists every problem with path and line."""


class SafeOperatingArea(PlanModel):
    """Absolute limits the bench must never exceed at the DUT; checked before anything runs."""

    max_rf_input_dbm: float = Field(ge=-100, le=70, description="max RF power at the DUT input")
    max_supply_voltage_v: float = Field(gt=0, le=1000)
    max_supply_current_a: float = Field(gt=0, le=1000)
    transistor: TransistorSOA | None = Field(
        default=None, description="a transistor's bias limits (GaN HEMT): every biased step "
        "is checked against them and driven through the bias safety kernel")


class DUT(PlanModel):
    """The device under test."""

    part_number: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    kind: str = Field(description="e.g. power_amplifier")
    description: str = ""
    safe_operating_area: SafeOperatingArea
    control: DutControl | None = Field(
        default=None, description="how the DUT's states are set (MIPI RFFE or GPIO controller)")
    gate_width_mm: float | None = Field(
        default=None, gt=0, description="a transistor's total gate periphery, for per-mm figures")

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return identifier(v, "kind")


class SupplySetting(PlanModel):
    """One DC rail: a channel of the instrument in ``role``, its voltage and current limit."""

    name: str = Field(description="rail name, e.g. vcc")
    role: str = Field(description="bench role of the supply, e.g. dc_supply")
    channel: int = Field(ge=1, le=16)
    voltage_v: float = Field(ge=0)
    current_limit_a: float = Field(gt=0)

    @field_validator("name", "role")
    @classmethod
    def _ids(cls, v: str, info: Any) -> str:
        return identifier(v, info.field_name)


class Conditions(PlanModel):
    """Environment and bias under which every step runs."""

    ambient_temperature_c: float | None = Field(default=None, ge=-80, le=250)
    supplies: list[SupplySetting] = Field(default_factory=list)
    bias: BiasTerminals | None = Field(
        default=None, description="a transistor's gate and drain SMU channels and compliances "
        "(the bias safety kernel drives them)")


class PowerRange(PlanModel):
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


#: a limit key: one of POWER_SWEEP_METRICS (the error for any other name lists them)
PowerSweepMetric = metric_key(POWER_SWEEP_METRICS, "power-sweep")
ModulatedSweepMetric = metric_key(MODULATED_SWEEP_METRICS, "modulated-power-sweep")
HarmonicsMetric = metric_key(HARMONICS_METRICS, "harmonics")
TwoToneMetric = metric_key(TWO_TONE_METRICS, "two-tone")

def needs_supply(metric: str) -> bool:
    """Whether a metric needs P_DC from the DUT supplies (efficiencies, PAE)."""
    return metric.endswith("_pct") and ("pae" in metric or "efficiency" in metric)


class _Step(StepBase):
    """What every step has: a name, a kind, carrier frequencies and an upward power sweep.

    Subclasses fix ``kind`` to a literal (the plan's discriminator), add their own settings and
    their ``limits`` keyed by their metric catalogue (:attr:`METRICS`).
    """

    frequencies_hz: FrequencyList = Field(min_length=1)
    input_power_dbm: PowerRange
    reference_plane: Literal["dut_input", "generator_output"] = Field(
        default="dut_input",
        description="where input_power_dbm applies: at the DUT input (the generator adds the "
        "input path loss) or at the generator port",
    )

    def levels_dbm(self) -> np.ndarray:
        """Swept input levels in dBm at ``reference_plane``, ascending, stop included."""
        return self.input_power_dbm.levels_dbm()

    def total_points(self) -> int:
        """Sweep points (frequencies x levels): the progress total."""
        return len(self.frequencies_hz) * len(self.levels_dbm())

    def rms_offset_db(self) -> float:
        """RMS power the generator delivers above the planned level (0: the level is the RMS)."""
        return 0.0

    def required_roles(self) -> tuple[str, ...]:
        """Bench roles this step drives."""
        return (ROLE_GENERATOR,)

    def path_loss_roles(self) -> tuple[str, ...]:
        """Roles whose path loss refers powers to the DUT planes (must cover every frequency
        of :meth:`path_loss_frequencies`)."""
        return (ROLE_GENERATOR,)

    def path_loss_frequencies(self, role: str) -> list[float]:
        """Frequencies at which ``role``'s path loss is used (the carriers unless overridden)."""
        return list(self.frequencies_hz)

    def _common_problems(self, small_signal_points: int | None = None) -> Problems:
        problems: Problems = []
        n_levels = len(self.levels_dbm())
        if n_levels * len(self.frequencies_hz) > MAX_STEP_POINTS:
            problems.append((("input_power_dbm",), f"{n_levels} levels x "
                             f"{len(self.frequencies_hz)} frequencies is more than "
                             f"{MAX_STEP_POINTS} points", None))
        if small_signal_points is not None and small_signal_points > n_levels:
            problems.append((("small_signal_points",), f"{small_signal_points} is more than the "
                             f"{n_levels} sweep level(s)", small_signal_points))
        return problems


class PowerSweepStep(_Step):
    """CW power sweep at each frequency: gain, P1dB, Psat, PAE, drain efficiency, AM-PM."""

    METRICS: ClassVar[dict[str, MetricSpec]] = POWER_SWEEP_METRICS

    kind: Literal["power_sweep"]
    output_power_from: Literal["power_meter", "signal_analyzer"] = "power_meter"
    measure_am_pm: bool = Field(default=False, description="phase from the analyzer IQ capture")
    small_signal_max_input_dbm: float = Field(
        description="G0 = mean gain over levels at or below this DUT input power (>= 2 levels)"
    )
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S)
    bias: BiasSetpoint | None = Field(
        default=None, description="a transistor DUT's DC bias for this sweep, applied by the "
        "bias safety kernel (needs conditions.bias); P_DC then includes the gate and drain")
    limits: dict[PowerSweepMetric, Limit] = Field(
        default_factory=dict,
        description="metric -> limit; unknown metric names are errors",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PowerSweepStep:
        problems = self._common_problems()
        levels = self.levels_dbm()
        n_small = int(np.sum(levels <= self.small_signal_max_input_dbm + 1e-9))
        if n_small < 2:
            problems.insert(0, (("small_signal_max_input_dbm",),
                                f"only {n_small} sweep level(s) at or below it; G0 needs >= 2",
                                self.small_signal_max_input_dbm))
        problems += self._limit_needs(self.limits, {
            "gain_flatness_db": (len(self.frequencies_hz) >= 2, "needs >= 2 frequencies"),
            "am_pm_at_p1db_deg": (self.measure_am_pm, "needs measure_am_pm: true"),
        })
        raise_problems("PowerSweepStep", problems)
        return self

    def required_roles(self) -> tuple[str, ...]:
        """Bench roles this step drives: generator, output-power instrument, analyzer for AM-PM."""
        roles = [ROLE_GENERATOR, self.output_power_from]
        if self.measure_am_pm and ROLE_ANALYZER not in roles:
            roles.append(ROLE_ANALYZER)
        return tuple(roles)

    def path_loss_roles(self) -> tuple[str, ...]:
        """Roles whose path loss refers powers to the DUT planes (must cover every frequency)."""
        return (ROLE_GENERATOR, self.output_power_from)


#: 3GPP test models the waveform generator builds (benchbot.waveforms.nr, simplified), short names
NR_TEST_MODELS: dict[str, str] = {name.removeprefix("NR-FR1-"): name for name in TEST_MODELS}


def _rb_table_text(scs_khz: int | None = None) -> str:
    """The valid (SCS, channel bandwidth, N_RB) combinations, for error messages."""
    rows = []
    for scs, table in N_RB_TABLE.items():
        if scs_khz is None or scs == scs_khz:
            cells = ", ".join(f"{bw} MHz ({rb} RB)" for bw, rb in table.items())
            rows.append(f"{scs} kHz: {cells}")
    return "TS 38.104 Table 5.3.2-1 N_RB at " + "; ".join(rows)


class NrWaveformSpec(PlanModel):
    """An NR FR1 downlink test-model waveform (benchbot.waveforms.nr; 38.141-1 §4.9.2,
    simplified: see that module)."""

    standard: Literal["nr_fr1"] = Field(description="only NR FR1 (TS 38.104) for now")
    test_model: Literal[tuple(NR_TEST_MODELS)] = Field(  # type: ignore[valid-type]
        description="NR-FR1 test model without the NR-FR1- prefix, e.g. TM3.1a (256QAM)")
    channel_bandwidth_hz: float = Field(gt=0, description="e.g. 100e6")
    subcarrier_spacing_hz: float = Field(gt=0, description="15e3, 30e3 or 60e3")
    duplex: Literal["FDD", "TDD"] = Field(default="FDD", description="frame structure")
    tdd_pattern: str = Field(default=DEFAULT_TDD_PATTERN,
                             description="TDD UL/DL pattern (duplex: TDD only)")
    slots: int | None = Field(
        default=None, ge=1, le=MAX_WAVEFORM_SLOTS, description="slots in one ARB period; "
        "default: the full 38.141-1 test model (FDD 1 frame, TDD 2 frames = 10/20 ms)")
    oversampling: int = Field(default=1, ge=1, le=16,
                              description="ARB sample rate = this x the native N_FFT x SCS")
    seed: int = Field(default=0, ge=0, description="payload seed (reproducible waveform)")

    @model_validator(mode="after")
    def _in_rb_table(self) -> NrWaveformSpec:
        problems: Problems = []
        scs_khz = self.subcarrier_spacing_hz / 1e3
        if scs_khz not in N_RB_TABLE:
            problems.append((("subcarrier_spacing_hz",), f"{self.subcarrier_spacing_hz:g} Hz is "
                             f"not an FR1 data subcarrier spacing (15e3, 30e3, 60e3); "
                             f"{_rb_table_text()}", self.subcarrier_spacing_hz))
        else:
            bw_mhz = self.channel_bandwidth_hz / 1e6
            if bw_mhz not in N_RB_TABLE[int(scs_khz)]:
                problems.append((("channel_bandwidth_hz",), f"{self.channel_bandwidth_hz:g} Hz "
                                 f"is not an NR FR1 channel bandwidth at {scs_khz:g} kHz SCS; "
                                 f"{_rb_table_text(int(scs_khz))}", self.channel_bandwidth_hz))
            elif self.duplex == "TDD":
                try:
                    tdd_pattern(self.tdd_pattern, int(scs_khz))
                except ValueError as exc:
                    problems.append((("tdd_pattern",), str(exc), self.tdd_pattern))
        raise_problems("NrWaveformSpec", problems)
        return self

    @property
    def bandwidth_mhz(self) -> int:
        return int(round(self.channel_bandwidth_hz / 1e6))

    @property
    def scs_khz(self) -> int:
        return int(round(self.subcarrier_spacing_hz / 1e3))

    @property
    def test_model_name(self) -> str:
        """The generator's name of the test model, e.g. ``NR-FR1-TM3.1a``."""
        return NR_TEST_MODELS[self.test_model]

    @property
    def modulation(self) -> str:
        """Modulation of the test model's PDSCH, e.g. ``256QAM``."""
        return TEST_MODELS[self.test_model_name]


class AclrSettings(PlanModel):
    """Which 3GPP ACLR parameter set applies and how ACLR is measured."""

    requirement: Literal["bs", "ue"] = Field(
        default="bs", description="bs: TS 38.104 Table 6.6.3.5.2-1 (ACLR1 and ACLR2); "
        "ue: TS 38.101-1 Table 6.5.2.4.1-1 (NR_ACLR, ACLR1 only)")
    method: Literal["analyzer", "iq", "both"] = Field(
        default="analyzer", description="analyzer: its own ACP measurement; iq: from the IQ "
        "capture's PSD (only offsets inside the capture bandwidth); both")
    power_class: Literal[2, 3] = Field(default=3, description="UE power class (ue only)")
    noise_correction: bool = Field(
        default=True, description="analyzer noise correction (rf-measurements-and-scpi.md "
        "§1.3 practical settings: on); lowers the noise-limited ACLR floor at low drive")

    @property
    def uses_analyzer(self) -> bool:
        return self.method in ("analyzer", "both")

    @property
    def uses_iq(self) -> bool:
        return self.method in ("iq", "both")


class SemSettings(PlanModel):
    """Spectrum emission mask check at the rated point (the NR masks of benchbot.analysis.sem)."""

    mask: Literal["bs_cat_a", "bs_cat_b", "ue"] = Field(
        default="bs_cat_a", description="bs_cat_a/bs_cat_b: TS 38.104 §6.6.4 operating band "
        "unwanted emissions, wide area, bands > 1 GHz; ue: TS 38.101-1 Table 6.5.2.2-1")
    method: Literal["trace", "analyzer"] = Field(
        default="trace", description="trace: integrate the stored 100 kHz-RBW spectrum over "
        "each measurement bandwidth; analyzer: the analyzer's own SEM measurement")


class ModulatedPowerSweepStep(_Step):
    """ACLR, EVM, OBW and PAE against RMS output power with an NR FR1 test-model waveform."""

    METRICS: ClassVar[dict[str, MetricSpec]] = MODULATED_SWEEP_METRICS

    kind: Literal["modulated_power_sweep"]
    waveform: NrWaveformSpec
    aclr: AclrSettings = Field(default_factory=AclrSettings)
    measure_evm: bool = Field(default=True, description="EVM from an IQ capture of one period")
    measure_obw: bool = Field(default=True, description="99 % occupied bandwidth (analyzer)")
    sem: SemSettings | None = Field(default=None, description="spectrum emission mask check at "
                                    "the rated point (none: not measured)")
    output_power_from: Literal["signal_analyzer", "power_meter"] = Field(
        default="signal_analyzer", description="signal_analyzer: channel power over the "
        "channel bandwidth; power_meter: thermal total power")
    rated_output_power_dbm: float | None = Field(
        default=None, ge=LEVEL_RANGE_DBM[0], le=LEVEL_RANGE_DBM[1],
        description="RMS Pout at the DUT output where the *_at_rated_pout metrics are read")
    aclr_threshold_db: float | None = Field(
        default=None, gt=0, le=100, description="defines pout_at_aclr_limit_dbm (ACLR1, dB)")
    evm_threshold_pct: float | None = Field(
        default=None, gt=0, le=100, description="defines pout_at_evm_limit_dbm (%)")
    small_signal_points: int = Field(
        default=3, ge=1, description="modulated_gain_db = mean gain over this many lowest levels")
    iq_oversampling: int = Field(
        default=1, ge=1, le=16, description="IQ capture rate = this x the waveform sample rate "
        "(ACLR from IQ needs the adjacent channels inside 80 % of the capture rate)")
    analyzer_reference_level_dbm: float = Field(
        default=10.0, ge=-100, le=50, description="analyzer reference level (at its input) for "
        "the channel-power reading; ACLR/OBW then use that reading + PAPR + 3 dB")
    average_count: int = Field(default=1, ge=1, le=1000, description="analyzer averages")
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S)
    limits: dict[ModulatedSweepMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit; unknown metric names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> ModulatedPowerSweepStep:
        problems = self._common_problems(self.small_signal_points)
        rated = (self.rated_output_power_dbm is not None, "needs rated_output_power_dbm")
        problems += self._limit_needs(self.limits, {
            "aclr1_db_at_rated_pout": rated,
            "aclr2_db_at_rated_pout": (rated[0] and self.aclr.requirement == "bs",
                                       "needs rated_output_power_dbm and aclr.requirement: bs "
                                       "(the UE requirement has ACLR1 only)"),
            "evm_pct_at_rated_pout": (rated[0] and self.measure_evm,
                                      "needs rated_output_power_dbm and measure_evm: true"),
            "obw_hz_at_rated_pout": (rated[0] and self.measure_obw,
                                     "needs rated_output_power_dbm and measure_obw: true"),
            "pae_at_rated_pout_pct": rated,
            "pout_at_aclr_limit_dbm": (self.aclr_threshold_db is not None,
                                       "needs aclr_threshold_db"),
            "pout_at_evm_limit_dbm": (self.evm_threshold_pct is not None and self.measure_evm,
                                      "needs evm_threshold_pct and measure_evm: true"),
            "sem_margin_db_at_rated_pout": (rated[0] and self.sem is not None,
                                            "needs rated_output_power_dbm and sem"),
        })
        problems += self._iq_aclr_problems()
        raise_problems("ModulatedPowerSweepStep", problems)
        return self

    def _iq_aclr_problems(self) -> Problems:
        """ACLR by IQ only needs ACLR1 inside the capture's usable bandwidth (else all NaN)."""
        if self.aclr.method != "iq":
            return []
        w = self.waveform
        native_hz = fft_size_for(n_rb(w.bandwidth_mhz, w.scs_khz)) * w.subcarrier_spacing_hz
        params = (bs_nr_aclr(w.bandwidth_mhz, w.scs_khz) if self.aclr.requirement == "bs"
                  else ue_nr_aclr(w.bandwidth_mhz, w.scs_khz, self.aclr.power_class))
        edge_hz = params.offsets_hz[0] + params.adjacent_mbw_hz / 2
        need_hz = 2 * edge_hz / IQ_USABLE_FRACTION
        if native_hz * self.iq_oversampling >= need_hz:
            return []
        k = int(np.ceil(need_hz / native_hz))
        return [(("aclr", "method"), f"iq: ACLR1 reaches +-{edge_hz / 1e6:g} MHz, which needs an "
                 f"IQ capture rate >= {need_hz / 1e6:.2f} MS/s ({IQ_USABLE_FRACTION:.0%} usable); "
                 f"iq_oversampling {self.iq_oversampling} gives "
                 f"{native_hz * self.iq_oversampling / 1e6:g} MS/s: use iq_oversampling >= {k} "
                 "(if the analyzer captures that fast) or method analyzer|both", "iq")]

    def required_roles(self) -> tuple[str, ...]:
        """Generator, analyzer (ACLR, EVM, OBW) and the output-power instrument."""
        return tuple(dict.fromkeys((ROLE_GENERATOR, ROLE_ANALYZER, self.output_power_from)))

    def path_loss_roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((ROLE_GENERATOR, ROLE_ANALYZER, self.output_power_from)))

    @property
    def captures_iq(self) -> bool:
        """Whether each point captures IQ (for EVM or ACLR from IQ)."""
        return self.measure_evm or self.aclr.uses_iq


class _GeneratorAnalyzerStep(_Step):
    """A step that drives the generator and reads only the analyzer."""

    def required_roles(self) -> tuple[str, ...]:
        return (ROLE_GENERATOR, ROLE_ANALYZER)

    def path_loss_roles(self) -> tuple[str, ...]:
        return (ROLE_GENERATOR, ROLE_ANALYZER)


class HarmonicsStep(_GeneratorAnalyzerStep):
    """CW harmonics H2..Hn (dBc) through the analyzer, referred to the DUT output plane."""

    METRICS: ClassVar[dict[str, MetricSpec]] = HARMONICS_METRICS

    kind: Literal["harmonics"]
    max_harmonic: int = Field(default=3, ge=2, le=MAX_HARMONIC,
                              description="measure H2 up to this order")
    method: Literal["sweep", "analyzer"] = Field(
        default="sweep", description="sweep: a narrow peak-detector sweep around each n*f; "
        "analyzer: the analyzer's own harmonic-distortion measurement")
    span_hz: float = Field(default=1e6, gt=0, le=100e6, description="narrow sweep around n*f")
    rbw_hz: float = Field(default=10e3, gt=0, le=10e6, description="resolution bandwidth")
    reference_level_dbm: float = Field(default=10.0, ge=-100, le=50,
                                       description="analyzer reference level (at its input)")
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S)
    limits: dict[HarmonicsMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit; unknown metric names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> HarmonicsStep:
        problems = self._common_problems()
        if self.rbw_hz > self.span_hz:
            problems.append((("rbw_hz",), f"{self.rbw_hz:g} Hz is wider than span_hz "
                             f"({self.span_hz:g} Hz)", self.rbw_hz))
        problems += self._limit_needs(self.limits, {
            f"h{n}_dbc": (n <= self.max_harmonic, f"needs max_harmonic >= {n}")
            for n in range(2, MAX_HARMONIC + 1)})
        raise_problems("HarmonicsStep", problems)
        return self

    def orders(self) -> list[int]:
        """Harmonic orders measured, 2..max_harmonic."""
        return list(range(2, self.max_harmonic + 1))

    def path_loss_frequencies(self, role: str) -> list[float]:
        """The analyzer's loss is needed at every n*f (n = 1..max_harmonic)."""
        if role != ROLE_ANALYZER:
            return list(self.frequencies_hz)
        return [n * f for f in self.frequencies_hz for n in range(1, self.max_harmonic + 1)]


#: two equal tones: the total RMS power is the per-tone power + 10*log10(2) dB
TWO_TONE_RMS_OFFSET_DB = 10.0 * float(np.log10(2.0))


class TwoToneStep(_GeneratorAnalyzerStep):
    """Two equal tones at f +- spacing/2: IMD3 (and IMD5) vs per-tone power, OIP3 (§1.6)."""

    METRICS: ClassVar[dict[str, MetricSpec]] = TWO_TONE_METRICS

    kind: Literal["two_tone"]
    input_power_dbm: PowerRange = Field(description="power PER TONE at reference_plane (the "
                                        "generator's RMS level is 3.01 dB higher)")
    tone_spacing_hz: float = Field(gt=0, le=MAX_TONE_SPACING_HZ, description="f2 - f1")
    measure_im5: bool = Field(default=True, description="also IM5 at f -+ 2.5 spacings")
    method: Literal["sweep", "iq", "analyzer"] = Field(
        default="sweep", description="sweep: one peak-detector sweep over +-3 spacings; iq: "
        "coherent FFT of an IQ capture of whole waveform periods at 8 x spacing; analyzer: the "
        "analyzer's own TOI measurement (tones and IM3 only)")
    rbw_hz: float | None = Field(default=None, gt=0, le=10e6,
                                 description="sweep method: default spacing/100 within "
                                 "[1 kHz, 1 MHz]")
    reference_level_dbm: float = Field(default=10.0, ge=-100, le=50,
                                       description="analyzer reference level (at its input)")
    small_signal_points: int = Field(
        default=3, ge=2, description="per-tone G0 = mean gain over this many lowest levels")
    extraction_max_input_dbm: float | None = Field(
        default=None, description="OIP3 fit uses per-tone input <= this; default: the two-tone "
        "per-tone IP1dB of this sweep - 10 dB (all levels if it does not compress)")
    extraction_min_input_dbm: float | None = Field(
        default=None, description="OIP3 fit uses per-tone input >= this (IM3 must also be "
        ">= 10 dB above the trace's noise floor)")
    rated_output_power_dbm: float | None = Field(
        default=None, ge=LEVEL_RANGE_DBM[0], le=LEVEL_RANGE_DBM[1],
        description="per-tone Pout where imd3/imd5_dbc_at_rated_pout are read")
    settle_s: float = Field(default=0.0, ge=0, le=MAX_SETTLE_S)
    limits: dict[TwoToneMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit; unknown metric names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> TwoToneStep:
        problems = self._common_problems(self.small_signal_points)
        outer = self.product_offsets_hz()[-1]
        low = [f for f in self.frequencies_hz if f - outer <= 0]
        if low:
            problems.append((("tone_spacing_hz",), f"the outermost product (f - {outer:g} Hz) "
                             f"is at or below 0 Hz for {', '.join(f'{f:g}' for f in low)}",
                             self.tone_spacing_hz))
        lo, hi = self.extraction_min_input_dbm, self.extraction_max_input_dbm
        if lo is not None and hi is not None and lo >= hi:
            problems.append((("extraction_min_input_dbm",), f"must be below "
                             f"extraction_max_input_dbm ({hi:g})", lo))
        if self.method == "analyzer" and lo is None:
            problems.append((("extraction_min_input_dbm",), "required with method analyzer: the "
                             "analyzer's TOI reports no noise floor, so the plan says from which "
                             "per-tone input the IM3 products stand clear of it", None))
        rated = self.rated_output_power_dbm is not None
        problems += self._limit_needs(self.limits, {
            "imd3_dbc_at_rated_pout": (rated, "needs rated_output_power_dbm"),
            "imd5_dbc_at_rated_pout": (rated and self.measure_im5 and self.method != "analyzer",
                                       "needs rated_output_power_dbm, measure_im5: true and "
                                       "method sweep or iq (the analyzer's TOI has no IM5)"),
        })
        raise_problems("TwoToneStep", problems)
        return self

    def rms_offset_db(self) -> float:
        """The generator's RMS level is the total of two equal tones: per tone + 3.01 dB."""
        return TWO_TONE_RMS_OFFSET_DB

    def product_offsets_hz(self) -> list[float]:
        """Offsets from the centre of the tones (0.5), IM3 (1.5) and IM5 (2.5) spacings."""
        orders = (0.5, 1.5, 2.5) if self.measure_im5 else (0.5, 1.5)
        return [k * self.tone_spacing_hz for k in orders]

    def path_loss_frequencies(self, role: str) -> list[float]:
        """The analyzer's loss is needed at every tone and product frequency."""
        if role != ROLE_ANALYZER:
            return list(self.frequencies_hz)
        return [f + s * k for f in self.frequencies_hz for k in self.product_offsets_hz()
                for s in (-1.0, 1.0)]


#: every step kind a plan may contain, by its ``kind`` value
STEP_TYPES: dict[str, type[StepBase]] = {
    "power_sweep": PowerSweepStep,
    "modulated_power_sweep": ModulatedPowerSweepStep,
    "harmonics": HarmonicsStep,
    "two_tone": TwoToneStep,
    "s_parameters": SParametersStep,
    "network_paths": NetworkPathsStep,
    "noise_figure": NoiseFigureStep,
    "transfer_curve": TransferCurveStep,
    "output_family": OutputFamilyStep,
    "leakage": LeakageStep,
    "off_state_breakdown": BreakdownStep,
    "pulsed_iv": PulsedIvStep,
}

AnyStep = (PowerSweepStep | ModulatedPowerSweepStep | HarmonicsStep | TwoToneStep
           | SParametersStep | NetworkPathsStep | NoiseFigureStep | TransferCurveStep
           | OutputFamilyStep | LeakageStep | BreakdownStep | PulsedIvStep)
Step = Annotated[AnyStep, Field(discriminator="kind")]


class Plan(SourcedDocument, PlanModel):
    """A test plan: DUT, roles, conditions and steps (``schema: benchbot.plan/1``)."""

    schema_id: Literal["benchbot.plan/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    version: str = Field(min_length=1, description='quoted, e.g. "1.0"')
    description: str = ""
    operator: str = ""
    notes: str = ""
    dut: DUT
    roles: list[str] = Field(min_length=1, description="bench roles the plan uses")
    bench: str | None = Field(
        default=None, min_length=1,
        description="the bench the plan is written for, used when `benchbot run` gets no "
        "--bench: a built-in bench name (e.g. simulated-network) or a bench file path "
        "relative to the plan")
    calibration_policy: CalibrationPolicy = Field(
        default="refuse",
        description="instrument calibration at run start (lab inventory): refuse = an expired "
        "calibration refuses the run, an instrument not in the inventory is a warning; warn = "
        "both are recorded warnings; strict = both refuse the run")
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
            identifier(r, "role")
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
            if not self.conditions.supplies and getattr(step, "bias", None) is None:
                for metric in sorted(m for m in step.limits if needs_supply(m)):
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
        problems += network_plan_problems(self)
        problems += hemt_plan_problems(self)
        raise_problems("Plan", problems)
        return self

    def step(self, name: str) -> AnyStep:
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
    for step_type in STEP_TYPES.values():
        limits = schema["$defs"][step_type.__name__]["properties"]["limits"]
        limits["properties"] = {  # so editors complete metric names and show their units
            m: {"$ref": "#/$defs/Limit", "description": f"[{s.unit}] {s.description}"}
            for m, s in step_type.METRICS.items()
        }
        limits["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"benchbot test plan ({SCHEMA_ID})",
        **{k: v for k, v in schema.items() if k != "title"},
    }
