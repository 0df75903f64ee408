"""Coupang return and cancel requests: the order poller's memory of each request it has seen.

``coupang_receipts``: when a request (``receiptId``) was made and its last status as
orderwatch reads it, so that every round lists again the days of the requests still under
way (a stop-shipment request that the seller answers later, a return Coupang completes).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 10:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupang_receipts",
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("created_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_coupang_receipts")),
    )
    op.create_index("ix_coupang_receipts_open", "coupang_receipts", ["vendor_id", "status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_coupang_receipts_open", table_name="coupang_receipts")
    op.drop_table("coupang_receipts")
