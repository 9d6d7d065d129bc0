"""Shared pieces of the bias-kernel tests: a simulated HEMT bench, an SOA that fits the
simulated 1 mm device, and a recorder of every SMU channel change *on the simulator side*
(what the instrument did, not what the driver says), with the §2.6 ordering invariants."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from benchbot.plan_bias import BiasTerminals, TerminalChannel, TransistorSOA
from simulators.bench import SmuChannelState

GATE_KEY, DRAIN_KEY = ("smu", 1), ("smu", 2)
PINCH_OFF_V = -5.0

#: the simulated device: Rth 20 K/W, Tj max 225 °C, Vth(1 mA/mm) ≈ -2.6 V, Idss ≈ 0.5 A
SOA = TransistorSOA(
    min_gate_voltage_v=-8.0, max_gate_voltage_v=1.0, max_drain_voltage_v=40.0,
    max_drain_current_a=1.0, max_gate_current_a=5e-3, max_power_w=6.0,
    max_junction_temperature_c=175.0, thermal_resistance_k_per_w=20.0,
    base_temperature_c=25.0, thermal_time_constant_s=1e-3,
    pinch_off_gate_voltage_v=PINCH_OFF_V, max_pulse_width_s=1e-3, max_duty_cycle=0.01)


#: coarse steps keep the tests fast (each B2900 simulator change solves the device model)
RAMP_STEP_V = 2.0


def terminals(drain_limit_a: float = 0.5, **extra: Any) -> BiasTerminals:
    return BiasTerminals(gate=TerminalChannel(role="smu", channel=1),
                         drain=TerminalChannel(role="smu", channel=2),
                         gate_current_limit_a=1e-3, drain_current_limit_a=drain_limit_a,
                         settle_s=1e-3, ramp_step_v=RAMP_STEP_V, gate_step_v=1.5, **extra)


def hemt_config(model: str) -> dict[str, Any]:
    return {"seed": 5, "time_scale": 0.01, "instruments": {"smu": model},
            "dut": {"model": "gan_hemt", "gate_width_mm": 1.0},
            "wiring": {"gate": {"role": "smu", "channel": 1},
                       "drain": {"role": "smu", "channel": 2}}}


DRIVER = {"keysight_b2902a": "keysight.b2902a", "keithley_2636b": "keithley.2636b"}


class RecordingState(SmuChannelState):
    """A bench SMU channel state that appends every changed field to a shared history."""

    def __init__(self, key: tuple[str, int], history: list[tuple[tuple[str, int], str, Any]],
                 source: SmuChannelState) -> None:
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_history", history)
        super().__init__(**{f.name: getattr(source, f.name) for f in fields(source)})

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, name, object()) != value:
            self._history.append((self._key, name, value))  # type: ignore[attr-defined]
        object.__setattr__(self, name, value)


def record_smu_changes(bench: Any) -> list[tuple[tuple[str, int], str, Any]]:
    """Replace the bench's SMU channel states by recording ones; returns the history."""
    history: list[tuple[tuple[str, int], str, Any]] = []
    with bench.lock:
        for key, state in list(bench.smu.items()):
            bench.smu[key] = RecordingState(key, history, state)
    history.clear()  # the construction itself is not a change
    return history


@dataclass
class Snapshot:
    gate_on: bool
    gate_v: float
    drain_on: bool
    drain_v: float


def replay(history: list[tuple[tuple[str, int], str, Any]]) -> list[Snapshot]:
    """Gate/drain state after every recorded change (outputs start off at 0 V)."""
    s = Snapshot(False, 0.0, False, 0.0)
    out = []
    for key, name, value in history:
        prefix = "gate" if key == GATE_KEY else "drain" if key == DRAIN_KEY else None
        if prefix is None or name not in ("output_on", "level"):
            continue
        attr = f"{prefix}_on" if name == "output_on" else f"{prefix}_v"
        s = Snapshot(**{**s.__dict__, attr: value})
        out.append(s)
    return out


def assert_safe_history(history: list[tuple[tuple[str, int], str, Any]],
                        ramp_step_v: float = RAMP_STEP_V, expect_biased: bool = True,
                        pinch_off_v: float = PINCH_OFF_V) -> None:
    """§2.6 invariants over everything the simulated SMU did, and the safe end state."""
    snaps = replay(history)
    assert snaps, "the SMU never changed"
    prev = Snapshot(False, 0.0, False, 0.0)
    drain_went_on = False
    for s in snaps:
        # the drain is never on without the gate driven
        assert not s.drain_on or s.gate_on, f"drain on with the gate floating: {s}"
        if s.drain_on and not prev.drain_on:  # drain switched on: at 0 V, gate pinched off
            drain_went_on = True
            assert s.drain_v == 0.0 and s.gate_v <= pinch_off_v, s
        if s.drain_on and prev.drain_on:  # drain changes are ramped
            assert abs(s.drain_v - prev.drain_v) <= ramp_step_v + 1e-9, (prev, s)
        if prev.drain_on and not s.drain_on:  # drain off only once ramped to 0 V
            assert s.drain_v == 0.0, s
        if prev.gate_on and not s.gate_on:  # gate released only with the drain off, at 0 V
            assert not s.drain_on and s.gate_v == 0.0, s
        prev = s
    assert drain_went_on == expect_biased
    assert not prev.gate_on and not prev.drain_on, f"not safe at the end: {prev}"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes (a deadline, not a timing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())
