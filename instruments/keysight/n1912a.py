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
"""

from __future__ import annotations

from instruments.errors import InstrumentError
from instruments.interfaces import PowerMeter
from instruments.keysight._common import KeysightCommon, num
from instruments.scpi import ScpiSession

#: |reading| at or above this is one of the SCPI "no valid result" values (9.9E37, 9.91E37)
_INVALID = 9.9e37


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

    # -- read-backs ------------------------------------------------------------------------

    def frequency_hz(self) -> float:
        return self.session.query_float(f"SENS{self.channel}:FREQ?")

    def averaging(self) -> int:
        return int(self.session.query_float(f"SENS{self.channel}:AVER:COUN?"))
