"""Rows in and out for ingest: the journal, order locks, and writing folded aggregates.

Plain SQLAlchemy Core with executemany, so a batch of events costs a dozen statements
rather than a dozen per event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

from service import bulk, changes, metrics
from service.db import Retry
from service.models import Alert, Order, OutboxJob, Package, Transition
from service.models import Event as EventRow
from statemachines.aggregate import Action, Change, OrderAggregate, PackageState, Result
from statemachines.events import Event
from statemachines.machines import ORDER, PACKAGE, Subject
from statemachines.timeline import Journaled

EVENTS = cast(sa.Table, EventRow.__table__)
ORDERS = cast(sa.Table, Order.__table__)
PACKAGES = cast(sa.Table, Package.__table__)
TRANSITIONS = cast(sa.Table, Transition.__table__)
OUTBOX = cast(sa.Table, OutboxJob.__table__)
ALERTS = cast(sa.Table, Alert.__table__)

OrderKey = tuple[str, str]


JOURNAL_COLUMNS = (
    "dedupe_key", "platform", "shop_id", "order_id", "package_id", "kind", "status", "source",
    "occurred_at", "received_at", "main_shop_id", "tracking_number", "carrier", "actor", "reason",
    "raw", "outcome",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "shop_id", "main_shop_id", "state", "held_from", "platform_status", "last_key",
    "created_at", "updated_at",
)  # fmt: skip
PACKAGE_COLUMNS = (
    "id", "package_id", "state", "held_from", "attempts", "platform_status", "carrier",
    "tracking_number", "provisional", "created_at", "updated_at",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "order_pk", "platform", "order_id", "package_id", "from_state", "to_state", "trigger", "at",
    "source", "event_id", "catch_up",
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
    for chunk in _chunks(keys, 500):
        # The fold needs no raw payloads: leaving them out saves decoding them.
        query = sa.select(*(c for c in EVENTS.c if c.name != "raw")).where(_keys_in(conn, EVENTS, chunk))
        for row in conn.execute(query):
            item = journaled_from_row(row, with_raw=False)
            journals[(row.platform, row.order_id)].append(item)
            if row.outcome is not None:
                recorded[row.id] = Result(row.outcome, row.error)
    return journals, recorded


def load_history(conn: Connection, order_pks: Sequence[int]) -> dict[int, list[tuple[int, Change]]]:
    """The stored history rows of these orders, in order, as (row id, change)."""
    found: dict[int, list[tuple[int, Change]]] = defaultdict(list)
    for chunk in _chunks(sorted(order_pks), 900):
        query = (
            sa.select(TRANSITIONS)
            .where(_ids_in(conn, TRANSITIONS.c.order_pk, chunk))
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
    for chunk in _chunks(pairs, 500):
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


@dataclass
class Writes:
    """Everything a batch writes, gathered so each table gets one executemany."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    package_updates: list[tuple[Any, ...]] = field(default_factory=list)
    package_inserts: list[dict[str, Any]] = field(default_factory=list)
    package_deletes: list[int] = field(default_factory=list)
    renames: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[OrderAggregate, Action]] = field(default_factory=list)
    rebuilt: set[int] = field(default_factory=set)
    history: dict[int, list[tuple[int, Change]]] = field(default_factory=dict)
    transition_deletes: list[int] = field(default_factory=list)
    touched: dict[OrderKey, tuple[int, OrderAggregate]] = field(default_factory=dict)
    outcomes: dict[int, Result] = field(default_factory=dict)

    def add(self, row: Row[Any], package_rows: Sequence[Row[Any]], agg: OrderAggregate) -> None:
        """Gather the writes for one folded order."""
        rebuilt = row.id in self.rebuilt
        created = agg.created_at or row.created_at
        order = (
            row.id, agg.shop_id, agg.main_shop_id, agg.state, agg.subject.held_from,
            agg.platform_status, agg.last_key, created, agg.updated_at or created,
        )  # fmt: skip
        if order != tuple(getattr(row, name) for name in ORDER_COLUMNS):
            self.orders.append(order)
        by_id = {p.package_id: p for p in package_rows}
        for old, new in agg.renamed.items():
            if old in by_id and not rebuilt:
                by_id[new] = by_id.pop(old)
                self.renames.append({"b_order_pk": row.id, "b_old": old, "new": new})
        for package in agg.packages.values():
            values = (
                package.package_id, package.subject.state, package.subject.held_from,
                package.subject.attempts, package.platform_status, package.carrier,
                package.tracking_number, package.provisional, package.created_at or created,
                package.updated_at or package.created_at or created,
            )  # fmt: skip
            existing = by_id.pop(package.package_id, None)
            if existing is None:
                self.package_inserts.append(dict(zip(PACKAGE_COLUMNS[1:], values, strict=True)))
                self.package_inserts[-1].update(order_pk=row.id, platform=agg.platform, order_id=agg.order_id)
            elif values != tuple(getattr(existing, name) for name in PACKAGE_COLUMNS[1:]):
                self.package_updates.append((existing.id, *values))
        if rebuilt:
            self.package_deletes.extend(p.id for p in by_id.values())
        changes: Sequence[Change] = agg.changes
        if rebuilt:
            # Keep the history rows the refold reproduced; rewrite from the first change.
            stored = self.history.get(row.id, [])
            same = 0
            for (_, before), after in zip(stored, changes, strict=False):
                if before != after:
                    break
                same += 1
            self.transition_deletes.extend(pk for pk, _ in stored[same:])
            changes = changes[same:]
        head = (row.id, agg.platform, agg.order_id)
        self.transitions.extend(head + tuple(change) for change in changes)
        self.actions.extend((agg, action) for action in agg.actions())
        self.touched[(agg.platform, agg.order_id)] = (row.id, agg)


def write(conn: Connection, writes: Writes, now: datetime) -> None:
    """Write a batch's gathered changes.

    What needs an answer (reads, deletes) goes first; the many-row writes follow in one
    pipeline on PostgreSQL, so the server works on one while the next is being built.
    """
    resolved = _stale_alerts(conn, writes, now)
    for chunk in _chunks(writes.transition_deletes, 900):
        conn.execute(TRANSITIONS.delete().where(_ids_in(conn, TRANSITIONS.c.id, chunk)))
    if writes.package_deletes:
        conn.execute(PACKAGES.delete().where(PACKAGES.c.id.in_(writes.package_deletes)))
    if writes.renames:
        conn.execute(
            TRANSITIONS.update()
            .where(TRANSITIONS.c.order_pk == sa.bindparam("b_order_pk"))
            .where(TRANSITIONS.c.package_id == sa.bindparam("b_old"))
            .values(package_id=sa.bindparam("new")),
            writes.renames,
        )
    with bulk.pipeline(conn):
        bulk.update(conn, ORDERS, ORDER_COLUMNS, writes.orders)
        bulk.update(conn, PACKAGES, PACKAGE_COLUMNS, writes.package_updates)
        bulk.insert_dicts(conn, PACKAGES, writes.package_inserts)
        bulk.insert(conn, TRANSITIONS, TRANSITION_COLUMNS, writes.transitions)
        outcomes = [(i, r.outcome, r.error) for i, r in writes.outcomes.items()]
        bulk.update(conn, EVENTS, ("id", "outcome", "error"), outcomes)
        _write_actions(conn, writes, now)
        bulk.update(conn, ALERTS, ("id", "state", "resolved_at"), resolved)
    metrics.TRANSITIONS.add(writes.transitions)  # (a transaction retried counts again: rare)
    # Last: publishing takes the change feed's counter lock, held until commit.
    changes.publish_transitions(conn, writes, now)


def _write_actions(conn: Connection, writes: Writes, now: datetime) -> None:
    jobs = []
    alerts = []
    for agg, action in writes.actions:
        jobs.append(
            {
                "key": action.key,
                "kind": action.kind,
                "platform": agg.platform,
                "order_id": agg.order_id,
                "package_id": action.package_id,
                "payload": {"state": action.state, "event_id": action.event_id, "reason": action.reason},
                "state": "pending",
                "attempts": 0,
                "run_after": now,
                "created_at": now,
                "updated_at": now,
                "last_error": None,
            }
        )
        if action.kind == "alert":
            alerts.append(_alert_row(agg, action, now))
    bulk.insert_dicts(conn, OUTBOX, jobs, conflict=["key"])
    bulk.insert_dicts(conn, ALERTS, alerts, conflict=["condition"], conflict_where="state = 'open'")


def write_ship_by(conn: Connection, events: Sequence[Event]) -> None:
    """Set the ship-by deadline of the orders whose events state one (the latest event's).

    Not part of the fold: a deadline is a fact about the order, not a state, and a
    duplicate event (a poll repeating a push) may still be the one that carries it.
    """
    latest: dict[OrderKey, Event] = {}
    for event in events:
        if event.ship_by is None:
            continue
        key = (event.platform, event.order_id)
        if key not in latest or event.occurred_at >= latest[key].occurred_at:
            latest[key] = event
    if not latest:
        return
    conn.execute(
        ORDERS.update()
        .where(
            ORDERS.c.platform == sa.bindparam("b_platform"),
            ORDERS.c.order_id == sa.bindparam("b_order_id"),
            sa.or_(ORDERS.c.ship_by.is_(None), ORDERS.c.ship_by != sa.bindparam("b_ship_by")),
        )
        .values(ship_by=sa.bindparam("b_ship_by")),
        [
            {"b_platform": key[0], "b_order_id": key[1], "b_ship_by": event.ship_by}
            for key, event in sorted(latest.items())
        ],
    )


def condition(platform: str, order_id: str, package_id: str | None, state: str) -> str:
    """The condition an alert stands for: an order or package staying in a state."""
    return f"state:{platform}:{order_id}:{package_id or ''}:{state}"


def _alert_row(agg: OrderAggregate, action: Action, now: datetime) -> dict[str, Any]:
    exceptions = PACKAGE.exceptions if action.package_id else ORDER.exceptions
    what = f"package {action.package_id}" if action.package_id else "order"
    return {
        "condition": condition(agg.platform, agg.order_id, action.package_id, action.state),
        "kind": "exception_state" if action.state in exceptions else "marketplace_status",
        "platform": agg.platform,
        "order_id": agg.order_id,
        "package_id": action.package_id,
        "state": "open",
        "opened_at": now,
        "resolved_at": None,
        "message": f"{agg.platform} order {agg.order_id}: {what} is {action.state} ({action.reason})",
    }


def _stale_alerts(conn: Connection, writes: Writes, now: datetime) -> list[tuple[int, str, datetime]]:
    """The open state alerts of touched orders whose entity left that state, resolved."""
    if not writes.touched:
        return []
    stale: list[tuple[int, str, datetime]] = []
    for chunk in _chunks(sorted(writes.touched), 500):
        query = sa.select(
            ALERTS.c.id, ALERTS.c.platform, ALERTS.c.order_id, ALERTS.c.package_id, ALERTS.c.condition
        ).where(
            ALERTS.c.state == "open",
            _keys_in(conn, ALERTS, chunk),
        )
        for alert in conn.execute(query):
            _, agg = writes.touched[(alert.platform, alert.order_id)]
            if alert.package_id is None:
                current = agg.state
            else:
                package = agg.packages.get(alert.package_id)
                current = package.subject.state if package else ""
            if not alert.condition.startswith("state:"):
                continue
            if alert.condition != condition(alert.platform, alert.order_id, alert.package_id, current):
                stale.append((alert.id, "resolved", now))
    return stale


def _keys_in(conn: Connection, table: sa.Table, keys: Sequence[OrderKey]) -> Any:
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


def _ids_in(conn: Connection, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``."""
    if conn.dialect.name != "postgresql":
        return column.in_(ids)
    return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.Integer)))


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
