"""Plan x bench checks, run before any instrument is touched.

:func:`check_plan_against_bench` refuses a run (one :class:`SafetyError` listing every
violation) when a role the plan needs is missing from the bench, a path-loss table does not cover
a step frequency, any sweep point would drive the DUT input above
``dut.safe_operating_area.max_rf_input_dbm``, or a supply setting is outside the SOA.

The RF check is done on the very generator setpoints the engine will send
(:func:`generator_levels_dbm`), referred back to the DUT input through the input path loss:
``P_DUT,in = P_gen - L_in(f)``; with ``reference_plane: dut_input`` the setpoint is
``P_gen = level + L_in(f)``, with ``generator_output`` it is the level itself. Setpoints are
RMS (average) powers: a two-tone step adds 3.01 dB to its per-tone level
(``step.rms_offset_db()``), and a modulated waveform's peaks (RMS + PAPR) are not compared with
``max_rf_input_dbm``, which is an average-power rating like the datasheet's.

Path-loss tables must cover every frequency a step reads through a role
(``step.path_loss_frequencies(role)``): the carriers, and for the analyzer also the harmonics
n·f of a harmonics step or the tones and IM products of a two-tone step.
"""

from __future__ import annotations

import numpy as np

from benchbot.analysis.noise_figure import EnrRangeError, enr_db_at
from benchbot.bench import BenchDefinition, NoiseSourceEntry, PathLoss
from benchbot.plan import ROLE_ANALYZER, ROLE_GENERATOR, AnyStep, Plan
from benchbot.plan_hemt import HemtStep
from benchbot.plan_noise import NoiseFigureStep

#: dB allowed above the SOA for float round-off only (level + loss - loss)
_ROUND_OFF_DB = 1e-6


class SafetyError(Exception):
    """The plan must not run on this bench; ``.violations`` lists every reason."""

    def __init__(self, violations: list[str]) -> None:
        self.violations = list(violations)
        n = len(self.violations)
        head = f"refusing to run: {n} safety violation{'s' if n > 1 else ''}"
        super().__init__("\n".join([head, *(f"  - {v}" for v in self.violations)]))


def _ghz(frequency_hz: float) -> str:
    return f"{frequency_hz / 1e9:g} GHz"


def _input_loss(step: AnyStep, bench: BenchDefinition) -> PathLoss:
    entry = bench.instruments.get(ROLE_GENERATOR)
    if entry is None or entry.path_loss is None:
        raise SafetyError([f"step {step.name!r}: bench {bench.name!r} has no path_loss for "
                           f"role {ROLE_GENERATOR!r} (generator port -> DUT input)"])
    uncovered = [f for f in step.frequencies_hz if not entry.path_loss.covers(f)]
    if uncovered:
        raise SafetyError([_uncovered(step, ROLE_GENERATOR, entry.path_loss, uncovered)])
    return entry.path_loss


def _uncovered(step: AnyStep, role: str, table: PathLoss, freqs: list[float]) -> str:
    lo, hi = table.range_hz
    return (f"step {step.name!r}: {', '.join(_ghz(f) for f in freqs)} outside the path-loss "
            f"table of role {role!r} ({_ghz(lo)} to {_ghz(hi)})")


def generator_levels_dbm(step: AnyStep, bench: BenchDefinition) -> np.ndarray:
    """Generator setpoints in dBm, shape (frequencies, levels), in the order the step sweeps.

    Raises :class:`SafetyError` when the generator's path-loss table is missing or does not
    cover a step frequency.
    """
    levels = step.levels_dbm() + step.rms_offset_db()
    if step.reference_plane == "generator_output":
        return np.tile(levels, (len(step.frequencies_hz), 1))
    loss = np.asarray(_input_loss(step, bench).loss_db_at(np.asarray(step.frequencies_hz)))
    return levels[None, :] + loss[:, None]


def dut_input_levels_dbm(step: AnyStep, bench: BenchDefinition) -> np.ndarray:
    """RMS power at the DUT input plane in dBm, shape (frequencies, levels)."""
    loss = np.asarray(_input_loss(step, bench).loss_db_at(np.asarray(step.frequencies_hz)))
    return generator_levels_dbm(step, bench) - loss[:, None]


def _rf_input_violation(step: AnyStep, bench: BenchDefinition, max_dbm: float) -> str | None:
    """The first sweep point (in sweep order) above the SOA, described; None if all are safe."""
    levels = step.levels_dbm()
    setpoints = generator_levels_dbm(step, bench)
    dut_in = dut_input_levels_dbm(step, bench)
    bad = np.argwhere(dut_in > max_dbm + _ROUND_OFF_DB)
    if bad.size == 0:
        return None
    fi, li = (int(i) for i in bad[0])
    per_tone = " per tone" if step.rms_offset_db() else ""
    total = " in total (RMS)" if step.rms_offset_db() else ""
    return (
        f"step {step.name!r}: at {_ghz(step.frequencies_hz[fi])}, level {levels[li]:g} dBm"
        f"{per_tone} ({step.reference_plane}) puts {dut_in[fi, li]:.2f} dBm{total} at the DUT "
        f"input (generator "
        f"{setpoints[fi, li]:.2f} dBm) > dut.safe_operating_area.max_rf_input_dbm "
        f"{max_dbm:g} dBm; {len(bad)} of {dut_in.size} points exceed it"
    )


def _uncovered_tables(step: AnyStep, bench: BenchDefinition) -> tuple[bool, list[str]]:
    """(all tables usable, violations) for the path-loss tables ``step`` reads."""
    tables_ok, violations = True, []
    for role in step.path_loss_roles():
        entry = bench.instruments.get(role)
        if entry is None:
            tables_ok = False
        elif entry.path_loss is None:
            tables_ok = False
            violations.append(f"step {step.name!r}: role {role!r} has no path_loss in bench "
                              f"{bench.name!r}; powers cannot be referred to the DUT")
        else:
            uncovered = [f for f in step.path_loss_frequencies(role)
                         if not entry.path_loss.covers(f)]
            if uncovered:
                tables_ok = False
                violations.append(_uncovered(step, role, entry.path_loss, uncovered))
        cal = entry.sensor.table if entry is not None and entry.sensor is not None else None
        if cal is not None:
            outside = [f for f in step.path_loss_frequencies(role) if not cal.covers(f)]
            if outside:
                violations.append(
                    f"step {step.name!r}: {', '.join(_ghz(f) for f in outside)} outside the "
                    f"cal-factor table of the {entry.sensor.model} sensor on role {role!r} "
                    f"({_ghz(min(cal.frequency_hz))} to {_ghz(max(cal.frequency_hz))}): the "
                    "meter would apply the table's end value")
    return tables_ok, violations


def noise_source_problems(step: NoiseFigureStep, source: NoiseSourceEntry | None) -> list[str]:
    """Why the bench's noise source cannot serve a noise-figure step: none, driven by another
    role than the analyzer, no bypass (or another role's) for the receiver calibration, or a
    frequency its ENR table does not cover (an ENR is never extrapolated)."""
    where = f"step {step.name!r}"
    if source is None:
        return [f"{where}: the bench has no noise_source"]
    problems = []
    if source.driven_by != ROLE_ANALYZER:
        problems.append(f"{where}: the noise source is driven by role {source.driven_by!r}; "
                        f"this step measures with {ROLE_ANALYZER!r}")
    if step.second_stage_correction:
        if source.bypass is None:
            problems.append(f"{where}: second_stage_correction needs the bench's "
                            "noise_source.bypass (the receiver-calibration route)")
        elif source.bypass.role != step.bypass_role:
            problems.append(f"{where}: bypass_role {step.bypass_role!r} is not the bench's "
                            f"noise_source.bypass.role {source.bypass.role!r}")
    try:
        enr_db_at(step.frequencies_hz, source.enr.frequency_hz, source.enr.enr_db)
    except EnrRangeError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def check_plan_against_bench(plan: Plan, bench: BenchDefinition) -> None:
    """Raise :class:`SafetyError` listing every reason ``plan`` must not run on ``bench``."""
    violations: list[str] = []
    needed: dict[str, str] = {r: "plan roles" for r in plan.roles}
    for step in plan.steps:
        for role in step.required_roles():
            needed.setdefault(role, f"step {step.name!r}")
    for s in plan.conditions.supplies:
        needed.setdefault(s.role, f"supply {s.name!r}")
    if plan.conditions.bias is not None:
        for name in ("gate", "drain"):
            needed.setdefault(getattr(plan.conditions.bias, name).role, f"bias {name}")
    for role, who in needed.items():
        if role not in bench.instruments:
            violations.append(f"role {role!r} ({who}) has no instrument in bench {bench.name!r}; "
                              f"bench roles: {', '.join(bench.instruments)}")

    soa = plan.dut.safe_operating_area
    for step in plan.steps:
        if isinstance(step, HemtStep):  # DC only: its bias points were checked with the plan
            continue
        if isinstance(step, NoiseFigureStep):
            violations.extend(noise_source_problems(step, bench.noise_source))
        fixed_input = step.dut_rf_input_dbm()
        if fixed_input is not None:
            if fixed_input > soa.max_rf_input_dbm + _ROUND_OFF_DB:
                violations.append(f"step {step.name!r}: {fixed_input:g} dBm at the DUT input > "
                                  f"dut.safe_operating_area.max_rf_input_dbm "
                                  f"{soa.max_rf_input_dbm:g} dBm")
            violations.extend(_uncovered_tables(step, bench)[1])
            continue
        tables_ok, found_tables = _uncovered_tables(step, bench)
        violations.extend(found_tables)
        if tables_ok:
            found = _rf_input_violation(step, bench, soa.max_rf_input_dbm)
            if found:
                violations.append(found)
        elif step.reference_plane == "dut_input" and (
            step.input_power_dbm.stop + step.rms_offset_db() > soa.max_rf_input_dbm + _ROUND_OFF_DB
        ):
            total = step.input_power_dbm.stop + step.rms_offset_db()
            per_tone = (f" per tone ({total:.2f} dBm in total)" if step.rms_offset_db() else "")
            violations.append(f"step {step.name!r}: level {step.input_power_dbm.stop:g} dBm"
                              f"{per_tone} at the DUT input > "
                              f"dut.safe_operating_area.max_rf_input_dbm "
                              f"{soa.max_rf_input_dbm:g} dBm")

    for s in plan.conditions.supplies:
        if s.voltage_v > soa.max_supply_voltage_v:
            violations.append(f"supply {s.name!r}: {s.voltage_v:g} V > dut.safe_operating_area."
                              f"max_supply_voltage_v {soa.max_supply_voltage_v:g} V")
        if s.current_limit_a > soa.max_supply_current_a:
            violations.append(f"supply {s.name!r}: current limit {s.current_limit_a:g} A > "
                              f"dut.safe_operating_area.max_supply_current_a "
                              f"{soa.max_supply_current_a:g} A")
    if violations:
        raise SafetyError(violations)
