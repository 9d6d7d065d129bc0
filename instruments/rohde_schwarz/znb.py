"""Rohde & Schwarz ZNB and ZNA vector network analyzers (ZNB8/20/40, ZNA26/43/67; 2 or 4 ports).

One channel (`channel`, default 1) of the analyzer. Commands (R&S ZNB/ZNBT User Manual
1173.9163.02, ZNA User Manual 1178.6462.02; R&S's example RsInstrument_ZNB_S21_Magnitude_
write_to_csv.py; scikit-rf ``skrf/vi/vna/rohde_schwarz/rs_vna.py``):
- set-up: ``CONFigure:CHANnel<Ch> ON``, ``INITiate<Ch>:CONTinuous OFF`` (hold: nothing sweeps
  until asked), ``INITiate:SCOPe SINGle`` (INIT sweeps only this channel), ``[SENSe<Ch>:]
  FREQuency:STARt|STOP``, ``:SWEep:POINts``, ``:BANDwidth`` (the analyzer rounds the IF bandwidth
  up to its next step; the value read back is recorded), ``SOURce<Ch>:POWer``, ``[SENSe<Ch>:]
  AVERage[:STATe]``/``:COUNt`` and ``:SWEep:COUNt`` = the average count, so that one single sweep
  sequence completes the whole average; ``FORMat REAL,64`` + ``FORMat:BORDer SWAPped``
  (little-endian IEEE 754 doubles).
- the S-matrix: ``CALCulate<Ch>:PARameter:DELete:CALL`` then ``:DEFine:SGRoup 1,2,...`` (ports in
  ascending order, n² traces S11, S12, ... S1n, S21 ...), one synchronised sweep
  ``[SENSe<Ch>:AVERage:CLEar;]:INITiate<Ch>:IMMediate;*OPC?`` (the reply waits for every sweep of
  the sequence), then ``CALCulate<Ch>:DATA:SGRoup? SDATa``: the group's traces one after another,
  each N (Re, Im) pairs, i.e. a (n, n, N) row-major complex array (same reshape as scikit-rf).
  The block is parsed with one zero-copy numpy view.
- calibration: ``[SENSe<Ch>:]CORRection[:STATe]?``, ``:CORRection:SSTate?`` (``'CAL'``,
  ``'CAI'`` interpolated, ``'CAL OFF'``, ``''`` none; R&S RsaToolbox), ``MMEMory:LOAD:
  CORRection? <Ch>`` (the cal group applied to the channel; RsaToolbox), ``CALCulate<Ch>:DATA:
  CALL:CATalog?`` (with a full n-port correction: the S-parameters of the calibrated ports,
  ``'S11,S12,S21,S22'``; manual), ``[SENSe<Ch>:]CORRection:COLLect:METHod:DEFine?`` →
  ``'<cal name>',<cal type>,<ports>`` [verify: the query form of the method definition].
- ``*RST`` drops the channel's user calibration (the cal pool keeps the cal group) [verify]:
  `reset` reloads the cal group that was applied (``MMEMory:LOAD:CORRection <Ch>,'<group>'``).
- ``OUTPut[:STATe] ON|OFF``: the source at every test port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from instruments.common import check_vna_sweep, sweep_axis
from instruments.errors import UnexpectedResponse
from instruments.interfaces import SParameterData, VectorNetworkAnalyzer, VnaCalibration
from instruments.rohde_schwarz._common import RohdeSchwarzCommon, num, on_off, parse_bool
from instruments.scpi import ScpiSession

#: test-port frequency range of each base model, data sheets (options may extend the low end)
#: [verify per unit]
FREQUENCY_RANGES_HZ: dict[str, tuple[float, float]] = {
    "ZNB8": (9e3, 8.5e9), "ZNB20": (100e3, 20e9), "ZNB40": (10e6, 40e9),
    "ZNA26": (10e6, 26.5e9), "ZNA43": (10e6, 43.5e9), "ZNA67": (10e6, 67e9),
}  # fmt: skip
_S_NAME = re.compile(r"S(\d)(\d)$|S(\d\d)(\d\d)$")


def _unquote(reply: str) -> str:
    return reply.strip().strip("'\"").strip()


def calibrated_ports(catalog: str, command: str = "CALC:DATA:CALL:CAT?") -> tuple[int, ...]:
    """``'S11,S12,S21,S22'`` → (1, 2): the ports whose reflection term is in the catalog."""
    ports: set[int] = set()
    for item in filter(None, (x.strip() for x in _unquote(catalog).split(","))):
        m = _S_NAME.match(item.upper())
        if not m:
            raise UnexpectedResponse(catalog, command, "a list of S-parameters 'S11,S21,...'")
        i, j = (int(g) for g in m.groups() if g is not None)
        if i == j:
            ports.add(i)
    return tuple(sorted(ports))


@dataclass(frozen=True)
class _FetchPlan:
    """The SGR query of one group and sweep: command, value count, shape, axis, settings."""

    group: tuple[int, ...]
    command: str
    values: int
    shape: tuple[int, int, int]
    frequency_hz: np.ndarray
    settings: dict[str, float | str]


class RohdeSchwarzZNB(RohdeSchwarzCommon, VectorNetworkAnalyzer):
    """A ZNB/ZNA channel: hold mode, one synchronised sweep, the S-matrix in one SGR block."""

    supported_models = tuple(f"{m}-{n}Port" for m in FREQUENCY_RANGES_HZ for n in (2, 4))

    def __init__(self, session: ScpiSession, *, channel: int = 1,
                 sweep_margin_s: float = 5.0) -> None:
        if channel < 1:
            raise ValueError(f"channel must be >= 1, not {channel}")
        self.channel = int(channel)
        self.sweep_margin_s = sweep_margin_s
        self._settings: dict[str, float | str] | None = None
        self._group: tuple[int, ...] | None = None
        self._sweep_time_s: float | None = None
        self._fetch_plan: _FetchPlan | None = None
        super().__init__(session)
        self._port_count = int(self.session.query_float("INST:PORT:COUN?"))

    # -- Instrument ------------------------------------------------------------------------

    def reset(self) -> None:
        """``*RST;*CLS``, source off, and the channel's cal group applied again."""
        cal_group = self._cal_group() if self._channel_exists() else ""
        self._reset()
        self._forget()
        commands = [f"CONF:CHAN{self.channel} ON", "OUTP OFF"]
        if cal_group:
            commands.append(f"MMEM:LOAD:CORR {self.channel},'{cal_group}'")
        self._configure(*commands)

    def set_rf_output(self, on: bool) -> None:
        self._configure(f"OUTP {on_off(on)}")

    def rf_output_is_on(self) -> bool:
        return parse_bool(self.session.query("OUTP?"), "OUTP?")

    # -- VectorNetworkAnalyzer -------------------------------------------------------------

    @property
    def port_count(self) -> int:
        return self._port_count

    def frequency_range_hz(self) -> tuple[float, float]:
        return FREQUENCY_RANGES_HZ[self.identity.model.split("-")[0]]

    def configure_sweep(
        self,
        start_hz: float,
        stop_hz: float,
        points: int,
        if_bandwidth_hz: float,
        power_dbm: float,
        average_count: int = 1,
    ) -> None:
        """Linear sweep in hold mode, sweep count = average count; settings read back."""
        check_vna_sweep(self.identity.model, self.frequency_range_hz(), start_hz, stop_hz,
                        points, if_bandwidth_hz, average_count)
        ch, count = self.channel, int(average_count)
        self._settings = None
        self._fetch_plan = None
        self._sweep_time_s = None  # the S-parameter group (traces) survives new settings
        self._configure(
            f"CONF:CHAN{ch} ON",
            f"INIT{ch}:CONT OFF",
            "INIT:SCOP SING",
            f"SENS{ch}:SWE:TYPE LIN",
            f"SENS{ch}:FREQ:STAR {num(start_hz)}",
            f"SENS{ch}:FREQ:STOP {num(stop_hz)}",
            f"SENS{ch}:SWE:POIN {int(points)}",
            f"SENS{ch}:BWID {num(if_bandwidth_hz)}",
            f"SOUR{ch}:POW {num(power_dbm)}",
            f"SENS{ch}:AVER:STAT {on_off(count > 1)}",
            f"SENS{ch}:AVER:COUN {count}",
            f"SENS{ch}:SWE:COUN {count}",
            "FORM REAL,64",
            "FORM:BORD SWAP",
        )
        q = self.session.query_float
        self._settings = {
            "start_hz": q(f"SENS{ch}:FREQ:STAR?"),
            "stop_hz": q(f"SENS{ch}:FREQ:STOP?"),
            "points": int(q(f"SENS{ch}:SWE:POIN?")),
            "if_bandwidth_hz": q(f"SENS{ch}:BWID?"),
            "power_dbm": q(f"SOUR{ch}:POW?"),
            "average_count": count,
            "channel": ch,
            "instrument_model": self.identity.model,
        }

    def sweep_time_s(self) -> float:
        """``[SENSe<Ch>:]SWEep:TIME?``: one sweep with the channel's current traces."""
        return self.session.query_float(f"SENS{self.channel}:SWE:TIME?")

    def calibration(self, ports: tuple[int, ...] | None = None) -> VnaCalibration:
        """The channel's correction: state, cal group, type and calibrated ports (`ports` is
        not needed: a ZNB channel has one calibration for all its traces)."""
        ch = self.channel
        state = _unquote(self.session.query(f"SENS{ch}:CORR:SST?"))
        if not state:
            return VnaCalibration(corrected=False)
        corrected = parse_bool(self.session.query(f"SENS{ch}:CORR?"), f"SENS{ch}:CORR?")
        method = self.session.query(f"SENS{ch}:CORR:COLL:METH:DEF?").split(",")
        cal_type = method[1].strip() if len(method) > 1 else ""
        cal_ports: tuple[int, ...] = ()
        if corrected:
            command = f"CALC{ch}:DATA:CALL:CAT?"
            cal_ports = calibrated_ports(self.session.query(command), command)
        return VnaCalibration(corrected=corrected, cal_set=self._cal_group() or state,
                              cal_type=cal_type, ports=cal_ports)

    def measure_s_parameters(
        self, ports: tuple[int, ...], timeout_s: float | None = None,
    ) -> SParameterData:
        """Define the S-parameter group (when the ports change), run one synchronised sweep
        sequence (all averages), read the whole S-matrix in one SGR block."""
        group = self._check_ports(ports)
        if group != self._group:
            ch = self.channel
            self._configure(f"CALC{ch}:PAR:DEL:CALL",
                            f"CALC{ch}:PAR:DEF:SGR {','.join(map(str, group))}")
            self._group = group
            self._sweep_time_s = self.sweep_time_s()
        self.single_sweep(timeout_s)
        return self.fetch_s_parameters(ports)

    # -- the parts of a measurement --------------------------------------------------------

    def single_sweep(self, timeout_s: float | None = None) -> None:
        """``[AVER:CLE;]INIT:IMM;*OPC?``, waiting sweep time × sweeps + margin, then the error
        queue (an INIT the analyzer refused would leave the previous sweep's data)."""
        settings = self.settings()
        count = int(settings["average_count"])
        if self._sweep_time_s is None:
            self._sweep_time_s = self.sweep_time_s()
        wait = (timeout_s if timeout_s is not None
                else self._sweep_time_s * count * 1.2 + self.sweep_margin_s)
        ch = self.channel
        command = f"{f'SENS{ch}:AVER:CLE;:' if count > 1 else ''}INIT{ch}:IMM;*OPC?"
        reply = self.session.query(command, timeout_s=wait)
        if reply.strip() not in ("1", "+1"):
            raise UnexpectedResponse(reply, command, "1")
        self.session.check_errors(after=command)

    def fetch_s_parameters(self, ports: tuple[int, ...]) -> SParameterData:
        """The latest sweep's S-matrix of `ports` (a subset of the defined group, any order):
        ``CALC:DATA:SGR? SDAT`` as REAL,64 little-endian, viewed as complex without a copy."""
        plan = self._fetch_plan
        if plan is None or plan.group != self._group:
            plan = self._fetch_plan = self._make_fetch_plan()
        ports = tuple(ports)
        if ports != plan.group and not set(ports) <= set(plan.group):
            raise ValueError(f"ports {ports} are not in the defined S-parameter group "
                             f"{plan.group}")
        values = self.session.query_binary(plan.command, "d", False, points=plan.values)
        s = values.view(np.complex128).reshape(plan.shape).transpose(2, 0, 1)
        if ports != plan.group:
            idx = np.array([plan.group.index(p) for p in ports])
            s = s[:, idx[:, None], idx[None, :]]
        return SParameterData(plan.frequency_hz, s, ports, 50.0, dict(plan.settings))

    def _make_fetch_plan(self) -> _FetchPlan:
        """What every fetch of the current group and settings shares (built once)."""
        settings, group = self.settings(), self._group
        if group is None:
            raise RuntimeError("measure_s_parameters() first: no S-parameter group defined")
        n, points = len(group), int(settings["points"])
        axis = sweep_axis(float(settings["start_hz"]), float(settings["stop_hz"]), points)
        return _FetchPlan(group, f"CALC{self.channel}:DATA:SGR? SDAT", 2 * n * n * points,
                          (n, n, points), axis, settings)

    def settings(self) -> dict[str, float | str]:
        """The sweep settings as read back by `configure_sweep`."""
        if self._settings is None:
            raise RuntimeError("configure_sweep() first")
        return self._settings

    # -- internals -------------------------------------------------------------------------

    def _check_ports(self, ports: tuple[int, ...]) -> tuple[int, ...]:
        group = tuple(sorted(int(p) for p in ports))
        if not group or len(set(group)) != len(group) or not (
                group[0] >= 1 and group[-1] <= self._port_count):
            raise ValueError(f"ports must be distinct test ports 1..{self._port_count}: {ports}")
        return group

    def _forget(self) -> None:
        """Settings changed (or preset): the group and the sweep time are re-established."""
        self._group = None
        self._sweep_time_s = None
        self._fetch_plan = None

    def _channel_exists(self) -> bool:
        return parse_bool(self.session.query(f"CONF:CHAN{self.channel}?"),
                          f"CONF:CHAN{self.channel}?")

    def _cal_group(self) -> str:
        return _unquote(self.session.query(f"MMEM:LOAD:CORR? {self.channel}"))
