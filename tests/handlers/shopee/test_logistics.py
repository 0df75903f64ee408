"""Shopee logistics calls against the Shopee sandbox over real HTTP: arranging shipment,
tracking numbers, airway bills and tracking to delivery; "already arranged" and lost
answers book once; faults are retried; no secret reaches a log or a message."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.errors import MarketplaceError, RequestRejected
from handlers.shopee.client import ShopeeClient
from handlers.shopee.logistics import Dropoff, NonIntegrated, Pickup, ShippingParameter, ShopeeLogistics
from handlers.shopee.sandbox import LogisticsFaults, Order, SandboxClock, ShopeeSandbox, create_sandbox
from tests.live_server import serve

PARTNER_ID = 2001887
KEY = "shopee-partner-key-for-tests-0002"
SHOP = "680000123"
TOKEN = "6a55746e61546f707579627656637465"
NOW = 1_700_000_000

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Inbox:
    """The pushes the sandbox sent, as JSON objects."""

    bodies: list[dict[str, Any]] = field(default_factory=list)

    def statuses(self, order_sn: str) -> list[str]:
        return [
            p["data"]["status"] for p in self.bodies if p["code"] == 3 and p["data"]["ordersn"] == order_sn
        ]

    def tracking(self, order_sn: str) -> list[str]:
        return [
            p["data"]["tracking_no"]
            for p in self.bodies
            if p["code"] == 4 and p["data"]["ordersn"] == order_sn
        ]


class CountingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP, keeping the requests' URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return await super().handle_async_request(request)

    def calls(self, name: str) -> int:
        return sum(1 for url in self.urls if url.path.endswith(f"/{name}"))


@dataclass
class World:
    sandbox: ShopeeSandbox
    inbox: Inbox
    base: str
    transport: CountingTransport = field(default_factory=CountingTransport)

    def logistics(self, **options: Any) -> ShopeeLogistics:
        settings: dict[str, Any] = {"clock": self.sandbox.clock.now, "backoff": 0.001, "timeout": 5.0}
        settings.update(options)
        client = ShopeeClient(self.base, PARTNER_ID, KEY, transport=self.transport, **settings)
        return ShopeeLogistics(client)

    def order(self, packages: int = 1, shop: str = SHOP) -> Order:
        return self.sandbox.create_order(int(shop), status="READY_TO_SHIP", packages=packages)

    def pushes(self) -> Inbox:
        self.sandbox.pushes.drain_sync()
        return self.inbox


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[Inbox]]]:
    current = [Inbox()]

    async def push(request: Request) -> Response:
        current[0].bodies.append(orjson.loads(await request.body()))
        return Response(b"")

    with serve(Starlette(routes=[Route("/push", push, methods=["POST"])])) as base:
        yield base + "/push", current


@pytest.fixture
async def world(receiver: tuple[str, list[Inbox]]) -> AsyncIterator[World]:
    """The sandbox served; async so that its clients' transport is closed in the test's own
    event loop, before the loop goes (left open, its connections warn when collected)."""
    url, current = receiver
    current[0] = Inbox()
    app = create_sandbox(PARTNER_ID, KEY, push_url=url, seed=5, clock=SandboxClock(NOW))
    sandbox: ShopeeSandbox = app.state.sandbox
    sandbox.add_shop(int(SHOP), access_token=TOKEN)
    with serve(app) as base:
        world = World(sandbox, current[0], base)
        async with world.transport:
            yield world


def first_slot(parameter: ShippingParameter) -> Pickup:
    address = parameter.addresses[0]
    return Pickup(address.address_id, address.time_slots[0].pickup_time_id)


async def test_a_parcel_goes_from_shipping_parameter_to_delivered(world: World) -> None:
    order = world.order()
    sn, package = order.order_sn, order.packages[0].package_number
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    assert parameter.allows_pickup and parameter.allows_dropoff and not parameter.allows_non_integrated
    assert parameter.pickup == ("address_id", "pickup_time_id") and parameter.dropoff == ("branch_id",)
    assert "pickup_address" in parameter.addresses[0].flags and len(parameter.addresses[0].time_slots) == 3
    assert [b.branch_id for b in parameter.branches] == [7001, 7002]

    shipped = await logistics.ship_order(SHOP, TOKEN, sn, pickup=first_slot(parameter))
    assert (shipped.already, shipped.package_number) == (False, None) and shipped.request_id
    assert world.sandbox.logistics.bookings(sn) == 1 and order.order_status == "PROCESSED"
    number = await logistics.get_tracking_number(SHOP, TOKEN, sn, package)
    assert number is not None and number.startswith("SPXID")

    kinds = await logistics.get_shipping_document_parameter(SHOP, TOKEN, sn)
    assert (kinds.suggested, kinds.selectable) == (
        "THERMAL_AIR_WAYBILL",
        ("THERMAL_AIR_WAYBILL", "NORMAL_AIR_WAYBILL"),
    )
    # None asked for yet: Shopee answers common.batch_api_all_failed, the entry says why.
    assert await logistics.get_shipping_document_result(SHOP, TOKEN, sn) is None
    await logistics.create_shipping_document(SHOP, TOKEN, sn, tracking_number=number)
    assert await logistics.get_shipping_document_result(SHOP, TOKEN, sn) == "PROCESSING"
    world.sandbox.clock.advance(2)
    assert await logistics.get_shipping_document_result(SHOP, TOKEN, sn) == "READY"
    pdf = await logistics.download_shipping_document(SHOP, TOKEN, sn, package)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert sn.encode() in pdf and number.encode() in pdf
    assert_xref_points_at_objects(pdf)

    carrier = world.sandbox.logistics.carrier
    world.sandbox.clock.advance(600)
    carrier.pickup(sn)
    seen = [(await logistics.get_tracking_info(SHOP, TOKEN, sn, package)).logistics_status]
    while carrier.advance():
        world.sandbox.clock.advance(600)
        seen.append((await logistics.get_tracking_info(SHOP, TOKEN, sn, package)).logistics_status)
    assert seen[0] == "LOGISTICS_PICKUP_DONE" and seen[-1] == "LOGISTICS_DELIVERY_DONE"
    info = await logistics.get_tracking_info(SHOP, TOKEN, sn)
    assert (info.order_sn, info.package_number) == (sn, package)
    statuses = [c.logistics_status for c in info.checkpoints]
    assert statuses == [
        "ORDER_CREATED",
        "PICKED_UP",
        "PICKED_UP",
        "PICKED_UP",
        "DELIVERY_PENDING",
        "DELIVERED",
    ]
    times = [c.update_time for c in info.checkpoints]
    assert times == sorted(times) and "picked up" in info.checkpoints[1].description

    pushes = world.pushes()
    assert pushes.statuses(sn) == ["READY_TO_SHIP", "PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"]
    assert pushes.tracking(sn) == [number]


def assert_xref_points_at_objects(pdf: bytes) -> None:
    start = int(re.findall(rb"startxref\n(\d+)", pdf)[-1])
    assert pdf[start:].startswith(b"xref\n0 ")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n", pdf[start:])]
    assert offsets and all(pdf[o:].startswith(b"%d 0 obj" % n) for n, o in enumerate(offsets, start=1))


async def test_shipping_again_is_success_and_books_once(world: World) -> None:
    sn = world.order().order_sn
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    first = await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(branch_id=7002))
    again = await logistics.ship_order(SHOP, TOKEN, sn, pickup=first_slot(parameter))
    assert (first.already, again.already) == (False, True)
    assert world.sandbox.logistics.bookings(sn) == 1
    assert world.transport.calls("ship_order") == 2
    assert len(world.pushes().tracking(sn)) == 1


@pytest.mark.parametrize("lost", ["500", "drop", "hang"])
async def test_a_lost_answer_then_the_retry_books_once(world: World, lost: str) -> None:
    sn = world.order().order_sn
    world.sandbox.logistics.faults = LogisticsFaults(hang_seconds=0.6)
    world.sandbox.logistics.lose_next([lost])
    logistics = world.logistics(timeout=0.3)
    result = await logistics.ship_order(SHOP, TOKEN, sn, dropoff={"branch_id": 7001})
    assert result.already  # the first try booked; its answer never came; the retry was told so
    assert world.sandbox.logistics.bookings(sn) == 1
    assert world.transport.calls("ship_order") == 2


async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(world: World) -> None:
    sn, other = world.order().order_sn, world.order().order_sn
    world.sandbox.logistics.lose_next(["500"])
    logistics = world.logistics()
    result = await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001), idempotency_key="job-1:pkg")
    assert not result.already and world.sandbox.logistics.bookings(sn) == 1
    with pytest.raises(RequestRejected) as raised:  # the same key for another request
        await logistics.ship_order(SHOP, TOKEN, other, dropoff=Dropoff(7001), idempotency_key="job-1:pkg")
    assert raised.value.code == "error_param" and world.sandbox.logistics.bookings(other) == 0


async def test_faults_before_acting_are_retried_by_the_client(world: World) -> None:
    sn = world.order().order_sn
    desk = world.sandbox.logistics
    desk.faults = LogisticsFaults(hang_seconds=0.6)
    desk.fail_next(["500", "429", "hang"])
    logistics = world.logistics(timeout=0.3)
    result = await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
    assert not result.already and desk.bookings(sn) == 1
    assert world.transport.calls("ship_order") == 4


def draws(seed: int) -> list[tuple[str | None, str | None]]:
    desk = create_sandbox(PARTNER_ID, KEY, seed=seed).state.sandbox.logistics
    desk.faults = LogisticsFaults(rate=0.5, kinds=("500", "429"), lose_rate=0.3, lose_kinds=("drop", "hang"))
    return [(desk.next_fault(), desk.next_loss()) for _ in range(30)]


async def test_a_share_of_logistics_calls_fails_the_same_way_for_the_same_seed(world: World) -> None:
    assert draws(5) == draws(5) != draws(6)
    assert {f for f, _ in draws(5)} == {None, "500", "429"} and {lost for _, lost in draws(5)} >= {
        None,
        "drop",
    }
    desk = world.sandbox.logistics
    desk.faults = LogisticsFaults(rate=0.3, kinds=("500", "429"), lose_rate=0.3, lose_kinds=("500", "drop"))
    for _ in range(3):
        sn = world.order().order_sn
        result = await world.logistics(attempts=10).ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
        assert desk.bookings(sn) == 1 and result.order_sn == sn


async def test_package_numbers_go_to_split_orders_only(world: World) -> None:
    split, single = world.order(packages=2), world.order()
    logistics = world.logistics()
    with pytest.raises(RequestRejected) as raised:
        await logistics.ship_order(SHOP, TOKEN, split.order_sn, dropoff=Dropoff(7001))
    assert raised.value.code == "logistics.ship_order_need_pacakge_number"
    for package in split.packages:
        await logistics.ship_order(SHOP, TOKEN, split.order_sn, package.package_number, dropoff=Dropoff(7001))
    assert split.order_status == "PROCESSED" and world.sandbox.logistics.bookings(split.order_sn) == 2
    number = single.packages[0].package_number
    result = await logistics.ship_order(SHOP, TOKEN, single.order_sn, number, dropoff=Dropoff(7001))
    assert not result.already and world.sandbox.logistics.bookings(single.order_sn, number) == 1
    assert world.transport.calls("ship_order") == 1 + 2 + 2  # refused with the number, then without


async def test_the_tracking_number_is_empty_until_the_carrier_gives_one(world: World) -> None:
    world.sandbox.logistics.configure(tracking_delay=120)
    sn = world.order().order_sn
    logistics = world.logistics()
    assert await logistics.get_tracking_number(SHOP, TOKEN, sn) is None  # not arranged yet
    await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
    assert await logistics.get_tracking_number(SHOP, TOKEN, sn) is None
    assert world.pushes().tracking(sn) == []
    world.sandbox.clock.advance(120)
    number = await logistics.get_tracking_number(SHOP, TOKEN, sn)
    assert number and world.pushes().tracking(sn) == [number]


async def test_a_non_integrated_parcel_is_picked_up_at_once_under_the_sellers_number(world: World) -> None:
    world.sandbox.logistics.configure(modes=["non_integrated"])
    sn = world.order().order_sn
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    assert parameter.non_integrated == ("tracking_no",) and not parameter.allows_pickup
    with pytest.raises(RequestRejected) as raised:
        await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
    assert raised.value.code == "logistics.ship_order_unsupport_dropoff"
    await logistics.ship_order(SHOP, TOKEN, sn, non_integrated=NonIntegrated("JNE0001234"))
    assert await logistics.get_tracking_number(SHOP, TOKEN, sn) == "JNE0001234"
    info = await logistics.get_tracking_info(SHOP, TOKEN, sn)
    assert info.logistics_status == "LOGISTICS_PICKUP_DONE"
    assert world.pushes().statuses(sn) == ["READY_TO_SHIP", "PROCESSED", "SHIPPED"]


async def test_airway_bills_follow_shopees_rules(world: World) -> None:
    sn = world.order().order_sn
    logistics = world.logistics()
    with pytest.raises(RequestRejected) as raised:  # not arranged: nothing to print
        await logistics.create_shipping_document(SHOP, TOKEN, sn)
    assert raised.value.code == "logistics.order_status_error" and raised.value.status == 200
    with pytest.raises(RequestRejected) as raised:
        await logistics.download_shipping_document(SHOP, TOKEN, sn)
    assert raised.value.code == "logistics.shipping_document_should_print_first"
    await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
    with pytest.raises(RequestRejected) as raised:
        await logistics.create_shipping_document(SHOP, TOKEN, sn, tracking_number="SPXID000000000000")
    assert raised.value.code == "logistics.tracking_number_invalid"
    with pytest.raises(RequestRejected) as raised:  # not a type this package may have
        await logistics.create_shipping_document(SHOP, TOKEN, sn, document_type="THERMAL_UNPACKAGED_LABEL")
    assert raised.value.code == "logistics.shipping_document_type_invalid"
    world.sandbox.logistics.configure(fail_documents=True)
    await logistics.create_shipping_document(SHOP, TOKEN, sn, document_type="NORMAL_AIR_WAYBILL")
    with pytest.raises(RequestRejected) as raised:  # not READY yet
        await logistics.download_shipping_document(SHOP, TOKEN, sn, document_type="NORMAL_AIR_WAYBILL")
    assert raised.value.code == "logistics.download_later"
    world.sandbox.clock.advance(5)
    result = await logistics.get_shipping_document_result(SHOP, TOKEN, sn, document_type="NORMAL_AIR_WAYBILL")
    assert result == "FAILED"
    with pytest.raises(RequestRejected) as raised:
        await logistics.download_shipping_document(SHOP, TOKEN, sn, document_type="NORMAL_AIR_WAYBILL")
    assert raised.value.code == "logistics.package_print_failed"
    with pytest.raises(ValueError):
        await logistics.create_shipping_document(SHOP, TOKEN, sn, document_type="A4")


async def test_a_thermal_unpackaged_label_is_made_when_shopee_suggests_it(world: World) -> None:
    world.sandbox.logistics.configure(document_types=["THERMAL_UNPACKAGED_LABEL"])
    sn = world.order().order_sn
    logistics = world.logistics()
    await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
    kind = (await logistics.get_shipping_document_parameter(SHOP, TOKEN, sn)).suggested
    assert kind == "THERMAL_UNPACKAGED_LABEL"
    await logistics.create_shipping_document(SHOP, TOKEN, sn, document_type=kind)
    world.sandbox.clock.advance(2)
    assert await logistics.get_shipping_document_result(SHOP, TOKEN, sn, document_type=kind) == "READY"
    label = await logistics.download_shipping_document(SHOP, TOKEN, sn, document_type=kind)
    assert label.startswith(b"%PDF-") and b"THERMAL_UNPACKAGED_LABEL" in label


async def test_a_pickup_on_a_channel_without_time_slots_sends_no_slot(world: World) -> None:
    world.sandbox.logistics.configure(pickup_slots=False, modes=["pickup"])
    sn = world.order().order_sn
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    assert parameter.addresses and all(not a.time_slots for a in parameter.addresses)
    await logistics.ship_order(SHOP, TOKEN, sn, pickup=Pickup(parameter.addresses[0].address_id))
    assert world.sandbox.logistics.bookings(sn) == 1


@pytest.mark.parametrize(
    ("needs", "arguments", "code"),
    [
        ({"dropoff": ["sender_real_name"]}, {"dropoff": Dropoff()},
         "logistics.ship_order_need_sender_real_name"),
        ({"dropoff": ["tracking_no"]}, {"dropoff": Dropoff()}, "logistics.ship_order_need_tracking_number"),
        ({"dropoff": ["tracking_no", "sender_real_name"]}, {"dropoff": Dropoff()},
         "logistics.ship_order_invalid_job_param"),
        ({"pickup": ["address_id", "pickup_time_id", "tracking_number"]}, {"pickup": "slot"},
         "logistics.ship_order_need_tracking_number"),
        ({"non_integrated": ["tracking_no"]}, {"non_integrated": NonIntegrated()},
         "logistics.ship_order_need_tracking_number"),
        ({"dropoff": []}, {"dropoff": Dropoff(tracking_number="JNT123")}, "error_param"),
    ],
)  # fmt: skip
async def test_every_field_info_needed_lists_is_required(
    world: World, needs: dict[str, list[str]], arguments: dict[str, Any], code: str
) -> None:
    world.sandbox.logistics.configure(needs=needs, modes=list(needs))
    sn = world.order().order_sn
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    assert getattr(parameter, next(iter(needs))) == tuple(next(iter(needs.values())))
    if arguments.get("pickup") == "slot":
        arguments = {"pickup": first_slot(parameter)}
    with pytest.raises(RequestRejected) as raised:
        await logistics.ship_order(SHOP, TOKEN, sn, **arguments)
    assert raised.value.code == code and world.sandbox.logistics.bookings(sn) == 0


@pytest.mark.parametrize(
    ("needs", "arguments"),
    [
        ({"dropoff": ["sender_real_name"]}, {"dropoff": Dropoff(sender_real_name="Tan Ah Kow")}),
        ({"dropoff": ["tracking_no", "sender_real_name"]}, {"dropoff": Dropoff(tracking_number="JNT123")}),
        ({"dropoff": ["slug"]}, {"dropoff": Dropoff(slug="SPX_TW")}),
        ({"pickup": ["address_id", "pickup_time_id", "tracking_number"]}, {"pickup": "slot"}),
        ({"non_integrated": []}, {"non_integrated": NonIntegrated()}),
    ],
)
async def test_a_mode_with_the_fields_it_needs_is_booked(
    world: World, needs: dict[str, list[str]], arguments: dict[str, Any]
) -> None:
    world.sandbox.logistics.configure(needs=needs, modes=list(needs))
    sn = world.order().order_sn
    logistics = world.logistics()
    parameter = await logistics.get_shipping_parameter(SHOP, TOKEN, sn)
    if arguments.get("pickup") == "slot":
        slot = first_slot(parameter)
        arguments = {"pickup": Pickup(slot.address_id, slot.pickup_time_id, "SPXID00000001")}
    await logistics.ship_order(SHOP, TOKEN, sn, **arguments)
    assert world.sandbox.logistics.bookings(sn) == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"shop": "680000999"}, "error_auth"),  # "Invalid partner_id or shopid."
        ({"token": "0" * 32}, "error_auth"),  # "Invalid access_token."
        ({"pickup": Pickup(4001, "123")}, "logistics.ship_order_pickup_time_invalid"),
        ({"pickup": Pickup(4001)}, "logistics.ship_order_need_address_pickup_time"),
        ({"pickup": Pickup(9, "123")}, "logistics.address_not_found"),
        ({"dropoff": Dropoff(branch_id=1)}, "error_param"),
        ({"dropoff": Dropoff()}, "logistics.ship_order_need_branch_id"),
        ({"order_sn": "NOSUCHORDER"}, "logistics.error_order_not_found"),
    ],
)
async def test_ship_order_is_checked_as_shopee_checks_it(
    world: World, change: dict[str, Any], code: str
) -> None:
    order = world.order()
    arguments: dict[str, Any] = {"dropoff": Dropoff(7001)}
    if "pickup" in change:
        arguments = {"pickup": change["pickup"]}
    if "dropoff" in change:
        arguments = {"dropoff": change["dropoff"]}
    shop, token = change.get("shop", SHOP), change.get("token", TOKEN)
    sn = change.get("order_sn", order.order_sn)
    with pytest.raises(MarketplaceError) as raised:
        await world.logistics().ship_order(shop, token, sn, **arguments)
    assert raised.value.code == code
    assert world.sandbox.logistics.bookings(order.order_sn) == 0


async def test_an_unpaid_or_cancelled_order_cannot_be_shipped(world: World) -> None:
    unpaid = world.sandbox.create_order(int(SHOP)).order_sn
    cancelled = world.sandbox.create_order(int(SHOP), status="CANCELLED").order_sn
    logistics = world.logistics()
    for sn, code in (
        (unpaid, "logistics.ship_order_not_ready_to_ship"),
        (cancelled, "logistics.error_order_state"),
    ):
        with pytest.raises(RequestRejected) as raised:
            await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001))
        assert raised.value.code == code
    with pytest.raises(ValueError, match="exactly one"):
        await logistics.ship_order(SHOP, TOKEN, unpaid, dropoff=Dropoff(7001), pickup=Pickup(4001, "1"))


async def test_no_token_key_or_sign_reaches_a_log_record_or_an_error_message(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sn = world.order().order_sn
    world.sandbox.logistics.fail_next(["500"])
    world.sandbox.logistics.lose_next(["500"])
    logistics = world.logistics()
    errors: list[MarketplaceError] = []
    await logistics.ship_order(SHOP, TOKEN, sn, dropoff=Dropoff(7001), idempotency_key="k-1")
    await logistics.get_tracking_info(SHOP, TOKEN, sn)
    for token in (TOKEN + "x", TOKEN):
        try:
            await logistics.create_shipping_document(SHOP, token, sn, tracking_number="nope")
        except MarketplaceError as exc:
            errors.append(exc)
    assert len(errors) == 2
    signs = [parse_qs(u.query.decode())["sign"][0] for u in world.transport.urls]
    texts = [r.getMessage() for r in caplog.records] + [caplog.text]
    texts += [text for e in errors for text in (str(e), repr(e), e.message)]
    assert any(r.name == "orderwatch.shopee" for r in caplog.records)  # the retries were logged
    for secret in (KEY, TOKEN, *signs):
        assert all(secret not in text for text in texts), secret


async def test_an_airway_bill_task_answered_without_a_result_list_is_taken() -> None:
    bodies = [b'{"error":"","message":"","request_id":"r"}', b'{"error":"","message":"","response":{}}']
    for body in bodies:
        transport = httpx.MockTransport(lambda request, body=body: httpx.Response(200, content=body))
        async with ShopeeClient("http://shopee.test", PARTNER_ID, KEY, transport=transport) as client:
            await ShopeeLogistics(client).create_shipping_document(SHOP, TOKEN, "2311148GSS8GBB")
