"""orderwatch end to end against a Shopee that answers only Shopee's published samples
(tests/conformance/standin.py), instead of our sandbox: a pushed READY_TO_SHIP order ends with its
airway bill stored as a PDF, and a push returned by get_lost_push_message is applied and confirmed only
once it is stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from handlers.shopee.signing import push_signature
from handlers.shopee.tokens import set_tokens
from service import shops
from service.app import create_app
from service.db import Database
from service.models import PUSHES
from service.outbox import jobs
from tests.conformance import corpus
from tests.conformance.standin import WAYBILL, StandIn, create_standin, shopee_sign
from tests.live_server import serve
from tests.shopee_world import sandbox_settings

PARTNER, KEY, SHOP, TOKEN = 2001887, "standin-partner-key", 727720655, "standin-access-token"


@dataclass
class World:
    stand: StandIn
    shopee: httpx.Client  # to the stand-in
    app: httpx.Client  # to orderwatch
    db: Database

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                stand = self.stand
                detail = f"calls {stand.calls[-12:]}, refused {stand.refused[-3:]}, jobs {jobs(self.db)[:3]}"
                raise AssertionError(f"timed out waiting for {what}: {detail}")
            time.sleep(0.05)

    def order(self, order_sn: str) -> dict[str, Any]:
        answer = self.app.get(f"/v1/orders/shopee/{order_sn}")
        return answer.json() if answer.status_code == 200 else {}


def _world(db: Database, database_url: str, *, pollers: bool = False, **settings: Any) -> Iterator[World]:
    with ExitStack() as stack:
        stand = StandIn(PARTNER, KEY, SHOP, TOKEN)
        api = stack.enter_context(serve(create_standin(stand)))
        set_tokens(db, str(SHOP), TOKEN)
        config = sandbox_settings(
            database_url, partner=PARTNER, key=KEY, api=api, api_backoff_seconds=0.01, **settings
        )
        base = stack.enter_context(serve(create_app(config, db, pollers=pollers)))
        yield World(
            stand,
            stack.enter_context(httpx.Client(base_url=api, timeout=10)),
            stack.enter_context(httpx.Client(base_url=base, timeout=30)),
            db,
        )
        assert stand.misshapen == [], "the stand-in answered outside its pages' tables"


@pytest.fixture
def world(db: Database, database_url: str) -> Iterator[World]:
    yield from _world(db, database_url)


@pytest.fixture
def polled_world(db: Database, database_url: str) -> Iterator[World]:
    yield from _world(db, database_url, pollers=True, shopee_reconcile_seconds=0.2)


def published_push(order_sn: str, status: str, now: int) -> dict[str, Any]:
    """The order-status push (code 3) that get_lost_push_message's sample carries, adapted in ids."""
    message = corpus.response_sample("shopee", "v2.push.get_lost_push_message")["response"][
        "push_message_list"
    ][0]
    push: dict[str, Any] = json.loads(message["data"])
    push.update(shop_id=SHOP, timestamp=now)
    push["data"].update(ordersn=order_sn, status=status, update_time=now)
    return push


# -- the stand-in itself -----------------------------------------------------------------------------


def test_the_stand_in_refuses_a_wrong_sign_with_the_published_error(world: World) -> None:
    path, now = "/api/v2/order/get_order_list", int(time.time())
    query: dict[str, str | int] = {
        "partner_id": PARTNER,
        "timestamp": now,
        "shop_id": SHOP,
        "access_token": TOKEN,
    }
    wrong = world.shopee.get(
        path, params={**query, "sign": shopee_sign("other-key", PARTNER, path, now, TOKEN, SHOP)}
    )
    assert wrong.json()["error"] == "error_sign"
    right = world.shopee.get(
        path, params={**query, "sign": shopee_sign(KEY, PARTNER, path, now, TOKEN, SHOP)}
    )
    assert right.status_code == 200 and right.json()["error"] == ""


def test_the_stand_in_answers_the_document_result_before_creation_with_the_published_error(
    world: World,
) -> None:
    world.stand.add_order("2510STAND0009", "2537708677189632625")
    path, now = "/api/v2/logistics/get_shipping_document_result", int(time.time())
    query: dict[str, str | int] = {
        "partner_id": PARTNER,
        "timestamp": now,
        "shop_id": SHOP,
        "access_token": TOKEN,
    }
    query["sign"] = shopee_sign(KEY, PARTNER, path, now, TOKEN, SHOP)
    body = {"order_list": [{"order_sn": "2510STAND0009", "package_number": "2537708677189632625"}]}
    doc = world.shopee.post(path, params=query, json=body).json()
    assert doc["error"] == "common.batch_api_all_failed"
    assert doc["response"]["result_list"][0]["fail_error"] == "logistics.shipping_document_should_print_first"


# -- end to end --------------------------------------------------------------------------------------


def test_an_order_pushed_ready_to_ship_ends_with_its_airway_bill_stored_as_a_pdf(world: World) -> None:
    order_sn, number = "2510STAND0001", "2537708677189632625"
    world.stand.add_order(order_sn, number)
    shops.set_arrange_at(world.db, "shopee", str(SHOP), "approved")  # README "Shipping": no warehouse steps
    body = json.dumps(
        published_push(order_sn, "READY_TO_SHIP", int(time.time())), separators=(",", ":")
    ).encode()
    url = str(world.app.base_url).rstrip("/") + "/webhooks/shopee"
    answer = world.app.post(url, content=body, headers={"Authorization": push_signature(KEY, url, body)})
    assert answer.status_code == 200, answer.text

    def billed() -> bool:
        return world.app.get(f"/v1/packages/shopee/{number}/airway-bill").status_code == 200

    world.wait("the airway bill", billed)
    bill = world.app.get(f"/v1/packages/shopee/{number}/airway-bill")
    assert bill.headers["content-type"] == "application/pdf" and bill.content == WAYBILL
    # The first result was the published all-failed "print first" answer, and the document was made after it.
    calls = world.stand.calls
    assert calls.index("v2.logistics.get_shipping_document_result") < calls.index(
        "v2.logistics.create_shipping_document"
    )
    assert world.stand.orders[order_sn].tracking_number  # booked through ship_order
    assert world.stand.misshapen == []


def test_a_lost_push_is_applied_and_confirmed_only_once_stored(polled_world: World) -> None:
    # The order is not in the stand-in's order list: the lost push is the only way orderwatch learns of it.
    world, order_sn = polled_world, "220810QSK8S7BX"
    world.stand.lose(published_push(order_sn, "PROCESSED", int(time.time())))
    stored_at_confirm: list[bool] = []

    def stored() -> bool:
        with world.db.read() as conn:
            body = sa.cast(PUSHES.c.body, sa.Text)
            rows = conn.execute(sa.select(PUSHES.c.id).where(body.contains(order_sn))).all()
        return bool(rows) or (world.db.spool is not None and world.db.spool.count() > 0)

    world.stand.on_confirm = lambda last: stored_at_confirm.append(stored())
    world.wait("the lost push's order", lambda: world.order(order_sn).get("platform_status") == "PROCESSED")
    world.wait("the confirmation", lambda: bool(stored_at_confirm))
    assert stored_at_confirm[0] is True
    assert world.stand.lost == []
    assert world.stand.calls.index("v2.push.get_lost_push_message") < world.stand.calls.index(
        "v2.push.confirm_consumed_lost_push_message"
    )
