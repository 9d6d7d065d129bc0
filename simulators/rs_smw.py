"""Rohde & Schwarz SMW200A and SMBV100B vector signal generators (RF path A and its ARB) on the
virtual bench; one class serves both model keys, `rs_smw200a` and `rs_smbv100b`.

Command forms come from the R&S SMW200A user manual (1175.6632.02) and the SMBV100B user manual
(1178.4460.02), SOURce/OUTPut/MMEMory subsystems, and from the public RsSmw examples
(Rohde-Schwarz/Examples ``RsSmw_ComposeAndLoadWaveform*``):

- ``[:SOURce<hw>]:FREQuency[:CW|:FIXed]``, ``[:SOURce<hw>]:POWer[:LEVel][:IMMediate][:AMPLitude]``
  (*RST -30 dBm), ``:OUTPut<hw>[:STATe]`` (*RST off). Only path A exists here: ``<hw>`` = 1.
- ``[:SOURce<hw>]:POWer:LIMit[:AMPLitude]``: "Limits the maximum RF output level in CW and SWEEP
  mode. It does not influence the Level display or the response to the POW? query" (*RST n.a.,
  factory preset 30 dBm). A level set above the limit is therefore accepted and POW? returns it;
  the RF output (the bench state) stays at the limit.
- No ``:OUTPut:MODulation``. The modulation switch simulated is the I/Q modulator
  ``[:SOURce<hw>]:IQ:STATe``; ``BB:ARB:STATe ON`` switches it on as the instrument does when a
  baseband source is activated [verify].
- ARB: a waveform is a file. ``:MMEMory:DATA '<path>',<block>`` (or
  ``[:SOURce<hw>]:BB:ARBitrary:WAVeform:DATA``) writes the bytes as they are; the file is parsed
  only when ``[:SOURce<hw>]:BB:ARBitrary:WAVeform:SELect '<path>'`` loads it into the ARB,
  which also sets ``BB:ARB:CLOCk`` from its CLOCK tag ("This command subsequently changes the
  clock rate"). ``BB:ARB:STATe ON`` plays it.
- Level with a waveform playing: the level set is the RMS level; the instrument derives the
  full-scale gain from the file's ``LEVEL OFFS`` RMS offset. A wrong tag therefore gives a wrong
  RMS output power, and the bench gets what the hardware would put out.

Waveform file (manual "Tags for Waveforms, Data and Control Lists"): ``{TYPE: SMU-WV,<checksum>}``
first, ``{CLOCK: <Hz>}`` mandatory, ``{LEVEL OFFS: <rms dB>,<peak dB>}`` and ``{SAMPLES: <n>}``
recommended, ``{WAVEFORM-<len>:#<I0 Q0 I1 Q1 ...>}`` with int16 little-endian samples and
``len`` = 4·samples + 1 (the '#'); unknown tags are kept and ignored. Full scale is the vector
magnitude |I+jQ| = 32767. The checksum is the XOR of the data as little-endian uint32 words,
starting from 0xA50F74FF; 0 or a non-numeric value means "not given". The manual says the
instrument does not verify it; this simulator does, so a driver bug shows up here.

Items marked [verify] could not be confirmed against the manual text.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass

import numpy as np

from simulators.bench import GeneratorState, VirtualBench
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    parse_block,
    parse_bool,
    parse_number,
    parse_string,
)

# ---------------------------------------------------------------------------------------------
# Waveform files (.wv)
# ---------------------------------------------------------------------------------------------

#: full scale of the I/Q vector: max |I+jQ| = 2**15 - 1 (manual, LEVEL OFFS tag)
WV_FULL_SCALE = 32767
#: checksum start value (manual, TYPE tag: ``result = 0xA50F74FF; result ^= word[i]``)
WV_CHECKSUM_SEED = 0xA50F74FF
#: binary tags: ``{NAME-<length>:#<data>}``, length counted from the ':' to the '}'
_BINARY_TAG = re.compile(r"^(W?WAVEFORM|EMPTYTAG|DATA LIST|CONTROL LIST WIDTH4)-(\d+)$")
_TAG_NAME = re.compile(r"^[A-Z][A-Z0-9 _\-]*$")
_BINARY_NAMES = {"WAVEFORM", "WWAVEFORM", "EMPTYTAG", "DATA LIST", "CONTROL LIST WIDTH4"}
#: error for a waveform file the ARB cannot load [verify code against the SMW error list]
ERR_BAD_WAVEFORM = -230


class WvFormatError(ValueError):
    """A waveform file the ARB refuses to load; the message names the problem."""


@dataclass(frozen=True)
class WvFile:
    """A parsed single-segment waveform file."""

    codes: np.ndarray  # int16 I,Q interleaved, as stored
    clock_hz: float
    rms_offset_db: float | None  # LEVEL OFFS, None if the tag is absent
    peak_offset_db: float | None
    tags: dict[str, str]  # every text tag, name → content as written

    @property
    def samples(self) -> int:
        return self.codes.size // 2


def wv_checksum(data: bytes) -> int:
    """XOR of `data` as little-endian uint32 words, seeded with 0xA50F74FF (manual, TYPE tag)."""
    words = np.frombuffer(data, dtype="<u4")
    return WV_CHECKSUM_SEED ^ int(np.bitwise_xor.reduce(words)) if words.size else WV_CHECKSUM_SEED


def _split_tags(data: bytes) -> list[tuple[str, bytes]]:
    """``{NAME: content}`` tags in file order; binary tags give their raw data after the '#'.

    Blanks between tags are tolerated (the manual's examples break lines "for better reading").
    A binary tag's length counts the bytes from the ':' to the '}'; a writer that put one blank
    before the '#' without counting it is tolerated, as R&S's own RsWaveform loader does.
    """
    tags: list[tuple[str, bytes]] = []
    i, n = 0, len(data)
    while True:
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if i >= n:
            return tags
        if data[i] != 0x7B:  # '{'
            raise WvFormatError(f"byte {i}: expected '{{' to open a tag")
        colon = data.find(b":", i)
        if colon < 0:
            raise WvFormatError(f"byte {i}: tag without ':'")
        name = data[i + 1 : colon].decode("latin-1").strip().upper()
        if not _TAG_NAME.match(name):
            raise WvFormatError(f"byte {i}: malformed tag name {name[:40]!r}")
        binary = _BINARY_TAG.match(name)
        if binary:
            tag, payload, i = _binary_tag(data, binary.group(1), int(binary.group(2)), colon)
            tags.append((tag, payload))
            continue
        close = data.find(b"}", colon)
        if close < 0:
            raise WvFormatError(f"tag {name}: no closing '}}'")
        tags.append((name, data[colon + 1 : close].strip()))
        i = close + 1


def _binary_tag(data: bytes, tag: str, length: int, colon: int) -> tuple[str, bytes, int]:
    """(tag, data after '#', index after '}') of a ``{TAG-<length>:#...}`` tag."""
    start = colon + 1
    if data[start : start + 2] == b" #":
        start += 1  # uncounted blank before '#'
    if data[start : start + 1] != b"#":
        raise WvFormatError(f"{tag}: expected '#' after '{tag}-{length}:'")
    end = start + length
    if length < 1 or end > len(data) - 1 or data[end] != 0x7D:  # '}'
        raise WvFormatError(f"{tag}: no '}}' after the {length} bytes its length declares "
                            f"(file has {len(data) - start} bytes from the '#')")
    return tag, data[start + 1 : end], end + 1


def _float(text: str, tag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WvFormatError(f"{tag} tag {text!r} is not a number") from None
    if not math.isfinite(value):
        raise WvFormatError(f"{tag} tag {text!r} is not finite")
    return value


def _type_tag(content: str) -> tuple[str, int]:
    """``SMU-WV,106656`` → ("SMU-WV", 106656); a missing or non-numeric checksum is 0."""
    magic, _, checksum = content.partition(",")
    checksum = checksum.strip()
    return magic.strip().upper(), int(checksum) if checksum.isdigit() else 0


def _level_offsets(text: dict[str, str]) -> tuple[float | None, float | None]:
    if "LEVEL OFFS" not in text:
        return None, None
    parts = text["LEVEL OFFS"].split(",")
    if len(parts) != 2:
        raise WvFormatError(f"LEVEL OFFS tag {text['LEVEL OFFS']!r}: need '<rms dB>,<peak dB>'")
    rms, peak = (_float(p.strip(), "LEVEL OFFS") for p in parts)
    if rms < 0:
        raise WvFormatError(f"LEVEL OFFS RMS offset {rms} dB is negative (the RMS level "
                            "cannot be above full scale)")
    return rms, peak


def parse_wv(data: bytes) -> WvFile:
    """Parse a single-segment waveform file; `WvFormatError` names the first problem found."""
    tags = _split_tags(data)
    if not tags or tags[0][0] != "TYPE":
        raise WvFormatError("TYPE tag missing or not the first tag")
    text: dict[str, str] = {}
    waveform: bytes | None = None
    for name, value in tags:
        if name == "WWAVEFORM":
            raise WvFormatError("encrypted waveform (WWAVEFORM) cannot be simulated")
        if name == "WAVEFORM":
            if waveform is not None:
                raise WvFormatError("more than one WAVEFORM tag")
            waveform = value
        elif name not in _BINARY_NAMES:
            text[name] = value.decode("latin-1")
    magic, checksum = _type_tag(text["TYPE"])
    if magic != "SMU-WV":
        raise WvFormatError(f"TYPE {magic!r}: only single-segment waveforms (SMU-WV) simulated")
    if waveform is None:
        raise WvFormatError("WAVEFORM tag missing")
    if len(waveform) % 4:
        raise WvFormatError(f"WAVEFORM data is {len(waveform)} bytes, not whole int16 I/Q pairs")
    if checksum and checksum != wv_checksum(waveform):
        raise WvFormatError(f"checksum {checksum} in the TYPE tag, the data gives "
                            f"{wv_checksum(waveform)}")
    if "CLOCK" not in text:
        raise WvFormatError("CLOCK tag missing (mandatory for waveforms)")
    clock_hz = _float(text["CLOCK"], "CLOCK")
    samples = len(waveform) // 4
    if "SAMPLES" in text:
        declared = text["SAMPLES"].strip()
        if not declared.isdigit() or int(declared) != samples:
            raise WvFormatError(f"SAMPLES tag says {declared}, the WAVEFORM tag holds {samples} "
                                "I/Q samples")
    rms, peak = _level_offsets(text)
    codes = np.frombuffer(waveform, dtype="<i2").astype(np.int16)
    return WvFile(codes, clock_hz, rms, peak, text)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the SMW200A and the SMBV100B (data sheets; see [verify] notes)."""

    idn: tuple[str, str, str, str]
    options: tuple[str, ...]
    min_frequency_hz: float
    frequency_options: dict[str, float]  # option → maximum frequency
    min_level_dbm: float
    max_level_dbm: float
    arb_min_clock_hz: float
    arb_max_clock_hz: float
    arb_min_samples: int
    arb_memory_samples: int


SPECS: dict[str, ModelSpec] = {
    # SMW200A: B1006 = RF path A 100 kHz..6 GHz, B13 = baseband main module (one I/Q path),
    # B10 = baseband generator with ARB, 64 Msample, clock 400 Hz..200 MHz [verify all three]
    "rs_smw200a": ModelSpec(
        idn=("Rohde&Schwarz", "SMW200A", "1412.0000K02/101234", "5.30.047.32"),  # fw [verify]
        options=("SMW-B1006", "SMW-B13", "SMW-B10"),
        min_frequency_hz=100e3,
        frequency_options={"SMW-B1003": 3e9, "SMW-B1006": 6e9, "SMW-B1012": 12.75e9,
                           "SMW-B1020": 20e9, "SMW-B1031": 31.8e9, "SMW-B1040": 40e9},
        min_level_dbm=-145.0, max_level_dbm=30.0,  # setting range [verify]
        arb_min_clock_hz=400.0, arb_max_clock_hz=200e6,
        arb_min_samples=512, arb_memory_samples=64 * 2**20,  # [verify]
    ),
    # SMBV100B: B106 = 8 kHz..6 GHz; the ARB is in the base unit, K520 = real-time extension
    # listed as the baseband option here; clock 400 Hz..240 MHz [verify all]
    "rs_smbv100b": ModelSpec(
        idn=("Rohde&Schwarz", "SMBV100B", "1423.1003K02/102345", "5.30.047.32"),  # fw [verify]
        options=("SMBVB-B106", "SMBVB-K520"),
        min_frequency_hz=8e3,
        frequency_options={"SMBVB-B103": 3e9, "SMBVB-B106": 6e9},
        min_level_dbm=-145.0, max_level_dbm=30.0,  # setting range [verify]
        arb_min_clock_hz=400.0, arb_max_clock_hz=240e6,
        arb_min_samples=512, arb_memory_samples=64 * 2**20,  # [verify]
    ),
}

#: settling after a frequency, level or RF state change (s, scaled by time_scale)
SETTLE_S = 0.005
#: loading a waveform into the ARB on selection (s, scaled); *OPC? waits for it
LOAD_S = 0.02
PRESET_FREQUENCY_HZ = 1e9  # *RST [verify]
PRESET_LEVEL_DBM = -30.0  # *RST (manual: POWer *RST -30)
FACTORY_LIMIT_DBM = 30.0  # POW:LIM factory preset; *RST leaves it alone
ARB_PRESET_CLOCK_HZ = 1e6  # BB:ARB:CLOCk *RST [verify]
USER_DIRECTORY = "/var/user"
WRITABLE_ROOTS = ("/var/user", "/var/volatile")  # user data, RAM disk [verify]
STORAGE_BYTES = 16 * 2**30  # reported by MMEM:CAT? [verify]


@dataclass(frozen=True)
class LoadedWaveform:
    """The waveform in the ARB memory (loaded at selection; later file writes don't change it)."""

    path: str
    wv: WvFile
    iq: np.ndarray  # complex, peak |I|/|Q| = 1 (the bench's convention)
    level_error_db: float  # RF RMS level minus the level set: tag RMS offset − true RMS offset
    crest_db: float  # peak-to-RMS of the samples


def _loaded(path: str, wv: WvFile) -> LoadedWaveform:
    codes = wv.codes.astype(np.float64)
    i, q = codes[0::2], codes[1::2]
    power = i * i + q * q
    mean_power = float(np.mean(power))
    if mean_power == 0.0:
        raise WvFormatError("every sample is zero (nothing to play)")
    true_rms_offset_db = 10.0 * math.log10(WV_FULL_SCALE**2 / mean_power)
    tag_rms_db = wv.rms_offset_db if wv.rms_offset_db is not None else 0.0  # [verify]
    peak_component = float(np.max(np.abs(codes)))
    return LoadedWaveform(
        path=path, wv=wv, iq=(i + 1j * q) / peak_component,
        level_error_db=tag_rms_db - true_rms_offset_db,
        crest_db=10.0 * math.log10(float(np.max(power)) / mean_power),
    )


class RohdeSchwarzSMW(ScpiDevice):
    """SMW200A / SMBV100B path A: CW frequency and level, level limit, RF and I/Q modulator
    switches, waveform files and the ARB."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "signal_generator",
                 model: str = "rs_smw200a") -> None:
        if model not in SPECS:
            raise KeyError(f"unknown R&S generator model {model!r}; known: {sorted(SPECS)}")
        self.spec = SPECS[model]
        self.idn = self.spec.idn
        self.options = self.spec.options
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.max_frequency_hz = max(
            (f for o, f in self.spec.frequency_options.items() if o in self.options), default=6e9)
        self.level_dbm = PRESET_LEVEL_DBM  # what POW? reports (the output may be limited)
        self.limit_dbm = min(FACTORY_LIMIT_DBM, self.spec.max_level_dbm)
        self.iq_on = False
        self.arb_clock_hz = ARB_PRESET_CLOCK_HZ
        self.loaded: LoadedWaveform | None = None
        self.files: dict[str, bytes] = {}  # absolute path → file content
        self.cdir = USER_DIRECTORY
        self._register_rf()
        self._register_arb()
        self._register_mmem()
        self.reset()

    def _register_rf(self) -> None:
        c = self.command
        c("[:SOURce<n>]:FREQuency[:CW|:FIXed]", set=self._set_freq, query=self._query_freq)
        c("[:SOURce<n>]:POWer[:LEVel][:IMMediate][:AMPLitude]", set=self._set_level,
          query=self._query_level)
        c("[:SOURce<n>]:POWer:LIMit[:AMPLitude]", set=self._set_limit,
          query=lambda a, s: self._on_path(s, _nr(self.limit_dbm)))
        c("[:SOURce<n>]:POWer:PEP", query=self._query_pep)
        c(":OUTPut<n>[:STATe]", set=self._set_rf,
          query=lambda a, s: self._on_path(s, _b(self.state.rf_on)))
        c("[:SOURce<n>]:IQ:STATe", set=self._set_iq,
          query=lambda a, s: self._on_path(s, _b(self.iq_on)))

    def _register_arb(self) -> None:
        c = self.command
        c("[:SOURce<n>]:BB:ARBitrary:STATe", set=self._set_arb_state,
          query=lambda a, s: self._on_path(s, _b(self.state.arb_on)))
        c("[:SOURce<n>]:BB:ARBitrary:CLOCk", set=self._set_arb_clock,
          query=lambda a, s: self._on_path(s, _nr(self.arb_clock_hz)))
        c("[:SOURce<n>]:BB:ARBitrary:WAVeform:SELect", set=self._select,
          query=lambda a, s: self._on_path(s, _quoted(self.loaded.path if self.loaded else "")))
        c("[:SOURce<n>]:BB:ARBitrary:WAVeform:CATalog", query=self._query_wv_catalog)
        c("[:SOURce<n>]:BB:ARBitrary:WAVeform:DATA", set=self._write_file)
        c("[:SOURce<n>]:BB:ARBitrary:WAVeform:TAG", query=self._query_tag)

    def _register_mmem(self) -> None:
        c = self.command
        c(":MMEMory:DATA", set=self._write_file, query=self._read_file)
        c(":MMEMory:CATalog", query=self._query_mmem_catalog)
        c(":MMEMory:CDIRectory", set=self._set_cdir, query=lambda a, s: _quoted(self.cdir))
        c(":MMEMory:DELete", set=self._delete_file)

    @property
    def state(self) -> GeneratorState:
        """The generator's physical state lives on the bench (tests may poke it)."""
        return self.bench.generator

    @staticmethod
    def _format_error(code: int, message: str) -> str:
        """R&S error queue entries carry no '+' sign: ``0,"No error"``, ``-222,"..."``."""
        return f'{code:d},"{message}"'

    def reset(self) -> None:
        """*RST: RF off, 1 GHz, -30 dBm, I/Q modulator and ARB off, ARB clock preset.

        The level limit (factory preset only), the files and the loaded waveform survive
        [verify the selection against the SMW preset table].
        """
        super().reset()
        st = self.state
        if st.rf_on:
            self._log("RF OFF (*RST)")
        if st.arb_on:
            self._log("ARB OFF (*RST)")
        st.rf_on = False
        st.frequency_hz = PRESET_FREQUENCY_HZ
        self.level_dbm = PRESET_LEVEL_DBM
        self.iq_on = False
        self.arb_clock_hz = ARB_PRESET_CLOCK_HZ
        st.arb_on = False
        st.arb_iq = None
        st.arb_sample_rate_hz = None
        self._publish()

    # ------------------------------------------------------------------ helpers
    def _log(self, text: str) -> None:
        self.bench.log_event(self.role, text)

    @staticmethod
    def _on_path(suffixes: tuple[int, ...], reply: str) -> str:
        _check_path(suffixes)
        return reply

    def _publish(self) -> None:
        """Write the RF output to the bench: the level after the limit and, with the ARB
        playing through the I/Q modulator, the error of the file's RMS offset."""
        st = self.state
        out_dbm = min(self.level_dbm, self.limit_dbm)
        if st.arb_on and self.iq_on and self.loaded is not None:
            out_dbm += self.loaded.level_error_db
        st.level_dbm = round(out_dbm, 2)  # 0.01 dB level setting resolution
        st.modulation_on = self.iq_on
        self.bench.update()

    def _number(self, args: list[str], unit: str, lo: float, hi: float, default: float,
                what: str) -> float:
        """`parse_number` with the R&S error context (``Data out of range;FREQ 1e10``)."""
        if not args:
            raise ScpiError(-109, f"Missing parameter;{what}")
        try:
            return parse_number(args[0], unit, minimum=lo, maximum=hi, default=default)
        except ScpiError as err:
            raise ScpiError(err.code, f"{err.message};{what} {args[0]}") from None

    # ------------------------------------------------------------------ RF
    def _set_freq(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        f = self._number(args, "HZ", self.spec.min_frequency_hz, self.max_frequency_hz,
                         PRESET_FREQUENCY_HZ, "FREQ")
        self.state.frequency_hz = f
        self.start_operation(SETTLE_S)
        self._log(f"frequency {f:.6g} Hz")
        self._publish()

    def _query_freq(self, args: list[str], s: tuple[int, ...]) -> str:
        _check_path(s)
        if args:
            return _nr(self._number(args, "HZ", self.spec.min_frequency_hz,
                                    self.max_frequency_hz, PRESET_FREQUENCY_HZ, "FREQ?"))
        return _nr(self.state.frequency_hz)

    def _set_level(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        p = self._number(args, "DBM", self.spec.min_level_dbm, self.spec.max_level_dbm,
                         PRESET_LEVEL_DBM, "POW")
        self.level_dbm = round(p, 2)  # 0.01 dB resolution
        if self.level_dbm > self.limit_dbm:
            self._log(f"level {self.level_dbm:.2f} dBm limited to {self.limit_dbm:.2f} dBm "
                      "(POW:LIM)")
        else:
            self._log(f"level {self.level_dbm:.2f} dBm")
        self.start_operation(SETTLE_S)
        self._publish()

    def _query_level(self, args: list[str], s: tuple[int, ...]) -> str:
        _check_path(s)
        if args:
            return _nr(self._number(args, "DBM", self.spec.min_level_dbm,
                                    self.spec.max_level_dbm, PRESET_LEVEL_DBM, "POW?"))
        return _nr(self.level_dbm)

    def _set_limit(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        self.limit_dbm = round(self._number(args, "DBM", self.spec.min_level_dbm,
                                            self.spec.max_level_dbm, FACTORY_LIMIT_DBM,
                                            "POW:LIM"), 2)
        self._log(f"level limit {self.limit_dbm:.2f} dBm")
        self._publish()

    def _query_pep(self, args: list[str], s: tuple[int, ...]) -> str:
        """PEP = RMS level + crest factor of the playing waveform (CW: the level) [verify]."""
        _check_path(s)
        level = min(self.level_dbm, self.limit_dbm)
        if self.state.arb_on and self.iq_on and self.loaded is not None:
            wv = self.loaded.wv
            if wv.rms_offset_db is not None and wv.peak_offset_db is not None:
                return _nr(round(level + wv.rms_offset_db - wv.peak_offset_db, 2))
            return _nr(round(level + self.loaded.crest_db, 2))
        return _nr(level)

    def _set_rf(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        on = parse_bool(args[0])
        if on != self.state.rf_on:
            self._log("RF ON" if on else "RF OFF")
        self.state.rf_on = on
        self.start_operation(SETTLE_S)
        self._publish()

    def _set_iq(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        on = parse_bool(args[0])
        if on != self.iq_on:
            self._log("I/Q modulator ON" if on else "I/Q modulator OFF")
        self.iq_on = on
        self._publish()

    # ------------------------------------------------------------------ ARB
    def _set_arb_state(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        on = parse_bool(args[0])
        st = self.state
        if on and self.loaded is None:
            raise ScpiError(-221, "Settings conflict;no waveform selected (BB:ARB:WAV:SEL)")
        if on != st.arb_on:
            self._log("ARB ON" if on else "ARB OFF")
        st.arb_on = on
        if on:
            self.iq_on = True  # a baseband source switched on drives the I/Q modulator [verify]
            self._apply_arb()
        else:
            st.arb_iq = None
            st.arb_sample_rate_hz = None
            self._publish()

    def _set_arb_clock(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        self.arb_clock_hz = self._number(args, "HZ", self.spec.arb_min_clock_hz,
                                         self.spec.arb_max_clock_hz, ARB_PRESET_CLOCK_HZ,
                                         "BB:ARB:CLOC")
        if self.state.arb_on:
            self._apply_arb()

    def _select(self, args: list[str], s: tuple[int, ...]) -> None:
        """Load a waveform file into the ARB: parse it, check it against the ARB, take its clock."""
        _check_path(s)
        if not args:
            raise ScpiError(-109, "Missing parameter;BB:ARB:WAV:SEL")
        path = self._resolve(args[0], default_suffix=".wv")
        if path not in self.files:
            raise ScpiError(-256, f"File name not found;{path}")
        try:
            wv = parse_wv(self.files[path])
            self._check_fits(wv)
            loaded = _loaded(path, wv)
        except WvFormatError as err:
            raise ScpiError(ERR_BAD_WAVEFORM, f"Data corrupt or stale;{path}: {err}") from None
        self.loaded = loaded
        self.arb_clock_hz = wv.clock_hz  # the CLOCK tag sets the ARB clock on loading
        self.start_operation(LOAD_S)
        self._log(f"ARB waveform {path} loaded ({wv.samples} samples, {wv.clock_hz:.6g} Hz)")
        if self.state.arb_on:
            self._apply_arb()
        else:
            self._publish()

    def _check_fits(self, wv: WvFile) -> None:
        spec = self.spec
        if wv.samples < spec.arb_min_samples:
            raise WvFormatError(f"{wv.samples} samples, the ARB needs at least "
                                f"{spec.arb_min_samples}")
        if wv.samples > spec.arb_memory_samples:
            raise WvFormatError(f"{wv.samples} samples exceed the ARB memory of "
                                f"{spec.arb_memory_samples}")
        if not spec.arb_min_clock_hz <= wv.clock_hz <= spec.arb_max_clock_hz:
            raise WvFormatError(f"CLOCK {wv.clock_hz:.9g} Hz outside the ARB clock range "
                                f"{spec.arb_min_clock_hz:g}..{spec.arb_max_clock_hz:g} Hz")

    def _apply_arb(self) -> None:
        """Publish the playing waveform on the bench (same array object while it plays)."""
        assert self.loaded is not None
        self.state.arb_iq = self.loaded.iq
        self.state.arb_sample_rate_hz = self.arb_clock_hz
        self._publish()

    def _query_tag(self, args: list[str], s: tuple[int, ...]) -> str:
        """``BB:ARB:WAV:TAG? 'LEVEL OFFS'`` → the tag's content in the loaded file [verify]."""
        _check_path(s)
        if not args:
            raise ScpiError(-109, "Missing parameter;BB:ARB:WAV:TAG?")
        if self.loaded is None:
            raise ScpiError(-221, "Settings conflict;no waveform selected")
        return _quoted(self.loaded.wv.tags.get(parse_string(args[0]).strip().upper(), ""))

    def _query_wv_catalog(self, args: list[str], s: tuple[int, ...]) -> str:
        """Waveform files in the current directory, names without ``.wv`` [verify form]."""
        _check_path(s)
        names = [posixpath.basename(p)[:-3] for p in sorted(self.files)
                 if posixpath.dirname(p) == self.cdir and p.endswith(".wv")]
        return _quoted(",".join(names))

    # ------------------------------------------------------------------ files
    def _resolve(self, arg: str, default_suffix: str = "") -> str:
        """A quoted file name → absolute path (relative to MMEM:CDIR); -257 outside user dirs."""
        name = parse_string(arg).strip()
        if not name or any(c in name for c in "\"'\\*?\n"):
            raise ScpiError(-257, f"File name error;{name!r}")
        path = posixpath.normpath(posixpath.join(self.cdir, name))
        if default_suffix and not posixpath.splitext(path)[1]:
            path += default_suffix
        if not any(path.startswith(root + "/") for root in WRITABLE_ROOTS):
            raise ScpiError(-257, f"File name error;{path} is outside "
                                  f"{' and '.join(WRITABLE_ROOTS)}")
        return path

    def _write_file(self, args: list[str], s: tuple[int, ...]) -> None:
        _check_path(s)
        if len(args) != 2:
            raise ScpiError(-109, "Missing parameter;MMEM:DATA '<file>',<block>")
        path = self._resolve(args[0])
        data = parse_block(args[1])
        self.files[path] = data
        self._log(f"file {path} written ({len(data)} bytes)")

    def _read_file(self, args: list[str], _s: tuple[int, ...]) -> bytes:
        if not args:
            raise ScpiError(-109, "Missing parameter;MMEM:DATA?")
        path = self._resolve(args[0])
        if path not in self.files:
            raise ScpiError(-256, f"File name not found;{path}")
        data = self.files[path]
        length = str(len(data)).encode("ascii")
        return b"#%d%s" % (len(length), length) + data

    def _delete_file(self, args: list[str], _s: tuple[int, ...]) -> None:
        if not args:
            raise ScpiError(-109, "Missing parameter;MMEM:DEL")
        path = self._resolve(args[0])
        if self.files.pop(path, None) is None:
            raise ScpiError(-256, f"File name not found;{path}")

    def _set_cdir(self, args: list[str], _s: tuple[int, ...]) -> None:
        if not args:
            self.cdir = USER_DIRECTORY  # no parameter: back to the default directory
            return
        directory = posixpath.normpath(posixpath.join(self.cdir, parse_string(args[0])))
        if directory not in WRITABLE_ROOTS and not any(
                directory.startswith(root + "/") for root in WRITABLE_ROOTS):
            raise ScpiError(-256, f"File name not found;{directory}")
        self.cdir = directory

    def _query_mmem_catalog(self, args: list[str], _s: tuple[int, ...]) -> str:
        """SCPI form ``<used>,<free>{,"<name>,<type>,<size>"}`` for one directory [verify type]."""
        directory = self.cdir
        if args:
            directory = posixpath.normpath(posixpath.join(self.cdir, parse_string(args[0])))
        used = sum(len(d) for d in self.files.values())
        entries = "".join(f',"{posixpath.basename(p)},BIN,{len(d)}"'
                          for p, d in sorted(self.files.items())
                          if posixpath.dirname(p) == directory)
        return f"{used},{STORAGE_BYTES - used}{entries}"


def _check_path(suffixes: tuple[int, ...]) -> None:
    """Only RF path A exists: ``SOURce1``/``OUTPut1`` (or no suffix)."""
    for n in suffixes:
        if n != 1:
            raise ScpiError(-114, f"Header suffix out of range;{n} (path A only)")


def _nr(value: float) -> str:
    """R&S numeric response: plain decimal (``1000000000``, ``-30``, ``12.5``)."""
    return f"{float(value):.15g}"


def _b(value: bool) -> str:
    return "1" if value else "0"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
