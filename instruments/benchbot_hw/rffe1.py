"""benchbot RFFE-1: the open MIPI RFFE bench adapter (docs/rffe-adapter.md is its manual).

Commands: ``VIO:LEVel <V>``, ``VIO[:STATe] ON|OFF``, ``RFFE:SCLK <Hz>``,
``RFFE:WRITe <usid>,<address>,<data>`` (Register Write for 0x00-0x1F, Extended Register Write
above), ``RFFE:READ? <usid>,<address>`` → ``<data>``, ``RFFE:EXTended:WRITe`` /
``RFFE:EXTended:READ?`` (1-16 consecutive registers), ``RFFE:TRIGger <usid>,<n>``. A read that no
slave answers returns the SCPI NaN value ``9.91E+37`` and queues ``+201,"RFFE read parity
error;..."``; bus commands while VIO is off are refused with -221. Every write is followed by an
error-queue check, so a refused write raises `InstrumentError` naming the command.
"""

from __future__ import annotations

import operator

from instruments.common import ScpiCommon, num, parse_bool
from instruments.errors import InstrumentError, UnexpectedResponse
from instruments.interfaces import RffeController
from instruments.scpi import ScpiSession

VIO_RANGE_V = (1.0, 2.0)
MAX_EXTENDED_BYTES = 16


def _check(name: str, value: int, lo: int, hi: int) -> int:
    """`value` as an int within [lo, hi] (bool and float refused), else ValueError."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or not lo <= number <= hi:
        raise ValueError(f"RFFE {name} must be an integer {lo:#x}..{hi:#x}, not {value!r}")
    return number


class BenchbotRffe1(ScpiCommon, RffeController):
    """One RFFE bus: VIO supply and register access to the slaves on it."""

    supported_models = ("RFFE-1",)

    def __init__(self, session: ScpiSession, *, sclk_hz: float | None = None) -> None:
        super().__init__(session)
        if sclk_hz is not None:
            self._configure(f"RFFE:SCLK {num(sclk_hz)}")

    def reset(self) -> None:
        """``*RST;*CLS``: VIO off (every slave back to its defaults), 1.8 V, 26 MHz SCLK."""
        self._reset()

    def set_vio(self, on: bool, voltage_v: float = 1.8) -> None:
        """VIO on at `voltage_v` (level first, then the switch) or off."""
        if on:
            lo, hi = VIO_RANGE_V
            if not lo <= voltage_v <= hi:
                raise ValueError(f"VIO must be {lo:g}..{hi:g} V, not {voltage_v!r}")
            self._configure(f"VIO:LEV {num(voltage_v)}", "VIO ON")
        else:
            self._configure("VIO OFF")

    def vio_is_on(self) -> bool:
        return parse_bool(self.session.query("VIO?"), "VIO?")

    def write_register(self, usid: int, address: int, value: int) -> None:
        usid, address = _check("USID", usid, 0, 15), _check("address", address, 0, 0xFF)
        value = _check("data", value, 0, 0xFF)
        self._configure(f"RFFE:WRIT {usid},{address},{value}")

    def read_register(self, usid: int, address: int) -> int:
        usid, address = _check("USID", usid, 1, 15), _check("address", address, 0, 0xFF)
        return self._read(f"RFFE:READ? {usid},{address}", 1)[0]

    def write_registers(self, usid: int, address: int, values: list[int]) -> None:
        """Extended Register Write of consecutive registers from `address` (1-16 bytes)."""
        usid, address = _check("USID", usid, 0, 15), _check("address", address, 0, 0xFF)
        data = [_check("data", v, 0, 0xFF) for v in values]
        if not 1 <= len(data) <= MAX_EXTENDED_BYTES or address + len(data) > 0x100:
            raise ValueError("an extended write carries 1-16 bytes within addresses 0x00-0xFF")
        self._configure(f"RFFE:EXT:WRIT {usid},{address}," + ",".join(map(str, data)))

    def read_registers(self, usid: int, address: int, count: int) -> list[int]:
        """Extended Register Read of `count` (1-16) consecutive registers."""
        usid, address = _check("USID", usid, 1, 15), _check("address", address, 0, 0xFF)
        count = _check("count", count, 1, MAX_EXTENDED_BYTES)
        if not 1 <= count <= MAX_EXTENDED_BYTES or address + count > 0x100:
            raise ValueError("an extended read covers 1-16 bytes within addresses 0x00-0xFF")
        return self._read(f"RFFE:EXT:READ? {usid},{address},{count}", count)

    def trigger(self, usid: int, trigger: int = 0) -> None:
        """Fire TRIGGER_n of PM_TRIG (0x1C): triggered registers take their shadow values."""
        usid, trigger = _check("USID", usid, 0, 15), _check("trigger", trigger, 0, 2)
        self._configure(f"RFFE:TRIG {usid},{trigger}")

    def _read(self, command: str, count: int) -> list[int]:
        """Query bytes; a byte no slave drove (NaN) raises the adapter's own error."""
        reply = self.session.query(command)
        try:
            values = [float(v) for v in reply.split(",")]
        except ValueError:
            raise UnexpectedResponse(reply, command, f"{count} byte(s)") from None
        if len(values) == count and all(0 <= v <= 0xFF and v == int(v) for v in values):
            return [int(v) for v in values]
        self.session.check_errors(after=command)  # raises with the adapter's reason
        if len(values) != count:
            raise UnexpectedResponse(reply, command, f"{count} byte(s)")
        raise InstrumentError(0, f"no slave answered (reply {reply!r})", command)
