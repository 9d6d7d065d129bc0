"""A separate process that makes a biased GaN HEMT safe if the process that biased it dies.

Reference §2.6 "Always: watchdog": comms loss or a dead controller must still end in the
drain-off sequence. :class:`Watchdog` spawns (``multiprocessing``, start method ``spawn``: no
inherited sockets or locks) a child that holds only the VISA resource strings, driver names and
channels of the gate and drain SMUs, and listens on a pipe. The parent's heartbeat thread
writes to it every ``timeout/4``; when the pipe reaches EOF (the parent died, even by SIGKILL),
the heartbeat is lost for more than the timeout, or the parent hands over explicitly, the
child opens its *own* sessions (the parent's are gone or unusable) and runs the kernel's
power-down order (:func:`benchbot.power_down.power_down_sequence`: drain ramped to 0 V, drain off,
gate to pinch-off, 0 V, gate off), then exits. A clean power-down stops it.

The heartbeat thread stops beating when the main thread has ended, so an interpreter that
exits with the device biased hands over to the child instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from benchbot.power_down import power_down_sequence

_log = logging.getLogger(__name__)

#: how long the child waits for its own sessions (the dead parent's sockets may linger)
CONNECT_RETRY_S = 5.0


@dataclass(frozen=True)
class SmuEndpoint:
    """Where the watchdog reaches one terminal's SMU on its own: driver name (the registry's,
    e.g. ``keysight.b2902a``; a DC supply's, e.g. ``keysight.e36312a``, for a drain on a supply
    channel), VISA resource string and channel."""

    driver: str
    resource: str
    channel: int
    visa_library: str = "@py"


@dataclass(frozen=True)
class WatchdogSpec:
    """Everything the child needs to power the device down (picklable)."""

    gate: SmuEndpoint
    drain: SmuEndpoint
    pinch_off_gate_voltage_v: float
    gate_current_limit_a: float
    drain_current_limit_a: float
    ramp_rate_v_per_s: float
    ramp_step_v: float
    heartbeat_timeout_s: float = 2.0
    #: append the child's log lines here too (the run record), if given
    log_path: str | None = None


class Watchdog:
    """Parent side: start the child, beat, tell it the bias, stop it or hand over."""

    def __init__(self, spec: WatchdogSpec) -> None:
        self.spec = spec
        self._process: Any = None
        self._conn: Any = None
        self._send_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self, ready_timeout_s: float = 30.0) -> None:
        """Spawn the child and wait until it says it is listening (so the protection is armed
        before any output goes on); RuntimeError if it does not."""
        if self.running:
            return
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(target=watch, args=(child_conn, self.spec),
                              name="benchbot-bias-watchdog", daemon=False)
        process.start()
        child_conn.close()  # only the child holds its end: the parent's death is its EOF
        if not parent_conn.poll(ready_timeout_s) or parent_conn.recv()[0] != "ready":
            process.kill()
            process.join(5.0)
            raise RuntimeError("the bias watchdog did not start")
        self._process, self._conn = process, parent_conn
        self._stopped.clear()
        self._thread = threading.Thread(target=self._beat, name="bias-watchdog-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _send(self, message: tuple[Any, ...]) -> bool:
        with self._send_lock:
            if self._conn is None:
                return False
            try:
                self._conn.send(message)
                return True
            except (OSError, ValueError):
                return False

    def _beat(self) -> None:
        period_s = self.spec.heartbeat_timeout_s / 4.0
        main = threading.main_thread()
        while not self._stopped.wait(period_s):
            if not main.is_alive():
                return  # the interpreter is exiting: let the child act
            self._send(("hb",))

    def update(self, vgs_v: float | None, vds_v: float | None) -> None:
        """The bias now applied (the child's fallback if it cannot read the drain back)."""
        self._send(("state", vgs_v, vds_v))

    def _finish(self, message: str, join_timeout_s: float) -> bool:
        self._stopped.set()
        self._send((message,))
        process, self._process = self._process, None
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if process is None:
            return True
        process.join(join_timeout_s)
        return process.exitcode == 0

    def stop(self, join_timeout_s: float = 10.0) -> bool:
        """The device is safe: the child exits without touching the bench."""
        return self._finish("stop", join_timeout_s)

    def hand_over(self, join_timeout_s: float = 30.0) -> bool:
        """The parent could not make the device safe: the child tries with its own sessions.
        True when it exited reporting the safe state."""
        return self._finish("power_down", join_timeout_s)


# ---------------------------------------------------------------------------- child side

def _child_logger(spec: WatchdogSpec) -> Any:
    def log(text: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} watchdog[{os.getpid()}]: {text}"
        print(line, file=sys.stderr, flush=True)
        if spec.log_path:
            with contextlib.suppress(OSError), open(spec.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
    return log


def _connect(endpoint: SmuEndpoint, log: Any) -> Any:
    """The endpoint's driver on a session of its own; a DC supply (a drain on a supply
    channel) wrapped as a source-measure channel, as the kernel drove it."""
    from instruments.interfaces import DCSupply
    from instruments.registry import connect
    from instruments.supply_source import SupplyAsSourceMeter

    deadline = time.monotonic() + CONNECT_RETRY_S
    while True:
        try:
            driver = connect(endpoint.driver, endpoint.resource, endpoint.visa_library)
            return SupplyAsSourceMeter(driver) if isinstance(driver, DCSupply) else driver
        except Exception as exc:  # noqa: BLE001 - retried, then reported
            if time.monotonic() > deadline:
                log(f"cannot open {endpoint.driver} at {endpoint.resource}: {exc}")
                raise
            time.sleep(0.1)


def make_safe(spec: WatchdogSpec, reason: str, vds_hint_v: float | None) -> bool:
    """Open own sessions and run the power-down order; True when both outputs are off."""

    log = _child_logger(spec)
    log(f"{reason}: making the bias safe")
    drivers: dict[tuple[str, str], Any] = {}
    try:
        for ep in (spec.drain, spec.gate):  # the drain first: it is what must go down
            key = (ep.driver, ep.resource)
            if key not in drivers:
                with contextlib.suppress(Exception):
                    drivers[key] = _connect(ep, log)
        gate = drivers.get((spec.gate.driver, spec.gate.resource))
        drain = drivers.get((spec.drain.driver, spec.drain.resource))
        report = power_down_sequence(
            gate, spec.gate.channel, drain, spec.drain.channel,
            pinch_off_gate_voltage_v=spec.pinch_off_gate_voltage_v,
            gate_current_limit_a=spec.gate_current_limit_a,
            drain_current_limit_a=spec.drain_current_limit_a,
            ramp_rate_v_per_s=spec.ramp_rate_v_per_s, ramp_step_v=spec.ramp_step_v,
            vds_hint_v=vds_hint_v, log=log)
        log(f"power-down {'complete: bench safe' if report.safe else 'INCOMPLETE'}")
        return report.safe
    finally:
        for driver in drivers.values():
            with contextlib.suppress(Exception):
                driver.close()


def watch(conn: Any, spec: WatchdogSpec) -> None:
    """Child process body: listen until told to stop, or act when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn.send(("ready", os.getpid()))
    vds_hint_v: float | None = None
    while True:
        try:
            if not conn.poll(spec.heartbeat_timeout_s):
                reason = f"heartbeat lost for {spec.heartbeat_timeout_s:g} s"
                break
            message = conn.recv()
        except (EOFError, OSError):
            reason = "parent process gone (pipe closed)"
            break
        kind = message[0]
        if kind == "state":
            vds_hint_v = message[2]
        elif kind == "stop":
            return
        elif kind == "power_down":
            reason = "power-down handed over by the parent"
            break
    safe = make_safe(spec, reason, vds_hint_v)
    sys.exit(0 if safe else 3)
