"""Rows out for ingest: a batch's folded orders written, with their packages, history,
outbox jobs and alerts; and the orders' ship-by deadlines.

Everything a batch changes is gathered in :class:`service.batch.Writes` first, so each
table gets one executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import bulk, changes, counters
from service.batch import ORDER_COLUMNS, PACKAGE_COLUMNS, TRANSITION_COLUMNS, Writes
from service.models import ALERTS, EVENTS, ORDERS, OUTBOX, PACKAGES, TRANSITIONS
from service.store import OrderKey, chunks, ids_in, keys_in
from statemachines.aggregate import Action, OrderAggregate
from statemachines.events import Event
from statemachines.machines import ORDER, PACKAGE


def write(conn: Connection, writes: Writes, now: datetime) -> None:
    """Write a batch's gathered changes.

    What needs an answer (reads, deletes) goes first; the many-row writes follow in one
    pipeline on PostgreSQL, so the server works on one while the next is being built.
    """
    resolved = _stale_alerts(conn, writes, now)
    for chunk in chunks(writes.transition_deletes, 900):
        conn.execute(TRANSITIONS.delete().where(ids_in(conn, TRANSITIONS.c.id, chunk)))
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
    counters.TRANSITIONS.add(writes.transitions)  # (a transaction retried counts again: rare)
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
    for chunk in chunks(sorted(writes.touched), 500):
        query = sa.select(
            ALERTS.c.id, ALERTS.c.platform, ALERTS.c.order_id, ALERTS.c.package_id, ALERTS.c.condition
        ).where(
            ALERTS.c.state == "open",
            keys_in(conn, ALERTS, chunk),
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
