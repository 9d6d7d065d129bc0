"""The web app and `benchbot serve`: first start migrates and seeds, /health, the read-only
listings and the OpenAPI document; the CLI serves over a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from benchbot.cli import EXIT_ERROR, EXIT_INVALID, main
from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.seed import ADMIN_EMAIL, SeedReport

REPO_PLANS = Path(__file__).resolve().parents[2] / "test_plans"


def test_first_start_migrates_seeds_and_announces_the_password_once(database_url: str) -> None:
    announced: list[SeedReport] = []
    with TestClient(create_app(database_url, announce_admin_password=announced.append)) as c:
        health = c.get("/health").json()
        catalogue = c.get("/api/catalogue").json()
        assert c.get("/api/benches").status_code == 401  # the inventory is not public
        password = announced[0].admin_password
        c.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": password})
        benches = c.get("/api/benches").json()
        openapi = c.get("/openapi.json").json()
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    head = Database.head_revision()
    assert head is not None and head >= "0002"
    assert health == {"status": "ok", "database": kind, "migration_revision": head,
                      "head_revision": head}
    assert len(announced) == 1 and announced[0].admin_password
    assert {e["plan_file_name"] for e in catalogue} == {p.name for p in REPO_PLANS.glob("*.yaml")}
    assert "plan_text" not in catalogue[0]
    network = next(b for b in benches if b["name"] == "simulated-network")
    assert "vna" in network["capabilities"] and "vna" in network["instruments"]["roles"]
    assert {"/health", "/api/catalogue", "/api/benches"} <= set(openapi["paths"])
    with TestClient(create_app(database_url, announce_admin_password=announced.append)) as c:
        assert c.get("/health").json()["status"] == "ok"
    assert len(announced) == 1  # the second start finds the data and announces nothing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_benchbot_serve_over_a_real_socket(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "BENCHBOT_ADMIN_PASSWORD"}
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from benchbot.cli import main; sys.exit(main())",
         "serve", "--port", str(port), "--no-local-agent"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = None
        for _ in range(300):  # bounded wait for the first start (migrate, seed, hash)
            if server.poll() is not None:
                break
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, server.communicate(timeout=10)
        assert health["database"] == "sqlite" and health["migration_revision"] == \
            Database.head_revision()
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    assert (tmp_path / "results" / "service" / "benchbot.sqlite3").is_file()
    announcements = [line for line in stderr.splitlines() if "initial password" in line]
    assert len(announcements) == 1 and "admin@benchbot.local" in announcements[0]


def test_serve_refuses_a_bad_database_or_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--database", "mysql://lab@db.example/benchbot"]) == EXIT_INVALID
    assert main(["serve", "--port", "70000"]) == EXIT_INVALID
    unreachable = f"postgresql://lab:s3cret@127.0.0.1:{_free_port()}/benchbot"
    assert main(["serve", "--database", unreachable]) == EXIT_ERROR
    err = " ".join(capsys.readouterr().err.split())
    assert "--database: unsupported database 'mysql'" in err
    assert "--port: 70000 is not a TCP port" in err
    assert "cannot open the database postgresql+psycopg://lab:***@127.0.0.1:" in err
    assert "s3cret" not in err
