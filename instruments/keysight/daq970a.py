"""Keysight DAQ970A (and 34970A/34972A) digital I/O: the 8-bit ports of a DAQM907A (34907A)
multifunction module drive a DUT's control pins or a test set's relays.

Command forms (34970A/34972A User's Guide ch. 5, "Digital Output Commands"/"Digital Input
Commands"; the DAQ970A keeps the 34970A set [verify against Programming Guide 9018-04756]):
- ``SOURce:DIGital:DATA:BYTE <0..255>,(@s0p)``: drive port p (1 or 2) of the module in slot s;
- ``SENSe:DIGital:DATA:BYTE? (@s0p)``: read the port's lines (a driven port reads back what it
  drives);
- ``SYSTem:CTYPe? <slot>``: the module in the slot (``<manufacturer>,<model>,...``), checked at
  connection so that a wrong slot fails before any line is driven.
"""

from __future__ import annotations

from instruments.errors import UnexpectedResponse
from instruments.interfaces import GpioController
from instruments.keysight._common import KeysightCommon
from instruments.scpi import ScpiSession

#: multifunction modules with two 8-bit DIO ports at channels s01 and s02
DIO_MODULES = ("DAQM907A", "34907A")
PORTS = (1, 2)


class KeysightDAQ970A(KeysightCommon, GpioController):
    """Digital I/O of the DAQM907A in `slot` (1-3); ports 1 and 2 are channels s01 and s02."""

    supported_models = ("DAQ970A", "34970A", "34972A")

    def __init__(self, session: ScpiSession, *, slot: int = 3) -> None:
        if slot not in (1, 2, 3):
            raise ValueError(f"DAQ970A slot must be 1, 2 or 3, not {slot!r}")
        self.slot = slot
        super().__init__(session)
        command = f"SYST:CTYP? {slot}"
        reply = self.session.query(command)
        fields = [f.strip() for f in reply.split(",")]
        self.module = fields[1] if len(fields) >= 2 else ""
        if self.module.upper() not in DIO_MODULES:
            raise UnexpectedResponse(reply, command, f"a {' or '.join(DIO_MODULES)} in slot "
                                                     f"{slot}")

    def _channel(self, port: int) -> str:
        if port not in PORTS:
            raise ValueError(f"{self.module} digital ports are 1 and 2, not {port!r}")
        return f"(@{self.slot}{port:02d})"

    def reset(self) -> None:
        """``*RST;*CLS`` (the DIO output state is not part of the reset [verify])."""
        self._reset()

    def write_port(self, port: int, value: int) -> None:
        """Drive the 8 lines of `port` to `value` (bit n = line n)."""
        channel = self._channel(port)
        if not 0 <= int(value) <= 0xFF:
            raise ValueError(f"an 8-bit port takes 0..255, not {value!r}")
        self._configure(f"SOUR:DIG:DATA:BYTE {int(value)},{channel}")

    def read_port(self, port: int) -> int:
        command = f"SENS:DIG:DATA:BYTE? {self._channel(port)}"
        reply = self.session.query(command)
        try:
            value = int(float(reply))
        except ValueError:
            raise UnexpectedResponse(reply, command, "a byte 0..255") from None
        if not 0 <= value <= 0xFF:
            raise UnexpectedResponse(reply, command, "a byte 0..255")
        return value
