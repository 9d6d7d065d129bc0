"""The coupled virtual bench through plain pyvisa: generator → PA → power meter, DC supply."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvisa
import yaml

from simulators import SimulatedBench, VirtualBench, config_from_bench_file
from simulators.bench import PathTable

BENCH_FILE = Path(__file__).resolve().parents[1] / "benchbot" / "benches" / "simulated.yaml"
FC = 3.55e9


def bench_config(**overrides: Any) -> dict[str, Any]:
    config = config_from_bench_file(yaml.safe_load(BENCH_FILE.read_text(encoding="utf-8")))
    config.update(overrides)
    return config


class Bench:
    """The served bench plus one pyvisa resource per role."""

    def __init__(self, sim: SimulatedBench, rm: pyvisa.ResourceManager) -> None:
        self.sim = sim
        self.state: VirtualBench = sim.bench
        self.inst = {}
        for role, resource in sim.resources.items():
            r = rm.open_resource(resource, read_termination="\n", write_termination="\n")
            r.timeout = 3000
            self.inst[role] = r
        self.sg = self.inst["signal_generator"]
        self.pm = self.inst["power_meter"]
        self.ps = self.inst["dc_supply"]

    def errors(self, role: str) -> list[str]:
        out = []
        while True:
            e = self.inst[role].query("SYST:ERR?")
            if e.startswith("+0"):
                return out
            out.append(e)

    def bias(self, volts: float = 5.0, amps: float = 1.0) -> None:
        # writes are asynchronous: *OPC? makes the state visible to the other instruments
        assert self.ps.query(f"VOLT {volts},(@1);CURR {amps},(@1);OUTP ON,(@1);*OPC?") == "1"

    def drive(self, pin_dbm: float, f: float = FC) -> None:
        """Set the DUT input power (generator level = pin + input path loss), RF on."""
        level = pin_dbm + self.state.path_loss_db("signal_generator", f)
        self.sg.write(f":FREQ {f};:POW {level:.2f} DBM;:OUTP ON")
        assert self.sg.query("*OPC?") == "1"

    def close(self) -> None:
        for r in self.inst.values():
            r.close()


@pytest.fixture
def bench() -> Iterator[Bench]:
    rm = pyvisa.ResourceManager("@py")
    # the analyzer is another engineer's simulator; this suite needs only the three below
    # the meter's sensor is an N1921A (cal factors from its EEPROM): these tests read raw SCPI
    # without loading the bench's 8481A cal-factor table (tests/test_cal_factors.py does)
    config = bench_config(power_sensors={})
    config["instruments"] = {k: v for k, v in config["instruments"].items()
                             if k != "signal_analyzer"}
    with SimulatedBench(config) as sim:
        b = Bench(sim, rm)
        for r in (b.ps, b.sg, b.pm):
            assert r.query("*RST;*CLS;*OPC?") == "1"
        yield b
        b.close()


def expected_meter_dbm(state: VirtualBench, pin: float, f: float = FC) -> float:
    """Ground truth from the analytic model: fundamental + harmonics minus their path loss."""
    dut = state.dut
    v = state.drain_voltage_v()
    pout = dut.output_power_dbm(pin, f, v)
    total = 10 ** ((pout - state.path_loss_db("power_meter", f)) / 10)
    for n, dbc in enumerate(dut.harmonics_dbc(pin, f, v), start=2):
        total += 10 ** ((pout + dbc - state.path_loss_db("power_meter", n * f)) / 10)
    return 10 * math.log10(total)


# --------------------------------------------------------------------------- virtual bench
def test_path_table_interpolates_linearly_in_frequency() -> None:
    table = PathTable.from_config({"frequency_hz": ["3.0e9", "4.0e9"], "loss_db": [1.0, 2.0]})
    assert table.loss_at(3.25e9) == pytest.approx(1.25)
    assert table.loss_at(5e9) == pytest.approx(2.0)  # flat beyond the table


def test_rng_per_role_is_deterministic() -> None:
    a, b = VirtualBench({"seed": 7}), VirtualBench({"seed": 7})
    assert a.rng_for("power_meter").random() == b.rng_for("power_meter").random()
    assert a.rng_for("power_meter").random() != a.rng_for("dc_supply").random()


def test_tones_at_receivers_include_harmonics_loss_and_phase() -> None:
    state = VirtualBench(bench_config())
    state.supply.voltage_set[1], state.supply.outputs[1] = 5.0, True
    g = state.generator
    g.frequency_hz, g.rf_on = FC, True
    g.level_dbm = 0.0 + state.path_loss_db("signal_generator", FC)
    tones = state.tones_at("signal_analyzer")
    assert [t.frequency_hz for t in tones] == [FC, 2 * FC, 3 * FC]
    pout = state.dut.output_power_dbm(0.0, FC, 5.0)
    assert tones[0].power_dbm == pytest.approx(pout - state.path_loss_db("signal_analyzer", FC))
    h2 = pout + state.dut.harmonics_dbc(0.0, FC, 5.0)[0]
    assert tones[1].power_dbm == pytest.approx(h2 - state.path_loss_db("signal_analyzer", 2 * FC))
    phase = -2 * math.pi * FC * (5e-9 + 8e-9) + state.dut.am_pm_rad(0.0, FC, 5.0)
    assert math.remainder(tones[0].phase_rad - phase, 2 * math.pi) == pytest.approx(0, abs=1e-9)
    g.rf_on = False
    assert state.tones_at("power_meter") == []


def test_supply_off_means_feedthrough_only() -> None:
    state = VirtualBench(bench_config())
    g = state.generator
    g.frequency_hz, g.rf_on, g.level_dbm = FC, True, 0.0
    pin = state.dut_input_dbm()
    (tone,) = state.dut_output()
    assert tone.power_dbm == pytest.approx(pin - 30.0)


# --------------------------------------------------------------------------- coupled over VISA
def test_power_meter_reads_pa_output_minus_path_loss(bench: Bench) -> None:
    pm = bench.pm
    pm.write("SENS1:FREQ 3.55GHz;:CAL1:ZERO:AUTO ONCE")  # zero with no RF applied
    assert pm.query("*OPC?") == "1"
    bench.bias()
    pm.write("INIT1:CONT OFF;:SENS1:AVER:COUN 16;:UNIT1:POW DBM")
    for pin in (-20.0, -5.0, 3.8, 8.0):
        bench.drive(pin)
        reading = float(pm.query("READ1?"))
        assert reading == pytest.approx(expected_meter_dbm(bench.state, pin), abs=0.05)
    # near P1dB the gain referred to the DUT planes is G0 - 1 dB
    bench.drive(bench.state.dut.p1db_input_dbm(FC))
    out = float(pm.query("READ1?")) + bench.state.path_loss_db("power_meter", FC)
    assert out - bench.state.dut.p1db_input_dbm(FC) == pytest.approx(27.0, abs=0.06)
    assert bench.errors("power_meter") == []
    assert bench.errors("signal_generator") == []


def test_meter_offset_units_and_averaging_noise(bench: Bench) -> None:
    pm = bench.pm
    bench.bias()
    bench.drive(-10.0)
    pm.write("CAL1:AUTO ONCE")
    pm.query("*OPC?")
    pm.write("INIT1:CONT OFF;:SENS1:AVER:COUN 1")
    one = [float(pm.query("READ1?")) for _ in range(40)]
    pm.write("SENS1:AVER:COUN 64")
    t0 = time.monotonic()
    many = [float(pm.query("READ1?")) for _ in range(10)]
    elapsed = time.monotonic() - t0
    assert elapsed >= 10 * 0.05 * 64 * 0.02 * 0.9  # the reading takes its (scaled) time
    std_one = float(__import__("numpy").std(one))
    assert 0.005 < std_one < 0.05
    assert float(__import__("numpy").std(many)) < std_one
    base = sum(many) / len(many)
    pm.write("SENS1:CORR:GAIN2 36.55")
    assert float(pm.query("READ1?")) == pytest.approx(base + 36.55, abs=0.02)
    pm.write("SENS1:CORR:GAIN2:STAT OFF;:UNIT1:POW W")
    watts = float(pm.query("READ1?"))
    assert 10 * math.log10(watts) + 30 == pytest.approx(base, abs=0.02)


def test_meter_trigger_model_and_errors(bench: Bench) -> None:
    pm = bench.pm
    assert pm.query("INIT1:CONT?") == "1"
    pm.write("INIT1")  # already free-running
    pm.write("INIT1:CONT OFF")
    pm.write("FETC1?")  # no reading since the change: -230, no reply
    pm.write("FETC2?")  # no sensor on channel B
    assert bench.errors("power_meter") == [
        '-213,"Init ignored"', '-230,"Data corrupt or stale"',
        '-241,"Hardware missing;no sensor on channel"']
    pm.write("INIT1")
    assert float(pm.query("FETC1?")) < -45.0  # RF off, not zeroed: the zero offset
    assert pm.query("SERV:SENS1:TYPE?") == "N1921A"


def test_meter_over_range(bench: Bench) -> None:
    bench.state.paths["power_meter"] = PathTable.from_config(
        {"frequency_hz": [1e9, 6e9], "loss_db": [0.0, 0.0]})
    bench.bias()
    bench.drive(5.0)
    assert float(bench.pm.query("MEAS1?")) == pytest.approx(9.9e37)
    assert bench.errors("power_meter") == ['-231,"Data questionable;Over range"']


def test_supply_current_follows_drive(bench: Bench) -> None:
    bench.bias()
    assert bench.ps.query("STAT:QUES:INST:ISUM1:COND?") == "2"  # CV
    assert float(bench.ps.query("MEAS:CURR? (@1)")) == pytest.approx(0.08, abs=0.002)
    previous = 0.0
    for pin in (-20.0, -5.0, 0.0, 5.0, 8.0):
        bench.drive(pin)
        current = float(bench.ps.query("MEAS:CURR? (@1)"))
        assert current == pytest.approx(bench.state.dut.supply_current_a(pin, FC, 5.0), abs=0.001)
        assert current > previous
        previous = current
    assert float(bench.ps.query("MEAS:VOLT? (@1)")) == pytest.approx(5.0, abs=0.002)
    assert float(bench.ps.query("MEAS:CURR? (@2)")) == pytest.approx(0.0, abs=0.001)


def test_current_limit_puts_supply_in_cc_and_compresses_the_pa(bench: Bench) -> None:
    bench.bias(5.0, 1.0)
    bench.drive(8.0)
    free = float(bench.pm.query("FETC1?"))
    bench.ps.write("CURR 0.3,(@1)")
    assert bench.ps.query("STAT:QUES:INST:ISUM1:COND?") == "1"  # CC
    v = float(bench.ps.query("MEAS:VOLT? (@1)"))
    assert 0.5 < v < 4.5
    assert float(bench.ps.query("MEAS:CURR? (@1)")) == pytest.approx(0.3, abs=0.001)
    limited = float(bench.pm.query("FETC1?"))
    # Psat follows the sagged drain voltage
    expected = expected_meter_dbm(bench.state, 8.0)
    assert limited == pytest.approx(expected, abs=0.05)
    assert limited < free - 3.0
    assert bench.state.dut.psat_at_dbm(bench.state.drain_voltage_v()) == pytest.approx(
        bench.state.dut.psat_dbm + 20 * math.log10(bench.state.drain_voltage_v() / 5.0))


def test_supply_off_pa_feeds_through(bench: Bench) -> None:
    bench.drive(10.0)
    expected = 10.0 - 30.0 - bench.state.path_loss_db("power_meter", FC)
    assert bench.state.total_power_dbm("power_meter") == pytest.approx(expected)
    assert float(bench.pm.query("FETC1?")) < -45.0  # below the unzeroed sensor's floor
    assert float(bench.ps.query("MEAS:CURR? (@1)")) == 0.0


def test_damage_when_input_exceeds_max(bench: Bench) -> None:
    bench.bias()
    bench.drive(10.0)
    assert not bench.state.dut.damaged
    bench.drive(12.5)
    assert bench.state.dut.damaged
    assert any("DAMAGED" in e for e in bench.state.event_texts())
    assert any("RF ON" in e for e in bench.state.event_texts())


def test_no_damage_while_rf_off(bench: Bench) -> None:
    assert bench.sg.query(":POW 20 DBM;*OPC?") == "1"
    assert not bench.state.dut.damaged
    assert bench.sg.query(":OUTP ON;*OPC?") == "1"
    assert bench.state.dut.damaged


# --------------------------------------------------------------------------- instruments
def test_mxg_ranges_user_max_and_reset(bench: Bench) -> None:
    sg = bench.sg
    assert sg.query("OUTP?") == "0" and sg.query("OUTP:MOD?") == "1"
    assert float(sg.query("FREQ?")) == 6e9 and float(sg.query("POW?")) == -144.0
    sg.write("SOUR:FREQ:CW 3.3 GHz;:SOUR:POW:LEV:IMM:AMPL -7.5 dBm")
    assert float(sg.query("FREQ:FIX?")) == 3.3e9 and float(sg.query("POW?")) == -7.5
    sg.write("FREQ 7 GHz")
    sg.write("POW 30")
    assert bench.errors("signal_generator") == ['-222,"Data out of range"'] * 2
    sg.write("POW:USER:MAX 0;:POW:USER:ENAB ON")
    sg.write("POW 5")
    assert float(sg.query("POW?")) == -7.5  # refused, not applied
    assert bench.errors("signal_generator") == [
        '-221,"Settings conflict;power exceeds user max power"']
    sg.write("POW MAX")
    assert float(sg.query("POW?")) == 0.0
    assert float(sg.query("POW:USER:MAX?")) == 0.0 and sg.query("POW:USER:ENAB?") == "1"
    sg.write("OUTP ON;*RST")
    assert sg.query("OUTP?") == "0" and not bench.state.generator.rf_on


def test_e36312a_channels_selection_apply_and_limits(bench: Bench) -> None:
    ps = bench.ps
    ps.write("VOLT 7,(@1)")  # CH1 is 6 V
    ps.write("CURR 1.5,(@2)")  # CH2 is 1 A
    ps.write("VOLT 12,(@4)")  # no channel 4
    assert bench.errors("dc_supply") == ['-222,"Data out of range"', '-222,"Data out of range"',
                                         '-222,"Data out of range;channel"']
    ps.write("INST:NSEL 2;:VOLT 12;:CURR 0.5")
    assert ps.query("VOLT? (@2)") == "+1.20000000000E+01"
    assert ps.query("INST?") == "CH2"
    ps.write("INST CH3;:APPL CH1,4.5,0.8")
    assert float(ps.query("VOLT? (@1)")) == 4.5 and float(ps.query("CURR? (@1)")) == 0.8
    assert ps.query("APPL? CH1") == '"+4.50000000000E+00,+8.00000000000E-01"'
    ps.write("OUTP ON,(@1:2)")
    assert ps.query("OUTP? (@1,2,3)") == "1,1,0"  # also orders the write before the check
    assert bench.state.supply.outputs == {1: True, 2: True, 3: False}
    assert float(ps.query("MEAS:VOLT? (@2)")) == pytest.approx(12.0, abs=0.002)
    ps.write("*RST")
    assert ps.query("OUTP? (@1:3)") == "0,0,0"
    assert bench.errors("dc_supply") == []


def test_e36312a_protection(bench: Bench) -> None:
    ps = bench.ps
    bench.bias(5.0, 0.2)
    bench.drive(5.0)
    ps.write("CURR:PROT:STAT ON,(@1)")
    assert ps.query("OUTP? (@1)") == "0"  # CC with OCP enabled: tripped off
    assert ps.query("CURR:PROT:TRIP? (@1)") == "1"
    ps.write("OUTP ON,(@1)")
    assert bench.errors("dc_supply") == ['-221,"Settings conflict;output protection tripped"']
    ps.write("CURR:PROT:STAT OFF,(@1);:OUTP:PROT:CLE (@1);:CURR 1,(@1);:OUTP ON,(@1)")
    assert ps.query("OUTP? (@1)") == "1"
    ps.write("VOLT:PROT 4,(@1)")
    assert ps.query("VOLT:PROT:TRIP? (@1)") == "1" and ps.query("OUTP? (@1)") == "0"
