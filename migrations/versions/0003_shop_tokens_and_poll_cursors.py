"""Shops keep their Open API authorization; pollers keep their cursors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("access_token", sa.Text(), nullable=True))
        batch.add_column(sa.Column("refresh_token", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("token_expires_at", service.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "poll_cursors",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_poll_cursors")),
    )


def downgrade() -> None:
    op.drop_table("poll_cursors")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("token_expires_at")
        batch.drop_column("refresh_token")
        batch.drop_column("access_token")
