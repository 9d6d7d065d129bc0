"""MXG ARB download and playback: driver → real socket → simulated N5182B (no VISA mocks)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from instruments.errors import InstrumentError
from instruments.keysight.n5182b import ARB_FULL_SCALE, KeysightN5182B, arb_payload
from instruments.registry import connect
from simulators import SimulatedBench
from simulators.keysight_mxg import KeysightMXG
from simulators.scpi_core import ScpiError
from simulators.scpi_params import parse_block
from simulators.scpi_parse import parse_unit
from tests.test_drivers import bench_config

RATE = 30.72e6


@pytest.fixture
def sim() -> Iterator[SimulatedBench]:
    with SimulatedBench(bench_config()) as bench:
        yield bench


@pytest.fixture
def gen(sim: SimulatedBench) -> Iterator[KeysightN5182B]:
    driver = connect("keysight.n5182b", sim.resources["signal_generator"])
    try:
        yield driver  # type: ignore[misc]
    finally:
        driver.close()


def mxg(sim: SimulatedBench) -> KeysightMXG:
    device = sim.devices["signal_generator"]
    assert isinstance(device, KeysightMXG)
    return device


def newline_heavy_waveform(n: int = 4096) -> np.ndarray:
    """A waveform whose int16 BE encoding is full of 0x0A bytes (and ends with one)."""
    rng = np.random.default_rng(7)
    codes = rng.integers(-32767, 32768, size=2 * n).astype(np.int64)
    codes[::3] = 0x0A0A
    codes[1::5] = 0x0A  # 00 0A
    codes[0] = 32767  # peak on full scale so the driver's scale factor is exactly 1
    codes[-1] = 0x0D0A  # last data bytes are CR LF
    return (codes[0::2] + 1j * codes[1::2]) / 32767.0


def test_round_trip_with_newlines_in_payload(sim: SimulatedBench, gen: KeysightN5182B) -> None:
    iq = newline_heavy_waveform()
    payload, scale = arb_payload(iq)
    assert payload.count(b"\n") > 1000 and payload.endswith(b"\r\n")
    assert scale == pytest.approx(32767.0)
    gen.load_arb_waveform("NLTEST", iq, RATE)
    assert gen.arb_scale == pytest.approx(scale)
    assert any(t[2].endswith(f"<binary {len(payload)} bytes>") for t in gen.session.traffic)
    stored = mxg(sim).wfm1["NLTEST"]
    assert stored.size == 2 * iq.size
    got = (stored[0::2] + 1j * stored[1::2].astype(np.float64)) / ARB_FULL_SCALE
    expected = iq / np.max(np.abs(np.r_[iq.real, iq.imag]))
    np.testing.assert_allclose(got.real, expected.real, atol=1 / 32767)
    np.testing.assert_allclose(got.imag, expected.imag, atol=1 / 32767)
    # and the session is still in step afterwards
    assert "N5182B" in gen.session.query("*IDN?")


def test_scaling_to_full_scale(sim: SimulatedBench, gen: KeysightN5182B) -> None:
    t = np.arange(600)
    iq = 0.25 * np.exp(2j * np.pi * t / 60)
    gen.load_arb_waveform("TONE", iq, RATE)
    codes = mxg(sim).wfm1["TONE"]
    assert int(np.max(np.abs(codes))) == ARB_FULL_SCALE
    assert gen.arb_scale == pytest.approx(ARB_FULL_SCALE / np.max(np.abs(np.r_[iq.real,
                                                                              iq.imag])))


def test_catalog_lists_waveform(gen: KeysightN5182B) -> None:
    iq = np.exp(2j * np.pi * np.arange(120) / 12)
    gen.load_arb_waveform("CAT_A", iq, RATE)
    gen.load_arb_waveform("CAT_B", iq, RATE)
    reply = gen.session.query(':MEM:CAT? "WFM1"')
    assert '"CAT_A,WFM1,480"' in reply
    assert {"CAT_A", "CAT_B"} <= set(gen.arb_catalog())


def test_play_sets_bench_state(sim: SimulatedBench, gen: KeysightN5182B) -> None:
    iq = np.exp(2j * np.pi * np.arange(240) / 24)
    gen.set_modulation(False)
    state = sim.bench.generator
    assert not state.arb_on and state.arb_iq is None
    gen.load_arb_waveform("PLAY", iq, RATE)
    gen.play_arb_waveform("PLAY", RATE)
    assert state.arb_on and state.modulation_on
    assert state.arb_sample_rate_hz == pytest.approx(RATE)
    assert state.arb_iq is not None and state.arb_iq.size == iq.size
    np.testing.assert_allclose(state.arb_iq, iq / np.max(np.abs(np.r_[iq.real, iq.imag])),
                               atol=1 / 32767)
    assert gen.arb_is_on() and gen.modulation_is_on()
    assert gen.session.query(":RAD:ARB:WAV?") == '"WFM1:PLAY"'
    assert float(gen.session.query(":RAD:ARB:SCL:RATE?")) == pytest.approx(RATE)


@pytest.mark.parametrize(
    ("iq", "reason"),
    [(np.zeros(0, complex), "empty"), (np.ones(61, complex), "not a multiple of 2"),
     (np.ones(58, complex), "too short")],
)
def test_bad_waveform_refused_before_sending(gen: KeysightN5182B, iq: np.ndarray,
                                             reason: str) -> None:
    before = len(gen.session.traffic)
    with pytest.raises(ValueError, match=reason):
        gen.load_arb_waveform("BAD", iq, RATE)
    assert len(gen.session.traffic) == before


def test_unknown_waveform_selection(gen: KeysightN5182B) -> None:
    with pytest.raises(InstrumentError) as info:
        gen.play_arb_waveform("NOSUCH", RATE)
    assert info.value.code == -256
    assert ':RAD:ARB:WAV "WFM1:NOSUCH"' in str(info.value)


def test_sample_rate_out_of_range(gen: KeysightN5182B) -> None:
    gen.load_arb_waveform("RATE", np.ones(60, complex), RATE)
    with pytest.raises(InstrumentError) as info:
        gen.play_arb_waveform("RATE", 1e12)
    assert info.value.code == -222
    assert ":RAD:ARB:SCL:RATE" in str(info.value)


def test_block_parsing_keeps_trailing_whitespace_payload() -> None:
    data = b"\x00\n\r\n \t"
    unit = parse_unit(':MMEM:DATA "WFM1:X",#16' + data.decode("latin-1"))
    assert unit is not None and parse_block(unit.args[1]) == data
    with pytest.raises(ScpiError):
        parse_block("#13abcd")
