"""The Coupang sandbox over real HTTP: it checks the signature, pages by nextToken within a
one-day window in Korean time, acknowledges and uploads invoices with a result per box,
and can fail, lose answers and duplicate rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime

import httpx
import pytest

from handlers.coupang.client import CoupangClient
from handlers.coupang.ordersheets import OrderSheets, invoice_dtos
from handlers.coupang.sandbox import CoupangSandbox
from handlers.errors import AuthenticationFailed, MarketplaceUnavailable, RateLimited, RequestRejected
from tests.coupang_world import VENDOR, client, start_sandbox

pytestmark = pytest.mark.anyio

# 2026-11-24 23:30 KST is 14:30 UTC; 2026-11-25 00:30 KST is 15:30 UTC.
LATE_24 = int(datetime(2026, 11, 24, 14, 30, tzinfo=UTC).timestamp())
EARLY_25 = int(datetime(2026, 11, 24, 15, 30, tzinfo=UTC).timestamp())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world() -> Iterator[tuple[CoupangSandbox, str]]:
    with ExitStack() as stack:
        yield start_sandbox(stack, seed=3)


async def test_a_day_is_a_korean_day_and_pages_follow_next_token(world: tuple[CoupangSandbox, str]) -> None:
    sandbox, base = world
    late = [sandbox.create_order(ordered_at=LATE_24 + i)[0] for i in range(5)]
    early = sandbox.create_order(ordered_at=EARLY_25)[0]
    async with client(base) as api:
        sheets = OrderSheets(api)
        seen, token, pages = [], "", 0
        while True:
            page = await sheets.list_page("ACCEPT", date(2026, 11, 24), token, per_page=2)
            pages += 1
            seen += [s["shipmentBoxId"] for s in page.sheets]
            if not page.next_token:
                break
            token = page.next_token
        next_day = await sheets.list_page("ACCEPT", date(2026, 11, 25))
    assert pages == 3 and seen == [b.shipment_box_id for b in late]
    assert [s["shipmentBoxId"] for s in next_day.sheets] == [early.shipment_box_id]
    assert next_day.sheets[0]["orderedAt"] == "2026-11-25T00:30:00.000000+09:00"  # v5: offset, microseconds


async def test_a_window_longer_than_a_day_and_a_bad_signature_are_refused(
    world: tuple[CoupangSandbox, str],
) -> None:
    _, base = world
    async with client(base) as api:
        query = {"createdAtFrom": "2026-11-24", "createdAtTo": "2026-11-25", "status": "ACCEPT"}
        with pytest.raises(RequestRejected, match="at most 1 day"):
            await api.request(
                "GET", f"/v2/providers/openapi/apis/api/v4/vendors/{VENDOR}/ordersheets", query=query
            )
    async with CoupangClient(base, "7b1c2d3e-access-key-for-tests", "wrong", vendor_id=VENDOR) as bad:
        with pytest.raises(AuthenticationFailed, match="Invalid signature"):
            await OrderSheets(bad).list_page("ACCEPT", date(2026, 11, 24))
    answer = httpx.get(f"{base}/v2/providers/openapi/apis/api/v4/vendors/{VENDOR}/ordersheets/1")
    assert answer.status_code == 401


async def test_acknowledge_and_invoice_answer_per_box_and_count_each_request(
    world: tuple[CoupangSandbox, str],
) -> None:
    sandbox, base = world
    boxes = sandbox.create_order(boxes=2, items=2)
    ids = [b.shipment_box_id for b in boxes]
    async with client(base) as api:
        sheets = OrderSheets(api)
        first = await sheets.acknowledge(ids)
        again = await sheets.acknowledge(ids[:1])
        sheet = await sheets.sheet(ids[0])
        uploaded = await sheets.upload_invoices(invoice_dtos(sheet, "CJGLS", "123456789012"))
        order = await sheets.order(boxes[0].order_id)
    assert [r.succeed for r in first] == [True, True]
    assert again[0].result_code == "INVALID_STATUS" and not again[0].succeed
    assert uploaded[0].succeed
    assert [s["status"] for s in order] == ["DEPARTURE", "INSTRUCT"]
    assert order[0]["invoiceNumber"] == "123456789012"
    assert sandbox.acknowledgements[ids[0]] == 2 and sandbox.invoice_uploads[ids[0]] == 1


async def test_faults_fail_before_handling_and_lost_answers_after(world: tuple[CoupangSandbox, str]) -> None:
    sandbox, base = world
    [box] = sandbox.create_order()
    async with client(base, attempts=1) as api:
        sheets = OrderSheets(api)
        sandbox.fail_next(["429", "500"])
        with pytest.raises(RateLimited):
            await sheets.sheet(box.shipment_box_id)
        with pytest.raises(MarketplaceUnavailable):
            await sheets.acknowledge([box.shipment_box_id])
        assert sandbox.acknowledgements[box.shipment_box_id] == 0
        sandbox.faults.lose_rate = 1.0
        with pytest.raises(MarketplaceUnavailable):
            await sheets.acknowledge([box.shipment_box_id])
    assert sandbox.acknowledgements[box.shipment_box_id] == 1 and box.status == "INSTRUCT"


async def test_duplicated_rows_come_twice_in_a_page(world: tuple[CoupangSandbox, str]) -> None:
    sandbox, base = world
    sandbox.create_order(ordered_at=LATE_24, boxes=3)
    sandbox.faults.duplicate_rate = 1.0
    async with client(base) as api:
        page = await OrderSheets(api).list_page("ACCEPT", date(2026, 11, 24))
    assert len(page.sheets) == 6 and len({s["shipmentBoxId"] for s in page.sheets}) == 3


def test_control_endpoints_make_orders_move_boxes_and_set_faults(world: tuple[CoupangSandbox, str]) -> None:
    sandbox, base = world
    made = httpx.post(f"{base}/sandbox/orders", json={"boxes": 2, "status": "INSTRUCT"}).json()["boxes"]
    box = made[0]["shipmentBoxId"]
    assert (
        httpx.post(f"{base}/sandbox/boxes/{box}/status", json={"status": "DEPARTURE"}).json()["status"]
        == "DEPARTURE"
    )
    assert httpx.post(f"{base}/sandbox/advance", json={"shipmentBoxId": box}).json() == {"moved": 1}
    assert httpx.get(f"{base}/sandbox/boxes/{box}").json()["status"] == "DELIVERING"
    faults = httpx.post(
        f"{base}/sandbox/faults", json={"rate": 0.3, "kinds": ["500", "429"], "lose_rate": 0.1}
    ).json()
    assert faults["api"]["rate"] == 0.3 and faults["lose_rate"] == 0.1
    assert httpx.post(f"{base}/sandbox/boxes/{box}/status", json={"status": "LOST"}).status_code == 400
    assert httpx.get(f"{base}/sandbox/counts").json()["acknowledgements"] == {}
