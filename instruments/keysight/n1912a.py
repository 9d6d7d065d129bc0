"""Keysight N1912A P-series dual-channel power meter (N1911A: channel 1 only).

Command forms (N1911A/N1912A P-Series Power Meters Programming Guide):
- ``[SENSe[1]]|SENSe2:FREQuency[:CW|:FIXed] <Hz>``: frequency for the cal-factor correction.
- ``CALibration[1|2]:ZERO:AUTO ONCE``: zero the sensor (takes seconds; ``*OPC?`` waits for it).
- ``[SENSe[1]]|SENSe2:AVERage:COUNt 1..1024``: filter length (sets AVER:COUN:AUTO OFF and
  AVER:STATe ON).
- ``UNIT[1]|2|3|4:POWer DBM``.
- ``READ[1]|2|3|4?`` = ABORt, INITiate, FETCh? on that measurement's channel — the manual's
  recommended single-shot read; it requires ``INITiate[1|2]:CONTinuous OFF`` (else -213
  "INIT ignored"), so that is sent once before the first reading. With the preset window
  configuration measurement 1 is channel A and measurement 2 channel B (N1912A).
- Invalid readings: SCPI returns 9.9E37 for a result far out of range (and -9.9E37 / 9.91E37 for
  below range / not a number); the driver raises `InstrumentError` instead of returning it.
- Sensor calibration tables (8480-series sensors, which have no EEPROM; the P-series guide's
  SENSe subsystem selects "a sensor calibration table", its MEMory subsystem lists them with
  ``MEMory:CATalog:TABLe?``; the forms below are the E4418B/E4419B guide's "Using Sensor
  Calibration Tables", which the P-series shares [verify against the P-series guide]):
  ``MEMory:TABLe:SELect "<name>"`` (names of at most 12 letters, digits or ``_``),
  ``MEMory:TABLe:FREQuency <f1>,<f2>,...`` (Hz), ``MEMory:TABLe:GAIN[:MAGNitude]
  <RCF>,<cf1>,<cf2>,...`` (%, one more value than frequencies: the first is the reference cal
  factor), then ``[SENSe<n>]:CORRection:CSET1[:SELect] "<name>"`` (which checks the lengths) and
  ``[SENSe<n>]:CORRection:CSET1:STATe ON``. The meter then interpolates the cal factor at the
  ``SENSe<n>:FREQuency`` it is set to (outside the table it uses the end point). Up to 80
  points per table (E4418B: 20 tables of 80 points [verify P-series]); cal factors 1-150 %.
  Whether ``MEMory:TABLe:SELect`` of a new name creates the table, or one of the meter's
  predefined tables must first be renamed with ``MEMory:TABLe:MOVE``, is [verify].
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from instruments.errors import InstrumentError
from instruments.interfaces import PowerMeter
from instruments.keysight._common import KeysightCommon, num, parse_bool, parse_float
from instruments.scpi import ScpiSession

#: |reading| at or above this is one of the SCPI "no valid result" values (9.9E37, 9.91E37)
_INVALID = 9.9e37
#: a sensor calibration table's name in the meter's memory
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,12}$")
#: most frequency points of one sensor calibration table [verify for the P-series]
MAX_TABLE_POINTS = 80
#: cal factor range the meter accepts, % [verify for the P-series]
CAL_FACTOR_RANGE_PCT = (1.0, 150.0)
#: read-back tolerances: frequency (Hz) and cal factor (%) as the meter stores them [verify]
_FREQUENCY_TOLERANCE_HZ = 1e3
_CAL_FACTOR_TOLERANCE_PCT = 0.05


class KeysightN1912A(KeysightCommon, PowerMeter):
    """One channel (sensor) of a P-series power meter; `channel` is 1 (A) or 2 (B)."""

    supported_models = ("N1912A", "N1911A")

    def __init__(
        self, session: ScpiSession, *, channel: int = 1, zero_timeout_s: float = 30.0
    ) -> None:
        if channel not in (1, 2):
            raise ValueError(f"power meter channel must be 1 (A) or 2 (B), not {channel!r}")
        self.channel = channel
        self.zero_timeout_s = zero_timeout_s
        self._single_shot = False
        super().__init__(session)
        if channel == 2 and self.identity.model.upper() == "N1911A":
            raise ValueError("the N1911A has one channel; channel 2 needs an N1912A")

    def reset(self) -> None:
        self._reset()
        self._single_shot = False

    def make_safe(self) -> None:
        """Nothing to switch off: a power meter has no output."""

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self._configure(f"SENS{self.channel}:FREQ {num(frequency_hz)}")

    def zero(self) -> None:
        """``CAL<n>:ZERO:AUTO ONCE`` and wait (``*OPC?``) up to `zero_timeout_s` for it."""
        command = f"CAL{self.channel}:ZERO:AUTO ONCE"
        self.session.write(command)
        self.session.opc(self.zero_timeout_s)
        self.session.check_errors(after=command)

    def set_averaging(self, count: int) -> None:
        if not 1 <= int(count) <= 1024:
            raise ValueError(f"averaging count must be 1..1024, not {count}")
        self._configure(f"SENS{self.channel}:AVER:COUN {int(count)}")

    def measure_power_dbm(self) -> float:
        """``READ<n>?`` in dBm; an invalid (over/under-range) reading raises `InstrumentError`."""
        if not self._single_shot:
            self._configure(f"INIT{self.channel}:CONT OFF", f"UNIT{self.channel}:POW DBM")
            self._single_shot = True
        command = f"READ{self.channel}?"
        value = self.session.query_float(command)
        if abs(value) >= _INVALID:
            self.session.check_errors(after=command)  # the meter's own reason, if it queued one
            raise InstrumentError(-231, f"Data questionable; invalid reading {value:.4g}", command)
        return value

    def load_cal_factor_table(self, name: str, frequency_hz: Sequence[float],
                              cal_factor_pct: Sequence[float], reference_cal_factor_pct: float
                              ) -> None:
        """Write the sensor calibration table ``name`` (``MEM:TABL:SEL``, ``MEM:TABL:FREQ``,
        ``MEM:TABL:GAIN`` with the reference cal factor first), select it for this channel and
        switch it on (``SENS<n>:CORR:CSET1:SEL``, ``:STAT ON``); then read all of it back and
        raise `InstrumentError` if the meter holds anything else."""
        freqs, factors = _checked_table(name, frequency_hz, cal_factor_pct,
                                        reference_cal_factor_pct)
        ch = self.channel
        self._configure(
            f'MEM:TABL:SEL "{name}"',
            "MEM:TABL:FREQ " + ",".join(num(f) for f in freqs),
            "MEM:TABL:GAIN " + ",".join(num(v) for v in (reference_cal_factor_pct, *factors)),
            f'SENS{ch}:CORR:CSET1:SEL "{name}"',
            f"SENS{ch}:CORR:CSET1:STAT ON",
        )
        got_freqs, got_reference, got_factors = self.cal_factor_table(name)
        selected, on = self.applied_cal_factor_table()
        expected = (freqs, [reference_cal_factor_pct, *factors])
        if (selected != name or not on
                or not _close(got_freqs, expected[0], _FREQUENCY_TOLERANCE_HZ)
                or not _close([got_reference, *got_factors], expected[1],
                              _CAL_FACTOR_TOLERANCE_PCT)):
            raise InstrumentError(-200, f"cal-factor table {name!r} read back differs from the "
                                  f"one written (selected {selected!r}, state "
                                  f"{'ON' if on else 'OFF'})", "MEM:TABL:FREQ?; MEM:TABL:GAIN?")

    # -- read-backs ------------------------------------------------------------------------

    def cal_factor_table(self, name: str) -> tuple[list[float], float, list[float]]:
        """The sensor calibration table ``name`` as the meter holds it: (frequencies Hz,
        reference cal factor %, cal factors %)."""
        if not _TABLE_NAME.match(name):
            raise ValueError(f"table name {name!r}: 1 to 12 letters, digits or '_'")
        self._configure(f'MEM:TABL:SEL "{name}"')
        freqs = _floats(self.session.query("MEM:TABL:FREQ?"), "MEM:TABL:FREQ?")
        gains = _floats(self.session.query("MEM:TABL:GAIN?"), "MEM:TABL:GAIN?")
        if len(gains) != len(freqs) + 1:
            raise InstrumentError(-226, f"table {name!r}: {len(gains)} cal factors for "
                                  f"{len(freqs)} frequencies (expected one more: the "
                                  "reference cal factor first)", "MEM:TABL:GAIN?")
        return freqs, gains[0], gains[1:]

    def applied_cal_factor_table(self) -> tuple[str, bool]:
        """(name of the table selected for this channel, whether it is on)."""
        ch = self.channel
        name = self.session.query(f"SENS{ch}:CORR:CSET1:SEL?").strip().strip('"')
        command = f"SENS{ch}:CORR:CSET1:STAT?"
        return name, parse_bool(self.session.query(command), command)

    def frequency_hz(self) -> float:
        return self.session.query_float(f"SENS{self.channel}:FREQ?")

    def averaging(self) -> int:
        return int(self.session.query_float(f"SENS{self.channel}:AVER:COUN?"))


def _checked_table(name: str, frequency_hz: Sequence[float], cal_factor_pct: Sequence[float],
                   reference_cal_factor_pct: float) -> tuple[list[float], list[float]]:
    """Refuse, before anything is sent, a table the meter cannot hold."""
    if not _TABLE_NAME.match(name):
        raise ValueError(f"table name {name!r}: 1 to 12 letters, digits or '_'")
    freqs = [float(f) for f in frequency_hz]
    factors = [float(v) for v in cal_factor_pct]
    if not 1 <= len(freqs) <= MAX_TABLE_POINTS or len(factors) != len(freqs):
        raise ValueError(f"a cal-factor table needs 1 to {MAX_TABLE_POINTS} frequencies and "
                         f"one cal factor each (got {len(freqs)} and {len(factors)})")
    if any(f <= 0 for f in freqs) or any(b <= a for a, b in zip(freqs, freqs[1:], strict=False)):
        raise ValueError("cal-factor table frequencies must be positive and strictly increase")
    lo, hi = CAL_FACTOR_RANGE_PCT
    bad = [v for v in (reference_cal_factor_pct, *factors) if not lo <= v <= hi]
    if bad:
        raise ValueError(f"cal factors must be {lo:g} to {hi:g} %: {bad}")
    return freqs, factors


def _floats(reply: str, command: str) -> list[float]:
    text = reply.strip()
    return [parse_float(v, command) for v in text.split(",")] if text else []


def _close(got: Sequence[float], expected: Sequence[float], tolerance: float) -> bool:
    return len(got) == len(expected) and all(
        abs(a - b) <= tolerance for a, b in zip(got, expected, strict=True))
