"""Indexes for the status API and dashboard lists at 100,000 orders.

``GET /v1/orders?shop_id=`` (and the dashboard's shop filter) match ``shop_id`` or
``main_shop_id`` without a platform, which the (platform, …) indexes cannot serve: one
index per column, in id order, lets both backends take the union of the two and page it.
The dashboard's search by the start of an order id reads (order_id, id) in its order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.create_index("ix_orders_shop_id", ["shop_id", "id"], unique=False)
        batch.create_index("ix_orders_main_shop_id", ["main_shop_id", "id"], unique=False)
        batch.create_index("ix_orders_order_id", ["order_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_order_id")
        batch.drop_index("ix_orders_main_shop_id")
        batch.drop_index("ix_orders_shop_id")
