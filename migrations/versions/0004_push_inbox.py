"""Pushes are applied after they are acknowledged: when (``applied_at``) or why not (``error``).

Pushes stored before this revision were applied in the transaction that stored them, so
they are marked applied.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pushes") as batch:
        batch.add_column(sa.Column("applied_at", service.models.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
    op.execute("UPDATE pushes SET applied_at = received_at")
    op.create_index(
        "ix_pushes_unapplied",
        "pushes",
        ["id"],
        unique=False,
        sqlite_where=sa.text("applied_at IS NULL"),
        postgresql_where=sa.text("applied_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_pushes_unapplied",
        table_name="pushes",
        sqlite_where=sa.text("applied_at IS NULL"),
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    with op.batch_alter_table("pushes") as batch:
        batch.drop_column("error")
        batch.drop_column("applied_at")
