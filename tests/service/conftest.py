"""Fixtures of the booking-service tests: a fresh database of each kind, empty or migrated and
seeded.

PostgreSQL must be answering on 127.0.0.1:5432 (trust auth, user ``postgres``; CI's ``.ci/run``
starts it) or ``BENCHBOT_TEST_POSTGRES_URL`` names a maintenance database to create test
databases from. Unreachable, the PostgreSQL tests FAIL: they never skip.

Every test gets its own database (``benchbot_test_<random>``, dropped afterwards; a temporary
SQLite file). A seeded one is a copy of a template that was migrated and seeded once per
session by the real code (``CREATE DATABASE ... TEMPLATE``; SQLite's backup API), which saves
the migration and the argon2id hash of every test.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from benchbot.service.db import Database
from benchbot.service.seed import ADMIN_PASSWORD_ENV, seed_if_empty
from tests.service._api import Api, started_api
from tests.service._helpers import ADMIN_PASSWORD, Lab, make_lab

POSTGRES_ADMIN_URL = os.environ.get(
    "BENCHBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def postgresql_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of ``template`` if given), dropped afterwards; the
    test fails (never skips) when PostgreSQL is not reachable."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"benchbot_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    unreachable = None
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    except OperationalError as exc:
        unreachable = exc.orig
    if unreachable is not None:
        admin.dispose()
        pytest.fail(f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL)!r}: "
                    f"{unreachable}. CI starts it in .ci/run; locally: pg_ctlcluster "
                    "--skip-systemctl-redirect <version> main start", pytrace=False)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate_and_seed(url: str) -> None:
    db = Database(url)
    try:
        db.upgrade()
        seed_if_empty(db, environ={ADMIN_PASSWORD_ENV: ADMIN_PASSWORD})
    finally:
        db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.sqlite3'}"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    with postgresql_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seeded.sqlite3"
    _migrate_and_seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgresql_template() -> Iterator[str]:
    with postgresql_database() as url:
        _migrate_and_seed(url)
        yield make_url(url).database or ""


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each test using a database runs on both kinds."""
    return request.param


@pytest.fixture
def database_url(kind: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of each kind."""
    return request.getfixturevalue(f"{kind}_url")


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    """A fresh database, not migrated."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def seeded_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each kind, migrated to head and seeded (admin password from the
    environment: :data:`ADMIN_PASSWORD`)."""
    if kind == "sqlite":
        path = tmp_path / "service.sqlite3"
        source = sqlite3.connect(request.getfixturevalue("sqlite_template"))
        target = sqlite3.connect(path)
        with source, target:
            source.backup(target)
        source.close()
        target.close()
        yield f"sqlite:///{path}"
        return
    with postgresql_database(template=request.getfixturevalue("postgresql_template")) as url:
        yield url


@pytest.fixture
def db(seeded_url: str) -> Iterator[Database]:
    db = Database(seeded_url)
    yield db
    db.dispose()


@pytest.fixture
def lab(db: Database) -> Lab:
    return make_lab(db)


@pytest.fixture
def api(db: Database, lab: Lab, tmp_path: Path) -> Iterator[Api]:
    """The app started on a seeded database of each kind with the small lab, and its
    signed-in admin, engineer and a customer of each organisation (run files under
    ``tmp_path``)."""
    with started_api(db, lab, tmp_path / "data") as started:
        yield started
