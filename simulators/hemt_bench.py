"""Operating point of the GaN HEMT between the bench's SMU channels (the simulated wiring).

`bench.wiring` maps the device terminals `gate` and `drain` to (role, channel); the source is
grounded. Each SMU simulator writes its channels' `SmuChannelState` into `bench.smu` and reads
back what its channel sees through `solve(bench)` (DC) or `pulse(...)` (inside a pulse).

An SMU channel in "VOLT" mode forces its level while |I| ≤ limit; if the device would draw more,
the channel is in compliance: the voltage backs off (towards the device's zero-current side) until
|I| = limit, as a real SMU's constant-current crossover does. "CURR" mode forces the current until
|V| would exceed the voltage limit, where the voltage clamps. An output that is off is an open
relay: the terminal floats (the device sets its voltage, zero current) and the instrument reads
0 V, 0 A. Gate and drain are coupled (the gate-drain diode, breakdown current through the gate,
the gate controlling Id): solved by alternating 1-D searches (grid + bisection) until both
terminal voltages settle.

RF at the bias (`dut.rf`, `simulators.gan_pa`): while the generator drives the device and the
drain channel is on, the drain current includes the class-AB rise with drive and the channel
runs at the temperature of Pdc + Pin - Pout; the point charged to `check_stress` carries that
dissipation (its Id is the dissipation-equivalent current Pdiss/Vds). `rf_bias` gives the RF
chain the operating point without charging time. Inside a pulse (`pulse_all`) the device
is solved without the RF current (its quiescent point includes it).

Time: a DC point is charged to `GanHemt.check_stress` for as long as it was held (simulated
seconds = wall seconds / bench.time_scale), and a newly applied point for at least `MIN_DWELL_S`
(an SMU's settling + aperture), so a dangerous point is never free. Damage is logged as a bench
event "dut: DAMAGED: ...".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.bench import SmuChannelState
from simulators.gan_pa import RfDrive

#: a newly applied DC point lasts at least this long (settling + one aperture), s
MIN_DWELL_S = 1.0e-3
#: search range of a floating terminal and beyond a forced level, V
V_SEARCH_SPAN_V = 400.0
_GRID_POINTS = 65
_GRID_ROUNDS = 5
#: (points, rounds) of the nested fallback's grids: as fine in the end (400 V / 16⁸ ≈ 0.1 µV),
#: far fewer device evaluations (each drain trial solves the gate)
_NESTED_GRID = (17, 8)
_MAX_SWEEPS = 40

Key = tuple[str, int]
#: device terminal currents (into gate, into drain) at gate and drain voltages
Device = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TerminalReading:
    """What an SMU channel reads: its output voltage, the current it delivers (into the
    device) and whether it is clamped at its limit."""

    voltage_v: float
    current_a: float
    in_compliance: bool


def open_reading(state: SmuChannelState | None) -> TerminalReading:
    """A channel on an open circuit (nothing wired, or no device): a voltage source reads its
    level at 0 A; a current source drives its voltage to the limit (in compliance)."""
    if state is None or not state.output_on:
        return TerminalReading(0.0, 0.0, False)
    if state.mode == "VOLT":
        return TerminalReading(float(state.level), 0.0, False)
    if state.level == 0.0:
        return TerminalReading(0.0, 0.0, False)
    return TerminalReading(math.copysign(float(state.limit), state.level), 0.0, True)


def _at(device: Device, vg: float, vd: float) -> tuple[float, float]:
    """Scalar (Ig, Id) of the device at one gate and drain voltage."""
    ig, i_d = device(np.array([vg]), np.array([vd]))
    return float(np.ravel(ig)[0]), float(np.ravel(i_d)[0])


def _crossing(fn: Callable[[np.ndarray], np.ndarray], v_from: float, v_to: float,
              target: float, grid: tuple[int, int] = (_GRID_POINTS, _GRID_ROUNDS)
              ) -> float | None:
    """First V going from `v_from` to `v_to` where fn(V) crosses `target` (grid + refinement;
    robust to the non-monotonic I-V of a self-heated drain), or None."""
    a, b = v_from, v_to
    points, rounds = grid
    for _ in range(rounds):
        v = np.linspace(a, b, points)
        g = fn(v) - target
        if g[0] == 0.0:
            return float(v[0])
        changed = np.nonzero(np.sign(g) != np.sign(g[0]))[0]
        if changed.size == 0:
            return None
        k = int(changed[0])
        a, b = float(v[k - 1]), float(v[k])
    return 0.5 * (a + b)


def _solve_terminal(fn: Callable[[np.ndarray], np.ndarray], state: SmuChannelState | None,
                    grid: tuple[int, int] = (_GRID_POINTS, _GRID_ROUNDS)
                    ) -> tuple[float, TerminalReading]:
    """Voltage at one terminal given the other (device side) and what the channel reads."""
    if state is None or not state.output_on:  # open: the terminal floats at zero current
        v = _crossing(fn, -V_SEARCH_SPAN_V, V_SEARCH_SPAN_V, 0.0, grid)
        return (0.0 if v is None else v), TerminalReading(0.0, 0.0, False)
    limit = abs(float(state.limit))
    level = float(state.level)
    if state.mode == "VOLT":
        i = float(fn(np.array([level]))[0])
        if abs(i) <= limit:
            return level, TerminalReading(level, i, False)
        target = math.copysign(limit, i)
        far = level - math.copysign(V_SEARCH_SPAN_V, i)
        v = _crossing(fn, level, far, target, grid)
        v = far if v is None else v
        return v, TerminalReading(v, target, True)
    # "CURR": force the current, clamp the voltage at ±limit
    ends = fn(np.array([-limit, limit]))
    if ends[1] < level:
        return limit, TerminalReading(limit, float(ends[1]), True)
    if ends[0] > level:
        return -limit, TerminalReading(-limit, float(ends[0]), True)
    v = _crossing(fn, -limit, limit, level, grid)
    v = limit if v is None else v
    return v, TerminalReading(v, level, False)


def _gate_voltages(device: Device, gate: SmuChannelState | None, vd: np.ndarray
                   ) -> np.ndarray:
    """The gate terminal's voltage at each drain voltage in ``vd`` (what `_solve_terminal`
    gives the gate there), vectorised over ``vd`` for a voltage-sourcing gate: at its level
    while |Ig| ≤ limit, else the first voltage from the level (towards zero current) where
    |Ig| = limit, found as `_crossing` does on the `_NESTED_GRID`."""
    if gate is None or not gate.output_on or gate.mode != "VOLT":
        return np.array([_solve_terminal(lambda v, x=x: device(v, np.full_like(v, x))[0],
                                         gate, _NESTED_GRID)[0] for x in vd])
    level, limit = float(gate.level), abs(float(gate.limit))
    i0 = device(np.full_like(vd, level), vd)[0]
    out = np.full_like(vd, level)
    rows = np.nonzero(np.abs(i0) > limit)[0]
    if rows.size == 0:
        return out
    sign = np.sign(i0[rows])
    target = sign * limit
    a = np.full(rows.size, level)
    b = level - sign * V_SEARCH_SPAN_V
    found = np.zeros(rows.size, bool)
    points, rounds = _NESTED_GRID
    steps = np.linspace(0.0, 1.0, points)
    for _ in range(rounds):
        v = a[:, None] + (b - a)[:, None] * steps[None, :]
        g = device(v, np.broadcast_to(vd[rows][:, None], v.shape))[0] - target[:, None]
        changed = np.sign(g) != np.sign(g[:, :1])
        found = changed.any(axis=1)
        k = np.where(found, np.argmax(changed, axis=1), 1)
        idx = np.arange(rows.size)
        a, b = v[idx, k - 1], v[idx, k]
    out[rows] = np.where(found, 0.5 * (a + b), level - sign * V_SEARCH_SPAN_V)
    return out


def _nested_point(device: Device, gate: SmuChannelState | None,
                  drain: SmuChannelState | None
                  ) -> tuple[float, float, TerminalReading, TerminalReading]:
    """The operating point with the gate solved inside the drain's solve: the drain terminal
    sees Id(Vg*(Vd), Vd), Vg* the gate's own solution at that Vd. Slower than the alternating
    solve (a gate solve per drain trial) but it cannot oscillate: used when that one does not
    settle (e.g. off-state breakdown with the gate compliance below the breakdown current
    leaving through the gate: the gate rises, the channel opens, the drain backs off, the gate
    falls back...)."""
    def drain_current(v: np.ndarray) -> np.ndarray:
        vd = np.asarray(v, float).ravel()
        return device(_gate_voltages(device, gate, vd), vd)[1]

    vd, rd = _solve_terminal(drain_current, drain, _NESTED_GRID)
    vg, rg = _solve_terminal(lambda v: device(v, np.full_like(v, vd))[0], gate)
    return vg, vd, rg, rd


def operating_point(device: Device, gate: SmuChannelState | None,
                    drain: SmuChannelState | None
                    ) -> tuple[float, float, TerminalReading, TerminalReading]:
    """Gate and drain voltages (device side) and the two channels' readings, by alternating
    1-D solves (Gauss-Seidel) until both voltages change by less than 1 nV; if they never do
    (or return to where they were two sweeps before), by the nested solve
    (:func:`_nested_point`)."""
    def start(s: SmuChannelState | None) -> float:
        return float(s.level) if s is not None and s.output_on and s.mode == "VOLT" else 0.0

    vg, vd = start(gate), start(drain)
    rg = rd = TerminalReading(0.0, 0.0, False)
    settled = False
    before = (math.nan, math.nan)  # the sweep before last: a 2-cycle never settles
    for sweep in range(_MAX_SWEEPS):
        vg_new, rg = _solve_terminal(
            lambda v, vd=vd: device(v, np.full_like(v, vd))[0], gate)
        vd_new, rd = _solve_terminal(
            lambda v, vg=vg_new: device(np.full_like(v, vg), v)[1], drain)
        settled = abs(vg_new - vg) < 1e-9 and abs(vd_new - vd) < 1e-9
        cycling = not settled and (abs(vg_new - before[0]) < 1e-9
                                   and abs(vd_new - before[1]) < 1e-9)
        before, vg, vd = (vg, vd), vg_new, vd_new
        if (settled and sweep > 0) or cycling:
            break
    if not settled:
        vg, vd, rg, rd = _nested_point(device, gate, drain)
    ig, i_d = _at(device, vg, vd)
    # a free (not clamped) voltage source reads the current actually flowing
    if gate is not None and gate.output_on and gate.mode == "VOLT" and not rg.in_compliance:
        rg = TerminalReading(vg, ig, False)
    if drain is not None and drain.output_on and drain.mode == "VOLT" and not rd.in_compliance:
        rd = TerminalReading(vd, i_d, False)
    return vg, vd, rg, rd


def _simulated_elapsed_s(bench: Any, since_s: float) -> float:
    scale = float(getattr(bench, "time_scale", 1.0))
    wall = max(time.monotonic() - since_s, 0.0)
    return wall / scale if scale > 0 else 1.0e3


def _stress(bench: Any, hemt: Any, point: tuple[float, float, float, float],
            duration_s: float) -> bool:
    """Charge `duration_s` at `point` to the device; True if this made it fail."""
    was_damaged = hemt.damaged
    reason = hemt.check_stress(*point, duration_s)
    if reason is not None and not was_damaged:
        bench.log_event("dut", f"DAMAGED: {reason}")
        return True
    return False


def _charge_held_point(bench: Any, hemt: Any) -> None:
    if hemt.bias_point is not None:
        _stress(bench, hemt, hemt.bias_point, _simulated_elapsed_s(bench, hemt.bias_since_s))
    hemt.bias_since_s = time.monotonic()


def _apply_point(bench: Any, hemt: Any, point: tuple[float, float, float, float],
                 dwell_s: float | None = None) -> bool:
    """Make `point` the held DC bias, charged `dwell_s` (the simulated time a list-sweep point
    lasts) or, not given, MIN_DWELL_S if the point changed (an unknown dwell is never free)."""
    changed = hemt.bias_point is None or any(
        abs(a - b) > 1e-9 for a, b in zip(point, hemt.bias_point, strict=True))
    hemt.bias_point, hemt.bias_since_s = point, time.monotonic()
    duration = dwell_s if dwell_s is not None else (MIN_DWELL_S if changed else 0.0)
    return _stress(bench, hemt, point, duration) if duration > 0 else False


def _terminal_states(bench: Any, states: Mapping[Key, SmuChannelState]
                     ) -> tuple[Key | None, Key | None, SmuChannelState | None,
                                SmuChannelState | None]:
    gate_key = bench.wiring.get("gate")
    drain_key = bench.wiring.get("drain")
    return (gate_key, drain_key, states.get(gate_key) if gate_key else None,
            states.get(drain_key) if drain_key else None)


def rf_drive(bench: Any, drain: SmuChannelState | None) -> RfDrive | None:
    """The generator's drive at the transistor input while it amplifies RF (`bench.gan_pa`
    configured, generator on, drain channel on); None otherwise (no RF current)."""
    gan = getattr(bench, "gan_pa", None)
    if gan is None or drain is None or not drain.output_on:
        return None
    pin = bench.dut_input_dbm()
    if pin is None:
        return None
    wave = bench.generator_waveform()
    return RfDrive(pin, bench.generator.frequency_hz,
                   None if wave is None else wave.envelope_power_quantiles)


def _device_with_rf(bench: Any, drive: RfDrive | None) -> Callable[
        [np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(Ig, Id, Pout - Pin) of the device at the present drive (plain DC without one)."""
    hemt = bench.hemt
    if drive is None:
        def dc(g: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            ig, i_d = hemt.currents(g, d)
            return ig, i_d, np.zeros(np.shape(i_d))
        return dc
    gan = bench.gan_pa
    memo: dict[tuple[float, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def driven(g: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # the alternating solve re-evaluates the same forced point every sweep: remember it
        if np.size(g) != 1 or np.size(d) != 1:
            return gan.terminal_currents(g, d, drive)  # type: ignore[no-any-return]
        key = (float(np.ravel(g)[0]), float(np.ravel(d)[0]))
        if key not in memo:
            memo[key] = gan.terminal_currents(g, d, drive)
        ig, i_d, p_net = memo[key]
        return ig.reshape(np.shape(g)), i_d.reshape(np.shape(g)), p_net.reshape(np.shape(g))
    return driven


def _dc_readings(bench: Any, states: Mapping[Key, SmuChannelState]
                 ) -> tuple[dict[Key, TerminalReading], tuple[float, float, float, float]]:
    """Readings and the point to charge: (Vg, Vd, Ig, Id) with, under RF, Id replaced by the
    dissipation-equivalent current (Vd·Id - (Pout - Pin))/Vd so check_stress sees Pdiss."""
    readings = {key: open_reading(st) for key, st in states.items()}
    gate_key, drain_key, gs, ds = _terminal_states(bench, states)
    full = _device_with_rf(bench, rf_drive(bench, ds))
    vg, vd, rg, rd = operating_point(lambda g, d: full(g, d)[:2], gs, ds)
    ig_a, id_a, p_a = full(np.array([vg]), np.array([vd]))
    ig, i_d, p_net = float(ig_a[0]), float(id_a[0]), float(p_a[0])
    if p_net and vd > 0:
        i_d -= p_net / vd
    if gate_key in readings:
        readings[gate_key] = rg
    if drain_key in readings:
        readings[drain_key] = rd
    return readings, (vg, vd, ig, i_d)


def rf_bias(bench: Any) -> tuple[float, float, bool]:
    """(Vgs, Vds, drain on) now on the device for the RF chain, the drive's drain current
    included (a drain channel in compliance sags); no time is charged to the device. Cached
    while the SMU programme, the drive and the device state are unchanged."""
    with bench.lock:
        gate_key, drain_key, gs, ds = _terminal_states(bench, bench.smu)
        if ds is None or not ds.output_on or bench.hemt is None:
            return 0.0, 0.0, False
        drive = rf_drive(bench, ds)
        hemt = bench.hemt

        def programme(s: SmuChannelState | None) -> tuple[Any, ...] | None:
            return None if s is None else (s.mode, s.level, s.limit, s.output_on)

        key = (programme(gs), programme(ds),
               None if drive is None else (drive.pin_dbm, drive.frequency_hz,
                                           id(drive.envelope_power_quantiles)),
               hemt.damaged, hemt.damage_mode, hemt.trap_occupancy)
        gan = bench.gan_pa
        if gan.bias_cache is not None and gan.bias_cache[0] == key:
            return gan.bias_cache[1]  # type: ignore[no-any-return]
        full = _device_with_rf(bench, drive)
        vg, vd, _, _ = operating_point(lambda g, d: full(g, d)[:2], gs, ds)
        gan.bias_cache = (key, (vg, vd, True))
        return vg, vd, True


def solve(bench: Any, dwell_s: float | None = None) -> dict[Key, TerminalReading]:
    """DC readings of every SMU channel in `bench.smu` (steady state, self-heated), charging
    the device for the (wall-clock) time the previous point was held and for the new point:
    `dwell_s` is the simulated time this point lasts when an SMU simulator computes a list
    sweep in one go (trigger delay + aperture per point), default MIN_DWELL_S."""
    with bench.lock:
        hemt = bench.hemt
        if hemt is None:
            return {key: open_reading(st) for key, st in bench.smu.items()}
        _charge_held_point(bench, hemt)
        readings, point = _dc_readings(bench, bench.smu)
        if _apply_point(bench, hemt, point, dwell_s):  # it just failed: read the broken device
            readings, point = _dc_readings(bench, bench.smu)
            hemt.bias_point = point
        return readings


def _at_level(state: SmuChannelState, level_v: float) -> SmuChannelState:
    """A plain copy of ``state`` at another level (a subclass, e.g. a test's recorder, is not
    copied: the copy is the solver's scratch, not the channel)."""
    return SmuChannelState(state.mode, float(level_v), state.limit, state.output_on)


def pulse_all(bench: Any, role: str, channel: int, base_v: float, pulse_v: float,
              width_s: float, period_s: float,
              synchronous: Mapping[Key, tuple[float, float]] | None = None
              ) -> dict[Key, TerminalReading]:
    """Readings of every channel inside one pulse of (role, channel) from `base_v` to `pulse_v`
    (levels in the channel's source mode), other channels holding their DC levels except those
    in `synchronous` ((role, ch) → (base, pulse): a second channel pulsing in step, as a
    pulsed I-V system moves gate and drain together). The quiescent point Q (all bases) sets the
    traps and the temperature: T = T(Q) + Rth·(Ppulse - PQ)·min(1, duty + 1 - exp(-width/τth))
    (isothermal at Q's temperature for short, rare pulses; DC-like for long ones)."""
    pulsed = {(role, channel): (base_v, pulse_v), **dict(synchronous or {})}
    with bench.lock:
        q_states = dict(bench.smu)
        p_states = dict(bench.smu)
        for key, (base, top) in pulsed.items():
            st = bench.smu.get(key)
            if st is None:
                continue
            q_states[key] = _at_level(st, base)
            p_states[key] = _at_level(st, top)
        hemt = bench.hemt
        if hemt is None:
            return {key: open_reading(st) for key, st in p_states.items()}
        _charge_held_point(bench, hemt)
        _, q_point = _dc_readings(bench, q_states)
        _apply_point(bench, hemt, q_point)
        vgq, vdq, igq, idq = q_point
        rth = hemt.rth_k_per_w
        p_q = abs(vdq * idq) + abs(vgq * igq)
        t_q = hemt.t_base_c + rth * p_q
        occupancy = max(hemt.trap_occupancy, hemt.trap_equilibrium(vgq, vdq))
        duty = min(max(width_s / period_s, 0.0), 1.0) if period_s > 0 else 1.0
        heat_share = min(1.0, duty + 1.0 - math.exp(-width_s / hemt.thermal_tau_s))
        t_pulse = t_q
        gate_key, drain_key, gs, ds = _terminal_states(bench, p_states)
        for _ in range(2):  # temperature from the pulse's own power, one refinement
            def device(g: np.ndarray, d: np.ndarray, t: float = t_pulse
                       ) -> tuple[np.ndarray, np.ndarray]:
                return hemt.currents(g, d, tj_c=t, occupancy=occupancy)

            vg, vd, rg, rd = operating_point(device, gs, ds)
            ig, i_d = _at(device, vg, vd)
            p_p = abs(vd * i_d) + abs(vg * ig)
            t_pulse = t_q + rth * (p_p - p_q) * heat_share
        readings = {key: open_reading(st) for key, st in p_states.items()}
        if gate_key in readings:
            readings[gate_key] = rg
        if drain_key in readings:
            readings[drain_key] = rd
        _stress(bench, hemt, (vg, vd, ig, i_d), width_s)
        _stress(bench, hemt, q_point, max(period_s - width_s, 0.0))
        hemt.bias_point, hemt.bias_since_s = q_point, time.monotonic()
        return readings


def pulse(bench: Any, role: str, channel: int, base_v: float, pulse_v: float, width_s: float,
          period_s: float, synchronous: Mapping[Key, tuple[float, float]] | None = None
          ) -> TerminalReading:
    """The pulsed channel's own in-pulse reading (see `pulse_all`)."""
    return pulse_all(bench, role, channel, base_v, pulse_v, width_s, period_s,
                     synchronous).get((role, channel), TerminalReading(0.0, 0.0, False))
