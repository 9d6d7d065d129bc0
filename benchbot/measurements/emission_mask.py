"""Spectrum emission mask at the rated point of a modulated sweep (TS 38.104 §6.6.4 operating
band unwanted emissions, TS 38.101-1 §6.5.2.2 UE SEM; masks in benchbot.analysis.sem).

Two methods, chosen by the plan's ``sem.method``:

- ``trace``: the stored RMS spectrum (100 kHz RBW, points closer than the RBW) is referred to
  the DUT output plane with the analyzer path loss at every point and integrated over each
  measurement bandwidth (integration-bandwidth method);
- ``analyzer``: the analyzer's own SEM measurement, with each limit moved to the analyzer's
  input by the path loss at the carrier (the loss changes by hundredths of a dB over ±100 MHz).

Either way the limits apply at the DUT output plane (the antenna connector of 38.104).

The margin and its frequency belong to the modulated sweep's frequency row (its resume unit,
:mod:`benchbot.measurements.modulated_sweep`): written before the row is committed, kept with
it by a resumed run, measured again with it otherwise.
"""

from __future__ import annotations

import numpy as np

from benchbot.analysis.sem import SemMask, bs_obue_mask, evaluate_sem, ue_sem_mask
from benchbot.bench import PathLoss
from benchbot.plan import ModulatedPowerSweepStep, SemSettings
from instruments.interfaces import SemSegment, SignalAnalyzer, Trace

FREQ_DIMS = ("frequency_hz",)


def mask_for(step: ModulatedPowerSweepStep) -> SemMask:
    """The 3GPP mask the plan names, for the step's channel bandwidth."""
    settings = step.sem or SemSettings()
    if settings.mask == "ue":
        return ue_sem_mask(step.waveform.bandwidth_mhz)
    return bs_obue_mask("A" if settings.mask == "bs_cat_a" else "B")


def datasets(step: ModulatedPowerSweepStep) -> dict[str, tuple[tuple[str, ...], str, str]]:
    """Per-frequency SEM results (none when the step has no `sem`)."""
    if step.sem is None:
        return {}
    mask = mask_for(step)
    return {
        "sem_margin_db": (FREQ_DIMS, "dB", f"worst margin to {mask.name} at the rated point "
                          f"(positive passes; {step.sem.method} method; {mask.source})"),
        "sem_worst_frequency_hz": (FREQ_DIMS, "Hz", "frequency of the worst SEM margin"),
    }


def from_trace(step: ModulatedPowerSweepStep, trace: Trace, loss: PathLoss,
               frequency_hz: float) -> tuple[float, float, str]:
    """(worst margin dB, its frequency Hz, method note) from the stored spectrum."""
    mask = mask_for(step)
    loss_db = np.array([loss.loss_db_at(float(f)) for f in trace.frequency_hz])
    result = evaluate_sem(trace.frequency_hz, trace.power_dbm + loss_db,
                          float(trace.settings["rbw_hz"]), frequency_hz,
                          step.waveform.channel_bandwidth_hz, mask)
    note = f"{mask.name}: {result.method}"
    if not result.complete:
        note += "; the trace does not cover the whole mask"
    return result.worst_margin_db, result.worst_frequency_hz, note


def from_analyzer(step: ModulatedPowerSweepStep, analyzer: SignalAnalyzer, loss: PathLoss,
                  frequency_hz: float, reference_level_dbm: float) -> tuple[float, float, str]:
    """(worst margin dB, its frequency Hz, method note) by the analyzer's SEM measurement."""
    mask = mask_for(step)
    loss_db = loss.loss_db_at(frequency_hz)
    segments = tuple(SemSegment(seg.start_hz, seg.stop_hz, seg.limit_start_dbm - loss_db,
                                seg.limit_stop_dbm - loss_db, seg.mbw_hz)
                     for seg in mask.segments)
    result = analyzer.measure_sem(frequency_hz, step.waveform.channel_bandwidth_hz, segments,
                                  reference_level_dbm)
    margins = result.lower_margin_db + result.upper_margin_db
    freqs = result.lower_frequency_hz + result.upper_frequency_hz
    worst = int(np.argmin(margins))
    return (float(margins[worst]), float(freqs[worst]),
            f"{mask.name} by the analyzer's SEM measurement, limits moved to its input by "
            f"{loss_db:.2f} dB path loss ({mask.source})")
