"""Run a validated plan on a bench: setup → steps → teardown, safe state on every exit.

Every exit — pass, fail, instrument error, timeout, Ctrl-C — goes through `_make_safe`
(RF off first, then DC supplies off) and closes the record with its final status, so
nothing already measured is lost and the DUT is never left powered.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchbot.bench import BenchDefinition
from benchbot.bias import BiasKernel
from benchbot.inventory import (
    CalibrationCheck,
    CalibrationError,
    Inventory,
    load_inventory,
    policy_findings,
    refusal_message,
)
from benchbot.limits import MetricResult, Verdict
from benchbot.measurements.base import BenchView
from benchbot.measurements.registry import measurement_for
from benchbot.plan import AnyStep, Plan
from benchbot.plan_hemt import step_bias_points
from benchbot.provenance import calibration_checks, write_bench
from benchbot.provenance import corrections as bench_corrections
from benchbot.results.format import ABORTED, COMPLETED, ERROR
from benchbot.results.record import RunRecord
from benchbot.resume import ResumedRun
from instruments.interfaces import (
    DCSupply,
    Instrument,
    PowerMeter,
    RffeController,
    SignalGenerator,
    SourceMeter,
    VectorNetworkAnalyzer,
)
from instruments.supply_source import SupplyAsSourceMeter


class RunAborted(Exception):
    """The operator (Ctrl-C, SIGTERM) or a supervisor asked the run to stop."""


class ProgressListener(Protocol):
    def step_started(self, index: int, name: str, total_points: int) -> None: ...
    def point_done(self, index: int) -> None: ...
    def step_finished(self, index: int, name: str, verdict: Verdict) -> None: ...
    def message(self, text: str) -> None: ...


class SilentListener:
    """A listener for callers that want no progress output (tests, agents)."""

    def step_started(self, index: int, name: str, total_points: int) -> None: ...
    def point_done(self, index: int) -> None: ...
    def step_finished(self, index: int, name: str, verdict: Verdict) -> None: ...
    def message(self, text: str) -> None: ...


@dataclass
class RunOutcome:
    record_path: Path
    status: str
    verdict: Verdict
    metrics: list[MetricResult] = field(default_factory=list)
    error: str | None = None


class _Step:
    """The engine's StepContext for one step: record writes, progress and abort checks."""

    def __init__(self, engine: Engine, writer: Any, index: int, restarted: bool = False
                 ) -> None:
        self._engine, self._writer, self._index = engine, writer, index
        self.restarted = restarted

    def write(self, dataset: str, index: tuple[int, ...], values: np.ndarray | float) -> None:
        self._writer.write(dataset, index, values)

    def add_trace(self, name: str, x: np.ndarray, y: np.ndarray, x_units: str, y_units: str,
                  attrs: dict[str, Any]) -> None:
        self._writer.add_trace(name, x, y, x_units, y_units, attrs)

    def set_attrs(self, values: dict[str, Any]) -> None:
        self._writer.set_attrs(values)

    def commit(self, row: int | None = None) -> None:
        if row is not None:
            self._writer.mark_committed(row)
        self._writer.flush()

    def stored_row(self, row: int) -> dict[str, np.ndarray] | None:
        return self._writer.stored_row(row)

    def point_done(self) -> None:
        self._engine.listener.point_done(self._index)
        if self._engine.abort_requested.is_set():
            raise RunAborted("abort requested")

    def log(self, level: str, message: str) -> None:
        self._engine.record.add_event(level, message)


class Engine:
    """Executes one plan on one bench and owns the run record while it does."""

    def __init__(
        self,
        plan: Plan,
        bench: BenchDefinition,
        instruments: dict[str, Instrument],
        record: RunRecord,
        listener: ProgressListener | None = None,
        resume: ResumedRun | None = None,
    ) -> None:
        self.plan, self.bench, self.instruments = plan, bench, instruments
        #: what an interrupted run of this plan left (``benchbot run --resume``), if any
        self.resume = resume
        self.record = record
        self.listener = listener or SilentListener()
        self.abort_requested = threading.Event()
        self.metrics: list[MetricResult] = []
        #: the transistor's bias safety kernel (plans with ``conditions.bias``), built at setup
        self.kernel: BiasKernel | None = None
        #: each instrument's (and the noise source's) calibration as judged at run start
        self.calibration: list[CalibrationCheck] = []

    def run(self) -> RunOutcome:
        status, verdict, error = "completed", Verdict.PASS, None
        try:
            self._record_bench()
            self._setup()
            for index, step in enumerate(self.plan.steps):
                kept = self.resume.completed_metrics(index) if self.resume else None
                if kept is not None:
                    verdict = max(verdict, self._keep_step(index, step, kept))
                    continue
                verdict = max(verdict, self._run_step(index, step))
        except (KeyboardInterrupt, RunAborted) as exc:
            status, verdict, error = "aborted", Verdict.ABORTED, str(exc) or "interrupted"
            self.record.add_event("error", f"run aborted: {error}")
        except Exception as exc:  # an instrument or software fault: the run is in error
            status, verdict, error = "error", Verdict.ERROR, f"{type(exc).__name__}: {exc}"
            self.record.add_event("error", f"run error: {error}")
        finally:
            self._make_safe()
            self._store_traffic()
        path = self.record.close(status=status, verdict=verdict.value)
        return RunOutcome(path, status, verdict, self.metrics, error)

    # -- phases -------------------------------------------------------------------------
    def _record_bench(self) -> None:
        """Before any output: each instrument's identity and calibration status (looked up in
        the bench's lab inventory by *IDN? model and serial), the noise source's, and every
        correction applied with its source and SHA-256 (`corrections_json`). A resumed run
        checks that the bench is the one of the interrupted run, judges calibration again and
        records the interruption."""
        path = self.bench.inventory_path
        inventory = load_inventory(path) if path is not None else None
        self.calibration = calibration_checks(self.bench, self.instruments, inventory,
                                              dt.date.today())
        corrections = bench_corrections(self.bench, self.instruments)
        if self.resume is not None and self.resume.point.bench_recorded:
            self.resume.check_bench(self.instruments, corrections)
        else:  # a new run, or one killed before its bench was recorded whole
            if self.resume is not None:
                self.record.clear_bench()
            write_bench(self.record, self.bench, self.instruments, self.calibration,
                        corrections)
            self.record.set_run_attrs({
                "corrections_json": json.dumps(corrections, sort_keys=True),
                "calibration_policy": self.plan.calibration_policy,
                "calibration_inventory": str(path) if path is not None else None,
                "calibration_inventory_sha256": inventory.sha256 if inventory else None,
            })
        if self.resume is not None:
            self.resume.note_in(self.record)
        self._judge_calibration(inventory)

    def _judge_calibration(self, inventory: Inventory | None) -> None:
        """The plan's calibration_policy on the checks: events, or CalibrationError (the run
        is refused before any output)."""
        name = None
        if inventory is not None:
            name = Path(inventory.source_path).name if inventory.source_path else "(inventory)"
        policy = self.plan.calibration_policy
        findings = policy_findings(self.calibration, policy, name)
        for text in findings.infos:
            self.record.add_event("info", text)
        for text in findings.warnings:
            self.record.add_event("warning", text)
        if findings.refusals:
            raise CalibrationError(refusal_message(findings, policy))

    def _setup(self) -> None:
        """The bias kernel first (every planned bias point against the gate and drain
        instruments' ranges, before anything is switched); then known state: RF off, a
        transistor found biased (e.g. left so by a killed run) powered down in the §2.6
        order; then power meters zeroed; then each DUT supply limited before it is enabled."""
        self.kernel = self._bias_kernel()
        for instrument in self._all(SignalGenerator):
            instrument.set_rf_output(False)
            instrument.set_modulation(False)
        self._unbias_if_found_on()
        self._prepare_meters()
        self._power_supplies()

    def _unbias_if_found_on(self) -> None:
        """Gate and drain read back: an output found on is brought down by the kernel before
        anything else happens (a meter zeroed on a biased device, or an RF step without
        ``bias:`` run on one, would be wrong)."""
        kernel = self.kernel
        if kernel is None:
            return
        if not (kernel.gate.output_is_on(kernel.gate_channel)
                or kernel.drain.output_is_on(kernel.drain_channel)):
            return
        self.record.add_event("warning", "bias: gate or drain output found on at run start: "
                              "powering the transistor down before anything else")
        if not kernel.power_down().safe:
            raise RuntimeError("the transistor found biased at run start could not be "
                               "powered down")

    def _prepare_meters(self) -> None:
        """Zero each power meter with no RF applied, before the DUT is on; load its sensor's
        cal-factor table (or say the sensor applies its EEPROM's)."""
        for meter in self._all(PowerMeter):
            role = self._role_of(meter)
            meter.zero()
            self.record.add_event("info", f"power meter {role} zeroed")
            sensor = self.bench.instruments[role].sensor
            if sensor is None:
                continue
            cal = sensor.table
            if cal is None:
                self.record.add_event("info", f"power meter {role}: {sensor.describe()} "
                                      "applies the cal factors of its EEPROM")
                continue
            meter.load_cal_factor_table(sensor.table_name, cal.frequency_hz,
                                        cal.cal_factor_pct, sensor.reference_cal_factor)
            self.record.add_event(
                "info", f"power meter {role}: cal factors of {sensor.describe()} loaded as "
                f"table {sensor.table_name} ({len(cal.frequency_hz)} points, "
                f"{cal.frequency_hz[0] / 1e9:g}-{cal.frequency_hz[-1] / 1e9:g} GHz, reference "
                f"{sensor.reference_cal_factor:g} %), read back and applied")

    def _power_supplies(self) -> None:
        """Each DUT supply off, limited and set, then all of them on."""
        for setting in self.plan.conditions.supplies:
            supply = self._role(setting.role, DCSupply)
            supply.set_output(setting.channel, False)
            supply.set_current_limit_a(setting.channel, setting.current_limit_a)
            supply.set_voltage_v(setting.channel, setting.voltage_v)
        for setting in self.plan.conditions.supplies:
            self._role(setting.role, DCSupply).set_output(setting.channel, True)
            self.record.add_event(
                "info", f"supply {setting.name} on: {setting.voltage_v} V, "
                f"limit {setting.current_limit_a} A ({setting.role} ch{setting.channel})",
            )

    def _bias_kernel(self) -> BiasKernel | None:
        """The kernel on the plan's gate and drain SMU channels (nothing is switched here: the
        steps power up through it); its events go to the record, the watchdog's log next to
        the record. A drain on a DC supply channel is driven through SupplyAsSourceMeter (RF
        bias at 20-28 V and 0.1-1 A); the gate must be an SMU."""
        terminals = self.plan.conditions.bias
        soa = self.plan.dut.safe_operating_area.transistor
        if terminals is None or soa is None:
            return None
        if isinstance(self.instruments[terminals.gate.role], DCSupply):
            raise TypeError(f"conditions.bias.gate.role {terminals.gate.role!r} is a DC supply: "
                            "the gate needs an SMU (a supply cannot source the negative "
                            "pinch-off voltage of a depletion-mode HEMT)")
        gate = self._role(terminals.gate.role, SourceMeter)
        drain_instrument = self.instruments[terminals.drain.role]
        drain = (SupplyAsSourceMeter(drain_instrument) if isinstance(drain_instrument, DCSupply)
                 else self._role(terminals.drain.role, SourceMeter))
        log_path = self.record.final_path.with_suffix(".watchdog.log")

        def log(text: str) -> None:
            self.record.add_event("info", f"bias: {text}")

        kernel = BiasKernel(gate, terminals.gate.channel, drain, terminals.drain.channel, soa,
                            terminals, log=log, watchdog_log_path=str(log_path))
        for step in self.plan.steps:  # the instruments' ranges, before any output goes on
            kernel.check(step_bias_points(step))
        return kernel

    def _run_step(self, index: int, step: AnyStep) -> Verdict:
        """Run one step by its kind's measurement (benchbot.measurements.registry)."""
        measurement = measurement_for(step.kind)
        view = self._bench_view()
        axes, datasets = measurement.declare(step, view)
        self.listener.step_started(index, step.name, step.total_points())
        writer = self._resumed_writer(index) if self.resume else None
        restarted = writer is None and self.resume is not None and (
            self.resume.point.step(index) is not None)
        if writer is None:
            writer = self.record.begin_step(
                index, step.name, step.kind, settings=step.model_dump(mode="json"),
                axes=axes, datasets=datasets,
            )
        verdict = Verdict.ERROR
        try:
            self._apply_step_bias(step)
            results = measurement.run(step, view, _Step(self, writer, index, restarted))
            self.metrics.extend(results)
            verdict = max((r.verdict for r in results), default=Verdict.PASS)
            return verdict
        except (KeyboardInterrupt, RunAborted):
            verdict = Verdict.ABORTED
            raise
        finally:
            if self.kernel is not None and self.kernel.biased:  # the device rests unbiased
                self.kernel.power_down()
            step_metrics = [r for r in self.metrics if r.step == step.name]
            status = {Verdict.ABORTED: ABORTED, Verdict.ERROR: ERROR}.get(verdict, COMPLETED)
            writer.finish(step_metrics, verdict=verdict.value, status=status)
            self.listener.step_finished(index, step.name, verdict)

    def _keep_step(self, index: int, step: AnyStep, kept: list[MetricResult]) -> Verdict:
        """A step the interrupted run completed: its data and metrics stay as recorded."""
        self.listener.step_started(index, step.name, 0)
        state = self.resume.point.step(index) if self.resume else None
        self.record.add_event("info", f"resume: step {step.name!r} kept as completed before "
                              "the interruption", step=state.group if state else None)
        self.metrics.extend(kept)
        verdict = max((r.verdict for r in kept), default=Verdict.PASS)
        self.listener.step_finished(index, step.name, verdict)
        return verdict

    def _resumed_writer(self, index: int) -> Any:
        """The interrupted step's writer with its committed rows (None: the step starts
        afresh, its leftovers without a committed row deleted)."""
        assert self.resume is not None
        state = self.resume.point.step(index)
        if state is None:
            return None
        if not state.committed_rows:
            self.record.discard_step(state.group)
            self.record.add_event("info", f"resume: step {state.name!r} had committed no row "
                                  "before the interruption: it runs again from its start")
            return None
        writer = self.record.resume_step(state.group)
        self.record.add_event(
            "info", f"resume: step {state.name!r} continues; rows {list(state.committed_rows)} "
            "kept as committed, the others measured again", step=writer)
        return writer

    def _bench_view(self) -> BenchView:
        """The vendor-neutral bench a measurement sees: instruments by role, path losses to
        the DUT planes, the DUT's safe operating area and its supplies."""
        return BenchView(
            instruments=dict(self.instruments),
            path_losses={role: entry.path_loss for role, entry in self.bench.instruments.items()
                         if entry.path_loss is not None},
            safe_operating_area=self.plan.dut.safe_operating_area,
            supplies=tuple((s, self._role(s.role, DCSupply))
                           for s in self.plan.conditions.supplies),
            dut_control=self.plan.dut.control,
            noise_source=self.bench.noise_source,
            bias=self.kernel,
            gate_width_mm=self.plan.dut.gate_width_mm,
        )

    def _apply_step_bias(self, step: AnyStep) -> None:
        """An RF step's DC bias (``bias:``), applied by the kernel before it measures."""
        setpoint = getattr(step, "bias", None)
        if setpoint is None:
            return
        if self.kernel is None:
            raise RuntimeError(f"step {step.name!r} has a bias but the plan no conditions.bias")
        self.kernel.set_point(setpoint.gate_voltage_v, setpoint.drain_voltage_v)

    def _make_safe(self) -> None:
        """RF off on every generator (and its modulation/ARB) and every VNA source, then the
        transistor's bias power-down by the kernel (§2.6 order), then the DUT's control
        interface (RFFE VIO) off, then every DUT supply and SMU off; each attempted regardless.
        SMUs (and a drain supply) the kernel could not bring down are left to it (a gate held
        at pinch-off)."""
        rf = self._all(SignalGenerator) + self._all(VectorNetworkAnalyzer)
        self._switch_off(rf)
        kernel_owned = self._bias_power_down()
        self._switch_off(self._all(RffeController)
                         + [s for s in self._all(DCSupply) if s not in kernel_owned]
                         + [s for s in self._all(SourceMeter) if s not in kernel_owned])

    def _bias_power_down(self) -> list[Instrument]:
        """Power the transistor down through the kernel; returns the instruments it owns (the
        SMUs, a drain supply itself rather than its adapter) when the power-down did not end
        safe or the watchdog ended it (the generic switch-off must not touch them)."""
        kernel = self.kernel
        if kernel is None:
            return []
        report = kernel.power_down() if (kernel.biased or kernel.watchdog is not None) else (
            kernel.last_power_down)
        owned = [s.supply if isinstance(s, SupplyAsSourceMeter) else s
                 for s in (kernel.gate, kernel.drain)]
        if report is None:
            self.record.add_event("info", "safe state: transistor never biased")
        elif report.by_watchdog:  # this process's sessions failed: do not retry them here
            self.record.add_event("info", "safe state: transistor bias powered down by the "
                                  "watchdog's own sessions (see the watchdog log)")
            return owned
        elif report.safe:
            self.record.add_event("info", "safe state: transistor bias powered down (drain "
                                  "then gate, read back)")
        else:
            self.record.add_event("error", "safe state FAILED: transistor power-down "
                                  "incomplete: " + "; ".join(report.lines()))
            return owned
        return []

    def _switch_off(self, order: list[Any]) -> None:
        for instrument in order:
            role = self._role_of(instrument)
            try:
                instrument.make_safe()
                if isinstance(instrument, SignalGenerator):
                    instrument.set_modulation(False)
                if not _reads_safe(instrument):
                    raise RuntimeError("an output still reads on after the off command")
                self.record.add_event("info", f"safe state: {role} outputs off (read back)")
            except Exception as exc:  # keep going: the next instrument must still be made safe
                self.record.add_event("error", f"safe state FAILED on {role}: {exc}")

    def _store_traffic(self) -> None:
        for role, instrument in self.instruments.items():
            self.record.set_traffic_log(role, list(instrument.session.traffic))

    # -- helpers ------------------------------------------------------------------------
    def _role(self, role: str, kind: type) -> Any:
        instrument = self.instruments[role]
        if not isinstance(instrument, kind):
            raise TypeError(f"bench role {role!r} is a {type(instrument).__name__}, "
                            f"not a {kind.__name__}")
        return instrument

    def _all(self, kind: type) -> list[Any]:
        return [i for i in self.instruments.values() if isinstance(i, kind)]

    def _role_of(self, instrument: Instrument) -> str:
        return next(r for r, i in self.instruments.items() if i is instrument)


def _reads_safe(instrument: Instrument) -> bool:
    """Read the outputs back: the safe state is what the instrument reports, not what we sent."""
    if isinstance(instrument, SignalGenerator):
        return not instrument.rf_output_is_on()
    if isinstance(instrument, VectorNetworkAnalyzer):
        return not instrument.rf_output_is_on()
    if isinstance(instrument, RffeController):
        return not instrument.vio_is_on()
    if isinstance(instrument, DCSupply | SourceMeter):
        return not any(instrument.output_is_on(ch) for ch in instrument.channels)
    return True
