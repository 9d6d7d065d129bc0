"""Engine, sessions and schema migrations of the booking service's database.

Default: an embedded SQLite file (``results/service/benchbot.sqlite3`` under the working
folder), every connection set to WAL, ``busy_timeout`` and ``foreign_keys=ON``; the driver's
own transaction handling is switched off so that SQLAlchemy emits ``BEGIN`` itself, and a
:meth:`Database.write_session` begins with ``BEGIN IMMEDIATE`` (takes the write lock first, so a
check-then-insert cannot race another writer). PostgreSQL through psycopg 3:
``postgresql+psycopg://user@host/db`` (a plain ``postgresql://`` URL is taken to mean that).

Migrations are Alembic's, shipped inside the package (``migrations/``), run programmatically by
:meth:`Database.upgrade` -- in one transaction, serialised against another process starting at
the same time (SQLite write lock, PostgreSQL advisory lock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from benchbot.service.errors import DatabaseUnavailable, InvalidInput

DEFAULT_SQLITE_PATH = Path("results") / "service" / "benchbot.sqlite3"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30.0
"""How long an SQLite writer waits for another's write lock before giving up."""
_BEGIN_OPTION = "benchbot_sqlite_begin"  # execution option read by the "begin" hook
_MIGRATION_LOCK_KEY = 0x62656E6368  # pg_advisory_xact_lock key ("bench")


def database_url(database: str | Path | None = None, cwd: Path | None = None) -> str:
    """The SQLAlchemy URL for ``--database``: None → the default SQLite file under ``cwd``;
    a URL is used as given (``postgresql://`` becomes ``postgresql+psycopg://``); anything else
    is an SQLite file path (relative to ``cwd``)."""
    base = cwd or Path.cwd()
    if database is None:
        return f"sqlite:///{(base / DEFAULT_SQLITE_PATH).resolve()}"
    text = str(database)
    if "://" not in text:
        return f"sqlite:///{(base / Path(text).expanduser()).resolve()}"
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise InvalidInput("database", f"not a database URL: {exc}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput("database", f"unsupported database {url.get_backend_name()!r} "
                           "(use an SQLite file or a postgresql+psycopg:// URL)")
    return url.render_as_string(hide_password=False)


class Database:
    """One database: engine, session factories and its migration state."""

    def __init__(self, url: str | Path | None = None, *, pool_size: int = 5,
                 max_overflow: int = 10, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.url = make_url(database_url(url))
        self.kind = self.url.get_backend_name()
        if self.kind == "sqlite":
            self.engine = self._sqlite_engine(busy_timeout_s, pool_size, max_overflow)
        else:
            self.engine = create_engine(self.url, pool_size=pool_size,
                                        max_overflow=max_overflow, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}),
            expire_on_commit=False)

    def _sqlite_engine(self, busy_timeout_s: float, pool_size: int, max_overflow: int
                       ) -> Engine:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise InvalidInput("database", "give an SQLite file (several connections share it)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url, pool_size=pool_size, max_overflow=max_overflow,
                               connect_args={"timeout": busy_timeout_s,
                                             "check_same_thread": False})
        busy_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (below)
            for pragma in ("journal_mode=WAL", f"busy_timeout={busy_ms}", "foreign_keys=ON",
                           "synchronous=NORMAL"):
                dbapi_connection.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

    @property
    def display_url(self) -> str:
        """The URL without its password (for logs and errors)."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on an exception."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like :meth:`session`, for a read-then-write decision: on SQLite the transaction
        starts with ``BEGIN IMMEDIATE`` (the write lock is taken before the first read)."""
        with self._write_sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def check_reachable(self) -> None:
        """Open one connection now: DatabaseUnavailable naming the database and the reason
        (instead of a traceback at the first request)."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DatabaseUnavailable(f"cannot open the database {self.display_url}: "
                                      f"{reason}") from None

    # --- migrations -------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema up to ``revision`` (an empty database: created)."""
        with self._migration_connection() as connection:
            command.upgrade(_alembic_config(connection), revision)

    def downgrade(self, revision: str = "base") -> None:
        """Migrate the schema down to ``revision`` (``base``: every table dropped)."""
        with self._migration_connection() as connection:
            command.downgrade(_alembic_config(connection), revision)

    def current_revision(self) -> str | None:
        """The revision the database is at (None: never migrated)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    @cache
    def head_revision() -> str | None:
        """The newest revision this benchbot ships. Read once per process: the shipped scripts
        do not change while it runs, and reading them (Alembic imports every script) cost
        ``/health`` ~5 ms per call."""
        return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()

    @contextmanager
    def _migration_connection(self) -> Iterator[Connection]:
        """One transaction for the whole migration, serialised against other processes. On
        SQLite foreign keys are off meanwhile (batch migrations copy tables) and checked before
        the commit."""
        with self.engine.connect() as connection:
            raw: Any = connection.connection.driver_connection
            if self.kind == "sqlite":
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                connection.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                with connection.begin():
                    if self.kind == "postgresql":
                        connection.exec_driver_sql(
                            f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
                    yield connection
                    if self.kind == "sqlite":
                        problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if problems:
                            raise RuntimeError(f"migration broke foreign keys: {problems[:5]}")
            finally:
                if self.kind == "sqlite":
                    raw.execute("PRAGMA foreign_keys=ON")


def _alembic_config(connection: Connection | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config
