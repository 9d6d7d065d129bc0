"""VISA plumbing under `ScpiSession`: one ResourceManager per process, opening a message-based
resource, and the raw-socket details pyvisa-py does not expose (stack-notes §1.2, §1.6, §1.7).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import pyvisa

from instruments.errors import ConnectionLost

_rm_lock = threading.Lock()
_resource_managers: dict[tuple[int, str], pyvisa.ResourceManager] = {}


def resource_manager(visa_library: str = "@py") -> pyvisa.ResourceManager:
    """The process's one `ResourceManager` for `visa_library` (several RMs share sessions and
    closing one closes the others' resources: pyvisa/pyvisa#742)."""
    key = (os.getpid(), visa_library)
    with _rm_lock:
        rm = _resource_managers.get(key)
        if rm is None:
            rm = _resource_managers[key] = pyvisa.ResourceManager(visa_library)
        return rm


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
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
