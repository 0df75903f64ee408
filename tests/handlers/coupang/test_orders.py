"""Coupang order sheets as normalized events: keys, Korean times, ship-by, invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.coupang.orders import SheetError, parse_time, sheet_events, ship_by, status_time
from statemachines.events import EventKind

SEEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def sheet(status: str = "ACCEPT", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shipmentBoxId": 642538970006401429,
        "orderId": 22000009546234,
        "orderedAt": "2026-11-24T10:20:16",
        "paidAt": "2026-11-24T10:20:46",
        "status": status,
        "orderItems": [
            {
                "vendorItemId": 3242596358,
                "estimatedShippingDate": "2026-11-27",
                "invoiceNumberUploadDate": "",
            },
            {
                "vendorItemId": 3242596359,
                "estimatedShippingDate": "2026-11-26",
                "invoiceNumberUploadDate": "",
            },
        ],
        "invoiceNumber": "",
        "inTrasitDateTime": "",
        "deliveredDate": "",
    }
    body.update(extra)
    return body


def test_times_are_korean_and_either_separator_is_read() -> None:
    assert parse_time("2026-11-24T10:20:16") == datetime(2026, 11, 24, 1, 20, 16, tzinfo=UTC)
    assert parse_time("2026-11-24 10:20:16") == datetime(2026, 11, 24, 1, 20, 16, tzinfo=UTC)
    assert parse_time("") is None and parse_time(None) is None and parse_time("yesterday") is None


def test_a_box_is_an_order_status_event_of_its_order_with_the_box_as_package() -> None:
    [event] = sheet_events("A00012345", sheet("INSTRUCT"), seen=SEEN)
    assert (event.order_id, event.package_id, event.shop_id) == (
        "22000009546234",
        "642538970006401429",
        "A00012345",
    )
    assert event.kind is EventKind.ORDER_STATUS and event.status == "INSTRUCT" and event.source == "poll"
    assert event.dedupe_key == "coupang:22000009546234:box:642538970006401429:INSTRUCT"
    assert event.occurred_at == parse_time("2026-11-24T10:20:46")  # by the payment, not when seen


def test_ship_by_is_the_end_of_the_earliest_estimated_shipping_day_in_korea() -> None:
    assert ship_by(sheet()) == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 2026-11-27 00:00 KST
    assert ship_by(sheet(orderItems=[{"vendorItemId": 1, "estimatedShippingDate": ""}])) is None


def test_a_dispatched_box_also_says_its_invoice() -> None:
    items = [{"vendorItemId": 1, "invoiceNumberUploadDate": "2026-11-25T09:00:00"}]
    body = sheet(
        "DELIVERING", orderItems=items, invoiceNumber="340010913442", deliveryCompanyName="CJ 대한통운"
    )
    body["inTrasitDateTime"] = "2026-11-25 18:00:00"
    status, invoice = sheet_events("A00012345", body, seen=SEEN)
    assert status.occurred_at == parse_time("2026-11-25 18:00:00")
    assert invoice.kind is EventKind.TRACKING_NUMBER and invoice.tracking_number == "340010913442"
    assert invoice.dedupe_key.endswith(":invoice:340010913442") and invoice.carrier == "CJ 대한통운"


@pytest.mark.parametrize(
    "bad",
    [{"shipmentBoxId": None}, {"orderId": "12a"}, {"status": ""}, {"shipmentBoxId": True}],
)
def test_a_body_that_is_not_a_sheet_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(SheetError):
        sheet_events("A00012345", sheet(**bad), seen=SEEN)


FLOW = ("ACCEPT", "INSTRUCT", "DEPARTURE", "DELIVERING", "FINAL_DELIVERY")
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1))


@given(paid=moments, uploaded=moments, dispatched=moments, delivered=moments)
def test_a_later_status_is_never_dated_before_an_earlier_one(
    paid: datetime, uploaded: datetime, dispatched: datetime, delivered: datetime
) -> None:
    items = [{"vendorItemId": 1, "invoiceNumberUploadDate": uploaded.isoformat(timespec="seconds")}]
    body = sheet(
        paidAt=paid.isoformat(timespec="seconds"),
        orderItems=items,
        inTrasitDateTime=dispatched.strftime("%Y-%m-%d %H:%M:%S"),
        deliveredDate=delivered.strftime("%Y-%m-%d %H:%M:%S"),
    )
    times = [status_time(body, status, SEEN) for status in FLOW]
    assert times == sorted(times)
