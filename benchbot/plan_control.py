"""How a plan controls its DUT: ``dut.control`` (a MIPI RFFE or GPIO controller, the DUT's
named states as ordered actions, the state it starts in and the one it is left in) and the
plan-wide check that every state a step sets exists.

MIPI RFFE facts (v2.1; the specification is members-only, so the register numbers used here
follow public slave datasheets and are marked [verify]): 4-bit USID, registers 0x00-0x1F by
Register Write/Read and up to 0xFF by Extended Register Write/Read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from benchbot.plan_common import PlanModel, Problems, identifier
from benchbot.yamlfile import raise_problems

MAX_WAIT_S = 60.0
MAX_STATES = 64
#: RFFE: 4-bit unique slave ID (MIPI RFFE v2.1; USID 0 is the broadcast ID [verify])
USID_RANGE = (0, 15)
BROADCAST_USID = 0
#: RFFE register space: 0x00-0x1F by Register Write/Read, up to 0xFF by Extended Register
#: Write/Read (MIPI RFFE v2.1 command sequences; the controller picks the sequence)
BYTE_RANGE = (0, 0xFF)
#: PM_TRIG (MIPI RFFE v2.1 register 0x1C): its trigger bits are self-clearing, so a write
#: does not read back as written [verify]; actions on it skip the read-back by default
PM_TRIG_REGISTER = 0x1C
#: PRODUCT_ID (MIPI RFFE v2.1 register 0x1D, read-only) [verify]
PRODUCT_ID_REGISTER = 0x1D

def _in_range(low: int, high: int, what: str) -> Any:
    """A before-validator: an int in ``[low, high]``, with the reason in the lab's words."""

    def check(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            raise ValueError(f"{value} (0x{value:X}) is outside {low}..{high} "
                             f"(0x{low:02X}..0x{high:02X}): {what}")
        return value

    return BeforeValidator(check)


Byte = Annotated[int, Field(ge=BYTE_RANGE[0], le=BYTE_RANGE[1]),
                 _in_range(*BYTE_RANGE, "an 8-bit value")]
RegisterAddress = Annotated[int, Field(ge=BYTE_RANGE[0], le=BYTE_RANGE[1]),
                            _in_range(*BYTE_RANGE, "RFFE register addresses are 0x00-0xFF "
                                      "(extended register space)")]
Usid = Annotated[int, Field(ge=USID_RANGE[0], le=USID_RANGE[1]),
                 _in_range(*USID_RANGE, "an RFFE USID is 4 bits")]


class ControlAction(PlanModel):
    """One action of a control state, applied in order: an RFFE register write
    (``{register, value}``, optionally ``usid``), a GPIO port write (``{gpio_port, value}``)
    or a pause (``{wait_s}``)."""

    model_config = ConfigDict(populate_by_name=True)

    #: ``register`` in the file (BaseModel has a ``register`` attribute of its own)
    register_address: RegisterAddress | None = Field(default=None, alias="register",
                                                     description="RFFE register address")
    value: Byte | None = Field(default=None, description="8-bit value written")
    usid: Usid | None = Field(default=None, description="RFFE slave; default dut.control.usid")
    gpio_port: int | None = Field(default=None, ge=0, le=255, description="GPIO port number")
    wait_s: float | None = Field(default=None, ge=0, le=MAX_WAIT_S,
                                 description="pause (settling, switching time)")
    verify: bool | None = Field(
        default=None, description="read an RFFE write back and compare (default: yes, except "
        "PM_TRIG 0x1C whose trigger bits self-clear)")

    @model_serializer(mode="wrap")
    def _by_alias(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if "register_address" in data:
            data = {"register": data.pop("register_address"), **data}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> ControlAction:
        problems: Problems = []
        given = {"register": self.register_address, "gpio_port": self.gpio_port,
                 "wait_s": self.wait_s}
        chosen = [k for k, v in given.items() if v is not None]
        if len(chosen) != 1:
            problems.append(((), "an action is exactly one of {register, value[, usid]} "
                             "(RFFE write), {gpio_port, value} (GPIO write) or {wait_s}; got "
                             f"{', '.join(chosen) or 'none of them'}", None))
        elif chosen[0] in ("register", "gpio_port") and self.value is None:
            problems.append((("value",), f"a {chosen[0]} write needs a value (0..255)", None))
        elif chosen[0] == "wait_s" and self.value is not None:
            problems.append((("value",), "a wait has no value", self.value))
        if self.usid is not None and self.register_address is None:
            problems.append((("usid",), "usid goes with an RFFE register write only", self.usid))
        if self.verify is not None and self.register_address is None:
            problems.append((("verify",), "only RFFE writes are read back", self.verify))
        raise_problems("ControlAction", problems)
        return self

    @property
    def kind(self) -> Literal["rffe", "gpio", "wait"]:
        if self.register_address is not None:
            return "rffe"
        return "gpio" if self.gpio_port is not None else "wait"

    @property
    def reads_back(self) -> bool:
        """Whether this RFFE write is read back and compared."""
        if self.verify is not None:
            return self.verify
        return self.register_address != PM_TRIG_REGISTER


class DutControl(PlanModel):
    """How the DUT's states are set: the controller (MIPI RFFE master or GPIO lines) in a bench
    role, and each state as an ordered list of actions."""

    interface: Literal["rffe", "gpio"] = Field(description="rffe: MIPI RFFE register writes; "
                                               "gpio: 8-bit GPIO port writes")
    role: str = Field(description="bench role of the controller (must be in roles)")
    vio_v: float | None = Field(default=None, gt=0, le=3.6, description="RFFE VIO level (1.2 "
                                "or 1.8 V per MIPI RFFE); default 1.8 V; rffe only")
    usid: Usid | None = Field(default=None, description="RFFE slave ID of the DUT (actions "
                              "without their own usid write to it)")
    product_id: Byte | None = Field(
        default=None, description="expected PRODUCT_ID (register 0x1D), read after VIO on: "
        "the right part answers on that USID (rffe only)")
    states: dict[str, list[ControlAction]] = Field(
        min_length=1, description="state name -> actions applied in the listed order")
    initial_state: str | None = Field(default=None, description="applied right after power-up")
    safe_state: str | None = Field(default=None, description="applied before power-down")

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        return identifier(v, "role")

    @field_validator("states")
    @classmethod
    def _state_names(cls, v: dict[str, list[ControlAction]]) -> dict[str, list[ControlAction]]:
        for name in v:
            identifier(name, "state")
        if len(v) > MAX_STATES:
            raise ValueError(f"{len(v)} states, more than {MAX_STATES}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DutControl:
        problems: Problems = []
        for field in ("initial_state", "safe_state"):
            name = getattr(self, field)
            if name is not None and name not in self.states:
                problems.append(((field,), self.unknown_state(name), name))
        if self.interface == "gpio":
            for field in ("vio_v", "usid", "product_id"):
                if getattr(self, field) is not None:
                    problems.append(((field,), "only for interface rffe", getattr(self, field)))
        for name, actions in self.states.items():
            if not actions:
                problems.append((("states", name), "a state needs at least one action", None))
            for i, action in enumerate(actions):
                loc = ("states", name, i)
                if self.interface == "rffe" and action.kind == "gpio":
                    problems.append(((*loc, "gpio_port"), "interface is rffe: a state writes "
                                     "RFFE registers (use register/value) or waits",
                                     action.gpio_port))
                if self.interface == "gpio" and action.kind == "rffe":
                    problems.append(((*loc, "register"), "interface is gpio: a state writes "
                                     "GPIO ports (use gpio_port/value) or waits",
                                     action.register_address))
                if action.kind == "rffe" and action.usid is None and self.usid is None:
                    problems.append(((*loc, "usid"), "no usid here and no dut.control.usid: "
                                     "which slave does this write go to?", None))
        if self.product_id is not None and self.usid is None:
            problems.append((("product_id",), "needs dut.control.usid (the slave to read)",
                             self.product_id))
        raise_problems("DutControl", problems)
        return self

    @property
    def vio_level_v(self) -> float:
        """VIO voltage (default 1.8 V)."""
        return 1.8 if self.vio_v is None else self.vio_v

    def unknown_state(self, name: str) -> str:
        """The reason text for a state name that is not defined."""
        return f"unknown state {name!r}; dut.control.states: {', '.join(self.states)}"


# ----------------------------------------------------------------- sweep and bands



def network_plan_problems(plan: Any) -> Problems:
    """Cross-checks only the whole plan can make: every control state a step sets exists in
    ``dut.control.states``, and the controller's role is among the plan's roles (a DUT with a
    control profile is powered up through it by every VNA step).

    Returns problems located in the plan (``steps[i].states[j].state``, ``dut.control.role``).
    """
    problems: Problems = []
    control: DutControl | None = getattr(plan.dut, "control", None)
    for i, step in enumerate(plan.steps):
        states = step.control_states() if hasattr(step, "control_states") else []
        for loc, name in states:
            if control is None:
                problems.append((("steps", i, *loc), f"state {name!r} needs dut.control (how "
                                 "the DUT's states are set)", name))
            elif name not in control.states:
                problems.append((("steps", i, *loc), control.unknown_state(name), name))
    if control is not None and control.role not in plan.roles:
        problems.append((("dut", "control", "role"), f"the controller's role {control.role!r} "
                         "is not in roles; add it", control.role))
    return problems


def check_control_states(step: Any, control: DutControl | None) -> None:
    """Raise ValueError naming every state ``step`` sets that ``control`` does not define (the
    measurement's own check, before anything is touched)."""
    problems = []
    for loc, name in step.control_states():
        where = ".".join(str(p) for p in loc)
        if control is None:
            problems.append(f"{where}: state {name!r} needs dut.control")
        elif name not in control.states:
            problems.append(f"{where}: {control.unknown_state(name)}")
    if problems:
        raise ValueError(f"step {step.name!r}: " + "; ".join(problems))
