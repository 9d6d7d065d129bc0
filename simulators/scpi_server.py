"""`ScpiServer`: a simulated instrument on a raw TCP socket, as LAN instruments serve port 5025.

pyvisa-py reaches it as `TCPIP::127.0.0.1::<port>::SOCKET` (stack-notes §1.2, §2.3). One thread per
client; `\n`-terminated program messages (`\r\n` tolerated; definite-length blocks may contain
`\n`); TCP_NODELAY; one `sendall` per response message.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING

from simulators.scpi_parse import find_message_end

if TYPE_CHECKING:
    from simulators.scpi_core import ScpiDevice


#: bytes sent at once by a paced (link-rate limited) reply
_PACE_CHUNK = 65536


class ScpiServer:
    """Raw-socket SCPI server (like port 5025 on a LAN instrument), one thread per client.

    `\\n`-terminated messages (`\\r\\n` tolerated), TCP_NODELAY, one `sendall` per reply.
    Fault injection for tests: `delay_replies`, `drop_next`, `stall_open_connections`,
    `push_error`.
    """

    def __init__(
        self,
        device: ScpiDevice,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_s: float | None = None,
    ) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.latency_s = device.latency_s if latency_s is None else latency_s
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._fault_lock = threading.Lock()
        self._delay_s = 0.0
        self._delay_count = 0
        self._drop_next = False
        #: hung connections -> monotonic time they answer again (None: never)
        self._stalled: dict[socket.socket, float | None] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> int:
        """Bind, listen and serve in background threads; returns the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._stop.clear()
        t = threading.Thread(target=self._accept_loop, name=f"scpi-accept-{self.port}",
                             daemon=True)
        t.start()
        self._threads.append(t)
        return self.port

    def stop(self) -> None:
        """Close the listener and every client connection; join the threads."""
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        for conn in list(self._conns):
            _close(conn)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._threads.clear()

    def __enter__(self) -> ScpiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def resource(self) -> str:
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    # ------------------------------------------------------------------ fault injection
    def delay_replies(self, seconds: float, count: int = 1) -> None:
        """Hold back the next `count` replies by `seconds` (wall clock) each."""
        with self._fault_lock:
            self._delay_s, self._delay_count = float(seconds), int(count)

    def drop_next(self) -> None:
        """Close the connection when the next program message arrives (it is not executed)."""
        with self._fault_lock:
            self._drop_next = True

    def stall_open_connections(self, seconds: float | None = None) -> None:
        """Hang every connection open now, as a wedged link or a hung session does: its program
        messages are held (not executed, not answered) for `seconds` (wall clock) and then
        processed in order, or with None dropped unexecuted for as long as the connection lasts.
        Connections opened later are served normally (a second session still gets through)."""
        until = None if seconds is None else time.monotonic() + float(seconds)
        with self._fault_lock:
            for conn in list(self._conns):
                self._stalled[conn] = until

    def push_error(self, code: int, message: str | None = None) -> None:
        """Queue an SCPI error as if the instrument had reported it."""
        with self.device.lock:
            self.device.push_error(code, message)

    # ------------------------------------------------------------------ serving
    def _accept_loop(self) -> None:
        assert self._sock is not None
        listener = self._sock
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if self._stop.is_set():
                _close(conn)
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 name=f"scpi-conn-{self.port}", daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        try:
            while not self._stop.is_set():
                data = conn.recv(1 << 16)
                if not data:
                    return
                buf += data
                while True:
                    end = find_message_end(buf)
                    if end < 0:
                        break
                    message = bytes(buf[:end])
                    del buf[: end + 1]
                    if not self._handle(conn, message):
                        return
        except OSError:
            return
        finally:
            self._conns.discard(conn)
            with self._fault_lock:
                self._stalled.pop(conn, None)
            _close(conn)

    def _handle(self, conn: socket.socket, message: bytes) -> bool:
        with self._fault_lock:
            if self._drop_next:
                self._drop_next = False
                return False
            stalled, until = conn in self._stalled, self._stalled.get(conn)
        if stalled:
            if until is None:
                return True  # swallowed: a hung link never executes nor answers it
            if self._stop.wait(max(until - time.monotonic(), 0.0)):
                return False
            with self._fault_lock:
                self._stalled.pop(conn, None)
        reply = self.device.process(message, self._stop)
        if not reply:
            return True
        delay = self.latency_s
        with self._fault_lock:
            if self._delay_count > 0:
                self._delay_count -= 1
                delay += self._delay_s
        if delay > 0 and self._stop.wait(delay):
            return False
        if self.device.link_rate_bit_per_s > 0:
            return self._send_paced(conn, reply, self.device.link_rate_bit_per_s)
        conn.sendall(reply)
        return True

    def _send_paced(self, conn: socket.socket, reply: bytes, rate_bit_per_s: float) -> bool:
        """Send no faster than the instrument's link: 64 kB at a time, each released when the
        link would have finished carrying it (a gigabit LAN moves 125 MB/s)."""
        start, view = time.monotonic(), memoryview(reply)
        for offset in range(0, len(reply), _PACE_CHUNK):
            end = min(offset + _PACE_CHUNK, len(reply))
            due = start + end * 8.0 / rate_bit_per_s
            if self._stop.wait(max(due - time.monotonic(), 0.0)):
                return False
            conn.sendall(view[offset:end])
        return True


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()
