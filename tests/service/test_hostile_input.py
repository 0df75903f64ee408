"""Hostile input at the inbound edges (issue 12, cases 2-6), over real HTTP: JSON nested past
the documented depth limit (service/limits.py), outsized ids and numbers, and ids the status
API could not address. Each is refused before anything is stored or applied."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import sqlalchemy as sa

from handlers.coupang.sandbox import create_sandbox
from handlers.coupang.sandbox.products import FIRST_PRODUCT_ID, attach, product_routes
from handlers.shopee.lost_pushes import ALERT_KIND
from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.limits import MAX_DEPTH
from service.models import Alert, Order, Push
from service.models import CoupangProduct as Product
from service.settings import Secret, Settings
from tests.handlers.coupang.product_bodies import valid_body
from tests.handlers.shopee.test_reconcile import lost_answer, recover
from tests.live_server import serve
from tests.shopee_pushes import SENT, Receiver, encode, start_receiver, status_push

INGEST = "ingest-secret-for-tests"
VENDOR = "A00099999"
OPERATOR = "operator-secret-token"
NOTHING = {"pushes": 0, "events": 0, "transitions": 0}


def nested(levels: int, inner: bytes = b"1") -> bytes:
    """``inner`` inside ``levels`` arrays, as raw JSON (orjson cannot write past 254 levels)."""
    return b"[" * levels + inner + b"]" * levels


def status_push_with(extra: bytes, ordersn: str = "2211095TV1XRKN") -> bytes:
    """A code-3 push whose ``data`` carries one more field, ``extra``, given as raw JSON."""
    head = status_push(ordersn, "READY_TO_SHIP")
    assert head.endswith(b"}") and b'"data":{' in head
    return head.replace(b'"data":{', b'"data":{"extra":' + extra + b",", 1)


@pytest.fixture
def receiver(db: Database, database_url: str) -> Iterator[Receiver]:
    with ExitStack() as stack:
        receiver = start_receiver(
            stack,
            db,
            database_url,
            ingest_secret=Secret(INGEST),
            coupang_vendor_id=VENDOR,
            api_tokens=parse_tokens(f"ops:{OPERATOR}:operator"),
        )
        receiver.client.headers["Authorization"] = f"Bearer {OPERATOR}"  # reads and commands
        yield receiver


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def count(db: Database, model: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one())


def report(receiver: Receiver, raw: bytes) -> httpx.Response:
    url = receiver.base + "/webhooks/coupang"
    digest = hmac.new(INGEST.encode(), url.encode() + b"|" + raw, hashlib.sha256).hexdigest()
    return receiver.client.post(url, content=raw, headers={"Authorization": digest})


# Case 2: the NUL check recursed without a bound (RecursionError, 500, at ~330 levels).
@pytest.mark.parametrize("levels", [330, 1000])
def test_a_nul_nested_deep_in_a_signed_push_is_400_not_500(receiver: Receiver, levels: int) -> None:
    body = b'{"code":99,"shop_id":680000123,"data":' + nested(levels, b'"\\u0000"') + b"}"
    answer = receiver.post(body)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "too_deep"
    assert receiver.counts() == NOTHING


def test_a_nul_nested_deep_in_a_code_3_push_is_400_not_500(receiver: Receiver) -> None:
    answer = receiver.post(status_push_with(nested(330, b'"\\u0000"')))
    assert answer.status_code == 400, answer.text
    assert receiver.counts() == NOTHING


# Case 3: answered 200 and stored, then the applier failed on it (orjson writes 254 levels at most).
@pytest.mark.parametrize("levels", [253, 300, 1000])
def test_a_code_3_push_nested_past_the_limit_is_refused_not_acknowledged(
    receiver: Receiver, levels: int
) -> None:
    answer = receiver.post(status_push_with(nested(levels)))
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "too_deep"
    assert str(MAX_DEPTH) in answer.json()["error"]["message"]
    assert receiver.counts() == NOTHING


def test_a_push_at_the_depth_limit_is_acknowledged_and_applied(receiver: Receiver) -> None:
    # The push is depth 1, data depth 2: the extra field may hold MAX_DEPTH - 2 levels.
    answer = receiver.post(status_push_with(nested(MAX_DEPTH - 2)))
    assert answer.status_code == 200, answer.text
    assert receiver.order("2211095TV1XRKN")["state"] == "approved"
    over = receiver.post(status_push_with(nested(MAX_DEPTH - 1), ordersn="2211095TV1XRKM"))
    assert over.status_code == 400 and error_code(over) == "too_deep"


# Case 4: a product report nested >= 254 levels was applied, then answered 500.
@pytest.mark.parametrize("levels", [254, 600])
def test_a_deep_coupang_product_report_is_400_and_the_product_is_not_applied(
    receiver: Receiver, db: Database, levels: int
) -> None:
    data = {"sellerProductId": 427011919, "statusName": "심사중", "vendorId": VENDOR}
    raw = orjson.dumps({"code": "SUCCESS", "message": "", "data": data})
    raw = raw[:-2] + b',"extra":' + nested(levels) + b"}}"
    answer = report(receiver, raw)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "too_deep"
    assert (count(db, Product), count(db, Push)) == (0, 0)
    assert receiver.client.get("/v1/products/427011919").status_code == 404


def test_a_coupang_report_holding_a_nul_is_400_and_nothing_is_stored(
    receiver: Receiver, db: Database
) -> None:
    data = {"sellerProductId": 427011919, "statusName": "심사중\u0000", "vendorId": VENDOR}
    answer = report(receiver, orjson.dumps({"code": "SUCCESS", "message": "", "data": data}))
    assert answer.status_code == 400, answer.text
    assert (count(db, Product), count(db, Push)) == (0, 0)


# Case 5: int() of 4,301 digits raised ValueError (500).
@pytest.mark.parametrize("digits", [20, 4301, 10_000])
def test_a_product_id_of_many_digits_is_404_not_500(receiver: Receiver, digits: int) -> None:
    answer = receiver.client.get("/v1/products/" + "9" * digits)
    assert answer.status_code == 404, answer.text
    assert error_code(answer) == "not_found"


@pytest.mark.parametrize("path", ["/v1/orders/shopee/", "/v1/packages/shopee/", "/orders/shopee/"])
def test_an_id_longer_than_any_stored_is_404(receiver: Receiver, path: str) -> None:
    assert receiver.client.get(path + "9" * 10_000).status_code == 404


@pytest.mark.parametrize(
    "query",
    ["limit=" + "9" * 5000, "cursor=" + "9" * 5000, "updated_since=" + "9" * 5000, "shop_id=" + "x" * 5000],
)
def test_an_outsized_query_parameter_is_400(receiver: Receiver, query: str) -> None:
    answer = receiver.client.get("/v1/orders?" + query)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "bad_query"


def test_an_outsized_change_feed_cursor_is_400(receiver: Receiver) -> None:
    answer = receiver.client.get("/v1/changes?after=" + "9" * 5000)
    assert answer.status_code == 400 and error_code(answer) == "bad_query"


# Case 6: an ordersn with "/" was stored, and no URL reaches it (not even %2F).
@pytest.mark.parametrize("ordersn", ["2211/095TV1XRKN", "/", ".", ".."])
def test_an_ordersn_the_status_api_cannot_address_is_400_naming_the_field(
    receiver: Receiver, ordersn: str
) -> None:
    answer = receiver.post(status_push(ordersn, "READY_TO_SHIP"))
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "malformed_push"
    assert "data.ordersn" in answer.json()["error"]["message"]
    assert receiver.counts() == NOTHING


def test_a_package_number_the_status_api_cannot_address_is_400_naming_the_field(receiver: Receiver) -> None:
    data = {"ordersn": "2211095TV1XRKN", "package_number": "OFG/1", "tracking_no": "SPXID1"}
    answer = receiver.post(encode({"data": data, "shop_id": 680000123, "code": 4, "timestamp": SENT}))
    assert answer.status_code == 400, answer.text
    assert "data.package_number" in answer.json()["error"]["message"]
    assert receiver.counts() == NOTHING


def test_an_ordersn_of_any_other_characters_is_read_back_percent_encoded(receiver: Receiver) -> None:
    ordersn = "22 11?#%&+é"
    assert receiver.post(status_push(ordersn, "READY_TO_SHIP")).status_code == 200
    assert receiver.order(quote(ordersn, safe=""))["order_id"] == ordersn


# API bodies: the same depth limit, before the body is read for its fields.
@pytest.mark.parametrize(
    "path",
    [
        "/v1/orders/shopee/2211095TV1XRKN/commands",
        "/v1/packages/shopee/OFG1/commands",
        "/v1/packages/shopee/OFG1/tracking",
        "/v1/products",
    ],
)
def test_an_api_body_nested_past_the_limit_is_400(receiver: Receiver, db: Database, path: str) -> None:
    raw = b'{"command":"hold","carrier":"x","tracking_number":"y","extra":' + nested(300) + b"}"
    answer = receiver.client.post(path, content=raw)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == "too_deep"
    assert count(db, Order) == 0


def test_the_limit_is_the_one_the_readme_and_the_decisions_document() -> None:
    root = Path(__file__).resolve().parents[2]
    for doc in ("README.md", "docs/decisions.md"):
        assert f"{MAX_DEPTH} levels" in (root / doc).read_text(), doc


# Found by the fuzz suite on PostgreSQL (tests/service/test_fuzz.py): values longer than the
# columns they go into were a 500 (StringDataRightTruncation) instead of a 400.
def test_a_product_report_whose_status_name_cannot_be_kept_is_400(receiver: Receiver, db: Database) -> None:
    data = {"sellerProductId": 427011919, "statusName": "심" * 33, "vendorId": VENDOR}
    answer = report(receiver, orjson.dumps({"code": "SUCCESS", "message": "", "data": data}))
    assert answer.status_code == 400, answer.text
    assert "statusName" in answer.json()["error"]["message"]
    assert (count(db, Product), count(db, Push)) == (0, 0)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"orderId": "9" * 21}, "orderId"),
        ({"shipmentBoxId": "9" * 21}, "shipmentBoxId"),
        ({"status": "X" * 33}, "status"),
        ({"status": "DEPARTURE", "invoiceNumber": "1" * 65}, "invoiceNumber"),
        ({"vendorId": "A" * 65}, "vendorId"),
        ({"vendorId": {"a": 1}}, "vendorId"),
    ],
)
def test_an_order_sheet_whose_values_cannot_be_kept_is_400(
    receiver: Receiver, db: Database, change: dict[str, Any], says: str
) -> None:
    sheet = {"orderId": 9100000001, "shipmentBoxId": 6400000001, "status": "ACCEPT",
             "orderedAt": "2024-05-01T10:00:00"}  # fmt: skip
    document: dict[str, Any] = {"code": 200, "message": "OK", "data": [sheet], "vendorId": VENDOR}
    for name, value in change.items():
        (document if name == "vendorId" else sheet)[name] = value
    answer = report(receiver, orjson.dumps(document))
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]["message"]
    assert (count(db, Order), count(db, Push)) == (0, 0)


def test_a_product_reported_before_it_is_registered_here_is_registered_all_the_same(
    db: Database, database_url: str
) -> None:
    # The seller's poller reported the product first; registering it then was an IntegrityError.
    with ExitStack() as stack:
        coupang = create_sandbox(VENDOR, "access-key-1", "secret-key-1", extra_routes=product_routes())
        attach(coupang)
        settings = Settings(
            database_url=database_url,
            api_tokens=parse_tokens(f"ops:{OPERATOR}:operator"),
            ingest_secret=Secret(INGEST),
            coupang_vendor_id=VENDOR,
            coupang_access_key=Secret("access-key-1"),
            coupang_secret_key=Secret("secret-key-1"),
            coupang_api_base=stack.enter_context(serve(coupang)),
        )
        base = stack.enter_context(serve(create_app(settings, db, worker=False)))
        http = stack.enter_context(
            httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {OPERATOR}"})
        )
        receiver = Receiver(create_app(settings, db), base, http, db)
        data = {"sellerProductId": FIRST_PRODUCT_ID, "statusName": "심사중", "vendorId": VENDOR}
        assert report(receiver, orjson.dumps({"code": "SUCCESS", "data": data})).status_code == 200
        answer = http.post("/v1/products", json={**valid_body(), "vendorId": VENDOR})
        assert answer.status_code == 201, answer.text
        assert answer.json()["seller_product_id"] == str(FIRST_PRODUCT_ID)
        assert count(db, Product) == 1


def test_a_lost_push_nested_past_the_limit_is_kept_as_an_alert_not_stored(db: Database) -> None:
    # Shopee's lost-push list is the other way a push comes in: the same limit, or the applier
    # fails on what was stored. The page is confirmed once the push is kept as an alert.
    body = status_push_with(nested(300))
    message = {"shop_id": 680000123, "code": 3, "timestamp": SENT, "data": body.decode()}
    confirmed: list[int] = []
    report = asyncio.run(recover(db, lost_answer([message], 7), confirmed))
    assert (report.stored, report.malformed, confirmed) == (0, 1, [7])
    assert count(db, Push) == 0
    with db.read() as conn:
        [text] = conn.execute(sa.select(Alert.message).where(Alert.kind == ALERT_KIND)).scalars().all()
    assert "nested deeper than 32 levels" in text
