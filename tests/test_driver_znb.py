"""`RohdeSchwarzZNB` against the simulated ZNA/ZNB over real sockets (pyvisa-py).

References the driver is checked against: the network model's own S-matrix (`bench.network`,
seen at the test ports by `VnaFrontEnd.true_s`), the noise the simulator's receivers add
(`vna_core` formulas: a corrected point differs from the truth by complex noise of variance
σ_add² + 2|S|²σ_rel²), and the Keysight PNA driver on the same DUT (vendor equivalence).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from benchmarks.trace_fetch import RawBlockClient
from instruments.errors import IdentityMismatch, InstrumentTimeout
from instruments.interfaces import VectorNetworkAnalyzer
from instruments.registry import DRIVERS, connect, driver_class
from instruments.rohde_schwarz.znb import RohdeSchwarzZNB, calibrated_ports
from simulators import SimulatedBench
from simulators.vna_core import DEFAULT_NOISE_FLOOR_DBM, DEFAULT_TRACE_NOISE_DB, VnaFrontEnd

CAL = {"cal_set": "Lab_TOSM.cal", "cal_type": "TOSM", "ports": [1, 2, 3, 4]}
AMPLIFIER = {"model": "amplifier", "small_signal_gain_db": 20.0, "center_frequency_hz": 3.5e9,
             "bandwidth_hz": 2e9}
FILTER = {"model": "filter", "order": 5, "passband_start_hz": 3.3e9, "passband_stop_hz": 3.8e9}
SWEEP = {"start_hz": 2e9, "stop_hz": 5e9, "points": 201, "if_bandwidth_hz": 1e3,
         "power_dbm": -10.0}


def config(dut: dict[str, Any] = AMPLIFIER, cal: dict[str, Any] | None = CAL,
           time_scale: float = 0.0005, **instruments: str) -> dict[str, Any]:
    return {"seed": 77, "time_scale": time_scale,
            "instruments": {"vna": "rs_zna26", **instruments}, "dut": dut,
            "vna": {"calibration": cal} if cal is not None else {}}


class Rig:
    """A started SimulatedBench with the ZNA driver connected as `vna`."""

    def __init__(self, sim: SimulatedBench, timeout_s: float = 5.0) -> None:
        self.sim = sim
        self.bench = sim.bench
        driver = connect("rs.zna", sim.resources["vna"], timeout_s=timeout_s)
        assert isinstance(driver, RohdeSchwarzZNB)
        self.vna = driver

    def truth(self, frequency_hz: np.ndarray) -> np.ndarray:
        """The error-free S-matrix at the 4 test ports."""
        return VnaFrontEnd(self.bench, "truth", 4, (10e6, 26.5e9)).true_s(frequency_hz)


def rig_for(cfg: dict[str, Any]) -> Iterator[Rig]:
    with SimulatedBench(cfg) as sim:
        rig = Rig(sim)
        try:
            yield rig
        finally:
            rig.vna.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from rig_for(config())


def noise_sigma(s: np.ndarray, if_bandwidth_hz: float, power_dbm: float,
                average_count: int = 1) -> np.ndarray:
    """sqrt of the complex noise variance of one corrected point (vna_core's receiver model)."""
    floor_w = 10 ** ((DEFAULT_NOISE_FLOOR_DBM + 10 * math.log10(if_bandwidth_hz / 10)) / 10)
    sigma_add2 = floor_w / 10 ** (power_dbm / 10) / average_count
    sigma_rel = (DEFAULT_TRACE_NOISE_DB * math.sqrt(if_bandwidth_hz / 1e3) * math.log(10) / 20
                 / math.sqrt(average_count))
    return np.sqrt(sigma_add2 + 2 * np.abs(s) ** 2 * sigma_rel**2)


# -- identity and registry -------------------------------------------------------------------


def test_registry_identity_and_mismatch() -> None:
    assert DRIVERS["rs.znb"] == DRIVERS["rs.zna"]
    assert driver_class("rs.znb") is RohdeSchwarzZNB
    assert {"ZNB20-4Port", "ZNA26-4Port", "ZNA67-2Port"} <= set(RohdeSchwarzZNB.supported_models)
    for rig in rig_for(config(pna="keysight_n5247b", other="rs_znb20")):
        vna = rig.vna
        assert isinstance(vna, VectorNetworkAnalyzer)
        assert (vna.identity.manufacturer, vna.identity.model) == ("Rohde-Schwarz", "ZNA26-4Port")
        assert vna.port_count == 4 and vna.frequency_range_hz() == (10e6, 26.5e9)
        znb = connect("rs.znb", rig.sim.resources["other"])
        assert znb.frequency_range_hz() == (100e3, 20e9)  # type: ignore[attr-defined]
        znb.close()
        with pytest.raises(IdentityMismatch):
            connect("rs.zna", rig.sim.resources["pna"])


# -- configuration ---------------------------------------------------------------------------


def test_configure_reads_back_and_refuses_bad_sweeps(rig: Rig) -> None:
    vna = rig.vna
    vna.configure_sweep(2e9, 5e9, 401, 1.2e3, -5.0, 4)
    assert vna.settings() == {"start_hz": 2e9, "stop_hz": 5e9, "points": 401,
                              "if_bandwidth_hz": 1.5e3,  # the ZNA rounds the IFBW up
                              "power_dbm": -5.0, "average_count": 4, "channel": 1,
                              "instrument_model": "ZNA26-4Port"}
    sent = [text for _, kind, text in vna.session.traffic if kind == "w"]
    for command in ("INIT1:CONT OFF", "INIT:SCOP SING", "SENS1:SWE:COUN 4", "SENS1:AVER:STAT ON",
                    "FORM REAL,64", "FORM:BORD SWAP"):
        assert command in sent
    bad = [(1e6, 5e9, 11), (2e9, 30e9, 11), (5e9, 2e9, 11), (2e9, 5e9, 0), (2e9, 5e9, 100_002)]
    for start, stop, points in bad:
        with pytest.raises(ValueError):
            vna.configure_sweep(start, stop, points, 1e3, -10.0)
    with pytest.raises(ValueError):
        vna.measure_s_parameters((1, 5))


# -- measurement -----------------------------------------------------------------------------


@pytest.mark.parametrize("dut", [AMPLIFIER, FILTER], ids=["amplifier", "filter"])
def test_s_matrix_equals_the_model_within_the_trace_noise(dut: dict[str, Any]) -> None:
    for rig in rig_for(config(dut=dut)):
        vna = rig.vna
        vna.configure_sweep(**SWEEP)
        vna.set_rf_output(True)
        data = vna.measure_s_parameters((1, 2, 3, 4))
        assert data.s.shape == (201, 4, 4) and data.ports == (1, 2, 3, 4)
        assert np.array_equal(data.frequency_hz, np.linspace(2e9, 5e9, 201))
        truth = rig.truth(data.frequency_hz)
        sigma = noise_sigma(truth, 1e3, -10.0)
        assert np.all(np.abs(data.s - truth) < 7 * sigma)  # P(exceed) = exp(-24.5) per point
        # ports in another order: the same measurement, rows and columns permuted
        swapped = vna.measure_s_parameters((2, 1))
        assert np.all(np.abs(swapped.s[:, 0, 1] - truth[:, 1, 0]) < 7 * sigma[:, 1, 0])
        assert np.all(np.abs(swapped.s[:, 1, 1] - truth[:, 0, 0]) < 7 * sigma[:, 0, 0])
        commands = [t for _, k, t in vna.session.traffic if k == "w"]
        assert commands.count("CALC1:PAR:DEF:SGR 1,2,3,4") == 1
        assert commands.count("CALC1:PAR:DEF:SGR 1,2") == 1
        assert commands.count("CALC1:DATA:SGR? SDAT") == 2


def test_one_synchronised_sweep_waits_for_every_average() -> None:
    for rig in rig_for(config(time_scale=0.02)):
        vna = rig.vna
        vna.configure_sweep(2e9, 5e9, 201, 1e3, -10.0, average_count=5)
        vna.set_rf_output(True)
        t0 = time.monotonic()
        data = vna.measure_s_parameters((1, 2))
        elapsed = time.monotonic() - t0
        one_sweep = vna.sweep_time_s()
        assert elapsed > 5 * one_sweep * 0.02 * 0.95
        sent = [t for _, k, t in vna.session.traffic if k == "w"]
        assert sent.count("SENS1:AVER:CLE;:INIT1:IMM;*OPC?") == 1
        truth = rig.truth(data.frequency_hz)[:, :2, :2]
        assert np.all(np.abs(data.s - truth) < 7 * noise_sigma(truth, 1e3, -10.0, 5))


def test_sweep_timeout_then_the_session_is_usable() -> None:
    for rig in rig_for(config(time_scale=1.0)):
        vna = rig.vna
        vna.configure_sweep(2e9, 5e9, 201, 1e3, -10.0)  # 4 source ports: 0.8 s per sweep
        with pytest.raises(InstrumentTimeout):
            vna.measure_s_parameters((1, 2), timeout_s=0.3)
        rig.bench.time_scale = 0.0
        data = vna.measure_s_parameters((1, 2))
        assert data.s.shape == (201, 2, 2)


# -- calibration and source ------------------------------------------------------------------


def test_calibration_read_back_and_kept_through_reset(rig: Rig) -> None:
    vna = rig.vna
    expected = ("Lab_TOSM.cal", "TOSM", (1, 2, 3, 4))
    cal = vna.calibration()
    assert cal.corrected and (cal.cal_set, cal.cal_type, cal.ports) == expected
    assert cal.covers((1, 2)) and not cal.covers((1, 5))
    vna.set_rf_output(True)
    vna.reset()
    assert rig.bench.vna_rf_on["vna"] is False and not vna.rf_output_is_on()
    cal = vna.calibration()
    assert cal.corrected and (cal.cal_set, cal.cal_type, cal.ports) == expected
    vna.session.write("SENS1:CORR OFF")
    off = vna.calibration()
    assert not off.corrected and off.cal_set == "Lab_TOSM.cal" and not off.covers((1,))


@pytest.mark.parametrize(("cal", "corrected", "ports"), [
    (None, False, ()),
    ({"cal_set": "P12.cal", "cal_type": "UOSM", "ports": [1, 2]}, True, (1, 2)),
])
def test_no_and_partial_calibration(cal: dict[str, Any] | None, corrected: bool,
                                    ports: tuple[int, ...]) -> None:
    for rig in rig_for(config(cal=cal)):
        state = rig.vna.calibration()
        assert (state.corrected, state.ports) == (corrected, ports)
        assert state.covers((1, 2)) is corrected and not state.covers((3,))


def test_rf_output_reaches_the_bench_and_make_safe(rig: Rig) -> None:
    vna = rig.vna
    vna.set_rf_output(True)
    assert rig.bench.vna_rf_on["vna"] is True and vna.rf_output_is_on()
    vna.make_safe()
    assert rig.bench.vna_rf_on["vna"] is False and not vna.rf_output_is_on()


@pytest.mark.parametrize(("catalog", "ports"), [
    ("'S11,S12,S21,S22'", (1, 2)), ("'S33'", (3,)), ("''", ()),
    ("'S0101,S0110,S1001,S1010'", (1, 10)),
])
def test_calibrated_ports_from_the_call_catalog(catalog: str, ports: tuple[int, ...]) -> None:
    assert calibrated_ports(catalog) == ports


# -- vendor equivalence and fetch throughput -------------------------------------------------


@pytest.mark.parametrize("dut", [AMPLIFIER, FILTER], ids=["amplifier", "filter"])
def test_same_dut_same_result_as_the_keysight_pna(dut: dict[str, Any]) -> None:
    cal = {"cal_set": "Lab_2port", "cal_type": "TOSM", "ports": [1, 2]}
    for rig in rig_for(config(dut=dut, cal=cal, pna="keysight_n5247b")):
        pna = connect("keysight.n5247b", rig.sim.resources["pna"])
        try:
            results = []
            for vna in (rig.vna, pna):
                assert isinstance(vna, VectorNetworkAnalyzer)
                assert vna.calibration().covers((1, 2))
                vna.configure_sweep(**SWEEP)
                vna.set_rf_output(True)
                results.append(vna.measure_s_parameters((1, 2)))
                vna.set_rf_output(False)
        finally:
            pna.close()
        rs, ks = results
        assert np.array_equal(rs.frequency_hz, ks.frequency_hz)
        truth = rig.truth(rs.frequency_hz)[:, :2, :2]
        sigma = noise_sigma(truth, 1e3, -10.0)
        # two independent measurements: the difference has twice the variance
        assert np.all(np.abs(rs.s - ks.s) < 7 * math.sqrt(2) * sigma)
        gain_rs, gain_ks = (20 * np.log10(np.abs(d.s[:, 1, 0])) for d in (rs, ks))
        assert np.max(np.abs(gain_rs - gain_ks)[np.abs(truth[:, 1, 0]) > 0.1]) < 0.05


def test_one_block_fetch_equals_a_raw_socket_read_of_the_same_reply() -> None:
    """A 4-port 1601-point S-matrix fetch parses exactly the bytes a raw socket reads
    (the speed of the same pair is benchmark (g), benchmarks/s_matrix_fetch.py)."""
    for rig in rig_for(config(time_scale=0.0)):
        vna = rig.vna
        vna.configure_sweep(1e9, 6e9, 1601, 1e3, -10.0)
        expected = vna.measure_s_parameters((1, 2, 3, 4))
        server = rig.sim.servers["vna"]
        raw = RawBlockClient(server.host, server.port, b"CALC1:DATA:SGR? SDAT\n", "<f8")
        try:
            values = raw.fetch()
            fetched = vna.fetch_s_parameters((1, 2, 3, 4))
        finally:
            raw.close()
        assert np.array_equal(fetched.s, expected.s)
        assert np.array_equal(values.view(np.complex128).reshape(4, 4, 1601),
                              expected.s.transpose(1, 2, 0))
