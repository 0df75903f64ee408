"""The Coupang sandbox's shipment boxes and how they show as order sheets.

A :class:`Box` (one order sheet row) and its :class:`Item` rows, with the v4 and v5 formats
the sheet answers use: times in Korean time (:func:`kst` for v4, :func:`iso` for v5 and the
v6 return requests) and amounts as numbers or ``{currencyCode, units, nanos}`` (:func:`krw`).
The world that holds and moves the boxes is :mod:`handlers.coupang.sandbox.state`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.coupang.orders import KST

__all__ = ["Box", "Item", "iso", "krw", "kst"]


def kst(seconds: int, sep: str = "T") -> str:
    """Unix seconds as Coupang's v4 writes a time: Korean local time, no zone."""
    return datetime.fromtimestamp(seconds, UTC).astimezone(KST).strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def iso(seconds: int) -> str:
    """Unix seconds as v5 (and the v6 return requests) write a time: ISO-8601 with microseconds and
    an offset (``YYYY-MM-DDThh:mm:ss.ssssss±hh:mm``); the sandbox writes Korea's."""
    return datetime.fromtimestamp(seconds, UTC).astimezone(KST).isoformat(timespec="microseconds")


def krw(amount: int | None, version: str) -> Any:
    """An amount as the version writes it: v4 a number, v5 ``{currencyCode, units, nanos}``."""
    if amount is None or version == "v4":
        return amount
    return {"currencyCode": "KRW", "units": amount, "nanos": 0}


# Fields v5 adds to a sheet (the sandbox's values: a seller-shipped box, not cash on delivery).
# extraProperties as the first published v5 sheet (a Korean seller's: taxReceiptInfo is shown only
# where the market issues tax invoices).
V5_SHEET_EXTRAS = {
    "shipmentType": "THIRD_PARTY",
    "isCod": False,
    "extraProperties": {"sameDayShipping": "false", "cutOffTimeHour": "0"},
}
# deliveryCompanyName is the courier's name (e.g. "CJ 대한통운", the sample's), not its code.
COURIER_NAMES = {
    "CJGLS": "CJ 대한통운",
    "HANJIN": "한진택배",
    "HYUNDAI": "롯데택배",
    "EPOST": "우체국택배",
    "KDEXP": "경동택배",
    "KGB": "로젠택배",
    "ILYANG": "일양로지스",
    "DIRECT": "업체직송",
}


@dataclass
class Item:
    """One vendor item of a box."""

    vendor_item_id: int
    name: str
    shipping_count: int = 1
    sales_price: int = 10000
    estimated_shipping_date: str = ""


@dataclass
class Box:
    """A shipment box: one order sheet."""

    shipment_box_id: int
    order_id: int
    status: str
    ordered_at: int
    paid_at: int
    items: list[Item] = field(default_factory=list)
    delivery_company_code: str | None = None
    invoice_number: str | None = None
    invoice_uploaded_at: int | None = None
    in_transit_at: int | None = None
    delivered_at: int | None = None
    cancelled: bool = False  # every item cancelled by the buyer
    stop_requested: bool = False  # the buyer asked to stop it; the seller has not answered
    receiver: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "김*수",
            "safeNumber": "0502-***-1234",
            "addr1": "서울특별시 송파구 송파대로 570",
            "addr2": "10층",
            "postCode": "05510",
        }
    )

    def sheet(self, version: str = "v4") -> dict[str, Any]:
        """The box as Coupang's order sheet answers show it, in the fields of the published
        samples (tests/conformance/samples/coupang/ordersheets.*): v4's or v5's formats."""
        at = iso if version == "v5" else kst
        spaced = iso if version == "v5" else (lambda seconds: kst(seconds, " "))
        uploaded = at(self.invoice_uploaded_at) if self.invoice_uploaded_at else ""
        code = self.delivery_company_code
        return {
            "shipmentBoxId": self.shipment_box_id,
            "orderId": self.order_id,
            "orderedAt": at(self.ordered_at),
            # Invented: names, numbers and addresses (masked as Coupang masks them).
            "orderer": {"name": "김*수", "email": "", "safeNumber": "0502-***-1234", "ordererNumber": None},
            "paidAt": at(self.paid_at),
            "status": self.status,
            "shippingPrice": krw(0, version),
            "remotePrice": None,
            "remoteArea": False,
            "parcelPrintMessage": "문 앞",
            "splitShipping": False,
            "ableSplitShipping": False,
            "receiver": {**self.receiver, "receiverNumber": None},
            "orderItems": [self._item(item, version, uploaded) for item in self.items],
            "overseaShippingInfoDto": {
                "personalCustomsClearanceCode": "",
                "ordererSsn": "",
                "ordererPhoneNumber": "",
            },
            "deliveryCompanyName": COURIER_NAMES.get(code, code) if code else "",  # Invented: unknown codes
            "invoiceNumber": self.invoice_number or "",
            "inTrasitDateTime": spaced(self.in_transit_at) if self.in_transit_at else "",
            "deliveredDate": spaced(self.delivered_at) if self.delivered_at else "",
            "refer": "안드로이드앱",
            **(V5_SHEET_EXTRAS if version == "v5" else {}),
        }

    def _item(self, item: Item, version: str, uploaded: str) -> dict[str, Any]:
        """One orderItems row (v5 adds the discount breakdown)."""
        discounts = (
            {
                name: krw(0, version)
                for name in ("instantCouponDiscount", "downloadableCouponDiscount", "coupangDiscount")
            }
            if version == "v5"
            else {}
        )
        return {
            "vendorItemPackageId": 0,
            "vendorItemPackageName": item.name,
            "productId": 70000000 + item.vendor_item_id % 1000000,
            "vendorItemId": item.vendor_item_id,
            "vendorItemName": item.name,
            # v5 counts what was bought; v4 leaves the cancelled out ("It must excludes cancel count").
            "shippingCount": item.shipping_count if version == "v5" or not self.cancelled else 0,
            "salesPrice": krw(item.sales_price, version),
            "orderPrice": krw(item.sales_price * item.shipping_count, version),
            "discountPrice": None,  # "null when no instant coupon applies" (v4's table)
            **discounts,
            "externalVendorSkuCode": "",
            "etcInfoHeader": None,
            "etcInfoValue": None,
            "etcInfoValues": [],
            "sellerProductId": 80000000 + item.vendor_item_id % 1000000,
            "sellerProductName": item.name,
            "sellerProductItemName": item.name,
            "firstSellerProductItemName": item.name,
            "cancelCount": item.shipping_count if self.cancelled else 0,
            "holdCountForCancel": item.shipping_count if self.stop_requested else 0,
            "estimatedShippingDate": item.estimated_shipping_date,
            "plannedShippingDate": "",
            "invoiceNumberUploadDate": uploaded,
            "extraProperties": {},
            "pricingBadge": False,
            "usedProduct": False,
            # Invented: the samples show only a confirmed purchase's date; none is confirmed here.
            "confirmDate": "",
            "deliveryChargeTypeName": "무료",
            "canceled": self.cancelled,
        }
