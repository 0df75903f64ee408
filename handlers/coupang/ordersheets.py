"""The order sheet calls of the Coupang Open API (delivery API), on :class:`CoupangClient`.

List by status over one Korean day (``createdAtFrom``/``createdAtTo``, ``maxPerPage``,
``nextToken``), read one sheet by ``shipmentBoxId`` or an order's sheets by ``orderId``,
acknowledge boxes (ACCEPT → INSTRUCT, at most 50 per call) and upload invoices
(INSTRUCT → DEPARTURE). The two actions answer a result per box (:class:`BoxResult`).

The reads speak the versions the client's ``ordersheets_version`` names
(:data:`handlers.coupang.client.ORDERSHEETS_VERSIONS`): by default the day list and one box's
sheet at v5, which the current portal documents with samples (the day as ``yyyy-mm-dd+09:00``;
times with an offset and microseconds, money as ``{currencyCode, units, nanos}``), and an
order's sheets by orderId at v4 (the day as ``yyyy-mm-dd``, Korean times without a zone, money
as numbers), the version whose answer is published; v5 by orderId is an unverified opt-in. The
sheets are read whichever version wrote them (:mod:`handlers.coupang.orders` tells them apart).
Acknowledgement and invoice upload stay at v4, where their portal pages document them. The
published samples are in tests/conformance/samples/coupang.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.coupang.client import ORDERSHEETS_VERSIONS, PLATFORM, CoupangClient
from handlers.errors import MarketplaceUnavailable

BASE = "/v2/providers/openapi/apis/api/v4/vendors/{vendor}"
VERSIONED = "/v2/providers/openapi/apis/api/{version}/vendors/{vendor}"
MAX_PER_PAGE = 50
MAX_ACKNOWLEDGE = 50


@dataclass(frozen=True)
class SheetPage:
    """One page of order sheets and the token of the next ("" on the last page)."""

    sheets: list[dict[str, Any]]
    next_token: str


@dataclass(frozen=True)
class BoxResult:
    """Coupang's answer for one box of an acknowledgement or invoice upload."""

    shipment_box_id: int
    succeed: bool
    result_code: str
    message: str
    retry_required: bool


def _unexpected(name: str, why: str) -> MarketplaceUnavailable:
    return MarketplaceUnavailable(PLATFORM, f"{name}: unexpected answer ({why})")


def _sheets(doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    data = doc.get("data")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise _unexpected(name, "data is not a list of order sheets")
    for row in data:
        if not isinstance(row.get("shipmentBoxId"), int) or not isinstance(row.get("orderId"), int):
            raise _unexpected(name, "an order sheet without a numeric shipmentBoxId and orderId")
    return data


def _results(doc: Mapping[str, Any], name: str) -> list[BoxResult]:
    data = doc.get("data")
    rows = data.get("responseList") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise _unexpected(name, "no responseList")
    found = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("shipmentBoxId"), int):
            raise _unexpected(name, "a result without a shipmentBoxId")
        found.append(
            BoxResult(
                row["shipmentBoxId"],
                row.get("succeed") is True,
                str(row.get("resultCode") or ""),
                str(row.get("resultMessage") or ""),
                row.get("retryRequired") is True,
            )
        )
    return found


class OrderSheets:
    """Order sheet calls for the client's vendor."""

    def __init__(self, client: CoupangClient) -> None:
        self.client = client
        self.version, by_order = ORDERSHEETS_VERSIONS[client.ordersheets_version]  # the list's, one box's
        self.base = BASE.format(vendor=client.vendor_id)  # acknowledgement, invoices
        self.reads = VERSIONED.format(version=self.version, vendor=client.vendor_id)
        self.order_reads = VERSIONED.format(version=by_order, vendor=client.vendor_id)

    def day(self, day: date) -> str:
        """A Korean day as the list's ``createdAtFrom``/``createdAtTo`` (v5 names its offset)."""
        return f"{day.isoformat()}+09:00" if self.version == "v5" else day.isoformat()

    async def list_page(self, status: str, day: date, next_token: str = "", per_page: int = 50) -> SheetPage:
        """One page of the boxes in ``status`` ordered on ``day`` (Korean time)."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        query: dict[str, str | int | None] = {
            "createdAtFrom": self.day(day),
            "createdAtTo": self.day(day),
            "status": status,
            "maxPerPage": per_page,
            "nextToken": next_token or None,
        }
        doc = await self.client.request("GET", f"{self.reads}/ordersheets", query=query)
        token = doc.get("nextToken") or ""
        return SheetPage(_sheets(doc, "ordersheets"), str(token))

    async def sheet(self, shipment_box_id: int) -> dict[str, Any]:
        """One box's order sheet as it is now."""
        doc = await self.client.request("GET", f"{self.reads}/ordersheets/{shipment_box_id}")
        data = doc.get("data")
        if not isinstance(data, dict):
            raise _unexpected("ordersheet", "data is not an order sheet")
        return _sheets({"data": [data]}, "ordersheet")[0]

    async def order(self, order_id: int) -> list[dict[str, Any]]:
        """Every box of an order, as it is now (at v4 unless the v5 opt-in is set).

        The published page types ``data`` as an Object and its sample answers one sheet
        (ordersheets.by_order.v4 in the corpus); integrations read a list of the order's boxes.
        Both are read: one sheet is a list of one."""
        doc = await self.client.request("GET", f"{self.order_reads}/{order_id}/ordersheets")
        data = doc.get("data")
        return _sheets({"data": [data] if isinstance(data, dict) else data}, "ordersheets by orderId")

    async def acknowledge(self, shipment_box_ids: Sequence[int]) -> list[BoxResult]:
        """ACCEPT → INSTRUCT; one attempt (the caller reads the sheets before trying again)."""
        if not 1 <= len(shipment_box_ids) <= MAX_ACKNOWLEDGE:
            raise ValueError(f"acknowledge 1 to {MAX_ACKNOWLEDGE} boxes at a time")
        body = {"vendorId": self.client.vendor_id, "shipmentBoxIds": list(shipment_box_ids)}
        path = f"{self.base}/ordersheets/acknowledgement"
        doc = await self.client.request("PUT", path, json=body, retry=False)
        return _results(doc, "acknowledgement")

    async def upload_invoices(self, dtos: Sequence[Mapping[str, Any]]) -> list[BoxResult]:
        """INSTRUCT → DEPARTURE; one attempt (the caller reads the sheet before trying again)."""
        body = {"vendorId": self.client.vendor_id, "orderSheetInvoiceApplyDtos": list(dtos)}
        doc = await self.client.request("POST", f"{self.base}/orders/invoices", json=body, retry=False)
        return _results(doc, "invoices")


def invoice_dtos(sheet: Mapping[str, Any], courier: str, invoice_number: str) -> list[dict[str, Any]]:
    """The invoice upload rows for a whole box: one per vendor item, not split."""
    return [
        {
            "shipmentBoxId": sheet["shipmentBoxId"],
            "orderId": sheet["orderId"],
            "vendorItemId": item["vendorItemId"],
            "deliveryCompanyCode": courier,
            "invoiceNumber": invoice_number,
            "splitShipping": False,
            "preSplitShipped": False,
            "estimatedShippingDate": "",
        }
        for item in sheet.get("orderItems") or []
        if isinstance(item, dict) and isinstance(item.get("vendorItemId"), int)
    ]
