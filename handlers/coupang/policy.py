"""A Coupang vendor's acknowledgement policy: whether orderwatch acknowledges new order
sheets (``auto``, the default) or leaves it to the seller in Wing (``manual``)."""

from __future__ import annotations

import sqlalchemy as sa

from service.db import Database
from service.models import SHOPS
from service.shops import set_policy

PLATFORM = "coupang"
ACKNOWLEDGE = ("auto", "manual")


def set_acknowledge(db: Database, vendor_id: str, mode: str) -> None:
    """Set whether the vendor's order sheets are acknowledged by orderwatch."""
    if mode not in ACKNOWLEDGE:
        raise ValueError(f"acknowledge must be one of {', '.join(ACKNOWLEDGE)}")
    set_policy(db, PLATFORM, vendor_id, acknowledge=None if mode == "auto" else mode)


def acknowledges(db: Database, vendor_id: str) -> bool:
    """Whether orderwatch acknowledges the vendor's new order sheets."""
    with db.read() as conn:
        value = conn.execute(
            sa.select(SHOPS.c.acknowledge).where(SHOPS.c.platform == PLATFORM, SHOPS.c.shop_id == vendor_id)
        ).scalar()
    return value != "manual"
