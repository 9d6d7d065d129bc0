"""Set the DUT's control states (``plan.dut.control``) through its controller: a MIPI RFFE bus
master (:class:`~instruments.interfaces.RffeController`) or GPIO lines
(:class:`~instruments.interfaces.GpioController`) in the bench role the plan names.

Switching order:

- every VNA source on the bench is OFF while the DUT changes state (no hot switching: a switch
  or FEM must not change path with RF applied), and back on afterwards only when asked;
- actions are applied exactly in the listed order (a FEM's antenna path before its PA enable);
- each RFFE write is read back (Register Read / Extended Register Read) and compared, except
  writes the plan marks ``verify: false``, PM_TRIG (0x1C), whose trigger bits self-clear
  [verify], and broadcast writes (USID 0: every slave takes them, none answers a read
  [verify]); a GPIO write is read back likewise. A mismatch is a :class:`DutControlError`
  naming the state, register and both values.

Power-up is VIO on (MIPI RFFE: slaves leave reset with default registers), the PRODUCT_ID check
if the plan gives one, then ``initial_state``; power-down is ``safe_state`` then VIO off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from benchbot.measurements.base import BenchView
from benchbot.plan_control import (
    BROADCAST_USID,
    PRODUCT_ID_REGISTER,
    ControlAction,
    DutControl,
)
from instruments.interfaces import GpioController, RffeController, VectorNetworkAnalyzer

#: a logger: (level, message), e.g. a StepContext's ``log``
Log = Callable[[str, str], None]


class DutControlError(RuntimeError):
    """The DUT did not take a control state (read-back mismatch, wrong part on the bus)."""


def control_of(bench: BenchView) -> DutControl:
    """The plan's ``dut.control``; ValueError when the plan has none."""
    control = bench.dut_control
    if control is None:
        raise ValueError("the plan has no dut.control: the DUT's states cannot be set")
    return control


def controller(bench: BenchView) -> RffeController | GpioController:
    """The controller instrument in ``dut.control.role``, of the interface's kind."""
    control = control_of(bench)
    kind = RffeController if control.interface == "rffe" else GpioController
    return bench.role(control.role, kind)


def rf_sources(bench: BenchView) -> list[VectorNetworkAnalyzer]:
    """Every VNA on the bench (their sources reach the DUT)."""
    return [i for i in bench.instruments.values() if isinstance(i, VectorNetworkAnalyzer)]


def sources_off(bench: BenchView) -> None:
    """Switch every VNA source off (before any state change)."""
    for vna in rf_sources(bench):
        vna.set_rf_output(False)


def power_up(bench: BenchView, log: Log | None = None) -> None:
    """VIO on (RFFE), PRODUCT_ID checked if given, then ``initial_state``; sources off first.
    Nothing to do without ``dut.control``."""
    control = bench.dut_control
    if control is None:
        return
    sources_off(bench)
    device = controller(bench)
    if isinstance(device, RffeController):
        device.set_vio(True, control.vio_level_v)
        if control.product_id is not None:
            usid = int(control.usid)  # type: ignore[arg-type]  # validated with product_id
            found = device.read_register(usid, PRODUCT_ID_REGISTER)
            if found != control.product_id:
                raise DutControlError(
                    f"PRODUCT_ID (register 0x{PRODUCT_ID_REGISTER:02X}) of USID 0x{usid:X} reads "
                    f"0x{found:02X}, the plan expects 0x{control.product_id:02X}: wrong part or "
                    "USID")
        _log(log, "info", f"DUT control: VIO on at {control.vio_level_v:g} V "
             f"({control.role})")
    if control.initial_state is not None:
        _apply(control, device, control.initial_state, log)


def apply_state(bench: BenchView, name: str, *, rf_on_after: bool = True,
                log: Log | None = None) -> None:
    """Set control state ``name``: every VNA source off, the state's actions in order (each
    RFFE/GPIO write read back), then the sources back on if ``rf_on_after``."""
    control = control_of(bench)
    if name not in control.states:
        raise ValueError(control.unknown_state(name))
    sources_off(bench)
    _apply(control, controller(bench), name, log)
    if rf_on_after:
        for vna in rf_sources(bench):
            vna.set_rf_output(True)


def power_down(bench: BenchView, log: Log | None = None) -> None:
    """Sources off, ``safe_state`` if any, then VIO off (RFFE). Every part is attempted; the
    first failure is raised at the end."""
    control = bench.dut_control
    if control is None:
        return
    failure: BaseException | None = None
    try:
        sources_off(bench)
    except Exception as exc:  # still put the DUT in its safe state
        failure = exc
    device = controller(bench)
    if control.safe_state is not None:
        try:
            _apply(control, device, control.safe_state, log)
        except Exception as exc:
            failure = failure or exc
    if isinstance(device, RffeController):
        try:
            device.set_vio(False)
            _log(log, "info", f"DUT control: VIO off ({control.role})")
        except Exception as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


@contextmanager
def powered(bench: BenchView, log: Log | None = None) -> Iterator[None]:
    """The DUT powered up through its controller for the block, powered down (sources off,
    safe state, VIO off) however the block ends. A power-down failure while the block is
    already failing is logged, not raised, so the first error is the one reported."""
    try:
        power_up(bench, log)
        yield
    except BaseException:
        try:
            power_down(bench, log)
        except Exception as exc:
            _log(log, "error", f"DUT power-down after a failure also failed: {exc}")
        raise
    power_down(bench, log)


def _apply(control: DutControl, device: RffeController | GpioController, name: str,
           log: Log | None) -> None:
    actions = control.states[name]
    checked = 0
    for i, action in enumerate(actions):
        checked += _do(control, device, action, f"state {name!r} action {i}")
    _log(log, "info", f"DUT state {name!r} set: {len(actions)} action(s), {checked} read back")


def _do(control: DutControl, device: RffeController | GpioController, action: ControlAction,
        where: str) -> int:
    """Apply one action; returns 1 when it was read back and matched."""
    if action.kind == "wait":
        time.sleep(float(action.wait_s))  # type: ignore[arg-type]
        return 0
    value = int(action.value)  # type: ignore[arg-type]
    if action.kind == "rffe":
        assert isinstance(device, RffeController)
        usid = int(action.usid if action.usid is not None else control.usid)  # type: ignore[arg-type]
        address = int(action.register_address)  # type: ignore[arg-type]
        device.write_register(usid, address, value)
        if not action.reads_back or usid == BROADCAST_USID:  # nobody answers a broadcast read
            return 0
        found = device.read_register(usid, address)
        if found != value:
            raise DutControlError(f"{where}: USID 0x{usid:X} register 0x{address:02X} reads back "
                                  f"0x{found:02X} after writing 0x{value:02X}")
        return 1
    assert isinstance(device, GpioController)
    port = int(action.gpio_port)  # type: ignore[arg-type]
    device.write_port(port, value)
    found = device.read_port(port)
    if found != value:
        raise DutControlError(f"{where}: GPIO port {port} reads back 0x{found:02X} after "
                              f"writing 0x{value:02X}")
    return 1


def _log(log: Log | None, level: str, message: str) -> None:
    if log is not None:
        log(level, message)
