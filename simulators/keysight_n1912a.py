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

The sensor on each channel comes from the bench's ``power_sensors.<role>`` (``channel``,
``model``, ``eeprom``, ``cal_factor: {frequency_hz, cal_factor_pct}``): by default an N1921A on
channel A, whose EEPROM cal factors the meter applies (readings are right). A sensor without
EEPROM (8480 series, e.g. an 8481A) has a true cal factor (efficiency and mismatch loss, %,
linear between points, flat beyond the ends; a typical 8481A's when not given): it delivers
``P * CF_true(f) / 100`` and the meter divides by the cal factor it applies -- the selected
sensor calibration table interpolated at the channel's frequency when ``CORR:CSET1:STATe`` is
ON (``MEMory:TABLe:*`` commands, see the driver), else 100 %. So without the certificate's
table a reading is low by the cal factor, with a wrong table off by the difference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.bench import VirtualBench
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    format_float,
    parse_bool,
    parse_enum,
    parse_int,
    parse_number,
    parse_string,
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
#: a typical 8481A's cal factor (%), a few % below 100 and falling with frequency
TYPICAL_8481A_CAL_FACTOR = ((50e6, 1e9, 4e9, 10e9, 18e9), (100.0, 99.1, 97.9, 95.8, 91.6))
#: sensors of the 8480 series carry no EEPROM: their cal factors come from a certificate
_NO_EEPROM = re.compile(r"^[RQ]?848\d")
TABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,12}$")
MAX_TABLES = 20  # E4418B: 20 sensor calibration tables [verify P-series]
MAX_TABLE_POINTS = 80  # ... of 80 frequency points each [verify P-series]
CAL_FACTOR_RANGE_PCT = (1.0, 150.0)


@dataclass(frozen=True)
class Sensor:
    """The power sensor on one channel: model, EEPROM or not, and its true cal factor."""

    model: str
    eeprom: bool
    frequency_hz: tuple[float, ...] = ()
    cal_factor_pct: tuple[float, ...] = ()

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Sensor:
        model = str(cfg.get("model", SENSOR_MODEL))
        eeprom = bool(cfg.get("eeprom", _NO_EEPROM.match(model) is None))
        table = cfg.get("cal_factor") or {}
        freqs, factors = TYPICAL_8481A_CAL_FACTOR
        if table:
            freqs = tuple(float(f) for f in table["frequency_hz"])
            factors = tuple(float(v) for v in table["cal_factor_pct"])
        return cls(model, eeprom, tuple(freqs), tuple(factors))

    def true_cal_factor_pct(self, frequency_hz: float) -> float:
        """What fraction (%) of the incident power the sensor turns into its reading."""
        if self.eeprom:
            return 100.0  # the meter applies the sensor's own (exact) cal factors
        return float(np.interp(frequency_hz, self.frequency_hz, self.cal_factor_pct))

    @property
    def type_reply(self) -> str:
        """``SERV:SENS<n>:TYPE?``: the model of a P-series sensor, the letter of an 8480-series
        one (``A`` for an 8481A, as public EPM scripts test for) [verify]."""
        return self.model if self.eeprom else self.model[-1]


@dataclass
class SensorTable:
    """A sensor calibration table in the meter's memory: frequencies and RCF + cal factors."""

    frequency_hz: list[float] = field(default_factory=list)
    gain_pct: list[float] = field(default_factory=list)


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
    cal_table: str = ""  # CORR:CSET1:SELect
    cal_table_on: bool = False  # CORR:CSET1:STATe


class KeysightN1912A(ScpiDevice):
    """N1912A with an N1921A on channel 1 and nothing on channel 2 (→ -241 Hardware missing)."""

    idn = ("Keysight Technologies", "N1912A", "MY55300123", "A2.01.08")  # firmware [verify]
    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "power_meter",
                 model: str = "keysight_n1912a") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.sensors: dict[int, Sensor | None] = {1: Sensor(SENSOR_MODEL, eeprom=True), 2: None}
        cfg = (self.bench.config.get("power_sensors") or {}).get(role)
        if cfg:
            self.sensors[int(cfg.get("channel", 1))] = Sensor.from_config(cfg)
        #: sensor calibration tables (non-volatile: they survive *RST) and the one being edited
        self.tables: dict[str, SensorTable] = {}
        self.table_selected = ""
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
        c("SERVice:SENSor<n>:TYPE", query=lambda a, s: self._sensor_type(s))
        c("MEMory:TABLe:SELect", set=self._select_table,
          query=lambda a, s: f'"{self.table_selected}"')
        c("MEMory:TABLe:FREQuency", set=self._set_table_freqs,
          query=lambda a, s: _list(self._edited().frequency_hz))
        c("MEMory:TABLe:FREQuency:POINTs",
          query=lambda a, s: str(len(self._edited().frequency_hz)))
        c("MEMory:TABLe:GAIN[:MAGNitude]", set=self._set_table_gains,
          query=lambda a, s: _list(self._edited().gain_pct))
        c("MEMory:TABLe:GAIN[:MAGNitude]:POINTs",
          query=lambda a, s: str(len(self._edited().gain_pct)))
        c("MEMory:CATalog:TABLe", query=lambda a, s: self._catalog())
        c("[SENSe<n>]:CORRection:CSET1[:SELect]", set=self._select_cset,
          query=lambda a, s: f'"{self._ch(s).cal_table}"')
        c("[SENSe<n>]:CORRection:CSET1:STATe", set=self._set_cset_state,
          query=lambda a, s: _b(self._ch(s).cal_table_on))
        self.reset()

    def reset(self) -> None:
        """*RST: 50 MHz, auto averaging (count 4), dBm, no offset, continuous trigger on, no
        sensor calibration table applied [verify].

        Zero and calibration are sensor state and survive *RST [verify]; the tables in memory
        are kept."""
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

    # ------------------------------------------------------------------ sensor cal tables
    def _sensor_type(self, s: tuple[int, ...]) -> str:
        sensor = self.sensors.get(s[0])
        return "NONE" if sensor is None else sensor.type_reply

    def _edited(self) -> SensorTable:
        if not self.table_selected:
            raise ScpiError(-221, "Settings conflict;no table selected")
        return self.tables[self.table_selected]

    def _select_table(self, args: list[str], s: tuple[int, ...]) -> None:
        """MEM:TABL:SEL: a new name creates an empty table [verify: or must an existing
        table be renamed with MEM:TABL:MOVE?]."""
        name = parse_string(args[0])
        if not TABLE_NAME.match(name):
            raise ScpiError(-224, "Illegal parameter value;table name")
        if name not in self.tables:
            if len(self.tables) >= MAX_TABLES:
                raise ScpiError(-225, "Out of memory;too many tables")
            self.tables[name] = SensorTable()
        self.table_selected = name

    def _set_table_freqs(self, args: list[str], s: tuple[int, ...]) -> None:
        table = self._edited()
        if len(args) > MAX_TABLE_POINTS:
            raise ScpiError(-223, "Too much data;more than 80 frequencies")
        freqs = [parse_number(a, "HZ", minimum=1e3, maximum=1e12) for a in args]
        if any(b <= a for a, b in zip(freqs, freqs[1:], strict=False)):
            raise ScpiError(-222, "Data out of range;frequencies must increase")  # [verify]
        table.frequency_hz = freqs
        self._invalidate_all()

    def _set_table_gains(self, args: list[str], s: tuple[int, ...]) -> None:
        table = self._edited()
        if len(args) > MAX_TABLE_POINTS + 1:
            raise ScpiError(-223, "Too much data;more than 81 cal factors")
        lo, hi = CAL_FACTOR_RANGE_PCT
        table.gain_pct = [parse_number(a, "PCT", minimum=lo, maximum=hi) for a in args]
        self._invalidate_all()

    def _catalog(self) -> str:
        """``<used>,<free>{,"<name>,TABL,<size>"}`` (sizes as 8 bytes a value [verify])."""
        sizes = {n: 8 * (len(t.frequency_hz) + len(t.gain_pct)) for n, t in self.tables.items()}
        used = sum(sizes.values())
        names = "".join(f',"{n},TABL,{size}"' for n, size in sizes.items())
        return f"{used},{MAX_TABLES * 8 * (2 * MAX_TABLE_POINTS + 1) - used}{names}"

    def _select_cset(self, args: list[str], s: tuple[int, ...]) -> None:
        """CORR:CSET1:SEL checks the table: one more cal factor (the RCF) than frequencies."""
        ch = self._ch(s)
        name = parse_string(args[0])
        table = self.tables.get(name)
        if table is None:
            raise ScpiError(-224, "Illegal parameter value;no such table")  # [verify code]
        if not table.frequency_hz or len(table.gain_pct) != len(table.frequency_hz) + 1:
            raise ScpiError(-226, "Lists not same length")  # [verify code]
        ch.cal_table = name
        self._invalidate(ch)

    def _set_cset_state(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        on = parse_bool(args[0])
        sensor = self.sensors.get(s[0])
        if on and not ch.cal_table:
            raise ScpiError(-221, "Settings conflict;no sensor calibration table selected")
        if on and sensor is not None and sensor.eeprom:
            # a sensor with EEPROM brings its own cal factors [verify code]
            raise ScpiError(-221, "Settings conflict;sensor has its own calibration data")
        ch.cal_table_on = on
        self._invalidate(ch)

    def _invalidate_all(self) -> None:
        for ch in self.channels.values():
            self._invalidate(ch)

    def _applied_cal_factor_pct(self, ch: MeterChannel) -> float:
        """The cal factor the meter divides by: the selected table at the channel frequency
        (end values beyond the table), else 100 % (no CFACtor modelled)."""
        table = self.tables.get(ch.cal_table) if ch.cal_table_on else None
        if table is None or len(table.gain_pct) != len(table.frequency_hz) + 1:
            return 100.0
        return float(np.interp(ch.frequency_hz, table.frequency_hz, table.gain_pct[1:]))

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
        sensor = next((self.sensors.get(n) for n, c in self.channels.items() if c is ch), None)
        if sensor is not None and not sensor.eeprom:
            p_w *= sensor.true_cal_factor_pct(ch.frequency_hz) / self._applied_cal_factor_pct(ch)
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


def _list(values: list[float]) -> str:
    return ",".join(format_float(v) for v in values)
