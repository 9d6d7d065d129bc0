"""Bench agent tokens: the credential with which a bench PC's agent pulls that bench's jobs.

Only the token's SHA-256 is stored (a 256-bit random token: a fast hash cannot be reversed);
revoked tokens are kept (``revoked_at``) so the audit log's token ids stay meaningful.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bench_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bench_id"], ["benches.id"],
                                name=op.f("fk_agent_tokens_bench_id_benches")),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_agent_tokens_created_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_agent_tokens_token_sha256")))
    op.create_index(op.f("ix_agent_tokens_bench_id"), "agent_tokens", ["bench_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_tokens_bench_id"), table_name="agent_tokens")
    op.drop_table("agent_tokens")
