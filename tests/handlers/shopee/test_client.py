"""The Shopee API client against the Shopee sandbox over real HTTP: signing, paging,
chunking, error mapping, retries, and no secret in any log line or error message."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

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
from handlers.shopee.client import ShopeeClient
from handlers.shopee.sandbox import SandboxClock, ShopeeSandbox, create_sandbox
from handlers.shopee.signing import api_signature
from tests.live_server import serve

PARTNER_ID = 2001887
KEY = "shopee-partner-key-for-tests-0001"
SHOP = 14701711
TOKEN = "59777174636562737266615546704c6d"
REFRESH = "456e416149664b76745a6a794156794a"
NOW = 1_700_000_000
DAY = 86400

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP, counting the requests and keeping their URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return await super().handle_async_request(request)


@dataclass
class World:
    base: str
    sandbox: ShopeeSandbox
    transport: CountingTransport

    def client(self, **options: Any) -> ShopeeClient:
        """A client of this sandbox on its clock, with fast retries."""
        settings: dict[str, Any] = {"clock": self.sandbox.clock.now, "backoff": 0.001, "timeout": 5.0}
        settings.update(options)
        settings.setdefault("transport", self.transport)
        return ShopeeClient(self.base, PARTNER_ID, settings.pop("key", KEY), **settings)


@pytest.fixture
def world() -> Iterator[World]:
    app = create_sandbox(PARTNER_ID, KEY, seed=7, clock=SandboxClock(NOW))
    sandbox: ShopeeSandbox = app.state.sandbox
    sandbox.add_shop(SHOP, access_token=TOKEN, refresh_token=REFRESH)
    with serve(app) as base:
        yield World(base, sandbox, CountingTransport())


def orders(sandbox: ShopeeSandbox, count: int, *, step: int = 1) -> list[str]:
    """``count`` orders of SHOP, one every ``step`` seconds; their numbers, oldest first."""
    made = []
    for _ in range(count):
        made.append(sandbox.create_order(SHOP).order_sn)
        sandbox.clock.advance(step)
    return made


# -- signing -------------------------------------------------------------------------------


def test_api_signature_worked_example_computed_outside_python() -> None:
    # Shopee's own base-string example (partner 2001887, get_shop_info, 1655714431, the
    # token, shop 14701711), signed under a test key with:
    #   printf '%s' "$BASE" | openssl dgst -sha256 -hmac "$KEY"
    shop_call = "a5f9b882c4e7f1873a2adaafe073609dcbd39c178b02a02ce0e0afb1249fa3c1"
    public_call = "cda1227320e80361f3e944f364da1ea7bdd6511a5a1055343025f867b5886ef4"
    base = f"{PARTNER_ID}/api/v2/shop/get_shop_info1655714431{TOKEN}{SHOP}"
    assert hmac.new(KEY.encode(), base.encode(), hashlib.sha256).hexdigest() == shop_call
    assert api_signature(KEY, PARTNER_ID, "/api/v2/shop/get_shop_info", 1655714431, TOKEN, SHOP) == shop_call
    assert api_signature(KEY, PARTNER_ID, "/api/v2/auth/access_token/get", 1655714431) == public_call


async def test_every_shop_call_carries_the_common_parameters_signed_over_path_time_token_shop(
    world: World,
) -> None:
    orders(world.sandbox, 1)
    async with world.client() as client:
        await client.get_order_list(str(SHOP), TOKEN, time_from=NOW - DAY, time_to=NOW + DAY)
    (url,) = world.transport.urls
    query = {k: v[0] for k, v in parse_qs(url.query.decode()).items()}
    assert query["partner_id"] == str(PARTNER_ID)
    assert query["shop_id"] == str(SHOP) and query["access_token"] == TOKEN
    base = f"{PARTNER_ID}{url.path}{query['timestamp']}{TOKEN}{SHOP}"
    assert query["sign"] == hmac.new(KEY.encode(), base.encode(), hashlib.sha256).hexdigest()
    assert int(query["timestamp"]) == world.sandbox.clock.now()


async def test_a_wrong_partner_key_is_error_sign_and_not_retried(world: World) -> None:
    async with world.client(key="not-the-partner-key") as client:
        with pytest.raises(AuthenticationFailed) as raised:
            await client.get_order_list(str(SHOP), TOKEN, time_from=NOW - DAY, time_to=NOW)
    assert raised.value.code == "error_sign" and raised.value.status == 403
    assert raised.value.request_id
    assert len(world.transport.urls) == 1


@pytest.mark.parametrize(("skew", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)])
async def test_a_timestamp_more_than_five_minutes_off_is_refused(
    world: World, skew: int, accepted: bool
) -> None:
    clock = world.sandbox.clock
    async with world.client(clock=lambda: clock.now() + skew) as client:
        if accepted:
            await client.get_order_list(str(SHOP), TOKEN, time_from=NOW - DAY, time_to=NOW)
            return
        with pytest.raises(RequestRejected) as raised:
            await client.get_order_list(str(SHOP), TOKEN, time_from=NOW - DAY, time_to=NOW)
    assert raised.value.code == "error_param"
    assert "Timestamp is expired" in str(raised.value)


# -- tokens --------------------------------------------------------------------------------


async def test_a_wrong_or_expired_access_token_fails_authentication(world: World) -> None:
    async with world.client() as client:
        with pytest.raises(AuthenticationFailed) as raised:
            await client.get_order_list(str(SHOP), "0" * 32, time_from=NOW - DAY, time_to=NOW)
        assert raised.value.code == "error_auth"
        world.sandbox.clock.advance(4 * 3600 + 1)
        with pytest.raises(AuthenticationFailed):
            await client.get_shop_relation(str(SHOP), TOKEN)


async def test_a_refresh_gives_a_new_pair_spends_the_old_refresh_token_and_retires_the_old_token(
    world: World,
) -> None:
    clock = world.sandbox.clock
    async with world.client() as client:
        pair = await client.refresh_access_token(str(SHOP), REFRESH)
        assert pair.expire_in == 4 * 3600
        assert pair.access_token != TOKEN and pair.refresh_token != REFRESH
        assert TOKEN not in repr(pair) and pair.refresh_token not in repr(pair)
        await client.get_shop_relation(str(SHOP), pair.access_token)
        await client.get_shop_relation(str(SHOP), TOKEN)  # still good for five minutes
        with pytest.raises(AuthenticationFailed) as raised:
            await client.refresh_access_token(str(SHOP), REFRESH)
        assert raised.value.code == "error_auth"
        clock.advance(5 * 60 + 1)
        with pytest.raises(AuthenticationFailed):
            await client.get_shop_relation(str(SHOP), TOKEN)
        await client.get_shop_relation(str(SHOP), pair.access_token)


async def test_the_refresh_is_a_public_call_with_the_refresh_token_in_the_json_body(world: World) -> None:
    async with world.client() as client:
        await client.refresh_access_token(str(SHOP), REFRESH)
    (url,) = world.transport.urls
    query = {k: v[0] for k, v in parse_qs(url.query.decode()).items()}
    assert url.path == "/api/v2/auth/access_token/get"
    assert set(query) == {"partner_id", "timestamp", "sign"}
    base = f"{PARTNER_ID}{url.path}{query['timestamp']}"
    assert query["sign"] == hmac.new(KEY.encode(), base.encode(), hashlib.sha256).hexdigest()


# -- orders --------------------------------------------------------------------------------


async def test_paging_with_the_cursor_returns_every_order_of_the_window_once(world: World) -> None:
    made = orders(world.sandbox, 230)
    seen: list[str] = []
    cursor = ""
    async with world.client() as client:
        while True:
            page = await client.get_order_list(
                str(SHOP), TOKEN, time_from=NOW, time_to=NOW + DAY, cursor=cursor, page_size=100
            )
            seen.extend(page.order_sns)
            if not page.more:
                assert page.next_cursor == ""
                break
            cursor = page.next_cursor
    assert len(world.transport.urls) == 3
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


async def test_the_window_is_on_update_time_by_default_and_on_create_time_when_asked(world: World) -> None:
    old, new = orders(world.sandbox, 2, step=10 * DAY)
    world.sandbox.move(old, status="READY_TO_SHIP")  # updated now, created 20 days ago
    world.sandbox.add_shop(SHOP, access_token=TOKEN, refresh_token=REFRESH)  # a token for today
    now = world.sandbox.clock.now()
    async with world.client() as client:
        updated = await client.get_order_list(str(SHOP), TOKEN, time_from=now - DAY, time_to=now)
        created = await client.get_order_list(
            str(SHOP), TOKEN, time_from=now - DAY, time_to=now, time_range_field="create_time"
        )
    assert updated.order_sns == [old]
    assert created.order_sns == []
    assert new


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"time_from": NOW, "time_to": NOW + 15 * DAY + 1}, "15 days"),
        ({"time_from": NOW, "time_to": NOW}, "earlier"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"time_range_field": "pay_time"}, "time_range_field"),
    ],
)
async def test_impossible_list_requests_fail_locally_without_a_call(
    world: World, options: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"time_from": NOW, "time_to": NOW + DAY, **options}
    async with world.client() as client:
        with pytest.raises(ValueError, match=message):
            await client.get_order_list(str(SHOP), TOKEN, **arguments)
    assert world.transport.urls == []


async def test_fifteen_days_exactly_is_one_call(world: World) -> None:
    async with world.client() as client:
        page = await client.get_order_list(str(SHOP), TOKEN, time_from=NOW, time_to=NOW + 15 * DAY)
    assert page.order_sns == [] and not page.more


async def test_details_are_asked_for_in_chunks_of_fifty_and_keep_the_packages(world: World) -> None:
    made = orders(world.sandbox, 120)
    world.sandbox.move(made[0], status="READY_TO_SHIP", packages=[{"new": True}])
    async with world.client() as client:
        details = await client.get_order_detail(str(SHOP), TOKEN, made + made[:3])
    sizes = [len(parse_qs(u.query.decode())["order_sn_list"][0].split(",")) for u in world.transport.urls]
    assert sizes == [50, 50, 20]
    assert [d.order_sn for d in details] == made
    first = details[0]
    assert first.order_status == "READY_TO_SHIP" and first.ship_by_date == first.update_time + 2 * DAY
    assert len(first.packages) == 2 and first.packages[0].package_number.startswith("OFG")
    assert first.packages[0].logistics_status == "LOGISTICS_NOT_START"
    assert details[1].ship_by_date is None  # unpaid: no deadline yet
    assert first.raw["order_sn"] == first.order_sn


async def test_an_order_of_another_shop_is_not_found(world: World) -> None:
    world.sandbox.add_shop(SHOP + 1)
    other = world.sandbox.create_order(SHOP + 1).order_sn
    async with world.client() as client:
        with pytest.raises(RequestRejected) as raised:
            await client.get_order_detail(str(SHOP), TOKEN, [other])
    assert raised.value.code == "error_not_found"


async def test_a_mart_shop_lists_its_outlets_and_an_outlet_names_its_mart(world: World) -> None:
    mart = world.sandbox.add_shop(900001, access_token="a" * 32)
    for outlet in (900002, 900003):
        world.sandbox.add_shop(outlet, access_token=f"{outlet}".ljust(32, "b"), mart_shop_id=900001)
    async with world.client() as client:
        main = await client.get_shop_relation("900001", mart.access_token)
        branch = await client.get_shop_relation("900003", "900003".ljust(32, "b"))
        alone = await client.get_shop_relation(str(SHOP), TOKEN)
    assert main.is_mart_shop and main.outlet_shop_ids == ("900002", "900003") and main.main_shop_id is None
    assert branch.is_outlet_shop and branch.mart_shop_id == branch.main_shop_id == "900001"
    assert not alone.is_mart_shop and not alone.is_outlet_shop and alone.outlet_shop_ids == ()


# -- retries and failures ------------------------------------------------------------------


async def test_500_and_429_are_retried_until_the_call_succeeds(world: World) -> None:
    made = orders(world.sandbox, 1)
    world.sandbox.fail_next(["500", "429", "500"])
    async with world.client() as client:
        page = await client.get_order_list(str(SHOP), TOKEN, time_from=NOW, time_to=NOW + DAY)
    assert page.order_sns == made
    assert len(world.transport.urls) == 4


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [("500", MarketplaceUnavailable, "error_server"), ("429", RateLimited, "error_server")],
)
async def test_after_the_last_attempt_the_failure_is_raised(
    world: World, kind: str, error: type[MarketplaceError], code: str
) -> None:
    world.sandbox.fail_next([kind] * 4)
    async with world.client(attempts=4) as client:
        with pytest.raises(error) as raised:
            await client.get_shop_relation(str(SHOP), TOKEN)
    assert raised.value.code == code and raised.value.platform == "shopee"
    assert len(world.transport.urls) == 4


async def test_a_hanging_marketplace_times_out_as_unavailable(world: World) -> None:
    world.sandbox.api_faults = type(world.sandbox.api_faults)(rate=0.0, hang_seconds=1.0)
    world.sandbox.fail_next(["hang", "hang"])
    async with world.client(timeout=0.1, attempts=2) as client:
        with pytest.raises(MarketplaceUnavailable, match="no answer within 0.1s") as raised:
            await client.get_shop_relation(str(SHOP), TOKEN)
    assert isinstance(raised.value.__cause__, httpx.TimeoutException)


async def test_a_refused_connection_is_unavailable_from_the_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ShopeeClient(f"http://127.0.0.1:{port}", PARTNER_ID, KEY, attempts=2, backoff=0.001) as client:
        with pytest.raises(MarketplaceUnavailable) as raised:
            await client.get_shop_relation(str(SHOP), TOKEN)
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def answering(status: int, body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            403,
            b'{"error":"common.error_auth","message":"Invalid access_token.","request_id":"r"}',
            AuthenticationFailed,
        ),
        (200, b'{"error":"error_rate_limit","message":"Too many requests.","request_id":"r"}', RateLimited),
        (200, b'{"error":"error_limit","message":"daily call limit","request_id":"r"}', RateLimited),
        (200, b'{"error":"error_server","message":"System error.","request_id":"r"}', MarketplaceUnavailable),
        (200, b'{"error":"error_param","message":"Wrong parameters.","request_id":"r"}', RequestRejected),
        (200, b'{"error":"logistics.invalid","msg":"bad","request_id":"r"}', RequestRejected),
        # As Shopee's error lists pair names and messages (tests/conformance/samples/shopee).
        (
            200,
            b'{"error":"error_param","message":"Invalid partner_id.","request_id":"r"}',
            AuthenticationFailed,
        ),
        (200, b'{"error":"error_param","message":"Invalid timestamp","request_id":"r"}', RequestRejected),
        (
            200,
            b'{"error":"shop_banned","message":"The shop account has been banned.","request_id":"r"}',
            AuthenticationFailed,
        ),  # fmt: skip
        (
            200,
            b'{"error":"common.invalid_shop","message":"Shop id is invalid.","request_id":"r"}',
            AuthenticationFailed,
        ),  # fmt: skip
        (
            200,
            b'{"error":"order. error_permission","message":"Please link shop","request_id":"r"}',
            AuthenticationFailed,
        ),  # fmt: skip
        (
            200,
            b'{"error":"order.error_limit","message":"Can not cancel this order.","request_id":"r"}',
            RequestRejected,
        ),  # fmt: skip
        (
            200,
            b'{"error":"logistics.error_limit","message":"Parcel count","request_id":"r"}',
            RequestRejected,
        ),
        (
            200,
            b'{"error":"error_inner","message":"Inner error, please try later.","request_id":"r"}',
            MarketplaceUnavailable,
        ),  # fmt: skip
        (
            200,
            b'{"error":"error_config","message":"Something is wrong","request_id":"r"}',
            MarketplaceUnavailable,
        ),
        (200, b'{"error":"-","message":"-","warning":"-","request_id":"r"}', None),
        (502, b"<html>Bad Gateway</html>", MarketplaceUnavailable),
        (200, b"not json", MarketplaceUnavailable),
        (403, b"", AuthenticationFailed),
        (404, b"", RequestRejected),
    ],
)
async def test_answers_map_onto_the_error_tree(
    status: int, body: bytes, error: type[MarketplaceError] | None
) -> None:
    transport = answering(status, body)
    async with ShopeeClient("http://shopee.test", PARTNER_ID, KEY, transport=transport, attempts=1) as client:
        if error is None:  # "-" is no error (the lost-push pages' samples)
            assert (await client.get_shop_relation(str(SHOP), TOKEN)).outlet_shop_ids == ()
            return
        with pytest.raises(error) as raised:
            await client.get_shop_relation(str(SHOP), TOKEN)
    assert type(raised.value) is error
    assert raised.value.status == status


async def test_the_daily_quota_is_not_retried_but_the_short_rate_limit_is() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"error": "error_limit", "message": "quota", "request_id": "r"})

    transport = httpx.MockTransport(handler)
    async with ShopeeClient("http://shopee.test", PARTNER_ID, KEY, transport=transport, backoff=0) as client:
        with pytest.raises(RateLimited):
            await client.get_shop_relation(str(SHOP), TOKEN)
    assert len(calls) == 1


# -- secrets -------------------------------------------------------------------------------


async def test_no_token_key_or_sign_reaches_a_log_record_or_an_error_message(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    orders(world.sandbox, 2)
    world.sandbox.fail_next(["500"])  # a retry, and its warning
    errors: list[MarketplaceError] = []
    async with world.client() as client:
        await client.get_order_list(str(SHOP), TOKEN, time_from=NOW, time_to=NOW + DAY)
        pair = await client.refresh_access_token(str(SHOP), REFRESH)
        for token in (TOKEN + "x", pair.access_token):
            try:
                await client.get_shop_relation(str(SHOP) + "0", token)
            except MarketplaceError as exc:
                errors.append(exc)
    echoing = answering(400, echo(TOKEN))  # a message that repeats the token is scrubbed
    async with ShopeeClient("http://shopee.test", PARTNER_ID, KEY, transport=echoing, attempts=1) as client:
        with pytest.raises(RequestRejected) as raised:
            await client.get_shop_relation(str(SHOP), TOKEN)
        errors.append(raised.value)
    signs = [parse_qs(u.query.decode())["sign"][0] for u in world.transport.urls]
    secrets = [KEY, TOKEN, REFRESH, pair.access_token, pair.refresh_token, *signs]
    texts = [r.getMessage() for r in caplog.records] + [caplog.text]
    texts += [text for e in errors for text in (str(e), repr(e), e.message)]
    assert any("HTTP Request" in r.getMessage() for r in caplog.records if r.name == "httpx")
    assert any(r.name == "orderwatch.shopee" for r in caplog.records)
    for secret in secrets:
        assert all(secret not in text for text in texts), secret
    assert KEY not in repr(world.client())


def echo(token: str) -> bytes:
    return orjson.dumps(
        {"error": "error_param", "message": f"bad access_token={token} {token}", "request_id": "r"}
    )
