"""Alembic environment of the booking service.

Run programmatically by :meth:`benchbot.service.db.Database.upgrade`, which passes an open
connection (already in its transaction) as ``config.attributes["connection"]``. Also usable
from the ``alembic`` command for development (``-x url=sqlite:///...``) to autogenerate a new
revision against :data:`benchbot.service.models.Base.metadata`. ``render_as_batch``: SQLite
has almost no ALTER TABLE, so Alembic moves and copies tables there; PostgreSQL runs the same
operations natively.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from benchbot.service.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///FILE ...")
    with create_engine(url).connect() as own:
        _run(own)
        own.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations()
