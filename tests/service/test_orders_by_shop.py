"""GET /v1/orders?shop_id= pages a shop's own orders and its outlets' orders together, in id
order, through the two per-column indexes (migration 0011), with or without other filters."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.settings import Settings
from tests.factories import order_event
from tests.live_server import serve

MAIN, OUTLET, OTHER = "main-1", "outlet-7", "other-3"


@pytest.fixture
def api(db: Database, database_url: str) -> Iterator[httpx.Client]:
    with (
        serve(create_app(Settings(database_url=database_url), db, worker=False)) as base,
        httpx.Client(base_url=base) as client,
    ):
        yield client


def _pages(api: httpx.Client, **params: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        answer = api.get(
            "/v1/orders", params={**params, "limit": "4", **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages did not end")


def test_a_main_shop_lists_its_own_and_its_outlets_orders_page_by_page(
    db: Database, api: httpx.Client
) -> None:
    events, expected, held = [], [], []
    for n in range(30):
        shop, main = [(MAIN, None), (OUTLET, MAIN), (OTHER, None)][n % 3]
        status = "IN_CANCEL" if n % 4 == 0 else "UNPAID"
        events.append(order_event(f"S{n:02d}", status, n, shop_id=shop, main_shop_id=main))
        if MAIN in (shop, main):
            expected.append(f"S{n:02d}")
            if status == "IN_CANCEL":
                held.append(f"S{n:02d}")
    ingest(db, events)
    assert _pages(api, shop_id=MAIN) == expected
    assert _pages(api, shop_id=MAIN, state="on_hold") == held
    assert _pages(api, shop_id=OUTLET) == [e for e in expected if int(e[1:]) % 3 == 1]
    assert _pages(api, shop_id=MAIN, platform="coupang") == []
    assert _pages(api, shop_id="nobody") == []
