"""POST /webhooks/coupang over real HTTP: Coupang's own order sheet and product shapes,
signed with ORDERWATCH_INGEST_SECRET like a Shopee push; the Shopee webhook's answers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from handlers.coupang.sandbox import CoupangSandbox
from service.app import create_app
from service.db import Database
from service.models import Event, Push
from service.settings import Secret, Settings
from tests.live_server import serve

SECRET = "ingest-secret-for-tests"
VENDOR = "A00099999"


class Reporter:
    """Our service, and a seller's poller that reports to it."""

    def __init__(self, base: str, http: httpx.Client, db: Database) -> None:
        self.base, self.http, self.db = base, http, db
        self.url = f"{base}/webhooks/coupang"

    def post(self, body: Any, *, secret: str | None = SECRET, signature: str | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            digest = hmac.new(secret.encode(), f"{self.url}|".encode() + raw, hashlib.sha256).hexdigest()
            headers["Authorization"] = signature if signature is not None else digest
        return self.http.post(self.url, content=raw, headers=headers)

    def count(self, model: Any) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one())


@pytest.fixture
def reporter(db: Database, database_url: str) -> Iterator[Reporter]:
    settings = Settings(database_url=database_url, ingest_secret=Secret(SECRET), coupang_vendor_id=VENDOR)
    with ExitStack() as stack:
        base = stack.enter_context(serve(create_app(settings, db)))
        yield Reporter(base, stack.enter_context(httpx.Client(base_url=base, timeout=30)), db)


def sheets(*statuses: str) -> dict[str, Any]:
    """An order sheet list answer, as Coupang gives it, of one order with a box per status."""
    world = CoupangSandbox(VENDOR, "a", "s", seed=1)
    [first] = world.create_order(status=statuses[0])
    rest = [world.create_order(status=s, order_id=first.order_id)[0] for s in statuses[1:]]
    return {"code": 200, "message": "OK", "data": [b.sheet() for b in (first, *rest)], "nextToken": ""}


def test_order_sheets_are_ingested_once_and_answered_200(reporter: Reporter) -> None:
    body = sheets("DEPARTURE", "DEPARTURE")
    answer = reporter.post(body)
    assert answer.status_code == 200 and answer.content == b""
    order = reporter.http.get(f"/v1/orders/coupang/{body['data'][0]['orderId']}").json()
    assert order["state"] == "ready_to_ship"
    assert {p["tracking_number"] for p in order["packages"]} == {s["invoiceNumber"] for s in body["data"]}
    events = reporter.count(Event)
    again = reporter.post(body)
    assert again.status_code == 200 and reporter.count(Event) == events and reporter.count(Push) == 1


def test_a_single_sheet_answer_and_a_bare_sheet_are_understood(reporter: Reporter) -> None:
    sheet = sheets("ACCEPT")["data"][0]
    assert reporter.post({"code": 200, "message": "OK", "data": sheet}).status_code == 200
    assert reporter.post({**sheet, "status": "INSTRUCT"}).status_code == 200
    order = reporter.http.get(f"/v1/orders/coupang/{sheet['orderId']}").json()
    assert order["state"] == "approved" and order["shop_id"] == VENDOR


@pytest.mark.parametrize(
    ("how", "status", "code"),
    [
        pytest.param({"secret": None}, 401, "invalid_signature", id="missing"),
        pytest.param({"secret": "another-secret"}, 401, "invalid_signature", id="other-secret"),
        pytest.param({"signature": "0" * 64}, 401, "invalid_signature", id="garbage"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    reporter: Reporter, how: dict[str, Any], status: int, code: str
) -> None:
    answer = reporter.post(sheets("ACCEPT"), **how)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert reporter.count(Push) == 0 and reporter.count(Event) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"{not json", "malformed_json", id="not-json"),
        pytest.param([1, 2], "not_an_object", id="array"),
        pytest.param({"data": [{"hello": "world"}]}, "malformed_report", id="unknown-shape"),
        pytest.param(
            {"data": [{"shipmentBoxId": "x1", "orderId": 1, "status": "ACCEPT"}]},
            "malformed_report",
            id="bad-box-id",
        ),  # fmt: skip
    ],
)
def test_a_body_that_is_not_a_report_is_refused_with_400(reporter: Reporter, body: Any, code: str) -> None:
    answer = reporter.post(body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert reporter.count(Push) == 0


def test_a_body_over_a_mebibyte_is_refused_with_413(reporter: Reporter) -> None:
    body = sheets("ACCEPT")
    body["padding"] = "x" * (1024 * 1024)
    answer = reporter.post(body)
    assert answer.status_code == 413 and reporter.count(Push) == 0


def test_a_product_report_is_applied_and_stored_once(reporter: Reporter) -> None:
    data = {
        "sellerProductId": 427011919,
        "sellerProductName": "해피바스 솝베리 클렌징 오일 200ml",
        "statusName": "심사중",
        "vendorId": VENDOR,
        "items": [{"sellerProductItemId": 1, "itemName": "200ml", "vendorItemId": None}],
    }
    product = {"code": "SUCCESS", "message": "", "data": data}
    assert reporter.post(product).status_code == 200
    assert reporter.post(product).status_code == 200
    assert reporter.count(Push) == 1
    found = reporter.http.get("/v1/products/427011919")
    assert found.status_code == 200 and found.json()["state"] == "in_review"


def test_storage_down_is_503_and_the_retry_is_stored_once_it_is_back(
    reporter: Reporter, db: Database, tmp_path: Any
) -> None:
    body = sheets("INSTRUCT")
    working = db.engine
    broken = sa.create_engine(f"sqlite:///{tmp_path}/no-such-directory/down.db")
    db.engine = broken  # the app's own Database: the server keeps running throughout
    try:
        answer = reporter.post(body)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "storage_unavailable"
    finally:
        db.engine = working
        broken.dispose()
    assert (reporter.count(Push), reporter.count(Event)) == (0, 0)
    again = reporter.post(body)  # the seller's poller tries again
    assert again.status_code == 200 and reporter.count(Push) == 1
    order = reporter.http.get(f"/v1/orders/coupang/{body['data'][0]['orderId']}").json()
    assert order["state"] == "approved"


@pytest.mark.parametrize(
    "name",
    ["ordersheets.list_per_day.v5", "ordersheets.list_per_day.v4", "ordersheets.by_shipment_box.v5",
     "ordersheets.by_shipment_box.v4"],
)  # fmt: skip
def test_coupangs_published_order_sheet_answers_are_understood(reporter: Reporter, name: str) -> None:
    from tests.conformance import corpus

    body = corpus.response_sample("coupang", name)  # tests/conformance/samples/coupang: the portal's own
    assert reporter.post(body).status_code == 200
    rows = body["data"] if isinstance(body["data"], list) else [body["data"]]
    for row in rows:
        order = reporter.http.get(f"/v1/orders/coupang/{row['orderId']}").json()
        assert order["state"] == "delivered", (name, order)  # FINAL_DELIVERY, every sample
        assert [p["tracking_number"] for p in order["packages"]] == [row["invoiceNumber"]]
