"""Keithley 2450 SourceMeter, SCPI command set (the 2450 default; `*LANG TSP` is not used).

Command forms (2450 Reference Manual 2450-901-01, SCPI command reference; pymeasure
``keithley2450.py``, QCoDeS ``Keithley_2450.py``; reference §4.8):
``:SOUR:FUNC VOLT|CURR``, ``:SOUR:VOLT:ILIM <A>`` / ``:SOUR:CURR:VLIM <V>`` (the limit is set
before the level), ``:SOUR:VOLT <V>``, ``:SENS:FUNC "CURR"``, ``:SENS:CURR:NPLC <n>``,
``:OUTP ON|OFF``, ``:READ? "defbuffer1",READ,SOUR,SOURSTAT`` (reading, source readback and
source status, whose "limited" bit is the front panel's source-limit flag [verify] bit 0x08),
``:SOUR:VOLT:ILIM:TRIP?``; list sweeps ``:SOUR:LIST:VOLT <v,...>`` (+ ``:APP``),
``:SOUR:SWE:VOLT:LIST 1,<delay>,1,OFF,"defbuffer1"``, ``:INIT``, ``*OPC?``,
``:TRAC:DATA? 1,<n>,"defbuffer1",READ,SOUR,REL,SOURSTAT``.

Ratings (2450 data sheet): ±21 V at up to ±1.05 A, ±210 V at up to ±105 mA.
The 2450 has no pulse mode: ``voltage_list_sweep`` raises NotImplementedError for pulse
parameters (pulsed I-V needs a 2636B, a B2900 or a B1500A).
"""

from __future__ import annotations

import numpy as np

from instruments.common import ScpiCommon, num, on_off, parse_bool
from instruments.errors import UnexpectedResponse
from instruments.interfaces import SmuReading, SmuSweepResult, SourceMeter

MAX_VOLTAGE_V = 210.0
LOW_RANGE_V = 21.0
MAX_CURRENT_A = 1.05
HIGH_VOLTAGE_CURRENT_A = 0.105
MIN_CURRENT_LIMIT_A = 1e-9
MIN_VOLTAGE_LIMIT_V = 0.02
NPLC_RANGE = (0.01, 10.0)
#: SOURSTATus bit "source level was limited" [verify]
SOURCE_STATUS_LIMIT = 0x08
#: values per `:SOUR:LIST` command (keeps each program message short) [verify]
LIST_CHUNK = 100
_BUFFER = '"defbuffer1"'


class Keithley2450(ScpiCommon, SourceMeter):
    """One-channel SourceMeter; the channel is 1."""

    #: DC ranges (2450 data sheet: ±21 V at ±1.05 A, ±210 V at ±0.105 A) [verify]
    dc_ranges = ((21.0, 1.05), (210.0, 0.105))

    supported_models = ("MODEL 2450",)
    channels = (1,)

    # -- checks -----------------------------------------------------------------------------

    @staticmethod
    def _channel(channel: int) -> None:
        if channel != 1:
            raise ValueError(f"the 2450 has one channel (1), not {channel!r}")

    @staticmethod
    def _check_voltage(voltage_v: float, current_limit_a: float) -> None:
        if abs(voltage_v) > MAX_VOLTAGE_V:
            raise ValueError(f"{voltage_v} V is beyond the 2450's ±{MAX_VOLTAGE_V:g} V")
        if not MIN_CURRENT_LIMIT_A <= current_limit_a <= MAX_CURRENT_A:
            raise ValueError(f"current limit {current_limit_a} A is outside "
                             f"{MIN_CURRENT_LIMIT_A:g}–{MAX_CURRENT_A:g} A")
        if abs(voltage_v) > LOW_RANGE_V and current_limit_a > HIGH_VOLTAGE_CURRENT_A:
            raise ValueError(f"above ±{LOW_RANGE_V:g} V the 2450 limits current to "
                             f"{HIGH_VOLTAGE_CURRENT_A * 1e3:g} mA")

    # -- Instrument -------------------------------------------------------------------------

    def reset(self) -> None:
        """``*RST;*CLS`` (output off, 0 V), then make sure of it."""
        self._reset()
        self.make_safe()

    def line_frequency_hz(self) -> float:
        return self.session.query_float(":SYST:LFR?")

    # -- SourceMeter ------------------------------------------------------------------------

    def set_voltage_source(self, channel: int, voltage_v: float, current_limit_a: float
                           ) -> None:
        self._channel(channel)
        self._check_voltage(voltage_v, current_limit_a)
        self._configure(":SOUR:FUNC VOLT", f":SOUR:VOLT:ILIM {num(current_limit_a)}",
                        f":SOUR:VOLT {num(voltage_v)}", ':SENS:FUNC "CURR"')

    def set_current_source(self, channel: int, current_a: float, voltage_limit_v: float
                           ) -> None:
        self._channel(channel)
        if abs(current_a) > MAX_CURRENT_A:
            raise ValueError(f"{current_a} A is beyond the 2450's ±{MAX_CURRENT_A:g} A")
        if not MIN_VOLTAGE_LIMIT_V <= voltage_limit_v <= MAX_VOLTAGE_V:
            raise ValueError(f"voltage limit {voltage_limit_v} V is outside "
                             f"{MIN_VOLTAGE_LIMIT_V:g}–{MAX_VOLTAGE_V:g} V")
        if voltage_limit_v > LOW_RANGE_V and abs(current_a) > HIGH_VOLTAGE_CURRENT_A:
            raise ValueError(f"above ±{LOW_RANGE_V:g} V the 2450 sources at most "
                             f"{HIGH_VOLTAGE_CURRENT_A * 1e3:g} mA")
        self._configure(":SOUR:FUNC CURR", f":SOUR:CURR:VLIM {num(voltage_limit_v)}",
                        f":SOUR:CURR {num(current_a)}", ':SENS:FUNC "VOLT"')

    def set_output(self, channel: int, on: bool) -> None:
        self._channel(channel)
        self._configure(f":OUTP {on_off(on)}")

    def output_is_on(self, channel: int) -> bool:
        self._channel(channel)
        return parse_bool(self.session.query(":OUTP?"), ":OUTP?")

    def set_aperture_s(self, channel: int, aperture_s: float) -> None:
        """Integration time as NPLC of the instrument's line frequency (0.01–10 NPLC)."""
        self._channel(channel)
        nplc = aperture_s * self.line_frequency_hz()
        if not NPLC_RANGE[0] <= nplc <= NPLC_RANGE[1]:
            raise ValueError(f"aperture {aperture_s} s is {nplc:g} NPLC, outside "
                             f"{NPLC_RANGE[0]:g}–{NPLC_RANGE[1]:g}")
        func = self.session.query(":SENS:FUNC?").strip().strip('"').split(":")[0]
        self._configure(f":SENS:{func}:NPLC {num(nplc)}")

    def measure(self, channel: int) -> SmuReading:
        """One reading: the sensed quantity, the source readback and the source-limit flag."""
        self._channel(channel)
        command = f":READ? {_BUFFER},READ,SOUR,SOURSTAT"
        fields = self._fields(self.session.query(command), command, 3)
        voltage_source = self.session.query(":SOUR:FUNC?").strip().upper().startswith("VOLT")
        reading, source = float(fields[0]), float(fields[1])
        limited = bool(int(float(fields[2])) & SOURCE_STATUS_LIMIT)
        if voltage_source:
            return SmuReading(voltage_v=source, current_a=reading, in_compliance=limited)
        return SmuReading(voltage_v=reading, current_a=source, in_compliance=limited)

    def limit_tripped(self, channel: int) -> bool:
        """``:SOUR:<func>:<lim>:TRIP?``: the output is clamped at its limit now."""
        self._channel(channel)
        func = self.session.query(":SOUR:FUNC?").strip().upper()
        command = ":SOUR:VOLT:ILIM:TRIP?" if func.startswith("VOLT") else \
            ":SOUR:CURR:VLIM:TRIP?"
        return parse_bool(self.session.query(command), command)

    def voltage_list_sweep(
        self, channel: int, voltages_v: np.ndarray, current_limit_a: float,
        aperture_s: float = 1e-3, pulse_width_s: float | None = None,
        pulse_period_s: float | None = None, pulse_base_v: float = 0.0,
    ) -> SmuSweepResult:
        """DC list sweep into ``defbuffer1``; the output must already be on (this driver
        never switches an output on by itself). The programmed level is restored after it."""
        self._channel(channel)
        if pulse_width_s is not None or pulse_period_s is not None:
            raise NotImplementedError("the Keithley 2450 has no pulse mode; use a 2636B or "
                                      "B2900 for pulsed I-V")
        values = np.asarray(voltages_v, dtype=float).ravel()
        if values.size == 0:
            raise ValueError("empty sweep")
        for v in values:
            self._check_voltage(float(v), current_limit_a)
        if not self.output_is_on(channel):
            raise RuntimeError("2450 output is off: switch it on (safety kernel) before a sweep")
        restore_v = self.session.query_float(":SOUR:VOLT?")
        restore_limit_a = self.session.query_float(":SOUR:VOLT:ILIM?")
        self._configure(":SOUR:FUNC VOLT", f":SOUR:VOLT:ILIM {num(current_limit_a)}",
                        ':SENS:FUNC "CURR"')
        self.set_aperture_s(channel, aperture_s)
        text = [num(v) for v in values]
        commands = [f":SOUR:LIST:VOLT {','.join(text[:LIST_CHUNK])}"]
        commands += [f":SOUR:LIST:VOLT:APP {','.join(text[i:i + LIST_CHUNK])}"
                     for i in range(LIST_CHUNK, len(text), LIST_CHUNK)]
        commands.append(f":SOUR:SWE:VOLT:LIST 1,0,1,OFF,{_BUFFER}")
        self._configure(*commands)
        n = values.size
        self._configure(":INIT")
        self.session.opc(timeout_s=max(10.0, 5.0 * n * (aperture_s + 0.05)))
        command = f":TRAC:DATA? 1,{n},{_BUFFER},READ,SOUR,REL,SOURSTAT"
        fields = self._fields(self.session.query(command), command, 4 * n)
        data = np.asarray([float(f) for f in fields]).reshape(n, 4)
        self._configure(f":SOUR:VOLT {num(restore_v)}",
                        f":SOUR:VOLT:ILIM {num(restore_limit_a)}")
        return SmuSweepResult(
            source_values=values, voltage_v=data[:, 1], current_a=data[:, 0],
            time_s=data[:, 2],
            in_compliance=(data[:, 3].astype(int) & SOURCE_STATUS_LIMIT) != 0)

    @staticmethod
    def _fields(reply: str, command: str, count: int) -> list[str]:
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) != count:
            raise UnexpectedResponse(reply, command, f"{count} comma-separated values")
        return fields
