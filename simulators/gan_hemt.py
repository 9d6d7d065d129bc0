"""GaN-on-Si D-mode HEMT compact model: Angelov drain current with self-heating, Schottky gate
diodes with reverse leakage, soft off-state breakdown, trapping (current collapse, dynamic Ron)
and a damage model.

Reference: rf-measurements-and-scpi.md §2.1 (typical numbers), §2.3 (pulsed I-V, collapse),
§2.5 (Tj = Tbase + Rth·P), §2.7 (Angelov "Idsmod 0" form, gate diodes, thermal node).

Intrinsic channel (Vds_i ≥ 0; Vds < 0 by source/drain symmetry, I(Vgs, Vds) = -I(Vgd, -Vds)):

    Ich = Ipk(T, n)·(1 + tanh ψ)·tanh(α·Vds_i)·(1 + λ·Vds_i)
    ψ   = P1m·x + P2·x² + P3·x³,   x = Vgs_i - Vpkm
    α   = αr + αs·(1 + tanh ψ),   P1m = P1·(1 + B1/cosh²(B2·Vds_i))
    Vpkm = Vpks - ΔVpks + ΔVpks·tanh(αs·Vds_i)

External terminals through Rs, Rd: Vgs_i = Vgs - Id·Rs, Vds_i = Vds - Id·(Rs + Rd), solved for Id
by bisection (the residual is monotonic in Id). Temperature: Ipk·(1 + tc_ipk·ΔT), R·(1 + tc_r·ΔT);
in DC, T = Tbase + Rth·Vds·Id self-consistently (negative output conductance); in a pulse, the
caller fixes T (isothermal at the quiescent temperature). Trapping: an occupancy n ∈ [0, 1]
(equilibrium set by the off-state drain-gate stress, fast capture, slow emission) lowers Ipk by
k_cc·n (current collapse) and raises Rd by k_rd·n (dynamic Ron).

All parameters are per mm of gate width (A/mm, Ω·mm, K/W·mm) and scale with `gate_width_mm`.
Default set: a 1 mm, 0.25 µm GaN-on-Si HEMT [typ], isothermal at 25 °C and trap-free:
Vth(1 mA/mm) ≈ -2.8 V, Vth(gm-max extrapolation) ≈ -1.9 V, gm,max ≈ 0.36 S/mm at Vgs ≈ -0.86 V
(≈ 0.28 in DC), one gm peak rolling off to ≈ 60 % at Vgs = +1.5 V (P2 < 0 with P3),
Idss(Vds = 10 V) ≈ 0.67 A/mm (≈ 0.53 in DC: 5 W heat the channel by ≈ 105 K), Imax(Vgs = +2 V)
≈ 1.2 A/mm, Ron(Vgs = 0) ≈ 3.1 Ω·mm, Ig ≈ 1e-5 A/mm at Vgs = -10 V, gate turn-on (1 mA/mm)
≈ +1.2 V, BV(1 mA/mm) ≈ 148 V, Rth 20 K/W·mm, τth 1 ms; from Q = (-5 V, 28 V): ≈ 18 % collapse
at the knee (Vgs = 0, Vds = 5 V), Ron,dyn/Ron ≈ 1.38. (A tanh transfer curve with gm,max
≈ 0.3-0.37 S/mm and Vth ≈ -1.9 V cannot also give Idss = 0.8-1 A/mm at 0 V; Imax is in range.)
`reference_values()` gives the exact numbers of any parameter set.

Damage (absolute maximum ratings; latched in `damaged`/`damage_reason`, `damage_mode`):
Tj > `tj_max_c` (transient: Tj relaxes to Tbase + Rth·P with τ = `thermal_tau_s`) or Vds >
`vds_max_v` or an off-state breakdown current above `ibd_max_a_per_mm` → "drain_source_short"
(the channel is a `r_short_ohm_mm` resistor); forward gate current above `ig_forward_max_a_per_mm`
or Vgs < `vgs_min_v` → "gate_short" (gate shorted to source through `r_short_ohm_mm`, the
channel then conducts as at Vgs = 0: the gate has lost control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.special import expit, wrightomega

K_BOLTZMANN_OVER_Q = 8.617333262e-5  # V/K
ZERO_C_K = 273.15
_BISECTION_STEPS = 50


@dataclass(frozen=True)
class HemtReference:
    """The true figures of a parameter set (computed from the model, not fitted), at
    `vds_transfer_v` for Vth/gm/Idss and Vds → 0 for Ron; `self_heating` False = isothermal at
    the base temperature (what short pulses from (0 V, 0 V) measure), True = DC steady state."""

    vth_cc_v: float  # Vgs at Id = 1 mA/mm (constant-current criterion)
    vth_gm_v: float  # Vgs_gmmax - Id_gmmax/gm_max (max-gm linear extrapolation)
    gm_max_s: float
    vgs_at_gm_max_v: float
    idss_a: float  # Vgs = 0 V at vds_transfer_v
    ron_ohm: float  # dVds/dId at Vds → 0, Vgs = 0 V
    bv_v: float  # off-state breakdown: Id = 1 mA/mm at Vgs = Vth - 5 V
    vds_transfer_v: float
    gate_width_mm: float
    self_heating: bool

    @property
    def idss_a_per_mm(self) -> float:
        return self.idss_a / self.gate_width_mm

    @property
    def gm_max_s_per_mm(self) -> float:
        return self.gm_max_s / self.gate_width_mm

    @property
    def ron_ohm_mm(self) -> float:
        return self.ron_ohm * self.gate_width_mm


@dataclass
class GanHemt:
    """Parameters per mm of gate width plus the device's state (junction temperature, trap
    occupancy, damage)."""

    gate_width_mm: float = 1.0
    # --- Angelov drain current (§2.7)
    ipk_a_per_mm: float = 0.6
    vpks_v: float = -0.6
    delta_vpks_v: float = 0.0
    p1_per_v: float = 0.7
    p2_per_v2: float = -0.1  # with P3: one gm peak, rolling off to ~60 % at Vgs = +1.5 V
    p3_per_v3: float = 0.15
    b1: float = 0.0
    b2_per_v: float = 0.0
    alphar_per_v: float = 0.25
    alphas_per_v: float = 0.9
    lambda_per_v: float = 0.004
    rs_ohm_mm: float = 0.7
    rd_ohm_mm: float = 1.6
    # --- temperature (§2.5)
    t_base_c: float = 25.0
    t_nom_c: float = 25.0
    tc_ipk_per_k: float = -0.0018
    tc_r_per_k: float = 0.004
    rth_k_per_w_mm: float = 20.0
    thermal_tau_s: float = 1.0e-3
    # --- Schottky gate (two diodes: gate-source, gate-drain) and leakage
    gate_is_a_per_mm: float = 5.0e-15
    gate_ideality: float = 1.8
    gate_rseries_ohm_mm: float = 20.0
    gate_leak_a_per_mm_at_10v: float = 5.0e-6  # per diode: 1e-5 A/mm total at Vgs = -10, Vds = 0
    gate_leak_exponent: float = 1.3
    # --- off-state breakdown and buffer leakage
    bv_v: float = 150.0  # breakdown (drain-source + drain-gate) current reaches 1 mA/mm here
    bv_slope_v: float = 8.0
    bv_gate_fraction: float = 0.5  # share of the breakdown current leaving through the gate
    buffer_leak_s_per_mm: float = 1.0e-7
    # --- trapping (§2.3)
    k_collapse: float = 0.28
    k_rd: float = 0.8
    gate_lag_share: float = 0.1
    trap_voltage_v: float = 25.0
    trap_capture_s: float = 1.0e-6
    trap_emission_s: float = 1.0e-2
    # --- absolute maximum ratings → damage
    tj_max_c: float = 225.0
    vds_max_v: float = 190.0
    vgs_min_v: float = -30.0
    ig_forward_max_a_per_mm: float = 0.01
    ibd_max_a_per_mm: float = 0.01
    r_short_ohm_mm: float = 2.0
    # --- state
    damaged: bool = False
    damage_reason: str = ""
    damage_mode: str = ""
    tj_c: float = math.nan  # NaN: at the base temperature
    trap_occupancy: float = 0.0
    #: the DC bias now applied (Vgs, Vds, Ig, Id) and since when (time.monotonic()): kept by
    #: `simulators.hemt_bench`, which charges the time a point was held to `check_stress`
    bias_point: tuple[float, float, float, float] | None = None
    bias_since_s: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.tj_c):
            self.tj_c = self.t_base_c

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> GanHemt:
        """Build from the YAML `dut` block; unknown keys (`model`, `soa`...) are ignored and
        numbers are coerced (PyYAML reads `5e-15` as a string)."""
        known: dict[str, Any] = {}
        names = {f.name: f for f in fields(cls)}
        for key, value in (cfg or {}).items():
            if key not in names or key in ("bias_point", "bias_since_s"):
                continue
            if key == "damaged":
                known[key] = bool(value)
            elif key in ("damage_reason", "damage_mode"):
                known[key] = str(value)
            else:
                known[key] = float(value)
        return cls(**known)

    # ------------------------------------------------------------------ scaled quantities
    @property
    def rth_k_per_w(self) -> float:
        return self.rth_k_per_w_mm / self.gate_width_mm

    @property
    def v_thermal(self) -> float:
        return K_BOLTZMANN_OVER_Q * (self.t_base_c + ZERO_C_K)

    def trap_equilibrium(self, vgs_v: float, vds_v: float) -> float:
        """Occupancy the traps settle to at a bias: gate-lag share below pinch-off plus drain-lag
        growing with the off-state drain-gate voltage (electrons injected into surface states)."""
        vth_nominal = self.vpks_v - 1.0 / self.p1_per_v
        off_weight = float(expit(-(vgs_v - vth_nominal) / 0.5))
        vdg = max(vds_v - vgs_v, 0.0)
        drain_lag = 1.0 - math.exp(-vdg / self.trap_voltage_v)
        return off_weight * (self.gate_lag_share + (1.0 - self.gate_lag_share) * drain_lag)

    # ------------------------------------------------------------------ intrinsic channel
    def _channel(self, vgs_i: np.ndarray, vds_i: np.ndarray, t_c: np.ndarray,
                 occupancy: float) -> np.ndarray:
        """Angelov current for Vds_i ≥ 0 (A), at channel temperature `t_c`."""
        w = self.gate_width_mm
        ipk = (self.ipk_a_per_mm * w * (1.0 + self.tc_ipk_per_k * (t_c - self.t_nom_c))
               * (1.0 - self.k_collapse * occupancy))
        vpkm = (self.vpks_v - self.delta_vpks_v
                + self.delta_vpks_v * np.tanh(self.alphas_per_v * vds_i))
        p1m = self.p1_per_v * (1.0 + self.b1 / np.cosh(self.b2_per_v * vds_i) ** 2)
        x = vgs_i - vpkm
        psi = p1m * x + self.p2_per_v2 * x**2 + self.p3_per_v3 * x**3
        one_plus_tanh = 2.0 * expit(2.0 * psi)  # 1 + tanh ψ without overflow
        alpha = self.alphar_per_v + self.alphas_per_v * one_plus_tanh
        return (np.maximum(ipk, 0.0) * one_plus_tanh * np.tanh(alpha * vds_i)
                * (1.0 + self.lambda_per_v * vds_i))

    def _channel_signed(self, vgs_i: np.ndarray, vds_i: np.ndarray, t_c: np.ndarray,
                        occupancy: float) -> np.ndarray:
        """Channel current for either sign of Vds_i (source/drain symmetry)."""
        neg = vds_i < 0
        vg = np.where(neg, vgs_i - vds_i, vgs_i)
        return np.where(neg, -1.0, 1.0) * self._channel(vg, np.abs(vds_i), t_c, occupancy)

    def _resistances(self, t_c: np.ndarray, occupancy: float) -> tuple[np.ndarray, np.ndarray]:
        scale = (1.0 + self.tc_r_per_k * (t_c - self.t_nom_c)) / self.gate_width_mm
        return (self.rs_ohm_mm * scale,
                self.rd_ohm_mm * scale * (1.0 + self.k_rd * occupancy))

    def channel_current(self, vgs_v: Any, vds_v: Any, tj_c: float | None = None,
                        occupancy: float | None = None) -> np.ndarray:
        """Drain-source channel current (A) at the terminals, through Rs and Rd. `tj_c` None:
        DC steady state with self-heating (T = Tbase + Rth·Vds·Id); a number: isothermal."""
        vgs, vds = np.broadcast_arrays(np.asarray(vgs_v, float), np.asarray(vds_v, float))
        n = self.trap_occupancy if occupancy is None else occupancy
        if self.damaged and self.damage_mode == "drain_source_short":
            return vds / (self.r_short_ohm_mm / self.gate_width_mm)
        if self.damaged and self.damage_mode == "gate_short":
            vgs = np.zeros_like(vgs)  # the gate no longer controls the channel
        sign = np.where(vds < 0, -1.0, 1.0)
        vg_src = np.where(vds < 0, vgs - vds, vgs)  # gate to whichever end is the source
        v = np.abs(vds)

        def temperature(i_a: np.ndarray) -> np.ndarray:
            if tj_c is not None:
                return np.full_like(i_a, tj_c)
            return self.t_base_c + self.rth_k_per_w * v * i_a

        def residual(i_a: np.ndarray) -> np.ndarray:
            t = temperature(i_a)
            rs, rd = self._resistances(t, n)
            # with Vds < 0 the roles of Rs and Rd swap; the trap-raised Rd stays at the drain
            r_src = np.where(vds < 0, rd, rs)
            return self._channel_signed(vg_src - i_a * r_src, v - i_a * (rs + rd), t, n) - i_a

        lo = np.zeros_like(v)
        hi = self._channel(vg_src, v, np.full_like(v, self.t_base_c if tj_c is None else tj_c),
                           n) + 1e-15
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            positive = residual(mid) > 0
            lo = np.where(positive, mid, lo)
            hi = np.where(positive, hi, mid)
        return sign * 0.5 * (lo + hi)

    # ------------------------------------------------------------------ gate and leakage
    def _diode(self, v: np.ndarray) -> np.ndarray:
        """Schottky gate diode (A, anode = gate) with series resistance, solved in closed form
        by the Lambert W (Wright ω) function, plus power-law reverse leakage."""
        w = self.gate_width_mm
        i_s = self.gate_is_a_per_mm * w
        r = self.gate_rseries_ohm_mm / w
        nvt = self.gate_ideality * self.v_thermal
        z = math.log(i_s * r / nvt) + (v + i_s * r) / nvt
        forward = nvt / r * np.real(wrightomega(z)) - i_s
        reverse = (self.gate_leak_a_per_mm_at_10v * w
                   * (np.maximum(-v, 0.0) / 10.0) ** self.gate_leak_exponent)
        return forward - reverse

    def breakdown_current(self, vds_v: Any) -> np.ndarray:
        """Off-state drain leakage (A): buffer conduction plus the soft avalanche-like rise that
        reaches 1 mA/mm at `bv_v` (split between source and gate by `bv_gate_fraction`)."""
        vds = np.asarray(vds_v, float)
        w = self.gate_width_mm
        soft = 1e-3 * w * np.exp(np.minimum((np.abs(vds) - self.bv_v) / self.bv_slope_v, 50.0))
        return np.sign(vds) * soft + self.buffer_leak_s_per_mm * w * vds

    def currents(self, vgs_v: Any, vds_v: Any, tj_c: float | None = None,
                 occupancy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Terminal currents (Ig, Id) in A flowing into gate and drain (source grounded)."""
        vgs, vds = np.broadcast_arrays(np.asarray(vgs_v, float), np.asarray(vds_v, float))
        if self.damaged and self.damage_mode == "gate_short":
            i_gs = vgs / (self.r_short_ohm_mm / self.gate_width_mm)
        else:
            i_gs = self._diode(vgs)
        i_gd = self._diode(vgs - vds)
        ibd = self.breakdown_current(vds)
        ibd_soft = ibd - self.buffer_leak_s_per_mm * self.gate_width_mm * vds
        i_bd_gate = self.bv_gate_fraction * ibd_soft  # drain → gate
        ig = i_gs + i_gd - i_bd_gate
        i_d = self.channel_current(vgs, vds, tj_c, occupancy) + ibd - i_gd
        return ig, i_d

    # ------------------------------------------------------------------ state and damage
    def _damage(self, mode: str, reason: str) -> str:
        self.damaged, self.damage_mode, self.damage_reason = True, mode, reason
        return reason

    def check_stress(self, vgs_v: float, vds_v: float, ig_a: float, id_a: float,
                     duration_s: float) -> str | None:
        """Hold the bias for `duration_s`: advance the junction temperature and the traps, and
        mark the device damaged if an absolute maximum rating is exceeded. Returns the damage
        reason (new or earlier) or None."""
        if self.damaged:
            return self.damage_reason
        w = self.gate_width_mm
        duration_s = max(float(duration_s), 0.0)
        p_w = abs(vds_v * id_a) + abs(vgs_v * ig_a)
        t_ss = self.t_base_c + self.rth_k_per_w * p_w
        self.tj_c = t_ss + (self.tj_c - t_ss) * math.exp(-duration_s / self.thermal_tau_s)
        target = self.trap_equilibrium(vgs_v, vds_v)
        tau = self.trap_capture_s if target > self.trap_occupancy else self.trap_emission_s
        self.trap_occupancy = target + (self.trap_occupancy - target) * math.exp(
            -duration_s / tau)
        ibd = abs(float(self.breakdown_current(vds_v))) / w
        if vds_v > self.vds_max_v:
            return self._damage("drain_source_short",
                                f"Vds {vds_v:.1f} V > hard breakdown {self.vds_max_v:.1f} V")
        if ibd > self.ibd_max_a_per_mm and vgs_v < self.vpks_v:
            return self._damage("drain_source_short",
                                f"off-state breakdown current {ibd * 1e3:.2f} mA/mm > "
                                f"{self.ibd_max_a_per_mm * 1e3:.2f} mA/mm at Vds {vds_v:.1f} V")
        if ig_a / w > self.ig_forward_max_a_per_mm:
            return self._damage("gate_short",
                                f"forward gate current {ig_a / w * 1e3:.2f} mA/mm > "
                                f"{self.ig_forward_max_a_per_mm * 1e3:.2f} mA/mm")
        if vgs_v < self.vgs_min_v:
            return self._damage("gate_short",
                                f"Vgs {vgs_v:.1f} V < reverse gate rating {self.vgs_min_v:.1f} V")
        if self.tj_c > self.tj_max_c:
            return self._damage("drain_source_short",
                                f"Tj {self.tj_c:.0f} °C > {self.tj_max_c:.0f} °C "
                                f"(Pdiss {p_w:.2f} W for {duration_s:.3g} s)")
        return None

    def reset_state(self) -> None:
        """A fresh, cool, trap-free device (a new die on the chuck)."""
        self.damaged, self.damage_reason, self.damage_mode = False, "", ""
        self.tj_c, self.trap_occupancy = self.t_base_c, 0.0
        self.bias_point = None

    # ------------------------------------------------------------------ true figures
    def reference_values(self, vds_transfer_v: float = 10.0, self_heating: bool = False
                         ) -> HemtReference:
        """Vth (1 mA/mm and max-gm extrapolation), gm,max and Idss at `vds_transfer_v`, Ron at
        Vgs = 0, BV at Vgs = Vth - 5 V: computed numerically from this parameter set, trap-free,
        isothermal at `t_base_c` unless `self_heating` (then the DC steady state)."""
        tj = None if self_heating else self.t_base_c
        saved = (self.damaged, self.damage_mode)
        self.damaged, self.damage_mode = False, ""
        try:
            w = self.gate_width_mm
            vgs = np.linspace(-6.0, 2.0, 1601)
            i_d = self.channel_current(vgs, vds_transfer_v, tj, 0.0)
            gm = np.gradient(i_d, vgs)
            k = int(np.argmax(gm[vgs < 1.0]))
            vth_gm = float(vgs[k] - i_d[k] / gm[k])
            # constant current: bisection on the monotonic transfer curve
            lo, hi = -10.0, float(vgs[k])
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if float(self.channel_current(mid, vds_transfer_v, tj, 0.0)) < 1e-3 * w:
                    lo = mid
                else:
                    hi = mid
            vth_cc = 0.5 * (lo + hi)
            idss = float(self.channel_current(0.0, vds_transfer_v, tj, 0.0))
            dv = 1e-3
            i_pm = self.channel_current(0.0, np.array([-dv, dv]), tj, 0.0)
            ron = float(2 * dv / (i_pm[1] - i_pm[0]))
            vgs_off = vth_cc - 5.0
            lo, hi = 1.0, 400.0
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if float(self.currents(vgs_off, mid, tj, 0.0)[1]) < 1e-3 * w:
                    lo = mid
                else:
                    hi = mid
            return HemtReference(
                vth_cc_v=vth_cc, vth_gm_v=vth_gm, gm_max_s=float(gm[k]),
                vgs_at_gm_max_v=float(vgs[k]), idss_a=idss, ron_ohm=ron, bv_v=0.5 * (lo + hi),
                vds_transfer_v=vds_transfer_v, gate_width_mm=w, self_heating=self_heating)
        finally:
            self.damaged, self.damage_mode = saved
