"""Keysight drivers against the simulated bench over real sockets (no mock of the VISA layer).

The bench is the built-in `benchbot/benches/simulated.yaml`: its `simulation` block, the
`simulator` key of each instrument and the path-loss tables, read here with PyYAML.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from instruments.errors import IdentityMismatch, InstrumentError, InstrumentTimeout
from instruments.interfaces import DCSupply, PowerMeter, SignalAnalyzer, SignalGenerator
from instruments.keysight.e36312a import KeysightE36312A
from instruments.keysight.n1912a import KeysightN1912A
from instruments.keysight.n5182b import KeysightN5182B
from instruments.keysight.x_series import KeysightXSeriesAnalyzer
from instruments.registry import DRIVERS, connect, driver_class
from simulators import SimulatedBench, config_from_bench_file

BENCH_FILE = Path(__file__).resolve().parents[1] / "benchbot" / "benches" / "simulated.yaml"
BENCH_DOC: dict[str, Any] = yaml.safe_load(BENCH_FILE.read_text())
F0 = 3.55e9


def bench_config(**path_overrides: list[float]) -> dict[str, Any]:
    doc = copy.deepcopy(BENCH_DOC)
    for role, losses in path_overrides.items():
        doc["instruments"][role]["path_loss"]["loss_db"] = losses
    return config_from_bench_file(doc)


def loss_db(role: str, frequency_hz: float) -> float:
    table = BENCH_DOC["instruments"][role]["path_loss"]
    return float(np.interp(frequency_hz, table["frequency_hz"], table["loss_db"]))


def expected_small_signal_dbm(role: str, generator_dbm: float) -> float:
    """Generator level through the bench and the PA's small-signal gain at F0 to `role`."""
    gain = BENCH_DOC["simulation"]["dut"]["small_signal_gain_db"]
    return generator_dbm - loss_db("signal_generator", F0) + gain - loss_db(role, F0)


class Bench:
    """A started simulated bench and connected drivers, one per role."""

    def __init__(self, sim: SimulatedBench) -> None:
        self.sim = sim
        self.resources = sim.resources
        self.gen: KeysightN5182B = self.connect("signal_generator")  # type: ignore[assignment]
        self.sa: KeysightXSeriesAnalyzer = self.connect("signal_analyzer")  # type: ignore[assignment]
        self.pm: KeysightN1912A = self.connect("power_meter")  # type: ignore[assignment]
        self.ps: KeysightE36312A = self.connect("dc_supply")  # type: ignore[assignment]

    def connect(self, role: str, **options: Any) -> Any:
        spec = BENCH_DOC["instruments"][role]
        merged = {**(spec.get("options") or {}), **options}
        timeout_s = merged.pop("timeout_s", 5.0)
        return connect(spec["driver"], self.resources[role], timeout_s=timeout_s, **merged)

    def power_up(self, generator_dbm: float = -20.0) -> None:
        """Supply on (5 V), generator CW at F0 on: the PA amplifies."""
        self.ps.set_voltage_v(1, 5.0)
        self.ps.set_current_limit_a(1, 1.0)
        self.ps.set_output(1, True)
        self.gen.set_frequency_hz(F0)
        self.gen.set_power_dbm(generator_dbm)
        self.gen.set_rf_output(True)


def started_bench(config: dict[str, Any]) -> Iterator[Bench]:
    with SimulatedBench(config) as sim:
        bench = Bench(sim)
        try:
            yield bench
        finally:
            for driver in (bench.gen, bench.sa, bench.pm, bench.ps):
                driver.close()


@pytest.fixture
def bench() -> Iterator[Bench]:
    yield from started_bench(bench_config())


# -- identity and registry -------------------------------------------------------------------

IDENTITIES = [
    ("signal_generator", SignalGenerator, "N5182B", {"506", "1EA"}),
    ("signal_analyzer", SignalAnalyzer, "N9030B", {"B25", "526"}),
    ("power_meter", PowerMeter, "N1912A", set()),
    ("dc_supply", DCSupply, "E36312A", set()),
]


@pytest.mark.parametrize(("role", "interface", "model", "options"), IDENTITIES)
def test_identity(bench: Bench, role: str, interface: type, model: str, options: set[str]) -> None:
    driver = {"signal_generator": bench.gen, "signal_analyzer": bench.sa,
              "power_meter": bench.pm, "dc_supply": bench.ps}[role]
    assert isinstance(driver, interface)
    assert driver.identity.manufacturer == "Keysight Technologies"
    assert driver.identity.model == model
    assert options <= set(driver.identity.options)
    assert all('"' not in o for o in driver.identity.options)


@pytest.mark.parametrize(
    ("driver_name", "role"),
    [("keysight.n1912a", "signal_generator"), ("keysight.n5182b", "signal_analyzer"),
     ("keysight.e36312a", "power_meter"), ("keysight.n9030b", "dc_supply")],
)
def test_identity_mismatch(bench: Bench, driver_name: str, role: str) -> None:
    with pytest.raises(IdentityMismatch) as info:
        connect(driver_name, bench.resources[role])
    assert info.value.expected_models == driver_class(driver_name).supported_models
    assert "Keysight Technologies" in info.value.idn


def test_registry_names_and_options(bench: Bench) -> None:
    assert {"keysight.n5182b", "keysight.n9030b", "keysight.n9020b", "keysight.n1912a",
            "keysight.e36312a", "rs.smw200a", "rs.smbv100b", "rs.fsw", "keysight.n5247b",
            "keysight.e5080b", "rs.zna", "rs.znb", "keysight.daq970a", "benchbot.rffe1"
            } <= set(DRIVERS)
    for name in DRIVERS:  # every entry imports and names the models it speaks for
        assert driver_class(name).supported_models, name
    assert driver_class("keysight.n9020b") is KeysightXSeriesAnalyzer
    with pytest.raises(KeyError, match="known"):
        driver_class("keysight.nope")
    meter = connect("keysight.n1912a", bench.resources["power_meter"], channel=2)
    assert isinstance(meter, KeysightN1912A) and meter.channel == 2
    meter.close()
    with pytest.raises(ValueError, match="channel"):
        connect("keysight.n1912a", bench.resources["power_meter"], channel=3)


# -- signal generator -------------------------------------------------------------------------

GENERATOR_ROUND_TRIPS: list[tuple[str, Any, str, Any]] = [
    # (setter, value, read-back, expected)
    ("set_frequency_hz", 3.3e9, "frequency_hz", 3.3e9),
    ("set_frequency_hz", 123456789.0, "frequency_hz", 123456789.0),
    ("set_power_dbm", -12.5, "power_dbm", -12.5),
    ("set_power_dbm", -100.0, "power_dbm", -100.0),
    ("set_rf_output", True, "rf_output_is_on", True),
    ("set_rf_output", False, "rf_output_is_on", False),
    ("set_modulation", False, "modulation_is_on", False),
    ("set_modulation", True, "modulation_is_on", True),
    ("set_power_limit_dbm", 5.0, "power_limit_dbm", 5.0),
]


@pytest.mark.parametrize(("setter", "value", "getter", "expected"), GENERATOR_ROUND_TRIPS)
def test_generator_round_trips(
    bench: Bench, setter: str, value: Any, getter: str, expected: Any
) -> None:
    getattr(bench.gen, setter)(value)
    assert getattr(bench.gen, getter)() == expected


def test_generator_state_reaches_the_bench(bench: Bench) -> None:
    state = bench.sim.bench.generator
    bench.gen.set_frequency_hz(F0)
    bench.gen.set_power_dbm(-7.0)
    bench.gen.set_rf_output(True)
    assert (state.frequency_hz, state.level_dbm, state.rf_on) == (F0, -7.0, True)
    bench.gen.make_safe()
    assert not state.rf_on and not bench.gen.rf_output_is_on()
    bench.gen.set_rf_output(True)
    bench.gen.reset()
    assert not state.rf_on


def test_generator_power_limit_refuses_higher_levels(bench: Bench) -> None:
    bench.gen.set_power_limit_dbm(5.0)
    bench.gen.set_power_dbm(4.0)
    with pytest.raises(InstrumentError) as info:
        bench.gen.set_power_dbm(6.0)
    assert info.value.command == ":POW 6"
    assert bench.gen.power_dbm() == 4.0


def test_generator_scpi_error_names_the_command(bench: Bench) -> None:
    with pytest.raises(InstrumentError) as info:
        bench.gen.set_frequency_hz(10e9)  # option 506: 6 GHz maximum
    assert info.value.code == -222
    assert info.value.command == ":FREQ 10000000000"
    bench.gen.set_frequency_hz(1e9)  # the session and the queue are clean again
    assert bench.gen.frequency_hz() == 1e9


# -- DC supply --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("channel", "volts", "amps"), [(1, 5.0, 1.2), (2, 24.5, 0.25), (3, 3.3, 1.0)]
)
def test_supply_round_trips(bench: Bench, channel: int, volts: float, amps: float) -> None:
    bench.ps.set_voltage_v(channel, volts)
    bench.ps.set_current_limit_a(channel, amps)
    assert bench.ps.voltage_setpoint_v(channel) == volts
    assert bench.ps.current_limit_a(channel) == amps
    assert not bench.ps.output_is_on(channel)
    bench.ps.set_output(channel, True)
    assert bench.ps.output_is_on(channel)
    assert bench.sim.bench.supply.outputs[channel]
    assert bench.ps.measure_voltage_v(channel) == pytest.approx(volts, abs=0.01)
    assert bench.ps.measure_current_a(channel) >= -0.01
    bench.ps.set_output(channel, False)
    assert not bench.ps.output_is_on(channel)


def test_supply_pa_draws_quiescent_current(bench: Bench) -> None:
    bench.power_up(generator_dbm=-40.0)
    iq = BENCH_DOC["simulation"]["dut"]["quiescent_current_a"]
    assert bench.ps.measure_current_a(1) == pytest.approx(iq, abs=0.05)


RATING_VIOLATIONS: list[tuple[str, int, float]] = [
    ("set_voltage_v", 1, 6.01), ("set_voltage_v", 2, 25.5), ("set_voltage_v", 3, -0.1),
    ("set_current_limit_a", 1, 5.1), ("set_current_limit_a", 2, 1.01),
    ("set_current_limit_a", 3, -1.0), ("set_voltage_v", 4, 1.0), ("set_output", 0, True),
]


@pytest.mark.parametrize(("method", "channel", "value"), RATING_VIOLATIONS)
def test_supply_ratings_checked_before_sending(
    bench: Bench, method: str, channel: int, value: Any
) -> None:
    sent = len(bench.ps.session.traffic)
    with pytest.raises(ValueError, match=f"channel {channel}|not {channel}"):
        getattr(bench.ps, method)(channel, value)
    assert len(bench.ps.session.traffic) == sent


def test_supply_make_safe_is_one_command(bench: Bench) -> None:
    for channel in bench.ps.channels:
        bench.ps.set_output(channel, True)
    bench.ps.session.traffic.clear()
    bench.ps.make_safe()
    writes = [t for _, d, t in bench.ps.session.traffic if d == "w" and t != "SYST:ERR?"]
    assert writes == ["OUTP OFF,(@1:3)"]
    assert not any(bench.ps.output_is_on(c) for c in bench.ps.channels)
    bench.ps.set_output(2, True)
    bench.ps.reset()
    assert not any(bench.sim.bench.supply.outputs.values())


# -- power meter ------------------------------------------------------------------------------

def test_power_meter_round_trips_and_reading(bench: Bench) -> None:
    bench.pm.set_frequency_hz(F0)
    assert bench.pm.frequency_hz() == F0
    bench.pm.set_averaging(16)
    assert bench.pm.averaging() == 16
    bench.pm.zero()  # RF off: a valid zero
    bench.power_up(generator_dbm=-20.0)
    reading = bench.pm.measure_power_dbm()
    assert reading == pytest.approx(expected_small_signal_dbm("power_meter", -20.0), abs=0.5)
    assert bench.pm.measure_power_dbm() == pytest.approx(reading, abs=0.1)
    writes = [t for _, d, t in bench.pm.session.traffic if d == "w"]
    assert writes.count("INIT1:CONT OFF") == 1 and writes.count("READ1?") == 2


def test_power_meter_zero_with_rf_applied_is_refused(bench: Bench) -> None:
    bench.power_up(generator_dbm=-20.0)
    with pytest.raises(InstrumentError) as info:
        bench.pm.zero()
    assert info.value.code == -231 and info.value.command == "CAL1:ZERO:AUTO ONCE"


@pytest.mark.parametrize("count", [0, 1025, -3])
def test_power_meter_averaging_range(bench: Bench, count: int) -> None:
    with pytest.raises(ValueError):
        bench.pm.set_averaging(count)


def test_power_meter_zero_timeout_then_session_still_right(bench: Bench) -> None:
    meter = bench.connect("power_meter", zero_timeout_s=0.01)  # zeroing takes 4 s x time_scale
    with pytest.raises(InstrumentTimeout) as info:
        meter.zero()
    assert info.value.command == "*OPC?" and info.value.resynchronised
    assert meter.session.query("*IDN?").split(",")[1] == "N1912A"
    assert meter.measure_power_dbm() < -50.0  # RF off
    meter.close()


def test_power_meter_missing_sensor_is_an_instrument_error(bench: Bench) -> None:
    meter = bench.connect("power_meter", channel=2, timeout_s=0.5)  # channel B: no sensor
    meter.set_frequency_hz(F0)
    with pytest.raises(InstrumentError) as info:
        meter.measure_power_dbm()
    assert info.value.code == -241 and info.value.command == "READ2?"
    assert meter.session.query("*IDN?").split(",")[1] == "N1912A"
    meter.close()


def test_power_meter_over_range_is_an_instrument_error() -> None:
    losses = [0.0] * len(BENCH_DOC["instruments"]["power_meter"]["path_loss"]["loss_db"])
    for bench in started_bench(bench_config(power_meter=losses)):
        bench.power_up(generator_dbm=8.0)  # PA near Psat, no attenuator: > sensor range
        with pytest.raises(InstrumentError) as info:
            bench.pm.measure_power_dbm()
        assert info.value.code == -231 and info.value.command == "READ1?"
        bench.gen.make_safe()
        assert bench.pm.measure_power_dbm() < -40.0  # the session and the meter recover


# -- signal analyzer --------------------------------------------------------------------------

def configure(sa: KeysightXSeriesAnalyzer, **overrides: Any) -> None:
    kwargs: dict[str, Any] = dict(center_hz=F0, span_hz=10e6, rbw_hz=100e3, points=1001,
                                  detector="rms", reference_level_dbm=0.0, attenuation_db=10.0)
    kwargs.update(overrides)
    sa.configure_sweep(**kwargs)


def test_analyzer_settings_read_back(bench: Bench) -> None:
    configure(bench.sa, points=2001, vbw_hz=30e3, attenuation_db=20.0, reference_level_dbm=-5.0)
    s = bench.sa.settings()
    assert (s["center_hz"], s["span_hz"], s["points"]) == (F0, 10e6, 2001)
    assert (s["rbw_hz"], s["vbw_hz"]) == (100e3, 30e3)
    assert (s["attenuation_db"], s["reference_level_dbm"]) == (20.0, -5.0)
    assert (s["detector"], s["average_type"], s["average_count"]) == ("rms", "RMS", 1)
    assert float(s["sweep_time_s"]) > 0
    assert bench.sa.session.query(":INIT:CONT?") == "0"


@pytest.mark.parametrize("detector", ["rms", "peak", "sample", "negative_peak", "normal"])
def test_analyzer_detectors(bench: Bench, detector: str) -> None:
    configure(bench.sa, detector=detector)
    assert bench.sa.settings()["detector"] == detector


def test_analyzer_sweep_trace_and_marker(bench: Bench) -> None:
    bench.power_up(generator_dbm=-20.0)
    configure(bench.sa)
    bench.sa.single_sweep()
    trace = bench.sa.fetch_trace()
    assert trace.power_dbm.dtype == np.float32 and trace.power_dbm.shape == (1001,)
    np.testing.assert_array_equal(trace.frequency_hz, np.linspace(F0 - 5e6, F0 + 5e6, 1001))
    peak = int(np.argmax(trace.power_dbm))
    assert trace.frequency_hz[peak] == pytest.approx(F0, abs=20e3)
    expected = expected_small_signal_dbm("signal_analyzer", -20.0)
    assert float(trace.power_dbm[peak]) == pytest.approx(expected, abs=0.7)
    assert trace.settings["rbw_hz"] == 100e3 and trace.settings["detector"] == "rms"
    f, p = bench.sa.peak_marker()
    assert f == pytest.approx(F0, abs=20e3)
    assert p == pytest.approx(float(trace.power_dbm[peak]), abs=0.01)


@pytest.mark.parametrize(
    ("byte_order", "real_bits"), [("SWAP", 32), ("NORM", 32), ("SWAP", 64), ("NORM", 64)]
)
def test_analyzer_trace_both_byte_orders(bench: Bench, byte_order: str, real_bits: int) -> None:
    """The binary trace equals the same trace fetched as ASCII, in every byte order/width."""
    bench.power_up(generator_dbm=-20.0)
    sa = bench.connect("signal_analyzer", byte_order=byte_order, real_bits=real_bits)
    configure(sa)
    sa.single_sweep()
    trace = sa.fetch_trace()
    assert trace.power_dbm.dtype == (np.float32 if real_bits == 32 else np.float64)
    assert trace.settings["byte_order"] == byte_order
    sa.session.write(":FORM ASC")
    ascii_values = np.array(sa.session.query(":TRAC? TRACE1").split(","), dtype=float)
    rtol = 1e-6 if real_bits == 32 else 1e-9
    np.testing.assert_allclose(trace.power_dbm, ascii_values, rtol=rtol)
    sa.close()


@pytest.mark.parametrize(
    ("byte_order", "real_bits", "dtype"),
    [("SWAP", 32, np.complex64), ("NORM", 32, np.complex64), ("NORM", 64, np.complex128)],
)
def test_analyzer_iq_capture_then_back_to_sa(
    bench: Bench, byte_order: str, real_bits: int, dtype: type
) -> None:
    bench.power_up(generator_dbm=-20.0)
    sa = bench.connect("signal_analyzer", byte_order=byte_order, real_bits=real_bits)
    assert sa.supports_iq_capture()
    capture = sa.capture_iq(F0, 1e6, 1e-3)
    assert (capture.center_frequency_hz, capture.sample_rate_hz) == (F0, 1e6)
    assert capture.iq.dtype == dtype and capture.iq.size == 1000
    power_dbm = 10 * np.log10(np.mean(np.abs(capture.iq) ** 2) / 50.0) + 30.0  # rms volts, 50 ohm
    expected = expected_small_signal_dbm("signal_analyzer", -20.0)
    assert power_dbm == pytest.approx(expected, abs=0.7)
    assert sa.session.query(":INST?") == "SA"
    configure(sa)
    sa.single_sweep()
    assert sa.fetch_trace().power_dbm.max() == pytest.approx(power_dbm, abs=0.7)
    sa.close()


def test_analyzer_scpi_error_names_the_command(bench: Bench) -> None:
    with pytest.raises(InstrumentError) as info:
        configure(bench.sa, points=200_000)  # 1..100001 points
    assert info.value.code == -222
    assert ":SWE:POIN 200000" in info.value.command
    assert bench.sa.settings()["points"] == 100001  # clipped, as read back


def test_analyzer_sweep_timeout_then_session_still_right(bench: Bench) -> None:
    configure(bench.sa)
    bench.sa.session.write(":SWE:TIME 60")  # 60 s x time_scale 0.02 = 1.2 s
    bench.sa.session.write(":INIT:IMM")
    with pytest.raises(InstrumentTimeout):
        bench.sa.session.opc(timeout_s=0.2)
    assert bench.sa.session.query(":SWE:POIN?") == "1001"
    assert bench.sa.session.query("*IDN?").split(",")[1] == "N9030B"


def test_make_safe_and_reset_never_raise(bench: Bench) -> None:
    drivers: list[Callable[[], None]] = [bench.gen.make_safe, bench.sa.make_safe,
                                         bench.pm.make_safe, bench.ps.make_safe,
                                         bench.gen.reset, bench.sa.reset, bench.pm.reset,
                                         bench.ps.reset]
    for call in drivers:
        call()
    assert bench.sa.settings()["points"] == 1001
