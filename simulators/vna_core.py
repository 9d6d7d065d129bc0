"""VNA physics shared by the simulated network analyzers (Keysight PNA/ENA, R&S ZNB/ZNA).

`VnaFrontEnd.measure` returns what one (averaged) sweep reads at the test ports (reference §3.4):

- the true S-matrix: DUT port k on VNA port k (`bench.network`); a VNA port without a DUT port
  sees a matched load (-40 dB, no transmission); with no network DUT (e.g. the PA bench) every
  port sees an open at the end of its cable;
- receiver noise: complex Gaussian on each b-wave relative to the incident wave, so an
  S-parameter carries σ² = N_floor/P_incident, N_floor = floor(10 Hz) + 10·log10(IFBW/10 Hz);
- high-level trace noise: multiplicative jitter of `trace_noise_db` rms (at 1 kHz IFBW)
  × sqrt(IFBW/1 kHz) in magnitude (dB) and the same in phase (rad·20/ln10) [typ];
- averaging over `average_count` sweeps divides the noise power by the count;
- without correction: a 12-term-style error box per port (directivity -25 dB, source match
  -15 dB, load match -18 dB, tracking = test-port cable loss ∝ sqrt(f) and delay), solved for
  the DUT terminated by the VNA's own port matches; corrected data = true S + noise.

Bench config (`bench.config["vna"]`): `calibration: {cal_set, cal_type, ports: [1, 2]}` (absent
= no calibration installed), `receiver_noise_floor_dbm` (-125 at 10 Hz IFBW), `trace_noise_db`
(0.002).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

DEFAULT_NOISE_FLOOR_DBM = -125.0  # at 10 Hz IFBW [typ], reference §3.4
DEFAULT_TRACE_NOISE_DB = 0.002  # rms at 1 kHz IFBW, high level [typ]
#: per-point overhead (settling, band switching) and the retrace per sweep [typ]
POINT_OVERHEAD_S = 10e-6
RETRACE_S = 5e-3
#: raw (uncorrected) port error terms, reference §3.4
DIRECTIVITY_DB = -25.0
SOURCE_MATCH_DB = -15.0
LOAD_MATCH_DB = -18.0
#: test-port cable: loss at 1 GHz (∝ sqrt f, skin effect) and electrical length per port
CABLE_LOSS_DB_AT_1GHZ = 0.6
CABLE_DELAY_S = 2.5e-9
#: what a port without a DUT port sees: a 50-ohm load of 40 dB return loss
MATCHED_LOAD_DB = -40.0
#: an open cable end: offset delay of the connector's fringing field [typ]
OPEN_DELAY_S = 30e-12


@dataclass
class VnaSweep:
    """One channel's stimulus: linear sweep, IF bandwidth, port power, averaging (1 = off)."""

    start_hz: float
    stop_hz: float
    points: int
    if_bandwidth_hz: float
    power_dbm: float
    average_count: int = 1

    def frequency_hz(self) -> np.ndarray:
        if self.points == 1:
            return np.array([self.start_hz], dtype=float)
        return np.linspace(self.start_hz, self.stop_hz, self.points)


class VnaFrontEnd:
    """Test ports, receivers and source of one simulated VNA on the virtual bench."""

    def __init__(self, bench: VirtualBench, role: str, port_count: int,
                 frequency_range_hz: tuple[float, float]) -> None:
        self.bench = bench
        self.role = role
        self.port_count = int(port_count)
        self.frequency_range_hz = (float(frequency_range_hz[0]), float(frequency_range_hz[1]))
        cfg: dict[str, Any] = dict(bench.config.get("vna") or {})
        self.noise_floor_dbm = float(cfg.get("receiver_noise_floor_dbm",
                                             DEFAULT_NOISE_FLOOR_DBM))
        self.trace_noise_db = float(cfg.get("trace_noise_db", DEFAULT_TRACE_NOISE_DB))
        self._calibration: dict[str, Any] = dict(cfg.get("calibration") or {})
        #: source power at the test ports (dBm) as the simulator last reported it
        self.source_power_dbm: float | None = None
        # own stream, independent of the SCPI device's (bench.rng_for(role))
        self.rng = bench.rng_for(f"{role}/vna-receivers")

    # ------------------------------------------------------------------ state
    def installed_calibration(self) -> dict[str, Any]:
        """{"cal_set", "cal_type", "ports"} of the installed cal ("" and [] when none)."""
        cal = self._calibration
        return {"cal_set": str(cal.get("cal_set", "")), "cal_type": str(cal.get("cal_type", "")),
                "ports": [int(p) for p in cal.get("ports", [])]}

    def set_rf(self, on: bool, power_dbm: float | None = None) -> None:
        """Source power on/off at the test ports (at `power_dbm` if given, else the last known
        port power); the network DUT is told (hot switching, overdrive)."""
        with self.bench.lock:
            if power_dbm is not None:
                self.source_power_dbm = float(power_dbm)
            self.bench.vna_rf_on[self.role] = bool(on)
            network = self.bench.network
            if network is not None:
                network.on_vna_rf(bool(on), self.source_power_dbm)

    def set_source_power_dbm(self, power_dbm: float) -> None:
        """The port power changed: a DUT under a live source learns the new level."""
        with self.bench.lock:
            self.source_power_dbm = float(power_dbm)
            if self.rf_on():
                self.set_rf(True)

    def rf_on(self) -> bool:
        return bool(self.bench.vna_rf_on.get(self.role, False))

    def sweep_time_s(self, sweep: VnaSweep, source_ports: int) -> float:
        """One sweep: points × (1/IFBW + overhead) per source port, plus the retrace."""
        per_point = 1.0 / sweep.if_bandwidth_hz + POINT_OVERHEAD_S
        return sweep.points * per_point * max(1, source_ports) + RETRACE_S

    # ------------------------------------------------------------------ physics
    def true_s(self, frequency_hz: np.ndarray) -> np.ndarray:
        """(F, P, P) S-matrix seen at all P test ports (error-free, noise-free)."""
        f = np.asarray(frequency_hz, dtype=float)
        p = self.port_count
        s = np.zeros((f.size, p, p), dtype=complex)
        idx = np.arange(p)
        network = self.bench.network
        if network is None:
            s[:, idx, idx] = np.exp(-4j * np.pi * f * OPEN_DELAY_S)[:, None]
            return s
        dut = np.asarray(network.s_matrix(f), dtype=complex)
        n = min(dut.shape[1], p)
        s[:, :n, :n] = dut[:, :n, :n]  # DUT ports beyond the VNA's: terminated in 50 ohm
        load = 10.0 ** (MATCHED_LOAD_DB / 20.0)
        for k in range(n, p):
            s[:, k, k] = load * np.exp(-4j * np.pi * f * (20e-12 + 5e-12 * k) + 0.3j * k)
        return s

    def _port_terms(self, f: np.ndarray) -> dict[str, np.ndarray]:
        """Raw error terms per port (F, P): directivity, source/load match, one-way tracking."""
        p = np.arange(1, self.port_count + 1)[None, :]
        ff = f[:, None]

        def term(level_db: float, delay_s: float, phase: float) -> np.ndarray:
            # a small reflection whose phase turns with frequency, different on every port
            return 10.0 ** (level_db / 20.0) * np.exp(
                -2j * np.pi * ff * delay_s * (1.0 + 0.13 * p) + 1j * phase * p)

        loss_db = CABLE_LOSS_DB_AT_1GHZ * np.sqrt(ff / 1e9) * (1.0 + 0.05 * p)
        tracking = 10.0 ** (-loss_db / 20.0) * np.exp(
            -2j * np.pi * ff * CABLE_DELAY_S * (1.0 + 0.02 * p))
        return {"directivity": term(DIRECTIVITY_DB, 0.35e-9, 0.7),
                "source_match": term(SOURCE_MATCH_DB, 0.6e-9, 1.9),
                "load_match": term(LOAD_MATCH_DB, 0.55e-9, -1.1),
                "tracking": tracking}

    def _raw(self, s: np.ndarray, f: np.ndarray, ports: tuple[int, ...]) -> np.ndarray:
        """Uncorrected ratios b_i/a0_j: the DUT terminated by the raw port matches, seen
        through directivity and tracking (one-path error model per stimulus port)."""
        t = self._port_terms(f)
        nf, p = f.size, self.port_count
        eye = np.eye(p)[None]
        out = np.empty((nf, len(ports), len(ports)), dtype=complex)
        for col, j in enumerate(ports):
            gamma = t["load_match"].copy()
            gamma[:, j - 1] = t["source_match"][:, j - 1]
            # a = Γ·b + e_j·x  →  b = (I - S·Γ)^-1 · S[:, :, j] · x   (x = wave launched at j)
            b = np.linalg.solve(eye - s * gamma[:, None, :], s[:, :, j - 1][:, :, None])[..., 0]
            for row, i in enumerate(ports):
                ratio = t["tracking"][:, i - 1] * t["tracking"][:, j - 1] * b[:, i - 1]
                if i == j:
                    ratio = ratio + t["directivity"][:, j - 1]
                out[:, row, col] = ratio
        return out

    def measure(self, sweep: VnaSweep, ports: tuple[int, ...],
                corrected: bool | Collection[int]) -> np.ndarray:
        """(F, n, n) complex S(ports[i], ports[j]) of one averaged sweep.

        `corrected` is True/False for all elements, or the calibrated ports: S_ij is corrected
        when both i and j are among them. With the source off the receivers see noise only.
        Raises ValueError when the DUT has no data at the swept frequencies (Touchstone range).
        """
        bad = [k for k in ports if not 1 <= k <= self.port_count]
        if bad:
            raise ValueError(f"port(s) {bad} not on this {self.port_count}-port VNA")
        f = sweep.frequency_hz()
        with self.bench.lock:
            s_all = self.true_s(f)
            rf_on = self.rf_on()
        idx = np.asarray(ports) - 1
        true = s_all[:, idx[:, None], idx[None, :]]
        if isinstance(corrected, bool | np.bool_):
            mask = np.full((len(ports), len(ports)), bool(corrected))
        else:
            cal = set(int(k) for k in corrected)
            ok = np.array([k in cal for k in ports])
            mask = ok[:, None] & ok[None, :]
        data = true.copy()
        if not mask.all():
            raw = self._raw(s_all, f, tuple(ports))
            data = np.where(mask[None], true, raw)
        if not rf_on:
            data = np.zeros_like(data)
        return data + self._noise(data, sweep)

    def _noise(self, data: np.ndarray, sweep: VnaSweep) -> np.ndarray:
        """Receiver noise (additive, vs incident power) + high-level jitter (multiplicative)."""
        avg = max(1, int(sweep.average_count))
        floor_w = 10.0 ** ((self.noise_floor_dbm
                            + 10.0 * math.log10(sweep.if_bandwidth_hz / 10.0)) / 10.0)
        incident_w = 10.0 ** (sweep.power_dbm / 10.0)
        sigma_add = math.sqrt(floor_w / incident_w / avg)
        sigma_rel = (self.trace_noise_db * math.sqrt(sweep.if_bandwidth_hz / 1e3)
                     * math.log(10.0) / 20.0 / math.sqrt(avg))
        shape = data.shape
        rng = self.rng
        additive = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * (
            sigma_add / math.sqrt(2.0))
        jitter = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * sigma_rel
        return additive + data * jitter


#: display formats whose formatted data (FDATA) carries two numbers per point (Re, Im)
COMPLEX_FORMATS = frozenset({"SMIT", "POL"})


def formatted_trace(s: np.ndarray, frequency_hz: np.ndarray, fmt: str) -> np.ndarray:
    """Formatted data of one trace (what a VNA displays): (F,) values, or (F, 2) for Smith/polar.

    MLOG dB, MLIN, PHAS (deg, wrapped), UPH (deg, unwrapped), REAL, IMAG, SWR, GDEL (s,
    τ = -dφ/dω by central differences), SMIT/POL (Re, Im).
    """
    s = np.asarray(s, dtype=complex)
    if fmt == "MLOG":
        return 20.0 * np.log10(np.maximum(np.abs(s), 1e-30))
    if fmt == "MLIN":
        return np.abs(s)
    if fmt == "PHAS":
        return np.degrees(np.angle(s))
    if fmt == "UPH":
        return np.degrees(np.unwrap(np.angle(s)))
    if fmt == "REAL":
        return s.real.copy()
    if fmt == "IMAG":
        return s.imag.copy()
    if fmt == "SWR":
        g = np.minimum(np.abs(s), 1.0 - 1e-12)
        return (1.0 + g) / (1.0 - g)
    if fmt == "GDEL":
        if s.size < 2:
            return np.zeros(s.size)
        return -np.gradient(np.unwrap(np.angle(s)), 2.0 * np.pi * np.asarray(frequency_hz))
    if fmt in COMPLEX_FORMATS:
        return np.column_stack((s.real, s.imag))
    raise ValueError(f"unknown display format {fmt!r}")


def snp_columns(frequency_hz: np.ndarray, s: np.ndarray, pair: str = "RI") -> np.ndarray:
    """An S-matrix (F, n, n) as .sNp data in columns: (1 + 2n², F) rows — the frequencies, then
    each S_ij as two rows (RI: Re, Im; MA: |S|, deg; DB: dB, deg) in Touchstone order: a 2-port
    lists S11 S21 S12 S22, every other size row by row (Touchstone 1.1 §"Network data")."""
    n = s.shape[1]
    order = s.transpose(2, 1, 0) if n == 2 else s.transpose(1, 2, 0)
    flat = order.reshape(n * n, -1)
    if pair == "RI":
        a, b = flat.real, flat.imag
    else:
        mag = np.abs(flat)
        a = mag if pair == "MA" else 20.0 * np.log10(np.maximum(mag, 1e-30))
        b = np.degrees(np.angle(flat))
    out = np.empty((1 + 2 * n * n, flat.shape[1]))
    out[0] = frequency_hz
    out[1::2], out[2::2] = a, b
    return out
