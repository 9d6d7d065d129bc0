"""Controlled network DUTs as pure models: MIPI RFFE register behaviour, state decode, switch
physics (passivity, reciprocity, datasheet laws), FEM paths, switching-order and hot-switch
counters. No sockets here (tests/test_controllers.py drives them through the controllers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simulators.controlled_duts import (
    FrontEndModule,
    SpntSwitch,
    controlled_dut_from_config,
)
from simulators.rffe_slave import RffeSlave

F_HZ = np.linspace(10e6, 20e9, 401)
USID, PRODUCT_ID, MANUFACTURER_ID = 0x7, 0x9A, 0x1A5


def rffe(**extra: Any) -> dict[str, Any]:
    return {"interface": "rffe", "usid": USID, "product_id": PRODUCT_ID,
            "manufacturer_id": MANUFACTURER_ID, **extra}


def switch(throws: int = 4, **cfg: Any) -> SpntSwitch:
    dut = controlled_dut_from_config({"model": "switch", "throws": throws,
                                      "control": cfg.pop("control", rffe()), **cfg})
    assert isinstance(dut, SpntSwitch)
    return dut


def fem(**cfg: Any) -> FrontEndModule:
    dut = controlled_dut_from_config({"model": "fem", "control": cfg.pop("control", rffe()),
                                      **cfg})
    assert isinstance(dut, FrontEndModule)
    return dut


def db(x: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.abs(x))


def assert_passive(s: np.ndarray) -> None:
    """I - SᴴS positive semidefinite at every frequency (rf reference §3.4)."""
    gram = np.eye(s.shape[1]) - np.conj(np.transpose(s, (0, 2, 1))) @ s
    assert np.linalg.eigvalsh(gram).min() > -1e-12


# ---------------------------------------------------------------------------- RFFE slave
def test_vio_off_holds_the_slave_in_reset() -> None:
    dut = switch()
    assert dut.rffe_read(USID, 0x1D) is None  # nobody answers
    dut.rffe_write(USID, 0x00, 2)
    assert dut.counters["ignored_write"] == 1 and dut.state_name == "all_off"
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 2)
    assert dut.rffe_read(USID, 0x00) == 2 and dut.state_name == "RF2"
    dut.set_vio(False)
    dut.set_vio(True)
    assert dut.rffe_read(USID, 0x00) == 0 and dut.state_name == "all_off"  # defaults again


def test_identity_registers_and_usid_programming() -> None:
    dut = switch()
    dut.set_vio(True)
    assert dut.rffe_read(USID, 0x1D) == PRODUCT_ID
    assert dut.rffe_read(USID, 0x1E) == MANUFACTURER_ID & 0xFF
    assert dut.rffe_read(USID, 0x1F) == (MANUFACTURER_ID >> 8) << 4 | USID
    dut.rffe_write(USID, 0x1D, 0x00)  # read only
    assert dut.rffe_read(USID, 0x1D) == PRODUCT_ID
    dut.rffe_write(USID, 0x1F, 0x3)  # new USID 3 (manufacturer bits stay)
    assert dut.rffe_read(USID, 0x1D) is None
    assert dut.rffe_read(0x3, 0x1F) == (MANUFACTURER_ID >> 8) << 4 | 0x3
    assert dut.rffe_read(0, 0x1D) is None  # broadcast cannot be read
    dut.rffe_write(0, 0x00, 1)  # ...but broadcast writes land
    assert dut.state_name == "RF1"


def test_vio_outside_the_part_range_keeps_it_in_reset() -> None:
    dut = switch()
    dut.set_vio(True, 1.2)  # a 1.8 V part
    assert dut.rffe_read(USID, 0x1D) is None
    dut.set_vio(True, 1.8)
    assert dut.rffe_read(USID, 0x1D) == PRODUCT_ID


def test_power_modes_low_power_keeps_registers_startup_restores_defaults() -> None:
    dut = switch(defaults={0x00: 0}, control=rffe())
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 3)
    dut.rffe_write(USID, 0x1C, 0b10 << 6)  # Low Power: RF off, registers kept
    assert dut.state_name == "all_off" and dut.rffe_read(USID, 0x00) == 3
    dut.rffe_write(USID, 0x1C, 0x00)  # Active
    assert dut.state_name == "RF3"
    dut.rffe_write(USID, 0x1C, 0b01 << 6)  # Startup: defaults
    assert dut.rffe_read(USID, 0x00) == 0 and dut.state_name == "all_off"


def test_triggered_register_waits_for_its_trigger_unless_masked() -> None:
    dut = switch(control=rffe(triggered_registers={0x00: 1}))
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 2)
    assert dut.state_name == "all_off"  # in the shadow register
    dut.rffe_write(USID, 0x1C, 0b001)  # TRIGGER_0: not this register's trigger
    assert dut.state_name == "all_off"
    dut.rffe_write(USID, 0x1C, 0b010)  # TRIGGER_1 fires
    assert dut.state_name == "RF2"
    assert dut.rffe_read(USID, 0x1C) == 0  # trigger bits read as 0
    dut.rffe_write(USID, 0x1C, 1 << 4)  # TRIGGER_MASK_1: writes take effect at once
    dut.rffe_write(USID, 0x00, 4)
    assert dut.state_name == "RF4"


def test_slave_rejects_bad_identity() -> None:
    with pytest.raises(ValueError, match="USID"):
        RffeSlave(default_usid=0, product_id=1, manufacturer_id=1)
    with pytest.raises(ValueError, match="MANUFACTURER_ID"):
        RffeSlave(default_usid=1, product_id=1, manufacturer_id=0x400)


# ---------------------------------------------------------------------------- switch physics
@pytest.mark.parametrize("throws", [1, 2, 4, 6])
@pytest.mark.parametrize("off_ports", ["reflective", "absorptive"])
def test_switch_is_passive_and_reciprocal_in_every_state(throws: int, off_ports: str) -> None:
    dut = switch(throws, off_ports=off_ports, control={"interface": "gpio", "port": 2})
    for code in range(throws + 1):
        dut.set_gpio(2, code)
        s = dut.s_matrix(F_HZ)
        assert s.shape == (F_HZ.size, throws + 1, throws + 1)
        assert np.allclose(s, np.transpose(s, (0, 2, 1)), atol=1e-12)
        assert_passive(s)


def test_switch_follows_its_datasheet_laws() -> None:
    """0.3 dB + 0.08 dB/GHz insertion loss; isolation 40 dB at 1 GHz falling to 28 dB at 6 GHz."""
    dut = switch(4)
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 2)
    f = np.array([1e9, 3.5e9, 6e9])
    s = dut.s_matrix(f)
    il = -db(s[:, 2, 0])
    assert il == pytest.approx(0.3 + 0.08 * f / 1e9, abs=0.06)
    iso = -db(s[:, 1, 0])
    assert iso == pytest.approx([40.0, 34.0, 28.0], abs=1.0)
    assert -db(s[:, 0, 0]) == pytest.approx(25.0 - 1.2 * f / 1e9, abs=1.0)
    # the on path has the through delay's phase slope, an all-off ANT reflects
    assert np.angle(s[0, 2, 0] / s[1, 2, 0]) != pytest.approx(0.0, abs=1e-3)
    dut.rffe_write(USID, 0x00, 0)
    s_off = dut.s_matrix(f)
    assert np.all(-db(s_off[:, 0, 0]) < 0.5) and np.all(-db(s_off[:, 1:, 0]) > 20.0)


def test_switch_state_decodes_from_the_register_only() -> None:
    dut = switch(4, fields={"throw": {"register": 0x02, "lsb": 4, "width": 3}})
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 3)  # not the throw register any more
    assert dut.state_name == "all_off"
    dut.rffe_write(USID, 0x02, 3 << 4)
    assert dut.state_name == "RF3" and dut.noise_path() == (1, 4)
    dut.rffe_write(USID, 0x02, 7 << 4)  # reserved code on an SP4T
    assert dut.state_name == "reserved(7)" and dut.counters["invalid_state"] == 1
    in_band = np.linspace(0.1e9, 6e9, 60)
    assert np.all(-db(dut.s_matrix(in_band)[:, 1:, 0]) > 20.0)  # everything off
    assert dut.noise_path() is None


def test_switch_noise_factor_is_the_inverse_available_gain() -> None:
    dut = switch(2, control={"interface": "gpio", "port": 1})
    dut.set_gpio(1, 1)
    f = np.array([2e9, 5e9])
    s = dut.s_matrix(f)
    g_av = np.abs(s[:, 1, 0]) ** 2 / (1 - np.abs(s[:, 1, 1]) ** 2)
    assert dut.available_gain(f) == pytest.approx(g_av)
    assert dut.noise_factor(f) == pytest.approx(1.0 / g_av)
    dut.set_gpio(1, 0)
    assert np.all(np.isnan(dut.noise_factor(f)))


# ---------------------------------------------------------------------------- FEM
FEM_STATES = {"isolation": 0x00, "tx": 0x11, "tx_pa_off": 0x01, "rx": 0x22, "rx_bypass": 0x02}


def fem_in(name: str, **cfg: Any) -> FrontEndModule:
    dut = fem(**cfg)
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, FEM_STATES[name])
    assert dut.state_name == name
    return dut


def test_fem_paths_gain_and_noise() -> None:
    f0 = np.array([3.5e9])
    tx = fem_in("tx").s_matrix(f0)[0]
    assert db(tx[0, 1]) == pytest.approx(28.0 - 0.6, abs=0.7)  # PA gain less the switch
    assert db(tx[1, 0]) < -40.0  # PA reverse isolation
    rx_dut = fem_in("rx")
    rx = rx_dut.s_matrix(f0)[0]
    assert db(rx[2, 0]) == pytest.approx(18.0 - 0.6, abs=0.7)
    assert rx_dut.noise_path() == (1, 3)
    assert 10 * np.log10(rx_dut.noise_factor(f0)) == pytest.approx([1.5])
    bypass = fem_in("rx_bypass")
    s = bypass.s_matrix(f0)[0]
    assert db(s[2, 0]) == pytest.approx(-1.5 - 0.6, abs=0.5)
    assert bypass.noise_factor(f0) == pytest.approx(1.0 / bypass.available_gain(f0))
    iso = fem_in("isolation").s_matrix(f0)[0]
    assert db(iso[0, 1]) < -30.0 and db(iso[2, 0]) < -20.0
    assert fem_in("isolation").noise_path() is None


@pytest.mark.parametrize("state", ["isolation", "tx_pa_off", "rx_bypass"])
def test_fem_passive_states_are_passive(state: str) -> None:
    assert_passive(fem_in(state).s_matrix(F_HZ))


def test_fem_gain_has_a_band_shape() -> None:
    dut = fem_in("tx", center_frequency_hz=3.5e9, bandwidth_hz=1.0e9)
    g = db(dut.s_matrix(np.array([1.5e9, 3.5e9, 6.0e9]))[:, 0, 1])
    assert g[1] > g[0] + 15 and g[1] > g[2] + 10


def test_fem_pa_enabled_off_tx_path_is_an_order_violation() -> None:
    dut = fem()
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 0x11)  # TX with PA: fine
    dut.rffe_write(USID, 0x00, 0x12)  # path to RX with PA_EN still set
    assert dut.counters["order_violation"] == 1
    assert dut.state_name == "rx_bypass+pa_en"
    assert "PA_EN" in dut.events[-1]
    # the right order: PA off, then path, then LNA
    good = fem()
    good.set_vio(True)
    for word in (0x01, 0x11, 0x01, 0x02, 0x22, 0x02, 0x00):
        good.rffe_write(USID, 0x00, word)
    assert good.counters["order_violation"] == 0 and good.events == []


def test_fem_over_gpio_decodes_the_port() -> None:
    dut = fem(control={"interface": "gpio", "port": 2})
    dut.set_gpio(1, 0x22)  # another port: ignored
    assert dut.state_name == "isolation"
    dut.set_gpio(2, 0x22)
    assert dut.state_name == "rx"
    assert dut.rffe_read(USID, 0x1D) is None  # no RFFE slave on a GPIO part


# ---------------------------------------------------------------------------- hot switching
@pytest.mark.parametrize(("rf_on", "power_dbm", "hot"), [
    (True, -10.0, 1), (True, -20.0, 1), (True, -30.0, 0), (True, None, 1), (False, 10.0, 0),
])
def test_hot_switch_counts_state_changes_under_a_live_source(
    rf_on: bool, power_dbm: float | None, hot: int,
) -> None:
    dut = switch(hot_switch_power_dbm=-20.0)
    dut.set_vio(True)
    dut.on_vna_rf(rf_on, power_dbm)
    dut.rffe_write(USID, 0x00, 1)
    dut.rffe_write(USID, 0x00, 1)  # no change: no event
    assert dut.counters["hot_switch"] == hot
    assert all(e.startswith("hot_switch") for e in dut.events)


def test_overdrive_damages_the_part() -> None:
    dut = switch(2, max_rf_input_dbm=27.0)
    dut.set_vio(True)
    dut.rffe_write(USID, 0x00, 1)
    before = db(dut.s_matrix(np.array([2e9]))[0, 1, 0])
    dut.on_vna_rf(True, 30.0)
    assert dut.damaged and dut.counters["overdrive"] == 1
    assert db(dut.s_matrix(np.array([2e9]))[0, 1, 0]) == pytest.approx(before - 20.0)


@pytest.mark.parametrize(("cfg", "match"), [
    ({"model": "switch", "throws": 7}, "throws"),
    ({"model": "switch", "fields": {"path": {}}}, "unknown control fields"),
    ({"model": "switch", "control": {"interface": "spi"}}, "interface"),
    ({"model": "switch", "off_ports": "open"}, "off_ports"),
    ({"model": "fem", "path_codes": {"tx": 1, "rx": 2}}, "path_codes"),
    ({"model": "lna"}, "switch or fem"),
])
def test_config_errors_name_the_problem(cfg: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        controlled_dut_from_config(cfg)
