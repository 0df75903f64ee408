"""Rows in for ingest: the journal, order locks, and the stored state a fold continues from.

Plain SQLAlchemy Core with executemany, so a batch of events costs a dozen statements
rather than a dozen per event. What the fold changes is written by
:mod:`service.store_writes`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

from service import bulk
from service.db import Retry
from service.models import EVENTS, ORDERS, PACKAGES, TRANSITIONS
from statemachines.aggregate import Change, OrderAggregate, PackageState, Result
from statemachines.events import Event
from statemachines.machines import ORDER, Subject
from statemachines.timeline import Journaled

OrderKey = tuple[str, str]


JOURNAL_COLUMNS = (
    "dedupe_key", "platform", "shop_id", "order_id", "package_id", "kind", "status", "source",
    "occurred_at", "received_at", "main_shop_id", "tracking_number", "carrier", "actor", "reason",
    "raw", "outcome",
)  # fmt: skip


def journal(conn: Connection, events: Sequence[Event], now: datetime) -> dict[str, int]:
    """Append events to the journal; the ids of those whose dedupe key was new."""
    if not events:
        return {}
    rows = [
        (
            e.dedupe_key, e.platform, e.shop_id, e.order_id, e.package_id, e.kind.value, e.status,
            e.source, e.occurred_at, now, e.main_shop_id, e.tracking_number, e.carrier, e.actor,
            e.reason, dict(e.raw),
            "applied",  # the same transaction records any other outcome
        )
        for e in events
    ]  # fmt: skip
    inserted = bulk.insert(
        conn, EVENTS, JOURNAL_COLUMNS, rows, conflict=["dedupe_key"], returning=["id", "dedupe_key"]
    )
    return {row.dedupe_key: row.id for row in inserted}


def journaled_from_row(row: Row[Any], with_raw: bool = True) -> Journaled:
    """A journal row as the event it recorded (``with_raw=False``: the row has no payload)."""
    event = Event(
        platform=row.platform,
        shop_id=row.shop_id,
        order_id=row.order_id,
        kind=row.kind,
        status=row.status,
        occurred_at=row.occurred_at,
        dedupe_key=row.dedupe_key,
        source=row.source,
        package_id=row.package_id,
        main_shop_id=row.main_shop_id,
        tracking_number=row.tracking_number,
        carrier=row.carrier,
        actor=row.actor,
        reason=row.reason,
        raw=row.raw if with_raw else {},
    )
    return Journaled(row.id, event)


def create_orders(conn: Connection, firsts: Sequence[Event], now: datetime) -> None:
    """Insert the orders that do not exist yet (in key order), initial state; raise
    :class:`Retry` on PostgreSQL when another writer created one of them meanwhile."""
    names = [
        "platform",
        "order_id",
        "shop_id",
        "main_shop_id",
        "state",
        "last_key",
        "created_at",
        "updated_at",
    ]
    rows = [
        (e.platform, e.order_id, e.shop_id, e.main_shop_id, ORDER.initial, "", e.occurred_at, e.occurred_at)
        for e in firsts
    ]
    if conn.dialect.name != "postgresql":
        # SQLite writers hold the database lock (BEGIN IMMEDIATE): nobody else creates orders.
        bulk.insert(conn, ORDERS, names, rows, conflict=["platform", "order_id"])
        return
    made = bulk.insert(conn, ORDERS, names, rows, conflict=["platform", "order_id"], returning=names[:2])
    if len(made) < len(rows):
        # A concurrent writer created some of these orders after our lock pass. Locking
        # them now would take locks out of key order (a deadlock with a writer that holds
        # them and waits for ours); start the transaction again instead, when they exist.
        raise Retry("orders created concurrently")


def lock_orders(conn: Connection, keys: Sequence[OrderKey]) -> dict[OrderKey, Any]:
    """Select and lock the orders (``FOR UPDATE`` in key order on PostgreSQL)."""
    rows = bulk.select(
        conn,
        ORDERS,
        ("pair_in", "platform,order_id"),
        keys,
        order_by=("platform", "order_id"),
        for_update=True,
    )
    return {(row.platform, row.order_id): row for row in rows}


def load_packages(conn: Connection, order_pks: Sequence[int]) -> dict[int, list[Any]]:
    """The package rows of these orders."""
    found: dict[int, list[Any]] = defaultdict(list)
    for row in bulk.select(conn, PACKAGES, ("id_in", "order_pk"), order_pks):
        found[row.order_pk].append(row)
    return found


def load_journal(
    conn: Connection, keys: Sequence[OrderKey]
) -> tuple[dict[OrderKey, list[Journaled]], dict[int, Result]]:
    """Every journaled event of these orders, and the outcome each had recorded."""
    journals: dict[OrderKey, list[Journaled]] = defaultdict(list)
    recorded: dict[int, Result] = {}
    for chunk in chunks(keys, 500):
        # The fold needs no raw payloads: leaving them out saves decoding them.
        query = sa.select(*(c for c in EVENTS.c if c.name != "raw")).where(keys_in(conn, EVENTS, chunk))
        for row in conn.execute(query):
            item = journaled_from_row(row, with_raw=False)
            journals[(row.platform, row.order_id)].append(item)
            if row.outcome is not None:
                recorded[row.id] = Result(row.outcome, row.error)
    return journals, recorded


def load_history(conn: Connection, order_pks: Sequence[int]) -> dict[int, list[tuple[int, Change]]]:
    """The stored history rows of these orders, in order, as (row id, change)."""
    found: dict[int, list[tuple[int, Change]]] = defaultdict(list)
    for chunk in chunks(sorted(order_pks), 900):
        query = (
            sa.select(TRANSITIONS)
            .where(ids_in(conn, TRANSITIONS.c.order_pk, chunk))
            .order_by(TRANSITIONS.c.id)
        )
        for r in conn.execute(query):
            change = Change(
                r.package_id, r.from_state, r.to_state, r.trigger, r.at, r.source, r.event_id, r.catch_up
            )
            found[r.order_pk].append((r.id, change))
    return found


def claimed_packages(
    conn: Connection, folded: Sequence[tuple[OrderKey, OrderAggregate, Sequence[Row[Any]]]]
) -> dict[OrderKey, str]:
    """Orders whose new packages' numbers already belong to another order (or to an
    earlier order of the same batch), with the reason."""
    wanted: dict[tuple[str, str], OrderKey] = {}
    problems: dict[OrderKey, str] = {}
    for key, agg, rows in folded:
        known = {r.package_id for r in rows} | set(agg.renamed)
        for package_id in agg.packages.keys() - known:
            other = wanted.setdefault((key[0], package_id), key)
            if other != key:
                problems[key] = f"package {package_id} belongs to order {other[1]}"
    if not wanted:
        return problems
    pairs = sorted(wanted)
    for chunk in chunks(pairs, 500):
        pair = sa.tuple_(PACKAGES.c.platform, PACKAGES.c.package_id)
        if conn.dialect.name == "postgresql":
            strings = postgresql.ARRAY(sa.String)
            given = (
                sa.func.unnest(
                    sa.bindparam(None, [p[0] for p in chunk], type_=strings),
                    sa.bindparam(None, [p[1] for p in chunk], type_=strings),
                )
                .table_valued("platform", "package_id")
                .render_derived()
            )
            match = pair.in_(sa.select(given.c.platform, given.c.package_id))
        else:
            match = pair.in_(chunk)
        query = sa.select(PACKAGES.c.platform, PACKAGES.c.package_id, PACKAGES.c.order_id).where(match)
        for r in conn.execute(query):
            key = wanted[(r.platform, r.package_id)]
            if r.order_id != key[1]:
                problems[key] = f"package {r.package_id} belongs to order {r.order_id}"
    return problems


def aggregate_from_rows(row: Row[Any], packages: Sequence[Row[Any]]) -> OrderAggregate:
    """The aggregate as stored: where an incremental fold continues from."""
    return OrderAggregate(
        platform=row.platform,
        order_id=row.order_id,
        shop_id=row.shop_id,
        main_shop_id=row.main_shop_id,
        subject=Subject(row.state, row.held_from),
        platform_status=row.platform_status,
        packages={
            p.package_id: PackageState(
                p.package_id,
                Subject(p.state, p.held_from, p.attempts),
                p.platform_status,
                p.carrier,
                p.tracking_number,
                p.provisional,
                p.created_at,
                p.updated_at,
            )
            for p in packages
        },
        last_key=row.last_key,
        created_at=row.created_at if row.last_key else None,
        updated_at=row.updated_at if row.last_key else None,
    )


def keys_in(conn: Connection, table: sa.Table, keys: Sequence[OrderKey]) -> Any:
    """``(platform, order_id) IN keys``; on PostgreSQL a join on two arrays, so the
    statement stays small and constant whatever the number of keys."""
    pair = sa.tuple_(table.c.platform, table.c.order_id)
    if conn.dialect.name != "postgresql":
        return pair.in_(keys)
    strings = postgresql.ARRAY(sa.String)
    given = (
        sa.func.unnest(
            sa.bindparam(None, [k[0] for k in keys], type_=strings),
            sa.bindparam(None, [k[1] for k in keys], type_=strings),
        )
        .table_valued("platform", "order_id")
        .render_derived()
    )
    return pair.in_(sa.select(given.c.platform, given.c.order_id))


def ids_in(conn: Connection, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``."""
    if conn.dialect.name != "postgresql":
        return column.in_(ids)
    return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.Integer)))


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
