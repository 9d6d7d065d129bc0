"""Power-amplifier model: Rapp AM-AM, modified-Rapp AM-PM, optional linear memory ahead of the
nonlinearity (Wiener), harmonics, class-AB DC current; CW answers in closed form, modulated
envelopes sample by sample.

Reference: rf-measurements-and-scpi.md §3.1 (Rapp SSPA, modified Rapp AM-PM), §1.1 (P1dB, PAE).
Amplitudes are power waves r = sqrt(P/1 W), so the Rapp equations hold in any consistent unit:

    A(r) = G·r / (1 + (G·r/Vsat)^(2p))^(1/(2p)),     Vsat = sqrt(Psat) (the asymptote)
    Φ(r) = Φmax · u^q / (1 + u^q),   u = G·r/Vsat,  q = 2p     (phase *advance*, radians > 0)

Optionally a small-signal cubic term x·(1 − |x|²/P_IIP3) precedes the limiter (`cubic_iip3_dbm`):
IM3 then rises 3:1 at low drive with OIP3 = IIP3 + G, as a class-AB PA's does, and P1dB is found
numerically. Psat follows the drain supply, Psat(V) = Psat_nom + 20·log10(V/V_nom). Unpowered,
the amplifier is a -30 dB feed-through. Above `max_rf_input_dbm` it is damaged: gain -20 dB,
Psat -10 dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEEDTHROUGH_DB = -30.0
DAMAGE_GAIN_LOSS_DB = 20.0
DAMAGE_PSAT_LOSS_DB = 10.0


def dbm_to_w(p_dbm: float) -> float:
    return 10.0 ** ((p_dbm - 30.0) / 10.0)


def w_to_dbm(p_w: float) -> float:
    return 10.0 * math.log10(p_w) + 30.0 if p_w > 0 else -math.inf


@dataclass
class PowerAmplifier:
    """PA parameters (the `simulation.dut` block) and the analytic answers tests compare with."""

    center_frequency_hz: float = 3.55e9
    g0_db: float = 28.0  # YAML key `small_signal_gain_db` (the name of the method G(f) here)
    gain_rolloff_db_per_ghz2: float = 8.0
    psat_dbm: float = 33.0
    rapp_smoothness: float = 2.0
    am_pm_max_deg: float = 12.0
    nominal_supply_v: float = 5.0
    quiescent_current_a: float = 0.08
    drain_efficiency_at_psat: float = 0.55
    harmonics_dbc_at_psat: list[float] = field(default_factory=lambda: [-25.0, -35.0])
    #: linear memory ahead of the nonlinearity (Wiener model, reference §3.2): one echo of
    #: relative amplitude `memory_echo_ratio` delayed by `memory_echo_delay_s` at
    #: `memory_echo_phase_deg`; it tilts the in-band response, which makes the regrowth (ACLR)
    #: lower/upper asymmetric as a real PA's is. 0 disables memory.
    memory_echo_ratio: float = 0.0
    memory_echo_delay_s: float = 1.0e-9
    memory_echo_phase_deg: float = 90.0
    #: per-tone input IP3 of a small-signal cubic term ahead of the Rapp limiter (reference §3.1
    #: cubic polynomial, a3 = -a1/A_IIP3²): IM3 rising 3:1 at low drive as a class-AB PA's does
    #: (Rapp alone has no cubic term: its IM3 rises 5:1). None: pure Rapp.
    cubic_iip3_dbm: float | None = None
    max_rf_input_dbm: float = 12.0
    supply_channel: int = 1
    damaged: bool = False

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> PowerAmplifier:
        """Build from the YAML `dut` block; unknown keys (`model`) are ignored."""
        cfg = dict(cfg or {})
        if "small_signal_gain_db" in cfg:
            cfg["g0_db"] = cfg.pop("small_signal_gain_db")
        known: dict[str, Any] = {}
        for k, v in cfg.items():
            if k not in cls.__dataclass_fields__:
                continue
            # PyYAML (YAML 1.1) reads `3.55e9` as a string: coerce every number explicitly
            if k == "harmonics_dbc_at_psat":
                known[k] = [float(x) for x in v]
            elif k == "supply_channel":
                known[k] = int(v)
            elif k == "damaged":
                known[k] = bool(v)
            elif k == "cubic_iip3_dbm":
                known[k] = None if v is None else float(v)
            else:
                known[k] = float(v)
        return cls(**known)

    # ------------------------------------------------------------------ building blocks
    def small_signal_gain_db(self, f_hz: float) -> float:
        """G(f) = G0 - k·(f - fc)² with f in GHz (damage included)."""
        df = (f_hz - self.center_frequency_hz) / 1e9
        g = self.g0_db - self.gain_rolloff_db_per_ghz2 * df * df
        return g - (DAMAGE_GAIN_LOSS_DB if self.damaged else 0.0)

    def psat_at_dbm(self, supply_v: float | None = None) -> float:
        """Saturated output power (the Rapp asymptote) at a drain voltage."""
        v = self.nominal_supply_v if supply_v is None else supply_v
        if v <= 0:
            return -math.inf
        p = self.psat_dbm + 20.0 * math.log10(v / self.nominal_supply_v)
        return p - (DAMAGE_PSAT_LOSS_DB if self.damaged else 0.0)

    def is_powered(self, supply_v: float | None) -> bool:
        """Below 10 % of the nominal drain voltage the transistor does not amplify."""
        return supply_v is None or supply_v >= 0.1 * self.nominal_supply_v

    def cubic_factor(self, pin_w: np.ndarray) -> np.ndarray:
        """Amplitude factor of the cubic term at instantaneous input powers `pin_w` (W):
        1 - P/P_IIP3, held at its peak beyond P = P_IIP3/3 (the output amplitude stays at the
        polynomial's maximum there, so the characteristic never folds back); 1 without it."""
        p = np.asarray(pin_w, dtype=float)
        if self.cubic_iip3_dbm is None:
            return np.ones_like(p)
        u = p / dbm_to_w(self.cubic_iip3_dbm)
        return np.where(u <= 1.0 / 3.0, 1.0 - u,
                        (2.0 / 3.0) * np.sqrt(1.0 / (3.0 * np.maximum(u, 1e-300))))

    def _effective_input_dbm(self, pin_dbm: float) -> float:
        """The CW input power the Rapp limiter sees after the cubic term."""
        factor = float(self.cubic_factor(np.array(dbm_to_w(pin_dbm))))
        return pin_dbm + 20.0 * math.log10(factor)

    def _drive(self, pin_dbm: float, f_hz: float, supply_v: float | None) -> float:
        """Normalised drive u = G·r/Vsat (1 at the Rapp knee), after the cubic term."""
        pin_eff = self._effective_input_dbm(pin_dbm)
        return 10.0 ** ((pin_eff + self.small_signal_gain_db(f_hz) - self.psat_at_dbm(supply_v))
                        / 20.0)

    # ------------------------------------------------------------------ AM-AM / AM-PM
    def output_power_dbm(self, pin_dbm: float, f_hz: float, supply_v: float | None = None) -> float:
        """Fundamental output power for a CW input (None: nominal supply)."""
        if not self.is_powered(supply_v):
            return pin_dbm + FEEDTHROUGH_DB
        p = self.rapp_smoothness
        u = self._drive(pin_dbm, f_hz, supply_v)
        # 20·log10 of the compression factor (1 + u^2p)^(-1/2p)
        compression_db = (10.0 / p) * math.log10(1.0 + u ** (2 * p))
        return self._effective_input_dbm(pin_dbm) + self.small_signal_gain_db(f_hz) - compression_db

    def am_pm_rad(self, pin_dbm: float, f_hz: float, supply_v: float | None = None) -> float:
        """AM-PM phase advance (rad) vs small signal; tends to am_pm_max_deg in saturation."""
        if not self.is_powered(supply_v):
            return 0.0
        q = 2.0 * self.rapp_smoothness
        uq = self._drive(pin_dbm, f_hz, supply_v) ** q
        return math.radians(self.am_pm_max_deg) * uq / (1.0 + uq)

    def harmonics_dbc(self, pin_dbm: float, f_hz: float, supply_v: float | None = None
                      ) -> list[float]:
        """H2, H3... relative to the carrier: rise (n-1) dB/dB with drive, capped at saturation."""
        if not self.is_powered(supply_v):
            return []
        u_db = 20.0 * math.log10(max(self._drive(pin_dbm, f_hz, supply_v), 1e-30))
        return [sat + min(0.0, (n - 1) * u_db)
                for n, sat in enumerate(self.harmonics_dbc_at_psat, start=2)]

    # ------------------------------------------------------------------ modulated envelopes
    def memory_response(self, offset_hz: np.ndarray) -> np.ndarray:
        """Complex response of the linear memory at baseband offsets, unity at the carrier:
        H(f) = (1 + a·e^{jφ}·e^{-j2πfτ}) / (1 + a·e^{jφ})."""
        a = self.memory_echo_ratio * np.exp(1j * math.radians(self.memory_echo_phase_deg))
        return (1.0 + a * np.exp(-2j * np.pi * offset_hz * self.memory_echo_delay_s)) / (1.0 + a)

    def envelope_gain(self, r_in: np.ndarray, f_hz: float, supply_v: float | None = None
                      ) -> np.ndarray:
        """Complex gain y/x for input envelope samples of amplitude `r_in` = sqrt(P/1 W):
        the same Rapp AM-AM and AM-PM as the CW methods, applied sample by sample."""
        r = np.asarray(r_in, dtype=float)
        if not self.is_powered(supply_v):
            return np.full(r.shape, 10.0 ** (FEEDTHROUGH_DB / 20.0), dtype=complex)
        cubic = None if self.cubic_iip3_dbm is None else self.cubic_factor(r * r)
        if cubic is not None:
            r = r * cubic
        p = self.rapp_smoothness
        g = 10.0 ** (self.small_signal_gain_db(f_hz) / 20.0)
        u2 = (g * g / dbm_to_w(self.psat_at_dbm(supply_v))) * (r * r)  # u^2, u = G·r/Vsat
        uq = u2 * u2 if p == 2.0 else u2**p  # u^(2p)
        am = g / (np.sqrt(np.sqrt(1.0 + uq)) if p == 2.0 else (1.0 + uq) ** (1.0 / (2 * p)))
        pm = math.radians(self.am_pm_max_deg) * uq / (1.0 + uq)
        return (am if cubic is None else am * cubic) * np.exp(1j * pm)

    def mean_supply_current_a(self, pin_w: np.ndarray, f_hz: float,
                              supply_v: float | None = None) -> float:
        """Drain current averaged over a modulated envelope whose instantaneous input powers
        (W) are `pin_w`: the class-AB law of `supply_current_a` holds per instant, so the
        supply (whose regulation is far slower than the envelope) reads its mean."""
        v = self.nominal_supply_v if supply_v is None else supply_v
        if v <= 0:
            return 0.0
        i_sat = self.saturation_current_a()
        if self.is_powered(v):
            r_in = np.sqrt(np.asarray(pin_w, dtype=float))
            pout_w = (np.abs(self.envelope_gain(r_in, f_hz, v)) * r_in) ** 2
            ratio = float(np.mean(np.sqrt(pout_w / dbm_to_w(self.psat_dbm))))
        else:
            ratio = 0.0
        current = self.quiescent_current_a + (i_sat - self.quiescent_current_a) * ratio
        return current * min(1.0, v / (0.5 * self.nominal_supply_v))

    # ------------------------------------------------------------------ compression points
    def _x1db(self) -> float:
        p = self.rapp_smoothness
        return (10.0 ** (p / 10.0) - 1.0) ** (1.0 / (2.0 * p))

    def p1db_output_dbm(self, f_hz: float, supply_v: float | None = None) -> float:
        """Pure Rapp, closed form: 1 dB compression when (1+u^2p)^(1/2p) = 10^(1/20), i.e.
        u = x = (10^(p/10) - 1)^(1/2p), so OP1dB = Psat + 20·log10(x) - 1 dB (independent of G).
        With the cubic term: the input where the gain is G - 1 dB, by bisection (the gain falls
        monotonically with drive)."""
        if self.cubic_iip3_dbm is None:
            return self.psat_at_dbm(supply_v) + 20.0 * math.log10(self._x1db()) - 1.0
        g0 = self.small_signal_gain_db(f_hz)
        lo, hi = -60.0, self.cubic_iip3_dbm
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if g0 - (self.output_power_dbm(mid, f_hz, supply_v) - mid) < 1.0:
                lo = mid
            else:
                hi = mid
        return self.output_power_dbm(lo, f_hz, supply_v)

    def p1db_input_dbm(self, f_hz: float, supply_v: float | None = None) -> float:
        """IP1dB = OP1dB - (G(f) - 1)."""
        return self.p1db_output_dbm(f_hz, supply_v) - (self.small_signal_gain_db(f_hz) - 1.0)

    # ------------------------------------------------------------------ DC supply
    def saturation_current_a(self) -> float:
        """I_sat = Psat/(η·V_nom) at the nominal supply (class-AB drain current at Psat)."""
        return dbm_to_w(self.psat_dbm) / (self.drain_efficiency_at_psat * self.nominal_supply_v)

    def supply_current_a(self, pin_dbm: float | None, f_hz: float,
                         supply_v: float | None = None) -> float:
        """I = Iq + (I_sat - Iq)·|Vout|/Vout_sat (None input: RF off → Iq).

        Below half the nominal voltage the transistor leaves saturation and the drain current
        falls linearly to zero at 0 V, so the supply's CC operating point is unique.
        """
        v = self.nominal_supply_v if supply_v is None else supply_v
        if v <= 0:
            return 0.0
        i_sat = self.saturation_current_a()
        if pin_dbm is None or not self.is_powered(v):
            ratio = 0.0
        else:
            pout_w = dbm_to_w(self.output_power_dbm(pin_dbm, f_hz, v))
            ratio = math.sqrt(pout_w / dbm_to_w(self.psat_dbm))
        current = self.quiescent_current_a + (i_sat - self.quiescent_current_a) * ratio
        return current * min(1.0, v / (0.5 * self.nominal_supply_v))
