"""Signals that travel between simulated instruments on the virtual bench."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tone:
    """A CW tone at an instrument's input port.

    `phase_rad` is the phase relative to the bench's shared 10 MHz reference, so an analyzer
    in IQ mode tuned to `frequency_hz` sees the baseband phasor sqrt(P·50)·exp(j·phase_rad).
    """

    frequency_hz: float
    power_dbm: float
    phase_rad: float = 0.0
