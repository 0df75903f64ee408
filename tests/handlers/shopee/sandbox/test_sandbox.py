"""The Shopee sandbox over real HTTP: the pushes it sends (signed, shaped, faulty as
configured, seeded), the checks its API makes, and its control endpoints."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.shopee.push import parse_push
from handlers.shopee.sandbox import PushFaults, SandboxClock, ShopeeSandbox, create_sandbox
from handlers.shopee.signing import verify_push
from tests.live_server import serve

PARTNER_ID = 2001887
KEY = "shopee-partner-key-for-tests-0001"
SHOP = 680000123
TOKEN = "6a55746e61546f707579627656637464"
NOW = 1_700_000_000
DAY = 86400


@dataclass
class Inbox:
    """What the push receiver got; it answers 500 to its first ``fail_first`` pushes."""

    received: list[tuple[str | None, bytes]] = field(default_factory=list)
    fail_first: int = 0
    calls: int = 0

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.received]


class Receiver:
    """A push receiver served once per module; each test gets a fresh :class:`Inbox`."""

    def __init__(self) -> None:
        self.inbox = Inbox()

    def app(self) -> Starlette:
        async def push(request: Request) -> Response:
            inbox = self.inbox
            inbox.calls += 1
            body = await request.body()
            if inbox.calls <= inbox.fail_first:
                return Response(status_code=500)
            inbox.received.append((request.headers.get("authorization"), body))
            return Response(b"")

        return Starlette(routes=[Route("/webhooks/shopee", push, methods=["POST"])])


@pytest.fixture(scope="module")
def post_box() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()
    with serve(receiver.app()) as base:
        yield base + "/webhooks/shopee", receiver


@dataclass
class World:
    base: str
    push_url: str
    sandbox: ShopeeSandbox
    inbox: Inbox
    http: httpx.Client

    def call(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        key: str = KEY,
        token: str = TOKEN,
        shop: int = SHOP,
        partner: int = PARTNER_ID,
        skew: int = 0,
        drop: tuple[str, ...] = (),
    ) -> httpx.Response:
        """A shop call signed here with hmac alone, as the Shopee docs describe it."""
        timestamp = self.sandbox.clock.now() + skew
        base = f"{partner}{path}{timestamp}{token}{shop}"
        query = {
            "partner_id": partner,
            "timestamp": timestamp,
            "access_token": token,
            "shop_id": shop,
            "sign": hmac.new(key.encode(), base.encode(), hashlib.sha256).hexdigest(),
            **(params or {}),
        }
        return self.http.get(path, params={k: v for k, v in query.items() if k not in drop})


@contextmanager
def start(post_box: tuple[str, Receiver], seed: int = 3, faults: PushFaults | None = None) -> Iterator[World]:
    """A sandbox on a frozen clock with one shop, served, pushing to the receiver."""
    push_url, receiver = post_box
    inbox = receiver.inbox = Inbox()
    app = create_sandbox(PARTNER_ID, KEY, seed=seed, clock=SandboxClock(NOW), faults=faults)
    sandbox: ShopeeSandbox = app.state.sandbox
    sandbox.add_shop(SHOP, access_token=TOKEN)
    with serve(app) as base, httpx.Client(base_url=base) as http:
        sandbox.pushes.url = push_url
        sandbox.pushes.configure(backoff=0.01)
        yield World(base, sandbox.pushes.url, sandbox, inbox, http)


@pytest.fixture
def world(post_box: tuple[str, Receiver]) -> Iterator[World]:
    with start(post_box) as started:
        yield started


def churn(sandbox: ShopeeSandbox, orders: int = 10) -> None:
    """Each order is paid, arranged with a tracking number and shipped: four pushes each."""
    for _ in range(orders):
        order = sandbox.create_order(SHOP)
        sandbox.move(order.order_sn, status="READY_TO_SHIP", advance=1)
        sandbox.move(order.order_sn, status="PROCESSED", packages=[{"tracking_no": True}], advance=1)
        sandbox.clock.advance(1)


# -- pushes --------------------------------------------------------------------------------


def test_every_change_is_pushed_signed_over_the_push_url_and_the_raw_body(world: World) -> None:
    order = world.sandbox.create_order(SHOP)
    world.sandbox.move(order.order_sn, status="READY_TO_SHIP", advance=60)
    world.sandbox.move(
        order.order_sn,
        status="PROCESSED",
        packages=[{"logistics_status": "LOGISTICS_REQUEST_CREATED", "tracking_no": "SPXID069148014501"}],
    )
    world.sandbox.move(order.order_sn, packages=[{"logistics_status": "LOGISTICS_PICKUP_DONE"}])  # no push
    stats = world.sandbox.pushes.drain_sync()
    assert stats.created == stats.delivered == 4
    for authorization, body in world.inbox.received:
        expected = hmac.new(KEY.encode(), world.push_url.encode() + b"|" + body, hashlib.sha256).hexdigest()
        assert authorization == expected
        assert verify_push([KEY], world.push_url, body, authorization)
    pushes = world.inbox.bodies()
    assert [list(p) for p in pushes] == [["data", "shop_id", "code", "timestamp"]] * 4
    assert [(p["code"], p["data"].get("status")) for p in pushes] == [
        (3, "UNPAID"),
        (3, "READY_TO_SHIP"),
        (3, "PROCESSED"),
        (4, None),
    ]
    package = order.packages[0]
    assert pushes[3]["data"] == {
        "ordersn": order.order_sn,
        "forder_id": package.forder_id,
        "package_number": package.package_number,
        "tracking_no": "SPXID069148014501",
    }
    assert pushes[1]["data"]["update_time"] == NOW + 60 and pushes[1]["shop_id"] == SHOP
    # An order-status push, as the push inside get_lost_push_message's published sample.
    assert pushes[1]["data"] == {
        "items": [],
        "ordersn": order.order_sn,
        "status": "READY_TO_SHIP",
        "completed_scenario": "",
        "update_time": NOW + 60,
    }
    assert list(pushes[1]["data"]) == ["items", "ordersn", "status", "completed_scenario", "update_time"]
    assert all(parse_push(p).events for p in pushes)  # orderwatch's own parser takes them


def test_update_times_never_go_back_and_are_distinct_when_the_clock_moves(world: World) -> None:
    order = world.sandbox.create_order(SHOP)
    for status in ("READY_TO_SHIP", "PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED"):
        world.sandbox.move(order.order_sn, status=status, advance=1)
    world.sandbox.move(order.order_sn, status="TO_RETURN")  # same second: equal, not earlier
    world.sandbox.pushes.drain_sync()
    times = [p["data"]["update_time"] for p in world.inbox.bodies()]
    assert times == [NOW, NOW + 1, NOW + 2, NOW + 3, NOW + 4, NOW + 5, NOW + 5]
    assert order.update_time == NOW + 5 and order.create_time == NOW


def test_faults_are_counted_and_add_up(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(duplicate=0.2, reorder=0.2, drop=0.2))
    churn(world.sandbox, 15)
    stats = world.sandbox.pushes.drain_sync()
    assert stats.created == 60 and stats.pending == 0 and stats.failed == 0
    assert stats.dropped and stats.duplicated and stats.reordered
    assert stats.delivered == len(world.inbox.received) == stats.created - stats.dropped + stats.duplicated
    bodies = [body for _, body in world.inbox.received]
    assert len(set(bodies)) == stats.created - stats.dropped
    assert len(bodies) - len(set(bodies)) == stats.duplicated
    sent_at = [p["timestamp"] for p in world.inbox.bodies()]
    assert any(later < earlier for earlier, later in zip(sent_at, sent_at[1:], strict=False))


def deliveries(post_box: tuple[str, Receiver], seed: int) -> tuple[list[bytes], dict[str, int]]:
    with start(post_box, seed=seed, faults=PushFaults(duplicate=0.2, reorder=0.2, drop=0.2)) as world:
        churn(world.sandbox, 8)
        stats = world.sandbox.pushes.drain_sync()
        return [body for _, body in world.inbox.received], stats.to_json()


def test_the_same_seed_gives_the_same_deliveries_in_the_same_order(post_box: tuple[str, Receiver]) -> None:
    first, again, other = (deliveries(post_box, seed) for seed in (11, 11, 12))
    assert first == again
    assert other != first


def test_a_dropped_push_is_never_sent(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    churn(world.sandbox, 2)
    stats = world.sandbox.pushes.drain_sync()
    assert stats.dropped == stats.created == 8 and world.inbox.received == []


def test_a_reordered_push_arrives_right_after_the_next_one(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(reorder=1.0))
    order = world.sandbox.create_order(SHOP)
    world.sandbox.pushes.configure(faults=PushFaults())
    world.sandbox.move(order.order_sn, status="READY_TO_SHIP", advance=1)
    world.sandbox.move(order.order_sn, status="PROCESSED", advance=1)
    world.sandbox.pushes.drain_sync()
    assert [p["data"]["status"] for p in world.inbox.bodies()] == ["READY_TO_SHIP", "UNPAID", "PROCESSED"]


def test_a_held_push_is_sent_by_a_flush(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(reorder=1.0))
    world.sandbox.create_order(SHOP)
    assert world.sandbox.pushes.stats().pending == 1
    assert world.http.post("/sandbox/pushes/flush").json() == {"released": 1}
    assert world.http.post("/sandbox/pushes/drain", json={"timeout": 5}).json()["delivered"] == 1


def test_a_delayed_push_arrives_after_those_made_meanwhile(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(delay=1.0, delay_seconds=0.2))
    order = world.sandbox.create_order(SHOP)
    world.sandbox.pushes.configure(faults=PushFaults())
    world.sandbox.move(order.order_sn, status="READY_TO_SHIP", advance=1)
    stats = world.sandbox.pushes.drain_sync()
    assert stats.delayed == 1
    assert [p["data"]["status"] for p in world.inbox.bodies()] == ["READY_TO_SHIP", "UNPAID"]


def test_a_push_answered_500_is_retried_until_it_is_taken(world: World) -> None:
    world.inbox.fail_first = 2
    world.sandbox.create_order(SHOP)
    stats = world.sandbox.pushes.drain_sync()
    assert (stats.delivered, stats.retried, stats.attempts, stats.failed) == (1, 2, 3, 0)
    assert len(world.inbox.received) == 1


def test_a_push_nobody_takes_is_given_up_after_the_last_attempt(world: World) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/shopee"
    world.sandbox.pushes.url = closed
    world.sandbox.pushes.configure(attempts=2)
    world.sandbox.create_order(SHOP)
    stats = world.sandbox.pushes.drain_sync()
    assert (stats.delivered, stats.attempts, stats.failed, stats.pending) == (0, 2, 1, 0)


def test_pushes_can_be_signed_with_a_push_partner_key_of_their_own(world: World) -> None:
    world.sandbox.pushes.sign_with("live-push-partner-key-0001")
    world.sandbox.create_order(SHOP)
    world.sandbox.pushes.drain_sync()
    [(signature, body)] = world.inbox.received
    assert signature and verify_push(["live-push-partner-key-0001"], world.push_url, body, signature)
    assert not verify_push([KEY], world.push_url, body, signature)


def partner_call(world: World, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """A partner-level call (no shop, no token), signed over partner id, path and timestamp."""
    timestamp = world.sandbox.clock.now()
    sign = hmac.new(KEY.encode(), f"{PARTNER_ID}{path}{timestamp}".encode(), hashlib.sha256).hexdigest()
    query: dict[str, str | int] = {"partner_id": PARTNER_ID, "timestamp": timestamp, "sign": sign}
    if body is None:
        return world.http.get(path, params=query)
    return world.http.post(path, params=query, content=orjson.dumps(body))


def test_a_lost_push_is_given_back_whole_as_the_published_sample_shows(world: World) -> None:
    world.sandbox.pushes.configure(faults=PushFaults(drop=1.0))
    world.sandbox.create_order(SHOP)
    world.sandbox.pushes.drain_sync()
    [(_, pushed)] = world.sandbox.pushes.lost_page()[0]
    answer = partner_call(world, "/api/v2/push/get_lost_push_message").json()
    assert (answer["error"], answer["message"], answer["warning"]) == ("-", "-", "-")
    [message] = answer["response"]["push_message_list"]
    assert list(message) == ["shop_id", "code", "timestamp", "data"], "as the published sample orders them"
    assert message["data"] == pushed.decode(), "the whole push, as it would have been posted"
    push = orjson.loads(message["data"])
    assert (message["shop_id"], message["code"]) == (push["shop_id"], push["code"]) == (SHOP, 3)
    last = answer["response"]["last_message_id"]
    confirmed = partner_call(
        world, "/api/v2/push/confirm_consumed_lost_push_message", {"last_message_id": last}
    )
    assert {k: confirmed.json()[k] for k in ("error", "message", "warning")} == dict.fromkeys(
        ("error", "message", "warning"), "-"
    )
    assert world.sandbox.pushes.lost_page()[0] == []


# -- the API -------------------------------------------------------------------------------

LIST = "/api/v2/order/get_order_list"
DETAIL = "/api/v2/order/get_order_detail"
WINDOW = {"time_range_field": "update_time", "time_from": NOW - DAY, "time_to": NOW + DAY, "page_size": 10}


@pytest.mark.parametrize(
    ("call", "status", "error", "message"),
    [
        ({"drop": ("partner_id",)}, 400, "error_param", "There is no partner_id in query."),
        ({"key": "another-key"}, 403, "error_sign", "Wrong sign."),
        ({"drop": ("sign",)}, 403, "error_sign", "Wrong sign."),
        ({"skew": -301}, 400, "error_param", "Timestamp is expired."),
        ({"token": "0" * 32}, 403, "error_auth", "Invalid access_token."),
        ({"shop": 1234}, 403, "error_auth", "Invalid partner_id or shopid."),
        ({"partner": PARTNER_ID + 1}, 403, "error_param", "Invalid partner_id."),
        (
            {"params": {**WINDOW, "time_to": NOW - DAY + 15 * DAY + 1}},
            400,
            "order.order_list_invalid_time",
            "Start time must be earlier than end time and diff in 15days.",
        ),
        ({"params": {**WINDOW, "page_size": 101}}, 400, "error_param", "page_size must be 100 or less"),
        ({"params": {**WINDOW, "time_range_field": "pay_time"}}, 400, "error_param", "time_range_field"),
    ],
)
def test_the_list_call_is_checked_as_shopee_checks_it(
    world: World, call: dict[str, Any], status: int, error: str, message: str
) -> None:
    params = call.pop("params", WINDOW)
    answer = world.call(LIST, params, **call)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error and message in body["message"] and len(body["request_id"]) == 32


def test_the_list_is_paged_by_cursor_newest_first(world: World) -> None:
    made = [world.sandbox.create_order(SHOP, order_sn=f"ORDER{n:03d}").order_sn for n in range(25)]
    answer = world.call(LIST, {**WINDOW, "response_optional_fields": "order_status"})
    first = answer.json()
    assert set(first) == {"request_id", "error", "message", "response"} and first["error"] == ""
    assert first["response"]["more"] and first["response"]["next_cursor"] == "10"
    assert first["response"]["order_list"][0] == {"order_sn": "ORDER024", "order_status": "UNPAID"}
    last = world.call(LIST, {**WINDOW, "cursor": "20"}).json()["response"]
    assert last == {"more": False, "next_cursor": "", "order_list": [{"order_sn": sn} for sn in made[4::-1]]}


def test_optional_detail_fields_come_only_when_asked(world: World) -> None:
    order = world.sandbox.create_order(SHOP, packages=2)
    bare = world.call(DETAIL, {"order_sn_list": order.order_sn}).json()["response"]["order_list"][0]
    assert "package_list" not in bare and bare["ship_by_date"] == 0 and bare["order_status"] == "UNPAID"
    full = world.call(DETAIL, {"order_sn_list": order.order_sn, "response_optional_fields": "package_list"})
    packages = full.json()["response"]["order_list"][0]["package_list"]
    assert [p["package_number"] for p in packages] == [p.package_number for p in order.packages]
    assert {"logistics_status", "shipping_carrier", "item_list"} <= set(packages[0])


def test_more_than_fifty_orders_in_one_detail_call_is_a_parameter_error(world: World) -> None:
    sns = [world.sandbox.create_order(SHOP).order_sn for _ in range(51)]
    answer = world.call(DETAIL, {"order_sn_list": ",".join(sns)})
    assert answer.status_code == 400 and answer.json()["error"] == "error_param"
    assert world.call(DETAIL, {"order_sn_list": ",".join(sns[:50])}).status_code == 200


def test_an_unknown_api_path_is_404_error_not_found(world: World) -> None:
    answer = world.call("/api/v2/order/no_such_call")
    assert answer.status_code == 404 and answer.json()["error"] == "error_not_found"


def test_shop_info_answers_its_fields_at_the_top_level(world: World) -> None:
    world.sandbox.add_shop(SHOP + 1, access_token="1" * 32, mart_shop_id=SHOP)
    mart = world.call("/api/v2/shop/get_shop_info").json()
    outlet = world.call("/api/v2/shop/get_shop_info", token="1" * 32, shop=SHOP + 1).json()
    assert "response" not in mart and mart["status"] == "NORMAL"
    assert mart["is_mart_shop"] and mart["outlet_shop_info_list"] == [{"outlet_shop_id": SHOP + 1}]
    assert outlet["is_outlet_shop"] and outlet["mart_shop_id"] == SHOP and not outlet["is_mart_shop"]


def test_the_refresh_checks_its_body_and_spends_the_refresh_token(world: World) -> None:
    refresh = world.sandbox.shops[SHOP].refresh_token
    path = "/api/v2/auth/access_token/get"
    timestamp = world.sandbox.clock.now()
    base = f"{PARTNER_ID}{path}{timestamp}".encode()
    query: dict[str, Any] = {"partner_id": PARTNER_ID, "timestamp": timestamp}
    query["sign"] = hmac.new(KEY.encode(), base, hashlib.sha256).hexdigest()

    def post(body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = world.http.post(path, params=query, json=body).json()
        return answer

    good = {"refresh_token": refresh, "partner_id": PARTNER_ID, "shop_id": SHOP}
    assert post({**good, "partner_id": 1})["error"] == "error_param"
    pair = post(good)
    assert pair["error"] == "" and pair["expire_in"] == 14400 and pair["shop_id"] == SHOP
    assert pair["access_token"] == world.sandbox.shops[SHOP].access_token
    assert post(good) | {"request_id": ""} == {
        "request_id": "",
        "error": "error_auth",
        "message": "Invalid refresh_token.",
    }


def test_a_share_of_api_calls_fails_the_same_way_for_the_same_seed(post_box: tuple[str, Receiver]) -> None:
    outcomes = []
    for _ in range(2):
        with start(post_box, seed=5) as world:
            reply = world.http.post("/sandbox/api/faults", json={"rate": 0.5, "kinds": ["500", "429"]})
            assert reply.json() == {"rate": 0.5, "kinds": ["500", "429"], "hang_seconds": 2.0}
            outcomes.append([world.call(LIST, WINDOW).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1]
    assert {200, 500, 429} == set(outcomes[0])


# -- control over HTTP ---------------------------------------------------------------------


def test_the_sandbox_can_be_driven_entirely_over_http(world: World) -> None:
    http = world.http
    mart = http.post("/sandbox/shops", json={"shop_id": 900001}).json()
    assert mart["shop_id"] == 900001 and len(mart["access_token"]) == 32
    outlet = http.post(
        "/sandbox/shops", json={"shop_id": 900002, "mart_shop_id": 900001, "access_token": "t" * 32}
    )
    assert outlet.status_code == 201 and outlet.json()["mart_shop_id"] == 900001
    created = http.post("/sandbox/orders", json={"shop_id": 900002, "packages": 0})
    assert created.status_code == 201
    sn = created.json()["order_sn"]
    assert http.post("/sandbox/clock", json={"advance": 30}).json() == {"now": NOW + 30}
    moved = http.post(
        f"/sandbox/orders/{sn}/move",
        json={
            "status": "PROCESSED",
            "packages": [{"new": True, "logistics_status": "LOGISTICS_REQUEST_CREATED", "tracking_no": True}],
        },
    ).json()
    assert moved["order_status"] == "PROCESSED" and moved["update_time"] == NOW + 30
    (package,) = moved["packages"]
    assert package["package_number"].startswith("OFG") and package["tracking_no"].startswith("SPXID")
    listed = http.get("/sandbox/orders", params={"shop_id": 900002}).json()["orders"]
    assert [(o["order_sn"], o["order_status"]) for o in listed] == [(sn, "PROCESSED")]
    assert http.get(f"/sandbox/orders/{sn}").json() == moved
    faults = http.post("/sandbox/pushes/faults", json={"duplicate": 1.0, "attempts": 2}).json()
    assert faults["duplicate"] == 1.0 and faults["attempts"] == 2
    http.post(f"/sandbox/orders/{sn}/move", json={"status": "SHIPPED"})
    stats = http.post("/sandbox/pushes/drain", json={}).json()
    assert (stats["created"], stats["duplicated"], stats["delivered"]) == (4, 1, 5)
    assert http.get("/sandbox/pushes/stats").json() == stats
    assert http.post("/sandbox/pushes/target", json={"url": None}).json() == {"url": None}
    http.post(f"/sandbox/orders/{sn}/move", json={"status": "COMPLETED"})
    assert http.get("/sandbox/pushes/stats").json()["untargeted"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/sandbox/orders", {"shop_id": SHOP, "status": "SOMEWHERE"}, 400),
        ("post", "/sandbox/orders", {"shop_id": 42}, 404),
        ("post", "/sandbox/orders/NOPE/move", {"status": "SHIPPED"}, 404),
        ("post", "/sandbox/shops", {"shop_id": "12"}, 400),
        ("post", "/sandbox/pushes/faults", {"drop": 0.7, "duplicate": 0.7}, 400),
        ("post", "/sandbox/api/faults", {"kinds": ["teapot"]}, 400),
        ("post", "/sandbox/clock", {"advance": -5}, 400),
    ],
)
def test_impossible_control_requests_are_refused_with_a_reason(
    world: World, method: str, path: str, body: dict[str, Any], status: int
) -> None:
    answer = getattr(world.http, method)(path, json=body)
    assert answer.status_code == status and answer.json()["error"]


def test_an_order_number_is_used_once(world: World) -> None:
    world.http.post("/sandbox/orders", json={"shop_id": SHOP, "order_sn": "2211095TV1XRKN"})
    again = world.http.post("/sandbox/orders", json={"shop_id": SHOP, "order_sn": "2211095TV1XRKN"})
    assert again.status_code == 409
