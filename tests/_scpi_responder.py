"""A tiny scripted SCPI responder over a real TCP socket, for `ScpiSession` tests.

It behaves like a 488.2 instrument where it matters to the session (sequential processing,
``;``-chained units with replies joined by ``;``, FIFO error queue, no reply to a failed query)
and offers fault injection: slow replies, busy operations, malformed blocks, dropped links.

Commands (upper case, exact):
  *IDN?  *CLS  *ESE n  *ESE?  *OPC?  *RST  SYST:ERR?
  SLOW? s       reply "SLOW" after s seconds (blocks the connection like a busy instrument)
  BUSY s        start an s-second operation; *OPC? answers when it ends
  VAL n         set a value (0 <= n <= 10, else -222 "Data out of range")
  VAL?          the value
  BLOCK? kind n a binary reply; kind: le|be|le64 (n float32/float64 values 0..n-1),
                nl (float32 values containing 0x0A bytes), zero (#0 block), short (header
                longer than the data, then silence), long (2 extra bytes), odd (length 7),
                ascii (CSV text instead of a block)
  CLOSE         close the connection
Anything else pushes -113 "Undefined header" and sends nothing.
"""

from __future__ import annotations

import socketserver
import threading
import time

import numpy as np


class _Handler(socketserver.StreamRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.errors: list[tuple[int, str]] = []
        self.ese = 0
        self.value = 0.0
        self.busy_until = 0.0

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        while True:
            line = self.rfile.readline()
            if not line:
                return
            replies: list[bytes] = []
            for unit in line.decode().strip().split(";"):
                unit = unit.strip()
                if not unit:
                    continue
                if unit == "CLOSE":
                    return
                reply = self.execute(unit)
                if reply is not None:
                    replies.append(reply)
            if replies:
                self.wfile.write(b";".join(replies) + b"\n")
                self.wfile.flush()

    def execute(self, unit: str) -> bytes | None:
        header, _, arg = unit.partition(" ")
        if header == "*IDN?":
            return b"Benchbot,RESPONDER,0001,1.0"
        if header == "*CLS":
            self.errors.clear()
            return None
        if header == "*RST":
            self.value = 0.0
            return None
        if header == "*ESE":
            self.ese = int(arg)
            return None
        if header == "*ESE?":
            return b"%d" % self.ese
        if header == "*OPC?":
            time.sleep(max(0.0, self.busy_until - time.monotonic()))
            return b"1"
        if header == "SYST:ERR?":
            if not self.errors:
                return b'+0,"No error"'
            code, message = self.errors.pop(0)
            return b'%+d,"%s"' % (code, message.encode())
        if header == "SLOW?":
            time.sleep(float(arg))
            return b"SLOW"
        if header == "BUSY":
            self.busy_until = time.monotonic() + float(arg)
            return None
        if header == "VAL":
            value = float(arg)
            if not 0 <= value <= 10:
                self.errors.append((-222, "Data out of range"))
            else:
                self.value = value
            return None
        if header == "VAL?":
            return b"%.6E" % self.value
        if header == "BLOCK?":
            kind, _, n = arg.partition(" ")
            return block(kind, int(n or 0))
        self.errors.append((-113, "Undefined header"))
        return None


def block(kind: str, n: int) -> bytes:
    """The reply bytes (without the final NL) for ``BLOCK? kind n``."""
    values = np.arange(n, dtype=np.float64)
    if kind in ("le", "be", "le64"):
        dtype = {"le": "<f4", "be": ">f4", "le64": "<f8"}[kind]
        data = values.astype(dtype).tobytes()
        return b"#%d%d" % (len(str(len(data))), len(data)) + data
    if kind == "nl":  # 0x0A inside the data: float32 with a 0x0A byte in every value
        data = np.full(n, np.frombuffer(b"\x0a\x0a\x20\x41", "<f4")[0], "<f4").tobytes()
        return b"#%d%d" % (len(str(len(data))), len(data)) + data
    if kind == "zero":
        return b"#0" + values.astype("<f4").tobytes()
    if kind == "short":
        return b"#3400" + b"\x00" * 16
    if kind == "long":
        return b"#216" + b"\x00" * 18
    if kind == "odd":
        return b"#17" + b"\x01" * 7
    if kind == "ascii":
        return b",".join(b"%.6E" % v for v in values)
    raise ValueError(kind)


class Responder:
    """Serve the responder on 127.0.0.1:<ephemeral>; `.resource` is the VISA SOCKET resource."""

    def __init__(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.connections = 0  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.server.server_address[1]}::SOCKET"

    def __enter__(self) -> Responder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
