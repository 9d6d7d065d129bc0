"""The GaN HEMT as an RF power amplifier at its DC bias (`dut: {model: gan_hemt, ..., rf: {...}}`).

The transistor's bias comes from the SMU channels (`simulators.hemt_bench`); the RF transfer at
that bias reuses the `PowerAmplifier` model (`simulators.pa_model`: Rapp AM-AM, AM-PM,
harmonics, class-AB drain current) with two bias-dependent inputs, computed from the HEMT model:

- small-signal gain follows the transconductance, G = G0 + 20·log10(gm(Vgs, Vds) / gm_nom)
  (for a fixed load and input match, the voltage gain of a common-source stage is gm·R_L, so
  the power gain in dB moves by 20·log10 of the gm ratio). gm is ∂Ich/∂Vgs at the terminals
  (through Rs), isothermal at the quiescent junction temperature and at the quiescent trap
  occupancy: at RF the channel is far faster than the thermal (τth ≈ 1 ms) and trap
  (µs..ms) time constants, so both are frozen at the DC operating point [rf reference §2.3, §2.5];
- Psat follows the drain voltage, Psat(Vds) = Psat_nom + 20·log10(Vds / Vds_nom)
  (`PowerAmplifier.psat_at_dbm`: load-line limited swing ∝ Vds at a fixed load).

No gain (the output is the input through `isolation_db` of feed-through, Cgd coupling) while the
drain supply is off, Vds is below `knee_voltage_v`, or the channel is pinched off (gm so small
that G would fall below -isolation). The drain current under drive is the HEMT's DC current at
the bias (Id_q, self-heated, trapped) plus the PA's RF-induced rise (class AB:
(I_sat - Iq_nom)·|Vout|/Vout_sat, with I_sat = Psat/(η·Vds_nom)), and the device dissipates
Pdc + Pin - Pout, which sets the channel temperature (and so Id_q) and the damage checks.
An RF input above `max_rf_input_dbm` destroys the gate (forward conduction and gate-drain
breakdown at the peaks of the swing): damage mode "gate_short" of `GanHemt`.

Config (`dut.rf`): every `PowerAmplifier` key (`center_frequency_hz`, `small_signal_gain_db` at the
nominal bias, `psat_dbm` at `nominal_supply_v` = the nominal Vds, `gain_rolloff_db_per_ghz2`,
`rapp_smoothness`, `am_pm_max_deg`, `harmonics_dbc_at_psat`, `cubic_iip3_dbm`, memory keys,
`drain_efficiency_at_psat`, `max_rf_input_dbm`) plus `nominal_gate_voltage_v` (the bias where
G = G0), `knee_voltage_v` and `isolation_db`. `quiescent_current_a` is not read: Iq_nom is the
HEMT's own DC current at the nominal bias. Defaults (`RF_DEFAULTS`): a 1 mm, 0.25 µm GaN HEMT at
28 V, 3.5 GHz [typ]: 5 W/mm (37 dBm), 17 dB, 60 % drain efficiency at Psat, class AB at
Vgs = -1.8 V (≈ 73 mA/mm with the default `GanHemt`).

`reference_rf(...)` gives the expected small-signal gain, OP1dB and drain current at a
(Vgs, Vds, Pin, f) for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from simulators.gan_hemt import GanHemt
from simulators.pa_model import PowerAmplifier, dbm_to_w

#: `dut.rf` defaults: a 1 mm GaN-on-Si HEMT at 28 V, 3.5 GHz [typ]
RF_DEFAULTS: dict[str, Any] = {
    "center_frequency_hz": 3.5e9,
    "small_signal_gain_db": 17.0,
    "gain_rolloff_db_per_ghz2": 1.0,
    "psat_dbm": 37.0,  # 5 W/mm at 28 V
    "nominal_supply_v": 28.0,
    "drain_efficiency_at_psat": 0.6,
    "rapp_smoothness": 2.0,
    "am_pm_max_deg": 8.0,
    "harmonics_dbc_at_psat": [-18.0, -28.0],
    "max_rf_input_dbm": 30.0,
}
#: Vgs of the nominal (G = G0) class-AB bias with the default GanHemt: ≈ 73 mA/mm at 28 V
DEFAULT_NOMINAL_GATE_V = -1.8
#: below this Vds the channel is in its linear region and does not amplify: Ron·Imax
#: ≈ 3.1 Ω·mm · 1.2 A/mm ≈ 3.7 V for the default device [typ]
DEFAULT_KNEE_V = 4.0
#: feed-through of an unbiased / pinched-off transistor (Cgd coupling), dB below the input
DEFAULT_ISOLATION_DB = 30.0
#: finite-difference step for gm, V
GM_STEP_V = 1e-3
#: fixed-point iterations of the channel temperature under RF dissipation
RF_HEAT_ITERATIONS = 8


@dataclass(frozen=True)
class RfDrive:
    """The RF input at the transistor: mean power, carrier and, for a modulated signal, the
    quantiles of its instantaneous-to-mean envelope power (None: CW)."""

    pin_dbm: float
    frequency_hz: float
    envelope_power_quantiles: np.ndarray | None = None

    @property
    def pin_w(self) -> np.ndarray:
        """Instantaneous input powers (W) the amplifier sees (one value for CW)."""
        q = self.envelope_power_quantiles
        return dbm_to_w(self.pin_dbm) * (np.ones(1) if q is None else np.asarray(q, float))


@dataclass(frozen=True)
class RfReference:
    """Expected RF figures of the HEMT at one bias and drive (see `reference_rf`)."""

    amplifying: bool
    transconductance_s: float
    nominal_transconductance_s: float
    small_signal_gain_db: float  # at f, small signal (-isolation when not amplifying)
    gain_db: float  # Pout - Pin at this drive
    output_power_dbm: float
    op1db_dbm: float  # output 1 dB compression point (nan when not amplifying)
    ip1db_dbm: float
    psat_dbm: float
    quiescent_current_a: float  # Id with the RF off
    drain_current_a: float  # Id at this drive (what the drain SMU reads)
    dissipated_w: float  # Pdc + Pin - Pout (gate power included)


def _scalar(x: Any) -> float:
    """The single value of a scalar or one-element array."""
    return float(np.ravel(np.asarray(x, float))[0])


def _pristine(hemt: GanHemt) -> GanHemt:
    """A fresh copy of the device (undamaged, cool, trap-free) with the same parameters."""
    fresh = replace(hemt, damaged=False, damage_reason="", damage_mode="", tj_c=math.nan,
                    trap_occupancy=0.0, bias_point=None)
    return fresh


@dataclass
class GanPowerAmplifier:
    """The RF side of a biased GaN HEMT: `template` holds the PA parameters at the nominal bias
    (G0 at `nominal_gate_voltage_v` and Vds = `template.nominal_supply_v`)."""

    hemt: GanHemt
    template: PowerAmplifier
    nominal_gate_voltage_v: float = DEFAULT_NOMINAL_GATE_V
    knee_voltage_v: float = DEFAULT_KNEE_V
    isolation_db: float = DEFAULT_ISOLATION_DB
    #: (gm, Id_q) at the nominal bias of the pristine device, set in __post_init__
    nominal_gm_s: float = field(init=False, default=math.nan)
    nominal_quiescent_a: float = field(init=False, default=math.nan)
    #: last operating point solved for the RF chain (`simulators.hemt_bench.rf_bias`)
    bias_cache: tuple[Any, Any] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.isolation_db < 20.0:
            raise ValueError(f"rf.isolation_db must be >= 20 dB, not {self.isolation_db}")
        fresh = _pristine(self.hemt)
        vg, vd = self.nominal_gate_voltage_v, self.nominal_drain_voltage_v
        occupancy = fresh.trap_equilibrium(vg, vd)
        self.nominal_gm_s = _scalar(transconductance_s(fresh, vg, vd, occupancy))
        self.nominal_quiescent_a = float(fresh.channel_current(vg, vd, None, occupancy))
        if not self.nominal_gm_s > 0:
            raise ValueError(f"rf.nominal_gate_voltage_v {vg} V pinches the channel off at "
                             f"{vd} V: no gain to scale from")

    @classmethod
    def from_config(cls, dut_cfg: dict[str, Any] | None, hemt: GanHemt
                    ) -> GanPowerAmplifier | None:
        """From the `dut` block (its `rf` sub-block over `RF_DEFAULTS`); None without `rf`."""
        rf = (dut_cfg or {}).get("rf")
        if rf is None:
            return None
        merged = {**RF_DEFAULTS, **dict(rf)}
        extra = {k: float(merged.pop(k)) for k in
                 ("nominal_gate_voltage_v", "knee_voltage_v", "isolation_db") if k in merged}
        merged.pop("quiescent_current_a", None)
        return cls(hemt, PowerAmplifier.from_config(merged), **extra)

    # ------------------------------------------------------------------ bias → amplifier
    @property
    def nominal_drain_voltage_v(self) -> float:
        return self.template.nominal_supply_v

    @property
    def max_rf_input_dbm(self) -> float:
        return self.template.max_rf_input_dbm

    def gain_offset_db(self, vgs_v: Any, vds_v: Any, occupancy: float | None = None
                       ) -> np.ndarray:
        """20·log10(gm(Vgs, Vds) / gm_nom) of the live device (-inf where gm ≤ 0)."""
        gm = transconductance_s(self.hemt, vgs_v, vds_v, occupancy)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gm > 0, 20.0 * np.log10(np.maximum(gm, 1e-300) / self.nominal_gm_s),
                            -np.inf)

    def amplifies(self, offset_db: float, vds_v: float, f_hz: float) -> bool:
        """Above the knee, with a gain above the feed-through (not pinched off)."""
        if not vds_v >= self.knee_voltage_v or not math.isfinite(offset_db):
            return False
        return self.template.small_signal_gain_db(f_hz) + offset_db > -self.isolation_db

    def amplifier(self, offset_db: float) -> PowerAmplifier:
        """The PA model at a bias whose gm moves the gain by `offset_db` (its supply voltage
        argument is then Vds)."""
        return replace(self.template, g0_db=self.template.g0_db + offset_db,
                       quiescent_current_a=self.nominal_quiescent_a, damaged=False)

    def amplifier_at(self, vgs_v: float, vds_v: float, f_hz: float,
                     occupancy: float | None = None, drain_on: bool = True
                     ) -> PowerAmplifier | None:
        """The amplifier at this bias, or None when the device only leaks the input through
        (`isolation_db`): drain off, Vds below the knee, channel pinched off, device broken."""
        if not drain_on:
            return None
        offset = _scalar(self.gain_offset_db(vgs_v, vds_v, occupancy))
        return self.amplifier(offset) if self.amplifies(offset, vds_v, f_hz) else None

    # ------------------------------------------------------------------ drain current
    def rf_response(self, vgs_v: Any, vds_v: Any, drive: RfDrive,
                    occupancy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ΔId, Pout - Pin) per bias point: the drain current the drive adds to Id_q (A; the
        class-AB rise of `PowerAmplifier.supply_current_a` / `mean_supply_current_a` minus its
        quiescent share) and the RF power the device converts from DC (W, fundamental)."""
        vgs, vds = np.broadcast_arrays(np.asarray(vgs_v, float), np.asarray(vds_v, float))
        offsets = np.broadcast_to(self.gain_offset_db(vgs, vds, occupancy), vgs.shape)
        f = drive.frequency_hz
        pin_w = drive.pin_w
        delta = np.zeros(vgs.shape)
        p_net = np.zeros(vgs.shape)
        for idx in np.ndindex(vgs.shape):
            v = float(vds[idx])
            offset = float(offsets[idx])
            if not self.amplifies(offset, v, f):
                continue
            amp = self.amplifier(offset)
            quiescent = amp.supply_current_a(None, f, v)
            if drive.envelope_power_quantiles is None:
                current = amp.supply_current_a(drive.pin_dbm, f, v)
                pout_w = dbm_to_w(amp.output_power_dbm(drive.pin_dbm, f, v))
            else:
                current = amp.mean_supply_current_a(pin_w, f, v)
                r_in = np.sqrt(pin_w)
                pout_w = float(np.mean((np.abs(amp.envelope_gain(r_in, f, v)) * r_in) ** 2))
            # a class-A bias above I_sat keeps its current (the rise never goes negative)
            delta[idx] = max(current - quiescent, 0.0)
            p_net[idx] = pout_w - float(np.mean(pin_w))
        return delta, p_net

    def terminal_currents(self, vgs_v: Any, vds_v: Any, drive: RfDrive | None,
                          occupancy: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Ig, Id, Pout - Pin) into the terminals at this drive (None: RF off). The channel
        runs at T = Tbase + Rth·(Vds·Id - (Pout - Pin)) (the RF power leaves the device),
        solved by fixed-point iteration from the DC self-heated point."""
        vgs, vds = np.broadcast_arrays(np.asarray(vgs_v, float), np.asarray(vds_v, float))
        ig, i_d = self.hemt.currents(vgs, vds, occupancy=occupancy)
        if drive is None:
            return ig, i_d, np.zeros(vgs.shape)
        delta, p_net = self.rf_response(vgs, vds, drive, occupancy)
        driven = (delta != 0.0) | (p_net != 0.0)
        if not np.any(driven):
            return ig, i_d, p_net
        h = self.hemt
        ich_dc = np.asarray(h.channel_current(vgs, vds, None, occupancy), float)
        ich = ich_dc
        for _ in range(RF_HEAT_ITERATIONS):
            p_diss = np.abs(vds) * (np.abs(ich) + delta) - p_net
            t_c = h.t_base_c + h.rth_k_per_w * np.maximum(p_diss, 0.0)
            ich = np.where(driven, h.channel_current(vgs, vds, t_c, occupancy), ich_dc)
        return ig, i_d - ich_dc + ich + delta, p_net


def transconductance_s(hemt: GanHemt, vgs_v: Any, vds_v: Any, occupancy: float | None = None
                       ) -> np.ndarray:
    """RF transconductance ∂Id/∂Vgs (S) at the terminals: isothermal at the quiescent DC
    junction temperature T = Tbase + Rth·Vds·Id_q, at the trap occupancy (None: the device's
    present one), by a central difference of `GanHemt.channel_current`."""
    vgs, vds = np.broadcast_arrays(np.asarray(vgs_v, float), np.asarray(vds_v, float))
    i_q = np.asarray(hemt.channel_current(vgs, vds, None, occupancy), float)
    t_q = hemt.t_base_c + hemt.rth_k_per_w * np.abs(vds * i_q)
    both = hemt.channel_current(np.stack([vgs + GM_STEP_V, vgs - GM_STEP_V]),
                                np.stack([vds, vds]), np.stack([t_q, t_q]), occupancy)
    return np.asarray((both[0] - both[1]) / (2.0 * GM_STEP_V), float)


def overdrive(hemt: GanHemt, pin_dbm: float, max_dbm: float) -> str:
    """Mark the device destroyed by an RF input above its rating; returns the reason."""
    reason = f"input {pin_dbm:.2f} dBm > max {max_dbm:.2f} dBm"
    hemt.damaged, hemt.damage_mode = True, "gate_short"
    hemt.damage_reason = f"RF {reason} (gate over-driven)"
    return reason


def reference_rf(dut: dict[str, Any] | GanPowerAmplifier, vgs_v: float, vds_v: float,
                 pin_dbm: float | None, f_hz: float | None = None,
                 occupancy: float | None = None) -> RfReference:
    """Expected figures of a fresh device (config `dut` block with `rf`, or a built model) at
    terminal voltages (Vgs, Vds) with the drain supply on and a CW input `pin_dbm` at the DUT
    plane (None: RF off) at `f_hz` (None: the centre frequency). `occupancy` None: the traps'
    equilibrium at this bias (what a held DC point settles to)."""
    if isinstance(dut, GanPowerAmplifier):
        model = replace(dut, hemt=_pristine(dut.hemt))
    else:
        built = GanPowerAmplifier.from_config(dut, GanHemt.from_config(dut))
        if built is None:
            raise ValueError("the dut block has no `rf` section")
        model = replace(built, hemt=_pristine(built.hemt))
    hemt = model.hemt
    f = model.template.center_frequency_hz if f_hz is None else float(f_hz)
    n = hemt.trap_equilibrium(vgs_v, vds_v) if occupancy is None else occupancy
    gm = _scalar(transconductance_s(hemt, vgs_v, vds_v, n))
    offset = _scalar(model.gain_offset_db(vgs_v, vds_v, n))
    _, i_q, _ = model.terminal_currents(vgs_v, vds_v, None, n)
    amplifying = model.amplifies(offset, vds_v, f)
    nan = math.nan
    if amplifying:
        amp = model.amplifier(offset)
        g_ss = amp.small_signal_gain_db(f)
        op1 = amp.p1db_output_dbm(f, vds_v)
        ip1 = amp.p1db_input_dbm(f, vds_v)
        psat = amp.psat_at_dbm(vds_v)
        pout = -math.inf if pin_dbm is None else amp.output_power_dbm(pin_dbm, f, vds_v)
    else:
        g_ss, op1, ip1, psat = -model.isolation_db, nan, nan, nan
        pout = -math.inf if pin_dbm is None else pin_dbm - model.isolation_db
    drive = None if pin_dbm is None else RfDrive(float(pin_dbm), f)
    ig, i_d, p_net = model.terminal_currents(vgs_v, vds_v, drive, n)
    ig_f, id_f, p_f = _scalar(ig), _scalar(i_d), _scalar(p_net)
    return RfReference(
        amplifying=amplifying, transconductance_s=gm,
        nominal_transconductance_s=model.nominal_gm_s, small_signal_gain_db=g_ss,
        gain_db=nan if pin_dbm is None else pout - pin_dbm, output_power_dbm=pout,
        op1db_dbm=op1, ip1db_dbm=ip1, psat_dbm=psat, quiescent_current_a=_scalar(i_q),
        drain_current_a=id_f, dissipated_w=abs(vds_v * id_f) + abs(vgs_v * ig_f) - p_f)
