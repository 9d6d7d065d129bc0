"""Keysight PNA / PNA-X (N5222B, N5227B, N5242B, N5247B), ENA E5080B and the N5291A system.

Command forms (PNA help "GP-IB Command Finder"; reference §4.5; scikit-rf
`skrf/vi/vna/keysight/pna.py`, QCoDeS `N52xx.py`):
- measurements: ``CALC<ch>:PAR:DEF:EXT '<name>',S<i><j>``, ``CALC<ch>:PAR:SEL '<name>'``,
  ``CALC<ch>:PAR:CAT:EXT?`` (``"name,param,..."`` or ``"NO CATALOG"``), ``CALC<ch>:PAR:MNUM?``;
- stimulus: ``SENS<ch>:SWE:TYPE LIN``, ``SENS<ch>:FREQ:STAR|STOP``, ``SENS<ch>:SWE:POIN``,
  ``SENS<ch>:BWID`` (the analyzer picks the nearest available IFBW: read back), ``SOUR<ch>:POW1``
  (port powers coupled by default), ``SENS<ch>:AVER[:STAT]``, ``SENS<ch>:AVER:COUN``;
- synchronisation: ``SENS<ch>:SWE:MODE HOLD`` while configuring; a measurement is
  ``SENS<ch>:AVER:CLE``, ``SENS<ch>:SWE:GRO:COUN <averages>``, ``SENS<ch>:SWE:MODE GRO`` (SING
  without averaging), then ``*OPC?`` which answers when the last sweep has completed;
- data: ``FORM REAL,64``, ``FORM:BORD SWAP`` (little-endian), ``MMEM:STOR:TRAC:FORM:SNP RI``,
  ``CALC<ch>:DATA:SNP:PORTs? '1,2,...'``: one block of (1 + 2n²)·F doubles — the frequencies,
  then Re and Im of every S_ij in .sNp order (2 ports S11 S21 S12 S22, otherwise row by row)
  [verify 2-port order against an instrument];
- calibration: ``SENS<ch>:CORR:STAT?``, ``SENS<ch>:CORR:CSET:ACT? NAME`` (``"No Calset
  Selected"`` when none), ``CALC<ch>:MEAS<m>:CORR:TYPE?`` (e.g. ``"Full 2 Port(1,2)"``);
- ``OUTP ON|OFF`` switches the source power of all ports; ``SYST:CAP:HARD:PORT:COUN?``.

`reset()` presets the analyzer (``*RST``), which also un-applies the user's cal set [verify]:
the measurement path never presets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from instruments.common import check_vna_sweep
from instruments.errors import UnexpectedResponse
from instruments.interfaces import SParameterData, VectorNetworkAnalyzer, VnaCalibration
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool, parse_float
from instruments.scpi import ScpiSession

#: published stimulus ranges (data sheets) per model
FREQUENCY_RANGES_HZ: dict[str, tuple[float, float]] = {
    "N5222B": (10e6, 26.5e9), "N5227B": (10e6, 67e9), "N5242B": (10e6, 26.5e9),
    "N5247B": (10e6, 67e9), "E5080B": (9e3, 20e9), "N5291A": (900.0, 120e9),
}  # fmt: skip
_CAL_PORTS_RE = re.compile(r"\(([\d,\s]+)\)")
#: measurement names this driver defines (prefix keeps them apart from the operator's)
_NAME = "bb_CH{ch}_S{i}_{j}"


@dataclass(frozen=True)
class _Sweep:
    """The stimulus as configured and read back."""

    start_hz: float
    stop_hz: float
    points: int
    if_bandwidth_hz: float
    power_dbm: float
    average_count: int


class KeysightPNA(KeysightCommon, VectorNetworkAnalyzer):
    """One channel of a PNA-family analyzer (``channel`` option, default 1)."""

    supported_models = ("N5247B", "N5227B", "N5222B", "N5242B", "E5080B", "N5291A")

    def __init__(self, session: ScpiSession, *, channel: int = 1) -> None:
        if not 1 <= int(channel) <= 200:
            raise ValueError(f"VNA channel must be 1..200, not {channel!r}")
        self.channel = int(channel)
        super().__init__(session)
        reply = self.session.query("SYST:CAP:HARD:PORT:COUN?")
        self._port_count = int(parse_float(reply, "SYST:CAP:HARD:PORT:COUN?"))
        self._defined: set[tuple[int, int]] = set()
        self._sweep: _Sweep | None = None

    # ------------------------------------------------------------------ identity, safety
    @property
    def port_count(self) -> int:
        return self._port_count

    def frequency_range_hz(self) -> tuple[float, float]:
        return FREQUENCY_RANGES_HZ[self.identity.model.upper()]

    def reset(self) -> None:
        """``*RST;*CLS`` (preset: one S11 measurement, continuous sweep, correction not applied
        [verify]); forgets the measurements this driver had defined."""
        self._reset()
        self._defined.clear()
        self._sweep = None

    def set_rf_output(self, on: bool) -> None:
        self._configure(f"OUTP {on_off(on)}")

    def rf_output_is_on(self) -> bool:
        return parse_bool(self.session.query("OUTP?"), "OUTP?")

    # ------------------------------------------------------------------ set-up
    def configure_sweep(
        self,
        start_hz: float,
        stop_hz: float,
        points: int,
        if_bandwidth_hz: float,
        power_dbm: float,
        average_count: int = 1,
    ) -> None:
        check_vna_sweep(self.identity.model, self.frequency_range_hz(), start_hz, stop_hz,
                        points, if_bandwidth_hz, average_count)
        ch = self.channel
        averaging = int(average_count) > 1
        self._configure(
            f"SENS{ch}:SWE:MODE HOLD",
            f"SENS{ch}:SWE:TYPE LIN",
            f"SENS{ch}:FREQ:STAR {num(start_hz)}",
            f"SENS{ch}:FREQ:STOP {num(stop_hz)}",
            f"SENS{ch}:SWE:POIN {int(points)}",
            f"SENS{ch}:BWID {num(if_bandwidth_hz)}",
            f"SOUR{ch}:POW1 {num(power_dbm)}",
            f"SENS{ch}:AVER:COUN {int(average_count)}",
            f"SENS{ch}:AVER {on_off(averaging)}",
            "TRIG:SOUR IMM",
            "FORM:BORD SWAP",
            "FORM REAL,64",
            "MMEM:STOR:TRAC:FORM:SNP RI",
        )
        actual_ifbw = parse_float(self.session.query(f"SENS{ch}:BWID?"), f"SENS{ch}:BWID?")
        self._sweep = _Sweep(float(start_hz), float(stop_hz), int(points), actual_ifbw,
                             float(power_dbm), int(average_count))

    def sweep_time_s(self) -> float:
        """The analyzer's estimate for one sweep of every source port (``SENS:SWE:TIME?``)."""
        command = f"SENS{self.channel}:SWE:TIME?"
        return parse_float(self.session.query(command), command)

    def _ensure_measurements(self, ports: tuple[int, ...]) -> None:
        """Define S_ij for every i, j of `ports` once (the sweep then sources each port) and
        select one of them: SNP reads need a selected S-parameter of the port list."""
        ch = self.channel
        missing = [(i, j) for i in ports for j in ports if (i, j) not in self._defined]
        if missing:
            self._configure(*(f"CALC{ch}:PAR:DEF:EXT '{_NAME.format(ch=ch, i=i, j=j)}',"
                              f"{_parameter(i, j)}" for i, j in missing))
            self._defined.update(missing)
        first = ports[0]
        self.session.write(f"CALC{ch}:PAR:SEL '{_NAME.format(ch=ch, i=first, j=first)}'")

    def _check_ports(self, ports: tuple[int, ...]) -> tuple[int, ...]:
        ports = tuple(int(p) for p in ports)
        if not ports or len(set(ports)) != len(ports):
            raise ValueError(f"ports must be distinct and non-empty: {ports}")
        bad = [p for p in ports if not 1 <= p <= self._port_count]
        if bad:
            raise ValueError(f"port(s) {bad} not on this {self._port_count}-port "
                             f"{self.identity.model}")
        return ports

    # ------------------------------------------------------------------ calibration
    def calibration(self, ports: tuple[int, ...] | None = None) -> VnaCalibration:
        """Correction state, active cal set and the ports its full cal covers."""
        ch = self.channel
        check = self._check_ports(ports or tuple(range(1, self._port_count + 1)))
        corrected = parse_bool(self.session.query(f"SENS{ch}:CORR:STAT?"),
                               f"SENS{ch}:CORR:STAT?")
        cal_set = self.session.query(f"SENS{ch}:CORR:CSET:ACT? NAME").strip().strip('"')
        if cal_set == "No Calset Selected":
            cal_set = ""
        cal_type, cal_ports = "", ()
        for port in check if cal_set else ():
            # the cal type is per measurement: ask an S_pp of each port until one is covered
            self._ensure_measurements((port,))
            command = f"CALC{ch}:PAR:MNUM?"
            mnum = int(parse_float(self.session.query(command), command))
            command = f"CALC{ch}:MEAS{mnum}:CORR:TYPE?"
            cal_type = self.session.query(command).strip().strip('"')
            match = _CAL_PORTS_RE.search(cal_type)
            if cal_type and match is None:
                raise UnexpectedResponse(cal_type, command, '"Full <n> Port(<ports>)"')
            if match is not None:
                cal_ports = tuple(int(p) for p in match.group(1).replace(" ", "").split(","))
                break
        self.session.check_errors(after="calibration read-back")
        return VnaCalibration(corrected=corrected and bool(cal_set), cal_set=cal_set,
                              cal_type=cal_type, ports=cal_ports)

    # ------------------------------------------------------------------ measuring
    def measure_s_parameters(
        self, ports: tuple[int, ...], timeout_s: float | None = None,
    ) -> SParameterData:
        """One synchronised sweep (all averages, every port of `ports` sourced), then the full
        S-matrix of `ports` in one REAL,64 block (`fetch_s_parameters`)."""
        if self._sweep is None:
            raise RuntimeError("configure_sweep() first")
        ports = self._check_ports(ports)
        self._ensure_measurements(ports)
        ch, averages = self.channel, self._sweep.average_count
        if timeout_s is None:
            timeout_s = 1.5 * self.sweep_time_s() * averages + 5.0
        if averages > 1:
            self.session.write(f"SENS{ch}:AVER:CLE;:SENS{ch}:SWE:GRO:COUN {averages};"
                               f":SENS{ch}:SWE:MODE GRO")
        else:
            self.session.write(f"SENS{ch}:SWE:MODE SING")
        self.session.opc(timeout_s)
        self.session.check_errors(after=f"SENS{ch}:SWE:MODE (sweep of ports {ports})")
        return self.fetch_s_parameters(ports)

    def fetch_s_parameters(self, ports: tuple[int, ...]) -> SParameterData:
        """The last completed sweep's S-matrix of `ports`: ``CALC:DATA:SNP:PORTs?`` as one
        little-endian REAL,64 block, reshaped without Python loops."""
        if self._sweep is None:
            raise RuntimeError("configure_sweep() first")
        n, sweep = len(ports), self._sweep
        rows = 1 + 2 * n * n
        command = f"CALC{self.channel}:DATA:SNP:PORTS? '{','.join(map(str, ports))}'"
        block = self.session.query_binary(command, datatype="d", big_endian=False,
                                          points=rows * sweep.points)
        table = block.reshape(rows, sweep.points)
        s = np.empty((sweep.points, n * n), dtype=complex)
        s.real = table[1::2].T
        s.imag = table[2::2].T
        # .sNp order → s[f, row, col]: 2 ports column-major, otherwise row-major
        matrix = s.reshape(-1, n, n)
        if n == 2:
            matrix = matrix.transpose(0, 2, 1)
        settings: dict[str, float | str] = {
            "start_hz": sweep.start_hz, "stop_hz": sweep.stop_hz, "points": sweep.points,
            "if_bandwidth_hz": sweep.if_bandwidth_hz, "power_dbm": sweep.power_dbm,
            "average_count": sweep.average_count, "channel": self.channel,
            "instrument_model": self.identity.model,
        }
        return SParameterData(frequency_hz=table[0].copy(), s=matrix, ports=tuple(ports),
                              z0_ohm=50.0, settings=settings)


def _parameter(receive_port: int, source_port: int) -> str:
    """S-parameter name: ``S21``; with a port above 9 the underscore form ``S1_10`` [verify]."""
    if receive_port > 9 or source_port > 9:
        return f"S{receive_port}_{source_port}"
    return f"S{receive_port}{source_port}"
