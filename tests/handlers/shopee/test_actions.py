"""Arrange shipment and tracking, end to end over real HTTP: the sandbox plays Shopee, the
service receives its pushes, the outbox books, labels and tracks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from handlers.shopee.actions import address_problem
from handlers.shopee.handover import Unmet, advance_fulfilment, choose
from handlers.shopee.logistics import (
    Dropoff,
    DropoffBranch,
    NonIntegrated,
    Pickup,
    PickupAddress,
    ShippingParameter,
    TimeSlot,
)
from handlers.shopee.sandbox import ShopeeSandbox
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.outbox import jobs
from tests.factories import command_event
from tests.live_server import serve
from tests.shopee_world import sandbox_settings, start_sandbox

PARTNER, KEY, SHOP, TOKEN = 2001234, "sandbox-partner-key-actions", 680000123, "actions-token"


@dataclass
class World:
    sandbox: ShopeeSandbox
    client: httpx.Client
    db: Database

    def order(self, order_sn: str) -> dict[str, Any]:
        answer = self.client.get(f"/v1/orders/shopee/{order_sn}")
        return answer.json() if answer.status_code == 200 else {}

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {jobs(self.db)[:3]}"
            time.sleep(0.05)

    def ready_to_ship(self, order_sn: str) -> None:
        """The seller's warehouse steps, as operator commands."""
        self.wait("the paid order", lambda: self.order(order_sn).get("state") == "approved")
        steps = ["start_picking", "pack", "mark_ready"]
        ingest(self.db, [command_event(order_sn, s, 10**9 + i) for i, s in enumerate(steps)])


@pytest.fixture
def world(db: Database, database_url: str) -> Iterator[World]:
    with ExitStack() as stack:
        sandbox, api = start_sandbox(stack, db, partner=PARTNER, key=KEY, shop=SHOP, token=TOKEN, seed=21)
        # A failing call is retried 10 ms later, not 0.5 s: no test here is about the pacing.
        settings = sandbox_settings(
            database_url, partner=PARTNER, key=KEY, api=api, tracking_seconds=0.2, api_backoff_seconds=0.01
        )
        base = stack.enter_context(serve(create_app(settings, db)))
        sandbox.pushes.url = base + "/webhooks/shopee"
        yield World(sandbox, stack.enter_context(httpx.Client(base_url=base, timeout=30)), db)


def test_an_order_made_ready_to_ship_is_booked_labelled_and_tracked_to_delivered(world: World) -> None:
    order = world.sandbox.create_order(SHOP, order_sn="2511ARR0001", status="READY_TO_SHIP")
    number = order.packages[0].package_number
    world.ready_to_ship(order.order_sn)

    def ready() -> bool:
        packages = world.order(order.order_sn).get("packages", [])
        return bool(packages) and packages[0]["state"] == "ready_for_pickup"

    def labelled() -> bool:
        return world.client.get(f"/v1/packages/shopee/{number}/airway-bill").status_code == 200

    world.wait("the booking", ready)
    world.wait("the airway bill", labelled)
    package = world.order(order.order_sn)["packages"][0]
    assert package["package_id"] == number
    assert package["tracking_number"] == world.sandbox.order(order.order_sn).packages[0].tracking_no
    bill = world.client.get(f"/v1/packages/shopee/{number}/airway-bill")
    assert bill.status_code == 200 and bill.content.startswith(b"%PDF-")
    assert bill.headers["content-type"] == "application/pdf"

    world.sandbox.logistics.carrier.pickup(order.order_sn)
    for _ in range(12):
        world.sandbox.logistics.carrier.advance(order.order_sn)

    def delivered() -> bool:
        found = world.order(order.order_sn)
        return found.get("state") == "delivered" and found["packages"][0]["state"] == "delivered"

    world.wait("delivery", delivered)
    final = world.order(order.order_sn)["packages"][0]
    assert final["state"] == "delivered" and final["checkpoints"], final
    assert world.sandbox.logistics.bookings(order.order_sn, number) == 1


def test_a_missing_address_holds_the_package_with_an_alert_and_books_nothing(world: World) -> None:
    order = world.sandbox.create_order(SHOP, order_sn="2511ARR0002", status="READY_TO_SHIP")
    order.recipient_address["full_address"] = ""
    world.ready_to_ship(order.order_sn)

    def held() -> bool:
        packages = world.order(order.order_sn).get("packages", [])
        return bool(packages) and packages[0]["state"] == "on_hold"

    world.wait("the hold", held)
    alerts = world.client.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
    assert any(a["order_id"] == order.order_sn and a["kind"] == "exception_state" for a in alerts)
    assert world.sandbox.logistics.bookings(order.order_sn, order.packages[0].package_number) == 0


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        (None, "no recipient address"),
        ({"name": "A", "phone": "6591234567", "full_address": ""}, "lacks full_address"),
        ({"name": "A", "phone": "12", "full_address": "1 Road"}, "phone number is malformed"),
        ({"name": "A", "phone": "6591234567", "full_address": "1 Road", "zipcode": "23#8"}, "zipcode"),
        ({"name": "A", "phone": "+65 9123 4567", "full_address": "1 Road", "zipcode": "238859"}, None),
        ({"name": "P******n", "phone": "******64", "full_address": "1 Road", "zipcode": "****9"}, None),
    ],
)
def test_address_validation_names_the_problem(address: object, problem: str | None) -> None:
    found = address_problem(address)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_jobs_with_their_tries_and_errors_are_visible_over_http(world: World) -> None:
    order = world.sandbox.create_order(SHOP, order_sn="2511ARR0003", status="READY_TO_SHIP")
    world.sandbox.logistics.fail_next(["500"] * 8)  # the first try fails through all its retries
    world.ready_to_ship(order.order_sn)

    def tried() -> bool:
        found = world.client.get("/v1/jobs").json()["jobs"]
        return any(j["kind"] == "arrange_shipment" and j["last_error"] for j in found) or any(
            j["kind"] == "arrange_shipment" and j["state"] == "done" for j in found
        )

    world.wait("a try", tried)
    answer = world.client.get("/v1/jobs", params={"state": "nonsense"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_query"
    [job] = [j for j in world.client.get("/v1/jobs").json()["jobs"] if j["kind"] == "arrange_shipment"]
    assert job["order_id"] == order.order_sn and job["attempts"] >= 1


def test_a_shop_without_warehouse_steps_has_its_orders_arranged_once_paid(
    world: World, database_url: str
) -> None:
    from tests.service.test_cli import run

    result = run("shops", "arrange-at", str(SHOP), "approved", url=database_url)
    assert result.returncode == 0, result.stderr
    order = world.sandbox.create_order(SHOP, order_sn="2511ARR0004", status="READY_TO_SHIP")
    number = order.packages[0].package_number

    def labelled() -> bool:
        return world.client.get(f"/v1/packages/shopee/{number}/airway-bill").status_code == 200

    world.wait("the booking without warehouse steps", labelled)
    assert world.sandbox.logistics.bookings(order.order_sn, number) == 1
    assert world.order(order.order_sn)["packages"][0]["tracking_number"]


def parameter(**needs: tuple[str, ...] | None) -> ShippingParameter:
    slots = (TimeSlot("1", 1), TimeSlot("2", 2, flags=("recommended",)))
    address = PickupAddress(4001, "12 Kallang Avenue", "", "339511", ("pickup_address",), slots)
    modes = {"pickup": None, "dropoff": None, "non_integrated": None, **needs}
    return ShippingParameter(
        addresses=(address,), branches=(DropoffBranch(7001, "", "", ""),), slugs=("SPX_TW",), **modes
    )


@pytest.mark.parametrize(
    ("offered", "known", "way"),
    [
        ({"pickup": ("address_id", "pickup_time_id")}, {}, Pickup(4001, "2")),  # the recommended slot
        ({"pickup": ("address_id", "pickup_time_id", "tracking_number")}, {"tracking_number": "T1"},
         Pickup(4001, "2", "T1")),
        ({"pickup": ("address_id", "pickup_time_id", "tracking_number")}, {}, "carrier's tracking number"),
        ({"dropoff": ("branch_id", "slug")}, {}, Dropoff(branch_id=7001, slug="SPX_TW")),
        ({"dropoff": ("tracking_no", "sender_real_name")}, {"sender_real_name": "Tan"},
         Dropoff(sender_real_name="Tan")),
        ({"dropoff": ("tracking_no", "sender_real_name")},
         {"tracking_number": "T1", "sender_real_name": "Tan"}, Dropoff(tracking_number="T1")),
        ({"dropoff": ("sender_real_name",)}, {}, "sender's real name"),
        ({"non_integrated": ("tracking_no",)}, {"tracking_number": "JNE1"}, NonIntegrated("JNE1")),
        ({"non_integrated": ()}, {}, "tracking number is not known"),
        ({"pickup": ("address_id", "pickup_time_id", "tracking_number"), "dropoff": ()}, {}, Dropoff()),
    ],
)  # fmt: skip
def test_the_handover_fills_every_field_info_needed_lists_or_says_why_not(
    offered: dict[str, tuple[str, ...]], known: dict[str, str], way: object
) -> None:
    chosen = choose(parameter(**offered), **known)
    if isinstance(way, str):
        assert isinstance(chosen, Unmet) and way in chosen.reason
    else:
        assert chosen == way


@pytest.mark.parametrize(
    ("detail", "advance"),
    [({"advance_package": True}, True), ({"booking_sn": "BK123"}, True), ({"advance_package": False}, False),
     ({"booking_sn": ""}, False), ({}, False)],
)  # fmt: skip
def test_an_order_from_advance_stock_is_not_for_the_seller_to_arrange(
    detail: dict[str, Any], advance: bool
) -> None:
    assert advance_fulfilment(detail) is advance
