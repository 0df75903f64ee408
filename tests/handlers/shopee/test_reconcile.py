"""The reconciliation poll against the Shopee sandbox, over real HTTP: pushes duplicated,
reordered and dropped, then one poll, and every order matches Shopee."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from handlers.errors import MarketplaceUnavailable
from handlers.shopee import lost_pushes
from handlers.shopee.client import ShopeeClient
from handlers.shopee.lost_pushes import ALERT_KIND, CONFIRM_PATH, LostReport
from handlers.shopee.reconcile import (
    Report,
    ShopeeReconciler,
    cursor_name,
    windows,
)
from handlers.shopee.sandbox import PushFaults, SandboxClock, ShopeeSandbox, create_sandbox
from handlers.shopee.tokens import set_tokens
from service.app import create_app
from service.cursors import read_cursor
from service.db import Database, StorageUnavailable
from service.models import Alert, Order, Transition
from service.settings import Secret
from statemachines.maps import SHOPEE_ORDER
from tests.live_server import serve
from tests.shopee_pushes import KEY, Receiver, start_receiver
from tests.shopee_world import sandbox_settings

PARTNER = 2001234
SHOP, MART, OUTLET = 680000123, 690000001, 690000002
TOKEN = "sandbox-access-token-0001"
START = 1_764_000_000


@dataclass
class World:
    """Our service and the sandbox, wired to each other over loopback."""

    receiver: Receiver
    sandbox: ShopeeSandbox
    api_base: str
    db: Database

    def reconcile(self, client_class: type[ShopeeClient] = ShopeeClient, **options: Any) -> Report:
        """One reconciliation round; by default without the lost-push list, so that only
        the order list tells what the pushes missed (tests of it say lost_pushes=True)."""
        options.setdefault("lost_pushes", False)

        async def once() -> Report:
            clock = self.sandbox.clock.now
            async with client_class(self.api_base, PARTNER, KEY, clock=clock, backoff=0.01) as client:
                reconciler = ShopeeReconciler(self.db, client, clock=clock, **options)
                return await reconciler.run_once()

        return asyncio.run(once())

    def ours(self) -> dict[str, tuple[str, str | None]]:
        with self.db.read() as conn:
            query = sa.select(Order.order_id, Order.state, Order.platform_status)
            return {row.order_id: (row.state, row.platform_status) for row in conn.execute(query)}

    def entered(self) -> dict[str, list[str]]:
        with self.db.read() as conn:
            query = sa.select(Transition.order_id, Transition.to_state).where(Transition.package_id.is_(None))
            found: dict[str, list[str]] = {}
            for row in conn.execute(query.order_by(Transition.id)):
                found.setdefault(row.order_id, []).append(row.to_state)
            return found


def _sandbox(push_url: str, faults: PushFaults) -> Starlette:
    return create_sandbox(PARTNER, KEY, push_url=push_url, seed=11, clock=SandboxClock(START), faults=faults)


@pytest.fixture
def world(db: Database, database_url: str, request: pytest.FixtureRequest) -> Iterator[World]:
    faults = getattr(request, "param", PushFaults())
    with ExitStack() as stack:
        receiver = start_receiver(stack, db, database_url)
        app = _sandbox(receiver.url, faults)
        base = stack.enter_context(serve(app))
        sandbox: ShopeeSandbox = app.state.sandbox
        sandbox.pushes.configure(backoff=0.01)
        sandbox.add_shop(SHOP, access_token=TOKEN)
        set_tokens(db, str(SHOP), TOKEN)
        yield World(receiver, sandbox, base, db)


def live(sandbox: ShopeeSandbox, rng: random.Random, order_sn: str) -> None:
    """One order's life in the sandbox: delivered, stopped half-way, or cancelled."""
    sandbox.create_order(SHOP, order_sn=order_sn)
    roll = rng.random()
    if roll < 0.1:
        steps: list[tuple[str, list[dict[str, Any]]]] = [("CANCELLED", [])]
    elif roll < 0.2:
        steps = [
            ("READY_TO_SHIP", [{"logistics_status": "LOGISTICS_READY"}]),
            ("IN_CANCEL", []),
            ("CANCELLED", []),
        ]
    else:
        delivery: list[tuple[str, list[dict[str, Any]]]] = [
            ("READY_TO_SHIP", [{"logistics_status": "LOGISTICS_READY"}]),
            ("PROCESSED", [{"logistics_status": "LOGISTICS_REQUEST_CREATED", "tracking_no": True}]),
            ("SHIPPED", [{"logistics_status": "LOGISTICS_PICKUP_DONE"}]),
            ("TO_CONFIRM_RECEIVE", [{"logistics_status": "LOGISTICS_DELIVERY_DONE"}]),
            ("COMPLETED", []),
        ]
        steps = delivery[: rng.randint(1, 5)]
    for status, packages in steps:
        sandbox.move(order_sn, status=status, packages=packages, advance=rng.choice((0, 1, 1, 5, 60)))


FAULTY = PushFaults(duplicate=0.2, reorder=0.2, drop=0.1)


@pytest.mark.parametrize("world", [FAULTY], indirect=True)
def test_after_one_poll_two_hundred_orders_match_shopee_despite_lost_and_reordered_pushes(
    world: World,
) -> None:
    rng = random.Random(3)
    for n in range(200):
        live(world.sandbox, rng, f"2511{n:06d}RCN")
    stats = world.sandbox.pushes.drain_sync(timeout=60)
    assert stats.dropped and stats.duplicated and stats.reordered, stats
    world.receiver.settle()  # every acknowledged push applied
    shopee = {o.order_sn: o.order_status for o in world.sandbox.list_orders()}
    before = world.ours()
    missed = [sn for sn, status in shopee.items() if before.get(sn, ("", None))[1] != status]
    assert missed, "some final statuses were lost with the dropped pushes"

    report = world.reconcile()

    assert report.failed_shops == [] and report.listed == 200
    assert report.fetched >= len(missed)
    after = world.ours()
    assert {sn: status for sn, (_, status) in after.items()} == shopee
    assert {sn: state for sn, (state, _) in after.items()} == {
        sn: SHOPEE_ORDER[status].state for sn, status in shopee.items()
    }
    for order_sn, states in world.entered().items():
        assert len(states) == len(set(states)), f"{order_sn} entered a state twice: {states}"


def test_a_second_poll_resumes_from_the_cursor_and_fetches_nothing_new(world: World) -> None:
    world.sandbox.create_order(SHOP, order_sn="2511000001CUR")
    world.sandbox.pushes.drain_sync()
    world.receiver.settle()
    first = world.reconcile()
    cursor = read_cursor(world.db, cursor_name(str(SHOP)))
    assert cursor == str(world.sandbox.clock.now())
    assert (first.listed, first.fetched) == (1, 0), "the push already told us"
    world.sandbox.clock.advance(3600)
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.move("2511000001CUR", status="READY_TO_SHIP")
    second = world.reconcile()
    assert (second.listed, second.fetched) == (1, 1)
    assert world.ours()["2511000001CUR"] == ("approved", "READY_TO_SHIP")
    assert int(read_cursor(world.db, cursor_name(str(SHOP))) or 0) == world.sandbox.clock.now()


def test_a_failing_shopee_leaves_the_cursor_where_it_was(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP, order_sn="2511000002ERR")
    world.sandbox.fail_next(["500"] * 8)
    report = world.reconcile()
    assert report.failed_shops == [str(SHOP)]
    assert read_cursor(world.db, cursor_name(str(SHOP))) is None
    assert "2511000002ERR" not in world.ours()
    assert world.reconcile().failed_shops == []
    assert world.ours()["2511000002ERR"] == ("pending", "UNPAID")


def test_the_poll_learns_that_a_shop_is_an_outlet_and_lists_its_orders_under_the_mart(world: World) -> None:
    world.sandbox.add_shop(MART, access_token="mart-token")
    world.sandbox.add_shop(OUTLET, access_token="outlet-token", mart_shop_id=MART)
    set_tokens(world.db, str(OUTLET), "outlet-token")
    world.sandbox.create_order(OUTLET, order_sn="2511000003OUT")
    world.sandbox.pushes.drain_sync()
    world.receiver.settle()
    world.reconcile()
    answer = world.receiver.client.get("/v1/orders", params={"shop_id": str(MART)})
    assert [o["order_id"] for o in answer.json()["orders"]] == ["2511000003OUT"]
    assert answer.json()["orders"][0]["main_shop_id"] == str(MART)


def test_the_poll_fetches_a_paid_order_once_for_its_ship_by_deadline(world: World) -> None:
    world.sandbox.create_order(SHOP, order_sn="2511000004DUE")
    world.sandbox.move("2511000004DUE", status="READY_TO_SHIP", advance=5)
    world.sandbox.pushes.drain_sync()
    world.receiver.settle()
    assert world.reconcile().fetched == 1, "the push has no deadline: the detail has"
    with world.db.read() as conn:
        ship_by = conn.execute(sa.select(Order.ship_by).where(Order.order_id == "2511000004DUE")).scalar_one()
    assert ship_by is not None
    assert int(ship_by.timestamp()) == world.sandbox.order("2511000004DUE").ship_by_date
    world.sandbox.clock.advance(60)
    assert world.reconcile().fetched == 0


def test_windows_cover_the_span_in_pieces_of_at_most_fifteen_days() -> None:
    day = 86400
    assert windows(0, 40 * day) == [(0, 15 * day), (15 * day, 30 * day), (30 * day, 40 * day)]
    assert windows(5, 5) == []
    assert Counter(b - a <= 15 * day for a, b in windows(7, 100 * day + 3)) == Counter({True: 7})


def test_serve_runs_the_poll_on_its_schedule_and_catches_a_push_that_never_came(
    db: Database, database_url: str
) -> None:
    with ExitStack() as stack:
        app = create_sandbox(PARTNER, KEY, push_url=None, seed=5)  # sends no pushes at all
        sandbox: ShopeeSandbox = app.state.sandbox
        api_base = stack.enter_context(serve(app))
        sandbox.add_shop(SHOP, access_token=TOKEN)
        set_tokens(db, str(SHOP), TOKEN)
        settings = sandbox_settings(
            database_url, partner=PARTNER, key=KEY, api=api_base, shopee_reconcile_seconds=0.2
        )
        base = stack.enter_context(serve(create_app(settings, db, pollers=True)))
        client = stack.enter_context(httpx.Client(base_url=base))
        sandbox.create_order(SHOP, order_sn="2511000004SRV")
        sandbox.move("2511000004SRV", status="READY_TO_SHIP", advance=1)
        deadline = time.monotonic() + 20
        while client.get("/v1/orders/shopee/2511000004SRV").status_code != 200 or (
            client.get("/v1/orders/shopee/2511000004SRV").json()["state"] != "approved"
        ):
            assert time.monotonic() < deadline, "the poll inside serve never caught the order"
            time.sleep(0.05)
        history = client.get("/v1/orders/shopee/2511000004SRV").json()["history"]
        assert {step["source"] for step in history} == {"poll"}


class LosesConfirmAnswers(ShopeeClient):
    """A client whose confirmations of lost pushes fail once (Shopee did or did not act)."""

    failed = 0

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if path == CONFIRM_PATH and LosesConfirmAnswers.failed == 0:
            LosesConfirmAnswers.failed += 1
            raise MarketplaceUnavailable("shopee", "confirm_consumed_lost_push_message: no answer")
        return await super().call(method, path, **kwargs)


def test_lost_pushes_are_stored_applied_and_confirmed_without_listing_orders(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP, order_sn="2511000010LST")
    world.sandbox.move("2511000010LST", status="READY_TO_SHIP", advance=5)
    assert world.sandbox.pushes.drain_sync().dropped == 2
    assert "2511000010LST" not in world.ours()

    report = world.reconcile(lost_pushes=True)

    assert report.lost is not None
    assert (report.lost.fetched, report.lost.stored, report.lost.malformed) == (2, 2, 0)
    world.receiver.settle()
    assert world.ours()["2511000010LST"] == ("approved", "READY_TO_SHIP")
    assert world.sandbox.pushes.lost_page()[0] == [], "confirmed, so Shopee forgets them"
    assert world.reconcile(lost_pushes=True).lost == LostReport(pages=1)


def test_a_lost_push_stored_but_not_confirmed_is_fetched_again_and_changes_nothing(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP, order_sn="2511000011LST")
    world.sandbox.pushes.drain_sync()
    LosesConfirmAnswers.failed = 0
    first = world.reconcile(LosesConfirmAnswers, lost_pushes=True)
    assert first.lost is None, "the round went on without them"
    world.receiver.settle()
    before = world.receiver.counts()
    assert before["pushes"] == 1
    second = world.reconcile(LosesConfirmAnswers, lost_pushes=True)
    assert second.lost is not None and (second.lost.fetched, second.lost.duplicates) == (1, 1)
    world.receiver.settle()
    assert world.receiver.counts() == before, "nothing stored, journaled or entered again"
    assert world.ours()["2511000011LST"] == ("pending", "UNPAID")
    assert world.sandbox.pushes.lost_page()[0] == []


def unreadable_alerts(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as conn:
        query = sa.select(Alert.kind, Alert.order_id, Alert.message).where(Alert.kind == ALERT_KIND)
        return [(row.kind, row.order_id, row.message) for row in conn.execute(query.order_by(Alert.id))]


def test_an_unusable_lost_push_is_kept_as_an_open_alert_before_the_page_is_confirmed(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    now = world.sandbox.clock.now()
    world.sandbox.pushes.submit(
        orjson.dumps({"data": {"status": "UNPAID"}, "shop_id": SHOP, "code": 3, "timestamp": now})
    )
    world.sandbox.pushes.submit(
        orjson.dumps({"data": {"x": 1}, "shop_id": SHOP, "code": 12, "timestamp": now})
    )
    report = world.reconcile(lost_pushes=True)
    assert report.lost is not None
    assert (report.lost.fetched, report.lost.stored, report.lost.malformed) == (2, 1, 1)
    [(_, order_id, message)] = unreadable_alerts(world.db)
    assert order_id == "-" and "data.ordersn must be a non-empty string" in message
    assert '{"data":{"status":"UNPAID"}' in message, "the push as Shopee gave it, to replay"
    assert world.sandbox.pushes.lost_page()[0] == [], "kept, so confirmed"
    alerts = world.receiver.client.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
    assert [a["kind"] for a in alerts] == [ALERT_KIND]


def test_a_lost_push_whose_outer_shop_disagrees_is_not_applied_but_kept_as_an_alert(world: World) -> None:
    data = {"ordersn": "2511000014SHP", "status": "READY_TO_SHIP", "update_time": START}
    body = orjson.dumps({"data": data, "shop_id": SHOP, "code": 3, "timestamp": START})
    message = {"shop_id": SHOP + 1, "code": 3, "timestamp": START, "data": body.decode()}
    answer = lost_answer([message], 7)
    confirmed: list[int] = []
    report = asyncio.run(recover(world.db, answer, confirmed))
    assert (report.stored, report.malformed, confirmed) == (0, 1, [7])
    [(_, order_id, text)] = unreadable_alerts(world.db)
    assert order_id == "2511000014SHP" and "shop_id" in text
    assert "2511000014SHP" not in world.ours()


def test_a_lost_page_that_cannot_be_stored_is_not_confirmed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP, order_sn="2511000015DWN")
    world.sandbox.pushes.drain_sync()

    def down(*args: Any, **kwargs: Any) -> list[bool]:
        raise StorageUnavailable("database unavailable: test")

    monkeypatch.setattr(lost_pushes, "store_pushes", down)
    assert world.reconcile(lost_pushes=True).lost is None, "the round went on without them"
    assert len(world.sandbox.pushes.lost_page()[0]) == 1, "still Shopee's to give again"
    monkeypatch.undo()
    report = world.reconcile(lost_pushes=True)
    assert report.lost is not None and (report.lost.stored, report.lost.confirmed) == (1, 1)
    assert world.sandbox.pushes.lost_page()[0] == []


def test_an_unreadable_lost_push_whose_alert_cannot_be_written_is_not_confirmed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    now = world.sandbox.clock.now()
    world.sandbox.pushes.submit(orjson.dumps({"data": {}, "shop_id": SHOP, "code": 3, "timestamp": now}))

    def down(*args: Any, **kwargs: Any) -> int:
        raise StorageUnavailable("database unavailable: test")

    monkeypatch.setattr(lost_pushes, "keep_unreadable", down)
    assert world.reconcile(lost_pushes=True).lost is None
    assert len(world.sandbox.pushes.lost_page()[0]) == 1
    assert unreadable_alerts(world.db) == []
    monkeypatch.undo()
    assert world.reconcile(lost_pushes=True).lost is not None
    assert len(unreadable_alerts(world.db)) == 1 and world.sandbox.pushes.lost_page()[0] == []


def test_an_unreadable_lost_push_given_again_opens_no_second_alert(world: World) -> None:
    message = {"shop_id": SHOP, "code": 3, "timestamp": START, "data": "{not json"}
    answer = lost_answer([message], 9)
    confirmed: list[int] = []
    for _ in range(2):
        asyncio.run(recover(world.db, answer, confirmed))
    assert confirmed == [9, 9] and len(unreadable_alerts(world.db)) == 1


NO_ERROR = {"error": "-", "message": "-", "warning": "-"}  # success, as the published samples say it


def lost_answer(messages: list[dict[str, Any]], last: int) -> dict[str, Any]:
    """A get_lost_push_message answer in the published sample's shape."""
    page = {"push_message_list": messages, "has_next_page": False, "last_message_id": last}
    return {**NO_ERROR, "request_id": "r1", "response": page}


async def recover(db: Database, answer: dict[str, Any], confirmed: list[int]) -> LostReport:
    """One recovery against a transport that answers ``answer`` and records confirmations."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == CONFIRM_PATH:
            confirmed.append(orjson.loads(request.content)["last_message_id"])
            return httpx.Response(200, json={**NO_ERROR, "request_id": "r2"})
        return httpx.Response(200, json=answer)

    transport = httpx.MockTransport(handler)
    async with ShopeeClient("http://shopee.test", PARTNER, KEY, transport=transport) as client:
        return await lost_pushes.recover_lost_pushes(db, client)


def test_pushes_signed_with_a_push_partner_key_and_calls_with_the_api_key_work_together(
    db: Database, database_url: str
) -> None:
    with ExitStack() as stack:
        push_key = "live-push-partner-key-0001"
        receiver = start_receiver(stack, db, database_url, shopee_push_partner_keys=(Secret(push_key),))
        app = _sandbox(receiver.url, PushFaults())
        base = stack.enter_context(serve(app))
        sandbox: ShopeeSandbox = app.state.sandbox
        sandbox.pushes.sign_with(push_key)
        sandbox.add_shop(SHOP, access_token=TOKEN)
        set_tokens(db, str(SHOP), TOKEN)
        sandbox.create_order(SHOP, order_sn="2511000016KEY")
        assert sandbox.pushes.drain_sync().delivered == 1
        receiver.settle()
        world = World(receiver, sandbox, base, db)
        assert world.ours()["2511000016KEY"] == ("pending", "UNPAID")
        sandbox.pushes.configure(faults=PushFaults(drop=1.0))
        sandbox.move("2511000016KEY", status="READY_TO_SHIP", advance=5)
        report = world.reconcile(lost_pushes=True)
        assert report.failed_shops == [] and report.lost is not None and report.lost.stored == 1
        receiver.settle()
        assert world.ours()["2511000016KEY"] == ("approved", "READY_TO_SHIP")


def test_pushes_lost_more_than_three_days_ago_are_no_longer_offered(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP, order_sn="2511000012OLD")
    world.sandbox.clock.advance(3 * 24 * 3600 + 1)
    report = world.reconcile(lost_pushes=True)
    assert report.lost == LostReport(pages=1)


def test_a_push_the_receiver_never_accepted_joins_the_lost_list(world: World) -> None:
    world.sandbox.pushes.url = world.receiver.url.replace("/webhooks/shopee", "/nowhere")
    world.sandbox.pushes.configure(attempts=2)
    world.sandbox.create_order(SHOP, order_sn="2511000013GVN")
    stats = world.sandbox.pushes.drain_sync()
    assert (stats.failed, stats.retried) == (1, 1)
    lost, more = world.sandbox.pushes.lost_page()
    assert len(lost) == 1 and not more
    assert orjson.loads(lost[0][1])["data"]["ordersn"] == "2511000013GVN"
