"""RF networks of the controlled DUTs: a lumped SPnT switch circuit, amplifier two-ports and the
interconnection of S-matrices (the FEM is a switch, a PA and an LNA wired together).

The switch is solved as a circuit, so it is reciprocal and passive by construction (every
element is a resistance ≥ 0 or a reactance; rf reference §1.8/§3.4: I - SᴴS ≥ 0), with element
values chosen per frequency from datasheet-style laws (f in GHz):
- on arm: series resistance R(f) from IL(f) = IL0 + slope·f (after the mismatch loss), and a
  shunt capacitive susceptance at the throw B = 2|Γ|/Z0 from the return-loss law;
- off arm: series off-capacitance C_off(f) from the isolation law, x = ωC·Rp with
  |x/(1+jx)| = 10^(-ISO/20) (Rp = the throw's termination in parallel with the 50-ohm port);
  the throw is terminated by a high resistance (reflective: |Γ| = 10^(-loss/20), an open with
  loss) or a ~50-ohm resistor (absorptive);
- the common node carries the fixed inductive compensation of the (n - 1) off-arm capacitances
  of an on state (the part's internal matching); all off therefore leaves ANT nearly open.
Then every port gets half the through delay (a lossless line), so S21 has phase -2πf·τ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

Z0_OHM = 50.0


def db_to_mag(db: np.ndarray | float) -> np.ndarray:
    """Loss in dB (positive) to a voltage-wave magnitude."""
    return np.asarray(10.0 ** (-np.asarray(db, dtype=float) / 20.0))


@dataclass(frozen=True)
class SwitchLaw:
    """Datasheet laws of a switch: insertion loss, isolation and return loss against frequency."""

    insertion_loss_db: float = 0.3
    insertion_loss_slope_db_per_ghz: float = 0.08
    isolation_db: float = 40.0
    isolation_reference_hz: float = 1.0e9
    isolation_slope_db_per_ghz: float = -2.4
    return_loss_db: float = 25.0
    return_loss_slope_db_per_ghz: float = -1.2
    delay_s: float = 60e-12
    off_ports: str = "reflective"
    off_reflection_loss_db: float = 0.45
    off_return_loss_db: float = 15.0

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SwitchLaw:
        """The law's keys from a DUT config (others ignored); validated."""
        kwargs: dict[str, Any] = {}
        for fld in fields(cls):
            if fld.name in cfg:
                kwargs[fld.name] = str(cfg[fld.name]) if fld.name == "off_ports" else float(
                    cfg[fld.name])
        law = cls(**kwargs)
        if law.off_ports not in ("reflective", "absorptive"):
            raise ValueError(f"off_ports must be reflective or absorptive, not {law.off_ports!r}")
        if not 0.0 <= law.insertion_loss_db < law.isolation_db:
            raise ValueError("switch: need 0 <= insertion_loss_db < isolation_db")
        if law.return_loss_db <= 0.0 or law.off_reflection_loss_db <= 0.0:
            raise ValueError("switch: return_loss_db and off_reflection_loss_db must be > 0")
        return law

    def il_db(self, f_hz: np.ndarray) -> np.ndarray:
        return np.maximum(
            self.insertion_loss_db + self.insertion_loss_slope_db_per_ghz * f_hz / 1e9, 0.0)

    def isolation_at_db(self, f_hz: np.ndarray) -> np.ndarray:
        """Isolation law, never below IL + 6 dB (a switch stays a switch at high frequency)."""
        iso = self.isolation_db + self.isolation_slope_db_per_ghz * (
            f_hz - self.isolation_reference_hz) / 1e9
        return np.maximum(iso, self.il_db(f_hz) + 6.0)

    def return_loss_at_db(self, f_hz: np.ndarray) -> np.ndarray:
        return np.maximum(self.return_loss_db + self.return_loss_slope_db_per_ghz * f_hz / 1e9,
                          6.0)


def switch_s_matrix(law: SwitchLaw, throws: int, on_throw: int, f_hz: np.ndarray) -> np.ndarray:
    """(F, n+1, n+1) S-matrix of an SPnT switch, port 1 = common, port k+1 = throw k;
    `on_throw` 0 = all off."""
    f = np.maximum(np.asarray(f_hz, dtype=float), 1.0)
    gamma_on = db_to_mag(law.return_loss_at_db(f))
    b_on = 2.0 * gamma_on / Z0_OHM  # shunt susceptance giving |Γ| ≈ gamma_on
    il_resistive = law.il_db(f) + 10.0 * np.log10(1.0 - gamma_on**2)
    r_on = 2.0 * Z0_OHM * (10.0 ** (np.maximum(il_resistive, 0.0) / 20.0) - 1.0)
    off_db = law.off_reflection_loss_db if law.off_ports == "reflective" else law.off_return_loss_db
    g_off = db_to_mag(off_db)
    r_term = Z0_OHM * (1.0 + g_off) / (1.0 - g_off)
    r_p = r_term * Z0_OHM / (r_term + Z0_OHM)
    m = db_to_mag(law.isolation_at_db(f))
    b_off = m / np.sqrt(1.0 - m**2) / r_p  # ωC_off
    y_off_arm = 1.0 / (1.0 / (1j * b_off) + r_p)
    n = throws + 1
    y = np.zeros((f.size, n, n), dtype=complex)
    y[:, 0, 0] -= 1j * (throws - 1) * y_off_arm.imag  # fixed compensation at the common node
    for k in range(1, n):
        if k == on_throw:
            y_series, y_shunt = 1.0 / r_on, 1j * b_on
        else:
            y_series, y_shunt = 1j * b_off, np.full(f.size, 1.0 / r_term)
        y[:, 0, 0] += y_series
        y[:, k, k] += y_series + y_shunt
        y[:, 0, k] -= y_series
        y[:, k, 0] -= y_series
    eye = np.eye(n)
    s = np.linalg.solve(eye + Z0_OHM * y, eye - Z0_OHM * y)  # Y and its functions commute
    line = np.exp(-1j * np.pi * f * law.delay_s)  # half the through delay on every port
    return s * line[:, None, None] * line[:, None, None]


def two_port(s11: np.ndarray, s12: np.ndarray, s21: np.ndarray, s22: np.ndarray) -> np.ndarray:
    """Stack four (F,) arrays (or scalars) into (F, 2, 2)."""
    a, b, c, d = np.broadcast_arrays(s11, s12, s21, s22)
    return np.stack([np.stack([a, b], -1), np.stack([c, d], -1)], -2).astype(complex)


def amplifier_gain(f_hz: np.ndarray, gain_db: float, center_hz: float, bandwidth_hz: float,
                   delay_s: float) -> np.ndarray:
    """Complex S21: G0 times a 2nd-order Butterworth band-pass (1 at the centre) and a delay."""
    f = np.maximum(np.asarray(f_hz, dtype=float), 1.0)
    p = 1j * (f / center_hz - center_hz / f) * center_hz / bandwidth_hz
    shape = 1.0 / (p * p + np.sqrt(2.0) * p + 1.0)
    return 10.0 ** (gain_db / 20.0) * shape * np.exp(-2j * np.pi * f * delay_s)


Port = tuple[int, int]  # (block index, port index within the block, 0-based)


def interconnect(blocks: Sequence[np.ndarray], pairs: Sequence[tuple[Port, Port]],
                 external: Sequence[Port]) -> np.ndarray:
    """S-matrix of blocks wired together: each pair of ports is connected (a_i = b_j), the
    `external` ports, in that order, are the result's ports.

    With all ports split into external (e) and internal (i) and C the connection permutation:
    b_e = [S_ee + S_ei C (I - S_ii C)^-1 S_ie] a_e.
    """
    sizes = [b.shape[1] for b in blocks]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    total = int(sum(sizes))
    nf = blocks[0].shape[0]
    s = np.zeros((nf, total, total), dtype=complex)
    for off, blk in zip(offsets, blocks, strict=True):
        s[:, off:off + blk.shape[1], off:off + blk.shape[1]] = blk

    def index(port: Port) -> int:
        return int(offsets[port[0]]) + port[1]

    ext = [index(p) for p in external]
    internal = [index(p) for pair in pairs for p in pair]
    c = np.zeros((len(internal), len(internal)))
    for m in range(0, len(internal), 2):
        c[m, m + 1] = c[m + 1, m] = 1.0
    s_ee = s[:, ext][:, :, ext]
    s_ei = s[:, ext][:, :, internal]
    s_ie = s[:, internal][:, :, ext]
    s_ii = s[:, internal][:, :, internal]
    b_i = np.linalg.solve(np.eye(len(internal)) - s_ii @ c, s_ie)
    return s_ee + s_ei @ c @ b_i
