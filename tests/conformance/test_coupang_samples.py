"""Coupang's published samples against orderwatch's Coupang client and parsers.

Every call the clients make is fed the published success sample of its page, and every error the
page quotes, through ``httpx.MockTransport``: the call must send what the page asks (path, method,
query formats, the ``X-Requested-By`` header of Coupang's own Java samples) and read what it answers.
Samples come from tests/conformance/samples/coupang (each names its source); ids and dates may be
adapted, never the shape.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest

from handlers.coupang.client import (
    ORDERSHEETS_VERSIONS,
    RETURNS_VERSIONS,
    UNVERIFIED,
    CoupangClient,
    envelope,
)
from handlers.coupang.orders import cancelled, money, parse_time, sheet_events, ship_by, status_time
from handlers.coupang.ordersheets import OrderSheets, invoice_dtos
from handlers.coupang.products.calls import get_product, history, register
from handlers.coupang.returnrequests import ReturnRequests
from handlers.coupang.returns import receipt_events, receipt_time
from handlers.errors import MarketplaceUnavailable, RequestRejected
from statemachines.events import EventKind
from tests.conformance import corpus
from tests.handlers.coupang.product_bodies import valid_body

pytestmark = pytest.mark.anyio
VENDOR = "A00012345"
SEEN = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sample(name: str, index: int = 0) -> Any:
    return corpus.response_sample("coupang", name, index)


class Recorder:
    """A MockTransport answering one published document, recording each request."""

    def __init__(self, doc: Any, status: int = 200) -> None:
        self.doc, self.status = doc, status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=json.dumps(self.doc).encode())

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.requests[-1].url.query.decode(), keep_blank_values=True))


def client(recorder: Recorder, **options: Any) -> CoupangClient:
    transport = httpx.MockTransport(recorder)
    return CoupangClient("https://api-gateway.coupang.com", "access", "secret-key", vendor_id=VENDOR,
                         transport=transport, attempts=1, **options)  # fmt: skip


# -- coverage ---------------------------------------------------------------------------------------


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def _every_call(api: CoupangClient) -> list[Callable[[], Awaitable[Any]]]:
    sheets, lists = OrderSheets(api), ReturnRequests(api)
    return [
        lambda: sheets.list_page("ACCEPT", date(2026, 11, 24)),
        lambda: sheets.sheet(1),
        lambda: sheets.order(2),
        lambda: sheets.acknowledge([1]),
        lambda: sheets.upload_invoices([{"shipmentBoxId": 1}]),
        lambda: lists.list_page("CANCEL", date(2026, 11, 24)),
        lambda: register(api, valid_body()),
        lambda: get_product(api, "1"),
        lambda: history(api, "1"),
    ]


# The client's configurations: the default, and each version setting's every choice.
CONFIGS: list[dict[str, str]] = (
    [{}]
    + [{"ordersheets_version": v} for v in ORDERSHEETS_VERSIONS]
    + [{"returns_version": v} for v in RETURNS_VERSIONS]
)


async def _calls(options: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Every (method, path) the Coupang clients send, made with ``options``."""
    recorder = Recorder({"code": "200", "message": "OK", "data": {"responseList": []}})
    async with client(recorder, **options) as api:
        for call in _every_call(api):
            # The stub's answer does not fit every call; only the request matters here.
            with contextlib.suppress(MarketplaceUnavailable, RequestRejected):
                await call()
    seen = [(r.method, r.url.path) for r in recorder.requests]
    assert len(seen) == 9
    return iter(seen)


@pytest.mark.parametrize("options", CONFIGS)
async def test_every_call_the_clients_make_has_a_published_sample_unless_an_opt_in_says_not(
    options: dict[str, str],
) -> None:
    entries = [e for e in corpus.entries("coupang") if e["path"]]
    for method, path in await _calls(options):
        found = [e for e in entries if _template(e["path"]).match(path)]
        assert found, f"{method} {path}: no corpus entry"
        entry = found[0]
        assert method == entry["method"], f"{method} {path}: the page says {entry['method']}"
        if entry["response_samples"]:
            continue
        # No published answer: only an opt-in that says so (never the default) may call it, and the entry
        # says whose shape it is read in, as unverified.
        named = [UNVERIFIED[option] for option in options.items() if option in UNVERIFIED]
        assert any(m == method and _template(p).match(path) for m, p in named), (
            f"{method} {path} ({options or 'the default'}): no published answer, and no opt-in names it"
        )
        shape = entry.get("shape_of")
        assert shape and corpus.api("coupang", shape["entry"])["response_samples"], f"{path}: no sample"
        assert "Unverified" in shape["why"]


def test_each_corpus_file_names_its_source() -> None:
    for entry in corpus.entries("coupang"):
        source = entry["source"]
        assert source.get("repository") or source.get("url"), entry["api_name"]
        if "repository" in source and "url" not in source:
            assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and source["path"].endswith(".ts")


# -- order sheets -----------------------------------------------------------------------------------


async def test_the_v5_day_list_sends_the_day_with_its_offset_and_reads_the_published_page() -> None:
    recorder = Recorder(sample("ordersheets.list_per_day.v5"))
    async with client(recorder) as api:
        page = await OrderSheets(api).list_page("INSTRUCT", date(2025, 7, 15), per_page=50)
    request = recorder.requests[0]
    assert request.url.path == f"/v2/providers/openapi/apis/api/v5/vendors/{VENDOR}/ordersheets"
    assert b"createdAtFrom=2025-07-15%2B09%3A00" in request.url.query  # "yyyy-mm-dd%2B09:00"
    assert recorder.query["createdAtTo"] == "2025-07-15+09:00" and recorder.query["status"] == "INSTRUCT"
    assert request.headers["X-Requested-By"] == VENDOR  # as Coupang's Java samples send it
    assert [s["shipmentBoxId"] for s in page.sheets] == [642538970006401429, 642538970006401428]
    assert page.next_token == "448537989"


async def test_the_v4_day_list_sends_plain_days_and_reads_the_published_page() -> None:
    recorder = Recorder(sample("ordersheets.list_per_day.v4"))
    async with client(recorder, ordersheets_version="v4") as api:
        page = await OrderSheets(api).list_page("INSTRUCT", date(2017, 10, 10), per_page=2)
    assert recorder.requests[0].url.path.startswith("/v2/providers/openapi/apis/api/v4/")
    assert (recorder.query["createdAtFrom"], recorder.query["maxPerPage"]) == ("2017-10-10", "2")
    assert [s["shipmentBoxId"] for s in page.sheets] == [448531493, 448537989]
    assert page.next_token == "448537989"


def test_a_v5_sheet_is_dated_by_its_offset_times_and_names_its_courier() -> None:
    sheet = sample("ordersheets.list_per_day.v5")["data"][0]
    events = sheet_events(VENDOR, sheet, seen=SEEN)
    status, tracking = events
    # 2025-01-15T14:17:13.973885-08:00 is 22:17:13 UTC: the offset is the page's, not Korea's.
    assert status.occurred_at == datetime(2025, 1, 15, 22, 17, 13, 973885, tzinfo=UTC)
    assert (status.status, status.package_id, status.order_id) == ("FINAL_DELIVERY", "642538970006401429",
                                                                   "22000009546234")  # fmt: skip
    assert tracking.kind is EventKind.TRACKING_NUMBER
    assert (tracking.tracking_number, tracking.carrier) == ("340010913442", "CJ 대한통운")
    assert status.ship_by == datetime(2017, 10, 16, 15, tzinfo=UTC)  # the end of 2017-10-16 in Korea
    assert not cancelled(sheet)


def test_a_v4_sheet_is_dated_in_korean_time() -> None:
    sheet = sample("ordersheets.list_per_day.v4")["data"][0]
    # deliveredDate "2017-10-17 17:17:52", no zone: Korean time.
    assert status_time(sheet, "FINAL_DELIVERY", SEEN) == datetime(2017, 10, 17, 8, 17, 52, tzinfo=UTC)
    assert parse_time(sheet["orderedAt"]) == datetime(2017, 10, 10, 1, 20, 16, tzinfo=UTC)
    assert ship_by(sheet) == datetime(2017, 10, 16, 15, tzinfo=UTC)


def test_every_time_and_amount_the_samples_show_is_read() -> None:
    names = ("orderedAt", "paidAt", "inTrasitDateTime", "deliveredDate")
    item_names = ("confirmDate",)
    lists = [sample(n)["data"] for n in ("ordersheets.list_per_day.v4", "ordersheets.list_per_day.v5")]
    singles = [[sample(n)["data"]] for n in ("ordersheets.by_order.v4", "ordersheets.by_shipment_box.v5")]
    for name, sheets in zip(("v4 list", "v5 list", "v4 by order", "v5 by box"), lists + singles, strict=True):
        for sheet in sheets:
            for field in names:
                assert parse_time(sheet[field]) is not None, (name, field, sheet[field])
            for item in sheet["orderItems"]:
                assert all(parse_time(item[f]) is not None for f in item_names), (name, item)
                assert money(item["salesPrice"]) is not None and money(item["orderPrice"]) is not None
    v5 = sample("ordersheets.list_per_day.v5")["data"][1]
    assert money(v5["orderItems"][0]["orderPrice"]) == Decimal(278000)
    assert money(v5["remotePrice"]) is None  # null in the sample
    v4 = sample("ordersheets.list_per_day.v4")["data"][0]
    assert money(v4["shippingPrice"]) == Decimal(2500) and money(v4["remotePrice"]) is None
    charge = corpus.api("coupang", "returnRequests.list_per_day.v6")["second_hand"][0]["json"]["data"][0]
    assert money(charge["returnShippingCharge"]) == Decimal("-3000.5")  # units and nanos signed alike


async def test_one_sheet_by_box_reads_both_published_versions() -> None:
    for name, version in (("ordersheets.by_shipment_box.v5", "v5"), ("ordersheets.by_shipment_box.v4", "v4")):
        doc = sample(name)
        recorder = Recorder(doc)
        async with client(recorder, ordersheets_version=version) as api:
            sheet = await OrderSheets(api).sheet(doc["data"]["shipmentBoxId"])
        assert recorder.requests[0].url.path.split("/")[6] == version
        assert sheet["shipmentBoxId"] == doc["data"]["shipmentBoxId"]
        assert sheet_events(VENDOR, sheet, seen=SEEN)[0].status == doc["data"]["status"]


@pytest.mark.parametrize("version", ["v5", "v4"])
async def test_an_orders_sheets_are_read_at_v4_whose_answer_is_published(version: str) -> None:
    v4 = sample("ordersheets.by_order.v4")  # data: one sheet (an Object), as table and sample say
    recorder = Recorder(v4)
    async with client(recorder, ordersheets_version=version) as api:  # the default, v5, too
        boxes = await OrderSheets(api).order(v4["data"]["orderId"])
    path = f"/v2/providers/openapi/apis/api/v4/vendors/{VENDOR}/{v4['data']['orderId']}/ordersheets"
    assert recorder.requests[0].url.path == path
    assert [b["shipmentBoxId"] for b in boxes] == [v4["data"]["shipmentBoxId"]]
    (event,) = sheet_events(VENDOR, boxes[0], seen=SEEN)[:1]
    assert event.status == v4["data"]["status"]
    listed = {**v4, "data": [v4["data"]]}  # integrations read a list: both are read
    async with client(Recorder(listed), ordersheets_version=version) as api:
        assert [b["shipmentBoxId"] for b in await OrderSheets(api).order(1)] == [v4["data"]["shipmentBoxId"]]


async def test_an_orders_sheets_at_v5_are_an_opt_in_read_in_the_shape_of_its_sheet() -> None:
    _, unverified = UNVERIFIED[("ordersheets_version", "v5-all")]
    assert unverified.endswith("/v5/vendors/{vendorId}/{orderId}/ordersheets")
    single = sample("ordersheets.by_shipment_box.v5")  # shape_of: no v5 by-order sample was found
    recorder = Recorder({**single, "data": [single["data"]]})
    async with client(recorder, ordersheets_version="v5-all") as api:
        boxes = await OrderSheets(api).order(500000596)
        assert "/api/v5/" in OrderSheets(api).reads  # the list and one box's sheet as the default reads them
    path = f"/v2/providers/openapi/apis/api/v5/vendors/{VENDOR}/500000596/ordersheets"
    assert recorder.requests[0].url.path == path
    assert boxes[0]["orderId"] == 500000596


async def test_the_published_error_answers_of_the_order_sheet_pages_are_rejections() -> None:
    for name in ("ordersheets.list_per_day.v5", "ordersheets.by_shipment_box.v5"):
        for example in corpus.error_examples("coupang", name):
            recorder = Recorder(example, status=example["code"])
            async with client(recorder) as api:
                with pytest.raises(RequestRejected) as caught:
                    await OrderSheets(api).list_page("ACCEPT", date(2026, 11, 24))
            assert example["message"] in caught.value.message and caught.value.status == 400


# -- acknowledgement and invoices -------------------------------------------------------------------


async def test_the_acknowledgement_reads_each_boxs_published_result() -> None:
    recorder = Recorder(sample("ordersheets.acknowledgement.v4"))
    async with client(recorder) as api:
        results = await OrderSheets(api).acknowledge([102391542, 102391599])
    request = recorder.requests[0]
    entry = corpus.api("coupang", "ordersheets.acknowledgement.v4")
    assert request.method == entry["method"] == "PUT"  # the current page: PATCH struck out, PUT
    assert "the 2019 copy says PATCH" in entry["method_note"]
    assert json.loads(request.content) == {"vendorId": VENDOR, "shipmentBoxIds": [102391542, 102391599]}
    published = corpus.api("coupang", "ordersheets.acknowledgement.v4")["request_samples"][1]["json"]
    assert set(json.loads(request.content)) == set(published)
    ok, missing = results
    assert (ok.shipment_box_id, ok.succeed, ok.result_code) == (102391542, True, "OK")
    assert (missing.succeed, missing.result_code) == (False, "NOT_FOUND_SHIPMENT_BOX")
    assert missing.retry_required  # as the sample says (the invoice page's table says no retry)


async def test_the_acknowledgements_published_timeouts_are_unavailable_not_rejections() -> None:
    examples = corpus.error_examples("coupang", "ordersheets.acknowledgement.v4")
    assert [e["message"][:20] for e in examples] == ["Request timed out, i", "connection timed out"]
    for status, example in zip((504, 521), examples, strict=True):
        recorder = Recorder(example, status=status)
        async with client(recorder) as api:
            with pytest.raises(MarketplaceUnavailable):
                await OrderSheets(api).acknowledge([1])
        assert len(recorder.requests) == 1  # one attempt: the caller reads the sheet before trying again


async def test_the_invoice_upload_sends_the_published_body_and_reads_its_result() -> None:
    entry = corpus.api("coupang", "orders.invoices.v4")
    published = entry["request_samples"][1]["json"]["orderSheetInvoiceApplyDtos"]
    sheet = {"shipmentBoxId": 606920263, "orderId": 4000019469460,
             "orderItems": [{"vendorItemId": d["vendorItemId"]} for d in published]}  # fmt: skip
    recorder = Recorder(sample("orders.invoices.v4"))
    async with client(recorder) as api:
        results = await OrderSheets(api).upload_invoices(invoice_dtos(sheet, "KDEXP", "20180731040123"))
    request = recorder.requests[0]
    assert request.method == "POST" and request.url.path.endswith(f"/v4/vendors/{VENDOR}/orders/invoices")
    assert json.loads(request.content)["orderSheetInvoiceApplyDtos"] == published
    (result,) = results
    assert (result.shipment_box_id, result.succeed, result.message) == (606920263, True, "")  # null message


def test_the_invoice_pages_result_codes_say_which_failures_to_retry() -> None:
    entry = corpus.api("coupang", "orders.invoices.v4")
    table = next(f for f in entry["response_fields"] if f["name"] == "data")["children"]
    codes = next(f for f in table if f["name"] == "responseList")["children"]
    text = next(f for f in codes if f["name"] == "resultCode")["description"]
    cells = [c.strip() for c in text.replace("\n", "|").split("|") if c.strip() and c.strip() != "/"]
    retry = {cells[i]: cells[i + 1] for i in range(len(cells) - 1) if cells[i].isupper() and "_" in cells[i]}
    assert retry["DUPLICATE_INVOICE_NUMBER"] == "true" and retry["INVALID_STATUS"] == "false"
    assert retry["ORDER_DELIVERY_CANCELED"] == "false" and retry["NOT_FOUND_VENDOR_ITEM"] == "false"


# -- return requests --------------------------------------------------------------------------------


async def test_the_return_list_speaks_v4_by_default_and_reads_its_published_page() -> None:
    recorder = Recorder(sample("returnRequests.list_per_day.v4"))
    async with client(recorder) as api:
        page = await ReturnRequests(api).list_page("UC", date(2017, 9, 2))
    request = recorder.requests[0]
    assert request.url.path == f"/v2/providers/openapi/apis/api/v4/vendors/{VENDOR}/returnRequests"
    assert recorder.query == {"createdAtFrom": "2017-09-02", "createdAtTo": "2017-09-02", "status": "UC",
                              "maxPerPage": "50"}  # fmt: skip
    assert request.headers["X-Requested-By"] == VENDOR
    assert [r["receiptId"] for r in page.receipts] == [50229613, 50203804, 50201937]
    events = receipt_events(VENDOR, page.receipts[0], seen=SEEN)
    assert [e.status for e in events] == ["RETURNS_UNCHECKED"]
    assert events[0].occurred_at == datetime(2017, 9, 2, 13, 52, 42, tzinfo=UTC)  # Korean time


async def test_the_cancel_list_leaves_out_status_and_order_as_the_page_says() -> None:
    recorder = Recorder(sample("returnRequests.list_per_day.v4"))
    async with client(recorder) as api:
        await ReturnRequests(api).list_page("CANCEL", date(2017, 9, 2))
    assert recorder.requests[0].url.path.split("/")[6] == "v4"
    assert recorder.query["cancelType"] == "CANCEL" and "status" not in recorder.query
    assert "orderId" not in recorder.query


async def test_the_v6_return_list_is_an_opt_in_sending_the_same_query() -> None:
    second_hand = corpus.api("coupang", "returnRequests.list_per_day.v6")["second_hand"][0]
    recorder = Recorder(second_hand["json"])  # no published v6 answer: an integration's fixture
    async with client(recorder, returns_version="v6") as api:
        page = await ReturnRequests(api).list_page("UC", date(2025, 7, 24))
    path = f"/v2/providers/openapi/apis/api/v6/vendors/{VENDOR}/returnRequests"
    assert recorder.requests[0].url.path == path
    assert recorder.query["createdAtFrom"] == "2025-07-24" and recorder.query["status"] == "UC"
    assert [r["receiptId"] for r in page.receipts] == [50229613]
    assert page.next_token == "next-page"


def test_a_v6_request_is_dated_by_its_offset_time() -> None:
    receipt = corpus.api("coupang", "returnRequests.list_per_day.v6")["second_hand"][0]["json"]["data"][0]
    assert receipt_time(receipt, SEEN) == datetime(2025, 1, 15, 22, 17, 13, 973885, tzinfo=UTC)
    (event,) = receipt_events(VENDOR, receipt, seen=SEEN)
    assert (event.status, event.order_id) == ("RETURNS_UNCHECKED", "28000008707838")


# -- products ---------------------------------------------------------------------------------------


async def test_product_registration_reads_the_published_nested_answer() -> None:
    recorder = Recorder(sample("seller-products.create.v1"))
    async with client(recorder) as api:
        assert await register(api, valid_body()) == "427011919"
    flat = {"code": "SUCCESS", "message": "", "data": 427011919}  # the portal page's wording of it
    async with client(Recorder(flat)) as api:
        assert await register(api, valid_body()) == "427011919"


async def test_the_product_query_and_history_read_the_published_answers() -> None:
    doc = sample("seller-products.get.v1")
    async with client(Recorder(doc)) as api:
        product = await get_product(api, str(doc["data"]["sellerProductId"]))
    assert (product.seller_product_id, product.status_name) == ("152620911", "임시저장")
    assert product.items and product.items[0].seller_product_item_id == "425073845"
    assert product.items[0].vendor_item_id is None  # null until approved
    async with client(Recorder(sample("seller-products.histories.v1"))) as api:
        entries = await history(api, "152620911")
    assert entries[0].status_name == "승인대기중" and entries[0].comment == "컨텐츠 확인 대기중"


def test_the_published_error_envelopes_map_onto_the_errors() -> None:
    for example in corpus.error_examples("coupang", "ordersheets.acknowledgement.v4"):
        with pytest.raises(MarketplaceUnavailable):
            envelope("PUT acknowledgement", httpx.Response(504, json=example))
    for name in ("ordersheets.list_per_day.v5", "ordersheets.by_shipment_box.v5"):
        for example in corpus.error_examples("coupang", name):
            with pytest.raises(RequestRejected):
                envelope("GET", httpx.Response(example["code"], json=example))
    assert unquote("%2B09:00") == "+09:00"


def test_the_settings_default_to_the_published_versions_and_offer_each_choice() -> None:
    from handlers.coupang.marketplace import coupang_client
    from service.settings import ConfigurationError, Settings

    keys = {"ORDERWATCH_COUPANG_VENDOR_ID": VENDOR, "ORDERWATCH_COUPANG_ACCESS_KEY": "a",
            "ORDERWATCH_COUPANG_SECRET_KEY": "s"}  # fmt: skip
    current = coupang_client(Settings.from_environ(keys))
    assert current is not None and (current.ordersheets_version, current.returns_version) == ("v5", "v4")
    assert (Settings().coupang_ordersheets_version, Settings().coupang_returns_version) == ("v5", "v4")
    for name, option, choices in (("ORDERSHEETS", "ordersheets_version", ORDERSHEETS_VERSIONS),
                                  ("RETURNS", "returns_version", RETURNS_VERSIONS)):  # fmt: skip
        for choice in choices:  # every version the client speaks, and only those
            chosen = {**keys, f"ORDERWATCH_COUPANG_{name}_VERSION": choice}
            made = coupang_client(Settings.from_environ(chosen))
            assert made is not None and getattr(made, option) == choice
        with pytest.raises(ConfigurationError, match=f"ORDERWATCH_COUPANG_{name}_VERSION"):
            Settings.from_environ({**keys, f"ORDERWATCH_COUPANG_{name}_VERSION": "v3"})
    older = coupang_client(Settings.from_environ({**keys, "ORDERWATCH_COUPANG_RETURNS_VERSION": "V6"}))
    assert older is not None and older.returns_version == "v6"  # the case does not matter
    with pytest.raises(ConfigurationError, match="ORDERWATCH_COUPANG_RETURNS_VERSION"):
        Settings.from_environ({**keys, "ORDERWATCH_COUPANG_RETURNS_VERSION": "v5"})


def test_a_box_is_cancelled_as_each_version_counts_its_items() -> None:
    v5 = sample("ordersheets.by_shipment_box.v5")["data"]
    item = v5["orderItems"][0]
    bought = {**item, "shippingCount": 2, "cancelCount": 1}  # v5: 2 bought, 1 cancelled, 1 to ship
    assert not cancelled({**v5, "orderItems": [bought]})
    assert cancelled({**v5, "orderItems": [{**bought, "cancelCount": 2}]})
    v4 = sample("ordersheets.by_shipment_box.v4")["data"]
    left = {**v4["orderItems"][0], "shippingCount": 1, "cancelCount": 1}  # v4: 1 left after 1 cancelled
    assert not cancelled({**v4, "orderItems": [left]})
    assert cancelled({**v4, "orderItems": [{**left, "shippingCount": 0}]})
