"""(h) Booking service under load: latency of the booking, status, list and heartbeat endpoints.

A real ``benchbot serve`` (uvicorn, one process, its access log on, as deployed; the local
agents off, see below) runs on a free loopback port, once on SQLite and once on a fresh
PostgreSQL database (127.0.0.1:5432, user postgres, dropped afterwards). Before it starts,
the database gets a lab's history (:mod:`benchmarks._service_content`: 20 customer
organisations, 200 users, 2 000 bookings over the 6 built-in benches, completed runs). The
benchmark process then signs clients in over HTTP (half browser sessions sending their CSRF
token, half API tokens) and, as a separate process from the server, drives it with an
open-model generator (:mod:`benchmarks._loadgen`: fixed arrival rate, latency from each
request's due time, so queueing is not hidden):

- ``/health`` -- the baseline: a trivial endpoint of the same server under the same load
  (run first and last; both runs pooled);
- ``POST /api/bookings`` -- a customer books;
- ``GET /api/bookings/{id}`` -- a customer polls one of their bookings;
- ``GET /api/bookings`` -- a customer's booking list (newest 100);
- ``POST /api/agent/jobs/{id}/heartbeat`` -- the bench agents' lease renewal;
- a mix of the four (status 55 %, list 20 %, create 15 %, heartbeat 10 %).

Each runs alone at the offered rate for the phase's duration. Issue 7's target: p99 ≤ 50 ms at
200 requests/s on SQLite (judged per endpoint and on the mix, with no errors and the offered
rate achieved); PostgreSQL's figures are information. The ratio is p99 ÷ p99 of ``/health``.

The server's own local agents (one process per simulated bench, polling for jobs) are off
(``--no-local-agent``): they would claim the benchmark's jobs and run plans on the same two
cores. The agents' side is played by the generator: it holds one running job per bench and
heartbeats each every 5 s in the background as well (a real agent: every 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import numpy as np

from benchbot.service.db import Database
from benchmarks._harness import ROOT, Row
from benchmarks._loadgen import Call, HttpError, PhaseResult, Workload, run_phase
from benchmarks._loadgen import Client as LoadClient
from benchmarks._service_content import (
    USER_PASSWORD,
    Content,
    ContentSize,
    Customer,
    HeldJob,
    hold_lost_jobs_again,
    seed_content,
)

TARGET_P99_MS = 50.0
TARGET_RATE_PER_S = 200.0
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCHBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SESSION_COOKIE = "benchbot_session"
STARTUP_TIMEOUT_S = 90.0
KEEPALIVE_S = 5.0
SETTLE_S = 30.0
BUSY_LOAD_AVERAGE = 1.0
SETTLED_MS = 50.0
ENDPOINTS = ("create", "status", "list", "heartbeat", "mix")
LABELS = {"health": "GET /health (baseline)", "create": "POST /api/bookings",
          "status": "GET /api/bookings/{id}", "list": "GET /api/bookings (list)",
          "heartbeat": "POST /api/agent/jobs/{id}/heartbeat",
          "mix": "mix 55/20/15/10 % status/list/create/heartbeat"}
MIX = (("status", 0.55), ("list", 0.20), ("create", 0.15), ("heartbeat", 0.10))
DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Settings:
    """Size of the content and of the load."""

    content: ContentSize
    clients_per_organisation: int
    rate_per_s: float
    phase_s: float
    warmup_s: float


FULL = Settings(ContentSize(20, 10, 2000), 2, TARGET_RATE_PER_S, 10.0, 3.0)
QUICK = Settings(ContentSize(2, 3, 60), 2, 40.0, 0.5, 0.25)


@dataclass(frozen=True)
class Client:
    """A signed-in customer: the headers of their reads and of their writes."""

    organisation_index: int
    read_headers: dict[str, str]
    write_headers: dict[str, str]


# --- measure ---------------------------------------------------------------------------------

def measure(quick: bool = False) -> dict[str, float]:
    """Both databases; per phase: requests sent and answered as expected, achieved rate,
    p50/p99/max latency (ms) and the generator's worst send lag (ms)."""
    settings = QUICK if quick else FULL
    load = os.getloadavg()[0]
    if load > BUSY_LOAD_AVERAGE:
        print(f"service_load: the machine is busy (load average {load:.1f} on "
              f"{os.cpu_count()} CPUs): other processes share the cores with the server, "
              "so the latencies are pessimistic", file=sys.stderr)
    result: dict[str, float] = {"offered_per_s": settings.rate_per_s,
                                "phase_s": settings.phase_s}
    for kind in DATABASES:
        with _database(kind) as (url, workdir):
            started = time.perf_counter()
            content = seed_content(url, settings.content)
            result[f"{kind}.seed_s"] = time.perf_counter() - started
            with _server(url, workdir) as base_url, _opened(url) as db:
                started = time.perf_counter()
                clients = _sign_in(base_url, content, settings.clients_per_organisation)
                result[f"{kind}.sign_in_s"] = time.perf_counter() - started
                phases = asyncio.run(_drive(
                    base_url, clients, content, settings,
                    partial(hold_lost_jobs_again, db, content.held_jobs)))
        for name, phase in phases.items():
            result.update(_figures(f"{kind}.{name}", phase))
            for failure, count in phase.failures.items():
                print(f"service_load: {kind} {name}: {count} × {failure}", file=sys.stderr)
    return result


def _figures(prefix: str, phase: PhaseResult) -> dict[str, float]:
    return {f"{prefix}.sent": phase.sent, f"{prefix}.ok": phase.answered_ok,
            f"{prefix}.per_s": phase.achieved_per_s, f"{prefix}.p50_ms": phase.percentile_ms(50),
            f"{prefix}.p99_ms": phase.percentile_ms(99), f"{prefix}.max_ms": phase.max_ms,
            f"{prefix}.send_lag_ms": phase.max_send_lag_s * 1e3}


async def _drive(base_url: str, clients: list[Client], content: Content, settings: Settings,
                 hold_again: Callable[[], list[str]]) -> dict[str, PhaseResult]:
    """Warm up, then the baseline, each endpoint, the mix and the baseline again. Before each
    phase the server is let settle (an overloaded phase leaves a backlog) and a bench job
    whose lease ran out meanwhile is held again (``hold_again``)."""
    rng = random.Random(11)
    workloads = _workloads(clients, content, rng)
    plan = [("warm-up", "mix"), ("health", "health"), *((n, n) for n in ENDPOINTS),
            ("health again", "health")]
    out: dict[str, PhaseResult] = {}
    last: PhaseResult | None = None
    host, _, port = base_url.removeprefix("http://").partition(":")
    async with LoadClient(host, int(port)) as client:
        keepalive = asyncio.create_task(_keep_leases(client, content.held_jobs))
        try:
            for label, workload in plan:
                if last is not None and _left_backlog(last):
                    await _settle(client)
                for bench in hold_again():
                    print(f"service_load: before {label}: the job on {bench} had lost its "
                          "lease (overload): retried and claimed again", file=sys.stderr)
                rate, duration = ((settings.rate_per_s / 2, settings.warmup_s)
                                  if label == "warm-up" else (settings.rate_per_s,
                                                              settings.phase_s))
                out[label] = last = await run_phase(client, workloads[workload], rate,
                                                    duration)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
    out["health"] = _pooled(out["health"], out.pop("health again"))
    del out["warm-up"]
    return out


def _left_backlog(phase: PhaseResult) -> bool:
    """Whether a phase may have left requests queued in the server (slow answers or none)."""
    return phase.errors > 0 or phase.max_ms > SETTLED_MS


async def _settle(client: LoadClient) -> None:
    """Wait (at most :data:`SETTLE_S`) until ``/health`` answers within
    :data:`SETTLED_MS` three times in a row: the previous phase's backlog is gone."""
    loop = asyncio.get_running_loop()
    deadline, quick = loop.time() + SETTLE_S, 0
    while quick < 3 and loop.time() < deadline:
        started = loop.time()
        with contextlib.suppress(HttpError):
            await client.request(Call("GET", "/health"))
        quick = quick + 1 if loop.time() - started < SETTLED_MS / 1e3 else 0
        await asyncio.sleep(0.05)


async def _keep_leases(client: LoadClient, held: list[HeldJob]) -> None:
    """Heartbeat every held job every few seconds for as long as the phases run."""
    while True:
        for job in held:
            with contextlib.suppress(HttpError):
                await client.request(_heartbeat(job))
        await asyncio.sleep(KEEPALIVE_S)


def _pooled(a: PhaseResult, b: PhaseResult) -> PhaseResult:
    failures = dict(a.failures)
    for key, count in b.failures.items():
        failures[key] = failures.get(key, 0) + count
    return PhaseResult(sent=a.sent + b.sent, answered_ok=a.answered_ok + b.answered_ok,
                       duration_s=a.duration_s + b.duration_s,
                       latencies_s=np.concatenate([a.latencies_s, b.latencies_s]),
                       max_send_lag_s=max(a.max_send_lag_s, b.max_send_lag_s),
                       failures=failures)


# --- workloads -------------------------------------------------------------------------------

def _workloads(clients: list[Client], content: Content, rng: random.Random
               ) -> dict[str, Workload]:
    now = datetime.now(UTC)
    window = ((now + timedelta(days=7)).isoformat(), (now + timedelta(days=21)).isoformat())

    def pick() -> Client:
        return clients[rng.randrange(len(clients))]

    def create(i: int) -> Call:
        who = pick()
        return Call("POST", "/api/bookings", 201, who.write_headers, {
            "catalogue_entry_id": rng.choice(content.catalogue_entry_ids),
            "dut_description": f"PA module, lot {rng.randrange(1000, 9999)}, load test {i}",
            "dut_quantity": rng.choice((1, 1, 2, 3)),
            "window_start": window[0], "window_end": window[1]})

    def status(i: int) -> Call:
        who = pick()
        booking = rng.choice(content.booking_ids_by_organisation[who.organisation_index])
        return Call("GET", f"/api/bookings/{booking}", 200, who.read_headers)

    def listing(i: int) -> Call:
        return Call("GET", "/api/bookings", 200, pick().read_headers)

    def heartbeat(i: int) -> Call:
        return _heartbeat(content.held_jobs[i % len(content.held_jobs)])

    def health(i: int) -> Call:
        return Call("GET", "/health")

    single: dict[str, Workload] = {"create": create, "status": status, "list": listing,
                                   "heartbeat": heartbeat}
    names, weights = zip(*MIX, strict=True)

    def mix(i: int) -> Call:
        return single[rng.choices(names, weights)[0]](i)

    return {**single, "mix": mix, "health": health}


def _heartbeat(job: HeldJob) -> Call:
    return Call("POST", f"/api/agent/jobs/{job.job_id}/heartbeat", 200,
                {"Authorization": f"Bearer {job.token}", "X-Benchbot-Agent": job.agent_name})


# --- signing in ------------------------------------------------------------------------------

def _sign_in(base_url: str, content: Content, per_organisation: int) -> list[Client]:
    """``per_organisation`` customers of each organisation sign in over HTTP, alternately
    with a browser session (cookie + CSRF token) and an API token."""
    chosen = []
    for index in range(len(content.booking_ids_by_organisation)):
        members = [c for c in content.customers if c.organisation_index == index]
        chosen.extend(members[:per_organisation])
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda pair: _one_sign_in(base_url, *pair), enumerate(chosen)))


def _one_sign_in(base_url: str, n: int, customer: Customer) -> Client:
    email, index = customer.email, customer.organisation_index
    with httpx.Client(base_url=base_url, timeout=60.0, trust_env=False) as http:
        if n % 2 == 0:
            response = http.post("/api/auth/login", json={"email": email,
                                                          "password": USER_PASSWORD})
            _expect(response, 200)
            cookie = {"Cookie": f"{SESSION_COOKIE}={response.cookies[SESSION_COOKIE]}"}
            return Client(index, cookie, {**cookie,
                                          "X-CSRF-Token": response.json()["csrf_token"]})
        response = http.post("/api/auth/tokens", json={
            "email": email, "password": USER_PASSWORD, "name": "load benchmark",
            "lifetime_days": 1})
        _expect(response, 201)
        bearer = {"Authorization": f"Bearer {response.json()['token']}"}
        return Client(index, bearer, bearer)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"HTTP {response.status_code} {response.text[:300]}")


# --- the server and its database -------------------------------------------------------------

@contextlib.contextmanager
def _database(kind: str) -> Iterator[tuple[str, Path]]:
    """A fresh empty database of ``kind`` and a working folder, both removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="benchbot-service-load-") as folder:
        workdir = Path(folder)
        if kind == "sqlite":
            yield f"sqlite:///{workdir / 'service.sqlite3'}", workdir
            return
        with _postgresql_database() as url:
            yield url, workdir


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


@contextlib.contextmanager
def _postgresql_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"benchbot_load_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def _server(url: str, workdir: Path) -> Iterator[str]:
    """``benchbot serve`` on a free loopback port until the block ends; yields its URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log_path = workdir / "serve.log"
    command = [sys.executable, "-c", "import sys; from benchbot.cli import main; "
               "sys.exit(main())", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database", url, "--no-local-agent"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base_url, log_path)
        yield base_url
    finally:
        _stop(process)


def _die_with_parent() -> None:
    """In the server's process before it starts (Linux): SIGTERM it when the benchmark dies,
    even killed outright (a smoke-test timeout), so no server is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"benchbot serve exited ({process.returncode}): "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"benchbot serve did not answer /health within {STARTUP_TIMEOUT_S:.0f} s:"
                       f" {log_path.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C (uvicorn's graceful stop), then kill if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- table -----------------------------------------------------------------------------------

def rows(result: dict[str, float]) -> list[Row]:
    """Per database: the baseline, each endpoint and the mix."""
    offered = result["offered_per_s"]
    judged = offered == TARGET_RATE_PER_S
    out = []
    for kind in DATABASES:
        base = f"{kind}.health"
        out.append(Row(f"(h) {kind}: {LABELS['health']}", _measured(result, base),
                       "—", None, "baseline", None))
        for name in ENDPOINTS:
            key = f"{kind}.{name}"
            p99 = result[f"{key}.p99_ms"]
            errors = result[f"{key}.sent"] - result[f"{key}.ok"]
            met = None
            target = "info"
            if kind == "sqlite":
                target = f"p99 ≤ {TARGET_P99_MS:.0f} ms @ {TARGET_RATE_PER_S:.0f}/s"
                if judged:
                    met = (p99 <= TARGET_P99_MS and errors == 0
                           and result[f"{key}.per_s"] >= 0.97 * offered)
            out.append(Row(f"(h) {kind}: {LABELS[name]}", _measured(result, key),
                           f"p99 {result[f'{base}.p99_ms']:.1f} ms", p99
                           / result[f"{base}.p99_ms"], target, met))
    return out


def _measured(result: dict[str, float], key: str) -> str:
    errors = int(result[f"{key}.sent"] - result[f"{key}.ok"])
    return (f"p99 {result[f'{key}.p99_ms']:.1f} ms (p50 {result[f'{key}.p50_ms']:.1f}, "
            f"max {result[f'{key}.max_ms']:.0f}) · {result[f'{key}.per_s']:.0f}/s · "
            f"{errors} err")
