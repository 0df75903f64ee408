"""The read API over real HTTP on loopback, with the app's lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.ingest import ingest
from service.settings import Settings
from tests.factories import order_event, package_event
from tests.live_server import serve

TOKENS = "alice:viewer-secret-1:viewer,bob:operator-secret-2:operator"


@pytest.fixture
def api(db: Database, database_url: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=database_url, api_tokens=parse_tokens(TOKENS))
    with (
        serve(create_app(settings, db)) as base,
        httpx.Client(base_url=base, headers={"Authorization": "Bearer viewer-secret-1"}) as client,
    ):
        yield client


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200


def test_readiness_fails_when_the_database_is_gone(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "x.db"
    settings = Settings(database_url=f"sqlite:///{missing}")
    with serve(create_app(settings)) as base:
        answer = httpx.get(f"{base}/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "storage_unavailable"


def test_an_order_with_its_packages_and_history(db: Database, api: httpx.Client) -> None:
    ingest(
        db,
        [
            order_event("240101ABC", "READY_TO_SHIP", 1),
            package_event("240101ABC", "OFG1", "LOGISTICS_PICKUP_DONE", 9),
        ],
    )
    order = api.get("/v1/orders/shopee/240101ABC").json()
    assert order["state"] == "shipped"
    assert order["platform_status"] == "READY_TO_SHIP"
    assert order["main_shop_id"] is None
    assert [(t["from"], t["to"], t["catch_up"]) for t in order["history"]][:2] == [
        ("pending", "processing", True),
        ("processing", "approved", False),
    ]
    assert order["history"][0]["source"] == "push"
    assert order["history"][0]["at"] == "2026-11-01T09:00:01Z"
    [package] = order["packages"]
    assert package["package_id"] == "OFG1" and package["state"] == "picked_up"
    assert package["history"][-1]["to"] == "picked_up"
    assert package["checkpoints"] == []

    same = api.get("/v1/packages/shopee/OFG1").json()
    assert same["history"] == package["history"]


def test_unknown_order_package_and_platform_are_404(api: httpx.Client) -> None:
    for path in ("/v1/orders/shopee/nope", "/v1/packages/coupang/nope", "/v1/orders/lazada/x"):
        answer = api.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"


def test_listing_filters_and_pages_with_a_cursor(db: Database, api: httpx.Client) -> None:
    events = [order_event(f"O{n:02d}", "READY_TO_SHIP" if n % 2 else "UNPAID", n) for n in range(25)]
    events.append(order_event("OUT1", "UNPAID", 30, shop_id="outlet-7", main_shop_id="main-1"))
    ingest(db, events)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"state": "approved", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/orders", params=params).json()
        seen += [o["order_id"] for o in page["orders"]]
        assert all(o["state"] == "approved" for o in page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"O{n:02d}" for n in range(25) if n % 2]

    by_main = api.get("/v1/orders", params={"shop_id": "main-1"}).json()["orders"]
    assert [o["order_id"] for o in by_main] == ["OUT1"]
    by_outlet = api.get("/v1/orders", params={"shop_id": "outlet-7"}).json()["orders"]
    assert [o["order_id"] for o in by_outlet] == ["OUT1"]
    recent = api.get("/v1/orders", params={"updated_since": "2026-11-01T09:00:20Z"}).json()["orders"]
    assert {o["order_id"] for o in recent} == {"O20", "O21", "O22", "O23", "O24", "OUT1"}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "x"},
        {"state": "teleported"},
        {"platform": "ebay"},
        {"cursor": "!!"},
        {"updated_since": "yesterday"},
    ],
)
def test_bad_list_queries_are_400_with_a_reason(api: httpx.Client, params: dict[str, str]) -> None:
    answer = api.get("/v1/orders", params=params)
    assert answer.status_code == 400
    body = answer.json()["error"]
    assert body["code"] == "bad_query" and body["message"]


def test_a_missing_or_wrong_token_is_401(api: httpx.Client) -> None:
    assert api.get("/v1/orders", headers={"Authorization": ""}).status_code == 401
    answer = api.get("/v1/orders", headers={"Authorization": "Bearer viewer-secret-X"})
    assert answer.status_code == 401
    assert "viewer-secret" not in answer.text


def test_without_tokens_reads_are_served_to_loopback(db: Database, database_url: str) -> None:
    with serve(create_app(Settings(database_url=database_url), db)) as base:
        assert httpx.get(f"{base}/v1/orders").status_code == 200


def test_alerts_list_by_state(db: Database, api: httpx.Client) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 1), order_event("O1", "IN_CANCEL", 2)])
    alerts = api.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
    assert [(a["order_id"], a["state"], a["resolved_at"]) for a in alerts] == [("O1", "open", None)]
    assert api.get("/v1/alerts", params={"state": "resolved"}).json()["alerts"] == []
    assert api.get("/v1/alerts", params={"state": "maybe"}).status_code == 400
