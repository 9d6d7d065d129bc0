"""DUT controllers over real sockets: the benchbot RFFE-1 adapter and the Keysight DAQ970A digital
I/O, through their drivers (pyvisa-py) and against the controlled DUT on the simulated bench.
The DUT's physical state is read from `sim.bench.network` — never from the controller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from instruments.benchbot_hw.rffe1 import BenchbotRffe1
from instruments.errors import InstrumentError, UnexpectedResponse
from instruments.interfaces import GpioController, RffeController
from instruments.keysight.daq970a import KeysightDAQ970A
from instruments.registry import connect
from simulators import SimulatedBench
from tests._visa import errors, raw_instrument

USID, PRODUCT_ID, MANUFACTURER_ID = 0x7, 0x9A, 0x1A5
F_HZ = np.array([1e9, 3.5e9, 6e9])


def rffe_switch() -> dict[str, Any]:
    return {"model": "switch", "throws": 4,
            "control": {"interface": "rffe", "usid": USID, "product_id": PRODUCT_ID,
                        "manufacturer_id": MANUFACTURER_ID,
                        "triggered_registers": {0x01: 2}}}


def bench_config(dut: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"seed": 4, "dut": dut,
            "instruments": {"rffe": "benchbot_rffe1", "gpio": "keysight_daq970a"}, **extra}


@pytest.fixture(scope="module")
def rffe_bench() -> Iterator[SimulatedBench]:
    with SimulatedBench(bench_config(rffe_switch())) as sim:
        yield sim


@pytest.fixture
def adapter(rffe_bench: SimulatedBench) -> Iterator[BenchbotRffe1]:
    drv = connect("benchbot.rffe1", rffe_bench.resources["rffe"], timeout_s=2.0)
    assert isinstance(drv, BenchbotRffe1) and isinstance(drv, RffeController)
    drv.reset()  # VIO off: the slave starts from its defaults
    try:
        yield drv  # type: ignore[misc]
    finally:
        drv.close()


def db(x: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.abs(x))


# ---------------------------------------------------------------------------- RFFE
def test_identity_registers_read_back(adapter: BenchbotRffe1) -> None:
    assert adapter.identity.manufacturer == "benchbot" and adapter.identity.model == "RFFE-1"
    adapter.set_vio(True, 1.8)
    assert adapter.vio_is_on()
    assert adapter.read_register(USID, 0x1D) == PRODUCT_ID
    assert adapter.read_register(USID, 0x1E) == MANUFACTURER_ID & 0xFF
    assert adapter.read_register(USID, 0x1F) == (MANUFACTURER_ID >> 8) << 4 | USID
    assert adapter.read_registers(USID, 0x1C, 4) == [
        0x00, PRODUCT_ID, MANUFACTURER_ID & 0xFF, (MANUFACTURER_ID >> 8) << 4 | USID]


def test_switch_s_matrix_follows_the_register_written(
    adapter: BenchbotRffe1, rffe_bench: SimulatedBench,
) -> None:
    adapter.set_vio(True)
    net = rffe_bench.bench.network
    for throw in (1, 2, 3, 4, 0):
        adapter.write_register(USID, 0x00, throw)
        s = net.s_matrix(F_HZ)
        through = -db(s[:, 1:, 0])  # ANT -> RF1..RF4, dB of loss
        for k in range(1, 5):
            if k == throw:
                assert np.all(through[:, k - 1] < 1.0)
            else:
                assert np.all(through[:, k - 1] > 20.0)
        assert net.state_name == ("all_off" if throw == 0 else f"RF{throw}")
        assert adapter.read_register(USID, 0x00) == throw


def test_vio_off_resets_the_slave_and_refuses_bus_traffic(
    adapter: BenchbotRffe1, rffe_bench: SimulatedBench,
) -> None:
    adapter.set_vio(True)
    adapter.write_register(USID, 0x00, 3)
    assert rffe_bench.bench.network.state_name == "RF3"
    adapter.make_safe()  # VIO off
    assert not adapter.vio_is_on() and rffe_bench.bench.network.state_name == "all_off"
    with pytest.raises(InstrumentError) as err:
        adapter.write_register(USID, 0x00, 2)
    assert err.value.code == -221 and "VIO" in err.value.message
    assert rffe_bench.bench.network.state_name == "all_off"
    adapter.set_vio(True)
    assert adapter.read_register(USID, 0x00) == 0  # back at its default, the write never landed


def test_a_read_nobody_answers_is_a_clear_bus_error(adapter: BenchbotRffe1) -> None:
    adapter.set_vio(True)
    with pytest.raises(InstrumentError) as err:
        adapter.read_register(0x9, 0x1D)  # no slave at USID 9
    assert err.value.code == 201 and "parity" in err.value.message
    assert "RFFE:READ? 9,29" in err.value.command
    assert adapter.read_register(USID, 0x1D) == PRODUCT_ID  # the session is still in step


def test_triggered_register_through_the_adapter(
    adapter: BenchbotRffe1, rffe_bench: SimulatedBench,
) -> None:
    adapter.set_vio(True)
    slave = rffe_bench.bench.network.slave
    adapter.write_register(USID, 0x01, 0x55)  # register 0x01 waits for TRIGGER_2
    assert slave.register(0x01) == 0x00
    adapter.trigger(USID, 2)
    assert slave.register(0x01) == 0x55
    assert adapter.read_register(USID, 0x1C) == 0x00  # PWR_MODE and masks kept, triggers read 0


def test_extended_write_and_driver_side_validation(adapter: BenchbotRffe1) -> None:
    adapter.set_vio(True)
    adapter.write_registers(USID, 0x20, [1, 2, 3])
    assert adapter.read_registers(USID, 0x20, 3) == [1, 2, 3]
    for bad in ((16, 0x00, 1), (USID, 0x100, 1), (USID, 0x00, 256), (USID, 0x00, True)):
        with pytest.raises(ValueError):
            adapter.write_register(*bad)
    with pytest.raises(ValueError):
        adapter.read_register(0, 0x1D)  # broadcast cannot be read
    with pytest.raises(ValueError):
        adapter.set_vio(True, 3.3)


def test_raw_dialect_accepts_non_decimal_data(rffe_bench: SimulatedBench) -> None:
    with raw_instrument(rffe_bench.resources["rffe"]) as inst:
        inst.write("*RST;*CLS")
        inst.write("VIO:LEV 1.8;:VIO ON")
        inst.write("RFFE:WRIT #H7,#H00,#B10")
        assert inst.query("RFFE:READ? 7,0") == "2"
        assert inst.query("RFFE:EXT:READ? 7,#H1D,2") == f"{PRODUCT_ID},{MANUFACTURER_ID & 0xFF}"
        inst.write("RFFE:WRIT 7,0,256")
        inst.write("RFFE:ZERO:WRIT 7,128")
        inst.write("VIO:LEV 5")
        assert errors(inst) == [-222, -222, -222]
        assert inst.query("RFFE:READ? 3,0") == "9.91E+37"
        assert errors(inst) == [201]
        assert inst.query("*RST;*OPC?") == "1"
    assert rffe_bench.bench.network.state_name == "all_off"


# ---------------------------------------------------------------------------- GPIO
@pytest.fixture(scope="module")
def gpio_bench() -> Iterator[SimulatedBench]:
    dut = {"model": "switch", "throws": 6, "control": {"interface": "gpio", "port": 2}}
    with SimulatedBench(bench_config(dut)) as sim:
        yield sim


@pytest.fixture
def daq(gpio_bench: SimulatedBench) -> Iterator[KeysightDAQ970A]:
    drv = connect("keysight.daq970a", gpio_bench.resources["gpio"], timeout_s=2.0, slot=3)
    assert isinstance(drv, KeysightDAQ970A) and isinstance(drv, GpioController)
    try:
        yield drv  # type: ignore[misc]
    finally:
        drv.close()


def test_gpio_port_drives_the_dut_pins_and_reads_back(
    daq: KeysightDAQ970A, gpio_bench: SimulatedBench,
) -> None:
    assert daq.module == "DAQM907A"
    net = gpio_bench.bench.network
    for port, value in ((2, 5), (1, 0xA5), (2, 3)):
        daq.write_port(port, value)
        assert daq.read_port(port) == value
        assert gpio_bench.bench.gpio[port] == value
    assert net.state_name == "RF3"  # port 1 is not the switch's control port
    s = net.s_matrix(F_HZ)
    assert np.all(-db(s[:, 3, 0]) < 1.0) and np.all(-db(s[:, 1, 0]) > 20.0)
    with pytest.raises(ValueError):
        daq.write_port(3, 1)
    with pytest.raises(ValueError):
        daq.write_port(1, 256)


def test_gpio_raw_scpi_forms_and_errors(gpio_bench: SimulatedBench) -> None:
    with raw_instrument(gpio_bench.resources["gpio"]) as inst:
        inst.write("SOUR:DIG:DATA #H04,(@302)")
        assert inst.query("SENS:DIG:DATA:BYTE? (@302)") == "4"
        assert inst.query("DIG:DATA:BYTE? (@301,302)") == f"{gpio_bench.bench.gpio.get(1, 0)},4"
        inst.write("SOUR:DIG:DATA:WORD 513,(@301)")  # s01 = LSB, s02 = MSB
        assert inst.query("*OPC?") == "1"  # the write has been handled
        assert gpio_bench.bench.gpio[1] == 1 and gpio_bench.bench.gpio[2] == 2
        assert gpio_bench.bench.network.state_name == "RF2"
        inst.write("SOUR:DIG:DATA:BYTE 1,(@303)")  # the totalizer is not a DIO port
        inst.write("SOUR:DIG:DATA:BYTE 1,(@101)")  # empty slot
        inst.write("SOUR:DIG:DATA:BYTE 300,(@301)")
        assert errors(inst) == [-222, -241, -222]
        assert inst.query("SYST:CTYP? 3").split(",")[1] == "DAQM907A"
        assert inst.query("SYST:CTYP? 1") == "0,0,0,0"


def test_gpio_driver_refuses_a_slot_without_dio(gpio_bench: SimulatedBench) -> None:
    with pytest.raises(UnexpectedResponse, match="DAQM907A"):
        connect("keysight.daq970a", gpio_bench.resources["gpio"], timeout_s=2.0, slot=1)
