"""Coupang return and cancel requests: what each request means (statuses, boxes, partial
cancellations, times, keys), and the sandbox's list over real HTTP — Korean days, kinds,
pages, Coupang's parameter rules and the CEA signature."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from handlers.coupang.client import CoupangClient, encode_query
from handlers.coupang.returnrequests import ReturnRequests
from handlers.coupang.returns import ReceiptError, receipt_events, receipt_status
from handlers.coupang.sandbox import CoupangSandbox
from handlers.coupang.signing import authorization
from handlers.errors import AuthenticationFailed, RequestRejected
from statemachines import maps
from statemachines.events import EventKind
from tests.coupang_world import ACCESS, SECRET, VENDOR, client, start_sandbox

pytestmark = pytest.mark.anyio
SEEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PATH = f"/v2/providers/openapi/apis/api/v4/vendors/{VENDOR}/returnRequests"
# 2026-11-24 23:30 KST is 14:30 UTC; 2026-11-25 00:30 KST is 15:30 UTC.
LATE_24 = int(datetime(2026, 11, 24, 14, 30, tzinfo=UTC).timestamp())
EARLY_25 = int(datetime(2026, 11, 24, 15, 30, tzinfo=UTC).timestamp())

# The first request of the example answer of Coupang's list page (its shape, its values).
DOCUMENTED: dict[str, Any] = {
    "receiptId": 50229613,
    "orderId": 28000008707838,
    "paymentId": 28000009486604,
    "receiptType": "RETURN",
    "receiptStatus": "RETURNS_UNCHECKED",
    "createdAt": "2017-09-02T22:52:42",
    "modifiedAt": "2017-09-02T22:52:42",
    "requesterName": "구*숙",
    "cancelReasonCategory1": "고객변심",
    "cancelReasonCategory2": "단순변심(사유없음)",
    "cancelReason": "",
    "cancelCountSum": 1,
    "returnDeliveryType": "연동택배",
    "releaseStopStatus": "처리(이미출고)",
    "returnItems": [
        {
            "vendorItemId": 3187044096,
            "purchaseCount": 1,
            "cancelCount": 1,
            "shipmentBoxId": 434119941,
            "sellerProductId": 57623797,
        }
    ],
    "returnDeliveryDtos": [{"deliveryCompanyCode": "CJGLS", "deliveryInvoiceNo": ""}],
}


def request(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(DOCUMENTED)
    body.update(changes)
    return body


def item(box: int, bought: int = 1, cancelled: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "vendorItemId": 3000 + box,
        "purchaseCount": bought,
        "cancelCount": cancelled,
        "shipmentBoxId": box,
        **extra,
    }


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, "RETURNS_UNCHECKED"),
        ({"releaseStopStatus": "비대상"}, "RETURNS_UNCHECKED"),
        ({"receiptType": "CANCEL", "receiptStatus": "RETURNS_COMPLETED"}, "CANCEL"),
        (
            {"receiptStatus": "RELEASE_STOP_UNCHECKED", "releaseStopStatus": "미처리"},
            "RELEASE_STOP_UNCHECKED",
        ),
        ({"releaseStopStatus": "미처리"}, "RELEASE_STOP_UNCHECKED"),
        ({"releaseStopStatus": "", "returnItems": [item(7, releaseStatus="N")]}, "RELEASE_STOP_UNCHECKED"),
        ({"receiptStatus": "RETURNS_COMPLETED", "releaseStopStatus": "처리(출고중지)"}, "STOP_SHIPMENT"),
        ({"receiptStatus": "VENDOR_WAREHOUSE_CONFIRM"}, "VENDOR_WAREHOUSE_CONFIRM"),
        ({"receiptStatus": "REQUEST_COUPANG_CHECK"}, "REQUEST_COUPANG_CHECK"),
        ({"receiptStatus": "RETURNS_COMPLETED"}, "RETURNS_COMPLETED"),
        ({"receiptStatus": "SOMETHING_NEW"}, "SOMETHING_NEW"),
    ],
)
def test_a_request_reads_as_cancel_hold_stop_or_a_return_step(changes: dict[str, Any], status: str) -> None:
    assert receipt_status(request(**changes)) == status


def test_a_return_names_the_order_and_is_dated_by_coupang_in_korean_time() -> None:
    [event] = receipt_events(VENDOR, request(modifiedAt="2017-09-03T09:00:00"), seen=SEEN)
    assert (event.kind, event.status, event.package_id, event.order_id) == (
        EventKind.ORDER_STATUS,
        "RETURNS_UNCHECKED",
        None,
        "28000008707838",
    )
    assert event.occurred_at == datetime(2017, 9, 3, 0, 0, tzinfo=UTC)
    assert event.dedupe_key == "coupang:28000008707838:receipt:50229613:RETURNS_UNCHECKED"
    assert event.reason == "고객변심 / 단순변심(사유없음)" and event.source == "poll"
    assert maps.order_target("coupang", event.status) == maps.Target("returning", alert=True)


def test_a_stop_request_names_each_of_its_boxes() -> None:
    body = request(
        receiptStatus="RELEASE_STOP_UNCHECKED", releaseStopStatus="미처리", returnItems=[item(8), item(7)]
    )
    events = receipt_events(VENDOR, body, seen=SEEN)
    assert [(e.package_id, e.status) for e in events] == [
        ("7", "RELEASE_STOP_UNCHECKED"),
        ("8", "RELEASE_STOP_UNCHECKED"),
    ]
    assert events[0].dedupe_key == "coupang:28000008707838:receipt:50229613:box:7:RELEASE_STOP_UNCHECKED"
    assert maps.package_target("coupang", "RELEASE_STOP_UNCHECKED") == maps.Target("on_hold")


def test_a_cancellation_of_fewer_items_than_bought_holds_the_box_for_repacking() -> None:
    body = request(receiptType="CANCEL", returnItems=[item(7), item(8, bought=3, cancelled=1), item(8)])
    events = receipt_events(VENDOR, body, seen=SEEN)
    assert [(e.package_id, e.status) for e in events] == [("7", "CANCEL"), ("8", "PARTIAL_CANCEL")]
    assert maps.order_target("coupang", "PARTIAL_CANCEL") == maps.Target("on_hold", alert=True)
    assert maps.package_target("coupang", "CANCEL") == maps.Target("cancelled")


def test_a_cancellation_naming_no_box_is_the_whole_orders() -> None:
    [event] = receipt_events(
        VENDOR, request(receiptType="CANCEL", returnItems=[{"vendorItemId": 1}]), seen=SEEN
    )
    assert (event.package_id, event.status) == (None, "CANCEL")


@pytest.mark.parametrize("bad", [{"receiptId": None}, {"orderId": "12a"}, {"receiptId": True}])
def test_a_request_without_numeric_ids_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError):
        receipt_events(VENDOR, request(**bad), seen=SEEN)


def test_a_request_without_times_is_dated_when_seen() -> None:
    [event] = receipt_events(VENDOR, request(createdAt="", modifiedAt=None), seen=SEEN)
    assert event.occurred_at == SEEN


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world() -> Iterator[tuple[CoupangSandbox, str]]:
    with ExitStack() as stack:
        yield start_sandbox(stack, seed=4)


async def test_the_list_serves_each_kind_by_the_korean_day_the_request_was_made_in_pages(
    world: tuple[CoupangSandbox, str],
) -> None:
    sandbox, base = world
    accepted = [sandbox.create_order(ordered_at=LATE_24 - 60)[0] for _ in range(3)]
    [instructed] = sandbox.create_order(status="INSTRUCT", ordered_at=LATE_24 - 60)
    [delivered] = sandbox.create_order(status="FINAL_DELIVERY", ordered_at=LATE_24 - 60)
    sandbox.clock = type(sandbox.clock)(LATE_24)
    cancels = [sandbox.returns.cancel(box.order_id)[0] for box in accepted]
    [stop] = sandbox.returns.cancel(instructed.order_id)
    sandbox.clock.advance(EARLY_25 - LATE_24)
    returned = sandbox.returns.request_return(delivered.shipment_box_id)
    async with client(base, clock=lambda: datetime.fromtimestamp(sandbox.clock.now(), UTC)) as api:
        lists = ReturnRequests(api)
        seen, token, pages = [], "", 0
        while True:
            page = await lists.list_page("CANCEL", date(2026, 11, 24), token, per_page=2)
            pages += 1
            seen += [row["receiptId"] for row in page.receipts]
            if not page.next_token:
                break
            token = page.next_token
        assert pages == 2 and seen == sorted(r.receipt_id for r in cancels)
        ru = await lists.list_page("RU", date(2026, 11, 24))
        uc_24 = await lists.list_page("UC", date(2026, 11, 24))
        uc_25 = await lists.list_page("UC", date(2026, 11, 25))
        cc = await lists.list_page("CC", date(2026, 11, 24))
    assert [row["receiptId"] for row in ru.receipts] == [stop.receipt_id]
    assert [row["receiptId"] for row in uc_24.receipts] == [
        stop.receipt_id
    ]  # a stop request shows under UC too
    assert [row["receiptId"] for row in uc_25.receipts] == [returned.receipt_id]
    assert cc.receipts == []  # CC lists returns: cancellations at payment are CANCEL's
    row = ru.receipts[0]
    assert (row["receiptType"], row["receiptStatus"], row["releaseStopStatus"]) == (
        "RETURN",
        "RELEASE_STOP_UNCHECKED",
        "미처리",
    )
    assert (
        row["createdAt"] == "2026-11-24T23:30:00"  # v4, the default: Korean time, no zone
        and row["returnItems"][0]["shipmentBoxId"] == instructed.shipment_box_id
    )
    assert instructed.sheet()["orderItems"][0]["holdCountForCancel"] == instructed.items[0].shipping_count
    def now() -> datetime:
        return datetime.fromtimestamp(sandbox.clock.now(), UTC)

    async with client(base, clock=now, returns_version="v6") as opted:  # the unverified opt-in: v6's form
        (v6,) = (await ReturnRequests(opted).list_page("RU", date(2026, 11, 24))).receipts
    assert (v6["receiptId"], v6["createdAt"]) == (stop.receipt_id, "2026-11-24T23:30:00.000000+09:00")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"cancelType": "CANCEL", "status": "UC"}, "neither status nor orderId"),
        ({}, "status must be one of RU, UC, PR, CC"),
        ({"status": "XX"}, "status must be one of"),
        ({"status": "UC", "searchType": "timeFrame"}, "per-day search only"),
        ({"status": "UC", "createdAtTo": "2026-11-25"}, "at most 1 day"),
        ({"status": "UC", "maxPerPage": 51}, "maxPerPage must be between 1 and 50"),
    ],
)
async def test_the_list_refuses_what_coupang_refuses(
    world: tuple[CoupangSandbox, str], query: dict[str, Any], message: str
) -> None:
    _, base = world
    full = {"createdAtFrom": "2026-11-24", "createdAtTo": "2026-11-24", **query}
    async with client(base) as api:
        with pytest.raises(RequestRejected, match=message):
            await api.request("GET", PATH, query=full)


async def test_the_list_checks_the_signature_over_the_query_as_sent(
    world: tuple[CoupangSandbox, str],
) -> None:
    sandbox, base = world
    async with CoupangClient(base, ACCESS, "not-the-secret", vendor_id=VENDOR) as bad:
        with pytest.raises(AuthenticationFailed, match="Invalid signature"):
            await ReturnRequests(bad).list_page("CANCEL", date(2026, 11, 24))
    signed = encode_query({"createdAtFrom": "2026-11-24", "createdAtTo": "2026-11-24", "status": "RU"})
    header = authorization(ACCESS, SECRET, "GET", PATH, signed, now=datetime.now(UTC))
    sent = signed.replace("status=RU", "status=CC")  # a query other than the one signed
    tampered = httpx.get(f"{base}{PATH}?{sent}", headers={"Authorization": header})
    honest = httpx.get(f"{base}{PATH}?{signed}", headers={"Authorization": header})
    unsigned = httpx.get(f"{base}{PATH}?{signed}")
    assert (tampered.status_code, tampered.json()["message"]) == (401, "Invalid signature")
    assert honest.status_code == 200 and honest.json()["data"] == []
    assert unsigned.status_code == 401
    assert sandbox.calls["returns"] == 4  # every call reached the endpoint and was judged there
