"""Coupang products registered or followed through the project, and their approval.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import service.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = service.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "coupang_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seller_product_id", sa.String(length=32), nullable=False),
        sa.Column("vendor_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status_name", sa.String(length=32), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("next_poll_at", UTC, nullable=True),
        sa.Column("last_polled_at", UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupang_products")),
        sa.UniqueConstraint("seller_product_id", name=op.f("uq_coupang_products_seller_product_id")),
    )
    op.create_index("ix_coupang_products_due", "coupang_products", ["next_poll_at"], unique=False)
    op.create_table(
        "coupang_product_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seller_product_item_id", sa.String(length=32), nullable=True),
        sa.Column("item_name", sa.String(length=300), nullable=True),
        sa.Column("vendor_item_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_pk"],
            ["coupang_products.id"],
            name=op.f("fk_coupang_product_items_product_pk_coupang_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupang_product_items")),
        sa.UniqueConstraint(
            "product_pk", "position", name=op.f("uq_coupang_product_items_product_pk_position")
        ),
    )
    op.create_table(
        "coupang_product_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_pk", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("status_name", sa.String(length=32), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pk"],
            ["coupang_products.id"],
            name=op.f("fk_coupang_product_transitions_product_pk_coupang_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupang_product_transitions")),
    )
    op.create_index(
        op.f("ix_coupang_product_transitions_product_pk"),
        "coupang_product_transitions",
        ["product_pk"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_coupang_product_transitions_product_pk"), table_name="coupang_product_transitions")
    op.drop_table("coupang_product_transitions")
    op.drop_table("coupang_product_items")
    op.drop_index("ix_coupang_products_due", table_name="coupang_products")
    op.drop_table("coupang_products")
