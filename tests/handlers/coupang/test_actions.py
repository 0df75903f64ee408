"""Coupang actions from the outbox against the Coupang sandbox, over real HTTP: orders are
acknowledged when they reach processing (unless the vendor does it in Wing), invoices are
uploaded once a box has a tracking number and its order is ready to ship, and each happens
once per box, also when 30% of calls fail and answers are lost after the change."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager

import anyio
import pytest
import sqlalchemy as sa

from handlers.coupang.actions import courier_code
from handlers.coupang.marketplace import MARKETPLACE
from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.policy import set_acknowledge
from handlers.coupang.poll import CoupangPoller
from handlers.coupang.sandbox import CoupangSandbox
from handlers.sandbox_common import ApiFaults
from service import commands
from service.actions import running_outbox
from service.db import Database
from service.marketplace import open_clients
from service.models import Order, OutboxJob, Package
from service.outbox import Policy
from service.settings import Settings
from tests.coupang_world import VENDOR, client, sandbox_settings, start_sandbox

pytestmark = pytest.mark.anyio
JOB_KINDS = ("acknowledge", "upload_invoice")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[CoupangSandbox, Settings]]:
    with ExitStack() as stack:
        sandbox, base = start_sandbox(stack, seed=5)
        sandbox.faults.api.hang_seconds = 0.2
        yield sandbox, sandbox_settings(database_url, api=base, api_backoff_seconds=0.005)


async def poll(db: Database, settings: Settings) -> None:
    async with client(settings.coupang_api_base) as api:
        while (await CoupangPoller(db, OrderSheets(api), lookback_days=1).run_once()).failed:
            pass


def jobs(db: Database) -> dict[str, list[str]]:
    table = OutboxJob.__table__
    found: dict[str, list[str]] = {}
    with db.read() as conn:
        for row in conn.execute(sa.select(table.c.kind, table.c.state).where(table.c.kind.in_(JOB_KINDS))):
            found.setdefault(row.kind, []).append(row.state)
    return found


@asynccontextmanager
async def worker(db: Database, settings: Settings) -> AsyncIterator[None]:
    policy = Policy(attempts=40, base=0.01, cap=0.05)
    async with AsyncExitStack() as stack:
        clients = open_clients([MARKETPLACE], settings, stack)
        await stack.enter_async_context(
            running_outbox(settings, db, [MARKETPLACE], clients, policy=policy, idle=0.02)
        )
        yield


async def settle(db: Database, timeout: float = 30.0) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await anyio.to_thread.run_sync(jobs, db)
        if all(set(states) <= {"done", "dead"} for states in found.values()):
            return found
        await anyio.sleep(0.05)
    raise AssertionError(f"jobs did not settle: {jobs(db)}")


def state(db: Database, order_id: int) -> str:
    table = Order.__table__
    with db.read() as conn:
        return str(conn.execute(sa.select(table.c.state).where(table.c.order_id == str(order_id))).scalar())


def box_state(db: Database, box_id: int) -> tuple[str, str | None]:
    table = Package.__table__
    with db.read() as conn:
        row = conn.execute(
            sa.select(table.c.state, table.c.platform_status).where(table.c.package_id == str(box_id))
        ).one()
    return row.state, row.platform_status


def make_ready(db: Database, order_id: int) -> None:
    for step in ("start_picking", "pack", "mark_ready"):
        commands.command(db, "order", "coupang", str(order_id), step, actor="test", reason=None)


def test_courier_codes_and_names() -> None:
    assert courier_code("cjgls") == "CJGLS" and courier_code("CJ대한통운") == "CJGLS"
    assert courier_code("Pony Express") is None and courier_code(None) is None


async def test_new_orders_are_acknowledged_once_and_followed_to_instruct(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    single = sandbox.create_order()
    double = sandbox.create_order(boxes=2)
    await poll(db, settings)
    assert state(db, single[0].order_id) == "processing"
    async with worker(db, settings):
        found = await settle(db)
    assert found == {"acknowledge": ["done", "done"]}
    for box in [*single, *double]:
        assert box.status == "INSTRUCT" and sandbox.acknowledgements[box.shipment_box_id] == 1
        assert box_state(db, box.shipment_box_id) == ("processing", "INSTRUCT")
    assert state(db, double[0].order_id) == "approved"


async def test_a_vendor_that_acknowledges_in_wing_is_left_alone(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    set_acknowledge(db, VENDOR, "manual")
    [box] = sandbox.create_order()
    await poll(db, settings)
    async with worker(db, settings):
        await settle(db)
    assert box.status == "ACCEPT" and sandbox.acknowledgements[box.shipment_box_id] == 0


async def test_the_invoice_is_uploaded_when_the_number_and_ready_to_ship_are_both_there(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [first] = sandbox.create_order(status="INSTRUCT")
    [second] = sandbox.create_order(status="INSTRUCT")
    await poll(db, settings)
    async with worker(db, settings):
        # first: ready to ship, then the number; second: the number, then ready to ship
        make_ready(db, first.order_id)
        assert await anyio.to_thread.run_sync(jobs, db) == {}
        commands.add_tracking(db, "coupang", str(first.shipment_box_id), "CJGLS", "700000000001", actor="t")
        commands.add_tracking(
            db, "coupang", str(second.shipment_box_id), "한진택배", "700000000002", actor="t"
        )
        assert len((await anyio.to_thread.run_sync(jobs, db)).get("upload_invoice", [])) <= 1
        make_ready(db, second.order_id)
        found = await settle(db)
    assert found == {"upload_invoice": ["done", "done"]}
    assert (first.invoice_number, first.delivery_company_code) == ("700000000001", "CJGLS")
    assert (second.invoice_number, second.delivery_company_code) == ("700000000002", "HANJIN")
    for box in (first, second):
        assert box.status == "DEPARTURE" and sandbox.invoice_uploads[box.shipment_box_id] == 1
        assert box_state(db, box.shipment_box_id) == ("ready_for_pickup", "DEPARTURE")


async def test_an_unknown_courier_is_dead_lettered_with_an_alert(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    [box] = sandbox.create_order(status="INSTRUCT")
    await poll(db, settings)
    async with worker(db, settings):
        make_ready(db, box.order_id)
        commands.add_tracking(db, "coupang", str(box.shipment_box_id), "Pony Express", "1234", actor="t")
        found = await settle(db)
    assert found == {"upload_invoice": ["dead"]} and box.status == "INSTRUCT"
    assert sandbox.invoice_uploads[box.shipment_box_id] == 0


@pytest.mark.slow
async def test_acknowledgement_and_invoice_happen_once_per_box_under_30_percent_failures(
    db: Database, world: tuple[CoupangSandbox, Settings]
) -> None:
    sandbox, settings = world
    rng = random.Random(3)
    orders = [sandbox.create_order(boxes=1 + (n % 4 == 0)) for n in range(24)]
    boxes = [box for order in orders for box in order]
    await poll(db, settings)
    sandbox.faults.api = ApiFaults(rate=0.3, kinds=("500", "429", "hang"), hang_seconds=0.2)
    sandbox.faults.lose_rate = 0.3
    async with worker(db, settings):
        first = await settle(db, 60)
        assert first == {"acknowledge": ["done"] * len(orders)}
        for order in orders:
            make_ready(db, order[0].order_id)
        for box in boxes:
            number = str(800000000000 + rng.randrange(10**9))
            commands.add_tracking(db, "coupang", str(box.shipment_box_id), "CJGLS", number, actor="t")
        found = await settle(db, 60)
    assert found["upload_invoice"] == ["done"] * len(boxes)
    assert sandbox.calls["acknowledge"] > len(orders) and sandbox.calls["invoices"] > len(boxes)
    assert sandbox.calls["acknowledge_lost"] > 0 and sandbox.calls["invoices_lost"] > 0
    for box in boxes:
        assert sandbox.acknowledgements[box.shipment_box_id] == 1
        assert sandbox.invoice_uploads[box.shipment_box_id] == 1
        assert box.status == "DEPARTURE"
    assert all(state(db, order[0].order_id) == "ready_to_ship" for order in orders)
