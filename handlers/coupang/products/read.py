"""Read models of Coupang products: as ``GET /v1/products`` and ``orderwatch products list``
show them, with their items' ``vendorItemId``s and their approval history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.models import COUPANG_PRODUCT_ITEMS as ITEMS
from service.models import COUPANG_PRODUCT_TRANSITIONS as HISTORY
from service.models import COUPANG_PRODUCTS as PRODUCTS
from service.views import rfc3339

PLATFORM = "coupang"


def _view(row: Any, items: list[Any]) -> dict[str, Any]:
    return {
        "platform": PLATFORM,
        "seller_product_id": row.seller_product_id,
        "name": row.name,
        "state": row.state,
        "status_name": row.status_name,
        "vendor_item_ids": [i.vendor_item_id for i in items if i.vendor_item_id],
        "items": [
            {
                "item_name": i.item_name,
                "seller_product_item_id": i.seller_product_item_id,
                "vendor_item_id": i.vendor_item_id,
            }
            for i in items
        ],  # fmt: skip
        "rejection_reason": row.rejection_reason,
        "origin": row.origin,
        "last_error": row.last_error,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def list_products(
    conn: Connection, state: str | None = None, seller_product_id: str | None = None
) -> list[dict[str, Any]]:
    """The followed products, newest first, as ``GET /v1/products`` shows them."""
    query = sa.select(PRODUCTS).order_by(PRODUCTS.c.id.desc())
    if state:
        query = query.where(PRODUCTS.c.state == state)
    if seller_product_id:
        query = query.where(PRODUCTS.c.seller_product_id == seller_product_id)
    rows = conn.execute(query).all()
    items: dict[int, list[Any]] = {row.id: [] for row in rows}
    if rows:
        found = conn.execute(
            sa.select(ITEMS).where(ITEMS.c.product_pk.in_(list(items))).order_by(ITEMS.c.position)
        )
        for item in found:
            items[item.product_pk].append(item)
    return [_view(row, items[row.id]) for row in rows]


def find(db: Database, seller_product_id: str) -> dict[str, Any] | None:
    """One followed product, or None."""
    with db.read() as conn:
        found = list_products(conn, seller_product_id=seller_product_id)
    return found[0] if found else None


def history_of(conn: Connection, seller_product_id: str) -> list[dict[str, Any]]:
    """A product's transitions, oldest first."""
    query = (
        sa.select(HISTORY)
        .join(PRODUCTS, PRODUCTS.c.id == HISTORY.c.product_pk)
        .where(PRODUCTS.c.seller_product_id == seller_product_id)
        .order_by(HISTORY.c.id)
    )
    return [
        {"from": r.from_state, "to": r.to_state, "trigger": r.trigger, "status_name": r.status_name,
         "at": rfc3339(r.at), "source": r.source, "catch_up": r.catch_up}
        for r in conn.execute(query)
    ]  # fmt: skip
