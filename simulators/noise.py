"""The simulated Y-factor chain: a 346-type noise source, the test set's bypass, the network DUT's
noise path and the analyzer cable, as a noise PSD at the analyzer input.

Physics (rf-measurements-and-scpi.md §1.7; Agilent 346A glossary):

* The source is a matched termination whose noise temperature is ``Th = T0·ENR + T0`` while
  the analyzer's +28 V drive is on (``bench.noise_source_on``; ENR from the TRUE table in
  ``config["noise_source"]["enr"]``, linear in dB between points and flat beyond the ends: the
  physical diode has an ENR everywhere), and its physical temperature ``Tc`` when off
  (``cold_temperature_k``, default 296.5 K: a warm lab, Keysight's noise figure analyzers'
  default Tcold).
* It hangs on the DUT's noise-path input. While ``bench.gpio[bypass.gpio_port] ==
  bypass.thru_value`` the test set routes it straight to the analyzer path (the second-stage
  calibration); otherwise through ``bench.network``: a DUT of available gain ``G_A`` and noise
  factor ``F`` (at T0, 50-ohm source) delivers ``G_A·(1 - |S22|²)·k·(Ts + T0·(F - 1))`` per Hz
  into the matched analyzer path (the available noise times the output mismatch, i.e.
  ``|S21|²·k·(Ts + Te)`` for a matched source). A DUT with no noise path in its current state
  (an isolation state) and a bench with no network DUT and no bypass leave only a termination at
  ``Tc`` at the analyzer path's far end.
* The analyzer path is a matched attenuator at T0 with the bench's loss ``L``:
  ``T_out = T_in / L + T0·(1 - 1/L)``.

The analyzer simulators add this PSD to their own noise before detection. Their DANL is
specified with a 50-ohm termination on the input, so its k·T0 is already part of the analyzer's
own noise: they add the *excess* over k·T0 (:func:`excess_psd_w_hz`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

#: IEEE reference temperature of noise figure and ENR, K
T0_K = 290.0
#: Boltzmann constant, J/K (SI 2019, exact)
BOLTZMANN_J_K = 1.380649e-23
#: the source's physical temperature when off unless the config says otherwise (a warm lab)
DEFAULT_COLD_TEMPERATURE_K = 296.5


@dataclass(frozen=True)
class NoiseSourceModel:
    """The physical noise source and the test set's bypass relay (``config["noise_source"]``)."""

    enr_frequency_hz: np.ndarray
    enr_db: np.ndarray
    cold_temperature_k: float = DEFAULT_COLD_TEMPERATURE_K
    bypass_gpio_port: int | None = None
    bypass_thru_value: int | None = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> NoiseSourceModel:
        """``{enr: {frequency_hz: [...], enr_db: [...]}, cold_temperature_k?,
        bypass?: {gpio_port, thru_value}}``."""
        enr = cfg.get("enr") or {}
        f = np.asarray(enr.get("frequency_hz", []), dtype=float)
        db = np.asarray(enr.get("enr_db", []), dtype=float)
        if f.size == 0 or f.shape != db.shape:
            raise ValueError("noise_source.enr needs frequency_hz and enr_db of equal length")
        order = np.argsort(f)
        bypass = cfg.get("bypass") or {}
        port = bypass.get("gpio_port", bypass.get("port"))
        thru = bypass.get("thru_value")
        return cls(f[order], db[order],
                   float(cfg.get("cold_temperature_k", DEFAULT_COLD_TEMPERATURE_K)),
                   None if port is None else int(port), None if thru is None else int(thru))

    def enr_db_at(self, frequency_hz: np.ndarray) -> np.ndarray:
        return np.interp(frequency_hz, self.enr_frequency_hz, self.enr_db)

    def temperature_k(self, frequency_hz: np.ndarray, hot: bool) -> np.ndarray:
        """Noise temperature of the source: ``T0·ENR + T0`` on, its physical temperature off."""
        if not hot:
            return np.full(np.shape(frequency_hz), self.cold_temperature_k)
        return T0_K * (10.0 ** (self.enr_db_at(frequency_hz) / 10.0) + 1.0)

    def bypassed(self, gpio: dict[int, int]) -> bool:
        """Whether the test set routes the source straight to the analyzer path."""
        return (self.bypass_gpio_port is not None and self.bypass_thru_value is not None
                and gpio.get(self.bypass_gpio_port) == self.bypass_thru_value)


def noise_source_model(bench: VirtualBench) -> NoiseSourceModel | None:
    """The bench's noise source, or None if its config has none (built once per bench)."""
    cfg = bench.config.get("noise_source")
    if not cfg:
        return None
    cached = getattr(bench, "_noise_source_model", None)
    if cached is None or cached[0] is not cfg:
        cached = (cfg, NoiseSourceModel.from_config(cfg))
        bench._noise_source_model = cached  # type: ignore[attr-defined]
    return cached[1]


def _dut_output_temperature_k(network: Any, frequency_hz: np.ndarray,
                              source_k: np.ndarray, termination_k: float) -> np.ndarray:
    """Noise temperature delivered into a matched load by the DUT's noise path fed by a matched
    source at ``source_k``; a termination at ``termination_k`` when there is no noise path."""
    path = network.noise_path()
    if path is None:
        return np.full(frequency_hz.shape, termination_k)
    gain = np.asarray(network.available_gain(frequency_hz), dtype=float)
    te = T0_K * (np.asarray(network.noise_factor(frequency_hz), dtype=float) - 1.0)
    s = network.s_matrix(frequency_hz)
    out = path[1] - 1
    mismatch = 1.0 - np.abs(s[:, out, out]) ** 2
    return gain * mismatch * (source_k + te)


def noise_temperature_at_k(bench: VirtualBench, role: str, frequency_hz: np.ndarray
                           ) -> np.ndarray:
    """Noise temperature (K) of what arrives at the input of the instrument in ``role``."""
    f = np.atleast_1d(np.asarray(frequency_hz, dtype=float))
    with bench.lock:
        source = noise_source_model(bench)
        tc = source.cold_temperature_k if source is not None else DEFAULT_COLD_TEMPERATURE_K
        network = bench.network
        if source is not None and source.bypassed(bench.gpio):
            t_in = source.temperature_k(f, bench.noise_source_on)
        elif network is not None:
            t_src = (source.temperature_k(f, bench.noise_source_on) if source is not None
                     else np.full(f.shape, tc))
            t_in = _dut_output_temperature_k(network, f, t_src, tc)
        else:
            t_in = np.full(f.shape, tc)
        table = bench.paths.get(role)  # as `VirtualBench.path_loss_db`, vectorised
        loss_db = (np.zeros(f.shape) if table is None
                   else np.interp(f, table.frequency_hz, table.loss_db))
    loss = 10.0 ** (loss_db / 10.0)
    return t_in / loss + T0_K * (1.0 - 1.0 / loss)


def noise_psd_w_hz(bench: VirtualBench, role: str, frequency_hz: np.ndarray) -> np.ndarray:
    """The noise PSD (W/Hz) arriving at the analyzer input from the noise-source chain."""
    return BOLTZMANN_J_K * noise_temperature_at_k(bench, role, frequency_hz)


def excess_psd_w_hz(bench: VirtualBench | None, role: str, frequency_hz: np.ndarray
                    ) -> np.ndarray | None:
    """What an analyzer adds to its own noise density: the chain's PSD minus the k·T0 of the
    termination its DANL is specified with (may be slightly negative for a cold input). None
    when the bench models no noise chain (no noise source, no network DUT): the analyzer's own
    DANL already describes a terminated input."""
    if bench is None or (not bench.config.get("noise_source") and bench.network is None):
        return None
    return noise_psd_w_hz(bench, role, frequency_hz) - BOLTZMANN_J_K * T0_K
