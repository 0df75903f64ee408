"""Coupang return and cancel requests in the order poll, against the Coupang sandbox over real
HTTP: a buyer's cancellation holds and then cancels the order and its box, so no invoice is
ever uploaded for it; a return moves a delivered order to returning (with an alert) and then
returned; each request kind keeps its own cursor, and a poller killed at any point and
started again applies nothing twice."""

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
from handlers.coupang.poll import CoupangPoller, Report, days
from handlers.coupang.receipts import cursor_name
from handlers.coupang.returns import KINDS
from handlers.coupang.sandbox import Box, CoupangSandbox
from handlers.sandbox_common import ApiFaults
from service import commands
from service.cursors import read_cursor
from service.db import Database
from service.models import Alert, OutboxJob, Transition
from service.settings import Settings
from tests.coupang_world import VENDOR, client, sandbox_settings, start_sandbox
from tests.handlers.coupang.test_actions import box_state, make_ready, settle, state, worker

pytestmark = pytest.mark.anyio
DAY = 86400


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[CoupangSandbox, Settings]]:
    with ExitStack() as stack:
        sandbox, base = start_sandbox(stack, seed=13)
        settings = sandbox_settings(
            database_url, api=base, api_backoff_seconds=0.005, coupang_poll_seconds=0.1
        )
        yield sandbox, settings


async def poll(db: Database, settings: Settings, **options: object) -> Report:
    """One round that fails nothing (the sandbox's scripted faults aside)."""
    options.setdefault("lookback_days", 1)
    options.setdefault("per_page", 2)
    async with client(settings.coupang_api_base) as api:
        while (report := await CoupangPoller(db, OrderSheets(api), **options).run_once()).failed:  # type: ignore[arg-type]
            pass
    return report


def later(sandbox: CoupangSandbox, seconds: int = 2) -> None:
    """Move the sandbox's clock on, so that what Coupang does next is dated after what we did."""
    sandbox.clock.advance(seconds)


def alerts(db: Database, order_id: int) -> dict[str, str]:
    """The order's alerts: condition (entity and state) to open/resolved."""
    table = Alert.__table__
    with db.read() as conn:
        rows = conn.execute(
            sa.select(table.c.condition, table.c.state).where(table.c.order_id == str(order_id))
        )
        return {row.condition.split(":", 3)[3]: row.state for row in rows}


def entered_twice(db: Database) -> list[tuple[str, str | None, str]]:
    table = Transition.__table__
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.order_id, table.c.package_id, table.c.to_state))
        counts = Counter((r.order_id, r.package_id, r.to_state) for r in rows)
    return [key for key, n in counts.items() if n > 1]


def job_states(db: Database, kind: str) -> list[str]:
    table = OutboxJob.__table__
    with db.read() as conn:
        return list(conn.execute(sa.select(table.c.state).where(table.c.kind == kind)).scalars())


async def test_an_order_cancelled_before_shipping_is_held_then_cancelled_and_its_invoice_never_uploaded(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order(status="INSTRUCT")
    await poll(db, settings)
    make_ready(db, box.order_id)
    commands.add_tracking(db, "coupang", str(box.shipment_box_id), "CJGLS", "700000000009", actor="t")
    assert job_states(db, "upload_invoice") == ["pending"]
    later(sandbox)
    [request] = sandbox.returns.cancel(box.order_id)  # a stop-shipment request: the box is INSTRUCT
    await poll(db, settings)
    assert state(db, box.order_id) == "on_hold"
    assert box_state(db, box.shipment_box_id) == ("on_hold", "RELEASE_STOP_UNCHECKED")
    assert alerts(db, box.order_id) == {":on_hold": "open", f"{box.shipment_box_id}:on_hold": "open"}
    async with worker(db, settings):
        await asyncio.sleep(0.5)  # the job looks, finds the order held, and waits
        for _ in range(100):  # (caught between its look and its answer, it shows as running)
            if job_states(db, "upload_invoice") != ["running"]:
                break
            await asyncio.sleep(0.05)
        assert job_states(db, "upload_invoice") == ["pending"]
        later(sandbox)
        sandbox.returns.stop_shipment(request.receipt_id)  # the seller stops it in Wing
        await poll(db, settings)
        assert await settle(db) == {"upload_invoice": ["done"]}
    assert state(db, box.order_id) == "cancelled"
    assert box_state(db, box.shipment_box_id) == ("cancelled", "STOP_SHIPMENT")
    assert sandbox.invoice_uploads[box.shipment_box_id] == 0 and box.status == "INSTRUCT"
    assert alerts(db, box.order_id) == {":on_hold": "resolved", f"{box.shipment_box_id}:on_hold": "resolved"}
    assert entered_twice(db) == []


async def test_an_order_cancelled_at_payment_is_cancelled_and_never_acknowledged(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order()
    await poll(db, settings)
    assert state(db, box.order_id) == "processing" and job_states(db, "acknowledge") == ["pending"]
    later(sandbox)
    [request] = sandbox.returns.cancel(box.order_id)
    assert request.receipt_type == "CANCEL"
    await poll(db, settings)
    async with worker(db, settings):
        assert await settle(db) == {"acknowledge": ["done"]}
    assert state(db, box.order_id) == "cancelled"
    assert box_state(db, box.shipment_box_id) == ("cancelled", "CANCEL")
    assert sandbox.acknowledgements[box.shipment_box_id] == 0 and alerts(db, box.order_id) == {}


async def test_a_box_cancelled_before_our_poll_saw_it_is_not_acknowledged(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order()
    await poll(db, settings, returns=())  # the order sheets only: the request is not seen yet
    sandbox.returns.cancel(box.order_id)
    async with worker(db, settings):
        assert await settle(db) == {"acknowledge": ["done"]}  # read the sheet: cancelled, left alone
    assert sandbox.acknowledgements[box.shipment_box_id] == 0 and box.status == "ACCEPT"


async def test_a_stop_request_for_one_box_holds_that_box_and_the_order_follows_the_other(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    first, second = sandbox.create_order(boxes=2, status="INSTRUCT")
    await poll(db, settings)
    later(sandbox)
    [request] = sandbox.returns.cancel(first.order_id, [first.shipment_box_id])
    await poll(db, settings)
    assert box_state(db, first.shipment_box_id) == ("on_hold", "RELEASE_STOP_UNCHECKED")
    assert box_state(db, second.shipment_box_id) == ("processing", "INSTRUCT")
    assert state(db, first.order_id) == "approved"
    assert alerts(db, first.order_id) == {f"{first.shipment_box_id}:on_hold": "open"}
    later(sandbox)
    sandbox.returns.stop_shipment(request.receipt_id)
    await poll(db, settings)
    assert box_state(db, first.shipment_box_id) == ("cancelled", "STOP_SHIPMENT")
    assert state(db, first.order_id) == "approved"


async def test_a_box_shipped_despite_a_stop_request_ships_and_then_returns(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order(status="INSTRUCT")
    await poll(db, settings)
    later(sandbox)
    [request] = sandbox.returns.cancel(box.order_id)
    await poll(db, settings)
    assert state(db, box.order_id) == "on_hold"
    later(sandbox)
    sandbox.returns.already_shipped(request.receipt_id)  # 이미출고: dispatched, now a return
    sandbox.advance(box.shipment_box_id)
    await poll(db, settings)
    assert state(db, box.order_id) == "returning"
    assert box_state(db, box.shipment_box_id) == ("in_transit", "DELIVERING")
    assert alerts(db, box.order_id)[":returning"] == "open"


async def test_a_delivered_order_returned_is_returning_with_an_alert_then_returned(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order(status="FINAL_DELIVERY", ordered_at=sandbox.clock.now() - 2 * DAY)
    await poll(db, settings, lookback_days=3)
    assert state(db, box.order_id) == "delivered"
    later(sandbox)
    request = sandbox.returns.request_return(box.shipment_box_id)
    await poll(db, settings)
    assert state(db, box.order_id) == "returning"
    assert alerts(db, box.order_id) == {":returning": "open"}
    for step in ("VENDOR_WAREHOUSE_CONFIRM", "RETURNS_COMPLETED"):
        later(sandbox)
        sandbox.returns.set_status(request.receipt_id, step)
        await poll(db, settings)
    assert state(db, box.order_id) == "returned"
    assert box_state(db, box.shipment_box_id) == ("delivered", "FINAL_DELIVERY")
    assert alerts(db, box.order_id) == {":returning": "resolved"}
    table = Transition.__table__
    with db.read() as conn:
        steps = conn.execute(
            sa.select(table.c.from_state, table.c.to_state, table.c.source, table.c.catch_up)
            .where(table.c.order_id == str(box.order_id), table.c.package_id.is_(None))
            .order_by(table.c.id)
        ).all()
    assert [tuple(s) for s in steps[-2:]] == [
        ("delivered", "returning", "poll", False),
        ("returning", "returned", "poll", False),
    ]


async def test_each_kind_keeps_its_cursor_and_a_restart_lists_from_it_applying_nothing_twice(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    now = sandbox.clock.now()
    [old] = sandbox.create_order(status="DELIVERING", ordered_at=now - 3 * DAY)
    await poll(db, settings, lookback_days=4, overlap=1)
    for kind in KINDS:
        saved = read_cursor(db, cursor_name(VENDOR, kind))
        assert saved is not None and datetime.fromisoformat(saved) >= datetime.fromtimestamp(now, UTC)
    later(sandbox)
    request = sandbox.returns.request_return(old.shipment_box_id)
    first = await poll(db, settings, overlap=1)
    assert first.outcomes.get("applied") == 1 and state(db, old.order_id) == "returning"
    before = sandbox.calls["returns"]
    again = await poll(db, settings, lookback_days=30, overlap=1)  # a restart: the cursors win
    today = len(days(datetime.fromtimestamp(now, UTC), datetime.now(UTC)))
    assert sandbox.calls["returns"] - before == len(KINDS) * today
    assert set(again.outcomes) <= {"duplicate_event"} and entered_twice(db) == []
    later(sandbox)
    sandbox.returns.set_status(request.receipt_id, "RETURNS_COMPLETED")
    await poll(db, settings, overlap=1)
    assert state(db, old.order_id) == "returned" and entered_twice(db) == []


def expected(box: Box, claims: dict[int, str]) -> str:
    claim = claims.get(box.shipment_box_id)
    if claim == "cancel":
        return "cancelled"
    if claim == "return":
        return "returning"
    return {"ACCEPT": "processing", "INSTRUCT": "approved", "DELIVERING": "shipped"}[box.status]


@pytest.mark.slow
async def test_orders_cancelled_and_returned_under_a_poller_killed_at_random_points_end_as_coupang_says(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    rng = random.Random(11)
    now = sandbox.clock.now()
    boxes = [
        sandbox.create_order(
            status=rng.choice(("ACCEPT", "INSTRUCT", "DELIVERING")), ordered_at=now - n * 3600
        )[0]
        for n in range(60)
    ]
    await poll(db, settings, lookback_days=4, returns=())
    claims: dict[int, str] = {}
    sandbox.faults.api = ApiFaults(rate=0.05, kinds=("500", "429"))
    sandbox.faults.duplicate_rate = 0.1
    async with client(settings.coupang_api_base, attempts=2) as api:
        for _ in range(6):
            later(sandbox, 1)
            for box in rng.sample(boxes, 8):
                if box.shipment_box_id in claims:
                    continue
                if box.status == "DELIVERING":
                    sandbox.returns.request_return(box.shipment_box_id)
                    claims[box.shipment_box_id] = "return"
                    continue
                [request] = sandbox.returns.cancel(box.order_id)
                if box.status == "INSTRUCT":
                    sandbox.returns.stop_shipment(request.receipt_id)
                claims[box.shipment_box_id] = "cancel"
            task = asyncio.create_task(
                CoupangPoller(db, OrderSheets(api), per_page=3, lookback_days=4).run_once()
            )
            done, _ = await asyncio.wait({task}, timeout=rng.uniform(0.05, 1.5))
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    sandbox.faults.api = ApiFaults()
    await poll(db, settings, lookback_days=4, per_page=3)
    final = await poll(db, settings, lookback_days=4, per_page=3)
    assert set(final.outcomes) <= {"duplicate_event"}
    assert claims and all(state(db, b.order_id) == expected(b, claims) for b in boxes)
    assert entered_twice(db) == []
