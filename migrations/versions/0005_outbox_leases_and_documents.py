"""Outbox jobs are leased to the worker that runs them; packages' documents are kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_until", service.models.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(length=100), nullable=True))
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint(
            "platform", "package_id", "kind", name=op.f("uq_documents_platform_package_id_kind")
        ),
    )


def downgrade() -> None:
    op.drop_table("documents")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("worker")
        batch.drop_column("lease_until")
