"""Shopee's logistics calls fed Shopee's own published samples (the corpus), not the sandbox.

Each call of :class:`handlers.shopee.logistics.ShopeeLogistics` is answered, through an
``httpx.MockTransport``, with every published success sample and every error example of its
API (tests/conformance/samples/shopee/v2.logistics.*.json, from lazykern/ecommerce-api-docs);
what it reads must equal the sample, an error must become the right :mod:`handlers.errors`
class with Shopee's name, and the request it sends must use the published method, path and
field names (required ones present). Ids in a sample are used as they are, or put into the
request, never changed in shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from handlers.errors import MarketplaceError, RequestRejected
from handlers.shopee.client import ShopeeClient
from handlers.shopee.handover import Unmet, choose
from handlers.shopee.logistics import Dropoff, Pickup, ShopeeLogistics
from handlers.shopee.tracking import Point, checkpoint_events
from tests.conformance import corpus

pytestmark = pytest.mark.anyio

PARTNER, KEY, SHOP, TOKEN = 2001887, "conformance-partner-key-0001", "680000123", "conformance-token-0001"
SIGNED = {"partner_id", "timestamp", "sign", "access_token", "shop_id"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Shopee:
    """Answers every call with one prepared answer and keeps the requests."""

    def __init__(self, api: str, answer: Any, *, status: int = 200, content: bytes | None = None) -> None:
        self.entry = corpus.shopee(api)
        self.body = content if content is not None else orjson.dumps(answer)
        self.status = status
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        kind = "application/pdf" if self.body.startswith(b"%PDF") else "application/json"
        return httpx.Response(self.status, content=self.body, headers={"Content-Type": kind})

    async def run(self, call: Callable[[ShopeeLogistics], Awaitable[Any]]) -> Any:
        transport = httpx.MockTransport(self.handle)
        async with ShopeeClient(
            "http://shopee.test", PARTNER, KEY, transport=transport, attempts=1
        ) as client:
            return await call(ShopeeLogistics(client))

    def sent(self) -> dict[str, Any]:
        """The one request's arguments, checked against the published request field table."""
        [request] = self.requests
        assert (request.method, request.url.path) == (self.entry["method"], self.entry["path"])
        if request.method == "GET":
            args: dict[str, Any] = {k: v for k, v in request.url.params.items() if k not in SIGNED}
        else:
            args = orjson.loads(request.content)
        check_fields(args, self.entry["request_fields"], self.entry["api_name"])
        return args


def check_fields(value: dict[str, Any], table: list[dict[str, Any]], where: str) -> None:
    """Every field sent is in the table; every required one is sent; nested objects too."""
    known = {f["name"]: f for f in table}
    assert set(value) <= set(known), f"{where}: not in the reference: {set(value) - set(known)}"
    missing = [name for name, f in known.items() if f["required"] is True and name not in value]
    assert not missing, f"{where}: required fields not sent: {missing}"
    for name, item in value.items():
        children = known[name]["children"]
        for each in item if isinstance(item, list) else [item]:
            if children and isinstance(each, dict):
                check_fields(each, children, f"{where}.{name}")


def error_cases(api: str) -> list[Any]:
    return [pytest.param(doc, id=str(doc["error"])) for doc in corpus.error_examples("shopee", api)]


async def rejected(
    api: str, doc: dict[str, Any], call: Callable[[ShopeeLogistics], Awaitable[Any]]
) -> RequestRejected:
    shopee = Shopee(api, doc)
    with pytest.raises(RequestRejected) as raised:
        await shopee.run(call)
    shopee.sent()
    return raised.value


# -- get_shipping_parameter ---------------------------------------------------------------

PARAMETER = "v2.logistics.get_shipping_parameter"


async def test_the_shipping_parameter_sample_is_read_as_published() -> None:
    sample = corpus.response_sample("shopee", PARAMETER)
    shopee = Shopee(PARAMETER, sample)
    parameter = await shopee.run(lambda lg: lg.get_shipping_parameter(SHOP, TOKEN, "201212DCXHJUIKJ"))
    assert shopee.sent() == {"order_sn": "201212DCXHJUIKJ"}
    published = sample["response"]
    assert parameter.pickup == tuple(published["info_needed"]["pickup"])
    assert parameter.dropoff == () and parameter.non_integrated is None  # "dropoff": [] and null
    addresses = published["pickup"]["address_list"]
    assert [a.address_id for a in parameter.addresses] == [a["address_id"] for a in addresses]
    assert [list(a.flags) for a in parameter.addresses] == [a["address_flag"] for a in addresses]
    assert [a.zipcode for a in parameter.addresses] == [a["zipcode"] for a in addresses]
    assert all(a.time_slots == () for a in parameter.addresses)  # "time_slot_list": null
    assert parameter.branches == () and parameter.slugs == ()


async def test_the_sample_packages_pickup_is_arranged_without_a_time_slot() -> None:
    # time_slot_list null: "sellers can arrange shipment without selecting any time slot".
    sample = corpus.response_sample("shopee", PARAMETER)
    parameter = await Shopee(PARAMETER, sample).run(lambda lg: lg.get_shipping_parameter(SHOP, TOKEN, "X1"))
    way = choose(parameter)
    assert way == Pickup(address_id=123)  # the address flagged pickup_address
    ship = Shopee(SHIP, corpus.response_sample("shopee", SHIP))
    await ship.run(lambda lg: lg.ship_order(SHOP, TOKEN, "X1", pickup=way))
    assert ship.sent() == {"order_sn": "X1", "pickup": {"address_id": 123}}


@pytest.mark.parametrize("doc", error_cases(PARAMETER))
async def test_the_shipping_parameter_error_examples_are_rejections(doc: dict[str, Any]) -> None:
    error = await rejected(PARAMETER, doc, lambda lg: lg.get_shipping_parameter(SHOP, TOKEN, "NOPE"))
    assert (error.code, error.request_id) == (doc["error"], doc["request_id"])


# -- ship_order ---------------------------------------------------------------------------

SHIP = "v2.logistics.ship_order"


async def test_a_ship_order_sample_answer_is_a_booking_and_the_body_is_the_published_one() -> None:
    sample = corpus.response_sample("shopee", SHIP)
    shopee = Shopee(SHIP, sample)
    request = corpus.shopee(SHIP)["request_samples"][0]["json"]
    pickup = Pickup(11, "1639472400", "SPX0000001")
    result = await shopee.run(lambda lg: lg.ship_order(SHOP, TOKEN, request["order_sn"], pickup=pickup))
    assert (result.already, result.request_id) == (False, sample["request_id"])
    sent = shopee.sent()
    # The published request has the same fields (its empty package_number is what Shopee says
    # never to send: "You should't fill the field with empty string").
    assert set(sent["pickup"]) == set(request["pickup"]) and "package_number" not in sent


@pytest.mark.parametrize("doc", error_cases(SHIP))
async def test_the_ship_order_error_examples_are_rejections(doc: dict[str, Any]) -> None:
    error = await rejected(SHIP, doc, lambda lg: lg.ship_order(SHOP, TOKEN, "X1", dropoff=Dropoff()))
    assert (error.code, error.message) == (doc["error"], f"ship_order: {doc['message']}")


async def test_the_sender_real_name_example_is_what_the_handover_avoids() -> None:
    # The example says sender_real_name "can not be null": a drop-off listing it is not
    # chosen without one, and the reason is given.
    parameter = corpus.response_sample("shopee", PARAMETER)
    parameter["response"]["info_needed"] = {"dropoff": ["sender_real_name"]}
    parsed = await Shopee(PARAMETER, parameter).run(lambda lg: lg.get_shipping_parameter(SHOP, TOKEN, "X1"))
    way = choose(parsed)
    assert isinstance(way, Unmet) and "sender's real name" in way.reason
    assert choose(parsed, sender_real_name="Tan Ah Kow") == Dropoff(sender_real_name="Tan Ah Kow")


ALREADY = [
    e
    for e in corpus.shopee(SHIP)["error_list"]
    if e["name"].strip() == "logistics.package_already_shipped"
    or e["description"] == "Order has been shipped."
]


@pytest.mark.parametrize("listed", ALREADY, ids=[e["name"].strip() for e in ALREADY])
async def test_the_listed_already_arranged_errors_count_as_booked(listed: dict[str, str]) -> None:
    doc = {"error": listed["name"], "message": listed["description"], "request_id": "r-1"}
    shopee = Shopee(SHIP, doc)
    result = await shopee.run(lambda lg: lg.ship_order(SHOP, TOKEN, "X1", dropoff=Dropoff(7)))
    assert result.already and result.request_id == "r-1"
    assert len(ALREADY) == 2  # the name (published with a leading space) and the message form


# -- get_tracking_number ------------------------------------------------------------------

NUMBER = "v2.logistics.get_tracking_number"


async def test_the_tracking_number_sample_is_read() -> None:
    sample = corpus.response_sample("shopee", NUMBER)
    shopee = Shopee(NUMBER, sample)
    number = await shopee.run(lambda lg: lg.get_tracking_number(SHOP, TOKEN, "X1", "P1"))
    assert number == sample["response"]["tracking_number"]
    assert shopee.sent() == {"order_sn": "X1", "package_number": "P1"}


async def test_an_empty_tracking_number_means_not_yet() -> None:
    # "The api response can return tracking_number empty ... keep calling".
    sample = corpus.response_sample("shopee", NUMBER)
    sample["response"]["tracking_number"] = ""
    assert await Shopee(NUMBER, sample).run(lambda lg: lg.get_tracking_number(SHOP, TOKEN, "X1")) is None


@pytest.mark.parametrize("doc", error_cases(NUMBER))
async def test_the_tracking_number_error_examples_are_rejections(doc: dict[str, Any]) -> None:
    error = await rejected(NUMBER, doc, lambda lg: lg.get_tracking_number(SHOP, TOKEN, "X1"))
    assert error.code == doc["error"]


KINDS = "v2.logistics.get_shipping_document_parameter"
CREATE = "v2.logistics.create_shipping_document"
RESULT = "v2.logistics.get_shipping_document_result"
DOWNLOAD = "v2.logistics.download_shipping_document"

# (The document calls' samples: tests/conformance/test_shopee_document_samples.py.)

# -- get_tracking_info ------------------------------------------------------------------------

TRACKING = "v2.logistics.get_tracking_info"


async def test_the_tracking_info_sample_is_read_in_its_order() -> None:
    sample = corpus.response_sample("shopee", TRACKING)
    published = sample["response"]
    shopee = Shopee(TRACKING, sample)
    info = await shopee.run(lambda lg: lg.get_tracking_info(SHOP, TOKEN, published["order_sn"], "P1"))
    assert shopee.sent() == {"order_sn": published["order_sn"], "package_number": "P1"}
    assert (info.order_sn, info.package_number, info.logistics_status) == (
        published["order_sn"], "P1", published["logistics_status"]
    )  # fmt: skip
    # Oldest first, as published (two checkpoints share a second: their order is kept).
    assert [(c.update_time, c.description, c.logistics_status) for c in info.checkpoints] == [
        (t["update_time"], t["description"], t["logistics_status"]) for t in published["tracking_info"]
    ]


async def test_the_tracking_info_samples_failed_delivery_is_no_attempt_to_retry() -> None:
    sample = corpus.response_sample("shopee", TRACKING)
    info = await Shopee(TRACKING, sample).run(lambda lg: lg.get_tracking_info(SHOP, TOKEN, "X1", "P1"))
    points = [Point(c.update_time, c.description, c.logistics_status) for c in info.checkpoints]
    events = checkpoint_events(SHOP, "X1", "P1", "ready_for_pickup", points)
    assert [(e.kind.value, e.status) for e in events] == [
        ("package_status", "LOGISTICS_PICKUP_DONE"),
        ("package_status", "LOGISTICS_DELIVERY_FAILED"),  # the status map decides: the order is cancelled
    ]


@pytest.mark.parametrize("doc", error_cases(TRACKING))
async def test_the_tracking_info_error_examples_are_rejections(doc: dict[str, Any]) -> None:
    error = await rejected(TRACKING, doc, lambda lg: lg.get_tracking_info(SHOP, TOKEN, "X1"))
    assert error.code == doc["error"]


# -- coverage -------------------------------------------------------------------------------------


def test_every_logistics_call_is_in_the_corpus_with_its_method() -> None:
    from handlers.shopee import logistics

    paths = {v for k, v in vars(logistics).items() if k.endswith("_PATH") and isinstance(v, str)}
    entries = corpus.by_path("shopee")
    assert paths <= set(entries), paths - set(entries)
    for path in paths:
        assert entries[path]["response_samples"], path
    assert {entries[p]["api_name"] for p in paths} == {
        PARAMETER,
        SHIP,
        NUMBER,
        KINDS,
        CREATE,
        RESULT,
        DOWNLOAD,
        TRACKING,
    }


def test_the_document_types_are_the_published_ones() -> None:
    from handlers.shopee.logistics import DOCUMENT_TYPES

    for api in (CREATE, RESULT, DOWNLOAD):
        [field] = [
            f for f in walk(corpus.shopee(api)["request_fields"]) if f["name"] == "shipping_document_type"
        ]
        published = {
            t.strip()
            for t in field["description"]
            .split("Available values:")[1]
            .replace("&nbsp;", " ")
            .replace("</p>", "")
            .split(",")
        }
        assert set(DOCUMENT_TYPES) == published, api


def walk(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for field in table for f in (field, *walk(field["children"]))]


def test_marketplace_errors_are_not_swallowed_by_the_batch_reading() -> None:
    assert issubclass(RequestRejected, MarketplaceError)
