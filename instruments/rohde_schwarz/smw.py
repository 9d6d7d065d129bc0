"""Rohde & Schwarz SMW200A and SMBV100B vector signal generators: RF path A and the ARB.

Command forms (R&S SMW200A user manual 1175.6632.02, SMBV100B user manual 1178.4460.02,
SOURce/OUTPut/MMEMory subsystems; the RsSmw examples in Rohde-Schwarz/Examples):

- ``[:SOURce<hw>]:FREQuency:CW <Hz>``, ``[:SOURce<hw>]:POWer[:LEVel][:IMMediate][:AMPLitude]
  <dBm>``, ``:OUTPut<hw>[:STATe] ON|OFF``; ``*RST`` switches the RF off. Path A: ``<hw>`` = 1.
- ``[:SOURce<hw>]:POWer:LIMit[:AMPLitude] <dBm>`` "limits the maximum RF output level ... It does
  not influence the Level display or the response to the POW? query": the instrument accepts a
  higher level and clips the output silently. So that a record never holds a level the DUT did
  not get, this driver refuses (ValueError, nothing sent) a level above the limit it set or read.
- Modulation: the SMW has no ``:OUTPut:MODulation``; `set_modulation` switches the I/Q
  modulator, ``[:SOURce<hw>]:IQ:STATe ON|OFF`` (with it off the RF is CW whatever the ARB does).
- ARB: the waveform is a file. `load_arb_waveform` builds a ``.wv`` file (`build_wv`) and writes
  it with ``:MMEMory:DATA '/var/user/<name>.wv',#<block>`` (the block is the whole file);
  `play_arb_waveform` loads it with ``[:SOURce<hw>]:BB:ARBitrary:WAVeform:SELect``, then sets
  ``BB:ARB:CLOCk``, ``BB:ARB:STATe ON`` and ``IQ:STATe ON``.

The ``.wv`` format (manual, "Tags for Waveforms, Data and Control Lists"): ``{TYPE: SMU-WV,
<checksum>}`` first; ``{COMMENT: ...}``, ``{DATE: yyyy-mm-dd;hh:mm:ss}``, ``{CLOCK: <Hz>}``
(mandatory), ``{LEVEL OFFS: <rms dB>,<peak dB>}``, ``{SAMPLES: <n>}``, then
``{WAVEFORM-<4n+1>:#<I0 Q0 I1 Q1 ... int16 little-endian>}``. Full scale is the vector magnitude
max|I+jQ| = 32767; LEVEL OFFS holds 20·log10(full scale/RMS) and 20·log10(full scale/peak), and
the instrument uses the RMS offset so that the level set is the RMS power (PEP = RMS + crest
factor). The checksum is the XOR of the data as little-endian uint32 words, seeded 0xA50F74FF.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from instruments.arb import checked_waveform
from instruments.interfaces import SignalGenerator
from instruments.rohde_schwarz._common import RohdeSchwarzCommon, num, on_off, parse_bool

#: vector full scale of a waveform file: max |I+jQ| = 2**15 - 1 (manual, LEVEL OFFS tag)
WV_FULL_SCALE = 32767
#: the driver scales the peak |I+jQ| to one code below full scale, so that rounding each
#: component can never push the peak over full scale (peak offset >= 0, nothing clips)
WV_PEAK_CODE = WV_FULL_SCALE - 1
WV_CHECKSUM_SEED = 0xA50F74FF
#: ARB minimum waveform length and granularity in samples [verify against the data sheets]
ARB_MIN_SAMPLES = 512
ARB_GRANULARITY = 1
#: user data directory on the instrument (manual examples: '/var/user/<file>.wv')
ARB_DIRECTORY = "/var/user"
_NAME_FORBIDDEN = "\"'`:,;/\\*?{} \t\r\n"


def wv_name(name: str) -> str:
    """A waveform name usable as ``/var/user/<name>.wv`` (no quotes, separators or blanks)."""
    if not name or any(c in _NAME_FORBIDDEN for c in name) or name.startswith("."):
        raise ValueError(f"ARB waveform name {name!r} is empty, starts with '.' or contains a "
                         "quote, separator, wildcard, brace or blank")
    return name


def wv_path(name: str) -> str:
    return f"{ARB_DIRECTORY}/{wv_name(name)}.wv"


def wv_codes(iq: np.ndarray) -> tuple[np.ndarray, float]:
    """Complex `iq` → (int16 I,Q interleaved codes, scale factor applied).

    The scale puts the peak |I+jQ| on `WV_PEAK_CODE`. Raises ValueError for a waveform that
    is not 1-D, empty, shorter than `ARB_MIN_SAMPLES`, not a multiple of `ARB_GRANULARITY`,
    non-finite or all zero.
    """
    data = checked_waveform(iq, ARB_GRANULARITY, ARB_MIN_SAMPLES, "SMW/SMBV")
    n = data.size
    peak = float(np.max(np.abs(data)))
    scale = WV_PEAK_CODE / peak
    codes = np.empty(2 * n, dtype="<i2")
    codes[0::2] = np.round(data.real * scale)
    codes[1::2] = np.round(data.imag * scale)
    return codes, scale


def wv_level_offsets(codes: np.ndarray) -> tuple[float, float]:
    """(RMS offset, peak offset) in dB below the vector full scale, from the codes as stored."""
    c = codes.astype(np.float64)
    power = c[0::2] ** 2 + c[1::2] ** 2
    rms_db = 10.0 * math.log10(WV_FULL_SCALE**2 / float(np.mean(power)))
    peak_db = 10.0 * math.log10(WV_FULL_SCALE**2 / float(np.max(power)))
    return rms_db, peak_db


def wv_checksum(data: bytes) -> int:
    """XOR of `data` as little-endian uint32 words, seeded with 0xA50F74FF (manual, TYPE tag)."""
    words = np.frombuffer(data, dtype="<u4")
    return WV_CHECKSUM_SEED ^ int(np.bitwise_xor.reduce(words)) if words.size else WV_CHECKSUM_SEED


def build_wv(iq: np.ndarray, clock_hz: float, comment: str = "benchbot",
             date: datetime | None = None) -> tuple[bytes, float]:
    """A complete single-segment ``.wv`` file for `iq` at `clock_hz` → (file bytes, scale)."""
    if not (math.isfinite(clock_hz) and clock_hz > 0):
        raise ValueError(f"ARB clock must be positive, got {clock_hz!r}")
    if "}" in comment or not comment.isprintable():
        raise ValueError(f"waveform comment {comment!r} must be printable and without '}}'")
    codes, scale = wv_codes(iq)
    data = codes.tobytes()
    rms_db, peak_db = wv_level_offsets(codes)
    stamp = (date or datetime.now()).strftime("%Y-%m-%d;%H:%M:%S")
    header = (f"{{TYPE: SMU-WV,{wv_checksum(data)}}}"
              f"{{COMMENT: {comment}}}"
              f"{{DATE: {stamp}}}"
              f"{{CLOCK: {num(clock_hz)}}}"
              f"{{LEVEL OFFS: {rms_db:.6f},{peak_db:.6f}}}"
              f"{{SAMPLES: {codes.size // 2}}}"
              f"{{WAVEFORM-{len(data) + 1}:#")
    return header.encode("ascii") + data + b"}", scale


class RohdeSchwarzSMW(RohdeSchwarzCommon, SignalGenerator):
    """SMW200A / SMBV100B, RF path A with its ARB."""

    supported_models = ("SMW200A", "SMBV100B")
    #: scale factor applied to the last downloaded waveform (codes per input unit)
    arb_scale: float | None = None
    #: the level limit this driver last set or read (None: unknown, nothing refused)
    _limit_dbm: float | None = None

    # -- SignalGenerator -------------------------------------------------------------------

    def reset(self) -> None:
        """``*RST;*CLS`` (RF off; the level limit is not part of the preset), then RF off."""
        self._reset()
        self._configure(":OUTP1:STAT OFF")

    def make_safe(self) -> None:
        """RF output off (modulation state untouched)."""
        self._configure(":OUTP1:STAT OFF")

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self._configure(f":SOUR1:FREQ:CW {num(frequency_hz)}")

    def set_power_dbm(self, power_dbm: float) -> None:
        """RMS level; refused before sending if above the level limit (the SMW would clip)."""
        if self._limit_dbm is not None and power_dbm > self._limit_dbm + 1e-9:
            raise ValueError(f"level {power_dbm:g} dBm is above the level limit "
                             f"{self._limit_dbm:g} dBm (:SOUR1:POW:LIM); the instrument would "
                             "clip the output and still report the level set")
        self._configure(f":SOUR1:POW:LEV:IMM:AMPL {num(power_dbm)}")

    def set_power_limit_dbm(self, power_dbm: float) -> None:
        """Set the user level limit (``:SOUR1:POW:LIM``); kept over ``*RST``."""
        self._configure(f":SOUR1:POW:LIM:AMPL {num(power_dbm)}")
        self._limit_dbm = float(power_dbm)

    def set_rf_output(self, on: bool) -> None:
        self._configure(f":OUTP1:STAT {on_off(on)}")

    def rf_output_is_on(self) -> bool:
        return parse_bool(self.session.query(":OUTP1:STAT?"), ":OUTP1:STAT?")

    def set_modulation(self, on: bool) -> None:
        """I/Q modulator on/off (``:SOUR1:IQ:STAT``): off means CW."""
        self._configure(f":SOUR1:IQ:STAT {on_off(on)}")

    def load_arb_waveform(self, name: str, iq: np.ndarray, sample_rate_hz: float) -> None:
        """Write `iq` as ``/var/user/<name>.wv`` (peak |I+jQ| on full scale, `arb_scale`).

        Everything is validated before sending; then ``:MMEM:DATA``, ``*OPC?`` and the error
        queue. The file's CLOCK tag is `sample_rate_hz`.
        """
        path = wv_path(name)
        payload, scale = build_wv(iq, sample_rate_hz, comment=f"benchbot {name}")
        prefix = f":MMEM:DATA '{path}',"
        self.session.write_binary(prefix, payload)
        self.session.opc(timeout_s=max(self.session.timeout_s, 30.0))
        self.session.check_errors(after=f"{prefix}<binary {len(payload)} bytes>")
        self.arb_scale = scale

    def play_arb_waveform(self, name: str, sample_rate_hz: float) -> None:
        """Load ``/var/user/<name>.wv`` into the ARB, set its clock, ARB and I/Q modulator on.

        The instrument parses the file only here: a malformed file raises `InstrumentError`
        naming this selection.
        """
        path = wv_path(name)
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"ARB sample rate must be positive, got {sample_rate_hz!r}")
        select = f":SOUR1:BB:ARB:WAV:SEL '{path}'"
        self.session.write(select)
        self.session.opc(timeout_s=max(self.session.timeout_s, 30.0))
        self.session.check_errors(after=select)
        self._configure(f":SOUR1:BB:ARB:CLOC {num(sample_rate_hz)}", ":SOUR1:BB:ARB:STAT ON",
                        ":SOUR1:IQ:STAT ON")

    def arb_is_on(self) -> bool:
        return parse_bool(self.session.query(":SOUR1:BB:ARB:STAT?"), ":SOUR1:BB:ARB:STAT?")

    def arb_catalog(self) -> list[str]:
        """Waveform names (``.wv`` files) in /var/user (``:MMEM:CAT? '/var/user'``)."""
        reply = self.session.query(f":MMEM:CAT? '{ARB_DIRECTORY}'")
        return [n[:-3] for n in parse_catalog(reply) if n.lower().endswith(".wv")]

    # -- read-backs (not in the interface; used by tests and records) ------------------------

    def frequency_hz(self) -> float:
        return self.session.query_float(":SOUR1:FREQ:CW?")

    def power_dbm(self) -> float:
        """The level set (POW?): the RMS level, not reduced by the level limit."""
        return self.session.query_float(":SOUR1:POW:LEV:IMM:AMPL?")

    def power_limit_dbm(self) -> float:
        """The user level limit (always active on R&S generators); remembered for refusals."""
        self._limit_dbm = self.session.query_float(":SOUR1:POW:LIM:AMPL?")
        return self._limit_dbm

    def pep_dbm(self) -> float:
        """Peak envelope power of the output (RMS level + crest factor with a waveform)."""
        return self.session.query_float(":SOUR1:POW:PEP?")

    def modulation_is_on(self) -> bool:
        return parse_bool(self.session.query(":SOUR1:IQ:STAT?"), ":SOUR1:IQ:STAT?")

    def arb_clock_hz(self) -> float:
        return self.session.query_float(":SOUR1:BB:ARB:CLOC?")

    def arb_selected(self) -> str:
        """Path of the waveform loaded in the ARB ('' if none)."""
        return self.session.query(":SOUR1:BB:ARB:WAV:SEL?").strip().strip('"')


def parse_catalog(reply: str) -> list[str]:
    """``<used>,<free>{,"<name>,<type>,<size>"}`` (SCPI MMEMory:CATalog form) → file names."""
    names: list[str] = []
    for entry in reply.split('"')[1::2]:
        name = entry.split(",", 1)[0].strip()
        if name:
            names.append(name)
    return names
