"""The Shopee client's order, shop, token and lost-push calls fed Shopee's published samples.

Each published success sample (tests/conformance/samples/shopee/<api>.json) is answered through
``httpx.MockTransport`` and must read as orderwatch needs it; each published error example, and
every (name, description) of each call's error list, must end in the right branch of
:mod:`handlers.errors`: authorization, rate limit, unavailable (retried) or rejected. The table of
those outcomes is written here by hand from the descriptions, so an error the corpus gains that
nobody has judged fails :func:`test_every_listed_error_has_been_judged`.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from handlers.errors import (
    AuthenticationFailed,
    MarketplaceError,
    MarketplaceUnavailable,
    RateLimited,
    RequestRejected,
)
from handlers.shopee.actions import address_problem
from handlers.shopee.client import ShopeeClient
from handlers.shopee.lost_pushes import get_lost_pushes
from handlers.shopee.orders import detail_events
from statemachines.events import EventKind
from tests.conformance import corpus

PARTNER, KEY = 2001887, "conformance-partner-key-0001"
SHOP, TOKEN = "322300222", "conformance-access-token"
CALLS = (
    "v2.order.get_order_list",
    "v2.order.get_order_detail",
    "v2.shop.get_shop_info",
    "v2.public.refresh_access_token",
    "v2.push.get_lost_push_message",
    "v2.push.confirm_consumed_lost_push_message",
)
AUTH, LIMIT, DOWN, REJECTED = AuthenticationFailed, RateLimited, MarketplaceUnavailable, RequestRejected
# What each listed error is, read from its description. error_param is a wrong parameter except
# where it says the partner id is wrong: configuration, as error_auth is.
JUDGED: dict[str, type[MarketplaceError]] = {
    "error_not_found": REJECTED,
    "error_param": REJECTED,
    "error_param Invalid partner_id.": AUTH,
    "error_permission": AUTH,  # "Sorry you don't have the permission"
    "error_server": DOWN,  # "System error. Please try again later."
    "order.order_list_invalid_time": REJECTED,
    "error_auth": AUTH,
    "error_sign": AUTH,
    "error_network": DOWN,  # "Inner http call failed"
    "error_data": REJECTED,  # "parse data failed", "data not exist"
    "error_shop": AUTH,  # "shopid is invalid"
    "error_not_exists": REJECTED,  # "The user does not exist."
    "merchant_access_expired": AUTH,
    "merchant_no_linked": AUTH,
    "error_merchant_refresh_token": AUTH,
    "shop_banned": AUTH,  # "Permissions for shop authorization and API calls have been suspended"
    "refresh_token_expired": AUTH,
    "shop_access_expired": AUTH,
    "shop_no_linked": AUTH,
    "error_shop_refresh_token": AUTH,
    "supplier_access_expired": AUTH,
    "supplier_no_linked": AUTH,
}

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_of(answer: Any, seen: list[httpx.Request] | None = None) -> ShopeeClient:
    """A client whose every call is answered ``answer`` (JSON), recording the requests."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, json=answer)

    transport = httpx.MockTransport(handler)
    return ShopeeClient("http://shopee.test", PARTNER, KEY, transport=transport, attempts=2, backoff=0)


async def call(name: str, client: ShopeeClient) -> Any:
    """Make the client call that speaks ``name``."""
    if name == "v2.order.get_order_list":
        return await client.get_order_list(SHOP, TOKEN, time_from=1_700_000_000, time_to=1_700_086_400)
    if name == "v2.order.get_order_detail":
        return await client.get_order_detail(SHOP, TOKEN, ["2404098R48U37H"])
    if name == "v2.shop.get_shop_info":
        return await client.get_shop_relation(SHOP, TOKEN)
    if name == "v2.public.refresh_access_token":
        return await client.refresh_access_token(SHOP, "4c7259534969484e71734d695a6e6d55")
    if name == "v2.push.get_lost_push_message":
        return await get_lost_pushes(client)
    await client.call("POST", "/api/v2/push/confirm_consumed_lost_push_message", body={"last_message_id": 1})
    return None


# -- success samples -------------------------------------------------------------------------------


async def test_the_published_order_list_is_one_page_with_its_cursor() -> None:
    seen: list[httpx.Request] = []
    async with client_of(corpus.response_sample("shopee", "v2.order.get_order_list"), seen) as client:
        page = await call("v2.order.get_order_list", client)
    assert page.order_sns[:2] == ["201218V2Y6E59M", "201218V2W2SG1E"] and len(page.order_sns) == 10
    assert (page.more, page.next_cursor) == (True, "20")
    assert set(page.status_of().values()) == {None}, "no order_status asked back: details are fetched"
    [request] = seen
    assert request.url.path == corpus.shopee("v2.order.get_order_list")["path"]
    required = {
        f["name"]
        for f in corpus.shopee("v2.order.get_order_list")["request_fields"]
        if f["required"] == "True"
    }
    assert required <= set(request.url.params)


async def test_the_published_order_detail_reads_its_package_and_keeps_the_masked_address() -> None:
    sample = corpus.response_sample("shopee", "v2.order.get_order_detail")
    async with client_of(sample) as client:
        [detail] = await call("v2.order.get_order_detail", client)
    published = sample["response"]["order_list"][0]
    assert (detail.order_sn, detail.order_status) == ("2404098R48U37H", "COMPLETED")
    assert (detail.update_time, detail.create_time, detail.ship_by_date) == (
        1713139948,
        1712601591,
        1712671200,
    )
    [package] = detail.packages
    assert (package.package_number, package.logistics_status) == (
        "OFG166300791210964",
        "LOGISTICS_DELIVERY_DONE",
    )
    assert package.shipping_carrier == "5-Day Delivery (SPX)"
    assert detail.raw["recipient_address"] == published["recipient_address"], "masked as Shopee sends it"
    events = detail_events("322300222", detail, detail.raw)
    assert [(e.kind, e.status) for e in events] == [
        (EventKind.ORDER_STATUS, "COMPLETED"),
        (EventKind.PACKAGE_STATUS, "LOGISTICS_DELIVERY_DONE"),
    ]


async def test_an_order_detail_without_the_optional_fields_still_reads() -> None:
    sample = corpus.response_sample("shopee", "v2.order.get_order_detail")
    order = sample["response"]["order_list"][0]
    by_default = {"order_sn", "region", "currency", "cod", "order_status", "create_time", "update_time",
                  "days_to_ship", "ship_by_date", "message_to_seller"}  # fmt: skip
    sample["response"]["order_list"][0] = {k: v for k, v in order.items() if k in by_default}
    async with client_of(sample) as client:
        [detail] = await call("v2.order.get_order_detail", client)
    assert (detail.order_status, detail.packages) == ("COMPLETED", ())


def test_the_published_masked_address_is_one_orderwatch_can_ship_to() -> None:
    # "Different parameters might be masked according to each market and kind of seller."
    sample = corpus.response_sample("shopee", "v2.order.get_order_detail")
    assert address_problem(sample["response"]["order_list"][0]["recipient_address"]) is None


async def test_the_published_shop_info_is_no_instant_mart_shop() -> None:
    async with client_of(corpus.response_sample("shopee", "v2.shop.get_shop_info")) as client:
        relation = await call("v2.shop.get_shop_info", client)
    assert (relation.is_mart_shop, relation.is_outlet_shop, relation.main_shop_id) == (False, False, None)
    assert relation.outlet_shop_ids == ()


async def test_the_published_token_refresh_gives_the_new_pair_and_sends_the_published_body() -> None:
    seen: list[httpx.Request] = []
    async with client_of(corpus.response_sample("shopee", "v2.public.refresh_access_token"), seen) as client:
        pair = await call("v2.public.refresh_access_token", client)
    assert (pair.access_token, pair.refresh_token, pair.expire_in) == (
        "71594a4c54537649697341796363674a",
        "516c6b577753554375764a63704d7245",
        14400,
    )
    [request] = seen
    assert request.url.path == "/api/v2/auth/access_token/get"
    published = corpus.shopee("v2.public.refresh_access_token")["request_samples"][0]["json"]
    sent = orjson.loads(request.content)
    assert set(sent) == set(published) and {type(v) for v in sent.values()} == {
        type(v) for v in published.values()
    }
    assert "access_token" not in request.url.params, "a public call"


async def test_the_published_lost_push_and_confirm_answers_are_no_errors() -> None:
    async with client_of(corpus.response_sample("shopee", "v2.push.get_lost_push_message")) as client:
        page = await call("v2.push.get_lost_push_message", client)
    assert len(page.pushes) == 1
    async with client_of(
        corpus.response_sample("shopee", "v2.push.confirm_consumed_lost_push_message")
    ) as client:
        assert await call("v2.push.confirm_consumed_lost_push_message", client) is None


# -- error examples and error lists ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "example"),
    [(name, example) for name in CALLS for example in corpus.error_examples("shopee", name)],
)
async def test_each_published_error_example_ends_in_its_branch(name: str, example: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    expected = JUDGED.get(f"{example['error']} {example['message']}", JUDGED[example["error"]])
    async with client_of(example, seen) as client:
        with pytest.raises(MarketplaceError) as raised:
            await call(name, client)
    assert type(raised.value) is expected
    assert raised.value.code == example["error"] and raised.value.request_id == example["request_id"]
    assert len(seen) == (2 if expected is DOWN else 1), "only the unavailable are tried again"


def listed() -> list[tuple[str, str, str]]:
    found = []
    for name in CALLS:
        for entry in corpus.shopee(name)["error_list"]:
            found.append((name, entry["name"].strip(), entry["description"].strip()))
    return found


def test_every_listed_error_has_been_judged() -> None:
    assert {error for _, error, _ in listed()} <= set(JUDGED)


@pytest.mark.parametrize(("name", "error", "description"), listed())
async def test_each_listed_error_ends_in_its_branch(name: str, error: str, description: str) -> None:
    expected = JUDGED.get(f"{error} {description}", JUDGED.get(error))
    assert expected is not None, f"{error} is not judged"
    answer = {"error": error, "message": description, "request_id": "0f9e"}
    async with client_of(answer) as client:
        with pytest.raises(MarketplaceError) as raised:
            await call(name, client)
    assert type(raised.value) is expected, f"{name}: {error} {description!r}"
