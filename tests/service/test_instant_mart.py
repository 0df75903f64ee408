"""Instant Mart: an outlet shop's orders are listed under its main shop too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from service import shops
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.replay import replay
from service.settings import Settings
from tests.factories import order_event
from tests.live_server import serve
from tests.service.test_cli import run
from tests.snapshots import snapshot

MAIN, OUTLET, OTHER = "1000", "2001", "3001"
MAIN_SHOP_ID = 4  # its place in a snapshot's order tuple


def listed(client: httpx.Client, shop_id: str) -> list[str]:
    answer = client.get("/v1/orders", params={"shop_id": shop_id})
    assert answer.status_code == 200, answer.text
    return sorted(order["order_id"] for order in answer.json()["orders"])


@pytest.fixture
def client(db: Database, database_url: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=database_url, shopee_outlet_shops=((OUTLET, MAIN),))
    with ExitStack() as stack:
        base = stack.enter_context(serve(create_app(settings, db)))
        yield stack.enter_context(httpx.Client(base_url=base))


def test_an_outlet_order_is_listed_under_its_main_shop_and_its_own(
    client: httpx.Client, db: Database
) -> None:
    ingest(
        db,
        [
            order_event("OUT1", "READY_TO_SHIP", 1, shop_id=OUTLET),
            order_event("MAIN1", "READY_TO_SHIP", 2, shop_id=MAIN),
            order_event("ELSE1", "READY_TO_SHIP", 3, shop_id=OTHER),
        ],
    )
    assert listed(client, MAIN) == ["MAIN1", "OUT1"]
    assert listed(client, OUTLET) == ["OUT1"]
    assert listed(client, OTHER) == ["ELSE1"]
    order = client.get("/v1/orders/shopee/OUT1").json()
    assert (order["shop_id"], order["main_shop_id"]) == (OUTLET, MAIN)
    assert client.get("/v1/orders/shopee/ELSE1").json()["main_shop_id"] is None


def test_linking_a_shop_later_moves_its_existing_orders_under_the_main_shop(db: Database) -> None:
    ingest(db, [order_event("LATE1", "UNPAID", 1, shop_id=OTHER)])
    assert shops.link(db, "shopee", OTHER, MAIN) == 1
    assert snapshot(db)["orders"][("shopee", "LATE1")][MAIN_SHOP_ID] == MAIN
    ingest(db, [order_event("LATE1", "READY_TO_SHIP", 2, shop_id=OTHER)])
    assert snapshot(db)["orders"][("shopee", "LATE1")][MAIN_SHOP_ID] == MAIN
    assert shops.link(db, "shopee", OTHER, None) == 1
    assert snapshot(db)["orders"][("shopee", "LATE1")][MAIN_SHOP_ID] is None


def test_replay_keeps_the_main_shop_of_outlet_orders(db: Database) -> None:
    shops.link(db, "shopee", OUTLET, MAIN)
    ingest(db, [order_event(f"R{n}", "READY_TO_SHIP", n, shop_id=OUTLET) for n in range(5)])
    before = snapshot(db)
    replay(db)
    assert snapshot(db)["orders"] == before["orders"]


def test_a_shop_cannot_be_its_own_main_shop(db: Database) -> None:
    with pytest.raises(ValueError, match="its own main shop"):
        shops.link(db, "shopee", MAIN, MAIN)


def test_the_shops_command_links_lists_and_unlinks(db: Database, database_url: str) -> None:
    ingest(db, [order_event("CLI1", "UNPAID", 1, shop_id=OUTLET)])
    result = run("shops", "link", OUTLET, MAIN, url=database_url)
    assert result.returncode == 0, result.stderr
    assert f"shopee shop {OUTLET} is now an outlet of {MAIN}; 1 of its orders changed" in result.stdout
    assert f"shopee\t{OUTLET}\toutlet of {MAIN}" in run("shops", "list", url=database_url).stdout
    assert run("shops", "unlink", OUTLET, url=database_url).returncode == 0
    assert snapshot(db)["orders"][("shopee", "CLI1")][MAIN_SHOP_ID] is None
    bad = run("shops", "link", "abc", MAIN, url=database_url)
    assert bad.returncode == 2 and "shop ids are numbers" in bad.stderr
