"""Coupang return and cancel requests (반품/취소 요청) as normalized events.

A request (``receiptId``) is a buyer's cancellation or return of items of an order; its
``returnItems`` name the shipment boxes. What it means for the order depends on its type,
its status and whether the seller has shipped (``releaseStopStatus``), so orderwatch reads
it as one of these statuses (Coupang's own words), mapped in ``statemachines/maps.py``:

- ``CANCEL``: cancelled at payment (``receiptType`` CANCEL, listed with ``cancelType=CANCEL``);
- ``RELEASE_STOP_UNCHECKED``: the buyer asked to stop a box not shipped yet (출고중지요청; also a
  ``RETURNS_UNCHECKED`` request whose stop is still 미처리 or whose item is not released);
- ``STOP_SHIPMENT``: the seller stopped the box (``releaseStopStatus`` 처리(출고중지));
- ``PARTIAL_CANCEL``: ``CANCEL`` or ``STOP_SHIPMENT`` of fewer items than were bought: the rest
  of the box must still go, repacked;
- ``RETURNS_UNCHECKED``, ``VENDOR_WAREHOUSE_CONFIRM``, ``REQUEST_COUPANG_CHECK``,
  ``RETURNS_COMPLETED``: a return of what was shipped, as Coupang names its steps.

The first four name a box (an event per box, the box as its package); returns name the
order. A request enters each status once, so the dedupe key is the request, the box and the
status. Times are Coupang's (``modifiedAt``, the last change, else ``createdAt``), never when
we saw it. Fields and their sources are in docs/platforms.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handlers.coupang.orders import PLATFORM, parse_time
from statemachines.events import Event, EventKind

# The list's query kinds: cancelType=CANCEL (no status allowed), and cancelType=RETURN's
# status codes RU (출고중지요청), UC (반품접수), PR (쿠팡확인요청), CC (반품완료).
KINDS = ("CANCEL", "RU", "UC", "PR", "CC")
CANCEL = "CANCEL"
HOLD = "RELEASE_STOP_UNCHECKED"
STOP_SHIPMENT = "STOP_SHIPMENT"
PARTIAL_CANCEL = "PARTIAL_CANCEL"
BOX_STATUSES = frozenset({CANCEL, HOLD, STOP_SHIPMENT, PARTIAL_CANCEL})
# Statuses after which a request changes no more for orderwatch (its day is not listed again).
FINAL = frozenset({CANCEL, STOP_SHIPMENT, PARTIAL_CANCEL, "RETURNS_COMPLETED"})
STOPPED = "처리(출고중지)"  # releaseStopStatus: the seller stopped the shipment
UNPROCESSED = "미처리"  # releaseStopStatus: the seller has not answered the stop request


class ReceiptError(ValueError):
    """A body that is not a Coupang return or cancel request; the message says why."""


def _number(receipt: Mapping[str, Any], name: str) -> str:
    value = receipt.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ReceiptError(f"{name} must be a number")
    return str(value)


def _items(receipt: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = receipt.get("returnItems")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def receipt_ids(receipt: Mapping[str, Any]) -> tuple[str, str]:
    """The request's ``(receiptId, orderId)``; raises :class:`ReceiptError` when it has none."""
    if not isinstance(receipt, Mapping):
        raise ReceiptError("a return request must be a JSON object")
    return _number(receipt, "receiptId"), _number(receipt, "orderId")


def receipt_status(receipt: Mapping[str, Any]) -> str:
    """What the request is for orderwatch (see the module's list); the raw
    ``receiptStatus`` when it is none of those."""
    kind = str(receipt.get("receiptType") or "").upper()
    status = str(receipt.get("receiptStatus") or "").strip()
    stop = str(receipt.get("releaseStopStatus") or "").strip()
    if kind == CANCEL:
        return CANCEL
    if stop == STOPPED:
        return STOP_SHIPMENT
    unreleased = any(str(i.get("releaseStatus") or "") == "N" for i in _items(receipt))
    if status == HOLD or (status == "RETURNS_UNCHECKED" and (stop == UNPROCESSED or unreleased)):
        return HOLD
    return status or "UNKNOWN"


def _partial(items: list[Mapping[str, Any]]) -> bool:
    """Whether fewer of an item were cancelled than were bought."""
    for item in items:
        bought, cancelled = item.get("purchaseCount"), item.get("cancelCount")
        if isinstance(bought, int) and isinstance(cancelled, int) and 0 <= cancelled < bought:
            return True
    return False


def receipt_time(receipt: Mapping[str, Any], seen: datetime) -> datetime:
    """When the request entered its status: ``modifiedAt`` (the last change), else ``createdAt``."""
    stated = [t for t in (parse_time(receipt.get(n)) for n in ("createdAt", "modifiedAt")) if t]
    return max(stated) if stated else seen


def receipt_key(order_id: str, receipt_id: str, status: str, box_id: str | None = None) -> str:
    """The dedupe key of "request ``receipt_id`` (for box ``box_id``) is in ``status``"."""
    box = f":box:{box_id}" if box_id else ""
    return f"{PLATFORM}:{order_id}:receipt:{receipt_id}{box}:{status}"


def _reason(receipt: Mapping[str, Any]) -> str | None:
    parts = [str(receipt.get(n) or "").strip() for n in ("cancelReasonCategory1", "cancelReasonCategory2")]
    words = " / ".join(p for p in parts if p)
    detail = str(receipt.get("cancelReason") or "").strip()
    text = f"{words}: {detail}" if words and detail else words or detail
    return text[:500] or None


def receipt_events(
    vendor_id: str, receipt: Mapping[str, Any], *, seen: datetime, source: str = "poll"
) -> list[Event]:
    """The events one request says; raises :class:`ReceiptError` when it is not one."""
    receipt_id, order_id = receipt_ids(receipt)
    status = receipt_status(receipt)
    when = receipt_time(receipt, seen)
    boxes: dict[str | None, list[Mapping[str, Any]]] = {}
    if status in BOX_STATUSES:
        for item in _items(receipt):
            box = item.get("shipmentBoxId")
            boxes.setdefault(str(box) if isinstance(box, int) and box > 0 else None, []).append(item)
    if not boxes or None in boxes:
        boxes = {None: _items(receipt)}  # no box named: the request is the whole order's
    events = []
    for box_id, items in sorted(boxes.items(), key=lambda pair: pair[0] or ""):
        said = PARTIAL_CANCEL if status in (CANCEL, STOP_SHIPMENT) and _partial(items) else status
        events.append(
            Event(
                platform=PLATFORM,
                shop_id=vendor_id,
                order_id=order_id,
                kind=EventKind.ORDER_STATUS,
                status=said[:64],
                occurred_at=when,
                dedupe_key=receipt_key(order_id, receipt_id, said[:64], box_id),
                source=source,
                package_id=box_id,
                reason=_reason(receipt),
                raw=dict(receipt),
            )
        )
    return events
