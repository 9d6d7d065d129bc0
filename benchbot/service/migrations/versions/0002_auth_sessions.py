"""Sign-in and public ids: server-side sessions and API tokens, the failed-login counter, and
random public ids for bookings and runs.

``auth_sessions`` holds browser sessions and bearer tokens alike, each by the SHA-256 of the
secret its client holds (never the secret). ``login_throttle`` counts consecutive failed
logins per e-mail address. ``bookings.public_id`` and ``runs.public_id`` are what the API
shows instead of the sequential keys; rows that exist already get one here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PUBLIC_ID_TABLES = ("bookings", "runs")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        _time("created_at"), _time("last_seen_at"), _time("expires_at"),
        _time("revoked_at", True),
        sa.Column("revoked_reason", sa.String(200), nullable=True),
        sa.CheckConstraint("kind IN ('browser', 'api_token')", name=op.f("ck_auth_sessions_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_auth_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_auth_sessions_secret_sha256")))
    op.create_index(op.f("ix_auth_sessions_user_id"), "auth_sessions", ["user_id"])
    op.create_table(
        "login_throttle",
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        _time("last_failed_at", True), _time("locked_until", True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_login_throttle")))
    for table in _PUBLIC_ID_TABLES:
        _add_public_id(table)


def _add_public_id(table: str) -> None:
    """Add the column, give every existing row a random id, then make it unique. SQLite adds a
    NOT NULL column only with a default (the empty string, left in place: rebuilding the table
    to drop it would drop the bookings' overlap triggers too); PostgreSQL drops it."""
    op.add_column(table, sa.Column("public_id", sa.String(32), nullable=False,
                                   server_default=""))
    bind = op.get_bind()
    ids = bind.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()
    for row_id in ids:
        bind.execute(sa.text(f"UPDATE {table} SET public_id = :p WHERE id = :i"),
                     {"p": secrets.token_urlsafe(16), "i": row_id})
    if bind.dialect.name == "postgresql":
        op.alter_column(table, "public_id", server_default=None)
    op.create_index(f"uq_{table}_public_id", table, ["public_id"], unique=True)


def downgrade() -> None:
    for table in _PUBLIC_ID_TABLES:
        op.drop_index(f"uq_{table}_public_id", table_name=table)
        op.drop_column(table, "public_id")  # SQLite >= 3.35 drops a column in place
    op.drop_table("login_throttle")
    op.drop_table("auth_sessions")
