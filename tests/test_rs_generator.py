"""R&S SMW200A / SMBV100B: driver → real socket → simulated generator (no VISA mocks), both models.

Covers identity, CW round trips, the level limit (the instrument clips, the driver refuses),
RF on/off and *RST on the bench, ARB download/selection/playback of .wv files, malformed files
on the error queue, and the driver's checks before any traffic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from benchbot.waveforms.nr import generate_nr
from instruments.errors import IdentityMismatch, InstrumentError
from instruments.interfaces import SignalGenerator
from instruments.registry import DRIVERS, connect, driver_class
from instruments.rohde_schwarz.smw import (
    WV_FULL_SCALE,
    WV_PEAK_CODE,
    RohdeSchwarzSMW,
    build_wv,
    wv_checksum,
)
from simulators import MODELS, SimulatedBench
from simulators.bench import GeneratorState
from simulators.rs_smw import RohdeSchwarzSMW as SimSMW
from simulators.rs_smw import WvFormatError, parse_wv
from simulators.rs_smw import wv_checksum as sim_wv_checksum
from tests.test_drivers import bench_config

RATE = 30.72e6
#: (simulator model key, driver name, *IDN? model, ARB/baseband option, part number)
MODELS_UNDER_TEST = [
    ("rs_smw200a", "rs.smw200a", "SMW200A", "SMW-B10", "1412.0000K02/"),
    ("rs_smbv100b", "rs.smbv100b", "SMBV100B", "SMBVB-K520", "1423.1003K02/"),
]


class Rig:
    """A started simulated bench whose generator is an R&S model, and the driver on it."""

    def __init__(self, sim: SimulatedBench, driver_name: str, model: str) -> None:
        self.sim = sim
        self.model = model
        self.resource = sim.resources["signal_generator"]
        self.gen: RohdeSchwarzSMW = connect(driver_name, self.resource)  # type: ignore[assignment]

    @property
    def state(self) -> GeneratorState:
        return self.sim.bench.generator

    @property
    def device(self) -> SimSMW:
        device = self.sim.devices["signal_generator"]
        assert isinstance(device, SimSMW)
        return device

    def scpi(self, command: str) -> str:
        return self.gen.session.query(command)

    def send(self, command: str) -> None:
        """Write raw SCPI and wait until the instrument has executed it (``*OPC?``)."""
        self.gen.session.write(command)
        self.gen.session.opc()

    def errors(self) -> list[str]:
        """Drain SYST:ERR? as raw replies (the last one is the 'no error' entry)."""
        replies = [self.scpi("SYST:ERR?")]
        while not replies[-1].startswith("0,"):
            replies.append(self.scpi("SYST:ERR?"))
        return replies


@pytest.fixture(params=MODELS_UNDER_TEST, ids=[m[0] for m in MODELS_UNDER_TEST])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    sim_model, driver_name, model, _, _ = request.param
    config = bench_config()
    config["instruments"] = {**config["instruments"], "signal_generator": sim_model}
    with SimulatedBench(config) as sim:
        r = Rig(sim, driver_name, model)
        try:
            yield r
        finally:
            r.gen.close()


def random_iq(n: int = 2000, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=n) + 1j * rng.normal(size=n)


def peak_component_normalised(iq: np.ndarray) -> np.ndarray:
    return iq / np.max(np.abs(np.r_[iq.real, iq.imag]))


def write_file(rig: Rig, name: str, data: bytes) -> None:
    """Put raw bytes on the instrument as /var/user/<name>.wv (no driver checks)."""
    rig.gen.session.write_binary(f":MMEM:DATA '/var/user/{name}.wv',", data)
    assert rig.scpi("SYST:ERR?") == '0,"No error"'


def wv_text(codes: np.ndarray, tags: str, samples: int | None = None,
            checksum: int | None = None) -> bytes:
    """A hand-made .wv file from int16 codes: TYPE first, then `tags`, then WAVEFORM."""
    data = codes.astype("<i2").tobytes()
    type_tag = f"{{TYPE: SMU-WV,{0 if checksum is None else checksum}}}"
    count = "" if samples is None else f"{{SAMPLES: {samples}}}"
    return (f"{type_tag}{tags}{count}{{WAVEFORM-{len(data) + 1}:#").encode() + data + b"}"


def waveform_tag(data: bytes) -> bytes:
    return f"{{WAVEFORM-{len(data) + 1}:#".encode() + data + b"}"


def tone_codes(n: int = 1024, amplitude: int = 16000) -> np.ndarray:
    t = np.arange(n)
    codes = np.empty(2 * n, dtype=np.int16)
    codes[0::2] = np.round(amplitude * np.cos(2 * np.pi * t / 32))
    codes[1::2] = np.round(amplitude * np.sin(2 * np.pi * t / 32))
    return codes


# -- identity and registry -------------------------------------------------------------------

@pytest.mark.parametrize(("sim_model", "driver_name", "model", "arb_option", "part"),
                         MODELS_UNDER_TEST)
def test_registered_both_ways(sim_model: str, driver_name: str, model: str, arb_option: str,
                              part: str) -> None:
    assert MODELS[sim_model] == "simulators.rs_smw:RohdeSchwarzSMW"
    assert DRIVERS[driver_name] == "instruments.rohde_schwarz.smw:RohdeSchwarzSMW"
    assert driver_class(driver_name) is RohdeSchwarzSMW
    assert model in RohdeSchwarzSMW.supported_models


def test_identity(rig: Rig) -> None:
    _, _, model, arb_option, part = next(m for m in MODELS_UNDER_TEST if m[2] == rig.model)
    ident = rig.gen.identity
    assert isinstance(rig.gen, SignalGenerator)
    assert (ident.manufacturer, ident.model) == ("Rohde&Schwarz", model)
    assert ident.serial.startswith(part) and ident.serial.split("/")[1].isdigit()
    assert arb_option in ident.options
    assert any(o.endswith(("B1006", "B106")) for o in ident.options)  # 6 GHz option


def test_identity_mismatch(rig: Rig) -> None:
    with pytest.raises(IdentityMismatch) as info:
        connect("keysight.n5182b", rig.resource)
    assert "Rohde&Schwarz" in info.value.idn
    with pytest.raises(IdentityMismatch):
        connect("rs.smw200a", rig.sim.resources["power_meter"])


# -- CW ---------------------------------------------------------------------------------------

def test_cw_round_trips_and_bench_state(rig: Rig) -> None:
    gen = rig.gen
    gen.set_frequency_hz(3.55e9)
    gen.set_power_dbm(-12.5)
    assert gen.frequency_hz() == 3.55e9 and gen.power_dbm() == -12.5
    gen.set_frequency_hz(123456789.0)
    assert gen.frequency_hz() == 123456789.0
    assert (rig.state.frequency_hz, rig.state.level_dbm) == (123456789.0, -12.5)
    # the same tree through other spellings of the path suffix and optional nodes
    assert rig.scpi("SOUR:FREQ?") == rig.scpi(":SOURce1:FREQuency:CW?") == "123456789"
    assert rig.scpi("POW?") == rig.scpi("SOUR1:POW:LEV:IMM:AMPL?") == "-12.5"


def test_out_of_range_is_an_rs_style_error(rig: Rig) -> None:
    with pytest.raises(InstrumentError) as info:
        rig.gen.set_frequency_hz(10e9)  # 6 GHz option
    assert info.value.code == -222 and info.value.command == ":SOUR1:FREQ:CW 10000000000"
    assert "Data out of range" in info.value.message
    rig.gen.session.write(":SOUR2:FREQ 1e9")  # there is no path B
    assert rig.errors() == ['-114,"Header suffix out of range;2 (path A only)"',
                            '0,"No error"']
    assert rig.gen.frequency_hz() == 1e9  # *RST value, untouched


# -- level limit ------------------------------------------------------------------------------

def test_level_limit_clips_the_output_not_the_display(rig: Rig) -> None:
    """Manual: POW:LIM limits the RF output; POW? still reports the level set, no error."""
    rig.send(":SOUR1:POW:LIM 0;:SOUR1:POW 5;:OUTP1 ON")
    assert rig.errors() == ['0,"No error"']
    assert rig.scpi("POW?") == "5" and rig.scpi("POW:LIM?") == "0"
    assert rig.state.rf_on and rig.state.level_dbm == 0.0
    assert any("limited to 0.00 dBm" in e[2] for e in rig.sim.bench.events)
    rig.send(":SOUR1:POW:LIM 10")
    assert rig.state.level_dbm == 5.0
    rig.send("*RST")  # the limit is not part of the preset
    assert rig.scpi("POW:LIM?") == "10" and rig.scpi("POW?") == "-30"


def test_driver_refuses_levels_above_its_limit(rig: Rig) -> None:
    gen = rig.gen
    gen.set_power_limit_dbm(5.0)
    assert gen.power_limit_dbm() == 5.0
    gen.set_power_dbm(4.0)
    before = len(gen.session.traffic)
    with pytest.raises(ValueError, match="above the level limit 5 dBm"):
        gen.set_power_dbm(6.0)
    assert len(gen.session.traffic) == before
    assert gen.power_dbm() == 4.0 and rig.state.level_dbm == 4.0
    with pytest.raises(InstrumentError) as info:
        gen.set_power_limit_dbm(45.0)  # outside the level setting range
    assert info.value.code == -222


# -- RF switch and *RST -----------------------------------------------------------------------

def test_rf_on_off_make_safe_and_reset(rig: Rig) -> None:
    gen = rig.gen
    gen.set_frequency_hz(3.55e9)
    gen.set_power_dbm(-7.0)
    gen.set_rf_output(True)
    assert gen.rf_output_is_on() and rig.state.rf_on
    gen.make_safe()
    assert not rig.state.rf_on and not gen.rf_output_is_on()
    gen.set_rf_output(True)
    rig.send("*RST")
    assert not rig.state.rf_on and rig.scpi("OUTP?") == "0"
    assert (rig.state.frequency_hz, rig.state.level_dbm) == (1e9, -30.0)
    gen.set_rf_output(True)
    gen.reset()
    assert not rig.state.rf_on
    assert any("RF OFF (*RST)" in e[2] for e in rig.sim.bench.events)


# -- ARB --------------------------------------------------------------------------------------

def test_build_wv_tags_checksum_and_offsets() -> None:
    iq = random_iq(600)
    data, scale = build_wv(iq, RATE, comment="unit test")
    assert data.startswith(b"{TYPE: SMU-WV,") and data.endswith(b"}")
    wv = parse_wv(data)  # the simulator's parser, independent of the driver's writer
    assert wv.samples == 600 and wv.clock_hz == RATE
    assert wv.tags["SAMPLES"] == "600" and wv.tags["COMMENT"] == "unit test"
    start = data.index(b":#", data.index(b"{WAVEFORM-")) + 2
    payload = data[start:-1]
    assert len(payload) == 4 * 600
    # manual algorithm, word by word
    expected = 0xA50F74FF
    for k in range(0, len(payload), 4):
        expected ^= int.from_bytes(payload[k:k + 4], "little")
    assert int(wv.tags["TYPE"].split(",")[1]) == expected == wv_checksum(payload)
    assert sim_wv_checksum(payload) == expected
    codes = wv.codes.astype(float)
    mag = np.hypot(codes[0::2], codes[1::2])
    assert WV_PEAK_CODE - 1 <= mag.max() <= WV_FULL_SCALE  # vector peak on full scale
    assert wv.rms_offset_db == pytest.approx(20 * math.log10(WV_FULL_SCALE / np.sqrt(np.mean(
        mag**2))), abs=1e-6)
    assert 0.0 <= wv.peak_offset_db < 1e-3  # type: ignore[operator]
    np.testing.assert_allclose(codes[0::2], iq.real * scale, atol=0.5)
    np.testing.assert_allclose(codes[1::2], iq.imag * scale, atol=0.5)


def test_download_and_play_random_waveform(rig: Rig) -> None:
    gen, state = rig.gen, rig.state
    iq = random_iq()
    gen.set_modulation(False)
    assert not state.modulation_on and not state.arb_on and state.arb_iq is None
    gen.set_power_dbm(-10.0)
    gen.load_arb_waveform("RANDOM", iq, RATE)
    assert "RANDOM" in gen.arb_catalog()
    assert any(t[2].startswith(":MMEM:DATA '/var/user/RANDOM.wv',<binary") for t in
               gen.session.traffic)
    gen.play_arb_waveform("RANDOM", RATE)
    assert state.arb_on and state.modulation_on
    assert gen.arb_is_on() and gen.modulation_is_on()
    assert gen.arb_selected() == "/var/user/RANDOM.wv"
    assert state.arb_sample_rate_hz == pytest.approx(RATE) == gen.arb_clock_hz()
    assert state.arb_iq is not None and state.arb_iq.size == iq.size
    # stored normalised to peak |I|/|Q| = 1, equal to the input within int16 quantisation
    expected = peak_component_normalised(iq)
    quantum = 1.0 / (WV_PEAK_CODE / np.sqrt(2))
    np.testing.assert_allclose(state.arb_iq.real, expected.real, atol=quantum)
    np.testing.assert_allclose(state.arb_iq.imag, expected.imag, atol=quantum)
    assert np.max(np.abs(np.r_[state.arb_iq.real, state.arb_iq.imag])) == 1.0
    # correct LEVEL OFFS: the RF RMS level is the level set; PEP = RMS + crest factor
    assert state.level_dbm == -10.0
    rms_db, peak_db = (float(v) for v in rig.scpi("BB:ARB:WAV:TAG? 'LEVEL OFFS'")
                       .strip('"').split(","))
    assert gen.pep_dbm() == pytest.approx(-10.0 + rms_db - peak_db, abs=0.01)
    gen.set_modulation(False)  # I/Q modulator off: CW again, ARB still running
    assert not rig.sim.bench.arb_playing() and state.arb_on


def test_clock_override_and_nr_waveform(rig: Rig) -> None:
    nr = generate_nr(bandwidth_mhz=5, scs_khz=15, n_slots=1, seed=2)
    gen = rig.gen
    gen.load_arb_waveform("NR5M", nr.iq, nr.sample_rate_hz)
    rig.send(":SOUR1:BB:ARB:WAV:SEL 'NR5M'")  # relative name, .wv implied
    assert rig.scpi("BB:ARB:CLOC?") == f"{nr.sample_rate_hz:.15g}"  # CLOCK tag on loading
    gen.play_arb_waveform("NR5M", 2 * nr.sample_rate_hz)  # set afterwards: overrides
    assert rig.state.arb_sample_rate_hz == 2 * nr.sample_rate_hz
    np.testing.assert_allclose(rig.state.arb_iq, peak_component_normalised(nr.iq),
                               atol=1.0 / (WV_PEAK_CODE / np.sqrt(2)))
    with pytest.raises(InstrumentError) as info:
        gen.play_arb_waveform("NR5M", 1e12)
    assert info.value.code == -222 and ":SOUR1:BB:ARB:CLOC" in str(info.value)


def test_level_uses_the_files_rms_offset(rig: Rig) -> None:
    """A file whose LEVEL OFFS understates the crest factor puts out less RMS power."""
    codes = tone_codes()  # constant envelope at 16000/32767: true RMS offset 6.22 dB
    true_rms_db = 20 * math.log10(WV_FULL_SCALE / 16000)
    write_file(rig, "TONE0", wv_text(codes, "{CLOCK: 1e6}{LEVEL OFFS: 0,0}", samples=1024))
    rig.gen.set_power_dbm(-20.0)
    rig.gen.play_arb_waveform("TONE0", 1e6)
    assert rig.gen.power_dbm() == -20.0
    assert rig.state.level_dbm == pytest.approx(-20.0 - true_rms_db, abs=0.01)
    good = f"{{CLOCK: 1e6}}{{LEVEL OFFS: {true_rms_db:.4f},{true_rms_db:.4f}}}"
    write_file(rig, "TONE1", wv_text(codes, good, checksum=wv_checksum(codes.tobytes())))
    rig.gen.play_arb_waveform("TONE1", 1e6)
    assert rig.state.level_dbm == -20.0
    assert rig.gen.pep_dbm() == -20.0  # constant envelope: PEP = RMS


MALFORMED: list[tuple[str, Any, str]] = [
    ("bad SAMPLES", lambda c: wv_text(c, "{CLOCK: 1e6}", samples=1000),
     "SAMPLES tag says 1000, the WAVEFORM tag holds 1024"),
    ("no CLOCK", lambda c: wv_text(c, "{LEVEL OFFS: 3,0}", samples=1024),
     "CLOCK tag missing"),
    ("TYPE not first", lambda c: b"{CLOCK: 1e6}" + wv_text(c, ""),
     "TYPE tag missing or not the first tag"),
    ("no WAVEFORM", lambda c: b"{TYPE: SMU-WV,0}{CLOCK: 1e6}{SAMPLES: 1024}",
     "WAVEFORM tag missing"),
    ("bad checksum", lambda c: wv_text(c, "{CLOCK: 1e6}", checksum=12345),
     "checksum 12345 in the TYPE tag"),
    ("truncated", lambda c: wv_text(c, "{CLOCK: 1e6}")[:-100],
     "no '}' after the 4097 bytes"),
    ("odd bytes", lambda c: b"{TYPE: SMU-WV,0}{CLOCK: 1e6}" + waveform_tag(c.tobytes() + b"ab"),
     "not whole int16 I/Q pairs"),
    ("too short", lambda c: wv_text(c[:200], "{CLOCK: 1e6}"),
     "100 samples, the ARB needs at least 512"),
    ("clock out of range", lambda c: wv_text(c, "{CLOCK: 5e9}"),
     "outside the ARB clock range"),
    ("negative RMS offset", lambda c: wv_text(c, "{CLOCK: 1e6}{LEVEL OFFS: -3,0}"),
     "RMS offset -3.0 dB is negative"),
]


@pytest.mark.parametrize(("case", "make", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused_on_selection(rig: Rig, case: str, make: Any,
                                                reason: str) -> None:
    write_file(rig, "BAD", make(tone_codes()))  # writing any bytes is fine
    with pytest.raises(InstrumentError) as info:
        rig.gen.play_arb_waveform("BAD", 1e6)
    assert info.value.code == -230
    assert reason in info.value.message and "/var/user/BAD.wv" in info.value.message
    assert info.value.command == ":SOUR1:BB:ARB:WAV:SEL '/var/user/BAD.wv'"
    assert not rig.state.arb_on and rig.state.arb_iq is None
    assert rig.scpi("SYST:ERR?") == '0,"No error"'  # the driver drained the queue


def test_malformed_file_on_the_raw_error_queue(rig: Rig) -> None:
    write_file(rig, "RAW", wv_text(tone_codes(), "{CLOCK: 1e6}", samples=7))
    rig.gen.session.write("BB:ARB:WAV:SEL '/var/user/RAW.wv'")
    assert rig.errors() == ['-230,"Data corrupt or stale;/var/user/RAW.wv: SAMPLES tag says 7, '
                            'the WAVEFORM tag holds 1024 I/Q samples"', '0,"No error"']


def test_selection_and_state_errors(rig: Rig) -> None:
    with pytest.raises(InstrumentError) as info:
        rig.gen.play_arb_waveform("NOSUCH", RATE)
    assert info.value.code == -256 and "/var/user/NOSUCH.wv" in info.value.message
    rig.gen.session.write(":SOUR1:BB:ARB:STAT ON")  # nothing loaded
    assert rig.errors()[0].startswith("-221,")
    rig.gen.session.write(":MMEM:DATA '/etc/passwd',#11x")
    assert rig.errors()[0].startswith("-257,")


def test_file_round_trip_and_catalog(rig: Rig) -> None:
    iq = random_iq(700)
    rig.gen.load_arb_waveform("CAT_A", iq, RATE)
    rig.gen.load_arb_waveform("CAT_B", iq, RATE)
    stored = rig.device.files["/var/user/CAT_A.wv"]
    assert parse_wv(stored).samples == 700
    length = str(len(stored))  # MMEM:DATA? gives the file back as a definite-length block
    reply = rig.device.process(b":MMEM:DATA? '/var/user/CAT_A.wv'\n")
    assert reply == f"#{len(length)}{length}".encode() + stored + b"\n"
    assert {"CAT_A", "CAT_B"} <= set(rig.gen.arb_catalog())
    assert f'"CAT_A.wv,BIN,{len(stored)}"' in rig.scpi(":MMEM:CAT? '/var/user'")


@pytest.mark.parametrize(
    ("iq", "reason"),
    [(np.zeros(0, complex), "empty"), (np.ones(100, complex), "too short"),
     (np.zeros(600, complex), "all zeros"), (np.full(600, np.nan + 0j), "NaN"),
     (np.ones((2, 600), complex), "1-D")],
)
def test_bad_waveform_refused_before_sending(rig: Rig, iq: np.ndarray, reason: str) -> None:
    before = len(rig.gen.session.traffic)
    with pytest.raises(ValueError, match=reason):
        rig.gen.load_arb_waveform("BAD", iq, RATE)
    assert len(rig.gen.session.traffic) == before


@pytest.mark.parametrize(("name", "rate"), [("a/b", RATE), ("", RATE), ("x'y", RATE),
                                            ("OK", 0.0), ("OK", math.nan)])
def test_bad_name_or_rate_refused_before_sending(rig: Rig, name: str, rate: float) -> None:
    before = len(rig.gen.session.traffic)
    with pytest.raises(ValueError):
        rig.gen.load_arb_waveform(name, random_iq(600), rate)
    with pytest.raises(ValueError):
        rig.gen.play_arb_waveform(name, rate)
    assert len(rig.gen.session.traffic) == before


def test_parser_tolerances() -> None:
    """Blanks between tags, an uncounted blank before '#', unknown tags, checksum 0."""
    codes = tone_codes()
    data = codes.tobytes()
    text = (b"{TYPE: SMU-WV, 0}\r\n{CLOCK: 1000000}\n{MY TAG: kept}  "
            + f"{{EMPTYTAG-5:#    }}{{WAVEFORM-{len(data) + 1}: #".encode() + data + b"}")
    wv = parse_wv(text)
    assert wv.samples == 1024 and wv.tags["MY TAG"] == "kept" and wv.rms_offset_db is None
    with pytest.raises(WvFormatError, match="SMU-MWV"):
        parse_wv(b"{TYPE: SMU-MWV,0}{CLOCK: 1}" + text[text.index(b"{WAVEFORM"):])
