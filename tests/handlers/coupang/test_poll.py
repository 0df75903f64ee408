"""The Coupang order poll against the Coupang sandbox, over real HTTP: Korean days, pages,
cursors that move only after ingest, boxes that move on after they were first seen, and
300 orders polled by a poller killed at random points."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.poll import CoupangPoller, Report, cursor_name, days
from handlers.coupang.sandbox import CoupangSandbox
from handlers.sandbox_common import ApiFaults
from service.cursors import read_cursor
from service.db import Database
from service.models import Order, Package, Transition
from statemachines.maps import COUPANG_ORDER, COUPANG_PACKAGE
from statemachines.paths import rank
from tests.coupang_world import VENDOR, client, start_sandbox

pytestmark = pytest.mark.anyio
FLOW = ("ACCEPT", "INSTRUCT", "DEPARTURE", "DELIVERING", "FINAL_DELIVERY")
DAY = 86400


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world() -> Iterator[tuple[CoupangSandbox, str]]:
    with ExitStack() as stack:
        yield start_sandbox(stack, seed=21)


async def poll(db: Database, base: str, **options: object) -> Report:
    async with client(base) as api:
        options.setdefault("per_page", 3)
        return await CoupangPoller(db, OrderSheets(api), **options).run_once()  # type: ignore[arg-type]


def packages(db: Database) -> dict[str, tuple[str, str | None]]:
    table = Package.__table__
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.package_id, table.c.state, table.c.platform_status))
        return {row.package_id: (row.state, row.platform_status) for row in rows}


def orders(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return dict(conn.execute(sa.select(Order.__table__.c.order_id, Order.__table__.c.state)).all())


def entered_twice(db: Database) -> list[tuple[str, str | None, str]]:
    table = Transition.__table__
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.order_id, table.c.package_id, table.c.to_state))
        counts = Counter((r.order_id, r.package_id, r.to_state) for r in rows)
    return [key for key, n in counts.items() if n > 1]


def expected_order_state(sandbox: CoupangSandbox, order_id: int) -> str:
    states = [COUPANG_ORDER[b.status].state for b in sandbox.order_boxes(order_id)]
    return min(states, key=lambda s: rank("order", s))


def test_days_are_korean_calendar_days() -> None:
    start = datetime(2026, 11, 24, 14, 59, tzinfo=UTC)  # 23:59 KST on the 24th
    end = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 00:00 KST on the 25th
    assert [d.isoformat() for d in days(start, end)] == ["2026-11-24", "2026-11-25"]


async def test_one_round_ingests_every_box_over_several_days_and_pages(
    db: Database, world: tuple[CoupangSandbox, str]
) -> None:
    sandbox, base = world
    now = sandbox.clock.now()
    made = [
        sandbox.create_order(status=FLOW[i % 5], ordered_at=now - (i % 3) * DAY - 60)[0] for i in range(20)
    ]
    two = sandbox.create_order(boxes=2, status="INSTRUCT", ordered_at=now - DAY)
    report = await poll(db, base)
    assert report.failed == [] and report.pages > 15
    found = packages(db)
    for box in [*made, *two]:
        assert found[str(box.shipment_box_id)] == (COUPANG_PACKAGE[box.status].state, box.status)
    assert orders(db)[str(two[0].order_id)] == "approved"
    again = await poll(db, base)
    assert set(again.outcomes) <= {"duplicate_event"}
    saved = read_cursor(db, cursor_name(VENDOR, "DELIVERING"))
    assert saved is not None and datetime.fromisoformat(saved) >= datetime.fromtimestamp(now, UTC)


async def test_a_box_ordered_days_ago_is_followed_to_delivery(
    db: Database, world: tuple[CoupangSandbox, str]
) -> None:
    sandbox, base = world
    [box] = sandbox.create_order(ordered_at=sandbox.clock.now() - 3 * DAY)
    await poll(db, base, lookback_days=4)
    for status in ("INSTRUCT", "DEPARTURE", "DELIVERING", "FINAL_DELIVERY"):
        sandbox.set_status(box.shipment_box_id, status)
        await poll(db, base, lookback_days=1)  # the cursors are already past its day
    assert packages(db)[str(box.shipment_box_id)] == ("delivered", "FINAL_DELIVERY")
    assert orders(db)[str(box.order_id)] == "delivered"
    assert entered_twice(db) == []


async def test_a_failing_status_keeps_its_cursor_and_the_others_go_on(
    db: Database, world: tuple[CoupangSandbox, str]
) -> None:
    sandbox, base = world
    sandbox.create_order(status="INSTRUCT")
    async with client(base, attempts=1) as api:
        sandbox.fail_next(["500"])  # the first call: ACCEPT, today (a one-day lookback)
        report = await CoupangPoller(db, OrderSheets(api), lookback_days=0, overlap=1).run_once()
    assert report.failed == ["ACCEPT"]
    assert read_cursor(db, cursor_name(VENDOR, "ACCEPT")) is None
    assert read_cursor(db, cursor_name(VENDOR, "INSTRUCT")) is not None
    assert "approved" in orders(db).values()


@pytest.mark.slow
async def test_300_orders_polled_by_a_poller_killed_at_random_points_end_as_coupang_says(
    db: Database, world: tuple[CoupangSandbox, str]
) -> None:
    sandbox, base = world
    rng = random.Random(7)
    now = sandbox.clock.now()
    for n in range(300):
        sandbox.create_order(
            boxes=1 + (n % 10 == 0),
            status=rng.choice(FLOW),
            ordered_at=now - rng.randrange(4 * DAY) - 60,
        )
    boxes = list(sandbox.boxes.values())
    sandbox.faults.duplicate_rate = 0.1
    sandbox.faults.api = ApiFaults(rate=0.05, kinds=("500", "429"))
    kills = 0
    async with client(base, attempts=2) as api:
        while kills < 6:  # each round is killed at a random point, then Coupang moves on
            poller = CoupangPoller(db, OrderSheets(api), per_page=10, lookback_days=5, overlap=600)
            task = asyncio.create_task(poller.run_once())
            done, _ = await asyncio.wait({task}, timeout=rng.uniform(0.05, 2.0))
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                kills += 1
            for box in rng.sample(boxes, 10):
                nxt = FLOW.index(box.status) + 1
                if nxt < len(FLOW):
                    sandbox.set_status(box.shipment_box_id, FLOW[nxt])
        final = await CoupangPoller(db, OrderSheets(api), per_page=10, lookback_days=5).run_once()
        while final.failed:  # the 5% of failing calls may fail a status: it is polled again
            final = await CoupangPoller(db, OrderSheets(api), per_page=10, lookback_days=5).run_once()
        sandbox.faults.api = ApiFaults()
        after = await CoupangPoller(db, OrderSheets(api), per_page=10, lookback_days=5).run_once()
    assert after.failed == []
    found, states = packages(db), orders(db)
    wrong = [b.shipment_box_id for b in boxes if found.get(str(b.shipment_box_id), ("", ""))[1] != b.status]
    assert wrong == []
    assert all(found[str(b.shipment_box_id)][0] == COUPANG_PACKAGE[b.status].state for b in boxes)
    order_ids = {b.order_id for b in boxes}
    assert all(states[str(o)] == expected_order_state(sandbox, o) for o in order_ids)
    assert entered_twice(db) == []
    assert after.outcomes.keys() <= {"duplicate_event"}  # nothing was left to apply
