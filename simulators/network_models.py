"""Simulated DUTs seen through their S-parameters: LNA, band-pass filter, Touchstone file, thru.

A `NetworkDut` is what a VNA measures (`s_matrix`) and what the noise-figure chain passes
(`noise_path`, `noise_factor`, `available_gain`). Models (reference §3.4, §1.7, §1.8):

- `amplifier`: an LNA. S21 = G0·H(f)·e^{-j2πfτ} with H a Butterworth band-pass shape (order
  `filter_order` of the lowpass prototype); |S11|, |S22| at the in-band return loss, rising towards
  `out_of_band_reflection` where H falls; |S12| = isolation; NF(f) = NF0 + slope·(f - f0).
- `filter`: Chebyshev type-I band-pass from the lowpass prototype (`scipy.signal.cheby1`, analog)
  through the band-pass mapping p = (s/ω0 + ω0/s)/FBW, resonators of unloaded Q as the uniform
  dissipation shift p → p + 1/(FBW·Qu) (Cohn; Matthaei, Young & Jones §4.13). S11 from the
  characteristic polynomial (Feldtkeller: |S11|² + |S21|² = 1 for the lossless prototype), so the
  lossy network is exactly passive and reciprocal.
- `touchstone`: an `skrf.Network` file interpolated linearly in Re/Im (z0 renormalised to 50 Ω);
  no data outside the file's frequency range (ValueError).
- `thru`: an ideal 2-port line (optional delay and loss).

Config dicts are plain data with units in the key names; an unknown key is a ValueError that
lists the known ones (so a typo never silently falls back to a default).
`switch` and `fem` live in `simulators.controlled_duts` (dispatched here).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import signal

#: reference temperature of noise factor definitions (IEEE; reference §1.7)
T0_K = 290.0


@runtime_checkable
class NetworkDut(Protocol):
    """A DUT as a VNA and a noise-figure bench see it (docs contract, issue 4)."""

    port_names: tuple[str, ...]
    events: list[str]
    damaged: bool

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        """(F, n, n) complex S-matrix in the current state, 50-ohm reference."""
        ...

    def noise_path(self) -> tuple[int, int] | None:
        """(input port, output port), 1-based, in the current state; None = no noise path."""
        ...

    def noise_factor(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Linear noise factor F of the noise path at T0 = 290 K (50-ohm source)."""
        ...

    def available_gain(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Linear available gain of the noise path with a 50-ohm source."""
        ...

    def on_vna_rf(self, on: bool, power_dbm: float | None = None) -> None:
        """The VNA source was switched on/off, at `power_dbm` at the DUT ports when known
        (hot-switching and overdrive bookkeeping)."""
        ...


def available_gain_from_s(s: np.ndarray, path: tuple[int, int]) -> np.ndarray:
    """G_A = |S21|²/(1 - |Γout|²) with Γs = 0, so Γout = S22 (Pozar, Microwave Engineering §11.1).

    `s` is (F, n, n); `path` is (input, output), 1-based; other ports terminated in 50 ohm.
    """
    i, o = path[0] - 1, path[1] - 1
    s21 = s[:, o, i]
    s22 = s[:, o, o]
    return np.abs(s21) ** 2 / np.maximum(1.0 - np.abs(s22) ** 2, 1e-12)


class _NetworkBase:
    """Common state: port names, event log, damage flag, VNA source state."""

    #: model key → allowed config keys (besides `model`); subclasses set it
    CONFIG_KEYS: tuple[str, ...] = ()

    def __init__(self, port_names: tuple[str, ...]) -> None:
        self.port_names = port_names
        self.events: list[str] = []
        self.damaged = False
        self.vna_rf_on = False
        self.vna_power_dbm: float | None = None

    def on_vna_rf(self, on: bool, power_dbm: float | None = None) -> None:
        """A passive or fixed-state DUT has nothing to switch: only remember the state."""
        self.vna_rf_on = bool(on)
        self.vna_power_dbm = power_dbm

    def noise_path(self) -> tuple[int, int] | None:
        return (1, 2) if len(self.port_names) >= 2 else None

    def available_gain(self, frequency_hz: np.ndarray) -> np.ndarray:
        path = self.noise_path()
        if path is None:
            raise ValueError("this DUT has no noise path")
        return available_gain_from_s(self.s_matrix(np.asarray(frequency_hz, float)), path)

    def noise_factor(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Passive network at T0: F = 1/G_A (its available output noise is k·T0·B whatever the
        loss), so NF equals the loss including mismatch."""
        return 1.0 / np.maximum(self.available_gain(frequency_hz), 1e-30)

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_keys(cfg: Mapping[str, Any], allowed: tuple[str, ...], model: str) -> None:
    unknown = sorted(set(cfg) - set(allowed) - {"model"})
    if unknown:
        raise ValueError(f"{model} DUT: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(allowed))}")


def _port_names(cfg: Mapping[str, Any], default: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(str(n) for n in cfg.get("port_names", default))
    if len(names) != len(default):
        raise ValueError(f"port_names must name {len(default)} ports, got {list(names)}")
    return names


# ---------------------------------------------------------------------------------- amplifier
class AmplifierModel(_NetworkBase):
    """A 2-port LNA (port 1 = IN, port 2 = OUT), unilateral apart from `reverse_isolation_db`."""

    CONFIG_KEYS = (
        "small_signal_gain_db", "center_frequency_hz", "bandwidth_hz", "filter_order",
        "input_return_loss_db", "output_return_loss_db", "out_of_band_reflection",
        "reverse_isolation_db", "group_delay_s", "noise_figure_db",
        "noise_figure_slope_db_per_ghz", "port_names",
    )

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        _check_keys(cfg, self.CONFIG_KEYS, "amplifier")
        super().__init__(_port_names(cfg, ("IN", "OUT")))
        self.gain_db = float(cfg.get("small_signal_gain_db", 18.0))
        self.center_frequency_hz = float(cfg.get("center_frequency_hz", 3.5e9))
        self.bandwidth_hz = float(cfg.get("bandwidth_hz", 2.0e9))
        self.filter_order = int(cfg.get("filter_order", 2))
        self.input_return_loss_db = float(cfg.get("input_return_loss_db", 14.0))
        self.output_return_loss_db = float(cfg.get("output_return_loss_db", 16.0))
        self.out_of_band_reflection = float(cfg.get("out_of_band_reflection", 0.9))
        self.reverse_isolation_db = float(cfg.get("reverse_isolation_db", 40.0))
        self.group_delay_s = float(cfg.get("group_delay_s", 0.4e-9))
        self.noise_figure_db = float(cfg.get("noise_figure_db", 1.2))
        self.noise_figure_slope_db_per_ghz = float(cfg.get("noise_figure_slope_db_per_ghz", 0.1))
        f0, bw = self.center_frequency_hz, self.bandwidth_hz
        if not 0 < bw < 2 * f0:
            raise ValueError("amplifier bandwidth_hz must be positive and below 2·center")
        # band edges symmetric in log frequency around f0 (f_lo·f_hi = f0², f_hi - f_lo = bw)
        f_lo = math.sqrt(f0 ** 2 + (bw / 2) ** 2) - bw / 2
        self._zpk = signal.butter(self.filter_order, [f_lo / f0, (f_lo + bw) / f0],
                                  btype="bandpass", analog=True, output="zpk")

    def shape(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Band-pass shape H(f) (|H| = 1 at f0, -3 dB at the band edges), normalised to f0."""
        z, p, k = self._zpk
        _, h = signal.freqs_zpk(z, p, k, worN=np.asarray(frequency_hz, float)
                                / self.center_frequency_hz)
        return np.asarray(h, dtype=complex)

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        h = self.shape(f)
        h2 = np.minimum(np.abs(h) ** 2, 1.0)
        s = np.empty((f.size, 2, 2), dtype=complex)
        g0 = 10.0 ** (self.gain_db / 20.0)
        s[:, 1, 0] = g0 * h * np.exp(-2j * np.pi * f * self.group_delay_s)
        oob = self.out_of_band_reflection
        for k, rl_db, tau_s in ((0, self.input_return_loss_db, 0.11e-9),
                                (1, self.output_return_loss_db, 0.13e-9)):
            g_in = 10.0 ** (-rl_db / 20.0)
            mag = np.sqrt(g_in ** 2 + (oob ** 2 - g_in ** 2) * (1.0 - h2))
            # matching networks: reflection phase turns with frequency (short electrical length)
            s[:, k, k] = mag * np.exp(-2j * np.pi * f * tau_s + 1j * (0.6 + 0.9 * k))
        iso = 10.0 ** (-self.reverse_isolation_db / 20.0)
        s[:, 0, 1] = iso * np.exp(-2j * np.pi * f * 0.25e-9 + 2.2j)
        return s

    def noise_factor(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        nf_db = self.noise_figure_db + self.noise_figure_slope_db_per_ghz * (
            f - self.center_frequency_hz) / 1e9
        return 10.0 ** (np.maximum(nf_db, 0.0) / 10.0)


# ---------------------------------------------------------------------------------- filter
class ChebyshevFilterModel(_NetworkBase):
    """A Chebyshev type-I band-pass filter (passive, reciprocal) with finite unloaded Q."""

    CONFIG_KEYS = ("order", "ripple_db", "passband_start_hz", "passband_stop_hz",
                   "unloaded_q", "port_names")

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        _check_keys(cfg, self.CONFIG_KEYS, "filter")
        super().__init__(_port_names(cfg, ("IN", "OUT")))
        self.order = int(cfg.get("order", 5))
        self.ripple_db = float(cfg.get("ripple_db", 0.1))
        self.passband_start_hz = float(cfg.get("passband_start_hz", 3.3e9))
        self.passband_stop_hz = float(cfg.get("passband_stop_hz", 3.8e9))
        self.unloaded_q = float(cfg.get("unloaded_q", 300.0))
        if not 0 < self.passband_start_hz < self.passband_stop_hz:
            raise ValueError("filter needs 0 < passband_start_hz < passband_stop_hz")
        if self.order < 1 or self.ripple_db <= 0 or self.unloaded_q <= 0:
            raise ValueError("filter needs order ≥ 1, ripple_db > 0, unloaded_q > 0")
        self.center_frequency_hz = math.sqrt(self.passband_start_hz * self.passband_stop_hz)
        self.fractional_bandwidth = (self.passband_stop_hz - self.passband_start_hz
                                     ) / self.center_frequency_hz
        # lowpass prototype (cutoff 1 rad/s at the ripple level): S21 = k/E(p)
        _, poles, gain = signal.cheby1(self.order, self.ripple_db, 1.0, analog=True,
                                       output="zpk")
        self._poles = np.asarray(poles, dtype=complex)
        self._gain = float(np.real(gain))
        # reflection zeros: roots of T_N (|S21| = 1 there); Feldtkeller gives
        # S11 = k·ε·2^(N-1)·Π(p - j·x_k)/E(p) so that |S11|² + |S21|² = 1 on p = jΩ
        n = self.order
        self._reflection_zeros = 1j * np.cos((2 * np.arange(1, n + 1) - 1) * np.pi / (2 * n))
        eps = math.sqrt(10.0 ** (self.ripple_db / 10.0) - 1.0)
        self._s11_gain = self._gain * eps * 2.0 ** (n - 1)
        #: uniform dissipation of resonators with unloaded Q, in the lowpass domain
        self.dissipation = 1.0 / (self.fractional_bandwidth * self.unloaded_q)

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        if np.any(f <= 0):
            raise ValueError("filter model needs frequencies > 0 Hz")
        x = f / self.center_frequency_hz
        p = 1j * (x - 1.0 / x) / self.fractional_bandwidth + self.dissipation
        e = np.prod(p[:, None] - self._poles[None, :], axis=1)
        s21 = self._gain / e
        s11 = self._s11_gain * np.prod(p[:, None] - self._reflection_zeros[None, :], axis=1) / e
        s = np.empty((f.size, 2, 2), dtype=complex)
        s[:, 1, 0] = s[:, 0, 1] = s21
        s[:, 0, 0] = s11
        # lossless 2-port unitarity: S22 = -S11*·S21/S21* = (-1)^(N+1)·S11 (F real, symmetric)
        s[:, 1, 1] = (-1.0) ** (self.order + 1) * s11
        return s


# ---------------------------------------------------------------------------------- touchstone
def resolve_touchstone_path(path: str) -> str:
    """`skrf.data:<name>` names a file shipped with scikit-rf; other paths are used as given."""
    if path.startswith("skrf.data:"):
        import skrf.data

        return os.path.join(os.path.dirname(skrf.data.__file__), path.split(":", 1)[1])
    return os.path.expanduser(path)


class TouchstoneModel(_NetworkBase):
    """A measured (or simulated) network from a Touchstone file, interpolated in Re/Im."""

    CONFIG_KEYS = ("path", "port_names")

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        import skrf

        _check_keys(cfg, self.CONFIG_KEYS, "touchstone")
        if "path" not in cfg:
            raise ValueError("touchstone DUT needs `path`")
        self.path = resolve_touchstone_path(str(cfg["path"]))
        network = skrf.Network(self.path)
        if not np.allclose(network.z0, 50.0):
            network.renormalize(50.0)
        n = network.nports
        super().__init__(_port_names(cfg, tuple(f"P{k}" for k in range(1, n + 1))))
        self.network = network
        self._f = np.asarray(network.f, dtype=float)
        self._s = np.asarray(network.s, dtype=complex)

    @property
    def frequency_range_hz(self) -> tuple[float, float]:
        return float(self._f[0]), float(self._f[-1])

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float).ravel()
        lo, hi = self.frequency_range_hz
        tol = 1e-9 * hi
        if f.size and (f.min() < lo - tol or f.max() > hi + tol):
            raise ValueError(f"{os.path.basename(self.path)} has data from {lo:.6g} Hz to "
                             f"{hi:.6g} Hz only (asked {f.min():.6g}..{f.max():.6g} Hz)")
        # linear in Re/Im between file points: bracket once, blend every S_ij (vectorised)
        idx = np.clip(np.searchsorted(self._f, f, side="right") - 1, 0, self._f.size - 2)
        span = self._f[idx + 1] - self._f[idx]
        w = np.clip((f - self._f[idx]) / span, 0.0, 1.0)[:, None, None]
        return (1.0 - w) * self._s[idx] + w * self._s[idx + 1]

    def noise_path(self) -> tuple[int, int] | None:
        return (1, 2) if len(self.port_names) == 2 else None


# ---------------------------------------------------------------------------------- thru
class ThruModel(_NetworkBase):
    """An ideal 2-port line: S21 = S12 = 10^(-loss/20)·e^{-j2πfτ}, S11 = S22 = 0."""

    CONFIG_KEYS = ("delay_s", "loss_db", "port_names")

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        _check_keys(cfg, self.CONFIG_KEYS, "thru")
        super().__init__(_port_names(cfg, ("IN", "OUT")))
        self.delay_s = float(cfg.get("delay_s", 0.0))
        self.loss_db = float(cfg.get("loss_db", 0.0))

    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        s = np.zeros((f.size, 2, 2), dtype=complex)
        t = 10.0 ** (-self.loss_db / 20.0) * np.exp(-2j * np.pi * f * self.delay_s)
        s[:, 1, 0] = s[:, 0, 1] = t
        return s


_MODELS: dict[str, type[_NetworkBase]] = {
    "amplifier": AmplifierModel,
    "filter": ChebyshevFilterModel,
    "touchstone": TouchstoneModel,
    "thru": ThruModel,
}


def network_dut_from_config(cfg: Mapping[str, Any]) -> NetworkDut:
    """Build the network DUT named by `cfg["model"]` (switch/fem: simulators.controlled_duts)."""
    model = str(cfg.get("model", ""))
    if model in ("switch", "fem"):
        from simulators.controlled_duts import controlled_dut_from_config

        return controlled_dut_from_config(dict(cfg))  # type: ignore[no-any-return]
    try:
        cls = _MODELS[model]
    except KeyError:
        known = ", ".join(sorted([*_MODELS, "switch", "fem"]))
        raise ValueError(f"unknown network DUT model {model!r}; known: {known}") from None
    return cls(cfg)  # type: ignore[return-value]
