"""Ingest: journal, lock, advance, write, in one transaction (SQLite or PostgreSQL)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import store_writes
from service.db import Database
from service.ingest import ingest, reapply
from service.models import Alert, OutboxJob, Transition
from service.models import Event as EventRow
from statemachines import maps
from statemachines.aggregate import OrderAggregate
from tests.factories import (
    command_event,
    order_event,
    order_life,
    package_event,
    shuffled_with_duplicates,
)
from tests.snapshots import count, order_view


def test_first_event_creates_the_order_and_moves_it_with_catch_up(db: Database) -> None:
    [answer] = ingest(db, [order_event("O1", "PROCESSED", 10)])
    assert answer.outcome == "applied"
    state, history = order_view(db, "shopee", "O1")
    assert state == "ready_to_ship"
    assert [(h[1], h[2], h[5]) for h in history] == [
        ("pending", "processing", True),
        ("processing", "approved", True),
        ("approved", "picking", True),
        ("picking", "packing", True),
        ("packing", "ready_to_ship", False),
    ]


def test_a_duplicate_event_is_journaled_once_and_changes_nothing(db: Database) -> None:
    event = order_event("O1", "READY_TO_SHIP", 1)
    ingest(db, [event])
    before = order_view(db, "shopee", "O1")
    answers = ingest(db, [event, event])
    assert [a.outcome for a in answers] == ["duplicate_event", "duplicate_event"]
    assert order_view(db, "shopee", "O1") == before
    assert count(db, EventRow.__table__) == 1


def test_a_status_equal_to_the_current_state_is_a_duplicate(db: Database) -> None:
    ingest(db, [order_event("O1", "TO_CONFIRM_RECEIVE", 5)])
    [answer] = ingest(db, [order_event("O1", "COMPLETED", 9)])
    assert answer.outcome == "duplicate"
    assert order_view(db, "shopee", "O1")[0] == "delivered"


def test_an_older_status_after_a_newer_one_is_stale_and_history_follows_marketplace_time(
    db: Database,
) -> None:
    in_order = [order_event("A", s, t) for s, t in (("UNPAID", 0), ("READY_TO_SHIP", 5), ("SHIPPED", 50))]
    late = [order_event("B", s, t) for s, t in (("UNPAID", 0), ("READY_TO_SHIP", 5), ("SHIPPED", 50))]
    ingest(db, in_order)
    ingest(db, [late[2]])
    ingest(db, [late[0]])
    answers = ingest(db, [late[1]])
    assert answers[0].outcome == "applied"
    state_a, history_a = order_view(db, "shopee", "A")
    state_b, history_b = order_view(db, "shopee", "B")
    assert state_a == state_b == "shipped"

    def same_names(history: list[tuple[object, ...]], order: str) -> list[tuple[object, ...]]:
        # The placeholder packages are named after their orders (A-1, B-1).
        return [(str(h[0]).replace(f"{order}-", "*-") if h[0] else h[0], *h[1:]) for h in history]

    assert same_names(history_a, "A") == same_names(history_b, "B")
    approved = [h for h in history_b if h[2] == "approved"]
    assert approved[0][5] is False, "READY_TO_SHIP named approved, so that step is not catch-up"


def test_a_status_behind_the_current_state_with_a_newer_time_is_stale(db: Database) -> None:
    ingest(db, [order_event("O1", "SHIPPED", 10)])
    [answer] = ingest(db, [order_event("O1", "READY_TO_SHIP", 20)])
    assert answer.outcome == "stale"
    assert order_view(db, "shopee", "O1")[0] == "shipped"


def test_an_unknown_status_stays_in_the_journal_with_its_error_and_can_be_reapplied(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    [answer] = ingest(db, [order_event("O1", "AWAITING_MAGIC", 3)])
    assert answer.outcome == "unknown_status"
    assert "AWAITING_MAGIC" in (answer.error or "")
    with db.read() as conn:
        row = conn.execute(sa.select(EventRow.__table__)).one()
    assert (row.outcome, row.status) == ("unknown_status", "AWAITING_MAGIC")
    assert order_view(db, "shopee", "O1")[0] == "pending"

    monkeypatch.setitem(maps.SHOPEE_ORDER, "AWAITING_MAGIC", maps.Target("approved"))
    results = reapply(db)
    assert [r.outcome for r in results.values()] == ["applied"]
    assert order_view(db, "shopee", "O1")[0] == "approved"
    assert count(db, EventRow.__table__, EventRow.outcome == "unknown_status") == 0


def test_a_bug_folding_one_order_leaves_its_events_with_the_error_and_others_applied(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OrderAggregate.apply

    def broken(self: OrderAggregate, item):
        if self.order_id == "BAD":
            raise RuntimeError("boom")
        return original(self, item)

    monkeypatch.setattr(OrderAggregate, "apply", broken)
    answers = ingest(db, [order_event("BAD", "READY_TO_SHIP", 1), order_event("GOOD", "READY_TO_SHIP", 1)])
    assert [a.outcome for a in answers] == ["error", "applied"]
    assert "boom" in (answers[0].error or "")
    assert count(db, EventRow.__table__, EventRow.outcome == "error") == 1
    monkeypatch.setattr(OrderAggregate, "apply", original)
    reapply(db)
    assert order_view(db, "shopee", "BAD")[0] == "approved"


def test_a_failed_write_leaves_nothing_behind(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store_writes, "write", failing)
    with pytest.raises(RuntimeError):
        ingest(db, [order_event("O1", "READY_TO_SHIP", 1)])
    assert count(db, EventRow.__table__) == 0


def test_packages_drive_the_order_to_shipped_and_delivered(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 1)])
    ingest(db, [package_event("O1", "P1", "LOGISTICS_PICKUP_DONE", 10)])
    assert order_view(db, "shopee", "O1")[0] == "shipped"
    ingest(db, [package_event("O1", "P1", "LOGISTICS_DELIVERY_DONE", 20)])
    state, history = order_view(db, "shopee", "O1")
    assert state == "delivered"
    assert {h[0] for h in history} == {None, "P1"}, "the placeholder package became P1"


def test_arrange_shipment_is_queued_once_when_an_operator_marks_ready(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 1)])
    for n, trigger in enumerate(("start_picking", "pack", "mark_ready"), start=2):
        [answer] = ingest(db, [command_event("O1", trigger, n)])
        assert answer.outcome == "applied"
    jobs = count(db, OutboxJob.__table__, OutboxJob.kind == "arrange_shipment")
    assert jobs == 1
    ingest(db, [order_event("O1", "UNPAID", 0)])  # a late event refolds the order
    assert count(db, OutboxJob.__table__, OutboxJob.kind == "arrange_shipment") == 1


def test_a_catch_up_to_ready_to_ship_queues_no_booking(db: Database) -> None:
    ingest(db, [order_event("O1", "PROCESSED", 1)])
    assert count(db, OutboxJob.__table__, OutboxJob.kind == "arrange_shipment") == 0


def test_an_exception_state_opens_one_alert_that_resolves_when_it_ends(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 1), order_event("O1", "IN_CANCEL", 2)])
    ingest(db, [order_event("O1", "IN_CANCEL", 3)])  # the same condition again
    assert count(db, Alert.__table__, Alert.state == "open") == 1
    ingest(db, [order_event("O1", "CANCELLED", 4)])
    assert count(db, Alert.__table__, Alert.state == "open") == 0
    assert count(db, Alert.__table__, Alert.state == "resolved") == 1


def test_a_refused_command_is_journaled_as_refused_with_the_allowed_triggers(db: Database) -> None:
    ingest(db, [order_event("O1", "UNPAID", 0)])
    [answer] = ingest(db, [command_event("O1", "ship", 1)])
    assert answer.outcome == "refused"
    assert "process" in (answer.error or "") and "hold" in (answer.error or "")


def test_outlet_shop_main_shop_is_kept_from_the_event(db: Database) -> None:
    ingest(db, [order_event("O1", "UNPAID", 0, shop_id="2002", main_shop_id="2000")])
    with db.read() as conn:
        row = conn.execute(sa.text("SELECT shop_id, main_shop_id FROM orders")).one()
    assert tuple(row) == ("2002", "2000")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_arrival_order_with_duplicates_converges_through_ingest(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    life = order_life(rng, f"R{seed}")
    twin = [
        replace(
            e,
            order_id=f"T{seed}",
            dedupe_key="t" + e.dedupe_key,
            package_id=e.package_id and "T" + e.package_id,
        )
        for e in life
    ]
    ingest(db, life)  # in order, one batch
    stream = shuffled_with_duplicates(rng, twin)
    while stream:  # arbitrary arrival, in arbitrary batch sizes
        size = rng.randint(1, 3)
        ingest(db, stream[:size])
        stream = stream[size:]
    state_a, history_a = order_view(db, "shopee", f"R{seed}")
    state_b, history_b = order_view(db, "shopee", f"T{seed}")
    assert state_a == state_b
    assert [h[1:] for h in history_a] == [h[1:] for h in history_b]
    entered = [(h[0], h[2]) for h in history_b]
    assert len(entered) == len(set(entered)), "no state entered twice"


def test_history_rows_reference_their_events(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 1)])
    with db.read() as conn:
        ids = conn.execute(sa.select(Transition.event_id)).scalars().all()
        event_id = conn.execute(sa.select(EventRow.id)).scalar_one()
    assert set(ids) == {event_id}


def test_a_package_number_of_another_order_is_refused_without_sinking_the_batch(db: Database) -> None:
    ingest(db, [package_event("A", "PKG-1", "LOGISTICS_READY", 1)])
    answers = ingest(
        db,
        [package_event("B", "PKG-1", "LOGISTICS_PICKUP_DONE", 2), order_event("C", "READY_TO_SHIP", 2)],
    )
    assert [a.outcome for a in answers] == ["error", "applied"]
    assert "belongs to order A" in (answers[0].error or "")
    with db.read() as conn:
        owner = conn.execute(sa.text("SELECT order_id, state FROM packages WHERE package_id = 'PKG-1'")).one()
    assert tuple(owner) == ("A", "processing")
    assert order_view(db, "shopee", "C")[0] == "approved"


def test_two_orders_claiming_one_new_package_number_in_one_batch_keep_it_with_the_first(db: Database) -> None:
    answers = ingest(
        db,
        [
            package_event("A", "PKG-2", "LOGISTICS_READY", 1),
            package_event("B", "PKG-2", "LOGISTICS_READY", 1),
        ],
    )
    assert [a.outcome for a in answers] == ["applied", "error"]
