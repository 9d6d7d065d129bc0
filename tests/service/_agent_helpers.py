"""Shared pieces of the bench agent tests: scheduled bookings on the fixture lab's benches,
agent tokens, and a real uvicorn server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from benchbot.service.agent_tokens import BenchAgentIdentity, create_token, identify
from benchbot.service.db import Database
from benchbot.service.models import Bench, Booking, utcnow
from benchbot.service.scheduling import schedule_booking
from tests.service._helpers import USER_PASSWORD, Lab, hour, new_booking


@dataclass(frozen=True)
class BenchAgent:
    """A bench's agent token and the identity the service sees for it."""

    token: str
    identity: BenchAgentIdentity


def bench_agent(db: Database, bench_name: str) -> BenchAgent:
    new = create_token(db, bench_name=bench_name, label="test")
    with db.session() as session:
        identity = identify(session, new.token)
    assert identity is not None
    return BenchAgent(new.token, identity)


def add_bench(db: Database, name: str, capabilities: list[str]) -> int:
    with db.session() as session:
        bench = Bench(name=name, capabilities=capabilities, instruments={})
        session.add(bench)
        session.flush()
        return bench.id


def scheduled_booking(db: Database, lab: Lab, start_h: float, bench_id: int | None = None
                      ) -> tuple[int, datetime]:
    """A confirmed booking of the fixture service scheduled at ``hour(start_h)`` (tomorrow):
    (booking id, its slot's start)."""
    booking_id = new_booking(db, lab, hour(start_h), hour(start_h + 12))
    booking = schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking_id,
                               bench_id=bench_id or lab.bench_id, start=hour(start_h))
    assert booking.scheduled_start == hour(start_h)
    return booking_id, hour(start_h)


def slot_starts_now(db: Database, booking_id: int) -> None:
    """Move a scheduled booking's slot to have started a minute ago (scheduling itself refuses
    a start in the past; the service runs against the real clock)."""
    with db.session() as session:
        row = session.get(Booking, booking_id)
        assert row is not None and row.scheduled_start and row.scheduled_end
        length = row.scheduled_end - row.scheduled_start
        row.scheduled_start = utcnow() - timedelta(minutes=1)
        row.scheduled_end = row.scheduled_start + length


def booking(db: Database, booking_id: int) -> Booking:
    with db.session() as session:
        found = session.get(Booking, booking_id)
        assert found is not None
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn server on a free loopback port (its lifespan included) in a
    thread of this process: yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def person_token(base_url: str, email: str, password: str = USER_PASSWORD) -> dict[str, str]:
    """Authorization headers of a person's API token (POST /api/auth/tokens)."""
    reply = httpx.post(f"{base_url}/api/auth/tokens",
                       json={"email": email, "password": password, "name": "test"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def wait_for(predicate_value: object, *, timeout_s: float = 60.0, every_s: float = 0.05
             ) -> None:
    """Poll ``predicate_value()`` until it is true (a time limit only so a broken build ends:
    nothing is asserted about how long it took)."""
    deadline = time.monotonic() + timeout_s
    while not predicate_value():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout_s} s: {predicate_value}")
        time.sleep(every_s)


def after(t: datetime, seconds: float) -> datetime:
    return t + timedelta(seconds=seconds)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
