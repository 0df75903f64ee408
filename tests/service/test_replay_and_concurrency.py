"""Replay equals live state; concurrent writers lose nothing and apply nothing twice."""

from __future__ import annotations

import random
import threading
from collections import defaultdict

import sqlalchemy as sa

from service.db import Database
from service.ingest import ingest
from service.models import Event as EventRow
from service.models import OutboxJob
from service.replay import replay
from statemachines.aggregate import fold
from statemachines.events import Event
from statemachines.timeline import Journaled
from tests.factories import order_life, shuffled_with_duplicates
from tests.snapshots import count, order_view, snapshot


def generated_events(rng: random.Random, minimum: int, orders_prefix: str = "G") -> list[Event]:
    events: list[Event] = []
    n = 0
    while len(events) < minimum:
        events.extend(order_life(rng, f"{orders_prefix}{n:05d}", start=rng.randint(0, 10_000)))
        n += 1
    return events


def test_replay_rebuilds_the_live_state_from_a_journal_of_ten_thousand_events(db: Database) -> None:
    rng = random.Random(20261125)
    events = generated_events(rng, 10_000)
    stream = shuffled_with_duplicates(rng, events, dup=0.1)
    for start in range(0, len(stream), 250):
        ingest(db, stream[start : start + 250])
    live = snapshot(db)
    assert len(live["outcomes"]) == len({e.dedupe_key for e in events}) >= 10_000

    done: list[int] = []
    report = replay(db, chunk=150, progress=lambda n, total: done.append(n))
    assert report.orders == len(live["orders"]) and report.failed == 0
    assert sum(done) == report.orders, "progress covered every order"
    rebuilt = snapshot(db)
    assert rebuilt["orders"] == live["orders"]
    assert rebuilt["packages"] == live["packages"]
    assert rebuilt["history"] == live["history"]
    assert rebuilt["outcomes"] == live["outcomes"]


def test_replay_after_wiping_derived_state_restores_it(db: Database) -> None:
    rng = random.Random(7)
    ingest(db, generated_events(rng, 300))
    live = snapshot(db)
    with db.write() as conn:
        conn.execute(sa.text("UPDATE orders SET state = 'pending', last_key = ''"))
        conn.execute(sa.text("DELETE FROM transitions"))
        conn.execute(sa.text("DELETE FROM packages"))
    replay(db)
    assert snapshot(db)["history"] == live["history"]
    assert snapshot(db)["orders"] == live["orders"]


def test_eight_concurrent_writers_on_the_same_hundred_orders_lose_nothing_and_apply_nothing_twice(
    database_url: str,
) -> None:
    rng = random.Random(8)
    events: list[Event] = []
    for n in range(100):
        events.extend(order_life(rng, f"C{n:03d}"))
    stream = shuffled_with_duplicates(rng, events, dup=0.5)
    writers = 8
    shares = [stream[i::writers] for i in range(writers)]
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(share: list[Event]) -> None:
        db = Database(database_url)
        try:
            barrier.wait()
            local = random.Random(len(share))
            while share:
                size = local.randint(1, 12)
                ingest(db, share[:size])
                share = share[size:]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=write, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    check = Database(database_url)
    try:
        unique = {e.dedupe_key: e for e in events}
        assert count(check, EventRow.__table__) == len(unique), "every event journaled exactly once"
        with check.read() as conn:
            ids = {r.dedupe_key: r.id for r in conn.execute(sa.select(EventRow.id, EventRow.dedupe_key))}
            keys = conn.execute(sa.select(OutboxJob.key)).scalars().all()
        assert len(keys) == len(set(keys))
        per_order: dict[str, list[Journaled]] = defaultdict(list)
        for key, event in unique.items():
            per_order[event.order_id].append(Journaled(ids[key], event))
        for order_id, items in per_order.items():
            expected, _ = fold("shopee", order_id, "1001", items)
            state, history = order_view(check, "shopee", order_id)
            assert state == expected.state, order_id
            assert [(h[0], h[1], h[2], h[3], h[4], h[5]) for h in history] == [
                (c.package_id, c.from_state, c.to_state, c.trigger, c.at, c.catch_up)
                for c in expected.changes
            ], order_id
    finally:
        check.dispose()
