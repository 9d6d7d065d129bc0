"""Keysight DAQ970A data acquisition system with a DAQM907A multifunction module (digital I/O).

The DAQM907A's channels s01 and s02 are 8-bit digital I/O ports (s = slot; s01 = LSB byte of a
WORD), as on the 34970A's 34907A. Command forms (34970A/34972A User's Guide ch. 5 "Digital
Input/Output Commands"; 34980A help "SOURce:DIGital:DATA[:<width>]"; the DAQ970A keeps the
34970A command set [verify against the DAQ970A Programming Guide 9018-04756]):
- `SOURce:DIGital:DATA[:{BYTE|WORD}] <data>,(@<ch_list>)`: drive the port(s) (decimal or
  IEEE 488.2 #H/#Q/#B data); the query form returns the value last output [verify];
- `[SENSe:]DIGital:DATA:{BYTE|WORD}? (@<ch_list>)`: read the lines; a port being driven reads
  back what it drives (34980A remark: channels configured as outputs return the last output);
- `SYSTem:CTYPe? <slot>`: the module in a slot ("<manufacturer>,<model>,<serial>,<firmware>";
  an empty slot reads "0,0,0,0" [verify]).
A port write sets `bench.gpio[<channel>]` (1 or 2 for s01/s02) and calls
`bench.network.set_gpio(port, value)` when the network DUT has control pins. `*RST` leaves the
DIO output state alone [verify].
"""

from __future__ import annotations

from simulators.bench import VirtualBench
from simulators.rffe_adapter import parse_integer_data
from simulators.scpi_core import ScpiDevice, ScpiError, parse_channel_list, parse_int

MODULE_IDN = {
    "DAQM907A": ("Keysight Technologies", "DAQM907A", "MY58100421", "1.03"),  # [verify]
    "DAQM901A": ("Keysight Technologies", "DAQM901A", "MY58100117", "1.03"),
}
DIO_CHANNELS = (1, 2)  # 8-bit ports of a DAQM907A


class KeysightDAQ970A(ScpiDevice):
    """DAQ970A mainframe; `bench.config[role]["modules"]` = {slot: model}, default {3: DAQM907A}."""

    idn = ("Keysight Technologies", "DAQ970A", "MY58012345", "A.03.02")  # firmware [verify]
    options = ()

    def __init__(self, bench: VirtualBench | None = None, role: str = "gpio",
                 model: str = "keysight_daq970a") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        cfg = self.bench.config.get(role) or {}
        modules = cfg.get("modules") if isinstance(cfg, dict) else None
        self.modules: dict[int, str] = {int(k): str(v) for k, v in
                                        (modules or {3: "DAQM907A"}).items()}
        for slot, module in self.modules.items():
            if slot not in (1, 2, 3) or module not in MODULE_IDN:
                raise ValueError(f"DAQ970A slot {slot}: unknown module {module!r}")
        c = self.command
        c("SOURce:DIGital:DATA[:BYTE]", set=lambda a, s: self._source(a, 8),
          query=lambda a, s: self._source_query(a, 8))
        c("SOURce:DIGital:DATA:WORD", set=lambda a, s: self._source(a, 16),
          query=lambda a, s: self._source_query(a, 16))
        c("[SENSe]:DIGital:DATA:BYTE", query=lambda a, s: self._sense(a, 8))
        c("[SENSe]:DIGital:DATA:WORD", query=lambda a, s: self._sense(a, 16))
        c("SYSTem:CTYPe", query=self._ctype)
        self.reset()

    # ------------------------------------------------------------------ channels
    def _port(self, channel: int, width: int) -> int:
        """`sccc` → DIO port 1 or 2 of a DAQM907A; a WORD is addressed at s01."""
        slot, number = divmod(channel, 100)
        module = self.modules.get(slot)
        if module is None:
            raise ScpiError(-241, f"Hardware missing;no module in slot {slot}")
        if module != "DAQM907A" or number not in DIO_CHANNELS or (width == 16 and number != 1):
            raise ScpiError(-222, f"Data out of range;channel {channel} is not a "
                                  f"{'WORD' if width == 16 else 'BYTE'} digital channel")
        return number

    def _channels(self, arg: str, width: int) -> list[int]:
        channels = parse_channel_list(arg)
        if not channels:
            raise ScpiError(-109)
        return [self._port(ch, width) for ch in channels]

    # ------------------------------------------------------------------ handlers
    def _source(self, args: list[str], width: int) -> None:
        if len(args) != 2:
            raise ScpiError(-109 if len(args) < 2 else -108)
        value = parse_integer_data(args[0], 0, (1 << width) - 1)
        for port in self._channels(args[1], width):
            if width == 16:
                self._drive(1, value & 0xFF)
                self._drive(2, value >> 8)
            else:
                self._drive(port, value)

    def _drive(self, port: int, value: int) -> None:
        self.bench.gpio[port] = value
        net = getattr(self.bench, "network", None)
        if net is not None and hasattr(net, "set_gpio"):
            net.set_gpio(port, value)
        self.bench.log_event(self.role, f"DIO port {port} = {value:#04x}")

    def _value(self, port: int, width: int) -> int:
        if width == 16:
            return self.bench.gpio.get(1, 0) | self.bench.gpio.get(2, 0) << 8
        return self.bench.gpio.get(port, 0)

    def _source_query(self, args: list[str], width: int) -> str:
        if len(args) != 1:
            raise ScpiError(-109 if not args else -108)
        return ",".join(str(self._value(p, width)) for p in self._channels(args[0], width))

    def _sense(self, args: list[str], width: int) -> str:
        """Line levels: what the port drives (nothing else pulls the lines on this bench)."""
        return self._source_query(args, width)

    def _ctype(self, args: list[str], s: tuple[int, ...]) -> str:
        slot = parse_int(args[0], minimum=1, maximum=3)
        module = self.modules.get(slot)
        return ",".join(MODULE_IDN[module]) if module else "0,0,0,0"
