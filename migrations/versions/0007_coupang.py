"""Coupang orders: whether orderwatch acknowledges a vendor's new order sheets.

``shops.acknowledge``: NULL (the default) acknowledges Coupang order sheets automatically
when an order reaches processing; ``manual`` leaves it to the seller (in Wing).
``coupang_boxes``: the order poller's memory of each shipment box it has seen (when it was
ordered, its last status), so that every round lists again the days of the boxes that are
still on their way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("acknowledge", sa.String(length=16), nullable=True))
    op.create_table(
        "coupang_boxes",
        sa.Column("shipment_box_id", sa.String(length=64), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("ordered_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shipment_box_id", name=op.f("pk_coupang_boxes")),
    )
    op.create_index("ix_coupang_boxes_open", "coupang_boxes", ["vendor_id", "status", "ordered_at"])


def downgrade() -> None:
    op.drop_index("ix_coupang_boxes_open", table_name="coupang_boxes")
    op.drop_table("coupang_boxes")
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("acknowledge")
