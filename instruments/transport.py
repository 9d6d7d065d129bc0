"""VISA plumbing under `ScpiSession`: one ResourceManager per process, opening a message-based
resource, and the raw-socket details pyvisa-py does not expose (stack-notes §1.2, §1.6, §1.7).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import Any

import pyvisa

from instruments import binblock
from instruments.errors import BinaryBlockError, ConnectionLost

_rm_lock = threading.Lock()
_resource_managers: dict[tuple[int, str], pyvisa.ResourceManager] = {}


def resource_manager(visa_library: str = "@py") -> pyvisa.ResourceManager:
    """The process's one `ResourceManager` for `visa_library` (several RMs share sessions and
    closing one closes the others' resources: pyvisa/pyvisa#742)."""
    key = (os.getpid(), visa_library)
    with _rm_lock:
        rm = _resource_managers.get(key)
        if rm is None or not _is_open(rm):  # someone else's rm.close() closed ours too
            rm = _resource_managers[key] = pyvisa.ResourceManager(visa_library)
        return rm


def _is_open(rm: pyvisa.ResourceManager) -> bool:
    try:
        rm.session  # noqa: B018 - raises InvalidSession once the manager is closed
    except pyvisa.errors.InvalidSession:
        return False
    return True


def open_message_resource(
    resource: str, visa_library: str, timeout_ms: int
) -> tuple[Any, socket.socket | None]:
    """Open `resource` with ``\\n`` read/write termination; returns (resource, raw TCP socket or
    None). On a pyvisa-py SOCKET resource Nagle is switched off (NI-VISA's default)."""
    rm = resource_manager(visa_library)
    try:
        inst: Any = rm.open_resource(
            resource,
            read_termination="\n",
            write_termination="\n",
            timeout=timeout_ms,
            open_timeout=timeout_ms,
        )
    except (ValueError, TypeError):
        raise
    except Exception as exc:  # VisaIOError, OSError, or pyvisa-py's bare "could not connect"
        raise ConnectionLost(resource, f"cannot open: {exc}") from exc
    sock = tcp_socket(rm, inst)
    if sock is not None:
        try:
            set_nodelay(sock, resource)
        except BaseException:
            inst.close()
            raise
    return inst, sock


def tcp_socket(rm: pyvisa.ResourceManager, inst: Any) -> socket.socket | None:
    """The TCP socket of a pyvisa-py SOCKET session; None for any other library or interface
    (``rm.visalib.sessions`` exists only in pyvisa-py)."""
    if getattr(inst, "resource_class", None) != "SOCKET":
        return None
    sessions = getattr(rm.visalib, "sessions", None)
    try:
        sock = sessions[inst.session].interface  # type: ignore[index]
    except (TypeError, KeyError, AttributeError):
        return None
    return sock if isinstance(sock, socket.socket) else None


def set_nodelay(sock: socket.socket, resource: str) -> None:
    """``TCP_NODELAY`` on the socket: pyvisa-py leaves Nagle on and raises on
    ``VI_ATTR_TCPIP_NODELAY`` [measured]; a refused connect shows up here as SO_ERROR."""
    pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if pending:
        raise ConnectionLost(resource, f"cannot connect: {os.strerror(pending)}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def peer_closed(sock: socket.socket | None) -> bool:
    """True if the socket reached EOF (pyvisa-py reports a closed peer as a read timeout)."""
    if sock is None:
        return False
    try:
        if not select.select([sock], [], [], 0)[0]:  # nothing to read: not at EOF
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class SocketBlockReader:
    """Reads one IEEE 488.2 definite-length block reply straight from a pyvisa-py SOCKET.

    pyvisa-py returns from `read` at every termination byte, and a binary block is full of
    0x0A bytes: a 100k-point trace became ~760 reads [measured, benchmarks/trace_fetch.py].
    Here the header is parsed once and the body lands with `recv_into` in one preallocated
    buffer. Bytes pyvisa-py had already buffered are taken first and any surplus handed back,
    so the session stays byte-exact with the pyvisa path. A timeout raises pyvisa's own
    `VisaIOError(error_timeout)` so callers handle it exactly like a pyvisa read timeout.
    """

    _HEADER_MAX = 11  # '#', one digit, up to nine length digits

    def __init__(self, session: Any, sock: socket.socket) -> None:
        self._session, self._sock = session, sock

    @classmethod
    def for_resource(cls, rm: pyvisa.ResourceManager, inst: Any,
                     sock: socket.socket | None) -> SocketBlockReader | None:
        """A reader for pyvisa-py SOCKET sessions; None where the fast path does not apply."""
        if sock is None:
            return None
        session = rm.visalib.sessions.get(inst.session)  # type: ignore[attr-defined]
        if not isinstance(getattr(session, "_pending_buffer", None), bytearray):
            return None
        return cls(session, sock)

    def send(self, command: str) -> None:
        """Write one ``\n``-terminated command on the socket (what pyvisa-py's write does)."""
        self._sock.sendall(command.encode("ascii") + b"\n")

    def read_block(self, timeout_s: float, indefinite_nbytes: int | None) -> bytearray:
        """The whole reply: header, data and the terminating newline.

        The socket waits in the kernel (a socket timeout) rather than in select+recv per
        chunk. The timeout stays set between reads: pyvisa-py only receives after `select`
        reports data, so it never waits on it.
        """
        deadline = time.monotonic() + timeout_s
        if self._sock.gettimeout() != timeout_s:  # a field read; setting costs syscalls
            self._sock.settimeout(timeout_s)
        try:
            return self._read_block(deadline, indefinite_nbytes)
        except TimeoutError:
            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout) from None

    def _read_block(self, deadline: float, indefinite_nbytes: int | None) -> bytearray:
        head = self._session._pending_buffer
        self._session._pending_buffer = bytearray()
        while not _header_complete(head):
            head += self._receive(self._sock.recv, 4096, deadline)
        offset, length = _header(head, indefinite_nbytes)
        total = offset + length + 1  # the reply ends with '\n' after the data
        buf = bytearray(total)
        got = min(len(head), total)
        view = memoryview(buf)
        view[:got] = memoryview(head)[:got]
        if len(head) > total:
            self._session._pending_buffer = bytearray(head[total:])
        while got < total:
            got += self._receive(self._sock.recv_into, view[got:], deadline)
        return buf

    @staticmethod
    def _receive(receive: Any, arg: Any, deadline: float) -> Any:
        if time.monotonic() > deadline:  # a device trickling bytes still ends on time
            raise TimeoutError
        data = receive(arg)
        if not data:
            raise ConnectionResetError("connection closed by the instrument mid-block")
        return data


def _header_complete(head: bytearray) -> bool:
    if len(head) < 2 or head[0] != 0x23 or not 0x30 <= head[1] <= 0x39:
        return len(head) >= 2  # malformed: let `_header` raise with the bytes seen
    return len(head) >= 2 + head[1] - 0x30


def _header(head: bytearray, indefinite_nbytes: int | None) -> tuple[int, int]:
    offset, length = binblock.parse_header(head[:SocketBlockReader._HEADER_MAX])
    if length >= 0:
        return offset, length
    if indefinite_nbytes is None:
        raise BinaryBlockError("indefinite-length block (#0) and no points given")
    return offset, indefinite_nbytes
