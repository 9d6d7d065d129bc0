"""Alembic migrations up and down on SQLite and PostgreSQL; the models match the migrated
schema; the connection settings; database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from benchbot.service.db import DEFAULT_SQLITE_PATH, Database, database_url
from benchbot.service.errors import InvalidInput
from benchbot.service.models import Base

TABLES = set(Base.metadata.tables)
"""Every table the models declare: the migrations create exactly these."""
HEAD = Database.head_revision()


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_to_head_and_down_to_base(empty_db: Database) -> None:
    assert empty_db.current_revision() is None
    assert _tables(empty_db) == set()
    empty_db.upgrade()
    assert empty_db.current_revision() == HEAD and HEAD is not None and HEAD >= "0002"
    assert _tables(empty_db) == TABLES
    empty_db.downgrade("base")
    assert empty_db.current_revision() is None
    assert _tables(empty_db) == set()
    empty_db.upgrade()  # and up again on the downgraded database
    assert _tables(empty_db) == TABLES
    empty_db.upgrade()  # at head: nothing to do
    assert empty_db.current_revision() == HEAD


def test_models_match_the_migrated_schema(empty_db: Database) -> None:
    """Autogenerate finds nothing to add: the migrations create what the ORM declares."""
    empty_db.upgrade()
    with empty_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_the_overlap_guard_exists_and_goes_with_downgrade(empty_db: Database) -> None:
    empty_db.upgrade()
    if empty_db.kind == "postgresql":
        query = ("SELECT conname FROM pg_constraint WHERE contype = 'x' "
                 "AND conrelid = 'bookings'::regclass")
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bookings'"
    with empty_db.engine.connect() as connection:
        guards = set(connection.execute(text(query)).scalars())
    assert guards == ({"ex_bookings_no_bench_overlap"} if empty_db.kind == "postgresql" else
                      {"trg_bookings_no_overlap_insert", "trg_bookings_no_overlap_update"})
    empty_db.downgrade("base")
    if empty_db.kind == "sqlite":
        with empty_db.engine.connect() as connection:
            assert connection.execute(text(query)).all() == []


def test_sqlite_settings_on_every_connection(sqlite_url: str) -> None:
    db = Database(sqlite_url, busy_timeout_s=12.5)
    try:
        connections = [db.engine.connect() for _ in range(3)]  # three pooled connections
        for connection in connections:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12500
        for connection in connections:
            connection.close()
    finally:
        db.dispose()


def test_foreign_keys_are_enforced_on_sqlite(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    try:
        with pytest.raises(Exception, match="FOREIGN KEY"), db.session() as session:
            session.execute(text(
                "INSERT INTO users (organisation_id, email, password_hash, role, display_name,"
                " active, created_at) VALUES (999, 'x@y.z', 'h', 'customer', '', 1, "
                "'2026-01-01 00:00:00.000000')"))
    finally:
        db.dispose()


def test_database_urls(tmp_path: Path) -> None:
    assert database_url(None, cwd=tmp_path) == f"sqlite:///{tmp_path / DEFAULT_SQLITE_PATH}"
    assert database_url("lab.sqlite3", cwd=tmp_path) == f"sqlite:///{tmp_path / 'lab.sqlite3'}"
    assert database_url("postgresql://lab@db.example/benchbot") == \
        "postgresql+psycopg://lab@db.example/benchbot"
    with pytest.raises(InvalidInput, match="database: unsupported database 'mysql'"):
        database_url("mysql://lab@db.example/benchbot")
    with pytest.raises(InvalidInput, match="give an SQLite file"):
        Database("sqlite://")


def test_default_database_is_created_under_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database()
    try:
        db.upgrade()
        assert (tmp_path / DEFAULT_SQLITE_PATH).is_file()
        assert db.kind == "sqlite" and db.current_revision() == HEAD
    finally:
        db.dispose()
