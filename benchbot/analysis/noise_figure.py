"""Y-factor noise figure (rf-measurements-and-scpi.md §1.7): pure numpy, no I/O.

Definitions (IEEE: T0 = 290 K):

* noise factor ``F = SNR_in / SNR_out``, ``NF = 10 log10 F``, effective input noise temperature
  ``Te = T0 (F - 1)``;
* a noise source's excess noise ratio ``ENR = (Th - T0) / T0`` (Agilent 346A glossary), taken per
  frequency from its calibration table, interpolated linearly in dB against frequency and never
  extrapolated (:func:`enr_db_at`);
* ``Y = N_hot / N_cold`` (linear powers with the source on and off);
* with the source at its physical temperature ``Tc`` when off (a warm lab: Keysight's noise
  figure analyzers default to 296.5 K), ``F = (ENR - Y (Tc/T0 - 1)) / (Y - 1)``, which is the
  textbook ``NF = ENR_dB - 10 log10(Y - 1)`` when ``Tc = T0`` (:func:`noise_factor_from_y`);
* second-stage correction (Friis): calibrate the receiver alone (source straight into it) for
  ``F2``; the DUT's available gain is ``G1 = (N2h - N2c) / (N1h - N1c)`` (the same source
  temperatures through the DUT and the receiver, then the receiver alone); the DUT's own noise
  factor is ``F1 = F12 - (F2 - 1) / G1``.

All functions take and return numpy arrays (or floats) elementwise, one value per frequency. A
value that cannot be computed (no excess noise seen: ``Y <= 1``) is NaN, not an exception: the
measurement records it and judging fails it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: IEEE reference temperature of noise figure, K
T0_K = 290.0
#: a frequency this close to an ENR table end (relative) counts as inside it (float round-off)
ENR_RANGE_TOLERANCE = 1e-9


class EnrRangeError(ValueError):
    """An ENR was asked for outside the noise source's calibration table."""


def db_to_linear(db: ArrayLike) -> np.ndarray:
    """Power ratio from dB."""
    return np.power(10.0, np.asarray(db, dtype=float) / 10.0)


def linear_to_db(ratio: ArrayLike) -> np.ndarray:
    """dB from a power ratio (NaN for ratios <= 0: no such power ratio)."""
    r = np.asarray(ratio, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, 10.0 * np.log10(np.where(r > 0, r, 1.0)), np.nan)


def dbm_to_w(dbm: ArrayLike) -> np.ndarray:
    """Watts from dBm."""
    return np.power(10.0, (np.asarray(dbm, dtype=float) - 30.0) / 10.0)


def enr_db_at(frequency_hz: ArrayLike, table_frequency_hz: ArrayLike,
              table_enr_db: ArrayLike) -> np.ndarray:
    """ENR (dB) at ``frequency_hz`` from a calibration table: linear in dB against frequency
    between table points (the way noise figure analyzers interpolate ENR tables).

    Raises :class:`EnrRangeError` for a frequency outside the table (an ENR the source was not
    calibrated for is an error, not a guess) and ValueError for a malformed table.
    """
    f_tab = np.asarray(table_frequency_hz, dtype=float)
    enr_tab = np.asarray(table_enr_db, dtype=float)
    if f_tab.ndim != 1 or f_tab.size == 0 or f_tab.shape != enr_tab.shape:
        raise ValueError(f"an ENR table needs as many ENR values as frequencies (>= 1), got "
                         f"{f_tab.size} frequencies and {enr_tab.size} values")
    if np.any(np.diff(f_tab) <= 0):
        raise ValueError("ENR table frequencies must strictly increase")
    f = np.asarray(frequency_hz, dtype=float)
    lo, hi = float(f_tab[0]), float(f_tab[-1])
    outside = [float(x) for x in np.atleast_1d(f)
               if not lo - ENR_RANGE_TOLERANCE * abs(x) <= x <= hi + ENR_RANGE_TOLERANCE * abs(x)]
    if outside:
        raise EnrRangeError(f"{outside[0]:g} Hz is outside the ENR table ({lo:g} to {hi:g} Hz);"
                            " refusing to extrapolate the noise source's calibration")
    return np.interp(f, f_tab, enr_tab)


def noise_factor_from_y(enr_db: ArrayLike, y: ArrayLike,
                        cold_temperature_k: float = T0_K) -> np.ndarray:
    """Noise factor (linear) of everything after the noise source, from the Y factor (linear):
    ``F = (ENR - Y (Tc/T0 - 1)) / (Y - 1)``; NaN where ``Y <= 1`` (no excess noise seen)."""
    enr = db_to_linear(enr_db)
    yy = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (enr - yy * (cold_temperature_k / T0_K - 1.0)) / (yy - 1.0)
    return np.where(yy > 1.0, f, np.nan)


def y_factor(hot_dbm: ArrayLike, cold_dbm: ArrayLike) -> np.ndarray:
    """``Y = N_hot / N_cold`` (linear) from the two noise powers in dBm."""
    return db_to_linear(np.asarray(hot_dbm, dtype=float) - np.asarray(cold_dbm, dtype=float))


def gain_from_calibration(dut_hot_dbm: ArrayLike, dut_cold_dbm: ArrayLike,
                          receiver_hot_dbm: ArrayLike, receiver_cold_dbm: ArrayLike
                          ) -> np.ndarray:
    """DUT available gain (linear) ``G1 = (N2h - N2c) / (N1h - N1c)``: the hot-cold noise power
    difference through DUT and receiver over that of the receiver alone. NaN where the
    receiver saw no difference."""
    n2 = dbm_to_w(dut_hot_dbm) - dbm_to_w(dut_cold_dbm)
    n1 = dbm_to_w(receiver_hot_dbm) - dbm_to_w(receiver_cold_dbm)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n1 > 0, n2 / np.where(n1 > 0, n1, 1.0), np.nan)


def second_stage_corrected(system_noise_factor: ArrayLike, receiver_noise_factor: ArrayLike,
                           dut_gain: ArrayLike) -> np.ndarray:
    """Friis: the DUT's noise factor ``F1 = F12 - (F2 - 1) / G1`` (all linear); NaN where the
    gain is not positive."""
    f12 = np.asarray(system_noise_factor, dtype=float)
    f2 = np.asarray(receiver_noise_factor, dtype=float)
    g1 = np.asarray(dut_gain, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(g1 > 0, f12 - (f2 - 1.0) / np.where(g1 > 0, g1, 1.0), np.nan)


def noise_figure_db(noise_factor: ArrayLike) -> np.ndarray:
    """``NF = 10 log10 F`` (NaN for F <= 0)."""
    return linear_to_db(noise_factor)


def noise_factor(noise_figure_db_: ArrayLike) -> np.ndarray:
    """``F = 10^(NF/10)``."""
    return db_to_linear(noise_figure_db_)


def noise_temperature_k(noise_factor_: ArrayLike) -> np.ndarray:
    """Effective input noise temperature ``Te = T0 (F - 1)``."""
    return T0_K * (np.asarray(noise_factor_, dtype=float) - 1.0)


def noise_factor_from_temperature(noise_temperature_k_: ArrayLike) -> np.ndarray:
    """``F = 1 + Te / T0``."""
    return 1.0 + np.asarray(noise_temperature_k_, dtype=float) / T0_K


@dataclass(frozen=True)
class YFactorResult:
    """Per-frequency results of a Y-factor measurement (dB unless named otherwise).

    ``noise_figure_db`` is the DUT's own noise figure when the receiver was calibrated
    (second-stage corrected), else equal to ``noise_figure_uncorrected_db`` (DUT plus receiver);
    ``gain_db`` and ``receiver_noise_figure_db`` are NaN without a receiver calibration.
    """

    y_factor_db: np.ndarray
    noise_figure_uncorrected_db: np.ndarray
    noise_figure_db: np.ndarray
    gain_db: np.ndarray
    receiver_noise_figure_db: np.ndarray
    noise_temperature_k: np.ndarray


def y_factor_noise_figure(enr_db: ArrayLike, dut_hot_dbm: ArrayLike, dut_cold_dbm: ArrayLike,
                          cold_temperature_k: float = T0_K,
                          receiver_hot_dbm: ArrayLike | None = None,
                          receiver_cold_dbm: ArrayLike | None = None) -> YFactorResult:
    """Noise figure from the hot/cold noise powers through the DUT (and, with both receiver
    powers given, the receiver calibration for the second-stage correction and the gain)."""
    y = y_factor(dut_hot_dbm, dut_cold_dbm)
    f12 = noise_factor_from_y(enr_db, y, cold_temperature_k)
    nan = np.full(np.shape(f12), np.nan)
    if receiver_hot_dbm is None or receiver_cold_dbm is None:
        f1, gain, f2 = f12, nan, nan
    else:
        f2 = noise_factor_from_y(enr_db, y_factor(receiver_hot_dbm, receiver_cold_dbm),
                                 cold_temperature_k)
        gain = gain_from_calibration(dut_hot_dbm, dut_cold_dbm, receiver_hot_dbm,
                                     receiver_cold_dbm)
        f1 = second_stage_corrected(f12, f2, gain)
    return YFactorResult(y_factor_db=linear_to_db(y), noise_figure_uncorrected_db=linear_to_db(f12),
                         noise_figure_db=linear_to_db(f1), gain_db=linear_to_db(gain),
                         receiver_noise_figure_db=linear_to_db(f2),
                         noise_temperature_k=noise_temperature_k(f1))
