"""Shopee's published push and lost-push samples, fed to orderwatch's readers.

The only published order-status push is the one inside the ``get_lost_push_message`` sample
(tests/conformance/samples/shopee/v2.push.get_lost_push_message.json): its message's ``data``
is the whole push envelope as a string. These tests read it as the lost-push reader reads it,
post it to the webhook as Shopee would have, and run a reconciliation round against a transport
that answers only the published samples: the push is applied, and confirmed only once stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from handlers.shopee.client import ShopeeClient
from handlers.shopee.lost_pushes import (
    CONFIRM_PATH,
    GET_PATH,
    LostPush,
    confirm_lost_pushes,
    get_lost_pushes,
    read_lost_message,
)
from handlers.shopee.push import COMPLETED_RRAOC, parse_push
from handlers.shopee.reconcile import ShopeeReconciler
from handlers.shopee.tokens import set_tokens
from service.db import Database
from service.inbox import apply_pending, pending_count
from service.models import Order, Transition
from statemachines.events import EventKind
from tests.conformance import corpus
from tests.conftest import PARSERS
from tests.shopee_pushes import Receiver, start_receiver

LOST = "v2.push.get_lost_push_message"
CONFIRM = "v2.push.confirm_consumed_lost_push_message"
PARTNER, KEY = 2001887, "conformance-partner-key-0001"
SHOP, ORDER_SN, UPDATED = 727720655, "220810QSK8S7BX", 1660123127  # as the published sample has them

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def published_message() -> dict[str, Any]:
    message: dict[str, Any] = corpus.response_sample("shopee", LOST)["response"]["push_message_list"][0]
    return message


def test_the_published_lost_message_is_the_whole_push_and_is_read_as_it() -> None:
    message = published_message()
    read = read_lost_message(message)
    assert isinstance(read, LostPush)
    assert read.body == message["data"].encode(), "stored byte for byte as Shopee would have posted it"
    assert read.document == orjson.loads(message["data"])
    push = parse_push(read.document)
    assert (push.code, push.shop_id) == (3, str(SHOP))
    [event] = push.events
    assert (event.kind, event.order_id, event.status) == (EventKind.ORDER_STATUS, ORDER_SN, "PROCESSED")
    assert int(event.occurred_at.timestamp()) == UPDATED


def test_reading_the_data_as_the_inner_data_would_find_no_order() -> None:
    # The defect this corpus caught: the message's data wrapped as if it were the push's data.
    wrapped = {
        "code": 3,
        "shop_id": SHOP,
        "timestamp": UPDATED,
        "data": orjson.loads(published_message()["data"]),
    }
    with pytest.raises(ValueError, match="ordersn"):
        parse_push(wrapped)


def test_the_published_push_posted_to_the_webhook_is_stored_and_applied(
    db: Database, database_url: str
) -> None:
    body = published_message()["data"].encode()
    with ExitStack() as stack:
        receiver: Receiver = start_receiver(stack, db, database_url)
        assert receiver.post(body).status_code == 200
        receiver.settle()
        assert receiver.order(ORDER_SN)["state"] == "ready_to_ship"
        assert receiver.order(ORDER_SN)["platform_status"] == "PROCESSED"


def test_a_completed_push_of_the_published_shape_with_rraoc_is_a_return_after_completion() -> None:
    envelope = orjson.loads(published_message()["data"])
    envelope["data"].update(status="COMPLETED", completed_scenario="RRAOC")
    [event] = parse_push(envelope).events
    assert event.status == COMPLETED_RRAOC


def answering(routes: dict[str, Any], calls: list[str]) -> httpx.MockTransport:
    """A transport answering each path with its published answer (or a function of the request)."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        answer = routes[request.url.path]
        doc = answer(request) if callable(answer) else answer
        return httpx.Response(200, json=doc)

    return httpx.MockTransport(handler)


async def test_the_client_reads_the_published_page_and_confirms_as_the_published_request() -> None:
    calls: list[str] = []
    sent: list[Any] = []

    def confirm(request: httpx.Request) -> Any:
        sent.append(orjson.loads(request.content))
        return corpus.response_sample("shopee", CONFIRM)  # "error": "-": no error

    routes = {GET_PATH: corpus.response_sample("shopee", LOST), CONFIRM_PATH: confirm}
    async with ShopeeClient("http://shopee.test", PARTNER, KEY, transport=answering(routes, calls)) as client:
        page = await get_lost_pushes(client)
        assert (len(page.pushes), page.unreadable, page.has_next_page) == (1, [], False)
        assert page.last_message_id == 176610
        await confirm_lost_pushes(client, page.last_message_id)
    assert sent == [corpus.shopee(CONFIRM)["request_samples"][0]["json"]]
    assert calls == [GET_PATH, CONFIRM_PATH]


@pytest.fixture
def round_db(db: Database) -> Iterator[Database]:
    set_tokens(db, str(SHOP), "conformance-access-token")
    yield db


async def test_a_reconciliation_round_on_the_published_samples_applies_the_lost_push_confirmed_once_stored(
    round_db: Database,
) -> None:
    db = round_db
    calls: list[str] = []
    stored_when_confirmed: list[int] = []

    def confirm(request: httpx.Request) -> Any:
        stored_when_confirmed.append(pending_count(db))
        return corpus.response_sample("shopee", CONFIRM)

    order_list = corpus.response_sample("shopee", "v2.order.get_order_list")
    # Adapted in the orders it holds (none was updated), never in shape.
    order_list["response"].update(order_list=[], more=False, next_cursor="")
    routes = {
        GET_PATH: corpus.response_sample("shopee", LOST),
        CONFIRM_PATH: confirm,
        "/api/v2/shop/get_shop_info": corpus.response_sample("shopee", "v2.shop.get_shop_info"),
        "/api/v2/order/get_order_list": order_list,
    }
    async with ShopeeClient("http://shopee.test", PARTNER, KEY, transport=answering(routes, calls)) as client:
        report = await ShopeeReconciler(db, client).run_once()

    assert report.failed_shops == []
    assert report.lost is not None and (report.lost.stored, report.lost.confirmed) == (1, 1)
    assert calls.index(GET_PATH) < calls.index(CONFIRM_PATH)
    assert stored_when_confirmed == [1], "confirmed only once the push was stored"
    assert apply_pending(db, PARSERS).pushes == 1
    with db.read() as conn:
        order = conn.execute(sa.select(Order).where(Order.order_id == ORDER_SN)).one()
        sources = set(
            conn.execute(sa.select(Transition.source).where(Transition.order_id == ORDER_SN)).scalars()
        )
    assert (order.shop_id, order.state, order.platform_status) == (str(SHOP), "ready_to_ship", "PROCESSED")
    assert sources == {"push"}
