"""The Coupang sandbox's world: a vendor, its orders' shipment boxes, and what was asked of it.

A box (one order sheet row) moves ACCEPT → INSTRUCT (acknowledgement) → DEPARTURE (invoice
upload) → DELIVERING → FINAL_DELIVERY (the courier: :meth:`CoupangWorld.advance`), or is
set to any status by a test; the buyer may cancel or return boxes (``sandbox.returns``,
:mod:`handlers.coupang.sandbox.returns`, whose :class:`CoupangSandbox` is this world with
that desk: the world never imports the desk that builds on it). Times are kept as Unix
seconds on a :class:`SandboxClock` and shown in Korean time, as Coupang shows them
(:mod:`handlers.coupang.sandbox.sheets`). The sandbox counts every acknowledgement and
invoice upload it received for each box, so tests can tell "done once" from "done twice".

Thread-safe: the HTTP handlers (on uvicorn's loop) and tests (on their own thread) share it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.coupang.orders import KST, STATUSES
from handlers.coupang.sandbox.sheets import Box, Item
from handlers.sandbox_common import ApiFaults, FaultScript, SandboxClock, SandboxError

__all__ = ["CoupangWorld", "Faults", "SandboxClock", "SandboxError", "STATUSES"]

COURIER_STEPS = {"DEPARTURE": "DELIVERING", "DELIVERING": "FINAL_DELIVERY", "NONE_TRACKING": "FINAL_DELIVERY"}
ACTION_FAULTS = ("500", "hang")  # a lost answer: the change is made, the answer never comes


@dataclass
class Faults:
    """What goes wrong: a share of calls fail before they are handled (``api``), a share of
    acknowledgements and invoice uploads are made but their answer is lost (``lose_rate``),
    every answer is late by ``delay_seconds``, and a share of listed rows come twice."""

    api: ApiFaults = field(default_factory=ApiFaults)
    lose_rate: float = 0.0
    delay_seconds: float = 0.0
    duplicate_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lose_rate", "duplicate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SandboxError(f"{name} must be between 0 and 1")
        if self.delay_seconds < 0:
            raise SandboxError("delay_seconds must not be negative")


class CoupangWorld:
    """One vendor's order sheets in a pretend Coupang (the world the desks build on)."""

    def __init__(
        self,
        vendor_id: str,
        access_key: str,
        secret_key: str,
        *,
        seed: int = 0,
        clock: SandboxClock | None = None,
        window_days: int = 1,
        max_per_page: int = 50,
    ) -> None:
        self.vendor_id = vendor_id
        self.access_key = access_key
        self.secret_key = secret_key
        self.clock = clock or SandboxClock()
        self.window_days = window_days
        self.max_per_page = max_per_page
        self.boxes: dict[int, Box] = {}
        self.faults = Faults()
        self.acknowledgements: Counter[int] = Counter()  # requests naming the box, handled
        self.invoice_uploads: Counter[int] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._rng = random.Random(f"{seed}:faults")
        self._ids = random.Random(f"{seed}:ids")
        self._api_script = FaultScript(self._lock, self._rng)  # one generator for every fault
        self._next_box = 640000000000000000 + self._ids.randrange(10**12)
        self._next_order = 25000000000000 + self._ids.randrange(10**9)

    @property
    def lock(self) -> threading.RLock:
        """The lock every change of the sandbox's world holds (re-entrant)."""
        return self._lock

    # -- orders ---------------------------------------------------------------------------

    def create_order(
        self,
        *,
        boxes: int = 1,
        items: int = 1,
        status: str = "ACCEPT",
        ordered_at: int | None = None,
        order_id: int | None = None,
        ship_in_days: int = 2,
    ) -> list[Box]:
        """A new order with ``boxes`` boxes of ``items`` items each, in ``status``."""
        _check(status)
        if boxes < 1 or items < 1:
            raise SandboxError("an order has at least one box of one item")
        with self._lock:
            when = self.clock.now() if ordered_at is None else ordered_at
            if order_id is None:
                self._next_order += 1 + self._ids.randrange(50)
                order_id = self._next_order
            ship = (datetime.fromtimestamp(when, UTC).astimezone(KST) + timedelta(days=ship_in_days)).date()
            made = []
            for _ in range(boxes):
                self._next_box += 1 + self._ids.randrange(1000)
                paid = min(when + 30, max(when, self.clock.now()))  # paid within 30 s, never ahead
                box = Box(self._next_box, order_id, "ACCEPT", when, paid)
                box.items = [
                    Item(
                        3000000000 + self._ids.randrange(10**9),
                        f"상품 {n + 1} of box {self._next_box}",
                        1 + self._ids.randrange(3),
                        estimated_shipping_date=ship.isoformat(),
                    )
                    for n in range(items)
                ]
                self.boxes[box.shipment_box_id] = box
                self._set(box, status)
                made.append(box)
            return made

    def box(self, shipment_box_id: int) -> Box:
        """The box, or a 404 error."""
        with self._lock:
            found = self.boxes.get(shipment_box_id)
            if found is None:
                raise SandboxError(f"no shipment box {shipment_box_id}", 404)
            return found

    def order_boxes(self, order_id: int) -> list[Box]:
        """The order's boxes (none when the order is unknown)."""
        with self._lock:
            return sorted((b for b in self.boxes.values() if b.order_id == order_id), key=_box_key)

    def set_status(self, shipment_box_id: int, status: str) -> Box:
        """Put the box in ``status`` (a test's or the control endpoint's doing)."""
        _check(status)
        with self._lock:
            box = self.box(shipment_box_id)
            self._set(box, status)
            return box

    def advance(self, shipment_box_id: int | None = None) -> int:
        """One courier step for the box (or every dispatched box); how many moved."""
        with self._lock:
            boxes = [self.box(shipment_box_id)] if shipment_box_id is not None else list(self.boxes.values())
            moved = 0
            for box in boxes:
                step = COURIER_STEPS.get(box.status)
                if step:
                    self._set(box, step)
                    moved += 1
            return moved

    def sheets(self, status: str, start: int, end: int) -> list[Box]:
        """Boxes in ``status`` ordered in ``[start, end)``, by shipment box id."""
        with self._lock:
            found = [b for b in self.boxes.values() if b.status == status and start <= b.ordered_at < end]
            return sorted(found, key=_box_key)

    # -- actions --------------------------------------------------------------------------

    def acknowledge(self, box_ids: Sequence[int]) -> list[dict[str, Any]]:
        """ACCEPT → INSTRUCT for each box; a result per box, in Coupang's shape."""
        results = []
        with self._lock:
            for box_id in box_ids:
                box = self.boxes.get(box_id)
                if box is None:
                    results.append(_result(box_id, False, "NOT_FOUND_SHIPMENT_BOX", True))
                    continue
                self.acknowledgements[box_id] += 1
                if box.status != "ACCEPT" or box.cancelled:
                    # Invented: the code. The page's error spec gives only responseCode 99 and
                    # the message "배송상태를 변경할 수 없습니다. 주문내역을 확인해주세요."
                    results.append(_result(box_id, False, "INVALID_STATUS", False))
                    continue
                self._set(box, "INSTRUCT")
                results.append(_result(box_id, True, "OK", False))
        return results

    def upload_invoices(self, dtos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """INSTRUCT → DEPARTURE for each box named; a result per box."""
        by_box: dict[int, list[Mapping[str, Any]]] = {}
        for dto in dtos:
            by_box.setdefault(int(dto["shipmentBoxId"]), []).append(dto)
        results = []
        with self._lock:
            for box_id, rows in by_box.items():
                box = self.boxes.get(box_id)
                if box is None:
                    results.append(_result(box_id, False, "NOT_FOUND_SHIPMENT_BOX", False))
                    continue
                self.invoice_uploads[box_id] += 1
                numbers = {str(r.get("invoiceNumber") or "") for r in rows}
                couriers = {str(r.get("deliveryCompanyCode") or "") for r in rows}
                items = {int(r["vendorItemId"]) for r in rows}
                if box.cancelled or box.stop_requested:
                    # The invoice page's result codes: ORDER_DELIVERY_CANCELED, no retry, "취소된
                    # 주문건입니다. or (while INSTRUCT) 출고중지 요청건입니다."
                    results.append(_result(box_id, False, "ORDER_DELIVERY_CANCELED", False))
                elif box.status != "INSTRUCT":
                    results.append(_result(box_id, False, "INVALID_STATUS", False))
                elif items != {i.vendor_item_id for i in box.items}:
                    results.append(_result(box_id, False, "NOT_FOUND_VENDOR_ITEM", False))
                elif len(numbers) != 1 or not next(iter(numbers)).isalnum() or len(couriers) != 1:
                    results.append(_result(box_id, False, "INVALID_INVOICE_NUMBER", True))
                else:
                    box.invoice_number, box.delivery_company_code = numbers.pop(), couriers.pop()
                    self._set(box, "DEPARTURE")
                    results.append(_result(box_id, True, "OK", False))
        return results

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, kinds: Iterable[str]) -> None:
        """Make the next API calls fail in this order (500, 429 or hang), then go on as before."""
        self._api_script.fail_next(kinds)

    def next_fault(self) -> str | None:
        """The fault this call suffers before it is handled, if any (scripted first, then by rate)."""
        return self._api_script.next_fault(self.faults.api)

    def loses_answer(self) -> str | None:
        """Whether this acknowledgement or upload, once made, loses its answer (and how)."""
        with self._lock:
            if self.faults.lose_rate and self._rng.random() < self.faults.lose_rate:
                return self._rng.choice(ACTION_FAULTS)
            return None

    def duplicates(self, rows: list[Box]) -> list[Box]:
        """``rows`` with a share of them listed twice (as a shaky listing does)."""
        with self._lock:
            rate = self.faults.duplicate_rate
            if not rate:
                return rows
            out: list[Box] = []
            for row in rows:
                out.append(row)
                if self._rng.random() < rate:
                    out.append(row)
            return out

    # -- internals ------------------------------------------------------------------------

    def _set(self, box: Box, status: str) -> None:
        now = max(self.clock.now(), box.paid_at)
        if status in ("DEPARTURE", "DELIVERING", "FINAL_DELIVERY") and box.invoice_number is None:
            box.invoice_number = str(400000000000 + self._ids.randrange(10**11))
            box.delivery_company_code = "CJGLS"
        if status in ("DEPARTURE", "DELIVERING", "FINAL_DELIVERY") and box.invoice_uploaded_at is None:
            box.invoice_uploaded_at = now
        if status in ("DELIVERING", "FINAL_DELIVERY", "NONE_TRACKING") and box.in_transit_at is None:
            box.in_transit_at = now
        if status == "FINAL_DELIVERY" and box.delivered_at is None:
            box.delivered_at = now
        box.status = status


def _box_key(box: Box) -> int:
    return box.shipment_box_id


def _check(status: str) -> None:
    if status not in STATUSES:
        raise SandboxError(f"status must be one of {', '.join(STATUSES)}")


def _result(box_id: int, succeed: bool, code: str, retry: bool) -> dict[str, Any]:
    # The messages of the published samples and the invoice page's result code table.
    messages = {
        "OK": "request succeeded.",
        "NOT_FOUND_SHIPMENT_BOX": f"shipmentBoxId ({box_id}) is not found.",
        "INVALID_STATUS": "배송상태를 변경할 수 없습니다. 주문내역을 확인해주세요.",
        "NOT_FOUND_VENDOR_ITEM": "합포장건 중 누락된 상품이 있습니다.",
        "INVALID_INVOICE_NUMBER": "송장번호가 유효하지 않습니다.",
        "ORDER_DELIVERY_CANCELED": "취소된 주문건입니다.",
    }
    return {
        "shipmentBoxId": box_id,
        "succeed": succeed,
        "resultCode": code,
        "retryRequired": retry,
        "resultMessage": messages.get(code, code),
    }
