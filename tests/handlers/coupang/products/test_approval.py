"""Coupang products over real HTTP: orderwatch registers and follows them against the
Coupang sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.coupang.client import CoupangClient
from handlers.coupang.products import approval, read
from handlers.coupang.products.approval import PollReport
from handlers.coupang.products.calls import parse_product
from handlers.coupang.sandbox import CoupangSandbox, create_sandbox
from handlers.coupang.sandbox.products import ProductSandbox, attach, product_routes
from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.settings import Secret, Settings
from tests.handlers.coupang.product_bodies import valid_body
from tests.live_server import serve

VENDOR, ACCESS, SECRET = "A00012345", "access-key-1", "secret-key-1"
TOKENS = "ops:operator-secret:operator,eyes:viewer-secret:viewer"


@dataclass
class World:
    """orderwatch and the Coupang sandbox, both served over loopback."""

    db: Database
    settings: Settings
    sandbox: CoupangSandbox
    products: ProductSandbox
    coupang: httpx.Client  # the sandbox, for its control endpoints
    api: httpx.Client  # orderwatch, as an operator

    def poll(self) -> PollReport:
        """One round of the product poll, as the Coupang poller runs it."""

        async def run() -> PollReport:
            async with products_client(self.settings) as client:
                return await approval.poll_products(self.settings, self.db, client)

        return asyncio.run(run())

    def move(self, seller_product_id: str, status: str, **extra: Any) -> None:
        answer = self.coupang.post(
            f"/sandbox/products/{seller_product_id}/status", json={"status": status, **extra}
        )
        assert answer.status_code == 200, answer.text

    def product(self, seller_product_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/products/{seller_product_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def products_client(settings: Settings) -> CoupangClient:
    assert settings.coupang_access_key is not None
    return CoupangClient(
        settings.coupang_api_base, settings.coupang_access_key.reveal(), settings.coupang_secret_key,
        vendor_id=VENDOR, backoff=0.01,
    )  # fmt: skip


@pytest.fixture
def world(db: Database, database_url: str) -> Iterator[World]:
    with ExitStack() as stack:
        app = create_sandbox(VENDOR, ACCESS, SECRET, extra_routes=product_routes())
        state = attach(app)
        coupang_base = stack.enter_context(serve(app))
        settings = Settings(
            database_url=database_url,
            api_tokens=parse_tokens(TOKENS),
            coupang_vendor_id=VENDOR,
            coupang_access_key=Secret(ACCESS),
            coupang_secret_key=Secret(SECRET),
            coupang_api_base=coupang_base,
            coupang_product_poll_seconds=0.001,  # every product is due at every round
            api_backoff_seconds=0.01,
        )
        base = stack.enter_context(serve(create_app(settings, db, worker=False)))
        coupang = stack.enter_context(httpx.Client(base_url=coupang_base, timeout=10))
        api = stack.enter_context(
            httpx.Client(base_url=base, timeout=10, headers={"Authorization": "Bearer operator-secret"})
        )
        yield World(db, settings, app.state.sandbox, state, coupang, api)


def test_a_bad_product_body_is_refused_with_field_messages_before_any_api_call(world: World) -> None:
    body = valid_body(name="too short")
    body["items"][0]["salePrice"] = 100
    body["items"][0]["images"] = [{"imageType": "DETAIL", "vendorPath": "http://img.example.com/x.gif"}]

    answer = world.api.post("/v1/products", json=body)

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_product"
    assert {f["field"] for f in error["fields"]} == {
        "sellerProductName",
        "items[0].salePrice",
        "items[0].images",
        "items[0].images[0].vendorPath",
    }
    assert world.sandbox.calls["create_product"] == 0
    assert world.products.products == {}
    assert world.api.get("/v1/products").json() == {"products": []}


def test_a_product_moves_draft_in_review_rejected_and_an_alert_opens(world: World) -> None:
    body = valid_body()
    body["requested"] = False

    created = world.api.post("/v1/products", json=body)

    assert created.status_code == 201, created.text
    product_id = created.json()["seller_product_id"]
    assert created.json()["state"] == "draft"
    assert world.sandbox.calls["create_product"] == 1
    assert world.poll().read == 1
    assert world.product(product_id)["status_name"] == "임시저장"

    world.move(product_id, "심사중")
    assert world.poll().moved == 1
    assert world.product(product_id)["state"] == "in_review"

    world.move(product_id, "승인반려", reason="대표이미지에 텍스트가 있습니다 (text on the main image)")
    world.poll()

    found = world.product(product_id)
    assert found["state"] == "rejected"
    assert found["rejection_reason"] == "대표이미지에 텍스트가 있습니다 (text on the main image)"
    assert found["vendor_item_ids"] == []
    assert [(h["from"], h["to"], h["catch_up"]) for h in found["history"]] == [
        ("draft", "in_review", False),
        ("in_review", "rejected", False),
    ]
    alerts = world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
    assert [(a["kind"], a["platform"], a["order_id"]) for a in alerts] == [
        ("product_rejected", "coupang", product_id)
    ]
    assert "text on the main image" in alerts[0]["message"]
    jobs = [j for j in world.api.get("/v1/jobs").json()["jobs"] if j["kind"] == "alert"]
    assert [(j["order_id"], j["key"].split(":")[3]) for j in jobs] == [(product_id, "rejected")]

    world.poll()  # the same status again changes nothing and opens nothing more
    assert len(world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"]) == 1
    assert len(world.product(product_id)["history"]) == 2


def test_a_tracked_product_ends_approved_with_its_vendor_item_ids(world: World) -> None:
    made = world.coupang.post("/sandbox/products", json={"items": ["빨강", "파랑"], "statusName": "심사중"})
    product_id = str(made.json()["sellerProductId"])

    tracked = world.api.post("/v1/products", json={"sellerProductId": int(product_id)})
    again = world.api.post("/v1/products", json={"sellerProductId": int(product_id)})
    world.poll()
    world.move(product_id, "승인완료")
    world.poll()

    assert (tracked.status_code, again.status_code) == (201, 200)
    found = world.product(product_id)
    assert found["state"] == "approved"
    assert found["origin"] == "tracked"
    expected = [str(i["vendorItemId"]) for i in world.coupang.post(
        f"/sandbox/products/{product_id}/status", json={"status": "승인완료"}).json()["items"]]  # fmt: skip
    assert len(expected) == 2 and all(expected)
    assert found["vendor_item_ids"] == expected
    assert [(h["from"], h["to"], h["catch_up"]) for h in found["history"]] == [
        ("draft", "in_review", False),  # first seen in review
        ("in_review", "approved", False),
    ]
    listed = world.api.get("/v1/products", headers={"Authorization": "Bearer viewer-secret"}).json()[
        "products"
    ]
    assert [(p["seller_product_id"], p["state"], p["vendor_item_ids"]) for p in listed] == [
        (product_id, "approved", expected)
    ]
    assert world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"] == []


def test_a_partial_approval_alerts_until_the_product_is_approved(world: World) -> None:
    made = world.coupang.post("/sandbox/products", json={"items": ["S", "M", "L"], "statusName": "심사중"})
    product_id = str(made.json()["sellerProductId"])
    world.api.post("/v1/products", json={"sellerProductId": int(product_id)})

    world.move(product_id, "부분승인완료", approved=[1], reason="S, L: 옵션명 오류")
    world.poll()
    partly = world.product(product_id)
    opened = world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"]
    world.move(product_id, "승인완료")
    world.poll()  # skips the re-review it did not see: resubmit is a catch-up step

    assert partly["state"] == "partially_approved"
    assert partly["rejection_reason"] == "S, L: 옵션명 오류"
    assert len(partly["vendor_item_ids"]) == 1
    assert [a["kind"] for a in opened] == ["product_partially_approved"]
    found = world.product(product_id)
    assert found["state"] == "approved" and found["rejection_reason"] is None
    assert len(found["vendor_item_ids"]) == 3
    assert [(h["trigger"], h["catch_up"]) for h in found["history"][-2:]] == [
        ("resubmit", True),
        ("approve", False),
    ]
    assert world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"] == []
    resolved = world.api.get("/v1/alerts", params={"state": "resolved"}).json()["alerts"]
    assert [a["kind"] for a in resolved] == ["product_partially_approved"]


def test_being_registered_answers_are_asked_again_later(world: World) -> None:
    world.products.registering_seconds = 600
    product_id = world.api.post("/v1/products", json=valid_body()).json()["seller_product_id"]

    report = world.poll()

    assert (report.read, report.not_ready, report.failed) == (0, 1, 0)
    waiting = world.product(product_id)
    assert waiting["state"] == "draft" and waiting["status_name"] is None
    assert "being registered" in waiting["last_error"]
    world.products.registering_seconds = 0
    world.poll()
    found = world.product(product_id)
    assert (found["state"], found["status_name"], found["last_error"]) == (
        "awaiting_approval",  # requested: true asks for approval at once
        "승인대기중",
        None,
    )


def test_failing_reads_keep_the_state_and_are_tried_again(world: World) -> None:
    made = world.coupang.post("/sandbox/products", json={"statusName": "승인반려"})
    product_id = str(made.json()["sellerProductId"])
    world.api.post("/v1/products", json={"sellerProductId": int(product_id)})
    faults = world.coupang.post("/sandbox/faults", json={"fail_next": ["500", "429", "500", "500"]})
    assert faults.status_code == 200, faults.text

    failed = world.poll()
    failing = world.product(product_id)
    recovered = world.poll()

    assert (failed.read, failed.failed) == (0, 1)
    assert failing["state"] == "draft" and "Internal Server Error" in failing["last_error"]
    assert (recovered.read, recovered.failed) == (1, 0)
    found = world.product(product_id)
    assert (found["state"], found["last_error"]) == ("rejected", None)
    assert found["rejection_reason"] == "승인반려"  # the sandbox's comment when no reason is given


def test_a_product_reported_by_an_external_poller_is_followed_and_applied(world: World) -> None:
    reported = {
        "sellerProductId": 427500001,
        "statusName": "승인반려",
        "sellerProductName": "외부 폴러가 알려준 상품 이름입니다",
        "items": [{"sellerProductItemId": 1, "itemName": "기본", "vendorItemId": None}],
    }

    moved = approval.apply_reported(world.db, parse_product(reported), world.settings)
    again = approval.apply_reported(world.db, parse_product(reported), world.settings)

    assert (moved, again) == (True, False)
    found = world.product("427500001")
    assert (found["state"], found["origin"]) == ("rejected", "tracked")
    assert {h["source"] for h in found["history"]} == {"push"}
    assert [a["kind"] for a in world.api.get("/v1/alerts", params={"state": "open"}).json()["alerts"]] == [
        "product_rejected"
    ]
    with pytest.raises(ValueError):
        parse_product({"statusName": "승인완료"})


def test_viewers_may_list_but_not_register_and_unknown_products_are_404(world: World) -> None:
    viewer = {"Authorization": "Bearer viewer-secret"}

    assert world.api.post("/v1/products", json=valid_body(), headers=viewer).status_code == 403
    assert world.api.get("/v1/products", headers=viewer).status_code == 200
    assert world.api.get("/v1/products", params={"state": "listed"}).status_code == 400
    assert world.api.get("/v1/products/123").json()["error"]["code"] == "not_found"
    assert world.api.post("/v1/products", content=b"{").status_code == 400
    assert world.sandbox.calls["create_product"] == 0


def test_the_poller_loop_follows_products_until_stopped(world: World) -> None:
    made = world.coupang.post("/sandbox/products", json={"statusName": "승인완료"})
    product_id = str(made.json()["sellerProductId"])
    approval.track(world.db, product_id, world.settings)

    async def run() -> None:
        stop = asyncio.Event()
        async with products_client(world.settings) as client:
            task = asyncio.create_task(
                approval.run_forever(world.settings, world.db, client, stop, tick=0.05)
            )
            for _ in range(100):
                found = read.find(world.db, product_id)
                if found and found["state"] == "approved":
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 5)

    asyncio.run(run())

    assert world.product(product_id)["state"] == "approved"


def test_the_command_line_registers_tracks_and_lists(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    for name, value in {
        "ORDERWATCH_DATABASE_URL": world.settings.database_url,
        "ORDERWATCH_COUPANG_VENDOR_ID": VENDOR,
        "ORDERWATCH_COUPANG_ACCESS_KEY": ACCESS,
        "ORDERWATCH_COUPANG_SECRET_KEY": SECRET,
        "ORDERWATCH_COUPANG_API_BASE": world.settings.coupang_api_base,
    }.items():
        monkeypatch.setenv(name, value)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(valid_body()), encoding="utf-8")
    bad.write_text(json.dumps(valid_body(name="short")), encoding="utf-8")

    assert main(["products", "register", str(bad)]) == 2
    refused = capsys.readouterr()
    assert main(["products", "register", str(good)]) == 0
    registered = capsys.readouterr().out
    assert main(["products", "track", "427999999"]) == 0
    assert main(["products", "list"]) == 0
    listed = capsys.readouterr().out

    assert "sellerProductName: sellerProductName must be 15 to 100 characters" in refused.err
    assert world.sandbox.calls["create_product"] == 1
    assert registered.startswith("registered coupang product 427011919")
    assert "427011919\tdraft" in listed and "427999999\tdraft" in listed


def test_the_product_poll_interval_comes_from_the_environment() -> None:
    from service.settings import ConfigurationError

    assert Settings.from_environ({}).coupang_product_poll_seconds == 300.0
    assert (
        Settings.from_environ({"ORDERWATCH_COUPANG_PRODUCT_POLL_SECONDS": "60"}).coupang_product_poll_seconds
        == 60
    )
    with pytest.raises(ConfigurationError, match="ORDERWATCH_COUPANG_PRODUCT_POLL_SECONDS"):
        Settings.from_environ({"ORDERWATCH_COUPANG_PRODUCT_POLL_SECONDS": "0"})
