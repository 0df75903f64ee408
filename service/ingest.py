"""Ingest: journal events and apply them to their orders, all in one transaction.

For a batch of normalized events: journal each (a dedupe key seen before is a no-op),
create and lock the orders they touch (sorted, so concurrent writers cannot deadlock on
each other), fold the new events into each order in the marketplace's time order, and
write state, history, outbox jobs, alerts and each event's outcome. An event older than
what the order has already applied makes the order fold again from its whole journal,
so the result never depends on arrival order. A failure while folding one order leaves
its events journaled with the error, for ``reapply``; the other orders go ahead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import shops, store, store_writes
from service.batch import Writes
from service.db import Database
from service.models import Event as EventRow
from statemachines.aggregate import OrderAggregate, Result
from statemachines.events import Event
from statemachines.timeline import Journaled

log = logging.getLogger("orderwatch.ingest")

OrderKey = tuple[str, str]
APPLIED = Result("applied")


@dataclass(frozen=True)
class Ingested:
    """What became of one event: its journal id and outcome (``duplicate_event`` when the
    journal already held its dedupe key)."""

    dedupe_key: str
    event_id: int | None
    outcome: str
    error: str | None = None


def ingest(db: Database, events: Sequence[Event], now: datetime | None = None) -> list[Ingested]:
    """Journal and apply ``events`` in one transaction; return one answer per event."""
    if not events:
        return []
    return db.run_write(lambda conn: ingest_in(conn, events, now or datetime.now(UTC)))


def ingest_in(conn: Connection, events: Sequence[Event], now: datetime) -> list[Ingested]:
    """:func:`ingest` inside the caller's transaction."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.dedupe_key, event)
    ids = store.journal(conn, sorted(unique.values(), key=lambda e: e.dedupe_key), now)
    fresh: dict[OrderKey, list[Journaled]] = defaultdict(list)
    for key, new_id in ids.items():
        event = unique[key]
        fresh[(event.platform, event.order_id)].append(Journaled(new_id, event))
    results = apply_orders(conn, fresh, now)
    store_writes.write_ship_by(conn, events)
    answers = []
    answered: set[str] = set()
    for event in events:
        event_id = ids.get(event.dedupe_key)
        if event_id is None or event.dedupe_key in answered:
            answers.append(Ingested(event.dedupe_key, event_id, "duplicate_event"))
            continue
        answered.add(event.dedupe_key)
        result = results.get(event_id, Result("error", "not applied"))
        answers.append(Ingested(event.dedupe_key, event_id, result.outcome, result.error))
    return answers


def apply_orders(
    conn: Connection,
    fresh: dict[OrderKey, list[Journaled]],
    now: datetime,
    rebuild: bool = False,
) -> dict[int, Result]:
    """Fold journaled events into their orders and write the results.

    ``fresh`` maps each order to its newly journaled events; with ``rebuild`` every order
    is folded again from its whole journal (replay, reapply).
    """
    if not fresh:
        return {}
    keys = sorted(fresh)
    journals: dict[OrderKey, list[Journaled]] = {}
    recorded: dict[int, Result] = {}
    if rebuild:
        journals, recorded = store.load_journal(conn, keys)
    rows = store.lock_orders(conn, keys)
    missing = [k for k in keys if k not in rows]
    if missing:
        # New orders are created (and so locked) by this transaction; one created by a
        # concurrent writer meanwhile is waited for and locked like the others.
        store.create_orders(conn, [_first(fresh[k] or journals[k]) for k in missing], now)
        rows.update(store.lock_orders(conn, missing))
    packages = store.load_packages(conn, [row.id for row in rows.values()])
    if not rebuild:
        late = [k for k in keys if min(j.key for j in fresh[k]) <= rows[k].last_key]
        journals, recorded = store.load_journal(conn, late)
    policies = shops.arrange_policies(conn, [(k[0], rows[k].shop_id) for k in keys])
    results: dict[int, Result] = {}
    writes = Writes(history=store.load_history(conn, [rows[k].id for k in journals]))
    folded: list[tuple[OrderKey, OrderAggregate]] = []
    for key in keys:
        row = rows[key]
        try:
            if key in journals:
                aggregate = OrderAggregate(key[0], key[1], row.shop_id)
                items = journals[key]
            else:
                aggregate = store.aggregate_from_rows(row, packages.get(row.id, []))
                items = fresh[key]
            aggregate.arrange_at = policies.get((key[0], row.shop_id), aggregate.arrange_at)
            for item in sorted(items, key=lambda j: j.key):
                results[item.id] = aggregate.apply(item)
        except Exception as exc:  # noqa: BLE001 - a bug folding one order must not sink the batch
            log.exception("could not apply events to %s order %s", key[0], key[1])
            _fail(results, fresh[key] or journals.get(key, []), f"{type(exc).__name__}: {exc}")
            continue
        folded.append((key, aggregate))
    # An outlet shop's orders carry its main shop (Instant Mart), as the shops table says
    # now: live ingest, replay and reapply all take it from there, so they agree.
    mains = shops.main_shops(conn, [(key[0], agg.shop_id) for key, agg in folded])
    for key, aggregate in folded:
        aggregate.main_shop_id = mains.get((key[0], aggregate.shop_id), aggregate.main_shop_id)
    claimed = store.claimed_packages(conn, [(k, agg, packages.get(rows[k].id, [])) for k, agg in folded])
    for key, aggregate in folded:
        if key in claimed:
            # A package number the marketplace already gave another order: refuse to move
            # it, keep the events with the reason, and let the rest of the batch go ahead.
            log.warning("%s order %s: %s", key[0], key[1], claimed[key])
            _fail(results, fresh[key] or journals.get(key, []), claimed[key])
            continue
        if key in journals:
            writes.rebuilt.add(rows[key].id)
        writes.add(rows[key], packages.get(rows[key].id, []), aggregate)
    # Journal rows are written as "applied"; only other outcomes cost an update.
    writes.outcomes = {i: r for i, r in results.items() if recorded.get(i, APPLIED) != r}
    store_writes.write(conn, writes, now)
    return results


def _fail(results: dict[int, Result], items: Iterable[Journaled], reason: str) -> None:
    for item in items:
        results[item.id] = Result("error", reason)


def _first(items: Iterable[Journaled]) -> Event:
    return min(items, key=lambda j: j.key).event


def reapply(db: Database, event_ids: Sequence[int] | None = None) -> dict[int, Result]:
    """Fold again the orders of failed events (or of ``event_ids``) from their journals."""

    def work(conn: Connection) -> dict[int, Result]:
        query = sa.select(EventRow.__table__)
        if event_ids is None:
            failed = ["error", "unknown_status", "unreachable"]
            query = query.where(EventRow.outcome != "applied", EventRow.outcome.in_(failed))
        else:
            query = query.where(EventRow.id.in_(event_ids))
        fresh: dict[OrderKey, list[Journaled]] = defaultdict(list)
        for row in conn.execute(query):
            item = store.journaled_from_row(row)
            fresh[(item.event.platform, item.event.order_id)].append(item)
        results = apply_orders(conn, fresh, datetime.now(UTC), rebuild=True)
        wanted = {j.id for items in fresh.values() for j in items}
        return {k: v for k, v in results.items() if k in wanted}

    return db.run_write(work)
