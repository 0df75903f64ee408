"""The change feed: every state change exactly once, in commit order, also under
concurrent writers, refolds and replay; and over HTTP with a resumable cursor."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import changes
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.models import Order, Package, Transition
from service.replay import replay
from service.settings import Settings
from tests.factories import order_event, order_life, package_event
from tests.live_server import serve


@pytest.fixture
def api(db: Database, database_url: str) -> Iterator[httpx.Client]:
    with (
        serve(create_app(Settings(database_url=database_url), db, worker=False)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def _feed(db: Database, after: int = 0) -> list[dict[str, Any]]:
    with db.read() as conn:
        return changes.read(conn, after, 100_000)


def _history(db: Database, order_ids: set[str]) -> Counter[tuple[Any, ...]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(Transition).where(Transition.order_id.in_(order_ids)))
        return Counter(
            (r.order_id, r.package_id, r.from_state, r.to_state, r.trigger, r.event_id, r.catch_up)
            for r in rows
        )


def _replayed(feed: list[dict[str, Any]], order_ids: set[str]) -> Counter[tuple[Any, ...]]:
    """The history a consumer rebuilds from the feed: additions less retractions."""
    found: Counter[tuple[Any, ...]] = Counter()
    for c in feed:
        if c["kind"] == "checkpoint" or c["order_id"] not in order_ids:
            continue
        key = (c["order_id"], c["package_id"], c["from"], c["to"], c["trigger"], c["event_id"], c["catch_up"])
        found[key] += -1 if c["retracted"] else 1
        if found[key] == 0:
            del found[key]
    return found


def _states(db: Database, order_ids: set[str]) -> dict[tuple[str, str | None], str]:
    with db.read() as conn:
        found: dict[tuple[str, str | None], str] = {
            (o.order_id, None): o.state
            for o in conn.execute(sa.select(Order).where(Order.order_id.in_(order_ids)))
        }
        for p in conn.execute(sa.select(Package).where(Package.order_id.in_(order_ids))):
            found[(p.order_id, p.package_id)] = p.state
    return found


def test_each_transition_is_published_once_with_the_state_after_its_commit(db: Database) -> None:
    ingest(db, [order_event("F1", "UNPAID", 0), order_event("F1", "READY_TO_SHIP", 10)])
    ingest(db, [package_event("F1", "P1", "LOGISTICS_PICKUP_DONE", 20), order_event("F2", "UNPAID", 0)])
    ingest(db, [order_event("F1", "READY_TO_SHIP", 10)])  # a duplicate: no change
    feed = _feed(db)
    assert [int(c["cursor"]) for c in feed] == list(range(1, len(feed) + 1))
    assert [(c["kind"], c["from"], c["to"]) for c in feed if c["order_id"] == "F1"][:2] == [
        ("order", "pending", "processing"),
        ("order", "processing", "approved"),
    ]
    assert _replayed(feed, {"F1", "F2"}) == _history(db, {"F1", "F2"})
    last = {(c["order_id"], c["package_id"]): c["state"] for c in feed}
    assert last == {k: v for k, v in _states(db, {"F1", "F2"}).items() if k in last}
    assert all(c["source"] == "push" and c["retracted"] is False for c in feed)


def test_a_late_event_publishes_what_the_refold_changed_and_nothing_it_merely_rewrote(db: Database) -> None:
    ingest(db, [order_event("L1", "UNPAID", 0), order_event("L1", "SHIPPED", 50)])
    before = _feed(db)
    ingest(db, [order_event("L1", "READY_TO_SHIP", 10)])  # older than SHIPPED: the order folds again
    added = _feed(db, int(before[-1]["cursor"]))
    assert added, "the refold changed the history"
    assert all(c["state"] == "shipped" for c in added)
    assert _replayed(before + added, {"L1"}) == _history(db, {"L1"})
    end = int(added[-1]["cursor"])
    report = replay(db)  # the same history again: nothing to publish
    assert report.orders == 1 and _feed(db, end) == []


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 6))
def test_any_arrival_order_leaves_a_feed_that_rebuilds_the_history(
    db: Database, seed: int, batches: int
) -> None:
    rng = random.Random(seed)
    order_ids = {f"H{uuid.uuid4().hex[:10]}" for _ in range(3)}
    events = [e for order_id in sorted(order_ids) for e in order_life(rng, order_id)]
    rng.shuffle(events)
    start = _feed(db)
    after = int(start[-1]["cursor"]) if start else 0
    for i in range(batches):
        ingest(db, events[i::batches])
    feed = _feed(db, after)
    assert _replayed(feed, order_ids) == _history(db, order_ids)
    last = {(c["order_id"], c["package_id"]): c["state"] for c in feed}
    states = _states(db, order_ids)
    assert all(states.get(key) == state for key, state in last.items() if key in states)


def test_a_consumer_sees_every_change_exactly_once_in_order_while_1000_events_are_ingested(
    db: Database, api: httpx.Client
) -> None:
    rng = random.Random(7)
    writers = 4
    orders = [f"C{n:03d}" for n in range(120)]
    events = [e for order_id in orders for e in order_life(rng, order_id)]
    while len(events) < 1000:  # more of the same orders' lives, later on
        events.extend(order_life(rng, rng.choice(orders), start=10_000.0 * len(events)))
    events = events[:1000]
    rng.shuffle(events)
    seen: list[dict[str, Any]] = []
    done = threading.Event()
    failures: list[BaseException] = []

    def write(part: list[Any]) -> None:
        try:
            for i in range(0, len(part), 5):
                ingest(db, part[i : i + 5])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(events[w::writers],)) for w in range(writers)]
    for thread in threads:
        thread.start()
    cursor = "0"
    try:
        while True:
            finished = done.is_set()
            page = api.get("/v1/changes", params={"after": cursor, "limit": "37"}).json()
            seen.extend(page["changes"])
            cursor = page["next"]
            if finished and not page["changes"]:
                break
            if not any(t.is_alive() for t in threads):
                done.set()
            if not page["changes"]:
                time.sleep(0.005)
    finally:
        for thread in threads:
            thread.join()
    assert not failures, failures
    positions = [int(c["cursor"]) for c in seen]
    assert positions == list(range(1, len(positions) + 1)), "a change was missed, repeated or out of order"
    assert _feed(db) == seen  # the consumer saw the whole feed as it stands now
    assert _replayed(seen, set(orders)) == _history(db, set(orders))


def test_the_changes_endpoint_pages_with_a_resumable_cursor(db: Database, api: httpx.Client) -> None:
    ingest(db, [order_event("R1", "UNPAID", 0), order_event("R1", "COMPLETED", 10)])
    first = api.get("/v1/changes", params={"limit": "2"}).json()
    assert [c["cursor"] for c in first["changes"]] == ["1", "2"] and first["next"] == "2"
    rest = api.get("/v1/changes", params={"after": first["next"]}).json()
    assert rest["changes"] and rest["changes"][0]["cursor"] == "3"
    tail = api.get("/v1/changes", params={"after": rest["next"]}).json()
    assert tail == {"changes": [], "next": rest["next"]}
    for bad in ({"after": "-1"}, {"after": "abc"}, {"limit": "0"}, {"limit": "100000"}):
        answer = api.get("/v1/changes", params=bad)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_query"
