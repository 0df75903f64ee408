"""Shopee's shipping-document (airway bill) calls fed Shopee's own published samples.

As tests/conformance/test_shopee_logistics_samples.py does for the other logistics calls:
get_shipping_document_parameter, create_shipping_document, get_shipping_document_result
(batch calls: a top-level ``common.batch_api_all_failed`` is read as the entries' own
failures) and download_shipping_document (the file, or a JSON error), and the airway bill
step of arrange_shipment answered by the samples only.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from handlers.shopee.actions import OrderRow, PackageRow, _airway_bill
from handlers.shopee.client import ShopeeClient
from handlers.shopee.logistics import ShopeeLogistics
from service import documents
from service.db import Database
from tests.conformance import corpus
from tests.conformance.test_shopee_logistics_samples import (
    CREATE,
    DOWNLOAD,
    KEY,
    KINDS,
    PARTNER,
    RESULT,
    SHOP,
    TOKEN,
    Shopee,
    error_cases,
    rejected,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- get_shipping_document_parameter -------------------------------------------------------


async def test_the_document_parameter_sample_gives_the_suggested_type() -> None:
    sample = corpus.response_sample("shopee", KINDS)
    good, failed = sample["response"]["result_list"]
    shopee = Shopee(KINDS, sample)
    kinds = await shopee.run(
        lambda lg: lg.get_shipping_document_parameter(SHOP, TOKEN, good["order_sn"], good["package_number"])
    )
    assert kinds.suggested == good["suggest_shipping_document_type"]
    assert list(kinds.selectable) == good["selectable_shipping_document_type"]
    assert shopee.sent() == {
        "order_list": [{"order_sn": good["order_sn"], "package_number": good["package_number"]}]
    }
    # The sample's second order failed: its fail_error is the error.
    error = await rejected(
        KINDS, sample, lambda lg: lg.get_shipping_document_parameter(SHOP, TOKEN, failed["order_sn"])
    )
    assert (error.code, error.request_id) == (failed["fail_error"], sample["request_id"])


async def test_the_document_parameter_of_an_order_alone_failing_is_its_fail_error() -> None:
    # batch_api_all_failed is in this call's error list; its entry is the sample's failed one.
    sample = corpus.response_sample("shopee", KINDS)
    failed = sample["response"]["result_list"][1]
    listed = next(e for e in corpus.shopee(KINDS)["error_list"] if e["name"] == "common.batch_api_all_failed")
    doc = {"error": listed["name"], "message": listed["description"], "request_id": "r-2",
           "response": {"result_list": [failed]}}  # fmt: skip
    error = await rejected(
        KINDS, doc, lambda lg: lg.get_shipping_document_parameter(SHOP, TOKEN, failed["order_sn"])
    )
    assert error.code == failed["fail_error"]


@pytest.mark.parametrize("doc", error_cases(KINDS))
async def test_the_document_parameter_error_examples_are_rejections(doc: dict[str, Any]) -> None:
    error = await rejected(KINDS, doc, lambda lg: lg.get_shipping_document_parameter(SHOP, TOKEN, "X1"))
    assert error.code == doc["error"]


# -- create_shipping_document ---------------------------------------------------------------


async def test_the_create_sample_is_a_task_made_and_the_body_is_the_published_one() -> None:
    sample = corpus.response_sample("shopee", CREATE)
    request = corpus.shopee(CREATE)["request_samples"][0]["json"]
    [entry] = request["order_list"]
    shopee = Shopee(CREATE, sample)
    await shopee.run(
        lambda lg: lg.create_shipping_document(
            SHOP, TOKEN, sample["response"]["result_list"][0]["order_sn"], entry["package_number"],
            tracking_number=entry["tracking_number"], document_type=entry["shipping_document_type"],
        )
    )  # fmt: skip
    sent = shopee.sent()
    assert sent["order_list"][0] == {**entry, "order_sn": sample["response"]["result_list"][0]["order_sn"]}


@pytest.mark.parametrize("doc", error_cases(CREATE))
async def test_the_create_error_example_raises_the_orders_own_failure(doc: dict[str, Any]) -> None:
    [entry] = doc["response"]["result_list"]
    assert doc["error"] == "common.batch_api_all_failed"
    error = await rejected(
        CREATE, doc, lambda lg: lg.create_shipping_document(SHOP, TOKEN, entry["order_sn"])
    )
    assert (error.code, error.message) == (
        entry["fail_error"],
        f"create_shipping_document: {entry['fail_message']}",
    )


# -- get_shipping_document_result -----------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])
async def test_each_entry_of_the_result_sample_is_read_by_order_and_package(index: int) -> None:
    sample = corpus.response_sample("shopee", RESULT)
    entry = sample["response"]["result_list"][index]
    shopee = Shopee(RESULT, sample)
    status = await shopee.run(
        lambda lg: lg.get_shipping_document_result(SHOP, TOKEN, entry["order_sn"], entry["package_number"])
    )
    # READY, READY, and logistics.shipping_document_should_print_first: no task yet (None).
    assert status == entry.get("status")
    request_entry = corpus.shopee(RESULT)["request_samples"][0]["json"]["order_list"][index]
    assert shopee.sent() == {"order_list": [request_entry]}


@pytest.mark.parametrize("doc", error_cases(RESULT))
async def test_the_result_error_example_raises_the_orders_own_failure(doc: dict[str, Any]) -> None:
    [entry] = doc["response"]["result_list"]
    error = await rejected(
        RESULT, doc, lambda lg: lg.get_shipping_document_result(SHOP, TOKEN, entry["order_sn"])
    )
    assert error.code == entry["fail_error"] == "logistics.order_not_exist"


async def test_a_new_package_alone_has_no_task_yet_and_is_not_an_error() -> None:
    # The defect: orderwatch sends one order, so "create first" comes as
    # common.batch_api_all_failed (the error example's envelope, the sample's entry).
    example = corpus.error_examples("shopee", RESULT)[0]
    entry = corpus.response_sample("shopee", RESULT)["response"]["result_list"][2]
    doc = {**example, "response": {"result_list": [entry]}}
    status = await Shopee(RESULT, doc).run(
        lambda lg: lg.get_shipping_document_result(SHOP, TOKEN, entry["order_sn"], entry["package_number"])
    )
    assert status is None


# -- download_shipping_document ---------------------------------------------------------------


async def test_the_download_is_the_file_and_the_body_is_the_published_one() -> None:
    request = corpus.shopee(DOWNLOAD)["request_samples"][0]["json"]
    [entry] = request["order_list"]
    pdf = b"%PDF-1.4\n%waybill\n%%EOF\n"
    shopee = Shopee(DOWNLOAD, None, content=pdf)
    got = await shopee.run(
        lambda lg: lg.download_shipping_document(
            SHOP,
            TOKEN,
            entry["order_sn"],
            entry["package_number"],
            document_type=request["shipping_document_type"],
        )
    )
    assert got == pdf and shopee.sent() == request


@pytest.mark.parametrize(
    "doc",
    [*error_cases(DOWNLOAD), pytest.param(corpus.response_sample("shopee", DOWNLOAD), id="response_sample")],
)
async def test_a_json_download_answer_is_the_error_it_names(doc: dict[str, Any]) -> None:
    # "If Fail, this api will return the error message as the example below."
    error = await rejected(DOWNLOAD, doc, lambda lg: lg.download_shipping_document(SHOP, TOKEN, "X1"))
    assert (error.code, error.request_id) == (doc["error"], doc["request_id"])


# -- the airway bill of arrange_shipment, answered by samples only ---------------------------------


async def test_arrange_shipment_makes_the_airway_bill_when_shopee_says_create_first(db: Database) -> None:
    """The issue's defect end to end: Shopee's answers are the samples, with our ids."""
    sn, pn, tracking = "2511CONF0001", "PKG-CONF-1", "SPXID02742637123B"
    kinds = corpus.response_sample("shopee", KINDS)
    kinds["response"]["result_list"] = [
        {**kinds["response"]["result_list"][0], "order_sn": sn, "package_number": pn}
    ]
    kinds["warning"] = None
    result = corpus.response_sample("shopee", RESULT)
    first, _, none_yet = result["response"]["result_list"]
    mine = {"order_sn": sn, "package_number": pn}
    print_first = {
        **corpus.error_examples("shopee", RESULT)[0],
        "response": {"result_list": [{**none_yet, **mine}]},
    }
    ready = {
        **result,
        "warning": None,
        "response": {"result_list": [{**first, "order_sn": sn, "package_number": pn}]},
    }
    created = corpus.response_sample("shopee", CREATE)
    created["response"]["result_list"] = [{"order_sn": sn}]
    answers = {
        corpus.shopee(KINDS)["path"]: [kinds],
        corpus.shopee(RESULT)["path"]: [print_first, ready],
        corpus.shopee(CREATE)["path"]: [created],
    }
    pdf = b"%PDF-1.4\n%waybill\n%%EOF\n"
    seen: list[tuple[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content) if request.content else None
        seen.append((request.url.path, body))
        if request.url.path == corpus.shopee(DOWNLOAD)["path"]:
            return httpx.Response(200, content=pdf, headers={"Content-Type": "application/pdf"})
        return httpx.Response(200, content=orjson.dumps(answers[request.url.path].pop(0)))

    order = OrderRow(sn, SHOP, "ready_to_ship", (PackageRow(pn, "processing", None, False),))
    async with ShopeeClient(
        "http://shopee.test", PARTNER, KEY, transport=httpx.MockTransport(handle)
    ) as client:
        assert await _airway_bill(ShopeeLogistics(client), db, order, TOKEN, pn, tracking)
    stored = documents.find(db, "shopee", pn, documents.AIRWAY_BILL)
    assert stored is not None and stored.content == pdf
    suggested = kinds["response"]["result_list"][0]["suggest_shipping_document_type"]
    [create] = [body for path, body in seen if path == corpus.shopee(CREATE)["path"]]
    assert create["order_list"] == [
        {
            "order_sn": sn,
            "package_number": pn,
            "tracking_number": tracking,
            "shipping_document_type": suggested,
        }
    ]
    [download] = [body for path, body in seen if path == corpus.shopee(DOWNLOAD)["path"]]
    assert download["shipping_document_type"] == suggested
