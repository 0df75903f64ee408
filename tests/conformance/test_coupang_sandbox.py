"""The Coupang sandbox against Coupang's published samples and field tables.

The sandbox is driven over real loopback HTTP, signed as orderwatch signs, and each answer is
compared structurally with the page's published sample and field table
(tests/conformance/samples/coupang): every member the sandbox answers is in the table (or the
sample) at the same nesting, with the sample's JSON type; every member the sample shows is
answered; times are written in the sample's form (v4: ``2017-10-10T10:20:16``, v5:
``2025-01-15T14:17:13.973885-08:00``); errors are ``{"code", "message"}`` as the pages quote
them. What the sandbox answers beyond the reference is listed in :data:`INVENTED` and marked
"Invented:" in the sandbox's code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from handlers.coupang.products.calls import PRODUCTS_PATH
from handlers.coupang.sandbox import CoupangSandbox, create_sandbox
from handlers.coupang.sandbox.products import ProductSandbox, attach, product_routes
from handlers.coupang.signing import authorization
from tests.conformance import corpus
from tests.coupang_world import ACCESS, SECRET, VENDOR
from tests.handlers.coupang.product_bodies import valid_body
from tests.live_server import serve

API = "/v2/providers/openapi/apis/api/{version}/vendors/" + VENDOR

# Members the sandbox answers that neither the page's table nor its sample names (each is marked
# "Invented:" or explained in the sandbox's code).
INVENTED = {
    "error": {"transactionId"},
    "returnRequests.list_per_day.v4": {"data[].returnItems[].releaseStatus"},
    "returnRequests.list_per_day.v6": {"data[].returnItems[].releaseStatus"},
}
# Members a sample shows that the page says appear only in some markets: the sandbox is a Korean
# seller's. (extraProperties.taxReceiptInfo: "세금 계산서(인보이스) 발행을 지원하는 마켓에서".)
MARKET_ONLY = {"data.extraProperties.taxReceiptInfo", "data[].extraProperties.taxReceiptInfo"}
# Where a published sample disagrees with its own page's table: the sample is what Coupang
# answered, so the sandbox may answer it too (test_the_published_samples_quirks_are_these checks that
# these are exactly the disagreements of each sample).
_STRING_CODE = "code: Number expected, got string"  # the table types code Number, the sample writes "200"
_SSN = "overseaShippingInfoDto.ordererSsn: not in the table"  # the table names it orderersSsn
_V5_EXTRAS = ("extraProperties.cutOffTimeHour", "extraProperties.sameDayShipping",
              "extraProperties.taxReceiptInfo")  # fmt: skip  # named in the prose, not as members
SAMPLE_QUIRKS = {
    "ordersheets.list_per_day.v4": {f"data[].{_SSN}"},
    "ordersheets.list_per_day.v5": {f"data[].{_SSN}", *(f"data[].{m}: not in the table" for m in _V5_EXTRAS)},
    "ordersheets.by_shipment_box.v5": {_STRING_CODE, f"data.{_SSN}",
                                       *(f"data.{m}: not in the table" for m in _V5_EXTRAS)},  # fmt: skip
    # The v4 tables name the items "ordeItems".
    "ordersheets.by_shipment_box.v4": {_STRING_CODE, f"data.{_SSN}", "data.orderItems: not in the table"},
    "ordersheets.by_order.v4": {_STRING_CODE, f"data.{_SSN}", "data.orderItems: not in the table"},
    "ordersheets.acknowledgement.v4": {_STRING_CODE},
    # The table types data as Array; the sample answers an object.
    "orders.invoices.v4": {_STRING_CODE, "data: Array expected, got object"},
    # The table puts nextToken inside data; the sample answers it beside data.
    "returnRequests.list_per_day.v4": {"nextToken: not in the table"},
    # The table types data as the product id; the sample nests {code, message, data} in it.
    "seller-products.create.v1": {"data.code: not in the table", "data.data: not in the table",
                                  "data.message: not in the table"},  # fmt: skip
    # The sample's product has members its table leaves out, and one of another type.
    "seller-products.get.v1": {
        *(f"data.{m}: not in the table" for m in ("bundlePackingDelivery", "categoryId", "contributorType",
                                                   "exchangeType", "mdId", "mdName", "productId")),
        *(f"data.items[].{m}: not in the table" for m in ("saleAgentCommission", "supplyPrice", "unitCount")),
        *(f"data.items[].extraProperties.{m}: not in the table"
          for m in ("businessType", "coupangSalePrice", "onlineSalePriceForBooks", "transactionType")),
        "data.items[].attributes[].editable: String expected, got boolean",
    },  # fmt: skip
    # The table names the history's status statusName; the sample answers status.
    "seller-products.histories.v1": {_STRING_CODE, "data[].status: not in the table"},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio


# -- the checker ------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names[type(value)]


TABLE_TYPES = {"Number": "number", "String": "string", "Boolean": "boolean", "Object": "object",
               "Array": "array", "OrderSheetResponse": "object"}  # fmt: skip


def _time_form(text: str) -> str | None:
    """A time's written form (digits as 9, an offset's sign as ±), or None when it is no time."""
    if not re.match(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d", text):
        return None
    return re.sub(r"[+-](?=\d\d:\d\d$)", "±", re.sub(r"\d", "9", text))


def check_table(value: Any, table: Sequence[Mapping[str, Any]], where: str = "") -> set[str]:
    """Members not in the table, and values not of its type, at any depth."""
    problems: set[str] = set()
    if not isinstance(value, dict):
        return problems
    fields = {f["name"].strip(): f for f in table}
    for name, member in value.items():
        at = f"{where}.{name}" if where else name
        field = fields.get(name)
        if field is None:
            problems.add(f"{at}: not in the table")
            continue
        kind = TABLE_TYPES.get(field["type"].strip())
        if kind and member is not None and _json_type(member) != kind:
            problems.add(f"{at}: {field['type']} expected, got {_json_type(member)}")
            continue
        children = field.get("children") or []
        if isinstance(member, dict):
            problems |= check_table(member, children, at)
        elif isinstance(member, list) and children:
            for item in member:
                problems |= check_table(item, children, f"{at}[]")
    return problems


def check_sample(value: Any, sample: Any, where: str = "") -> set[str]:
    """Members of the sample the answer lacks, JSON types that differ, times written otherwise."""
    problems: set[str] = set()
    if isinstance(sample, dict) and isinstance(value, dict):
        for name, expected in sample.items():
            at = f"{where}.{name}" if where else name
            if name not in value:
                problems.add(f"{at}: in the sample, not answered")
            else:
                problems |= check_sample(value[name], expected, at)
    elif isinstance(sample, list) and isinstance(value, list):
        for item in value:
            for expected in sample[:1]:
                problems |= check_sample(item, expected, f"{where}[]")
    elif sample is not None and value is not None:
        if _json_type(sample) != _json_type(value):
            problems.add(f"{where}: the sample's {_json_type(sample)}, answered {_json_type(value)}")
        elif isinstance(sample, str) and isinstance(value, str) and value:
            form, answered = _time_form(sample), _time_form(value)
            if form and form != answered:
                problems.add(f"{where}: written {value!r}, the sample writes {sample!r}")
    return problems


def check(answer: Any, name: str, sample: Any = None) -> set[str]:
    """Every disagreement of an answer with the page's table and sample, less the known ones."""
    entry = corpus.api("coupang", name)
    published = sample if sample is not None else entry["response_samples"][0]["json"]
    table = entry["response_fields"]
    names = {p.split(":")[0] for p in check_table(published, table)} if table else set()
    problems = {p for p in check_table(answer, table) if p.split(":")[0] not in names} if table else set()
    # Members the table lacks but the published sample shows are Coupang's (SAMPLE_QUIRKS).
    problems |= check_sample(answer, published)
    allowed = INVENTED.get(name, set()) | MARKET_ONLY
    return {p for p in problems if p.split(":")[0] not in allowed}


# -- the sandbox ------------------------------------------------------------------------------------


class Raw:
    """Signed calls to the sandbox, answering (HTTP status, JSON) whatever the status."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10.0)

    def __call__(self, method: str, path: str, query: Mapping[str, str] | None = None,
                 body: Any = None) -> tuple[int, Any]:  # fmt: skip
        encoded = urlencode(list((query or {}).items()), quote_via=quote)
        header = authorization(ACCESS, SECRET, method, path, encoded, now=datetime.now(UTC))
        headers = {"Authorization": header, "X-Requested-By": VENDOR}
        content = json.dumps(body).encode() if body is not None else None
        if content:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        answer = self.http.request(method, f"{path}?{encoded}" if encoded else path, headers=headers,
                                   content=content)  # fmt: skip
        return answer.status_code, answer.json()


@pytest.fixture
def world() -> Iterator[tuple[CoupangSandbox, ProductSandbox, Raw]]:
    with ExitStack() as stack:
        app = create_sandbox(VENDOR, ACCESS, SECRET, seed=5, extra_routes=product_routes())
        products = attach(app)
        base = stack.enter_context(serve(app))
        raw = Raw(base)
        stack.callback(raw.http.close)
        yield app.state.sandbox, products, raw


def _day(sandbox: CoupangSandbox) -> str:
    return datetime.fromtimestamp(sandbox.clock.now(), UTC).astimezone().date().isoformat()


def _korean_day(sandbox: CoupangSandbox) -> str:
    from handlers.coupang.orders import KST

    return datetime.fromtimestamp(sandbox.clock.now(), UTC).astimezone(KST).date().isoformat()


def _orders(sandbox: CoupangSandbox) -> dict[str, Any]:
    """Boxes in the states whose sheets fill every field: new, dispatched with an invoice, delivered."""
    new = sandbox.create_order()[0]
    shipped = sandbox.create_order(status="INSTRUCT")[0]
    sandbox.upload_invoices([
        {"shipmentBoxId": shipped.shipment_box_id, "orderId": shipped.order_id,
         "vendorItemId": shipped.items[0].vendor_item_id, "deliveryCompanyCode": "CJGLS",
         "invoiceNumber": "340010913442"}
    ])  # fmt: skip
    delivered = sandbox.create_order(status="FINAL_DELIVERY")[0]
    return {"new": new, "shipped": shipped, "delivered": delivered}


# -- order sheets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "name", "day"),
    [("v5", "ordersheets.list_per_day.v5", "+09:00"), ("v4", "ordersheets.list_per_day.v4", "")],
)
def test_the_day_list_answers_the_published_fields(world: Any, version: str, name: str, day: str) -> None:
    sandbox, _, raw = world
    _orders(sandbox)
    when = _korean_day(sandbox) + day
    for status in ("ACCEPT", "DEPARTURE", "FINAL_DELIVERY"):
        query = {"createdAtFrom": when, "createdAtTo": when, "status": status, "maxPerPage": "50"}
        code, doc = raw("GET", API.format(version=version) + "/ordersheets", query)
        assert code == 200 and len(doc["data"]) == 1, (status, doc)
        assert check(doc, name) == set(), status


def test_the_v5_list_refuses_a_day_without_its_offset(world: Any) -> None:
    sandbox, _, raw = world
    day = _korean_day(sandbox)
    code, doc = raw("GET", API.format(version="v5") + "/ordersheets",
                    {"createdAtFrom": day, "createdAtTo": day, "status": "ACCEPT"})  # fmt: skip
    assert code == 400 and check_error(doc, 400) == set()


@pytest.mark.parametrize(("version", "name"), [("v5", "ordersheets.by_shipment_box.v5"),
                                                ("v4", "ordersheets.by_shipment_box.v4")])  # fmt: skip
def test_one_box_answers_the_published_fields(world: Any, version: str, name: str) -> None:
    sandbox, _, raw = world
    for box in _orders(sandbox).values():
        code, doc = raw("GET", API.format(version=version) + f"/ordersheets/{box.shipment_box_id}")
        assert code == 200 and check(doc, name) == set(), box.status


def test_an_orders_boxes_answer_the_published_object(world: Any) -> None:
    sandbox, _, raw = world
    box = _orders(sandbox)["delivered"]
    code, doc = raw("GET", API.format(version="v4") + f"/{box.order_id}/ordersheets")
    assert code == 200 and isinstance(doc["data"], dict)  # one box: the published Object
    assert check(doc, "ordersheets.by_order.v4") == set()
    two = sandbox.create_order(boxes=2)
    code, doc = raw("GET", API.format(version="v5") + f"/{two[0].order_id}/ordersheets")
    single = corpus.response_sample("coupang", "ordersheets.by_shipment_box.v5")
    assert code == 200 and len(doc["data"]) == 2  # Invented: several boxes as a list
    for sheet in doc["data"]:
        assert check({**doc, "data": sheet}, "ordersheets.by_shipment_box.v5", single) == set()


def test_the_acknowledgement_answers_the_published_result(world: Any) -> None:
    sandbox, _, raw = world
    box = sandbox.create_order()[0]
    body = {"vendorId": VENDOR, "shipmentBoxIds": [box.shipment_box_id, 999]}
    code, doc = raw("PUT", API.format(version="v4") + "/ordersheets/acknowledgement", body=body)
    assert code == 200 and check(doc, "ordersheets.acknowledgement.v4") == set()
    results = {r["shipmentBoxId"]: r for r in doc["data"]["responseList"]}
    published = corpus.response_sample("coupang", "ordersheets.acknowledgement.v4")["data"]
    assert doc["data"]["responseCode"] == published["responseCode"] == 1  # partial, as published
    assert (results[999]["resultCode"], results[999]["retryRequired"]) == ("NOT_FOUND_SHIPMENT_BOX", True)


def test_the_invoice_upload_answers_the_published_result_and_codes(world: Any) -> None:
    sandbox, _, raw = world
    box = sandbox.create_order(status="INSTRUCT")[0]
    cancelled = sandbox.create_order(status="INSTRUCT")[0]
    sandbox.returns.cancel(cancelled.order_id)  # the buyer asks to stop it
    dtos = [
        {"shipmentBoxId": b.shipment_box_id, "orderId": b.order_id, "vendorItemId": b.items[0].vendor_item_id,
         "deliveryCompanyCode": "KDEXP", "invoiceNumber": number, "splitShipping": False,
         "preSplitShipped": False, "estimatedShippingDate": ""}
        for b, number in ((box, "20180731040123"), (cancelled, "20180731040124"))
    ]  # fmt: skip
    code, doc = raw("POST", API.format(version="v4") + "/orders/invoices",
                    body={"vendorId": VENDOR, "orderSheetInvoiceApplyDtos": dtos})  # fmt: skip
    assert code == 200 and check(doc, "orders.invoices.v4") == set()
    results = {r["shipmentBoxId"]: r for r in doc["data"]["responseList"]}
    assert results[box.shipment_box_id]["succeed"] is True
    # The page's table: ORDER_DELIVERY_CANCELED, no retry ("출고 준비중 상태인경우 -> 출고중지 요청건").
    refused = results[cancelled.shipment_box_id]
    assert (refused["resultCode"], refused["retryRequired"]) == ("ORDER_DELIVERY_CANCELED", False)


# -- return requests --------------------------------------------------------------------------------


def _requests(sandbox: CoupangSandbox) -> None:
    ordered = sandbox.create_order()[0]
    sandbox.returns.cancel(ordered.order_id)  # CANCEL
    instructed = sandbox.create_order(status="INSTRUCT")[0]
    sandbox.returns.cancel(instructed.order_id)  # RELEASE_STOP_UNCHECKED
    shipped = sandbox.create_order(status="DELIVERING")[0]
    sandbox.returns.request_return(shipped.shipment_box_id)  # RETURNS_UNCHECKED


def test_the_v4_return_list_answers_the_published_fields(world: Any) -> None:
    sandbox, _, raw = world
    _requests(sandbox)
    day = _korean_day(sandbox)
    for query in ({"cancelType": "CANCEL"}, {"status": "RU"}, {"status": "UC"}):
        code, doc = raw("GET", API.format(version="v4") + "/returnRequests",
                        {"createdAtFrom": day, "createdAtTo": day, **query})  # fmt: skip
        assert code == 200 and doc["data"], query
        assert check(doc, "returnRequests.list_per_day.v4") == set(), query


def test_the_v6_return_list_writes_times_and_money_as_v6_does(world: Any) -> None:
    sandbox, _, raw = world
    _requests(sandbox)
    day = _korean_day(sandbox)
    code, doc = raw("GET", API.format(version="v6") + "/returnRequests",
                    {"createdAtFrom": day, "createdAtTo": day, "status": "UC"})  # fmt: skip
    assert code == 200 and doc["data"]
    entry = corpus.api("coupang", "returnRequests.list_per_day.v6")
    second_hand = entry["second_hand"][0]["json"]  # no published v6 sample: integrations' fixture
    # v4's table for the names, the v6 fixture for the formats (offset times, money objects).
    assert check(doc, "returnRequests.list_per_day.v4", second_hand) == set()
    first = doc["data"][0]
    assert first["createdAt"].endswith("+09:00") and set(first["enclosePrice"]) == {"currencyCode", "units",
                                                                                     "nanos"}  # fmt: skip


# -- products ---------------------------------------------------------------------------------------


def test_the_product_calls_answer_the_published_fields(world: Any) -> None:
    _, _, raw = world
    code, doc = raw("POST", PRODUCTS_PATH, body=valid_body())
    assert code == 200 and check(doc, "seller-products.create.v1") == set()
    product = doc["data"]["data"]
    code, doc = raw("GET", f"{PRODUCTS_PATH}/{product}")
    # The sandbox answers a subset of the product: only that each member it gives is Coupang's.
    entry = corpus.api("coupang", "seller-products.get.v1")
    assert code == 200 and check_table(doc, entry["response_fields"]) == set()
    published = entry["response_samples"][0]["json"]
    assert {k: _json_type(v) for k, v in doc["data"].items() if v is not None} == {
        k: _json_type(published["data"][k]) for k, v in doc["data"].items() if v is not None
    }
    code, doc = raw("GET", f"{PRODUCTS_PATH}/{product}/histories")
    # The sandbox gives both the table's statusName and the sample's status.
    assert code == 200 and check(doc, "seller-products.histories.v1") == set()


# -- errors -----------------------------------------------------------------------------------------


def check_error(doc: Any, status: int) -> set[str]:
    """An error answer's disagreements with the envelope the pages quote: {"code", "message"},
    code the HTTP status (a number) or, for 5xx, "ERROR"."""
    problems = {f"{k}: not in the envelope" for k in doc if k not in ("code", "message")} - {
        f"{k}: not in the envelope" for k in INVENTED["error"]
    }
    expected = "ERROR" if status >= 500 else status
    if doc.get("code") != expected:
        problems.add(f"code: {doc.get('code')!r}, the pages quote {expected!r}")
    if not isinstance(doc.get("message"), str):
        problems.add("message: not a string")
    return problems


def test_errors_answer_the_published_envelope(world: Any) -> None:
    sandbox, _, raw = world
    day = _korean_day(sandbox) + "+09:00"
    wrong = API.format(version="v5").replace(VENDOR, "A99999999") + "/ordersheets"
    code, doc = raw("GET", wrong, {"createdAtFrom": day, "createdAtTo": day, "status": "ACCEPT"})
    published = corpus.error_examples("coupang", "ordersheets.list_per_day.v5")[0]
    assert (code, doc["message"]) == (published["code"], published["message"])  # 400 Invalid vendor ID
    assert check_error(doc, code) == set()
    sandbox.fail_next(["500"])
    code, doc = raw("GET", API.format(version="v5") + "/ordersheets", {"createdAtFrom": day})
    timeout = corpus.error_examples("coupang", "ordersheets.acknowledgement.v4")[0]
    assert code == 500 and doc["code"] == timeout["code"] == "ERROR" and check_error(doc, code) == set()


def test_the_published_samples_quirks_are_these() -> None:
    """What each published sample itself shows against its own table: only the quirks written down."""
    for entry in corpus.entries("coupang"):
        if not entry["response_samples"] or not entry["response_fields"]:
            continue
        found = check_table(entry["response_samples"][0]["json"], entry["response_fields"])
        assert found == SAMPLE_QUIRKS.get(entry["api_name"], set()), entry["api_name"]


def test_the_checker_refuses_what_drifts_from_the_published_sample() -> None:
    published = corpus.response_sample("coupang", "ordersheets.list_per_day.v5")
    assert check(published, "ordersheets.list_per_day.v5") == set()
    drifted = json.loads(json.dumps(published))
    sheet = drifted["data"][0]
    sheet["orderedAt"] = "2025-01-16T07:17:13"  # v4's form
    sheet["orderItems"][0]["salesPrice"] = 19000  # v4's money
    del sheet["receiver"]["postCode"]
    sheet["trackingUrl"] = "https://example.invalid"
    assert check(drifted, "ordersheets.list_per_day.v5") == {
        "data[].orderedAt: written '2025-01-16T07:17:13', the sample writes"
        " '2025-01-15T14:17:13.973885-08:00'",
        "data[].orderItems[].salesPrice: Object expected, got number",
        "data[].orderItems[].salesPrice: the sample's object, answered number",
        "data[].receiver.postCode: in the sample, not answered",
        "data[].trackingUrl: not in the table",
    }
    assert check_error({"code": 400, "message": "x", "error": "y"}, 400) == {"error: not in the envelope"}
    assert check_error({"code": "ERROR", "message": "x"}, 400) == {"code: 'ERROR', the pages quote 400"}
