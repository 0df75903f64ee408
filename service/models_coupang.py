"""The Coupang tables: the boxes and the return or cancel requests the order poller has seen,
and the products followed through Coupang's approval. :mod:`service.models` names them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.models_base import Base


class CoupangBox(Base):
    """A Coupang shipment box the order poller has seen: when it was ordered and its last
    status, so that the days of boxes still on their way are listed again."""

    __tablename__ = "coupang_boxes"
    __table_args__ = (sa.Index("ix_coupang_boxes_open", "vendor_id", "status", "ordered_at"),)

    shipment_box_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(32))
    ordered_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CoupangReceipt(Base):
    """A Coupang return or cancel request the order poller has seen: when it was made and
    its last status (as orderwatch reads it), so that the days of requests still under way
    are listed again."""

    __tablename__ = "coupang_receipts"
    __table_args__ = (sa.Index("ix_coupang_receipts_open", "vendor_id", "status", "created_at"),)

    receipt_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CoupangProduct(Base):
    """A Coupang product registered through orderwatch or followed by its sellerProductId,
    and where it stands in Coupang's approval (the listing machine's state)."""

    __tablename__ = "coupang_products"
    __table_args__ = (
        sa.UniqueConstraint("seller_product_id"),
        sa.Index("ix_coupang_products_due", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_product_id: Mapped[str] = mapped_column(sa.String(32))
    vendor_id: Mapped[str | None] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(32))
    status_name: Mapped[str | None] = mapped_column(sa.String(32))
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    origin: Mapped[str] = mapped_column(sa.String(16))  # registered or tracked
    body: Mapped[dict[str, Any] | None]  # as registered (the wire body)
    next_poll_at: Mapped[datetime | None]  # None: final, no more polls
    last_polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CoupangProductItem(Base):
    """An item (option) of a Coupang product; ``vendor_item_id`` once Coupang approved it."""

    __tablename__ = "coupang_product_items"
    __table_args__ = (sa.UniqueConstraint("product_pk", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_pk: Mapped[int] = mapped_column(sa.ForeignKey("coupang_products.id", ondelete="CASCADE"))
    position: Mapped[int]
    seller_product_item_id: Mapped[str | None] = mapped_column(sa.String(32))
    item_name: Mapped[str | None] = mapped_column(sa.String(300))
    vendor_item_id: Mapped[str | None] = mapped_column(sa.String(32))


class CoupangProductTransition(Base):
    """One step of a Coupang product's way through approval."""

    __tablename__ = "coupang_product_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("coupang_products.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    trigger: Mapped[str] = mapped_column(sa.String(32))
    status_name: Mapped[str | None] = mapped_column(sa.String(32))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(sa.String(16))
    catch_up: Mapped[bool]


# One typed table per model, for Core queries (a model's __table__ is typed as a FromClause).
COUPANG_BOXES = cast(sa.Table, CoupangBox.__table__)
COUPANG_RECEIPTS = cast(sa.Table, CoupangReceipt.__table__)
COUPANG_PRODUCTS = cast(sa.Table, CoupangProduct.__table__)
COUPANG_PRODUCT_ITEMS = cast(sa.Table, CoupangProductItem.__table__)
COUPANG_PRODUCT_TRANSITIONS = cast(sa.Table, CoupangProductTransition.__table__)
