"""`KeysightPNA` driver against the simulated PNA/ENA over real sockets (no mock of VISA).

The noise figures the checks rely on are set in each bench config, not taken from the
simulator's code: receiver noise floor N₀ (dBm at 10 Hz IFBW) and high-level trace noise σ_dB
(dB rms at 1 kHz IFBW). An S-parameter then carries complex noise with, per Re/Im component,
σ² = N/(2·P) + |S|²·σ_rel², N = N₀·IFBW/10 Hz, P the port power, σ_rel = σ_dB·ln10/20 ·
sqrt(IFBW/1 kHz) (reference §3.4, "Realism"), divided by the number of averages.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import skrf
import skrf.data

from instruments.keysight.pna import KeysightPNA
from instruments.registry import connect
from simulators import SimulatedBench

SKRF_DATA = os.path.dirname(skrf.data.__file__)
NOISE_FLOOR_DBM = -125.0
TRACE_NOISE_DB = 0.002


def config(model: str, dut: dict[str, Any] | None, cal_ports: list[int] | None,
           time_scale: float = 0.0, seed: int = 11) -> dict[str, Any]:
    vna: dict[str, Any] = {"receiver_noise_floor_dbm": NOISE_FLOOR_DBM,
                           "trace_noise_db": TRACE_NOISE_DB}
    if cal_ports:
        vna["calibration"] = {"cal_set": "LAB_CAL", "cal_type": "SOLT", "ports": cal_ports}
    return {"seed": seed, "time_scale": time_scale, "instruments": {"vna": model},
            "dut": dut, "vna": vna}


class Vna:
    """A simulated bench with one VNA and the driver connected to it."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.sim = SimulatedBench(cfg)
        self.sim.start()
        model = cfg["instruments"]["vna"].replace("keysight_", "keysight.")
        driver = connect(model, self.sim.resources["vna"], timeout_s=10.0)
        assert isinstance(driver, KeysightPNA)
        self.driver = driver

    def close(self) -> None:
        self.driver.close()
        self.sim.stop()


@pytest.fixture
def vna_factory() -> Iterator[Any]:
    opened: list[Vna] = []

    def make(*args: Any, **kwargs: Any) -> Vna:
        vna = Vna(config(*args, **kwargs))
        opened.append(vna)
        return vna

    yield make
    for vna in opened:
        vna.close()


def sigma_component(s_abs: np.ndarray, ifbw_hz: float, power_dbm: float,
                    averages: int = 1) -> np.ndarray:
    """Per-component (Re or Im) noise std of a measured S-parameter of magnitude `s_abs`."""
    n_w = 10 ** ((NOISE_FLOOR_DBM + 10 * math.log10(ifbw_hz / 10.0)) / 10)
    p_w = 10 ** (power_dbm / 10)
    rel = TRACE_NOISE_DB * math.log(10) / 20 * math.sqrt(ifbw_hz / 1e3)
    return np.sqrt((n_w / (2 * p_w) + s_abs ** 2 * rel ** 2) / averages)


def test_identity_ports_range_and_registry(vna_factory: Any) -> None:
    vna = vna_factory("keysight_e5080b", {"model": "thru"}, [1, 2]).driver
    assert vna.identity.model == "E5080B" and vna.port_count == 4
    assert vna.frequency_range_hz() == (9e3, 20e9)
    with pytest.raises(ValueError, match="not an upward sweep inside"):
        vna.configure_sweep(1e9, 25e9, 201, 1e3, -10.0)
    vna.configure_sweep(1e9, 2e9, 201, 1e3, -10.0)
    with pytest.raises(ValueError, match=r"port\(s\) \[5\]"):
        vna.measure_s_parameters((1, 5))


def test_trace_noise_scales_with_sqrt_ifbw_and_averaging(vna_factory: Any) -> None:
    """High level (a calibrated thru): the dB jitter grows as sqrt(IFBW); at the noise floor
    (source off) the complex noise does too; averaging n sweeps divides it by sqrt(n)."""
    vna = vna_factory("keysight_n5227b", {"model": "thru"}, [1, 2], time_scale=0.0).driver
    stds = {}
    for ifbw in (1e3, 100e3):
        vna.configure_sweep(3e9, 4e9, 1601, ifbw, -10.0)
        data = vna.measure_s_parameters((1, 2))
        stds[ifbw] = np.std(20 * np.log10(np.abs(data.s[:, 1, 0])))
        expected_db = 20 / math.log(10) * sigma_component(np.ones(1), ifbw, -10.0)[0]
        assert stds[ifbw] == pytest.approx(expected_db, rel=0.1)
    assert stds[100e3] / stds[1e3] == pytest.approx(10.0, rel=0.1)
    vna.set_rf_output(False)
    floor = {}
    for ifbw, averages in ((1e3, 1), (100e3, 1), (100e3, 4)):
        vna.configure_sweep(3e9, 4e9, 1601, ifbw, -10.0, average_count=averages)
        data = vna.measure_s_parameters((1, 2))
        floor[ifbw, averages] = np.sqrt(np.mean(np.abs(data.s[:, 1, 0]) ** 2) / 2)
        assert floor[ifbw, averages] == pytest.approx(
            sigma_component(np.zeros(1), ifbw, -10.0, averages)[0], rel=0.1)
    assert floor[100e3, 1] / floor[1e3, 1] == pytest.approx(10.0, rel=0.1)
    assert floor[100e3, 1] / floor[100e3, 4] == pytest.approx(2.0, rel=0.1)


def test_measure_waits_for_every_averaging_sweep(vna_factory: Any) -> None:
    scale = 0.01
    vna = vna_factory("keysight_n5227b", {"model": "filter"}, [1, 2], time_scale=scale).driver
    for averages in (1, 4):
        vna.configure_sweep(3e9, 4e9, 801, 1e3, -10.0, average_count=averages)
        one_sweep_s = vna.sweep_time_s()
        assert one_sweep_s == pytest.approx(2 * 801 * (1e-3 + 10e-6) + 5e-3, rel=1e-6)
        start = time.monotonic()
        vna.measure_s_parameters((1, 2))
        elapsed = time.monotonic() - start
        assert elapsed >= 0.95 * averages * one_sweep_s * scale
        assert elapsed <= averages * one_sweep_s * scale + 0.5


@pytest.mark.parametrize("model,file,ports", [
    ("keysight_n5227b", "ntwk1.s2p", (1, 2)),
    ("keysight_n5291a", "ring slot measured.s1p", (1,)),
])
def test_measured_touchstone_device_reads_back_within_the_trace_noise(
        vna_factory: Any, model: str, file: str, ports: tuple[int, ...]) -> None:
    """A measured device file served by the simulated VNA and measured back through the driver
    equals the file (at its own frequencies) and scikit-rf's linear interpolation of it (at
    1601 points): every point within 6 σ of the stated noise (Rayleigh tail e^-18 per point),
    and the normalised residual has the variance the noise model says (2 per complex point)."""
    path = os.path.join(SKRF_DATA, file)
    reference = skrf.Network(path)
    vna = vna_factory(model, {"model": "touchstone", "path": path}, list(ports)).driver
    assert vna.calibration(ports).covers(ports)
    f = reference.f
    for points in (f.size, 1601):
        vna.configure_sweep(f[0], f[-1], points, 1e3, -10.0)
        data = vna.measure_s_parameters(ports)
        expected = reference.interpolate(skrf.Frequency.from_f(data.frequency_hz, unit="hz"),
                                         kind="linear").s
        np.testing.assert_allclose(data.frequency_hz, np.linspace(f[0], f[-1], points))
        sigma = sigma_component(np.abs(expected), 1e3, -10.0)
        z = np.abs(data.s - expected) / sigma
        assert z.max() < 6.0
        assert np.mean(z ** 2) == pytest.approx(2.0, rel=0.2)
    network = skrf.Network(frequency=skrf.Frequency.from_f(data.frequency_hz, unit="hz"),
                           s=data.s, z0=data.z0_ohm)
    assert network.nports == len(ports)


def test_uncalibrated_state_reads_back_and_shows_the_error_box(vna_factory: Any) -> None:
    vna = vna_factory("keysight_n5227b", {"model": "thru"}, None).driver
    cal = vna.calibration((1, 2))
    assert cal.corrected is False and cal.cal_set == "" and not cal.covers((1, 2))
    vna.configure_sweep(1e9, 6e9, 401, 1e3, -10.0)
    raw = vna.measure_s_parameters((1, 2)).s
    # an ideal thru reads S11 = 0, S21 = 1 once corrected; raw it shows directivity and
    # match (-25/-15/-18 dB) and the loss of two test-port cables
    assert np.median(20 * np.log10(np.abs(raw[:, 0, 0]))) > -40.0
    assert np.all(20 * np.log10(np.abs(raw[:, 1, 0])) < -0.8)


def test_calibrated_ports_and_a_four_port_1601_point_fetch(vna_factory: Any) -> None:
    vna = vna_factory("keysight_n5247b", {"model": "filter"}, [1, 2, 3, 4]).driver
    cal = vna.calibration()
    assert cal.corrected and cal.cal_set == "LAB_CAL" and cal.ports == (1, 2, 3, 4)
    assert cal.cal_type == "Full 4 Port(1,2,3,4)" and cal.covers((1, 2, 3, 4))
    vna.configure_sweep(3e9, 4e9, 1601, 10e3, -5.0)
    data = vna.measure_s_parameters((1, 2, 3, 4))
    assert data.s.shape == (1601, 4, 4) and data.ports == (1, 2, 3, 4)
    assert data.settings["if_bandwidth_hz"] == 10e3 and data.settings["points"] == 1601
    np.testing.assert_allclose(data.frequency_hz, np.linspace(3e9, 4e9, 1601))
    # the filter on ports 1-2, 50-ohm loads (-40 dB) on 3-4, no transmission to them
    assert np.median(20 * np.log10(np.abs(data.s[:, 1, 0]))) > -3.0
    np.testing.assert_allclose(20 * np.log10(np.abs(data.s[:, 2, 2])), -40.0, atol=0.5)
    assert np.all(np.abs(data.s[:, 2:, :2]) < 1e-3)
    again = vna.fetch_s_parameters((1, 2, 3, 4))  # the latched sweep, read again
    np.testing.assert_array_equal(again.s, data.s)
    sub = vna.fetch_s_parameters((2, 1))
    np.testing.assert_array_equal(sub.s[:, 0, 1], data.s[:, 1, 0])


def test_rf_output_drives_the_bench(vna_factory: Any) -> None:
    opened = vna_factory("keysight_n5247b", {"model": "amplifier"}, [1, 2])
    vna, bench = opened.driver, opened.sim.bench
    assert bench.vna_rf_on["vna"] is True and bench.network.vna_rf_on is True
    vna.set_rf_output(False)
    assert vna.rf_output_is_on() is False and bench.vna_rf_on["vna"] is False
    vna.set_rf_output(True)
    vna.configure_sweep(3e9, 4e9, 11, 1e3, -20.0)
    assert bench.network.vna_power_dbm == -20.0  # the DUT knows the level it is driven at
    vna.make_safe()
    assert vna.rf_output_is_on() is False and bench.network.vna_rf_on is False
