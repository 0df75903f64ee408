"""The dashboard's queries: counts by GROUP BY over indexes, lists by keyset, never all orders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import changes
from service.views import ALERTS, ORDERS, PACKAGES, decode_cursor, encode_cursor, rfc3339

PAGE = 50
OPEN_ALERTS_SHOWN = 100
_TOP = "\U0010ffff"  # above every character: q <= id < q + _TOP is "id starts with q"


@dataclass(frozen=True)
class Counts:
    """Counts per (platform, shop) and state, for orders and for packages."""

    orders: dict[tuple[str, str], dict[str, int]]
    packages: dict[tuple[str, str], dict[str, int]]


@dataclass(frozen=True)
class Search:
    """What the order list shows: an order id prefix, a shop, a state, a platform, a page."""

    q: str | None = None
    shop: str | None = None
    state: str | None = None
    platform: str | None = None
    cursor: str | None = None


def counts(conn: Connection) -> Counts:
    """Orders and packages counted per platform, shop and state."""
    orders: dict[tuple[str, str], dict[str, int]] = {}
    query = sa.select(ORDERS.c.platform, ORDERS.c.shop_id, ORDERS.c.state, sa.func.count()).group_by(
        ORDERS.c.platform, ORDERS.c.shop_id, ORDERS.c.state
    )
    for platform, shop, state, number in conn.execute(query):
        orders.setdefault((platform, shop), {})[state] = number
    packages: dict[tuple[str, str], dict[str, int]] = {}
    query = (
        sa.select(ORDERS.c.platform, ORDERS.c.shop_id, PACKAGES.c.state, sa.func.count())
        .select_from(PACKAGES.join(ORDERS, ORDERS.c.id == PACKAGES.c.order_pk))
        .group_by(ORDERS.c.platform, ORDERS.c.shop_id, PACKAGES.c.state)
    )
    for platform, shop, state, number in conn.execute(query):
        packages.setdefault((platform, shop), {})[state] = number
    return Counts(orders, packages)


def open_alerts(conn: Connection) -> list[dict[str, Any]]:
    """The newest open alerts."""
    query = (
        sa.select(ALERTS)
        .where(ALERTS.c.state == "open")
        .order_by(ALERTS.c.id.desc())
        .limit(OPEN_ALERTS_SHOWN)
    )
    return [
        {
            "kind": a.kind,
            "platform": a.platform,
            "order_id": a.order_id,
            "package_id": a.package_id,
            "opened_at": rfc3339(a.opened_at),
            "message": a.message,
        }
        for a in conn.execute(query)
    ]


def orders(conn: Connection, search: Search, limit: int = PAGE) -> tuple[list[dict[str, Any]], str | None]:
    """A page of orders, newest first, and the cursor of the next page (None on the last)."""
    c = ORDERS.c
    query = sa.select(
        c.id, c.platform, c.order_id, c.shop_id, c.main_shop_id, c.state, c.platform_status, c.updated_at
    )
    if search.q:
        # A prefix as a range, so the (platform, order_id) index finds it.
        platforms = [search.platform] if search.platform else ["shopee", "coupang"]
        query = query.where(c.platform.in_(platforms), c.order_id >= search.q, c.order_id < search.q + _TOP)
    elif search.platform:
        query = query.where(c.platform == search.platform)
    if search.shop:
        query = query.where(sa.or_(c.shop_id == search.shop, c.main_shop_id == search.shop))
    if search.state:
        query = query.where(c.state == search.state)
    if search.cursor:
        query = query.where(c.id < decode_cursor(search.cursor))
    rows = conn.execute(query.order_by(c.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    found = [
        {
            "platform": r.platform,
            "order_id": r.order_id,
            "shop_id": r.shop_id,
            "main_shop_id": r.main_shop_id,
            "state": r.state,
            "platform_status": r.platform_status,
            "updated_at": rfc3339(r.updated_at),
        }
        for r in page
    ]
    return found, encode_cursor(page[-1].id) if len(rows) > limit else None


def timeline(order: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's history, its packages' histories and checkpoints, in time order."""
    entries = [{"what": "order", **t} for t in order["history"]]
    for package in order["packages"]:
        entries += [{"what": f"package {package['package_id']}", **t} for t in package["history"]]
        entries += [
            {"what": f"package {package['package_id']}", "checkpoint": True, **c}
            for c in package["checkpoints"]
        ]
    return sorted(entries, key=lambda e: e["at"] or "")


def stream_head(conn: Connection) -> str | None:
    """The change stream's last event id now, so the page follows the stream from there."""
    return str(changes.end(conn))
