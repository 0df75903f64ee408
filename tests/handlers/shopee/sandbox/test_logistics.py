"""The Shopee sandbox's carrier and logistics controls: parcels move from pickup to
delivery (customs holds, failed attempts), on command or on their own; demo mode makes
orders and leaves arranging them to the seller; everything can be driven over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from handlers.shopee.sandbox import Order, SandboxClock, ShopeeSandbox, create_sandbox
from tests.live_server import serve

PARTNER_ID = 2001887
KEY = "shopee-partner-key-for-tests-0003"
SHOP = 680000321
NOW = 1_700_000_000


@dataclass
class World:
    sandbox: ShopeeSandbox
    pushes: list[dict[str, Any]]

    def shipped(self, shop: int = SHOP, packages: int = 1) -> Order:
        """A paid order of ``shop`` whose packages are arranged for drop-off."""
        order = self.sandbox.create_order(shop, status="READY_TO_SHIP", packages=packages)
        for package in order.packages:
            self.sandbox.logistics.ship(order, package, "dropoff", {"branch_id": 7001})
        return order

    def statuses(self, order_sn: str) -> list[str]:
        return [
            p["data"]["status"] for p in self.pushes if p["code"] == 3 and p["data"]["ordersn"] == order_sn
        ]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    sandbox: ShopeeSandbox = create_sandbox(PARTNER_ID, KEY, seed=9, clock=SandboxClock(NOW)).state.sandbox
    sandbox.add_shop(SHOP)
    pushes: list[dict[str, Any]] = []
    monkeypatch.setattr(sandbox.pushes, "submit", lambda body: pushes.append(orjson.loads(body)))
    return World(sandbox, pushes)


def travel(world: World, order: Order) -> list[tuple[str, str]]:
    """Move the order's parcel to the end, a minute a step; (package status, checkpoint) each step."""
    carrier, package = world.sandbox.logistics.carrier, order.packages[0]
    seen = []
    while carrier.advance(order.order_sn):
        world.sandbox.clock.advance(60)
        last = carrier.checkpoints(order.order_sn, package.package_number)[-1]
        seen.append((package.logistics_status, last["description"]))
    return seen


def test_a_picked_up_parcel_moves_to_delivered_and_the_order_to_completed(world: World) -> None:
    order = world.shipped()
    assert order.packages[0].logistics_status == "LOGISTICS_REQUEST_CREATED"
    world.sandbox.logistics.carrier.pickup(order.order_sn)
    assert order.order_status == "SHIPPED" and order.packages[0].logistics_status == "LOGISTICS_PICKUP_DONE"
    steps = travel(world, order)
    assert [status for status, _ in steps][-2:] == [
        "LOGISTICS_DELIVERY_DONE"
    ] * 2  # delivered, then completed
    assert order.order_status == "COMPLETED"
    assert world.statuses(order.order_sn) == [
        "READY_TO_SHIP",
        "PROCESSED",
        "SHIPPED",
        "TO_CONFIRM_RECEIVE",
        "COMPLETED",
    ]


def test_a_cross_border_parcel_is_held_at_customs_while_in_transit(world: World) -> None:
    world.sandbox.add_shop(SHOP + 1, cross_border=True)
    order = world.shipped(shop=SHOP + 1)
    world.sandbox.logistics.carrier.pickup(order.order_sn)
    steps = travel(world, order)
    customs = [(status, text) for status, text in steps if "customs" in text]
    assert len(customs) == 2 and {status for status, _ in customs} == {"LOGISTICS_PICKUP_DONE"}
    plain = world.shipped()
    world.sandbox.logistics.carrier.pickup(plain.order_sn)
    plain_steps = travel(world, plain)
    assert not [text for _, text in plain_steps if "customs" in text]
    assert len(steps) == len(plain_steps) + 2 and order.order_status == plain.order_status == "COMPLETED"


def test_a_failed_delivery_attempt_is_tried_again_until_delivered(world: World) -> None:
    world.sandbox.logistics.configure(failed_attempts=1.0, max_failed_attempts=1)
    order = world.shipped()
    world.sandbox.logistics.carrier.pickup(order.order_sn)
    steps = travel(world, order)
    statuses = [status for status, _ in steps]
    failed = next(i for i, (_, text) in enumerate(steps) if "attempt failed" in text)
    # No LOGISTICS_DELIVERY_FAILED: Shopee's data definitions say it cancels the order.
    assert "LOGISTICS_DELIVERY_FAILED" not in statuses and statuses[failed] == "LOGISTICS_PICKUP_DONE"
    assert "again" in steps[failed + 1][1]
    assert statuses[failed + 2] == "LOGISTICS_DELIVERY_DONE" and order.order_status == "COMPLETED"
    package = order.packages[0].package_number
    track = [
        c["logistics_status"] for c in world.sandbox.logistics.carrier.checkpoints(order.order_sn, package)
    ]
    assert track[-4:] == ["DELIVERY_PENDING", "DELIVERY_PENDING", "DELIVERY_PENDING", "DELIVERED"]
    assert world.statuses(order.order_sn)[-3:] == ["SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"]


def test_an_order_ships_once_all_its_parcels_are_picked_up(world: World) -> None:
    order = world.shipped(packages=2)
    carrier = world.sandbox.logistics.carrier
    carrier.pickup(order.order_sn, order.packages[0].package_number)
    assert order.order_status == "PROCESSED"
    carrier.pickup(order.order_sn, order.packages[1].package_number)
    assert order.order_status == "SHIPPED"
    travel(world, order)
    assert order.order_status == "COMPLETED"


def test_beats_pick_up_and_deliver_on_their_own_in_six_steps(world: World) -> None:
    order = world.shipped()
    beats = 0
    while order.order_status != "COMPLETED" and beats < 20:
        world.sandbox.logistics.carrier.beat()
        world.sandbox.clock.advance(10)
        beats += 1
    assert beats == 6  # pickup, two hubs, out for delivery, delivered, completed


def test_a_beat_releases_tracking_numbers_that_are_due(world: World) -> None:
    world.sandbox.logistics.configure(tracking_delay=30)
    order = world.shipped()
    world.sandbox.logistics.carrier.beat()
    assert order.packages[0].tracking_no is None
    world.sandbox.clock.advance(30)
    world.sandbox.logistics.carrier.beat()
    number = order.packages[0].tracking_no
    assert number and [p["data"]["tracking_no"] for p in world.pushes if p["code"] == 4] == [number]


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_auto_mode_moves_parcels_on_its_own_thread(world: World) -> None:
    order = world.shipped()
    carrier = world.sandbox.logistics.carrier
    carrier.start(0.01)
    try:
        assert carrier.running
        wait_for(lambda: order.order_status == "COMPLETED")
    finally:
        carrier.stop()
    assert not carrier.running and carrier.to_json()["running"] is False


def test_demo_mode_makes_paid_orders_and_leaves_arranging_them_to_the_seller(world: World) -> None:
    world.sandbox.logistics.configure(demo_max_waiting=3)
    world.sandbox.start_demo(pace_seconds=0.01)
    try:
        waiting = lambda: [o for o in world.sandbox.list_orders(SHOP) if o.order_status == "READY_TO_SHIP"]  # noqa: E731
        wait_for(lambda: len(waiting()) >= 3)
        time.sleep(0.1)
        assert len(waiting()) == 3 and len(world.sandbox.list_orders(SHOP)) <= 4  # it stops at the cap
        assert world.sandbox.logistics.booking_counts() == {}
        order = waiting()[0]
        world.sandbox.logistics.ship(order, order.packages[0], "dropoff", {"branch_id": 7002})
        wait_for(lambda: order.order_status == "COMPLETED")
    finally:
        world.sandbox.stop_demo()
    assert world.statuses(order.order_sn)[:2] == ["UNPAID", "READY_TO_SHIP"]


def test_demo_mode_needs_a_shop() -> None:
    sandbox: ShopeeSandbox = create_sandbox(PARTNER_ID, KEY).state.sandbox
    with pytest.raises(ValueError, match="shop"):
        sandbox.start_demo(1.0)


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    app = create_sandbox(PARTNER_ID, KEY, seed=9, clock=SandboxClock(NOW))
    app.state.sandbox = world.sandbox  # the world's sandbox, served
    with serve(app) as base, httpx.Client(base_url=base) as client:
        yield client


def test_logistics_can_be_driven_over_http(world: World, http: httpx.Client) -> None:
    shop = http.post("/sandbox/shops", json={"shop_id": 900001, "cross_border": True}).json()
    assert shop["cross_border"] is True
    settings = http.post("/sandbox/logistics/settings", json={"modes": ["pickup"], "transit_steps": 1}).json()
    assert (
        settings["modes"] == ["pickup"] and settings["transit_steps"] == 1 and settings["document_delay"] == 2
    )
    faults = http.post("/sandbox/logistics/faults", json={"lose_rate": 0.25, "lose_kinds": ["drop"]}).json()
    assert faults["lose_rate"] == 0.25 and faults["lose_kinds"] == ["drop"] and faults["rate"] == 0.0
    order = world.sandbox.create_order(900001, status="READY_TO_SHIP")
    slot = world.sandbox.logistics.shipping_parameter(order, order.packages[0])["pickup"]["address_list"][0]
    choice = {"address_id": slot["address_id"], "pickup_time_id": slot["time_slot_list"][0]["pickup_time_id"]}
    world.sandbox.logistics.ship(order, order.packages[0], "pickup", choice)
    package = order.packages[0].package_number
    assert http.get("/sandbox/logistics/bookings").json() == {"bookings": {f"{order.order_sn}/{package}": 1}}
    picked = http.post(f"/sandbox/orders/{order.order_sn}/pickup", json={})
    assert picked.status_code == 200 and picked.json()["order_status"] == "SHIPPED"
    again = http.post(f"/sandbox/orders/{order.order_sn}/pickup", json={"package_number": package})
    assert again.status_code == 409
    moved = [http.post("/sandbox/logistics/advance", json={"order_sn": order.order_sn}).json()["moved"]]
    while moved[-1]:
        moved.append(http.post("/sandbox/logistics/advance", json={}).json()["moved"])
    assert moved == [1, 1, 1, 1, 1, 1, 0]  # hub, customs twice, out for delivery, delivered, completed
    tracking = http.get(f"/sandbox/orders/{order.order_sn}/tracking").json()["packages"][package]
    assert (
        tracking[0]["logistics_status"] == "ORDER_CREATED" and tracking[-1]["logistics_status"] == "DELIVERED"
    )
    assert http.post("/sandbox/logistics/advance", json={"beat": True}).json() == {"moved": None}
    auto = http.post("/sandbox/logistics/auto", json={"on": True, "pace_seconds": 0.5}).json()
    assert auto == {"running": True, "pace_seconds": 0.5, "create_orders": False, "shop_id": None}
    demo = http.post("/sandbox/demo", json={"on": True, "pace_seconds": 0.5, "shop_id": SHOP}).json()
    assert demo["create_orders"] is True and demo["shop_id"] == SHOP
    assert http.post("/sandbox/demo", json={"on": False}).json()["running"] is False


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/sandbox/logistics/settings", {"tracking_delay": -1}, 400),
        ("/sandbox/logistics/settings", {"teleport": True}, 400),
        ("/sandbox/logistics/settings", {"modes": ["carrier_pigeon"]}, 400),
        ("/sandbox/logistics/faults", {"lose_kinds": ["429"]}, 400),
        ("/sandbox/logistics/faults", {"fail_next": ["drop"]}, 400),
        ("/sandbox/logistics/advance", {"order_sn": "NOPE"}, 404),
        ("/sandbox/logistics/auto", {}, 400),
        ("/sandbox/logistics/auto", {"on": True, "pace_seconds": 0}, 400),
        ("/sandbox/demo", {"on": True, "shop_id": 42}, 409),
        ("/sandbox/orders/NOPE/pickup", {}, 404),
    ],
)
def test_impossible_logistics_controls_are_refused_with_a_reason(
    http: httpx.Client, path: str, body: dict[str, Any], status: int
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == status and answer.json()["error"]
