"""`ScpiSession`: one SCPI conversation with one instrument over a pyvisa resource.

Facts this module is built on (measured, /work/shared/reference/stack-notes.md §1):
- raw SOCKET sessions have no END: reads end on the termchar, so read and write termination are
  both ``"\\n"`` and must stay set (binary reads without a termchar always time out);
- after a timeout the late reply stays in the receive buffer and would be read as the answer to
  the next query: a timeout is followed by ``clear()`` and a resync before the session is used;
- pyvisa-py refuses ``VI_ATTR_TCPIP_NODELAY``; the workaround sets ``TCP_NODELAY`` on the
  session's socket (``rm.visalib.sessions[inst.session].interface``);
- pyvisa resources are not thread-safe: every write+read transaction holds a per-session lock.

Recovery: after a timeout (or a malformed binary block) the session does a device clear and a
token resync (see `_resync`), then reads the error queue: a query the instrument rejected gets
no reply (IEEE 488.2), so an error found there is raised as `InstrumentError` naming the query;
otherwise `InstrumentTimeout`. A closed or reset link raises `ConnectionLost`, now and after.

The hot path (`query`) is one lock, two tuple appends to `traffic`, one append to the
commands-since-last-check deque, and pyvisa's own ``write`` + ``read``: measured ≈1.01–1.02×
a bare ``inst.query`` (tests/test_scpi_session.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

import numpy as np
from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError

from instruments import binblock
from instruments.binblock import Datatype
from instruments.errors import (
    BinaryBlockError,
    ConnectionLost,
    InstrumentError,
    InstrumentTimeout,
    UnexpectedResponse,
)
from instruments.transport import (
    SocketBlockReader,
    open_message_resource,
    peer_closed,
    resource_manager,
)

__all__ = ["ScpiSession", "TrafficEntry", "parse_error", "resource_manager"]

#: one traffic entry: (time.monotonic(), "w" | "r" | "x", text); "x" marks session events
#: (timeout, clear, resync). Binary replies are logged as "<binary N bytes>".
TrafficEntry = tuple[float, str, str]

_IO_ERRORS = (VisaIOError, InvalidSession, OSError)
_MAX_ERRORS_DRAINED = 100  # instruments' queues hold 10–100 entries (rf reference §4.1)


def parse_error(reply: str, command: str = "SYST:ERR?") -> tuple[int, str]:
    """``+0,"No error"`` → ``(0, "No error")``; ``-222,"Data out of range"`` → ``(-222, ...)``."""
    code_text, _, message = reply.partition(",")
    try:
        code = int(code_text.strip())
    except ValueError:
        raise UnexpectedResponse(reply, command, "<code>,\"<message>\"") from None
    return code, message.strip().strip('"')


class ScpiSession:
    """A SCPI session: ``write``, ``query``, binary blocks, error queue, ``*OPC?`` and resync.

    The error queue is read with :attr:`error_query` and parsed by :attr:`error_parser`
    (``SYST:ERR?`` and ``<code>,"<message>"``); an instrument that speaks another language for
    it (a TSP SourceMeter: ``print(errorqueue.next())``) sets both, and the timeout recovery then
    drains its queue in its own words.
    """

    error_query: str = "SYST:ERR?"
    error_parser: Callable[[str, str], tuple[int, str]] = staticmethod(parse_error)

    def __init__(
        self,
        resource: str,
        visa_library: str = "@py",
        timeout_s: float = 5.0,
        *,
        traffic_maxlen: int = 100_000,
    ) -> None:
        self.resource = resource
        self.visa_library = visa_library
        timeout_ms = round(timeout_s * 1000)
        inst, self._socket = open_message_resource(resource, visa_library, timeout_ms)
        self._inst: Any = inst
        self._blocks = SocketBlockReader.for_resource(resource_manager(visa_library), inst,
                                                      self._socket)
        self._timeout_ms = timeout_ms
        self._lock = threading.Lock()
        self.traffic: deque[TrafficEntry] = deque(maxlen=traffic_maxlen)
        self._log = self.traffic.append
        self._since_check: deque[str] = deque(maxlen=64)
        self._note = self._since_check.append
        self._write = inst.write
        self._read = inst.read
        self._needs_resync = False
        self._lost: str | None = None  # why the link is unusable (closed, reset), if it is
        self._token = 0

    @classmethod
    def open(
        cls, resource: str, visa_library: str = "@py", timeout_s: float = 5.0
    ) -> ScpiSession:
        """Open `resource` (e.g. ``TCPIP::127.0.0.1::5025::SOCKET``) through `visa_library`."""
        return cls(resource, visa_library, timeout_s)

    # -- properties ------------------------------------------------------------------------

    @property
    def timeout_s(self) -> float:
        """Default per-read timeout."""
        return self._timeout_ms / 1000.0

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        with self._lock:
            self._timeout_ms = round(value * 1000)
            self._inst.timeout = self._timeout_ms

    @property
    def resource_handle(self) -> Any:
        """The underlying pyvisa resource (for diagnostics; do not use it beside the session)."""
        return self._inst

    # -- transactions ----------------------------------------------------------------------

    def write(self, command: str) -> None:
        """Send one program message (no reply expected)."""
        with self._lock:
            self._begin(command)
            try:
                self._write(command)
            except _IO_ERRORS as exc:
                raise self._failure(exc, command, self.timeout_s) from exc
            except BaseException:
                self._interrupted()
                raise

    def write_binary(self, command_prefix: str, payload: bytes) -> None:
        """Send ``prefix + #<n><len><payload> + "\\n"`` (IEEE 488.2 §7.7.6 definite block).

        One ``write_raw``; the traffic log records ``prefix<binary N bytes>``. The payload may
        contain 0x0A: the instrument reads exactly ``len`` bytes after the header.
        """
        length = str(len(payload)).encode("ascii")
        header = b"#%d%s" % (len(length), length)
        message = command_prefix.encode("ascii") + header + bytes(payload) + b"\n"
        entry = f"{command_prefix}<binary {len(payload)} bytes>"
        with self._lock:
            self._begin(entry)
            try:
                self._inst.write_raw(message)
            except _IO_ERRORS as exc:
                raise self._failure(exc, entry, self.timeout_s) from exc
            except BaseException:
                self._interrupted()
                raise

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Write `command` and read one reply line (termination stripped)."""
        if timeout_s is not None:
            return self._query_with_timeout(command, timeout_s)
        with self._lock:
            if self._needs_resync:
                self._ensure_sync(command)
            self._note(command)
            return self._query_unnoted(command)

    def _begin(self, command: str) -> None:
        """Start a transaction (lock held): resync if a timeout left the link unsure, then log."""
        if self._needs_resync:
            self._ensure_sync(command)
        self._log((monotonic(), "w", command))
        self._note(command)

    def query_float(self, command: str, timeout_s: float | None = None) -> float:
        """`query` parsed as a number (NR1/NR2/NR3)."""
        reply = self.query(command, timeout_s)
        try:
            return float(reply)
        except ValueError:
            raise UnexpectedResponse(reply, command, "a number") from None

    def query_binary(
        self,
        command: str,
        datatype: Datatype = "f",
        big_endian: bool = False,
        *,
        points: int | None = None,
        timeout_s: float | None = None,
    ) -> np.ndarray:
        """Query an IEEE 488.2 block of REAL,32 (`"f"`) / REAL,64 (`"d"`) values.

        Reads like pyvisa's ``read_binary_values`` (one read up to the first NL, then exactly the
        remaining bytes) but parses with `binblock`, so a ``#0`` block without `points`, a length
        that is not a whole number of values, a count other than `points` or a missing NL after
        the block raise `BinaryBlockError` (after a resync) instead of returning a short or empty
        array. Returns a read-only zero-copy array in native values.
        """
        with self._lock:
            self._begin(command)
            inst = self._inst
            if timeout_s is not None:
                inst.timeout = round(timeout_s * 1000)
            indefinite = None if points is None else points * (4 if datatype == "f" else 8)
            try:
                if self._blocks is not None:
                    self._blocks.send(command)
                    wait = self.timeout_s if timeout_s is None else timeout_s
                    buf = self._blocks.read_block(wait, indefinite)
                else:
                    self._write(command)
                    buf = self._read_block_visa(indefinite)
                offset, length = binblock.parse_header(buf)
                if length < 0:
                    length = indefinite
                payload = binblock.block_payload(buf, indefinite_nbytes=length)
                values = binblock.payload_to_array(payload, datatype, big_endian, points=points)
            except BinaryBlockError as exc:
                self._log((monotonic(), "x", f"binary block error: {exc}"))
                self._resync()
                raise
            except _IO_ERRORS as exc:
                wait = self.timeout_s if timeout_s is None else timeout_s
                raise self._failure(exc, command, wait) from exc
            except BaseException:
                self._interrupted()
                raise
            finally:
                if timeout_s is not None:
                    inst.timeout = self._timeout_ms
            self._log((monotonic(), "r", f"<binary {length} bytes>"))
        return values

    def _read_block_visa(self, indefinite_nbytes: int | None) -> bytes:
        """Any VISA library: read to the first newline, then exactly the rest of the block."""
        buf = self._inst.read_raw()
        offset, length = binblock.parse_header(buf)
        if length < 0:
            if indefinite_nbytes is None:
                raise BinaryBlockError("indefinite-length block (#0) and no points given")
            length = indefinite_nbytes
        missing = offset + length + 1 - len(buf)
        if missing > 0:
            buf += self._inst.read_bytes(missing)
        return buf

    def opc(self, timeout_s: float | None = None) -> None:
        """``*OPC?``: wait until pending operations complete, allowing `timeout_s` for the reply."""
        reply = self.query("*OPC?", timeout_s)
        if reply.strip() not in ("1", "+1"):
            raise UnexpectedResponse(reply, "*OPC?", "1")

    def check_errors(self, after: str | None = None) -> None:
        """Drain ``SYST:ERR?`` until code 0; raise `InstrumentError` if anything was queued.

        The error names `after` (the caller's command) or else every command written since the
        previous check; all are kept in `InstrumentError.commands`.
        """
        errors: list[tuple[int, str]] = []
        with self._lock:
            if self._needs_resync:
                self._ensure_sync(self.error_query)
            written = tuple(self._since_check)
            self._since_check.clear()
            for _ in range(_MAX_ERRORS_DRAINED):
                reply = self._query_unnoted(self.error_query)
                code, message = self.error_parser(reply, self.error_query)
                if code == 0:
                    break
                errors.append((code, message))
        if errors:
            command = after if after is not None else ("; ".join(written) or "<none written>")
            raise InstrumentError(errors[0][0], errors[0][1], command, tuple(errors), written)

    def clear(self) -> None:
        """Device clear and resynchronise (what a timeout does automatically)."""
        with self._lock:
            self._ensure_sync("*ESE?")

    def close(self) -> None:
        """Close the resource (the ResourceManager stays open for other sessions)."""
        with self._lock:
            self._lost = self._lost or "session closed"
            self._needs_resync = True  # routes every later call to ConnectionLost
            with contextlib.suppress(*_IO_ERRORS):
                self._inst.close()

    def __enter__(self) -> ScpiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ScpiSession({self.resource!r}, visa_library={self.visa_library!r})"

    # -- internals (called with the lock held) ----------------------------------------------

    def _query_with_timeout(self, command: str, timeout_s: float) -> str:
        with self._lock:
            if self._needs_resync:
                self._ensure_sync(command)
            self._note(command)
            inst = self._inst
            inst.timeout = round(timeout_s * 1000)
            try:
                return self._query_unnoted(command, timeout_s)
            finally:
                inst.timeout = self._timeout_ms

    def _query_unnoted(self, command: str, timeout_s: float | None = None) -> str:
        self._log((monotonic(), "w", command))
        try:
            self._write(command)
            reply = self._read()
        except _IO_ERRORS as exc:
            wait = self._timeout_ms / 1000.0 if timeout_s is None else timeout_s
            raise self._failure(exc, command, wait) from exc
        except BaseException:
            self._interrupted()
            raise
        self._log((monotonic(), "r", reply))
        return reply

    def _interrupted(self) -> None:
        """A transaction cut short by Ctrl-C (or any non-I/O exception): a half-written
        message may sit in the instrument's input, or the reply to the interrupted query may
        still arrive and would answer the next one. Resynchronise before the next use."""
        self._needs_resync = True
        self._log((monotonic(), "x", "transaction interrupted: resynchronise before the next"))

    def _failure(self, exc: BaseException, command: str, timeout_s: float) -> Exception:
        """Map a transport exception to a typed one; after a timeout clear and resync first.

        A query the instrument rejects gets no reply at all (IEEE 488.2 §6.1.6: the error goes
        to the queue instead), so after a timeout the queue is read: if it explains the silence
        the result is an `InstrumentError` naming the command, else an `InstrumentTimeout`.
        """
        is_timeout = (
            isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout
        )
        if is_timeout and not peer_closed(self._socket):
            self._log((monotonic(), "x", f"timeout after {timeout_s:g} s: {command}"))
            self._inst.timeout = self._timeout_ms  # resync with the session's own timeout
            synced = self._resync()
            errors = self._drain_errors() if synced else []
            if errors:
                written = tuple(self._since_check)
                self._since_check.clear()
                code, message = errors[0]
                message = f"{message} (and no reply within {timeout_s:g} s)"
                return InstrumentError(code, message, command, tuple(errors), written)
            return InstrumentTimeout(command, timeout_s, resynchronised=synced)
        self._needs_resync = True
        if is_timeout:
            reason = "connection closed by the instrument"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        self._lost = reason
        self._log((monotonic(), "x", f"connection lost: {reason}"))
        return ConnectionLost(self.resource, f"{reason} (during {command!r})")

    def _ensure_sync(self, command: str) -> None:
        if self._lost is not None:
            raise ConnectionLost(self.resource, f"{self._lost} (before {command!r})")
        if not self._resync():
            raise InstrumentTimeout(command, self.timeout_s, resynchronised=False)

    def _resync(self) -> bool:
        """Device clear, then ``*ESE <token>;*ESE?;*OPC?;*ESE 0`` and discard every reply line
        until ``<token>;1`` comes back.

        A bare ``*CLS;*OPC?`` is not enough: when the query that timed out was itself ``*OPC?``
        its late ``1`` is indistinguishable from the resync's ``1``. ``<token>;1`` (token 2–255,
        different on each resync) cannot be a late reply to anything but an older resync, and it
        comes only after every earlier command has been processed. ``*ESE 0`` restores the
        power-on enable mask. The error queue is left alone (no ``*CLS``): its entries explain
        what went wrong. Replies joined by ``;`` are IEEE 488.2 §8.4.1; the token and the ``1``
        on two lines are accepted too.
        """
        inst = self._inst
        self._token = self._token % 254 + 2
        token = self._token
        numbers = (b"%d" % token, b"+%d" % token)
        message = f"*ESE {token};*ESE?;*OPC?;*ESE 0"
        try:
            inst.clear()
            self._log((monotonic(), "x", "device clear"))
            self._log((monotonic(), "w", message))
            inst.write(message)
            previous = b""
            for _ in range(64):
                line = inst.read_raw().strip()
                self._log((monotonic(), "r", line.decode("ascii", "replace")))
                head, _, tail = line.partition(b";")
                if (head in numbers and tail in (b"1", b"+1")) or (
                    previous in numbers and line in (b"1", b"+1")
                ):
                    self._needs_resync = False
                    return True
                previous = line
        except _IO_ERRORS as exc:
            self._log((monotonic(), "x", f"resync failed: {exc}"))
        self._needs_resync = True
        return False

    def _drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue to code 0 on a synchronised session (no recursion into
        recovery)."""
        errors: list[tuple[int, str]] = []
        try:
            for _ in range(_MAX_ERRORS_DRAINED):
                self._log((monotonic(), "w", self.error_query))
                self._write(self.error_query)
                reply = self._read()
                self._log((monotonic(), "r", reply))
                code, message = self.error_parser(reply, self.error_query)
                if code == 0:
                    break
                errors.append((code, message))
        except (*_IO_ERRORS, UnexpectedResponse) as exc:
            self._log((monotonic(), "x", f"error drain failed: {exc}"))
            self._needs_resync = True
        return errors
