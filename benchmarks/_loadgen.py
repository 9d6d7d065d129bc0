"""An open-model HTTP load generator: requests leave on a fixed schedule, answered or not.

A closed loop (send, wait for the answer, send the next) slows down with the server and so
hides its latency ("coordinated omission"). Here request *i* of a phase is due at
``t0 + i / rate``; a scheduler starts it then whatever the earlier ones are doing, and its
latency is measured **from that due time** to the end of the answer, so time spent queueing
anywhere -- in the generator, for a connection, in the server -- counts, as wrk2 does.

The client is a minimal HTTP/1.1 one on asyncio protocols (keep-alive connections, a bounded
pool, ``Content-Length`` bodies), about 20 times cheaper per request than httpx: with httpx
the generator itself saturated a core near 150 requests/s on this 2-core machine, and its own
queue showed up as server latency. Each request carries its own credentials in its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_CONNECTIONS = 64
"""Keep-alive connections the generator may open (a browser opens ~6 per user; 64 users
active at once is more than a small lab's customers)."""
TIMEOUT_S = 10.0
"""A request unanswered this long after its due time is given up and counted as an error
(its latency as this long: a lower bound). It also bounds how long a phase can overrun."""


@dataclass(frozen=True)
class Call:
    """One request of a workload and the status that means success."""

    method: str
    path: str
    expected_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


Workload = Callable[[int], Call]
"""The i-th request of a phase."""


@dataclass(frozen=True)
class PhaseResult:
    """What one phase measured. Latencies in seconds, from each request's due time."""

    sent: int
    answered_ok: int
    duration_s: float
    latencies_s: np.ndarray
    max_send_lag_s: float
    """How late the generator started a request, at worst (its own load; counted in the
    latency anyway)."""
    failures: dict[str, int]

    @property
    def errors(self) -> int:
        return self.sent - self.answered_ok

    @property
    def achieved_per_s(self) -> float:
        return self.answered_ok / self.duration_s

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1e3

    @property
    def max_ms(self) -> float:
        return float(self.latencies_s.max()) * 1e3


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 as expected."""


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            status = self._complete_response()
        except HttpError as exc:
            self.waiter.set_exception(exc)
            return
        if status is not None:
            self.waiter.set_result(status)

    def _complete_response(self) -> int | None:
        """The status once the whole answer is in the buffer (which is then emptied)."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").lower()
        if not head.startswith("http/1.1 "):
            raise HttpError(f"not an HTTP/1.1 answer: {head[:40]!r}")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise HttpError("chunked answers are not supported")
            elif name == "connection" and "close" in value:
                self.open = False
        if len(self.buffer) < end + 4 + length:
            return None
        del self.buffer[:end + 4 + length]
        return int(head[9:12])

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class Client:
    """A pool of keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, max_connections: int = MAX_CONNECTIONS) -> None:
        self.host, self.port = host, port
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []

    async def request(self, call: Call) -> int:
        """Send ``call``; the answer's status (HttpError if the connection failed)."""
        raw = self._raw(call)
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                status = await connection.request(raw)
            except BaseException:  # an answer may still come: never reuse this connection
                connection.close()
                raise
            if connection.open:
                self._idle.append(connection)
            else:
                connection.close()
            return status

    def _idle_connection(self) -> _Connection | None:
        """An idle connection the server has not closed meanwhile (uvicorn closes one after
        5 s without a request), or None."""
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        return None

    async def _connect(self) -> _Connection:
        try:
            _, protocol = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port)
        except OSError as exc:
            raise HttpError(f"cannot connect: {exc}") from None
        return protocol

    def _raw(self, call: Call) -> bytes:
        body = b"" if call.json is None else json.dumps(call.json).encode()
        lines = [f"{call.method} {call.path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 *(f"{k}: {v}" for k, v in call.headers.items())]
        if call.json is not None:
            lines.append("Content-Type: application/json")
        if body or call.method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def run_phase(client: Client, workload: Workload, rate_per_s: float, duration_s: float
                    ) -> PhaseResult:
    """Send ``rate_per_s × duration_s`` requests of ``workload`` on a fixed schedule and wait
    for every answer (each given up :data:`TIMEOUT_S` after its due time)."""
    if not (rate_per_s > 0 and duration_s > 0):
        raise ValueError(f"rate_per_s and duration_s must be > 0, got {rate_per_s}, "
                         f"{duration_s}")
    with _no_gc_pauses():
        return await _run_phase(client, workload, rate_per_s, duration_s)


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """The generator's own garbage collector off for a phase (collected before and after):
    a full pass over the benchmark process's heap took ~100 ms and showed up as send lag."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def _run_phase(client: Client, workload: Workload, rate_per_s: float, duration_s: float
                     ) -> PhaseResult:
    count = max(1, math.floor(rate_per_s * duration_s))
    latencies = np.full(count, np.nan)
    outcomes: list[str] = ["ok"] * count
    lag = 0.0
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    t0 = loop.time() + 0.05  # the first request is due shortly after set-up

    async def one(i: int, due: float) -> None:
        call = workload(i)
        try:
            async with asyncio.timeout_at(due + TIMEOUT_S):
                status = await client.request(call)
            if status != call.expected_status:
                outcomes[i] = f"HTTP {status} {call.method} {_shape(call.path)}"
        except TimeoutError:
            outcomes[i] = f"no answer within {TIMEOUT_S:g} s {call.method} {_shape(call.path)}"
        except HttpError as exc:
            outcomes[i] = f"{exc} {call.method} {_shape(call.path)}"
        latencies[i] = loop.time() - due

    for i in range(count):
        due = t0 + i / rate_per_s
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, loop.time() - due)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    end = loop.time()
    failures: dict[str, int] = {}
    for outcome in outcomes:
        if outcome != "ok":
            failures[outcome] = failures.get(outcome, 0) + 1
    return PhaseResult(sent=count, answered_ok=outcomes.count("ok"), duration_s=end - t0,
                       latencies_s=latencies, max_send_lag_s=lag, failures=failures)


def _shape(path: str) -> str:
    """The path with its ids blanked, so failures group by endpoint."""
    parts = [p if p.isalpha() or p in ("api", "") else "{id}" for p in path.split("?")[0]
             .split("/")]
    return "/".join(parts)
