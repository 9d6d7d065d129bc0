"""What a measurement may ask of the engine while it runs: storage, progress, abort."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class StepContext(Protocol):
    """The engine's side of a running step (records data, reports progress, aborts)."""

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

    def commit(self) -> None:
        """Make everything written so far durable (flush) before measuring on."""

    def point_done(self) -> None:
        """One sweep point completed: advance progress; raises if the run was aborted."""

    def log(self, level: str, message: str) -> None:
        """Record an event (deviation, warning) in the run record."""
