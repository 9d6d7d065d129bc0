"""Keysight PNA / PNA-X / ENA E5080B vector network analyzer (one SCPI class, several models).

Command forms: PNA help "GP-IB Command Finder" (CALCulate:PARameter, CALCulate:DATA incl.
`CALC<cnum>:DATA:SNP:PORTs? "x,y,z"`, CALCulate:MEASure<mnum>:CORRection:TYPE?,
SENSe:CORRection:CSET:ACTivate? NAME, SENSe:SWEep:MODE/GROups:COUNt, SYSTem:CAPability:HARDware:
PORTs:COUNt?), reference §4.5, scikit-rf `skrf/vi/vna/keysight/pna.py` and QCoDeS `N52xx.py`.
The E5080B uses the same tree [verify]. Physics: `simulators.vna_core.VnaFrontEnd`.

- Measurements (CALC:PAR:DEF:EXT 'name',S21) belong to a channel and get instrument-wide
  numbers; a sweep sources every port that a measurement of the channel drives (plus every
  calibrated port when a full cal corrects one of them); the receivers see all ports.
- `SENS:SWE:MODE SING` sweeps once, `GRO` sweeps `SENS:SWE:GRO:COUN` times, then HOLD;
  `*OPC?` blocks until the last sweep ends. Sweep averaging (AVER:STAT/COUN) accumulates
  sweeps up to the count until AVER:CLE or a stimulus change restarts it. Data are latched when
  the sweep completes: a fetch during a sweep returns the previous data (zero before the first).
- `CALC:DATA:SNP:PORTs?` columns: frequency, then Re and Im of each S-parameter in .sNp order
  (2 ports: S11 S21 S12 S22; otherwise row by row) [verify 2-port order]; parameters whose
  stimulus port was not swept are zero-filled (PNA help).
- *RST = preset with the S11 measurement 'CH1_S11_1'; SYST:FPR = no measurements. Both leave
  the installed cal set stored but not applied [verify]; SENS:CORR:CSET:ACT 'name',1 re-applies.
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field

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
from simulators.vna_core import (
    COMPLEX_FORMATS,
    VnaFrontEnd,
    VnaSweep,
    formatted_trace,
    snp_columns,
)


@dataclass(frozen=True)
class PnaModel:
    """What differs between the models: identity, test ports, stimulus and power ranges."""

    model: str
    port_count: int
    frequency_range_hz: tuple[float, float]
    power_range_dbm: tuple[float, float]
    max_points: int = 100_001
    serial: str = "MY00000000"
    firmware: str = "A.17.20.07"  # [verify]


PNA_MODELS: dict[str, PnaModel] = {
    "keysight_n5247b": PnaModel("N5247B", 4, (10e6, 67e9), (-30.0, 10.0), serial="MY58470123"),
    "keysight_n5227b": PnaModel("N5227B", 2, (10e6, 67e9), (-30.0, 10.0), serial="MY58270456"),
    "keysight_e5080b": PnaModel("E5080B", 4, (9e3, 20e9), (-60.0, 10.0), serial="MY59080789",
                                firmware="A.15.20.08"),
    "keysight_n5291a": PnaModel("N5291A", 2, (900.0, 120e9), (-30.0, 0.0), serial="MY59100321"),
}

#: IF bandwidth steps (1-1.5-2-3-5-7 per decade, 1 Hz .. 15 MHz) [verify the exact list]
_IFBW_STEPS = np.array([m * 10.0 ** e for e in range(0, 8) for m in (1, 1.5, 2, 3, 5, 7)
                        if m * 10.0 ** e <= 15e6])
_FORMATS = ["MLOGarithmic", "MLINear", "PHASe", "UPHase", "REAL", "IMAGinary", "SWR",
            "GDELay", "SMITh", "POLar"]
_PARAM_RE = re.compile(r"^S(?:(\d)(\d)|(\d+)_(\d+))$")


@dataclass
class Measurement:
    name: str
    receive_port: int  # i of S_ij
    source_port: int  # j of S_ij
    number: int
    fmt: str = "MLOG"

    @property
    def parameter(self) -> str:
        return f"S{self.receive_port}{self.source_port}"


@dataclass
class Channel:
    """Stimulus, averaging, trigger state and the latched data of one channel."""

    start_hz: float
    stop_hz: float
    points: int = 201
    if_bandwidth_hz: float = 100e3
    power_dbm: float = -10.0
    averaging: bool = False
    average_count: int = 1
    averaged_sweeps: int = 0
    mode: str = "CONT"
    group_count: int = 1
    correction: bool = False
    cal_applied: bool = False
    measurements: dict[str, Measurement] = field(default_factory=dict)
    selected: str | None = None
    #: (F, P, P) data of the last completed sweep, the sweep it came from, and a pending one
    data: np.ndarray | None = None
    data_sweep: VnaSweep | None = None
    pending: tuple[float, np.ndarray, VnaSweep] | None = None

    def sweep(self, average_count: int = 1) -> VnaSweep:
        return VnaSweep(self.start_hz, self.stop_hz, self.points, self.if_bandwidth_hz,
                        self.power_dbm, average_count)


class KeysightPNA(ScpiDevice):
    """A PNA-family VNA: channels of measurements on `VnaFrontEnd` physics."""

    def __init__(self, bench: VirtualBench | None = None, role: str = "vna",
                 model: str = "keysight_n5247b") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.spec = PNA_MODELS[model]
        self.idn = ("Keysight Technologies", self.spec.model, self.spec.serial,
                    self.spec.firmware)
        self.front_end = VnaFrontEnd(self.bench, role, self.spec.port_count,
                                     self.spec.frequency_range_hz)
        self.channels: dict[int, Channel] = {}
        self._next_number = 1
        self.trigger_source = "IMM"
        self.snp_format = "AUTO"
        self._register()
        self.reset()
        # power-on state of the lab: the operator's cal set is applied to channel 1
        if self._cal["cal_set"]:
            ch = self._ch((1,))
            ch.cal_applied = ch.correction = True

    # ------------------------------------------------------------------ command tree
    def _register(self) -> None:
        c = self.command
        c("SYSTem:FPReset", set=lambda a, s: self._preset(with_s11=False))
        c("SYSTem:PRESet", set=lambda a, s: self._preset(with_s11=True))
        c("SYSTem:CAPability:HARDware:PORTs:COUNt",
          query=lambda a, s: str(self.spec.port_count))
        c("SYSTem:CAPability:HARDware:PORTs:INTernal:COUNt",
          query=lambda a, s: str(self.spec.port_count))
        c("SYSTem:CHANnels:CATalog", query=lambda a, s: _quoted(map(str, sorted(self.channels))))
        c("SYSTem:MEASurement:CATalog", query=self._meas_catalog)
        c("SYSTem:ACTive:CHANnel", query=lambda a, s: str(min(self.channels)))
        c("FORMat[:DATA]", set=self._set_format, query=lambda a, s: self._format_name())
        c("FORMat:BORDer", set=self._set_border, query=lambda a, s: self.byte_order)
        c("MMEMory:STORe:TRACe:FORMat:SNP", set=self._set_snp_format,
          query=lambda a, s: self.snp_format)
        c("OUTPut[:STATe]", set=lambda a, s: self.front_end.set_rf(parse_bool(a[0])),
          query=lambda a, s: _b(self.front_end.rf_on()))
        c("TRIGger[:SEQuence]:SOURce", set=self._set_trigger,
          query=lambda a, s: self.trigger_source)
        c("INITiate<n>[:IMMediate]", set=lambda a, s: self._trigger(self._ch(s), 1))
        c("INITiate<n>:CONTinuous", set=self._set_init_cont,
          query=lambda a, s: _b(any(ch.mode == "CONT" for ch in self.channels.values())))
        # stimulus and receiver (SENSe<cnum>, SOURce<cnum>)
        c("SENSe<n>:FREQuency:STARt", set=lambda a, s: self._set_freq(s, a, "start"),
          query=lambda a, s: format_float(self._ch(s).start_hz))
        c("SENSe<n>:FREQuency:STOP", set=lambda a, s: self._set_freq(s, a, "stop"),
          query=lambda a, s: format_float(self._ch(s).stop_hz))
        c("SENSe<n>:FREQuency:CENTer", set=lambda a, s: self._set_freq(s, a, "center"),
          query=lambda a, s: format_float(0.5 * (self._ch(s).start_hz + self._ch(s).stop_hz)))
        c("SENSe<n>:FREQuency:SPAN", set=lambda a, s: self._set_freq(s, a, "span"),
          query=lambda a, s: format_float(self._ch(s).stop_hz - self._ch(s).start_hz))
        c("SENSe<n>:SWEep:POINts", set=self._set_points,
          query=lambda a, s: str(self._ch(s).points))
        c("SENSe<n>:BWIDth[:RESolution]", set=self._set_ifbw,
          query=lambda a, s: format_float(self._ch(s).if_bandwidth_hz))
        c("SENSe<n>:BANDwidth[:RESolution]", set=self._set_ifbw,
          query=lambda a, s: format_float(self._ch(s).if_bandwidth_hz))
        c("SENSe<n>:SWEep:TYPE", set=self._set_sweep_type, query=lambda a, s: "LIN")
        c("SENSe<n>:SWEep:TIME", set=lambda a, s: None,
          query=lambda a, s: format_float(self.sweep_time_s(self._ch(s))))
        c("SENSe<n>:SWEep:MODE", set=self._set_mode, query=lambda a, s: self._mode(self._ch(s)))
        c("SENSe<n>:SWEep:GROups:COUNt", set=self._set_group_count,
          query=lambda a, s: str(self._ch(s).group_count))
        c("SENSe<n>:AVERage[:STATe]", set=self._set_averaging,
          query=lambda a, s: _b(self._ch(s).averaging))
        c("SENSe<n>:AVERage:COUNt", set=self._set_average_count,
          query=lambda a, s: str(self._ch(s).average_count))
        c("SENSe<n>:AVERage:CLEar", set=lambda a, s: self._restart_average(self._ch(s)))
        c("SENSe<n>:AVERage:MODE", set=lambda a, s: parse_enum(a[0], ["POINt", "SWEep"]),
          query=lambda a, s: "SWEEP")
        c("SENSe<n>:X[:VALues]", query=lambda a, s: self._stimulus(s))
        c("SOURce<n>:POWer<n>[:LEVel][:IMMediate][:AMPLitude]", set=self._set_power,
          query=lambda a, s: format_float(self._ch(s).power_dbm))
        # calibration
        c("SENSe<n>:CORRection[:STATe]", set=self._set_correction,
          query=lambda a, s: _b(self._corrected(self._ch(s))))
        c("SENSe<n>:CORRection:CSET:ACTivate", set=self._activate_cal_set,
          query=self._active_cal_set)
        c("SENSe<n>:CORRection:CSET:DEACtivate",
          set=lambda a, s: setattr(self._ch(s), "cal_applied", False))
        c("SENSe<n>:CORRection:CSET:CATalog", query=lambda a, s: _quoted(
            [self._cal["cal_set"]] if self._cal["cal_set"] else []))
        c("CALCulate<n>:MEASure<n>:CORRection:TYPE", query=self._meas_cal_type)
        c("CALCulate<n>:CORRection:TYPE", query=self._selected_cal_type)
        c("CALCulate<n>:MEASure<n>:CORRection[:STATe]:INDicator", query=self._meas_cal_indicator)
        # measurements
        c("CALCulate<n>:PARameter:DEFine:EXTended", set=self._define)
        c("CALCulate<n>:PARameter:EXTended", set=self._define)  # scikit-rf's short form
        c("CALCulate<n>:PARameter:DELete[:NAME]", set=self._delete)
        c("CALCulate<n>:PARameter:DELete:ALL", set=self._delete_all)
        c("CALCulate<n>:PARameter:SELect", set=self._select)
        c("CALCulate<n>:PARameter:CATalog[:EXTended]", query=self._catalog)
        c("CALCulate<n>:PARameter:MNUMber[:SELect]", set=self._select_number,
          query=lambda a, s: str(self._selected(s).number))
        c("CALCulate<n>:PARameter:TAG:NEXT", query=lambda a, s: f'"CH{s[0]}_{self._next_number}"')
        c("CALCulate<n>:FORMat", set=self._set_display_format,
          query=lambda a, s: self._selected(s).fmt)
        c("CALCulate<n>:MEASure<n>:FORMat", set=self._set_meas_format,
          query=lambda a, s: self._by_number(s[1]).fmt)
        c("DISPlay:WINDow<n>[:STATe]", set=lambda a, s: None, query=lambda a, s: "1")
        c("DISPlay:WINDow<n>:TRACe<n>:FEED", set=lambda a, s: self._by_name(parse_string(a[0])))
        c("DISPlay:WINDow<n>:TRACe:NEXT", query=lambda a, s: str(self._next_number))
        # data
        c("CALCulate<n>:DATA", query=self._data)
        c("CALCulate<n>:MEASure<n>:DATA:SDATa", query=lambda a, s: self._meas_data(s, "SDATA"))
        c("CALCulate<n>:MEASure<n>:DATA:FDATa", query=lambda a, s: self._meas_data(s, "FDATA"))
        c("CALCulate<n>:DATA:SNP:PORTs", query=self._snp)
        c("CALCulate<n>:MEASure<n>:DATA:SNP:PORTs", query=self._snp)
        c("CALCulate<n>:X[:VALues]", query=lambda a, s: self._stimulus(s))
        c("CALCulate<n>:MEASure<n>:X[:VALues]", query=lambda a, s: self._stimulus(s))

    # ------------------------------------------------------------------ reset / preset
    def reset(self) -> None:
        """*RST: the preset state (S11 on channel 1, continuous sweep, RF on, FORM ASC)."""
        super().reset()
        self._preset(with_s11=True)

    def _preset(self, with_s11: bool) -> None:
        self.channels = {}
        self._next_number = 1
        self.trigger_source = "IMM"
        self.snp_format = "AUTO"
        self.data_format, self.byte_order = "ASC", "NORM"
        self.busy_until = 0.0
        ch = self._ch((1,))
        self.front_end.set_rf(True, ch.power_dbm)
        if with_s11:
            self._add(ch, 1, "CH1_S11_1", 1, 1)
            ch.selected = "CH1_S11_1"

    @property
    def _cal(self) -> dict[str, object]:
        return self.front_end.installed_calibration()

    def _ch(self, suffixes: tuple[int, ...]) -> Channel:
        """The channel of the first suffix, created with preset stimulus when first used."""
        n = suffixes[0] if suffixes else 1
        if not 1 <= n <= 200:
            raise ScpiError(-114, "Header suffix out of range;channel")
        if n not in self.channels:
            lo, hi = self.spec.frequency_range_hz
            self.channels[n] = Channel(start_hz=lo, stop_hz=hi)
        return self.channels[n]

    # ------------------------------------------------------------------ format
    def _set_format(self, args: list[str], _s: tuple[int, ...]) -> None:
        kind = parse_enum(args[0], ["ASCii", "REAL"])
        if kind == "ASC":
            self.data_format = "ASC"
            return
        bits = parse_int(args[1]) if len(args) > 1 else 32
        if bits not in (32, 64):
            raise ScpiError(-224)
        self.data_format = f"REAL,{bits}"

    def _format_name(self) -> str:
        return "ASC,+0" if self.data_format == "ASC" else f"REAL,+{self.data_format[5:]}"

    def _set_border(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.byte_order = parse_enum(args[0], ["NORMal", "SWAPped"])

    def _set_snp_format(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.snp_format = parse_enum(args[0], ["RI", "MA", "DB", "AUTO"])

    # ------------------------------------------------------------------ stimulus settings
    def _changed(self, ch: Channel) -> None:
        """A stimulus change invalidates the data and restarts averaging."""
        ch.data, ch.data_sweep, ch.pending = None, None, None
        self._restart_average(ch)

    def _restart_average(self, ch: Channel) -> None:
        ch.averaged_sweeps = 0

    def _set_freq(self, s: tuple[int, ...], args: list[str], which: str) -> None:
        ch = self._ch(s)
        lo, hi = self.spec.frequency_range_hz
        value = parse_number(args[0], "HZ", minimum=0.0 if which == "span" else lo, maximum=hi,
                             default=lo if which != "stop" else hi)
        start, stop = ch.start_hz, ch.stop_hz
        if which == "start":
            start, stop = value, max(stop, value)
        elif which == "stop":
            start, stop = min(start, value), value
        else:
            center = 0.5 * (start + stop) if which == "span" else value
            span = value if which == "span" else stop - start
            start, stop = center - span / 2, center + span / 2
            if start < lo - 1e-6 or stop > hi + 1e-6:
                raise ScpiError(-222, "Data out of range;frequency outside the analyzer's range")
        ch.start_hz, ch.stop_hz = start, stop
        self._changed(ch)

    def _set_points(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.points = parse_int(args[0], minimum=1, maximum=self.spec.max_points, default=201)
        self._changed(ch)

    def _set_ifbw(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        value = parse_number(args[0], "HZ", minimum=1.0, maximum=float(_IFBW_STEPS[-1]),
                             default=100e3)
        # the analyzer selects the nearest available bandwidth [verify rounding rule]
        ch.if_bandwidth_hz = float(_IFBW_STEPS[np.argmin(np.abs(np.log(_IFBW_STEPS / value)))])
        self._changed(ch)

    def _set_sweep_type(self, args: list[str], s: tuple[int, ...]) -> None:
        kind = parse_enum(args[0], ["LINear", "LOGarithmic", "POWer", "CW", "SEGMent", "PHASe"])
        if kind != "LIN":
            raise ScpiError(-221, "Settings conflict;only linear sweeps are simulated")

    def _set_power(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        lo, hi = self.spec.power_range_dbm
        ch.power_dbm = parse_number(args[0], "DBM", minimum=lo, maximum=hi, default=-10.0)
        self._changed(ch)
        self.front_end.set_source_power_dbm(max(c.power_dbm for c in self.channels.values()))

    def _set_averaging(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.averaging = parse_bool(args[0])
        self._restart_average(ch)

    def _set_average_count(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.average_count = parse_int(args[0], minimum=1, maximum=65536, default=1)
        self._restart_average(ch)

    def _set_trigger(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.trigger_source = parse_enum(args[0], ["IMMediate", "EXTernal", "MANual"])

    # ------------------------------------------------------------------ sweeping
    def _set_mode(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        mode = parse_enum(args[0], ["HOLD", "CONTinuous", "GROups", "SINGle"])
        ch.mode = mode
        if mode == "SING":
            self._trigger(ch, 1)
        elif mode == "GRO":
            self._trigger(ch, ch.group_count)

    def _set_group_count(self, args: list[str], s: tuple[int, ...]) -> None:
        self._ch(s).group_count = parse_int(args[0], minimum=1, maximum=2_000_000, default=1)

    def _set_init_cont(self, args: list[str], _s: tuple[int, ...]) -> None:
        on = parse_bool(args[0])
        for ch in self.channels.values():
            ch.mode = "CONT" if on else "HOLD"

    def _mode(self, ch: Channel) -> str:
        if ch.mode in ("SING", "GRO") and time.monotonic() >= self.busy_until:
            ch.mode = "HOLD"
        return ch.mode

    def source_ports(self, ch: Channel) -> set[int]:
        """Ports the channel must source: every measurement's stimulus port, and all the
        calibrated ports when a full cal corrects one of the measurements."""
        ports = {m.source_port for m in ch.measurements.values()}
        cal_ports = set(self._cal_ports(ch))
        if cal_ports and any({m.source_port, m.receive_port} <= cal_ports
                             for m in ch.measurements.values()):
            ports |= cal_ports
        return ports

    def sweep_time_s(self, ch: Channel) -> float:
        return self.front_end.sweep_time_s(ch.sweep(), max(1, len(self.source_ports(ch))))

    def _trigger(self, ch: Channel, sweeps: int) -> None:
        """Run `sweeps` sweeps now: the data latch updates when the last one completes."""
        if self.trigger_source == "EXT":
            return  # waits for a rear-panel trigger that never comes in the simulation
        if ch.averaging:
            ch.averaged_sweeps = min(ch.averaged_sweeps + sweeps, ch.average_count)
            effective = max(1, ch.averaged_sweeps)
        else:
            effective = 1
        sweep = ch.sweep(effective)
        data = self._acquire(ch, sweep)
        done = self.start_operation(self.sweep_time_s(ch) * sweeps)
        ch.pending = (done, data, sweep)

    def _acquire(self, ch: Channel, sweep: VnaSweep) -> np.ndarray:
        ports = tuple(range(1, self.spec.port_count + 1))
        corrected: bool | list[int] = self._cal_ports(ch)
        try:
            data = self.front_end.measure(sweep, ports, corrected)
        except ValueError as exc:
            raise ScpiError(-200, f"Execution error;{exc}") from None
        sourced = self.source_ports(ch)
        for j in ports:
            if j not in sourced:
                data[:, :, j - 1] = 0.0  # no stimulus on that port this sweep
        return data

    def _latest(self, ch: Channel) -> tuple[np.ndarray, VnaSweep]:
        """The data of the last completed sweep (continuous mode: a fresh sweep each time)."""
        if ch.mode == "CONT" and self.trigger_source != "EXT":
            sweep = ch.sweep()
            ch.data, ch.data_sweep, ch.pending = self._acquire(ch, sweep), sweep, None
        if ch.pending is not None and time.monotonic() >= ch.pending[0]:
            _, ch.data, ch.data_sweep = ch.pending
            ch.pending = None
        if ch.data is None or ch.data_sweep is None:
            sweep = ch.sweep()
            p = self.spec.port_count
            return np.zeros((sweep.points, p, p), dtype=complex), sweep
        return ch.data, ch.data_sweep

    # ------------------------------------------------------------------ calibration
    def _cal_ports(self, ch: Channel) -> list[int]:
        """Ports the channel's error correction covers (none while correction is off)."""
        if not self._corrected(ch):
            return []
        return list(self._cal["ports"])  # type: ignore[call-overload]

    def _corrected(self, ch: Channel) -> bool:
        return ch.correction and ch.cal_applied

    def _set_correction(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        on = parse_bool(args[0])
        if on and not ch.cal_applied:
            raise ScpiError(-221, "Settings conflict;no Cal Set applied to the channel")
        ch.correction = on
        self._changed(ch)

    def _activate_cal_set(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        name = parse_string(args[0])
        if not name or name != self._cal["cal_set"]:
            raise ScpiError(-224, f"Illegal parameter value;Cal Set {name!r} not found")
        ch.cal_applied = ch.correction = True
        self._changed(ch)

    def _active_cal_set(self, args: list[str], s: tuple[int, ...]) -> str:
        ch = self._ch(s)
        if not ch.cal_applied:
            return '"No Calset Selected"'
        name = str(self._cal["cal_set"])
        # GUID by default, NAME on request; the simulated GUID is derived from the name
        if args and parse_enum(args[0], ["NAME", "GUID"]) == "NAME":
            return f'"{name}"'
        return f'"{{{zlib.crc32(name.encode()):08X}-0000-0000-0000-000000000000}}"'

    def _cal_type(self, ch: Channel, m: Measurement) -> str:
        """"Full <n> Port(x,y,...)" when the channel's full cal covers the measurement."""
        ports = self._cal_ports(ch)
        if not {m.source_port, m.receive_port} <= set(ports):
            return '""'  # [verify] the reply for an uncorrected measurement
        return f'"Full {len(ports)} Port({",".join(map(str, ports))})"'

    def _meas_cal_type(self, args: list[str], s: tuple[int, ...]) -> str:
        m = self._by_number(s[1])
        return self._cal_type(self._channel_of(m), m)

    def _selected_cal_type(self, args: list[str], s: tuple[int, ...]) -> str:
        return self._cal_type(self._ch(s), self._selected(s))

    def _meas_cal_indicator(self, args: list[str], s: tuple[int, ...]) -> str:
        m = self._by_number(s[1])
        return "NONE" if self._cal_type(self._channel_of(m), m) == '""' else "MAST"

    # ------------------------------------------------------------------ measurements
    def _add(self, ch: Channel, number: int, name: str, i: int, j: int) -> None:
        ch.measurements[name] = Measurement(name, i, j, number)
        self._next_number = max(self._next_number, number + 1)

    def _define(self, args: list[str], s: tuple[int, ...]) -> None:
        if len(args) < 2:
            raise ScpiError(-109)
        ch = self._ch(s)
        name = parse_string(args[0])
        if not name or any(name in c.measurements for c in self.channels.values()):
            raise ScpiError(-224, f"Illegal parameter value;measurement name {name!r} in use")
        m = _PARAM_RE.match(parse_string(args[1]).upper())
        if m is None:
            raise ScpiError(-224, f"Illegal parameter value;parameter {args[1]}")
        i, j = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(3)),
                                                                       int(m.group(4)))
        p = self.spec.port_count
        if not (1 <= i <= p and 1 <= j <= p):
            raise ScpiError(-224, f"Illegal parameter value;{args[1]} needs ports 1..{p}")
        self._add(ch, self._next_number, name, i, j)
        self._changed(ch)

    def _delete(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        name = parse_string(args[0])
        if name not in ch.measurements:
            raise ScpiError(-224, f"Illegal parameter value;measurement {name!r} not found")
        del ch.measurements[name]
        if ch.selected == name:
            ch.selected = None
        self._changed(ch)

    def _delete_all(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        ch.measurements.clear()
        ch.selected = None
        self._changed(ch)

    def _select(self, args: list[str], s: tuple[int, ...]) -> None:
        ch = self._ch(s)
        name = parse_string(args[0])
        if name not in ch.measurements:
            raise ScpiError(-224, f"Illegal parameter value;measurement {name!r} not found")
        ch.selected = name

    def _select_number(self, args: list[str], s: tuple[int, ...]) -> None:
        m = self._by_number(parse_int(args[0], minimum=1))
        self._channel_of(m).selected = m.name

    def _catalog(self, args: list[str], s: tuple[int, ...]) -> str:
        ch = self._ch(s)
        if not ch.measurements:
            return '"NO CATALOG"'
        return _quoted(f"{m.name},{m.parameter}" for m in ch.measurements.values())

    def _meas_catalog(self, args: list[str], s: tuple[int, ...]) -> str:
        chans = [self._ch((parse_int(args[0]),))] if args else list(self.channels.values())
        return _quoted(str(m.number) for ch in chans for m in ch.measurements.values())

    def _selected(self, s: tuple[int, ...]) -> Measurement:
        ch = self._ch(s)
        if ch.selected is None:
            raise ScpiError(-221, "Settings conflict;no measurement selected on the channel")
        return ch.measurements[ch.selected]

    def _by_name(self, name: str) -> Measurement:
        for ch in self.channels.values():
            if name in ch.measurements:
                return ch.measurements[name]
        raise ScpiError(-224, f"Illegal parameter value;measurement {name!r} not found")

    def _by_number(self, number: int) -> Measurement:
        for ch in self.channels.values():
            for m in ch.measurements.values():
                if m.number == number:
                    return m
        raise ScpiError(-114, f"Header suffix out of range;measurement {number} not found")

    def _channel_of(self, m: Measurement) -> Channel:
        return next(ch for ch in self.channels.values() if m.name in ch.measurements)

    def _set_display_format(self, args: list[str], s: tuple[int, ...]) -> None:
        self._selected(s).fmt = parse_enum(args[0], _FORMATS)

    def _set_meas_format(self, args: list[str], s: tuple[int, ...]) -> None:
        self._by_number(s[1]).fmt = parse_enum(args[0], _FORMATS)

    # ------------------------------------------------------------------ data
    def _stimulus(self, s: tuple[int, ...]) -> bytes:
        return self.format_values(self._ch(s).sweep().frequency_hz())

    def _trace(self, ch: Channel, m: Measurement, kind: str) -> bytes:
        data, sweep = self._latest(ch)
        s = data[:, m.receive_port - 1, m.source_port - 1]
        if kind == "SDATA":
            return self.format_values(np.column_stack((s.real, s.imag)))
        return self.format_values(formatted_trace(s, sweep.frequency_hz(), m.fmt))

    def _data(self, args: list[str], s: tuple[int, ...]) -> bytes:
        if not args:
            raise ScpiError(-109)
        kind = parse_enum(args[0], ["FDATa", "SDATa"])
        return self._trace(self._ch(s), self._selected(s), kind + "A")

    def _meas_data(self, s: tuple[int, ...], kind: str) -> bytes:
        m = self._by_number(s[1])
        return self._trace(self._channel_of(m), m, kind)

    def _snp(self, args: list[str], s: tuple[int, ...]) -> bytes:
        """SnP columns of `ports`: frequency, then Re/Im (or the SNP format's pair) per S_ij."""
        if not args:
            raise ScpiError(-109)
        ch = self._ch(s)
        measurement = self._selected(s)
        words = parse_string(args[0]).replace(",", " ").split()
        try:
            ports = [int(w) for w in words]
        except ValueError:
            raise ScpiError(-224, "Illegal parameter value;port list") from None
        if not ports or len(set(ports)) != len(ports) or not all(
                1 <= p <= self.spec.port_count for p in ports):
            raise ScpiError(-224, f"Illegal parameter value;ports {words}")
        data, sweep = self._latest(ch)
        idx = np.asarray(ports) - 1
        pair = self.snp_format if self.snp_format != "AUTO" else (
            "RI" if measurement.fmt in COMPLEX_FORMATS else
            "MA" if measurement.fmt == "MLIN" else "DB")  # AUTO: as displayed [verify]
        return self.format_values(snp_columns(sweep.frequency_hz(),
                                              data[:, idx[:, None], idx[None, :]], pair))


def _b(value: bool) -> str:
    return "1" if value else "0"


def _quoted(items: object) -> str:
    return '"' + ",".join(items) + '"'  # type: ignore[call-overload]
