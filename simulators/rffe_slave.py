"""A MIPI RFFE slave's register file: what a front-end part does with the bus, whatever its RF.

Behaviour modelled (MIPI Alliance Specification for RF Front-End Control Interface, v2.1; the
specification is members-only, so clause numbers below are marked [verify]):
- VIO is both the interface supply and the reset: while VIO is off (or outside the part's VIO
  range) the slave is held in reset, its registers are at their defaults, writes are lost and
  reads are not answered (the master samples the bus keeper's 0 and flags a parity error).
- Reserved registers [verify §6.x, "Reserved registers"]: 0x1C PM_TRIG (bits 7:6 PWR_MODE,
  00 = Active, 01 = Startup, 10 = Low Power; bits 5:3 TRIGGER_MASK_2..0, 1 = trigger disabled;
  bits 2:0 TRIGGER_2..0, write 1 to fire, read as 0), 0x1D PRODUCT_ID (read only), 0x1E
  MANUFACTURER_ID[7:0] (read only), 0x1F MAN_USID (bits 5:4 MANUFACTURER_ID[9:8] read only,
  bits 3:0 USID). Writing PWR_MODE = Startup restores the defaults and returns to Active;
  Low Power keeps the registers but the part's RF is off.
- Triggered registers: a register assigned to trigger n (datasheet-specific) takes a write into
  a shadow register while TRIGGER_MASK_n is 0; firing TRIGGER_n copies the shadow to the
  destination. With the mask bit set, writes take effect at once.
- USID 0 is the broadcast ID: every slave takes the write; nobody answers a read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PM_TRIG, PRODUCT_ID, MANUFACTURER_ID, MAN_USID = 0x1C, 0x1D, 0x1E, 0x1F
PWR_MODE_ACTIVE, PWR_MODE_STARTUP, PWR_MODE_LOW_POWER = 0b00, 0b01, 0b10
BROADCAST_USID = 0
#: a 1.8 V VIO part's operating range (typical RFFE datasheet: 1.65-1.95 V) [typ]
DEFAULT_VIO_RANGE_V = (1.65, 1.95)


def _int(value: Any) -> int:
    """Config integers may be written 0x1F, 31 or "0x1F"."""
    return int(value, 0) if isinstance(value, str) else int(value)


@dataclass
class RffeSlave:
    """One RFFE slave: USID, identity registers, user registers 0x00-0xFF, triggers, VIO."""

    default_usid: int
    product_id: int
    manufacturer_id: int  # 10 bits
    defaults: dict[int, int] = field(default_factory=dict)
    #: register -> trigger number (0..2) for registers the datasheet makes "triggered"
    triggered: dict[int, int] = field(default_factory=dict)
    vio_range_v: tuple[float, float] = DEFAULT_VIO_RANGE_V
    powered: bool = False
    registers: dict[int, int] = field(default_factory=dict)
    shadow: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.default_usid <= 15:
            raise ValueError(f"RFFE USID must be 1..15, not {self.default_usid}")
        if not 0 <= self.product_id <= 0xFF:
            raise ValueError(f"PRODUCT_ID is 8 bits, not {self.product_id:#x}")
        if not 0 <= self.manufacturer_id <= 0x3FF:
            raise ValueError(f"MANUFACTURER_ID is 10 bits, not {self.manufacturer_id:#x}")
        for reg, trig in self.triggered.items():
            if trig not in (0, 1, 2) or not 0 <= reg < PM_TRIG:
                raise ValueError(f"triggered register {reg:#x} -> trigger {trig}: need a user "
                                 "register below 0x1C and trigger 0, 1 or 2")
        self.reset()

    @classmethod
    def from_config(cls, control: dict[str, Any], defaults: dict[int, int]) -> RffeSlave:
        """`control`: {usid, product_id, manufacturer_id, triggered_registers, vio_range_v}."""
        triggered_cfg = control.get("triggered_registers") or {}
        if isinstance(triggered_cfg, list | tuple):
            triggered = {_int(r): 0 for r in triggered_cfg}
        else:
            triggered = {_int(r): _int(t) for r, t in triggered_cfg.items()}
        lo, hi = control.get("vio_range_v", DEFAULT_VIO_RANGE_V)
        return cls(
            default_usid=_int(control.get("usid", 0x7)),
            product_id=_int(control.get("product_id", 0x00)),
            manufacturer_id=_int(control.get("manufacturer_id", 0x000)),
            defaults=dict(defaults),
            triggered=triggered,
            vio_range_v=(float(lo), float(hi)),
        )

    # ------------------------------------------------------------------ state
    @property
    def usid(self) -> int:
        return self.registers[MAN_USID] & 0x0F

    @property
    def power_mode(self) -> int:
        return (self.registers[PM_TRIG] >> 6) & 0b11

    @property
    def rf_active(self) -> bool:
        """Whether the part's RF follows its registers (powered and not in Low Power)."""
        return self.powered and self.power_mode == PWR_MODE_ACTIVE

    def reset(self) -> None:
        """Power-on / Startup defaults: user registers, PM_TRIG = 0, identity, factory USID."""
        self.registers = {r: v & 0xFF for r, v in self.defaults.items()}
        self.registers[PM_TRIG] = 0x00
        self.registers[PRODUCT_ID] = self.product_id
        self.registers[MANUFACTURER_ID] = self.manufacturer_id & 0xFF
        self.registers[MAN_USID] = ((self.manufacturer_id >> 8) & 0b11) << 4 | self.default_usid
        self.shadow = {}

    def set_vio(self, on: bool, voltage_v: float = 1.8) -> bool:
        """Apply VIO; returns whether the slave is now out of reset (VIO inside its range)."""
        lo, hi = self.vio_range_v
        powered = bool(on) and lo <= voltage_v <= hi
        if not powered:
            self.reset()  # VIO low holds the slave in reset [verify §5, VIO]
        self.powered = powered
        return powered

    def register(self, address: int) -> int:
        """A destination (active) register value, as the part's decoder sees it."""
        return self.registers.get(address, 0)

    # ------------------------------------------------------------------ bus access
    def addressed(self, usid: int) -> bool:
        return self.powered and usid in (self.usid, BROADCAST_USID)

    def write(self, usid: int, address: int, value: int) -> bool:
        """A register write on the bus; returns whether this slave took it."""
        if not self.addressed(usid):
            return False
        value &= 0xFF
        if address == PM_TRIG:
            self._write_pm_trig(value)
        elif address in (PRODUCT_ID, MANUFACTURER_ID):
            pass  # read only
        elif address == MAN_USID:
            if value & 0x0F:  # a new USID (0 is the broadcast ID: never a slave's own)
                self.registers[MAN_USID] = (self.registers[MAN_USID] & 0xF0) | (value & 0x0F)
        elif address in self.triggered and not self._mask(self.triggered[address]):
            self.shadow[address] = value  # waits for its trigger
        else:
            self.registers[address] = value
        return True

    def read(self, usid: int, address: int) -> int | None:
        """A register read; None when no slave drives the bus (VIO off, other USID, broadcast)."""
        if not self.powered or usid != self.usid:
            return None
        if address == PM_TRIG:
            return self.registers[PM_TRIG] & 0xF8  # trigger bits read as 0
        return self.registers.get(address, 0)

    def _mask(self, trigger: int) -> bool:
        return bool(self.registers[PM_TRIG] >> (3 + trigger) & 1)

    def _write_pm_trig(self, value: int) -> None:
        mode = (value >> 6) & 0b11
        if mode == PWR_MODE_STARTUP:
            self.reset()  # Startup: defaults, then Active [verify]
            return
        self.registers[PM_TRIG] = value & 0xF8
        for trigger in range(3):
            if value >> trigger & 1 and not self._mask(trigger):
                for reg, trig in self.triggered.items():
                    if trig == trigger and reg in self.shadow:
                        self.registers[reg] = self.shadow.pop(reg)
