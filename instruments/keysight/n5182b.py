"""Keysight MXG N5182B (and the X-Series generator family sharing its SCPI tree).

Command forms (Keysight X-Series Signal Generators Programming Guide, SOURce/OUTPut subsystems;
cross-checked with QCoDeS ``N51x1.py`` and pyarbtools ``VSG``):

- ``[:SOURce]:FREQuency[:CW] <Hz>``, ``[:SOURce]:POWer[:LEVel][:IMMediate][:AMPLitude] <dBm>``
- ``:OUTPut[:STATe] ON|OFF`` (RF output), ``:OUTPut:MODulation[:STATe] ON|OFF``
- ``[:SOURce]:POWer:USER:MAX <dBm>`` + ``[:SOURce]:POWer:USER:ENABle ON|OFF``: the user-set
  maximum output power; while enabled the amplitude cannot be set above it.
- ``*RST`` turns the RF output off.
"""

from __future__ import annotations

from instruments.interfaces import SignalGenerator
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool


class KeysightN5182B(KeysightCommon, SignalGenerator):
    """MXG/EXG B-series vector/analog signal generator."""

    supported_models = ("N5182B", "N5181B", "N5172B", "N5171B")

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
