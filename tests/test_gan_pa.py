"""The simulated GaN HEMT as an RF power amplifier at its DC bias, over real sockets: a B2902A
biases it (gate ch1, drain ch2, in the safe order of reference §2.6), an N5182B drives it and
an N1912A measures its output, against `simulators.gan_pa.reference_rf`.

The device is 0.25 mm wide so its drain current under full drive (< 70 mA) stays inside the
B2902A's ±210 V / ±105 mA range, as on a real bench biasing at 28 V.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from benchbot.analysis.power_sweep import analyse_power_sweep
from instruments.keysight.b2900 import KeysightB2900
from instruments.keysight.n1912a import KeysightN1912A
from instruments.keysight.n5182b import KeysightN5182B
from instruments.registry import connect
from simulators import SimulatedBench
from simulators.gan_pa import reference_rf

GATE, DRAIN = 1, 2
F0 = 3.5e9
PINCH_OFF_V = -5.0
VDS_STEP_V = 4.0
GATE_LIMIT_A, DRAIN_LIMIT_A = 1e-3, 0.1
IN_LOSS = {"frequency_hz": [3.0e9, 4.0e9], "loss_db": [0.5, 0.7]}  # generator → DUT
OUT_LOSS = {"frequency_hz": [3.0e9, 4.0e9], "loss_db": [20.0, 20.4]}  # DUT → sensor (pad)
DUT: dict[str, Any] = {
    "model": "gan_hemt", "gate_width_mm": 0.25,
    "rf": {"center_frequency_hz": F0, "small_signal_gain_db": 17.0,
           "gain_rolloff_db_per_ghz2": 1.0, "psat_dbm": 30.0, "nominal_supply_v": 28.0,
           "nominal_gate_voltage_v": -1.8, "drain_efficiency_at_psat": 0.6,
           # low harmonics: the thermal sensor reads the total power, the reference the
           # fundamental (-18 dBc of H2 at saturation would add ≈ 0.07 dB)
           "harmonics_dbc_at_psat": [-40.0, -50.0], "max_rf_input_dbm": 18.0},
}


def loss(table: dict[str, list[float]], f_hz: float = F0) -> float:
    return float(np.interp(f_hz, table["frequency_hz"], table["loss_db"]))


def config(dut: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"seed": 11, "time_scale": 1e-3,
            "instruments": {"smu": "keysight_b2902a", "signal_generator": "keysight_n5182b",
                            "power_meter": "keysight_n1912a"},
            "dut": copy.deepcopy(DUT if dut is None else dut),
            "wiring": {"gate": {"role": "smu", "channel": GATE},
                       "drain": {"role": "smu", "channel": DRAIN}},
            "paths": {"signal_generator": IN_LOSS, "power_meter": OUT_LOSS}}


class Bench:
    """Started simulators and connected drivers; Pin/Pout at the DUT planes."""

    def __init__(self, sim: SimulatedBench) -> None:
        self.sim = sim
        self.smu: KeysightB2900 = connect("keysight.b2902a", sim.resources["smu"])  # type: ignore[assignment]
        self.gen: KeysightN5182B = connect("keysight.n5182b",  # type: ignore[assignment]
                                           sim.resources["signal_generator"])
        self.pm: KeysightN1912A = connect("keysight.n1912a",  # type: ignore[assignment]
                                          sim.resources["power_meter"])
        self.smu.reset()
        self.gen.reset()
        self.gen.set_frequency_hz(F0)
        self.gen.set_power_dbm(-20.0)
        self.pm.reset()
        self.pm.set_frequency_hz(F0)
        self.pm.zero()  # RF off
        self.pm.set_averaging(4)
        self.vds = 0.0

    def close(self) -> None:
        for driver in (self.smu, self.gen, self.pm):
            driver.close()

    # -- bias (reference §2.6 order) ------------------------------------------------------
    def bias(self, vgs_v: float, vds_v: float) -> None:
        """Gate pinched off and on, drain on at 0 V (first time), drain ramped to `vds_v`,
        then the gate up to `vgs_v`."""
        if not self.smu.output_is_on(GATE):
            self.smu.set_voltage_source(GATE, PINCH_OFF_V, GATE_LIMIT_A)
            self.smu.set_output(GATE, True)
        else:
            self.smu.set_voltage_source(GATE, PINCH_OFF_V, GATE_LIMIT_A)
        if not self.smu.output_is_on(DRAIN):
            self.smu.set_voltage_source(DRAIN, 0.0, DRAIN_LIMIT_A)
            self.smu.set_output(DRAIN, True)
        steps = max(1, math.ceil(abs(vds_v - self.vds) / VDS_STEP_V))
        for v in np.linspace(self.vds, vds_v, steps + 1)[1:]:
            self.smu.set_voltage_source(DRAIN, float(v), DRAIN_LIMIT_A)
        self.vds = vds_v
        self.smu.set_voltage_source(GATE, vgs_v, GATE_LIMIT_A)

    # -- RF -------------------------------------------------------------------------------
    def drive(self, pin_dbm: float) -> None:
        """RF on with `pin_dbm` at the DUT input."""
        self.gen.set_power_dbm(pin_dbm + loss(IN_LOSS))
        self.gen.set_rf_output(True)

    def pout_dbm(self) -> float:
        return self.pm.measure_power_dbm() + loss(OUT_LOSS)

    def gain_db(self, pin_dbm: float) -> float:
        self.drive(pin_dbm)
        return self.pout_dbm() - pin_dbm

    def drain_current_a(self) -> float:
        return self.smu.measure(DRAIN).current_a


@pytest.fixture
def bench() -> Iterator[Bench]:
    with SimulatedBench(config()) as sim:
        b = Bench(sim)
        try:
            yield b
        finally:
            b.close()


def test_gain_and_drain_current_at_the_bias_match_the_reference(bench: Bench) -> None:
    bench.bias(-1.8, 28.0)
    idq = bench.drain_current_a()  # RF off
    ref = reference_rf(DUT, -1.8, 28.0, 0.0)
    assert idq == pytest.approx(ref.quiescent_current_a, rel=2e-3)
    assert 0.05 * 0.25 < idq < 0.1 * 0.25  # class AB: 50-100 mA/mm
    assert ref.small_signal_gain_db == pytest.approx(17.0, abs=1e-6)  # nominal bias: G = G0
    gain = bench.gain_db(0.0)
    assert gain == pytest.approx(ref.gain_db, abs=0.05)
    assert bench.drain_current_a() == pytest.approx(ref.drain_current_a, rel=2e-3)
    assert not bench.sim.bench.hemt.damaged


def test_gain_rises_with_quiescent_current(bench: Bench) -> None:
    gains, currents = [], []
    for vgs in (-2.1, -1.8, -1.5):
        bench.gen.set_rf_output(False)
        bench.bias(vgs, 28.0)
        currents.append(bench.drain_current_a())
        gain = bench.gain_db(0.0)
        gains.append(gain)
        ref = reference_rf(DUT, vgs, 28.0, 0.0)
        assert gain == pytest.approx(ref.gain_db, abs=0.05), vgs
        assert currents[-1] == pytest.approx(ref.quiescent_current_a, rel=2e-3), vgs
    assert currents[0] < currents[1] < currents[2]
    assert gains[1] - gains[0] > 2.0 and gains[2] - gains[1] > 1.0  # G follows gm


def test_unbiased_device_gives_no_gain(bench: Bench) -> None:
    pin = 10.0
    assert bench.gain_db(pin) < -20.0  # nothing on: feed-through only
    bench.bias(PINCH_OFF_V, 28.0)  # drain at 28 V, channel pinched off
    assert bench.gain_db(pin) < -20.0
    assert reference_rf(DUT, PINCH_OFF_V, 28.0, pin).amplifying is False
    bench.gen.set_rf_output(False)
    bench.bias(-1.8, 2.0)  # channel open but Vds below the knee
    assert bench.gain_db(pin) < -20.0
    bench.gen.set_rf_output(False)
    bench.bias(-1.8, 28.0)  # the same device biased: it amplifies
    assert bench.gain_db(0.0) > 15.0


def test_drain_current_rises_with_drive(bench: Bench) -> None:
    bench.bias(-1.8, 28.0)
    idq = bench.drain_current_a()
    currents = []
    for pin in (-10.0, 0.0, 6.0, 10.0, 14.0):
        bench.drive(pin)
        currents.append(bench.drain_current_a())
        assert currents[-1] == pytest.approx(reference_rf(DUT, -1.8, 28.0, pin).drain_current_a,
                                             rel=2e-3), pin
    assert idq < currents[0] and all(np.diff(currents) > 0)
    assert currents[-1] > 2.0 * idq
    bench.gen.set_rf_output(False)
    assert bench.drain_current_a() == pytest.approx(idq, rel=2e-3)  # back to quiescent


def power_sweep(bench: Bench, pins: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Measured Pout, OP1dB and small-signal gain of a CW sweep at the present bias."""
    pout = []
    for pin in pins:
        bench.drive(float(pin))
        pout.append(bench.pout_dbm())
    bench.gen.set_rf_output(False)
    m = analyse_power_sweep(pins, np.array(pout), None, small_signal_max_input_dbm=-2.0)
    return np.array(pout), m.p1db_output_dbm, m.small_signal_gain_db


def test_p1db_rises_with_drain_voltage(bench: Bench) -> None:
    pins = np.concatenate([np.arange(-10.0, 2.0, 4.0), np.arange(2.0, 16.5, 1.0)])
    results = {}
    for vds in (28.0, 20.0):
        bench.bias(-1.8, vds)
        pout, op1, g0 = power_sweep(bench, pins)
        expected = [reference_rf(DUT, -1.8, vds, float(p)).output_power_dbm for p in pins]
        np.testing.assert_allclose(pout, expected, atol=0.04)  # PM noise ≈ 0.01 dB rms
        ref = reference_rf(DUT, -1.8, vds, None)
        # pure Rapp (p = 2): OP1dB = Psat(Vds) + 10·log10(sqrt(10^0.2 - 1)) - 1 dB
        psat = DUT["rf"]["psat_dbm"] + 20 * math.log10(vds / 28.0)
        assert ref.op1db_dbm == pytest.approx(
            psat + 10 * math.log10(math.sqrt(10**0.2 - 1)) - 1.0, abs=1e-9)
        # 1 dB steps: the linear interpolation of G(Pin) errs by a few hundredths of a dB
        assert op1 == pytest.approx(ref.op1db_dbm, abs=0.1), vds
        assert g0 == pytest.approx(ref.small_signal_gain_db, abs=0.05), vds
        results[vds] = op1
    # Psat ∝ Vds²: OP1dB moves by 20·log10(28/20) ≈ 2.9 dB
    assert results[28.0] - results[20.0] == pytest.approx(20 * math.log10(28 / 20), abs=0.2)


def test_overdrive_damages_the_device(bench: Bench) -> None:
    bench.bias(-1.8, 28.0)
    assert bench.gain_db(0.0) > 15.0
    bench.drive(18.5)  # above rf.max_rf_input_dbm = 18
    events = bench.sim.bench.event_texts()
    assert any(e.startswith("dut: DAMAGED: input 18.50 dBm > max 18.00 dBm") for e in events)
    hemt = bench.sim.bench.hemt
    assert hemt.damaged and hemt.damage_mode == "gate_short"
    assert bench.gain_db(0.0) < -20.0  # the gate lost control: no gain any more
    gate = bench.smu.measure(GATE)
    assert gate.in_compliance  # gate shorted to the source


def test_modulated_drive_at_the_bias(bench: Bench) -> None:
    rng = np.random.default_rng(3)
    iq = rng.standard_normal(512) + 1j * rng.standard_normal(512)
    iq /= np.max(np.abs(np.concatenate([iq.real, iq.imag])))
    bench.gen.load_arb_waveform("GANTEST", iq, 20e6)
    bench.gen.play_arb_waveform("GANTEST", 20e6)
    bench.bias(-1.8, 28.0)
    idq = bench.drain_current_a()
    ref = reference_rf(DUT, -1.8, 28.0, None)
    assert bench.gain_db(-5.0) == pytest.approx(ref.small_signal_gain_db, abs=0.1)  # backed off
    assert bench.drain_current_a() > idq
    assert bench.gain_db(12.0) < ref.small_signal_gain_db - 1.0  # peaks compress
    bench.gen.set_rf_output(False)
    bench.smu.set_voltage_source(GATE, PINCH_OFF_V, GATE_LIMIT_A)
    assert bench.gain_db(10.0) < -20.0


def test_without_rf_block_the_hemt_is_not_in_the_rf_chain() -> None:
    dut = {k: v for k, v in DUT.items() if k != "rf"}
    with SimulatedBench(config(dut)) as sim:
        b = Bench(sim)
        try:
            assert sim.bench.gan_pa is None
            b.bias(-1.8, 28.0)
            assert b.gain_db(0.0) == pytest.approx(0.0, abs=0.05)  # straight through
        finally:
            b.close()
