"""The dashboard's queries: counts by GROUP BY (cached: CountsCache), lists by keyset, never all orders."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import changes
from service.db import Database
from service.models import ALERTS, ORDERS, PACKAGES
from service.views import custom_plans, rfc3339

log = logging.getLogger("orderwatch.dashboard")

PAGE = 50
OPEN_ALERTS_SHOWN = 100
_TOP = "\U0010ffff"  # above every character: q <= id < q + _TOP is "id starts with q"


@dataclass(frozen=True)
class Counts:
    """Counts per (platform, shop) and state, for orders and for packages, as of a time."""

    orders: dict[tuple[str, str], dict[str, int]]
    packages: dict[tuple[str, str], dict[str, int]]
    at: datetime


class CountsCache:
    """Counts shared by every page of one application. They are counted again, in the
    background while the pages show the last ones, once they are older than ``SPEND`` times
    what counting took: a small database shows fresh counts, and a large one spends at most
    1/SPEND of its time counting, however many people look."""

    SPEND = 20
    MAX_AGE = 30.0  # seconds

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: Counts | None = None
        self._until = 0.0
        self._busy = False

    def get(self, db: Database) -> Counts:
        """The last counts (counted now if there are none yet)."""
        with self._lock:
            if self._found is None:
                self._found, self._until = self._count(db)  # the first page waits, the others too
            elif time.monotonic() >= self._until and not self._busy:
                self._busy = True
                threading.Thread(target=self._again, args=(db,), name="dashboard-counts", daemon=True).start()
            assert self._found is not None
            return self._found

    def _count(self, db: Database) -> tuple[Counts, float]:
        """Count; the counts and until when they are fresh."""
        started = time.monotonic()
        with db.read() as conn:
            found = counts(conn)
        return found, time.monotonic() + min(self.MAX_AGE, (time.monotonic() - started) * self.SPEND)

    def _again(self, db: Database) -> None:
        try:
            found, until = self._count(db)
            with self._lock:
                self._found, self._until = found, until
        except Exception as exc:  # the pages keep the last counts; the next page tries again
            log.warning("dashboard counts not refreshed: %s", exc)
        finally:
            self._busy = False


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
    return Counts(orders, packages, datetime.now(UTC))


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


def _page_cursor(row: Any, by_order_id: bool) -> str:
    text = f"{row.id}:{row.order_id}" if by_order_id else str(row.id)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(cursor: str | None) -> tuple[int, str | None] | None:
    """(id, order id) from a cursor of ours; None for none or a garbled one (first page)."""
    if not cursor or len(cursor) > 200:  # ours: an id and an order id (64 at most), in base64
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        number, _, order_id = text.partition(":")
        value = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (value, order_id or None) if 0 <= value < 2**63 else None


def orders(conn: Connection, search: Search, limit: int = PAGE) -> tuple[list[dict[str, Any]], str | None]:
    """A page of orders and the cursor of the next page (None on the last): newest first, or
    by order id when searching by an order id's start."""
    c = ORDERS.c
    where = []
    if search.platform:
        where.append(c.platform == search.platform)
    if search.state:  # with a shop, off SQLite's state indexes (as in service.views.list_orders)
        off_index = search.shop and conn.dialect.name == "sqlite"
        where.append((c.state.concat("") if off_index else c.state) == search.state)
    after = _read_cursor(search.cursor)
    if search.q:
        # The prefix as a range on the (order_id, id) index, read in its order.
        where += [c.order_id >= search.q, c.order_id < search.q + _TOP]
        if search.shop:
            where.append(sa.or_(c.shop_id == search.shop, c.main_shop_id == search.shop))
        if after and after[1] is not None:
            where.append(sa.tuple_(c.order_id, c.id) > sa.tuple_(sa.literal(after[1]), sa.literal(after[0])))
        order: tuple[Any, ...] = (c.order_id, c.id)
    else:
        if after:
            where.append(c.id < after[0])
        if search.shop:
            custom_plans(conn)
            # Each of the two columns through its own (…, id) index: an OR would scan the table.
            sides = [
                sa.select(c.id).where(column == search.shop, *where).order_by(c.id.desc()).limit(limit + 1)
                for column in (c.shop_id, c.main_shop_id)
            ]
            where = [c.id.in_(sa.union(*(sa.select(side.subquery().c.id) for side in sides)))]
        order = (c.id.desc(),)
    query = sa.select(
        c.id, c.platform, c.order_id, c.shop_id, c.main_shop_id, c.state, c.platform_status, c.updated_at
    )
    rows = conn.execute(query.where(*where).order_by(*order).limit(limit + 1)).all()
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
    return found, _page_cursor(page[-1], bool(search.q)) if len(rows) > limit else None


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
