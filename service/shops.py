"""Shops and the Instant Mart relation: an outlet shop belongs to a main shop.

The relation lives in the ``shops`` table. It is set by configuration
(``ORDERWATCH_SHOPEE_OUTLET_SHOPS``), by ``orderwatch shops link``, or learned from the
marketplace (the reconciliation poll asks Shopee for each shop's relation). Ingest gives
every order of an outlet shop its main shop's id (``main_shop_id``), and linking a shop
updates the orders it already has, so an outlet's order is listed under its main shop
whichever came first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.models import ORDERS, SHOPS


@dataclass(frozen=True)
class ShopRow:
    """A known shop and, for an outlet, its main shop."""

    platform: str
    shop_id: str
    main_shop_id: str | None
    name: str | None


def main_shops(conn: Connection, shops: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The main shop of each (platform, shop id) that is a known outlet."""
    wanted = sorted(set(shops))
    if not wanted:
        return {}
    found: dict[tuple[str, str], str] = {}
    for platform in {p for p, _ in wanted}:
        ids = [s for p, s in wanted if p == platform]
        query = sa.select(SHOPS.c.shop_id, SHOPS.c.main_shop_id).where(
            SHOPS.c.platform == platform,
            SHOPS.c.shop_id.in_(ids),
            SHOPS.c.main_shop_id.is_not(None),
        )
        for row in conn.execute(query):
            found[(platform, row.shop_id)] = row.main_shop_id
    return found


def link_in(
    conn: Connection,
    platform: str,
    shop_id: str,
    main_shop_id: str | None,
    now: datetime | None = None,
    name: str | None = None,
) -> int:
    """Make ``shop_id`` an outlet of ``main_shop_id`` (``None``: a shop of its own) and give
    its existing orders that main shop; returns how many orders changed."""
    if main_shop_id == shop_id:
        raise ValueError(f"shop {shop_id} cannot be its own main shop")
    when = now or datetime.now(UTC)
    existing = conn.execute(
        sa.select(SHOPS.c.id).where(SHOPS.c.platform == platform, SHOPS.c.shop_id == shop_id)
    ).first()
    values: dict[str, Any] = {"main_shop_id": main_shop_id}
    if name is not None:
        values["name"] = name
    if existing is None:
        conn.execute(SHOPS.insert().values(platform=platform, shop_id=shop_id, created_at=when, **values))
    else:
        conn.execute(SHOPS.update().where(SHOPS.c.id == existing.id).values(**values))
    changed = conn.execute(
        ORDERS.update()
        .where(
            ORDERS.c.platform == platform,
            ORDERS.c.shop_id == shop_id,
            ORDERS.c.main_shop_id.is_distinct_from(main_shop_id),
        )
        .values(main_shop_id=main_shop_id)
    )
    return int(changed.rowcount or 0)


def link(db: Database, platform: str, shop_id: str, main_shop_id: str | None, name: str | None = None) -> int:
    """:func:`link_in` in its own transaction."""
    return db.run_write(lambda conn: link_in(conn, platform, shop_id, main_shop_id, name=name))


def link_all(db: Database, platform: str, pairs: Sequence[tuple[str, str]]) -> int:
    """Link every (outlet, main) pair in one transaction, skipping those already so."""

    def work(conn: Connection) -> int:
        known = main_shops(conn, [(platform, outlet) for outlet, _ in pairs])
        return sum(
            link_in(conn, platform, outlet, main)
            for outlet, main in pairs
            if known.get((platform, outlet)) != main
        )

    return db.run_write(work)


def list_shops(db: Database, platform: str | None = None) -> list[ShopRow]:
    """The known shops, outlets with their main shop."""
    query = sa.select(SHOPS.c.platform, SHOPS.c.shop_id, SHOPS.c.main_shop_id, SHOPS.c.name)
    if platform:
        query = query.where(SHOPS.c.platform == platform)
    with db.read() as conn:
        rows = conn.execute(query.order_by(SHOPS.c.platform, SHOPS.c.shop_id))
        return [ShopRow(r.platform, r.shop_id, r.main_shop_id, r.name) for r in rows]


def arrange_policies(conn: Connection, shops: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """When each of ``shops`` has its shipments arranged, for those that say (``approved``)."""
    wanted = sorted(set(shops))
    found: dict[tuple[str, str], str] = {}
    for platform in {p for p, _ in wanted}:
        ids = [s for p, s in wanted if p == platform]
        query = sa.select(SHOPS.c.shop_id, SHOPS.c.arrange_at).where(
            SHOPS.c.platform == platform, SHOPS.c.shop_id.in_(ids), SHOPS.c.arrange_at.is_not(None)
        )
        for row in conn.execute(query):
            found[(platform, row.shop_id)] = row.arrange_at
    return found


ARRANGE_AT = ("approved", "ready_to_ship")


def set_arrange_at(db: Database, platform: str, shop_id: str, arrange_at: str) -> None:
    """Set when the shop's shipments are arranged (``approved`` or ``ready_to_ship``)."""
    if arrange_at not in ARRANGE_AT:
        raise ValueError(f"arrange_at must be one of {', '.join(ARRANGE_AT)}")
    set_policy(db, platform, shop_id, arrange_at=None if arrange_at == "ready_to_ship" else arrange_at)


def set_policy(db: Database, platform: str, shop_id: str, **values: str | None) -> None:
    """Set some of a shop's policy columns (``None``: the default), adding the shop if unknown."""

    def work(conn: Connection) -> None:
        found = conn.execute(
            SHOPS.update().where(SHOPS.c.platform == platform, SHOPS.c.shop_id == shop_id).values(**values)
        )
        if not found.rowcount:
            conn.execute(
                SHOPS.insert().values(
                    platform=platform, shop_id=shop_id, created_at=datetime.now(UTC), **values
                )
            )

    db.run_write(work)
