"""benchbot RFFE-1: the open MIPI RFFE bench adapter (an MCU board speaking SCPI over USB-TMC or
LAN), as documented in docs/rffe-adapter.md. It masters one RFFE bus and supplies its VIO; the
slave on the bus is the bench's network DUT (`bench.network`: `set_vio`, `rffe_write`,
`rffe_read`; see `simulators.controlled_duts`), driven under the bench lock.

Bus facts used (MIPI RFFE v2.1 [verify clause numbers]): Register Write/Read reach addresses
0x00-0x1F, Extended Register Write/Read 0x00-0xFF with 1-16 bytes per sequence, Register 0
Write carries 7 bits; every frame has odd parity; a read that no slave answers leaves SDATA at
the bus keeper's 0, so the master sees 0x00 with parity 0 — a parity error.
"""

from __future__ import annotations

from typing import Any

from simulators.bench import VirtualBench
from simulators.scpi_core import ScpiDevice, ScpiError, format_float, parse_bool, parse_number

VIO_RANGE_V = (1.0, 2.0)
SCLK_RANGE_HZ = (32e3, 26e6)  # RFFE full-speed SCLK up to 26 MHz [verify]
MAX_EXTENDED_BYTES = 16
#: SCPI "not a number" response value (SCPI-1999 Vol. 1 §7.2.1.5): a byte nobody drove
NAN_RESPONSE = "9.91E+37"
#: device-specific error (positive code, SCPI-1999 Vol. 2 §21.8.4)
ERR_PARITY = 201


def parse_integer_data(arg: str, minimum: int, maximum: int) -> int:
    """Decimal or IEEE 488.2 §7.7.4 non-decimal numeric data (`#H1F`, `#Q37`, `#B11111`),
    range-checked (-222 outside [minimum, maximum])."""
    text = arg.strip().upper()
    if text.startswith("#") and len(text) > 2 and text[1] in "HQB":
        base = {"H": 16, "Q": 8, "B": 2}[text[1]]
        try:
            value = int(text[2:], base)
        except ValueError:
            raise ScpiError(-121) from None  # invalid character in number
    else:
        number = parse_number(text, minimum=minimum, maximum=maximum)
        if number != round(number):
            raise ScpiError(-224, "Illegal parameter value;integer expected")
        value = int(round(number))
    if not minimum <= value <= maximum:
        raise ScpiError(-222)
    return value


class BenchbotRffeAdapter(ScpiDevice):
    """RFFE-1 adapter: VIO supply, SCLK rate, register and extended register access, triggers."""

    idn = ("benchbot", "RFFE-1", "RF0000042", "1.0.0")
    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "rffe_controller",
                 model: str = "benchbot_rffe1") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.vio_on = False
        self.vio_level_v = 1.8
        self.sclk_hz = 26e6
        c = self.command
        c("VIO[:STATe]", set=self._set_vio_state, query=lambda a, s: "1" if self.vio_on else "0")
        c("VIO:LEVel", set=self._set_vio_level, query=lambda a, s: format_float(self.vio_level_v))
        c("RFFE:SCLK[:FREQuency]", set=self._set_sclk,
          query=lambda a, s: format_float(self.sclk_hz))
        c("RFFE:WRITe", set=self._write)
        c("RFFE:READ", query=self._read)
        c("RFFE:EXTended:WRITe", set=self._ext_write)
        c("RFFE:EXTended:READ", query=self._ext_read)
        c("RFFE:ZERO:WRITe", set=self._zero_write)
        c("RFFE:TRIGger", set=self._trigger)
        self.reset()

    def reset(self) -> None:
        """*RST: VIO off (the slaves go to reset), 1.8 V, SCLK 26 MHz."""
        super().reset()
        self.vio_level_v = 1.8
        self.sclk_hz = 26e6
        if getattr(self, "vio_on", False):
            self.vio_on = False
            self._tell_vio()

    # ------------------------------------------------------------------ the bus and its slave
    @property
    def _slave(self) -> Any:
        return getattr(self.bench, "network", None)

    def _tell_vio(self) -> None:
        net = self._slave
        if net is not None and hasattr(net, "set_vio"):
            net.set_vio(self.vio_on, self.vio_level_v)
        self.bench.log_event(self.role, f"VIO {'on' if self.vio_on else 'off'} "
                                        f"{self.vio_level_v:g} V")

    def _bus_write(self, usid: int, address: int, value: int) -> None:
        net = self._slave
        if net is not None and hasattr(net, "rffe_write"):
            net.rffe_write(usid, address, value)
        self.bench.log_event(self.role, f"write USID {usid} [{address:#04x}] = {value:#04x}")

    def _bus_read(self, usid: int, address: int) -> int | None:
        net = self._slave
        return net.rffe_read(usid, address) if net is not None and hasattr(net, "rffe_read") \
            else None

    def _need_vio(self) -> None:
        if not self.vio_on:
            raise ScpiError(-221, "Settings conflict;VIO is off")

    # ------------------------------------------------------------------ settings
    def _set_vio_state(self, args: list[str], s: tuple[int, ...]) -> None:
        on = parse_bool(args[0])
        if on != self.vio_on:
            self.vio_on = on
            self._tell_vio()

    def _set_vio_level(self, args: list[str], s: tuple[int, ...]) -> None:
        lo, hi = VIO_RANGE_V
        self.vio_level_v = parse_number(args[0], "V", minimum=lo, maximum=hi, default=1.8)
        if self.vio_on:
            self._tell_vio()

    def _set_sclk(self, args: list[str], s: tuple[int, ...]) -> None:
        lo, hi = SCLK_RANGE_HZ
        self.sclk_hz = parse_number(args[0], "HZ", minimum=lo, maximum=hi, default=26e6)

    # ------------------------------------------------------------------ command sequences
    @staticmethod
    def _args(args: list[str], count: int) -> list[str]:
        if len(args) < count:
            raise ScpiError(-109)  # missing parameter
        if len(args) > count:
            raise ScpiError(-108)  # parameter not allowed
        return args

    def _write(self, args: list[str], s: tuple[int, ...]) -> None:
        """RFFE:WRITe <usid>,<address>,<data>: Register Write (0x00-0x1F) or Extended Register
        Write of one byte (0x20-0xFF)."""
        usid_a, addr_a, data_a = self._args(args, 3)
        usid = parse_integer_data(usid_a, 0, 15)
        address = parse_integer_data(addr_a, 0, 0xFF)
        value = parse_integer_data(data_a, 0, 0xFF)
        self._need_vio()
        self._bus_write(usid, address, value)

    def _read(self, args: list[str], s: tuple[int, ...]) -> str:
        """RFFE:READ? <usid>,<address>: Register Read / Extended Register Read of one byte."""
        usid_a, addr_a = self._args(args, 2)
        usid = parse_integer_data(usid_a, 0, 15)
        address = parse_integer_data(addr_a, 0, 0xFF)
        return ",".join(self._read_bytes(usid, address, 1))

    def _read_bytes(self, usid: int, address: int, count: int) -> list[str]:
        if usid == 0:
            raise ScpiError(-221, "Settings conflict;broadcast USID 0 cannot be read")
        self._need_vio()
        values = [self._bus_read(usid, address + k) for k in range(count)]
        if any(v is None for v in values):
            self.push_error(ERR_PARITY, f"RFFE read parity error;no slave answered USID {usid} "
                                        f"address {address:#04x}")
        return [NAN_RESPONSE if v is None else str(v) for v in values]

    def _ext_write(self, args: list[str], s: tuple[int, ...]) -> None:
        """RFFE:EXTended:WRITe <usid>,<address>,<byte>{,<byte>}: 1-16 consecutive registers."""
        if len(args) < 3:
            raise ScpiError(-109)
        if len(args) > 2 + MAX_EXTENDED_BYTES:
            raise ScpiError(-108)
        usid = parse_integer_data(args[0], 0, 15)
        address = parse_integer_data(args[1], 0, 0xFF)
        data = [parse_integer_data(a, 0, 0xFF) for a in args[2:]]
        if address + len(data) > 0x100:
            raise ScpiError(-222, "Data out of range;extended write past address 0xFF")
        self._need_vio()
        for k, value in enumerate(data):
            self._bus_write(usid, address + k, value)

    def _ext_read(self, args: list[str], s: tuple[int, ...]) -> str:
        """RFFE:EXTended:READ? <usid>,<address>,<count>: 1-16 consecutive registers."""
        usid_a, addr_a, count_a = self._args(args, 3)
        usid = parse_integer_data(usid_a, 0, 15)
        address = parse_integer_data(addr_a, 0, 0xFF)
        count = parse_integer_data(count_a, 1, MAX_EXTENDED_BYTES)
        if address + count > 0x100:
            raise ScpiError(-222, "Data out of range;extended read past address 0xFF")
        return ",".join(self._read_bytes(usid, address, count))

    def _zero_write(self, args: list[str], s: tuple[int, ...]) -> None:
        """RFFE:ZERO:WRITe <usid>,<data>: Register 0 Write (7-bit data, register 0x00)."""
        usid_a, data_a = self._args(args, 2)
        usid = parse_integer_data(usid_a, 0, 15)
        value = parse_integer_data(data_a, 0, 0x7F)
        self._need_vio()
        self._bus_write(usid, 0x00, value)

    def _trigger(self, args: list[str], s: tuple[int, ...]) -> None:
        """RFFE:TRIGger <usid>,<n>: fire TRIGGER_n of PM_TRIG (0x1C). A slave USID is read,
        modified and written back (PWR_MODE and masks kept); broadcast USID 0 writes 1 << n
        (every slave Active, masks cleared)."""
        usid_a, trig_a = self._args(args, 2)
        usid = parse_integer_data(usid_a, 0, 15)
        trigger = parse_integer_data(trig_a, 0, 2)
        self._need_vio()
        if usid == 0:
            self._bus_write(0, 0x1C, 1 << trigger)
            return
        current = self._bus_read(usid, 0x1C)
        if current is None:
            self.push_error(ERR_PARITY, f"RFFE read parity error;no slave answered USID {usid} "
                                        "address 0x1c (trigger not sent)")
            return
        self._bus_write(usid, 0x1C, (current & 0xF8) | (1 << trigger))
