"""What a measurement may ask of the engine while it runs: storage, progress, abort
(:class:`StepContext`), and the bench it runs on (:class:`BenchView`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from benchbot.bench import NoiseSourceEntry, PathLoss
from benchbot.plan import ROLE_ANALYZER, ROLE_GENERATOR, SafeOperatingArea, SupplySetting
from instruments.interfaces import DCSupply, Instrument, SignalAnalyzer, SignalGenerator


class StepContext(Protocol):
    """The engine's side of a running step (records data, reports progress, aborts)."""

    #: the step was started before an interruption, committed nothing, and runs again from its
    #: start (``benchbot run --resume``): a measurement that stresses the DUT says so
    restarted: bool

    def write(self, dataset: str, index: tuple[int, ...], values: np.ndarray | float) -> None:
        """Store values into a pre-declared dataset of this step."""

    def add_trace(
        self,
        name: str,
        x: np.ndarray,
        y: np.ndarray,
        x_units: str,
        y_units: str,
        attrs: dict[str, Any],
    ) -> None:
        """Store one raw instrument trace (x axis + y values) with its settings."""

    def set_attrs(self, values: dict[str, Any]) -> None:
        """Store provenance of this step (calibration, port names...) as step attributes."""

    def commit(self, row: int | None = None) -> None:
        """Make everything written so far durable (flush) before measuring on. ``row``: the
        leading index (e.g. the frequency) whose data is now complete; a run resumed after an
        interruption keeps committed rows and measures the others again (`stored_row`)."""

    def stored_row(self, row: int) -> dict[str, np.ndarray] | None:
        """In a step resumed after an interruption: the stored values (dataset -> values at
        leading index ``row``) of a row committed before it, which the measurement uses instead
        of measuring it again; None when the row must be measured (always, in a fresh run)."""

    def point_done(self) -> None:
        """One sweep point completed: advance progress; raises if the run was aborted."""

    def log(self, level: str, message: str) -> None:
        """Record an event (deviation, warning) in the run record."""


T = TypeVar("T", bound=Instrument)


@dataclass(frozen=True)
class BenchView:
    """The bench as a measurement sees it, vendor-neutral: roles → instruments (by interface),
    role → path loss to the DUT plane, the DUT's safe operating area and its powered supplies.

    Built by the engine for every step; measurements never see drivers, resources or SCPI.
    """

    instruments: Mapping[str, Instrument]
    path_losses: Mapping[str, PathLoss]
    safe_operating_area: SafeOperatingArea
    supplies: tuple[tuple[SupplySetting, DCSupply], ...] = ()
    #: the DUT's control profile (``plan.dut.control``: states and how to set them), if any
    dut_control: Any = None
    #: the bench's Y-factor noise source (ENR table, drive role, test-set bypass), if any
    noise_source: NoiseSourceEntry | None = None
    #: the transistor's bias safety kernel (:class:`benchbot.bias.BiasKernel`): the only way a
    #: measurement may touch the gate and drain SMUs; None without ``conditions.bias``
    bias: Any = None
    #: the transistor's gate periphery (``dut.gate_width_mm``) for per-mm figures
    gate_width_mm: float | None = None

    def role(self, role: str, kind: type[T]) -> T:
        """The instrument in ``role``; KeyError if absent, TypeError if not a ``kind``."""
        try:
            instrument = self.instruments[role]
        except KeyError:
            raise KeyError(f"the bench has no instrument in role {role!r}") from None
        if not isinstance(instrument, kind):
            raise TypeError(f"bench role {role!r} is a {type(instrument).__name__}, "
                            f"not a {kind.__name__}")
        return instrument

    def optional(self, role: str, kind: type[T]) -> T | None:
        """The instrument in ``role`` if there is one of that kind, else None."""
        instrument = self.instruments.get(role)
        return instrument if isinstance(instrument, kind) else None

    def loss(self, role: str) -> PathLoss:
        """Path loss between ``role``'s port and the DUT plane; KeyError if the bench has none."""
        try:
            return self.path_losses[role]
        except KeyError:
            raise KeyError(f"the bench has no path_loss for role {role!r}") from None

    def optional_loss(self, role: str) -> PathLoss | None:
        return self.path_losses.get(role)

    @property
    def generator(self) -> SignalGenerator:
        return self.role(ROLE_GENERATOR, SignalGenerator)

    @property
    def analyzer(self) -> SignalAnalyzer:
        return self.role(ROLE_ANALYZER, SignalAnalyzer)

    @property
    def max_rf_input_dbm(self) -> float:
        """The DUT's maximum RF input (RMS), at its input plane."""
        return self.safe_operating_area.max_rf_input_dbm

    @property
    def supply_names(self) -> list[str]:
        return [setting.name for setting, _ in self.supplies]
