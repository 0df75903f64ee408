"""A Coupang vendor's acknowledgement policy: whether orderwatch acknowledges new order
sheets (``auto``, the default) or leaves it to the seller in Wing (``manual``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.models import Shop

PLATFORM = "coupang"
SHOPS = cast(sa.Table, Shop.__table__)
ACKNOWLEDGE = ("auto", "manual")


def set_acknowledge(db: Database, vendor_id: str, mode: str) -> None:
    """Set whether the vendor's order sheets are acknowledged by orderwatch."""
    if mode not in ACKNOWLEDGE:
        raise ValueError(f"acknowledge must be one of {', '.join(ACKNOWLEDGE)}")
    value = None if mode == "auto" else mode

    def work(conn: Connection) -> None:
        found = conn.execute(
            SHOPS.update()
            .where(SHOPS.c.platform == PLATFORM, SHOPS.c.shop_id == vendor_id)
            .values(acknowledge=value)
        )
        if not found.rowcount:
            conn.execute(
                SHOPS.insert().values(
                    platform=PLATFORM, shop_id=vendor_id, acknowledge=value, created_at=datetime.now(UTC)
                )
            )

    db.run_write(work)


def acknowledges(db: Database, vendor_id: str) -> bool:
    """Whether orderwatch acknowledges the vendor's new order sheets."""
    with db.read() as conn:
        value = conn.execute(
            sa.select(SHOPS.c.acknowledge).where(SHOPS.c.platform == PLATFORM, SHOPS.c.shop_id == vendor_id)
        ).scalar()
    return value != "manual"
