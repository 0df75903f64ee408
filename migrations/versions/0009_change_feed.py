"""The change feed: every state change in commit order, with a cursor.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=True),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("trigger", sa.String(length=32), nullable=True),
        sa.Column("at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("catch_up", sa.Boolean(), nullable=True),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("raw_status", sa.String(length=64), nullable=True),
        sa.Column("committed_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("change_counter")
    op.drop_table("changes")
