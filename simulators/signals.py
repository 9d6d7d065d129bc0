"""Signals that travel between simulated instruments on the virtual bench."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Tone:
    """A CW tone at an instrument's input port.

    `phase_rad` is the phase relative to the bench's shared 10 MHz reference, so an analyzer
    in IQ mode tuned to `frequency_hz` sees the baseband phasor sqrt(P·50)·exp(j·phase_rad).
    """

    frequency_hz: float
    power_dbm: float
    phase_rad: float = 0.0


@dataclass(frozen=True, eq=False)
class ModulatedSignal:
    """A periodic modulated signal at an instrument's input port (an ARB waveform after the DUT).

    `iq` is one period of complex baseband around `center_frequency_hz` in sqrt(W·50 ohm) units
    (power in W = mean(|iq|^2)/50), sampled at `sample_rate_hz`, which is wide enough for the
    DUT's spectral regrowth (the bench oversamples the ARB waveform before the PA model).
    Phase is referred to the shared 10 MHz reference, like a Tone's.
    """

    center_frequency_hz: float
    sample_rate_hz: float
    iq: np.ndarray

    @cached_property
    def power_w(self) -> float:
        return float(np.mean(self.iq.real**2 + self.iq.imag**2) / 50.0)

    @cached_property
    def crest_factor_db(self) -> float:
        """Peak-to-average power ratio of one period (the envelope peaks a mixer must handle)."""
        p = self.iq.real**2 + self.iq.imag**2
        mean = float(p.mean())
        return 10.0 * math.log10(float(p.max()) / mean) if mean > 0 else 0.0

    @property
    def power_dbm(self) -> float:
        p = self.power_w
        return 10.0 * math.log10(p) + 30.0 if p > 0 else -math.inf

    @property
    def duration_s(self) -> float:
        return self.iq.size / self.sample_rate_hz
