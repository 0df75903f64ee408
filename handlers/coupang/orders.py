"""Coupang order sheets as normalized events.

One sheet is one shipment box of an order: it becomes an ``order_status`` event of the
order (``orderId``) naming the box (``shipmentBoxId``) as its package, and, once the box
has an invoice, a ``tracking_number`` event. A box enters each status once, so the dedupe
key is the box and the status: the same fact seen by two polls, a poll and an action, or
a poll and ``POST /webhooks/coupang`` is applied once.

Coupang writes times two ways: v4 in Korean time without a zone (``yyyy-MM-dd'T'HH:mm:ss``,
or with a space), v5 (and the v6 return requests) in ISO-8601 with microseconds and an offset
(``YYYY-MM-DDThh:mm:ss.ssssss±hh:mm``; the portal's own samples show ``-08:00``). Both are read
(:func:`parse_time`); a time with an offset is taken as written. v5 writes money as
``{currencyCode, units, nanos}`` where v4 wrote a number (:func:`money`). A sheet dates few of its statuses
(``paidAt``, the invoice upload, ``inTrasitDateTime`` (sic), ``deliveredDate``): a status
is dated by the latest of those up to it, so INSTRUCT by the payment. Never by when it
was seen: our clock and Coupang's disagree, and a later status dated before an earlier
one would be folded first. Equal times fold in Coupang's flow order.
The ship-by deadline is the end (Korean time) of the earliest ``estimatedShippingDate``
of the box's items (출고예정일, the day the seller must ship by).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from statemachines.events import Event, EventKind

PLATFORM = "coupang"
KST = timezone(timedelta(hours=9), "KST")
STATUSES = ("ACCEPT", "INSTRUCT", "DEPARTURE", "DELIVERING", "FINAL_DELIVERY", "NONE_TRACKING")
DISPATCHED = frozenset({"DEPARTURE", "DELIVERING", "FINAL_DELIVERY", "NONE_TRACKING"})
# How far up (paid, uploaded, dispatched, delivered) a status's time may come from.
_RUNG = {"ACCEPT": 0, "INSTRUCT": 0, "DEPARTURE": 1, "DELIVERING": 2, "NONE_TRACKING": 2, "FINAL_DELIVERY": 3}


class SheetError(ValueError):
    """A body that is not a Coupang order sheet; the message says why."""


def parse_time(text: object) -> datetime | None:
    """A Coupang time as UTC; None if blank or not a time.

    v5's ``2025-01-15T14:17:13.973885-08:00`` keeps its offset; v4's ``2017-10-10T10:20:16``
    and ``2017-10-16 22:08:04`` (no zone, fractions or not) are Korean time. A bare date is
    not a time (``estimatedShippingDate`` is read by :func:`ship_by`)."""
    if not isinstance(text, str) or len(text.strip()) <= 10 or text.strip()[10] not in "T ":
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=KST)).astimezone(UTC)


def money(value: object) -> Decimal | None:
    """A Coupang amount: v4's number (KRW), or v5's ``{currencyCode, units, nanos}`` (units plus
    nanos billionths, both signed alike); None when absent (``remotePrice`` may be null)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return None
    if isinstance(value, Mapping):
        units, nanos = value.get("units"), value.get("nanos") or 0
        if isinstance(units, bool) or not isinstance(units, int) or not isinstance(nanos, int):
            return None
        return Decimal(units) + Decimal(nanos).scaleb(-9)
    return None


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in Korea, as UTC."""
    return datetime.combine(day, time(), KST).astimezone(UTC)


def kst_day(moment: datetime) -> date:
    """The Korean calendar day of ``moment``."""
    return moment.astimezone(KST).date()


# Coupang's ids are 64-bit numbers (19 digits at most), its statuses short words: longer is not
# a sheet (and would not fit the columns and dedupe keys it goes into).
MAX_ID_DIGITS = 20
MAX_STATUS = 32  # coupang_boxes.status
MAX_INVOICE = 64  # the tracking number kept; the invoice's dedupe key holds it whole


def status_key(order_id: str, box_id: str, status: str) -> str:
    """The dedupe key of "box ``box_id`` of ``order_id`` is in ``status``"."""
    return f"{PLATFORM}:{order_id}:box:{box_id}:{status}"


def invoice_key(order_id: str, box_id: str, invoice_number: str) -> str:
    """The dedupe key of "box ``box_id`` got invoice ``invoice_number``"."""
    return f"{PLATFORM}:{order_id}:box:{box_id}:invoice:{invoice_number}"


def ship_by(sheet: Mapping[str, Any]) -> datetime | None:
    """The end of the earliest ``estimatedShippingDate`` of the box's items (Korean time)."""
    days = []
    for item in _items(sheet):
        try:
            days.append(date.fromisoformat(str(item.get("estimatedShippingDate") or "")[:10]))
        except ValueError:
            continue
    return day_start(min(days) + timedelta(days=1)) if days else None


def _items(sheet: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = sheet.get("orderItems")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _count(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _v5_item(item: Mapping[str, Any]) -> bool:
    """Whether an item is written as v5 writes it (money as ``{currencyCode, units, nanos}``)."""
    return isinstance(item.get("salesPrice"), Mapping) or isinstance(item.get("orderPrice"), Mapping)


def _all_cancelled(item: Mapping[str, Any]) -> bool:
    """Whether none of an item is left to ship. The versions count differently: v5's
    ``shippingCount`` is what was bought ("발주 가능 수량 = shippingCount - (holdCountForCancel +
    cancelCount)"), v4's already leaves the cancelled out ("It must excludes cancel count")."""
    if item.get("canceled") is True:
        return True
    shipping, cancel = _count(item, "shippingCount"), _count(item, "cancelCount")
    if _v5_item(item):
        return cancel >= max(1, shipping)
    return cancel > 0 and shipping == 0


def cancelled(sheet: Mapping[str, Any]) -> bool:
    """Whether the buyer cancelled every item of the box (``canceled``, or no count left to
    ship, as each version counts it): nothing is left to ship."""
    items = _items(sheet)
    return bool(items) and all(_all_cancelled(i) for i in items)


def held_for_cancel(sheet: Mapping[str, Any]) -> bool:
    """Whether an item of the box waits for the seller's answer to a stop-shipment request
    (``holdCountForCancel``, 취소 대기 수량)."""
    return any(_count(i, "holdCountForCancel") > 0 for i in _items(sheet))


def _ids(sheet: Mapping[str, Any]) -> tuple[str, str, str]:
    if not isinstance(sheet, Mapping):
        raise SheetError("an order sheet must be a JSON object")
    order_id, box_id, status = sheet.get("orderId"), sheet.get("shipmentBoxId"), sheet.get("status")
    for name, value in (("orderId", order_id), ("shipmentBoxId", box_id)):
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise SheetError(f"{name} must be a number")
        if len(str(value)) > MAX_ID_DIGITS:
            raise SheetError(f"{name} must be at most {MAX_ID_DIGITS} digits")
    if not isinstance(status, str) or not status:
        raise SheetError("status must be a non-empty string")
    if len(status) > MAX_STATUS:
        raise SheetError(f"status must be at most {MAX_STATUS} characters")
    return str(order_id), str(box_id), status


def status_time(sheet: Mapping[str, Any], status: str, seen: datetime) -> datetime:
    """When the box entered ``status``, as far as the sheet says (``seen`` if it says nothing).

    The latest of the times the sheet states up to that status (payment, invoice upload,
    dispatch, delivery): never earlier than an earlier status's, whatever Coupang wrote.
    """
    uploads = [t for t in (parse_time(i.get("invoiceNumberUploadDate")) for i in _items(sheet)) if t]
    ladder = (
        parse_time(sheet.get("paidAt")) or parse_time(sheet.get("orderedAt")),
        max(uploads) if uploads else None,
        parse_time(sheet.get("inTrasitDateTime")),
        parse_time(sheet.get("deliveredDate")),
    )
    stated = [t for t in ladder[: _RUNG.get(status, 0) + 1] if t is not None]
    return max(stated) if stated else seen


def sheet_events(
    vendor_id: str, sheet: Mapping[str, Any], *, seen: datetime, source: str = "poll"
) -> list[Event]:
    """The events one order sheet says; raises :class:`SheetError` when it is not one."""
    order_id, box_id, status = _ids(sheet)
    when = status_time(sheet, status, seen)
    deadline = ship_by(sheet)
    events = [
        Event(
            platform=PLATFORM,
            shop_id=vendor_id,
            order_id=order_id,
            kind=EventKind.ORDER_STATUS,
            status=status,
            occurred_at=when,
            dedupe_key=status_key(order_id, box_id, status),
            source=source,
            package_id=box_id,
            ship_by=deadline,
            raw=dict(sheet),
        )
    ]
    number = str(sheet.get("invoiceNumber") or "").strip()
    if len(number) > MAX_INVOICE:
        raise SheetError(f"invoiceNumber must be at most {MAX_INVOICE} characters")
    if number and status in DISPATCHED:
        courier = str(sheet.get("deliveryCompanyName") or "").strip() or None
        events.append(
            Event(
                platform=PLATFORM,
                shop_id=vendor_id,
                order_id=order_id,
                kind=EventKind.TRACKING_NUMBER,
                status="INVOICE",
                occurred_at=when,
                dedupe_key=invoice_key(order_id, box_id, number),
                source=source,
                package_id=box_id,
                tracking_number=number[:64],
                carrier=courier[:64] if courier else None,
                ship_by=deadline,
            )
        )
    return events
