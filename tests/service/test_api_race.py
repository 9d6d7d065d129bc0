"""The booking race through the HTTP API, on SQLite and PostgreSQL: a real uvicorn server on
a free loopback port, 50 clients (httpx, each its own connection, in threads released together)
first book at once, then schedule at once on one bench -- most asking for the earliest slot,
some for one exact start. No two slots may overlap; every client gets a slot or a clear 409."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.models import Booking
from tests.service._api import CUSTOMER_A_EMAIL, CUSTOMER_B_EMAIL, ENGINEER_EMAIL, uvicorn_server
from tests.service._helpers import USER_PASSWORD, Lab, all_at_once, hour, overlapping_slots

N_CLIENTS = 50
N_EXACT = 10
BOOKED = re.compile(r"bench fixture-bench is booked from \d{4}-\d\d-\d\d \d\d:\d\d to "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC by booking [A-Za-z0-9_-]{22}")


def _token(base: str, email: str) -> str:
    response = httpx.post(f"{base}/api/auth/tokens", json={"email": email,
                                                           "password": USER_PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def _race(base: str, tokens: list[str], requests: list[Callable[[httpx.Client], object]]
          ) -> list[object]:
    """Each request in its own thread with its own client and connection, all released by
    one barrier; the answers (or exceptions) by index."""
    results: list[object] = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def client(i: int) -> None:
        with httpx.Client(base_url=base, timeout=120.0, headers={
                "Authorization": f"Bearer {tokens[i % len(tokens)]}"}) as http:
            try:
                http.get("/api/auth/me")  # connect before the start
                barrier.wait()
                results[i] = requests[i](http)
            except Exception as exc:  # noqa: BLE001 - the test judges every outcome
                results[i] = exc

    all_at_once(client, ((i,) for i in range(len(requests))))
    return results


def test_fifty_http_clients_book_and_schedule_at_once(db: Database, lab: Lab,
                                                      tmp_path: Path) -> None:
    app = create_app(db.url.render_as_string(False), data_dir=tmp_path)
    with uvicorn_server(app) as base:
        customers = [_token(base, CUSTOMER_A_EMAIL), _token(base, CUSTOMER_B_EMAIL)]
        engineer = [_token(base, ENGINEER_EMAIL)]

        def book(i: int) -> Callable[[httpx.Client], object]:
            return lambda http: http.post("/api/bookings", json={
                "catalogue_entry_id": lab.entry_id, "dut_description": f"DUT {i}",
                "dut_quantity": 1, "window_start": hour(0).isoformat(),
                "window_end": hour(2).isoformat()})

        booked = _race(base, customers, [book(i) for i in range(N_CLIENTS)])
        assert all(isinstance(r, httpx.Response) and r.status_code == 201 for r in booked), \
            [getattr(r, "text", r) for r in booked]
        ids = [r.json()["id"] for r in booked]  # type: ignore[union-attr]
        assert len(set(ids)) == N_CLIENTS
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {engineer[0]}"}
                          ) as http:
            for public_id in ids:
                assert http.post(f"/api/bookings/{public_id}/confirm").status_code == 200
        exact = set(ids[:N_EXACT])

        def schedule(public_id: str) -> Callable[[httpx.Client], object]:
            body = {"start": hour(0).isoformat()} if public_id in exact else {}
            return lambda http: http.post(f"/api/bookings/{public_id}/schedule", json=body)

        answers = _race(base, engineer, [schedule(p) for p in ids])

    assert all(isinstance(a, httpx.Response) for a in answers), answers
    status = {p: a.status_code for p, a in zip(ids, answers, strict=True)}  # type: ignore[union-attr]
    assert set(status.values()) <= {200, 409}, status
    refused = {p: a.json()["detail"] for p, a in zip(ids, answers, strict=True)  # type: ignore[union-attr]
               if a.status_code == 409}  # type: ignore[union-attr]
    assert set(refused) <= exact  # every earliest-slot client got a slot
    assert len(refused) >= N_EXACT - 1  # at most one exact start can win
    assert all(BOOKED.fullmatch(d) for d in refused.values()), refused
    assert overlapping_slots(db) == []
    with db.session() as s:
        slots = s.execute(select(Booking.public_id, Booking.scheduled_start,
                                 Booking.scheduled_end).where(Booking.status == "scheduled")
                          .order_by(Booking.scheduled_start)).all()
    assert {row.public_id for row in slots} == set(ids) - set(refused)
    step = timedelta(minutes=lab.duration_min)  # the earliest slots tile the calendar
    starts: list[datetime] = [row.scheduled_start for row in slots]
    assert starts == [hour(0) + k * step for k in range(len(slots))]
