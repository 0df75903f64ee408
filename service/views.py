"""Read models: orders, packages and alerts as the contract's JSON shapes."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from service import bulk
from service.models import (
    ALERTS,
    CHECKPOINTS,
    EVENTS,
    ORDERS,
    PACKAGES,
    TRANSITIONS,
)

MAX_LIMIT = 500
# The largest id an INTEGER primary key holds on each backend: a cursor past it is past
# every row (and PostgreSQL refuses to compare an INTEGER column with a larger number).
MAX_ID = {"postgresql": 2**31 - 1, "sqlite": 2**63 - 1}


class BadQuery(ValueError):
    """A query parameter is malformed; the message names it."""


def rfc3339(value: datetime | None) -> str | None:
    """A UTC datetime as an RFC 3339 string with a ``Z``."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def encode_cursor(last_id: int) -> str:
    """An opaque cursor for keyset pagination."""
    return base64.urlsafe_b64encode(f"o:{last_id}".encode()).decode().rstrip("=")


def after_cursor(conn: Connection, cursor: str) -> int:
    """The id a cursor stands for, within the range of the ids of ``conn``'s backend."""
    return min(decode_cursor(cursor), MAX_ID.get(conn.dialect.name, 2**63 - 1))


def decode_cursor(cursor: str) -> int:
    """The id a cursor stands for; :class:`BadQuery` when it is not one of ours."""
    if len(cursor) > 64:  # ours are about a dozen characters; measured before any decoding
        raise BadQuery("cursor is not a cursor this service issued")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        number = int(value)
        if prefix != "o" or not 0 <= number < 2**63:
            raise ValueError(prefix)
        return number
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadQuery("cursor is not a cursor this service issued") from exc


def _transition(row: Row[Any]) -> dict[str, Any]:
    return {
        "from": row.from_state,
        "to": row.to_state,
        "trigger": row.trigger,
        "at": rfc3339(row.at),
        "source": row.source,
        "event_id": row.event_id,
        "catch_up": row.catch_up,
        "actor": row.actor,  # who fired it (a command's token name), from the journal
        "reason": row.reason,
    }


def _history() -> Any:
    """History rows with the actor and reason of the event that caused each."""
    joined = TRANSITIONS.outerjoin(EVENTS, EVENTS.c.id == TRANSITIONS.c.event_id)
    return sa.select(TRANSITIONS, EVENTS.c.actor, EVENTS.c.reason).select_from(joined)


def _package(row: Row[Any]) -> dict[str, Any]:
    return {
        "platform": row.platform,
        "package_id": row.package_id,
        "order_id": row.order_id,
        "state": row.state,
        "carrier": row.carrier,
        "tracking_number": row.tracking_number,
        "updated_at": rfc3339(row.updated_at),
    }


def _order(row: Row[Any]) -> dict[str, Any]:
    return {
        "platform": row.platform,
        "order_id": row.order_id,
        "shop_id": row.shop_id,
        "main_shop_id": row.main_shop_id,
        "state": row.state,
        "platform_status": row.platform_status,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }


def custom_plans(conn: Connection) -> None:
    """Plan this transaction's statements for their values: the counts behind a shop differ
    by orders of magnitude, and a prepared statement's generic plan (PostgreSQL's choice
    after five runs) fits one shop and makes another wait tens of milliseconds."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def list_orders(
    conn: Connection,
    *,
    state: str | None = None,
    platform: str | None = None,
    shop_id: str | None = None,
    updated_since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of orders, newest id last, with their packages (no histories)."""
    if conn.dialect.name == "postgresql":
        # The page takes three statements (ids, rows, packages): one snapshot for all three,
        # so an order that changes meanwhile is shown as the filter saw it. (A SQLite read
        # transaction keeps one snapshot from its first read anyway.) Must come first.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    c = ORDERS.c
    where = []
    if state:
        # With a shop, SQLite tests the state row by row (``||''`` keeps it off the state
        # indexes): the shop's own index is the narrow one, which it cannot tell without
        # per-value statistics (PostgreSQL has them, and chooses well by itself).
        off_index = shop_id and conn.dialect.name == "sqlite"
        where.append((c.state.concat("") if off_index else c.state) == state)
    if platform:
        where.append(c.platform == platform)
    if updated_since is not None:
        where.append(c.updated_at >= updated_since)
    if cursor:
        where.append(c.id > after_cursor(conn, cursor))
    if shop_id:
        custom_plans(conn)
        # The shop's own orders and its outlets' orders, each paged through its own index
        # ((shop_id, id), (main_shop_id, id)): an OR of the two would scan the whole table
        # for a small shop on SQLite.
        sides = [
            sa.select(c.id).where(column == shop_id, *where).order_by(c.id).limit(limit + 1).subquery()
            for column in (c.shop_id, c.main_shop_id)
        ]
        where = [c.id.in_(sa.union(*(sa.select(side.c.id) for side in sides)))]
    ids = conn.execute(sa.select(c.id).where(*where).order_by(c.id).limit(limit + 1)).scalars().all()
    page = list(ids[:limit])
    # The rows themselves straight from the driver (service/bulk.py): a page has hundreds of
    # rows, and SQLAlchemy's per-value result processing cost more than the query.
    packages: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in bulk.select(conn, PACKAGES, ("id_in", "order_pk"), page):
        packages[p.order_pk].append(_package(p))
    orders = [
        {**_order(r), "packages": packages[r.id]} for r in bulk.select(conn, ORDERS, ("id_in", "id"), page)
    ]
    return {"orders": orders, "next_cursor": encode_cursor(page[-1]) if len(ids) > limit else None}


def get_order(conn: Connection, platform: str, order_id: str) -> dict[str, Any] | None:
    """One order with its packages (each with history and checkpoints) and its history."""
    row = conn.execute(
        sa.select(ORDERS).where(ORDERS.c.platform == platform, ORDERS.c.order_id == order_id)
    ).first()
    if row is None:
        return None
    history = conn.execute(
        _history().where(TRANSITIONS.c.order_pk == row.id).order_by(TRANSITIONS.c.id)
    ).all()
    package_rows = conn.execute(
        sa.select(PACKAGES).where(PACKAGES.c.order_pk == row.id).order_by(PACKAGES.c.id)
    ).all()
    checkpoints = _checkpoints(conn, [p.id for p in package_rows])
    packages = [
        {
            **_package(p),
            "history": [_transition(t) for t in history if t.package_id == p.package_id],
            "checkpoints": checkpoints.get(p.id, []),
        }
        for p in package_rows
    ]
    return {
        **_order(row),
        "packages": packages,
        "history": [_transition(t) for t in history if t.package_id is None],
    }


def get_package(conn: Connection, platform: str, package_id: str) -> dict[str, Any] | None:
    """One package with its history and checkpoints."""
    row = conn.execute(
        sa.select(PACKAGES).where(PACKAGES.c.platform == platform, PACKAGES.c.package_id == package_id)
    ).first()
    if row is None:
        return None
    history = conn.execute(
        _history()
        .where(TRANSITIONS.c.order_pk == row.order_pk, TRANSITIONS.c.package_id == package_id)
        .order_by(TRANSITIONS.c.id)
    ).all()
    return {
        **_package(row),
        "history": [_transition(t) for t in history],
        "checkpoints": _checkpoints(conn, [row.id]).get(row.id, []),
    }


def _checkpoints(conn: Connection, package_pks: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not package_pks:
        return found
    query = sa.select(CHECKPOINTS).where(CHECKPOINTS.c.package_pk.in_(package_pks)).order_by(CHECKPOINTS.c.at)
    for c in conn.execute(query):
        found[c.package_pk].append(
            {
                "at": rfc3339(c.at),
                "description": c.description,
                "location": c.location,
                "raw_status": c.raw_status,
            }
        )
    return found


def list_alerts(conn: Connection, state: str | None = None) -> dict[str, Any]:
    """Alerts, newest first (open ones, resolved ones, or all)."""
    query = sa.select(ALERTS).order_by(ALERTS.c.id.desc()).limit(1000)
    if state:
        query = query.where(ALERTS.c.state == state)
    return {
        "alerts": [
            {
                "id": a.id,
                "kind": a.kind,
                "platform": a.platform,
                "order_id": a.order_id,
                "package_id": a.package_id,
                "state": a.state,
                "opened_at": rfc3339(a.opened_at),
                "resolved_at": rfc3339(a.resolved_at),
                "message": a.message,
            }
            for a in conn.execute(query)
        ]
    }
