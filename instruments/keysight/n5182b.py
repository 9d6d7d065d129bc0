"""Keysight MXG N5182B (and the X-Series generator family sharing its SCPI tree).

Command forms (Keysight X-Series Signal Generators Programming Guide, SOURce/OUTPut subsystems;
cross-checked with QCoDeS ``N51x1.py`` and pyarbtools ``VSG``):

- ``[:SOURce]:FREQuency[:CW] <Hz>``, ``[:SOURce]:POWer[:LEVel][:IMMediate][:AMPLitude] <dBm>``
- ``:OUTPut[:STATe] ON|OFF`` (RF output), ``:OUTPut:MODulation[:STATe] ON|OFF``
- ``[:SOURce]:POWer:USER:MAX <dBm>`` + ``[:SOURce]:POWer:USER:ENABle ON|OFF``: the user-set
  maximum output power; while enabled the amplitude cannot be set above it.
- ``*RST`` turns the RF output off.
- ARB (pyarbtools ``VSG.download_wfm``/``play``; rf reference §4.4):
  ``:MMEM:DATA "WFM1:<name>",#<n><len><int16 I,Q interleaved, big-endian>``,
  ``[:SOURce]:RADio:ARB:WAVeform "WFM1:<name>"``, ``[:SOURce]:RADio:ARB:SCLock:RATE <Hz>``,
  ``[:SOURce]:RADio:ARB[:STATe] ON``. Waveforms are whole multiples of 2 samples, ≥ 60 samples.
"""

from __future__ import annotations

import numpy as np

from instruments.arb import checked_waveform
from instruments.interfaces import SignalGenerator
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool

#: ARB full scale: the peak |I| or |Q| of every downloaded waveform is scaled to this code
ARB_FULL_SCALE = 32767
#: ARB memory granularity and minimum length, in samples (pyarbtools ``VSG``)
ARB_GRANULARITY = 2
ARB_MIN_SAMPLES = 60


def arb_name(name: str) -> str:
    """A waveform name usable inside ``"WFM1:<name>"`` (no quotes, separators or blanks)."""
    if not name or any(c in name for c in "\"':,;/\\ \t\r\n"):
        raise ValueError(f"ARB waveform name {name!r} is empty or contains a quote, separator "
                         "or blank")
    return name


def arb_payload(iq: np.ndarray) -> tuple[bytes, float]:
    """Complex `iq` → (int16 big-endian I,Q interleaved bytes, scale factor applied).

    The scale is ``32767 / max(|I|, |Q|)``: the peak component lands on full scale. Raises
    ValueError for an empty, non-finite, all-zero, odd-length or too-short waveform.
    """
    data = checked_waveform(iq, ARB_GRANULARITY, ARB_MIN_SAMPLES, "MXG")
    n = data.size
    peak = float(max(np.max(np.abs(data.real)), np.max(np.abs(data.imag))))
    scale = ARB_FULL_SCALE / peak
    interleaved = np.empty(2 * n, dtype=">i2")
    interleaved[0::2] = np.round(data.real * scale)
    interleaved[1::2] = np.round(data.imag * scale)
    return interleaved.tobytes(), scale


class KeysightN5182B(KeysightCommon, SignalGenerator):
    """MXG/EXG B-series vector/analog signal generator."""

    supported_models = ("N5182B", "N5181B", "N5172B", "N5171B")
    #: scale factor applied to the last downloaded waveform (codes per input unit)
    arb_scale: float | None = None

    # -- SignalGenerator -------------------------------------------------------------------

    def reset(self) -> None:
        self._reset()
        self._configure(":OUTP OFF")

    def make_safe(self) -> None:
        """RF output off (modulation state untouched)."""
        self._configure(":OUTP OFF")

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self._configure(f":FREQ {num(frequency_hz)}")

    def set_power_dbm(self, power_dbm: float) -> None:
        self._configure(f":POW {num(power_dbm)}")

    def set_power_limit_dbm(self, power_dbm: float) -> None:
        """Set and enable the user maximum output power (``:POW:USER:MAX``/``:POW:USER:ENAB``)."""
        self._configure(f":POW:USER:MAX {num(power_dbm)}", ":POW:USER:ENAB ON")

    def set_rf_output(self, on: bool) -> None:
        self._configure(f":OUTP {on_off(on)}")

    def rf_output_is_on(self) -> bool:
        return parse_bool(self.session.query(":OUTP?"), ":OUTP?")

    def set_modulation(self, on: bool) -> None:
        self._configure(f":OUTP:MOD {on_off(on)}")

    def load_arb_waveform(self, name: str, iq: np.ndarray, sample_rate_hz: float) -> None:
        """Download `iq` as int16 BE I/Q scaled so the peak |I| or |Q| is 32767 (`arb_scale`).

        Validates everything before sending; then ``:MMEM:DATA``, ``*OPC?`` and the error queue.
        `sample_rate_hz` is checked here and applied by `play_arb_waveform`.
        """
        name = arb_name(name)
        if not sample_rate_hz > 0:
            raise ValueError(f"ARB sample rate must be positive, got {sample_rate_hz!r}")
        payload, scale = arb_payload(iq)
        prefix = f':MMEM:DATA "WFM1:{name}",'
        self.session.write_binary(prefix, payload)
        self.session.opc(timeout_s=max(self.session.timeout_s, 30.0))
        self.session.check_errors(after=f"{prefix}<binary {len(payload)} bytes>")
        self.arb_scale = scale

    def play_arb_waveform(self, name: str, sample_rate_hz: float) -> None:
        """Select ``WFM1:<name>``, set the ARB sample clock, ARB on, modulation on."""
        name = arb_name(name)
        if not sample_rate_hz > 0:
            raise ValueError(f"ARB sample rate must be positive, got {sample_rate_hz!r}")
        select = f':RAD:ARB:WAV "WFM1:{name}"'
        self.session.write(select)
        self.session.opc(timeout_s=max(self.session.timeout_s, 30.0))
        self.session.check_errors(after=select)
        self._configure(f":RAD:ARB:SCL:RATE {num(sample_rate_hz)}", ":RAD:ARB:STAT ON",
                        ":OUTP:MOD ON")

    def arb_is_on(self) -> bool:
        return parse_bool(self.session.query(":RAD:ARB:STAT?"), ":RAD:ARB:STAT?")

    def arb_catalog(self) -> list[str]:
        """Names in the volatile waveform memory (``:MEM:CAT? "WFM1"``)."""
        return parse_catalog(self.session.query(':MEM:CAT? "WFM1"'))

    # -- read-backs (not in the interface; used by tests and records) ------------------------

    def frequency_hz(self) -> float:
        return self.session.query_float(":FREQ?")

    def power_dbm(self) -> float:
        return self.session.query_float(":POW?")

    def power_limit_dbm(self) -> float | None:
        """The user maximum power if enabled, else None."""
        if not parse_bool(self.session.query(":POW:USER:ENAB?"), ":POW:USER:ENAB?"):
            return None
        return self.session.query_float(":POW:USER:MAX?")

    def modulation_is_on(self) -> bool:
        return parse_bool(self.session.query(":OUTP:MOD?"), ":OUTP:MOD?")


def parse_catalog(reply: str) -> list[str]:
    """``<used>,<free>{,"<name>,<type>,<size>"}`` (SCPI MMEMory:CATalog form) → names."""
    names: list[str] = []
    for entry in reply.split('"')[1::2]:
        name = entry.split(",", 1)[0].strip()
        if name:
            names.append(name)
    return names
