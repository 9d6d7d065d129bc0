"""Keysight N1912A P-Series dual-channel power meter with an N1921A sensor on channel A (1).

Command forms (reference §4.6; public N191xA drivers such as namakanui `pmeter2.py`:
`sens%d:freq %gGHz`, `unit%d:power dbm`, `abort%d`, `init%d`, `fetch%d?`, `conf%d DEF,3,(@%d)`):
`[SENSe<n>]:FREQuency[:CW|:FIXed]`, `CALibration<n>:ZERO:AUTO ONCE`, `CALibration<n>:AUTO ONCE`,
`INITiate<n>:CONTinuous`, `INITiate<n>[:IMMediate]`, `ABORt<n>`, `FETCh<n>?`, `READ<n>?`,
`MEASure<n>?`, `CONFigure<n>`, `[SENSe<n>]:AVERage:COUNt`, `UNIT<n>:POWer DBM|W`,
`[SENSe<n>]:CORRection:GAIN2[:INPut][:MAGNitude]` (+ `:STATe`).

The reading is the total (thermal-like) power of every tone at the `power_meter` role, plus the
offset, plus seeded noise σ = 0.02 dB/sqrt(count) and a 5 nW/sqrt(count) floor; +20 nW until
zeroed. Behaviour marked [verify] could not be checked against the programming guide text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.bench import VirtualBench
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    format_float,
    parse_bool,
    parse_enum,
    parse_int,
    parse_number,
)

SENSOR_MODEL = "N1921A"
SENSOR_RANGE_DBM = (-35.0, 20.0)
OVER_RANGE = 9.9e37  # SCPI "no valid reading" value
ZERO_TIME_S = 4.0
CAL_TIME_S = 6.0
#: time per averaged reading (s) for the measurement rates NORMal/DOUBle/FAST
READING_TIME_S = {"NORM": 0.05, "DOUB": 0.025, "FAST": 0.001}
NOISE_DB = 0.02
NOISE_FLOOR_W = 5e-9
UNZEROED_OFFSET_W = 20e-9


@dataclass
class MeterChannel:
    """Settings and last result of one measurement channel."""

    frequency_hz: float = 50e6
    average_count: int = 4
    average_auto: bool = True
    unit: str = "DBM"
    offset_db: float = 0.0
    offset_on: bool = False
    continuous: bool = True
    rate: str = "NORM"
    zeroed: bool = False
    calibrated: bool = False
    result_w: float | None = None  # latched by INIT in single mode


class KeysightN1912A(ScpiDevice):
    """N1912A with an N1921A on channel 1 and nothing on channel 2 (→ -241 Hardware missing)."""

    idn = ("Keysight Technologies", "N1912A", "MY55300123", "A2.01.08")  # firmware [verify]
    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "power_meter",
                 model: str = "keysight_n1912a") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.sensors = {1: SENSOR_MODEL, 2: None}
        self.channels: dict[int, MeterChannel] = {}
        c = self.command
        c("[SENSe<n>]:FREQuency[:CW|:FIXed]", set=self._set_freq,
          query=lambda a, s: format_float(self._ch(s).frequency_hz))
        c("[SENSe<n>]:AVERage:COUNt", set=self._set_count,
          query=lambda a, s: str(self._ch(s).average_count))
        c("[SENSe<n>]:AVERage:COUNt:AUTO", set=self._set_count_auto,
          query=lambda a, s: _b(self._ch(s).average_auto))
        c("[SENSe<n>]:AVERage[:STATe]", set=lambda a, s: None, query=lambda a, s: "1")
        c("[SENSe<n>]:MRATe", set=self._set_rate, query=lambda a, s: self._ch(s).rate)
        c("[SENSe<n>]:CORRection:GAIN2[:INPut][:MAGNitude]", set=self._set_offset,
          query=lambda a, s: format_float(self._ch(s).offset_db))
        c("[SENSe<n>]:CORRection:GAIN2:STATe", set=self._set_offset_state,
          query=lambda a, s: _b(self._ch(s).offset_on))
        c("UNIT<n>:POWer", set=self._set_unit, query=lambda a, s: self._ch(s).unit)
        c("CALibration<n>:ZERO:AUTO", set=self._zero, query=lambda a, s: "0")
        c("CALibration<n>:AUTO", set=self._cal, query=lambda a, s: "0")
        c("CALibration<n>[:ALL]", set=lambda a, s: self._cal(["ONCE"], s),
          query=lambda a, s: self._cal_all_query(s), waits=True)
        c("INITiate<n>:CONTinuous", set=self._set_cont,
          query=lambda a, s: _b(self._ch(s).continuous))
        c("INITiate<n>[:IMMediate]", set=self._init)
        c("ABORt<n>", set=self._abort)
        c("CONFigure<n>[:SCALar][:POWer][:AC]", set=self._configure,
          query=lambda a, s: f'"POW:AVER DEF,DEF,(@{s[0]})"')
        c("FETCh<n>[:SCALar][:POWer][:AC]", query=self._fetch, waits=True)
        c("READ<n>[:SCALar][:POWer][:AC]", query=self._read, waits=True)
        c("MEASure<n>[:SCALar][:POWer][:AC]", query=self._measure, waits=True)
        c("SERVice:SENSor<n>:TYPE", query=lambda a, s: self.sensors.get(s[0]) or "NONE")
        self.reset()

    def reset(self) -> None:
        """*RST: 50 MHz, auto averaging (count 4), dBm, no offset, continuous trigger on.

        Zero and calibration are sensor state and survive *RST [verify]."""
        super().reset()
        old = getattr(self, "channels", {})
        self.channels = {n: MeterChannel() for n in (1, 2)}
        for n, ch in self.channels.items():
            if n in old:
                ch.zeroed, ch.calibrated = old[n].zeroed, old[n].calibrated

    # ------------------------------------------------------------------ helpers
    def _ch(self, suffixes: tuple[int, ...]) -> MeterChannel:
        n = suffixes[0]
        if n not in self.channels:
            raise ScpiError(-113)
        return self.channels[n]

    def _sensor(self, suffixes: tuple[int, ...]) -> MeterChannel:
        """The channel, which must have a sensor connected (else -241 Hardware missing)."""
        ch = self._ch(suffixes)
        if self.sensors.get(suffixes[0]) is None:
            raise ScpiError(-241, "Hardware missing;no sensor on channel")
        return ch

    def _invalidate(self, ch: MeterChannel) -> None:
        ch.result_w = None

    def measurement_time_s(self, ch: MeterChannel) -> float:
        """Unscaled time of one averaged reading."""
        count = 1 if ch.rate == "FAST" else ch.average_count
        return READING_TIME_S[ch.rate] * count

    # ------------------------------------------------------------------ settings
    def _set_freq(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.frequency_hz = parse_number(args[0], "HZ", minimum=1e3, maximum=1e12, default=50e6)
        self._invalidate(ch)

    def _set_count(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.average_count = parse_int(args[0], minimum=1, maximum=1024, default=4)
        ch.average_auto = False
        self._invalidate(ch)

    def _set_count_auto(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.average_auto = parse_bool(args[0]) if args[0].upper() != "ONCE" else False

    def _set_rate(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).rate = parse_enum(args[0], ["NORMal", "DOUBle", "FAST"])

    def _set_offset(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.offset_db = parse_number(args[0], "DB", minimum=-100.0, maximum=100.0, default=0.0)
        ch.offset_on = True  # entering an offset enables it [verify]
        self._invalidate(ch)

    def _set_offset_state(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.offset_on = parse_bool(args[0])
        self._invalidate(ch)

    def _set_unit(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).unit = parse_enum(args[0], ["DBM", "W"])

    def _set_cont(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.continuous = parse_bool(args[0])
        self._invalidate(ch)

    # ------------------------------------------------------------------ zero / calibration
    def _zero(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._sensor(s)
        word = parse_enum(args[0], ["ONCE", "OFF", "ON"])
        if word != "ONCE":
            return
        if self.bench.total_power_dbm(self.role) > -60.0:
            # zeroing with RF applied gives a wrong zero; the meter reports it [verify code]
            raise ScpiError(-231, "Data questionable;zero with signal present")
        ch.zeroed = True
        self._invalidate(ch)
        self.start_operation(ZERO_TIME_S)

    def _cal(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._sensor(s)
        if parse_enum(args[0], ["ONCE", "OFF", "ON"]) != "ONCE":
            return
        ch.calibrated = True
        ch.zeroed = True  # CAL on P-series sensors includes a zero [verify]
        self._invalidate(ch)
        self.start_operation(ZERO_TIME_S + CAL_TIME_S)

    def _cal_all_query(self, s: tuple[int, ...]) -> str:
        self._cal(["ONCE"], s)
        return "0"  # 0 = passed

    # ------------------------------------------------------------------ measuring
    def _reading_w(self, ch: MeterChannel) -> float:
        """One averaged reading at the sensor (W, before offset), seeded noise."""
        p_dbm = self.bench.total_power_dbm(self.role)
        p_w = 10.0 ** ((p_dbm - 30.0) / 10.0) if math.isfinite(p_dbm) else 0.0
        count = 1 if ch.rate == "FAST" else ch.average_count
        rel = (10.0 ** (NOISE_DB / math.sqrt(count) / 10.0) - 1.0) * self.rng.standard_normal()
        floor = NOISE_FLOOR_W / math.sqrt(count) * self.rng.standard_normal()
        zero = 0.0 if ch.zeroed else UNZEROED_OFFSET_W
        return abs(p_w * (1.0 + rel) + floor + zero)

    def _format(self, ch: MeterChannel, p_w: float) -> str:
        p_dbm = 10.0 * math.log10(max(p_w, 1e-15)) + 30.0
        if p_dbm > SENSOR_RANGE_DBM[1] + 3.0:
            # over range: an error in the queue and the SCPI "invalid" value [verify code]
            self.push_error(-231, "Data questionable;Over range")
            return format_float(OVER_RANGE)
        if ch.offset_on:
            p_dbm += ch.offset_db
        if ch.unit == "W":
            return format_float(10.0 ** ((p_dbm - 30.0) / 10.0))
        return format_float(p_dbm)

    def _init(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._sensor(s)
        if ch.continuous:
            raise ScpiError(-213)  # Init ignored: already free-running
        ch.result_w = self._reading_w(ch)
        self.start_operation(self.measurement_time_s(ch))

    def _abort(self, args: list[str], s: tuple[int, ...]) -> None:
        self._invalidate(self._ch(s))

    def _configure(self, args: list[str], s: tuple[int, ...]) -> None:
        """CONFigure: expected value/resolution accepted and ignored; single-shot trigger."""
        ch = self._ch(s)
        if len(args) > 3:
            raise ScpiError(-108)
        ch.continuous = False
        self._invalidate(ch)

    def _fetch(self, args: list[str], s: tuple[int, ...]) -> str:
        ch = self._sensor(s)
        if ch.continuous:
            return self._format(ch, self._reading_w(ch))
        if ch.result_w is None:
            raise ScpiError(-230)  # Data corrupt or stale: no INIT since the last change
        return self._format(ch, ch.result_w)

    def _read(self, args: list[str], s: tuple[int, ...]) -> str:
        """READ? = INIT + FETCh? (single-shot mode only); the reading takes its time."""
        ch = self._sensor(s)
        if ch.continuous:
            raise ScpiError(-213)
        return self._measure_now(ch)

    def _measure(self, args: list[str], s: tuple[int, ...]) -> str:
        """MEASure? = ABORt, CONFigure, READ? (one-shot; leaves the channel in single mode)."""
        ch = self._sensor(s)
        self._configure(args, s)
        return self._measure_now(ch)

    def _measure_now(self, ch: MeterChannel) -> str:
        # the core sends the reply when the operation started here completes
        ch.result_w = self._reading_w(ch)
        self.start_operation(self.measurement_time_s(ch))
        return self._format(ch, ch.result_w)


def _b(value: bool) -> str:
    return "1" if value else "0"
