"""The Coupang sandbox's return and cancel requests (반품/취소 요청), ``sandbox.returns``.

The buyer cancels an order's boxes — at once while ACCEPT (a ``CANCEL`` request, the box
cancelled), as a stop-shipment request while INSTRUCT (``RELEASE_STOP_UNCHECKED``; the box
refuses an invoice until it is answered) — or returns a dispatched box (``RETURNS_UNCHECKED``).
The seller answers a stop request in Wing: stopped (``RETURNS_COMPLETED`` with
``releaseStopStatus`` 처리(출고중지), the box cancelled) or already shipped (처리(이미출고): the
request becomes a return and the box is dispatched). Coupang moves a return on
(``VENDOR_WAREHOUSE_CONFIRM``, ``REQUEST_COUPANG_CHECK``, ``RETURNS_COMPLETED``).
:meth:`ReturnsDesk.listing` serves the list endpoint by the Korean day of creation.
docs/platforms.md says which parts are Coupang's documented shapes and which are made up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from handlers.coupang.returns import HOLD, KINDS, STOPPED, UNPROCESSED
from handlers.coupang.sandbox.sheets import Box, iso, krw, kst
from handlers.coupang.sandbox.state import CoupangWorld
from handlers.sandbox_common import SandboxClock, SandboxError

DISPATCHED = ("DEPARTURE", "DELIVERING", "FINAL_DELIVERY", "NONE_TRACKING")
RETURN_STEPS = ("VENDOR_WAREHOUSE_CONFIRM", "REQUEST_COUPANG_CHECK", "RETURNS_COMPLETED")
# Which receipt statuses each query status code lists. Coupang says a stop request shows
# under RU and UC (the list page). Invented: the rest of this table; that warehouse-confirmed
# returns show under UC in particular is the sandbox's reading.
LISTED = {
    "RU": ("RELEASE_STOP_UNCHECKED",),
    "UC": ("RELEASE_STOP_UNCHECKED", "RETURNS_UNCHECKED", "VENDOR_WAREHOUSE_CONFIRM"),
    "PR": ("REQUEST_COUPANG_CHECK",),
    "CC": ("RETURNS_COMPLETED",),
}


@dataclass
class Receipt:
    """One request, for one box (Coupang's may name several; the sandbox makes one per box)."""

    receipt_id: int
    box: Box
    receipt_type: str  # RETURN | CANCEL
    status: str
    release_stop: str
    created_at: int
    modified_at: int
    released: bool  # whether the box had left the seller when the buyer asked

    def row(self, version: str = "v4") -> dict[str, Any]:
        """The request as the list answer shows it, in the fields of the published v4 sample
        (tests/conformance/samples/coupang/returnRequests.list_per_day.v4.json); v6 writes times
        with an offset and money as ``{currencyCode, units, nanos}``."""
        box, done = self.box, self.status == "RETURNS_COMPLETED"
        at = iso if version == "v6" else kst
        returning = self.receipt_type == "RETURN" and self.release_stop != STOPPED
        pickup = {"deliveryCompanyCode": "CJGLS", "deliveryInvoiceNo": ""}
        row = {
            "receiptId": self.receipt_id,
            "orderId": box.order_id,
            "paymentId": box.order_id + 1000000000,  # Invented: how Coupang numbers payments
            "receiptType": self.receipt_type,
            "receiptStatus": self.status,
            "createdAt": at(self.created_at),
            "modifiedAt": at(self.modified_at),
            # Invented: the requester and the reasons.
            "requesterName": "김*수",
            "requesterPhoneNumber": "0502-****-1234",
            "requesterRealPhoneNumber": None,
            "requesterAddress": "서울특별시 송파구 송파대로 570",
            "requesterAddressDetail": "10층",
            "requesterZipCode": "05510",
            "cancelReasonCategory1": "고객변심",
            "cancelReasonCategory2": "단순변심(사유없음)",
            "cancelReason": "",
            "cancelCountSum": sum(item.shipping_count for item in box.items),
            "returnDeliveryId": self.receipt_id + 20000000 if returning else 0,
            "returnDeliveryType": "연동택배" if returning else "",
            "releaseStopStatus": self.release_stop,
            "enclosePrice": krw(0, "v5" if version == "v6" else "v4"),
            "faultByType": "CUSTOMER",
            "preRefund": False,
            "completeConfirmType": "VENDOR_CONFIRM" if done else "UNDEFINED",
            "completeConfirmDate": at(self.modified_at) if done else "",
            "returnItems": [
                {
                    "vendorItemPackageId": 0,
                    "vendorItemPackageName": item.name,
                    "vendorItemId": item.vendor_item_id,
                    "vendorItemName": item.name,
                    "purchaseCount": item.shipping_count,
                    "cancelCount": item.shipping_count,
                    "shipmentBoxId": box.shipment_box_id,
                    "sellerProductId": 80000000 + item.vendor_item_id % 1000000,
                    "sellerProductName": item.name,
                    # Not in the list's field table: the portal's stop-shipment pages speak of
                    # "releaseStatus N" (not released); "Y" for released is the sandbox's reading.
                    "releaseStatus": "Y" if self.released else "N",
                }
                for item in box.items
            ],
            "returnDeliveryDtos": [pickup] if returning else [],
        }
        if version == "v6":
            # From integrations' v6 fixtures (no published v6 sample was found): the shipping
            # charge of a return, signed, in the money object.
            row["returnShippingCharge"] = krw(0, "v5")
        return row

    def listed_as(self, kind: str) -> bool:
        """Whether a list query of ``kind`` (CANCEL, RU, UC, PR, CC) finds it."""
        if kind == "CANCEL":
            return self.receipt_type == "CANCEL"
        return self.receipt_type == "RETURN" and self.status in LISTED.get(kind, ())


class ReturnsDesk:
    """The buyers' cancellations and returns, and the seller's and Coupang's answers."""

    def __init__(self, sandbox: CoupangWorld, seed: int = 0) -> None:
        self.sandbox = sandbox
        self.receipts: dict[int, Receipt] = {}
        self._ids = random.Random(f"{seed}:receipts")
        self._next = 50000000 + self._ids.randrange(10**6)

    def cancel(self, order_id: int, shipment_box_ids: list[int] | None = None) -> list[Receipt]:
        """The buyer cancels the order (or the boxes named): a request per box."""
        with self.sandbox.lock:
            boxes = self.sandbox.order_boxes(order_id)
            if shipment_box_ids is not None:
                boxes = [b for b in boxes if b.shipment_box_id in shipment_box_ids]
            if not boxes:
                raise SandboxError("no such order or box", 404)
            for box in boxes:
                if box.cancelled or box.stop_requested:
                    raise SandboxError(f"box {box.shipment_box_id} is cancelled or asked to stop", 409)
                if box.status not in ("ACCEPT", "INSTRUCT"):
                    raise SandboxError(f"box {box.shipment_box_id} is {box.status}: return it instead", 409)
            made = []
            for box in boxes:
                if box.status == "ACCEPT":
                    box.cancelled = True
                    # Invented: a CANCEL request's receiptStatus and releaseStopStatus (no page says).
                    made.append(self._new(box, "CANCEL", "RETURNS_COMPLETED", "비대상", released=False))
                else:
                    box.stop_requested = True
                    made.append(self._new(box, "RETURN", HOLD, UNPROCESSED, released=False))
            return made

    def stop_shipment(self, receipt_id: int) -> Receipt:
        """The seller stops the requested box (출고중지완료): the box is cancelled."""
        with self.sandbox.lock:
            receipt = self._stop_request(receipt_id)
            receipt.box.stop_requested, receipt.box.cancelled = False, True
            return self._move(receipt, "RETURNS_COMPLETED", STOPPED)

    def already_shipped(self, receipt_id: int) -> Receipt:
        """The seller had shipped the requested box (이미출고): it is dispatched, and returns."""
        with self.sandbox.lock:
            receipt = self._stop_request(receipt_id)
            receipt.box.stop_requested = False
            if receipt.box.status not in DISPATCHED:
                self.sandbox.set_status(receipt.box.shipment_box_id, "DEPARTURE")
            receipt.released = True
            return self._move(receipt, "RETURNS_UNCHECKED", "처리(이미출고)")

    def request_return(self, shipment_box_id: int) -> Receipt:
        """The buyer returns a dispatched box."""
        with self.sandbox.lock:
            box = self.sandbox.box(shipment_box_id)
            if box.status not in DISPATCHED:
                raise SandboxError(f"box {shipment_box_id} is {box.status}: cancel it instead", 409)
            if any(r.box is box and r.status != "RETURNS_COMPLETED" for r in self.receipts.values()):
                raise SandboxError(f"box {shipment_box_id} has a request under way", 409)
            return self._new(box, "RETURN", "RETURNS_UNCHECKED", "비대상", released=True)

    def set_status(self, receipt_id: int, status: str) -> Receipt:
        """Coupang moves a return on: VENDOR_WAREHOUSE_CONFIRM, REQUEST_COUPANG_CHECK or
        RETURNS_COMPLETED."""
        if status not in RETURN_STEPS:
            raise SandboxError(f"status must be one of {', '.join(RETURN_STEPS)}")
        with self.sandbox.lock:
            receipt = self.receipt(receipt_id)
            if receipt.receipt_type != "RETURN" or receipt.status in (HOLD, "RETURNS_COMPLETED"):
                raise SandboxError(f"request {receipt_id} is {receipt.status}: not a return under way", 409)
            return self._move(receipt, status, receipt.release_stop)

    def receipt(self, receipt_id: int) -> Receipt:
        """The request, or a 404 error."""
        with self.sandbox.lock:
            found = self.receipts.get(receipt_id)
            if found is None:
                raise SandboxError(f"no request {receipt_id}", 404)
            return found

    def listing(self, kind: str, start: int, end: int, order_id: int | None = None) -> list[Receipt]:
        """Requests of query ``kind`` made in ``[start, end)`` (of one order), by receipt id."""
        if kind not in KINDS:
            raise SandboxError(f"kind must be one of {', '.join(KINDS)}")
        with self.sandbox.lock:
            found = [
                r
                for r in self.receipts.values()
                if r.listed_as(kind) and start <= r.created_at < end and order_id in (None, r.box.order_id)
            ]
            return sorted(found, key=lambda r: r.receipt_id)

    def _stop_request(self, receipt_id: int) -> Receipt:
        receipt = self.receipt(receipt_id)
        if receipt.status != HOLD:
            raise SandboxError(f"request {receipt_id} is {receipt.status}, not a stop-shipment request", 409)
        return receipt

    def _new(self, box: Box, kind: str, status: str, stop: str, *, released: bool) -> Receipt:
        self._next += 1 + self._ids.randrange(100)
        now = self.sandbox.clock.now()
        receipt = Receipt(self._next, box, kind, status, stop, now, now, released)
        self.receipts[receipt.receipt_id] = receipt
        return receipt

    def _move(self, receipt: Receipt, status: str, stop: str) -> Receipt:
        receipt.status, receipt.release_stop = status, stop
        receipt.modified_at = max(self.sandbox.clock.now(), receipt.created_at)
        return receipt


class CoupangSandbox(CoupangWorld):
    """The sandbox the endpoints and tests act on: the world and its returns desk.

    Composed here, above both, so that the world (service of the order sheets) does not
    import the desk that builds on it.
    """

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
        super().__init__(
            vendor_id,
            access_key,
            secret_key,
            seed=seed,
            clock=clock,
            window_days=window_days,
            max_per_page=max_per_page,
        )
        self.returns = ReturnsDesk(self, seed)
