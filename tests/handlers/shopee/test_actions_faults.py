"""Arranging and tracking 100 orders while the sandbox fails 30% of logistics calls and
loses 10% of the answers after acting: every order ends arranged and tracked, or
dead-lettered with an alert, and no package is booked twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial

import httpx
import pytest
import sqlalchemy as sa

from handlers.shopee.sandbox.shipping import LogisticsFaults
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.models import Alert, Order, OutboxJob, Package
from tests.factories import command_event
from tests.handlers.shopee.test_actions import KEY, PARTNER, SHOP, TOKEN, World
from tests.live_server import serve
from tests.shopee_world import sandbox_settings, start_sandbox

ORDERS = 100


@pytest.fixture
def world(db: Database, database_url: str) -> Iterator[World]:
    with ExitStack() as stack:
        sandbox, api = start_sandbox(stack, db, partner=PARTNER, key=KEY, shop=SHOP, token=TOKEN, seed=44)
        sandbox.logistics.configure(transit_steps=1, document_delay=0)
        settings = sandbox_settings(
            database_url,
            partner=PARTNER,
            key=KEY,
            api=api,
            tracking_seconds=0.2,
            api_backoff_seconds=0.01,
            outbox_backoff_seconds=0.02,
            outbox_attempts=5,
        )
        base = stack.enter_context(serve(create_app(settings, db)))
        sandbox.pushes.url = base + "/webhooks/shopee"
        yield World(sandbox, stack.enter_context(httpx.Client(base_url=base, timeout=30)), db)


def settled(db: Database, kind: str) -> bool:
    with db.read() as conn:
        states = set(conn.execute(sa.select(OutboxJob.state).where(OutboxJob.kind == kind)).scalars())
    return bool(states) and states <= {"done", "dead"}


def test_under_failures_and_lost_answers_every_order_is_arranged_once_or_dead_lettered(world: World) -> None:
    sandbox = world.sandbox
    orders = [
        sandbox.create_order(SHOP, order_sn=f"2511FLT{n:04d}", status="READY_TO_SHIP") for n in range(ORDERS)
    ]
    world.wait("the pushes", lambda: sandbox.pushes.stats().pending == 0)

    def approved(order_sn: str) -> bool:
        return bool(world.order(order_sn).get("state") == "approved")

    for order in orders:
        world.wait("the paid order", partial(approved, order.order_sn))
    steps = ["start_picking", "pack", "mark_ready"]
    sandbox.logistics.faults = LogisticsFaults(
        rate=0.3, kinds=("500", "429"), lose_rate=0.1, lose_kinds=("500", "drop")
    )
    drawn: Counter[str] = Counter()
    real_fault, real_loss = sandbox.logistics.next_fault, sandbox.logistics.next_loss

    def fault() -> str | None:
        found = real_fault()
        drawn["failed"] += found is not None
        return found

    def loss() -> str | None:
        found = real_loss()
        drawn["lost"] += found is not None
        return found

    sandbox.logistics.next_fault, sandbox.logistics.next_loss = fault, loss  # type: ignore[method-assign]
    ingest(world.db, [command_event(o.order_sn, s, 10**9 + i) for o in orders for i, s in enumerate(steps)])
    world.wait("every booking", lambda: settled(world.db, "arrange_shipment"), timeout=120)

    booked = [o for o in orders if sandbox.logistics.bookings(o.order_sn) == 1]
    assert all(sandbox.logistics.bookings(o.order_sn) <= 1 for o in orders), "nothing booked twice"
    for order in booked:
        sandbox.logistics.carrier.pickup(order.order_sn)
    for _ in range(10):
        sandbox.logistics.carrier.advance()
    world.wait("every tracking", lambda: settled(world.db, "start_tracking"), timeout=120)

    with world.db.read() as conn:
        dead = set(conn.execute(sa.select(OutboxJob.order_id).where(OutboxJob.state == "dead")).scalars())
        alerted = set(
            conn.execute(
                sa.select(Alert.order_id).where(Alert.kind == "job_dead", Alert.state == "open")
            ).scalars()
        )
        delivered = set(
            conn.execute(
                sa.select(Order.order_id)
                .join(Package, Package.order_pk == Order.id)
                .where(Package.state == "delivered", Package.tracking_number.is_not(None))
            ).scalars()
        )
    assert dead == alerted, "every dead job has its alert"
    for order in orders:
        assert order.order_sn in delivered or order.order_sn in dead, order.order_sn
    assert drawn["failed"] >= 100 and drawn["lost"] >= 30, drawn
    assert len(booked) >= ORDERS * 0.9, f"most orders were booked despite the faults: {len(booked)}"
