"""Coupang product calls: register a product, read it back, read its status history.

Built on :class:`handlers.coupang.client.CoupangClient` (signing, envelope, errors).
Registration is sent once (``retry=False``): Coupang's own advice after a timed-out
registration is to look the product up rather than register it again, so a lost answer
must not become a second product. A product read within minutes of its registration may
be answered "being registered, retry later" (seed 003): that is :class:`ProductNotReady`,
to be asked again later, not a failure. Paths and fields are in docs/platforms.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.coupang.client import PLATFORM, CoupangClient
from handlers.coupang.products.rules import wire_body
from handlers.errors import MarketplaceUnavailable, RequestRejected

PRODUCTS_PATH = "/v2/providers/seller_api/apis/api/v1/marketplace/seller-products"
# What Coupang's "being registered, retry later" answer says (Korean and English forms).
NOT_READY_MARKERS = ("등록 중", "등록중", "being registered", "retry later", "잠시 후")


class ProductNotReady(MarketplaceUnavailable):
    """Coupang is still registering the product: ask again later."""


@dataclass(frozen=True)
class ProductItem:
    """One item (option) of a product as Coupang answers it."""

    seller_product_item_id: str | None
    item_name: str | None
    vendor_item_id: str | None  # None until the item is approved


@dataclass(frozen=True)
class ProductStatus:
    """A product as ``GET …/seller-products/{sellerProductId}`` answers it."""

    seller_product_id: str
    status_name: str
    name: str | None
    vendor_id: str | None
    items: tuple[ProductItem, ...]


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a product's status history (newest first, as Coupang lists them)."""

    status_name: str
    comment: str | None
    created_at: str | None


def is_product_id(text: str) -> bool:
    """Whether ``text`` can be a ``sellerProductId`` (a positive 64-bit number)."""
    # Measured before int(), which refuses more than 4,300 digits (a ValueError, not False).
    return text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) < 2**63


def product_path(seller_product_id: str) -> str:
    """The path of one product."""
    if not is_product_id(seller_product_id):
        raise ValueError(f"a sellerProductId is a number, not {seller_product_id!r}")
    return f"{PRODUCTS_PATH}/{seller_product_id}"


async def register(client: CoupangClient, body: Mapping[str, Any]) -> str:
    """Send a product body (already checked by :mod:`handlers.coupang.products.rules`);
    the ``sellerProductId`` Coupang gave it."""
    sent = wire_body(body)
    if client.vendor_id and not sent.get("vendorId"):
        sent["vendorId"] = client.vendor_id
    answer = await client.request("POST", PRODUCTS_PATH, json=sent, retry=False)
    data = answer.get("data")
    if isinstance(data, Mapping):
        # The published example answer nests the result: {"code": "200", "data": {"code":
        # "SUCCESS", "data": <sellerProductId>}} (seller-products.create.v1 in the corpus).
        if str(data.get("code") or "").upper() not in ("", "SUCCESS", "200", "OK"):
            said = data.get("message") or data.get("code")
            raise RequestRejected(PLATFORM, f"POST {PRODUCTS_PATH}: {said}")
        data = data.get("data")
    if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).isdigit():
        raise MarketplaceUnavailable(PLATFORM, f"POST {PRODUCTS_PATH}: no sellerProductId in the answer")
    return str(data)


async def get_product(client: CoupangClient, seller_product_id: str) -> ProductStatus:
    """The product's status and items; :class:`ProductNotReady` while Coupang registers it."""
    path = product_path(seller_product_id)
    try:
        answer = await client.request("GET", path)
    except RequestRejected as exc:
        if any(marker in exc.message for marker in NOT_READY_MARKERS):
            raise ProductNotReady(PLATFORM, exc.message, exc.code, exc.request_id, exc.status) from exc
        raise
    try:
        return parse_product(answer.get("data"), seller_product_id)
    except ValueError as exc:
        raise MarketplaceUnavailable(PLATFORM, f"GET {path}: {exc}") from exc


def parse_product(data: object, seller_product_id: str | None = None) -> ProductStatus:
    """A product in the shape of the product query's ``data`` (also what an external poller
    reports to ``POST /webhooks/coupang``); ValueError when it is not one."""
    if not isinstance(data, Mapping) or not isinstance(data.get("statusName"), str):
        raise ValueError("the answer has no product with a statusName")
    found = _text(data.get("sellerProductId")) or seller_product_id
    if found is None or not is_product_id(found):
        raise ValueError(f"the product has no sellerProductId, or not a number: {found!r}")
    listed = data.get("items")
    items: list[Any] = listed if isinstance(listed, list) else []
    return ProductStatus(
        seller_product_id=found,
        status_name=_fits("statusName", data["statusName"].strip()) or "",
        name=_fits("sellerProductName", _text(data.get("sellerProductName"))),
        vendor_id=_fits("vendorId", _text(data.get("vendorId"))),
        items=tuple(
            ProductItem(
                _fits("sellerProductItemId", _text(item.get("sellerProductItemId"))),
                _fits("itemName", _text(item.get("itemName"))),
                _fits("vendorItemId", _text(item.get("vendorItemId"))),
            )
            for item in items
            if isinstance(item, Mapping)
        ),
    )


# The widths of the columns a product is kept in (service/models.py): a longer value is not
# one Coupang gives, and could not be stored.
_WIDTHS = {"statusName": 32, "sellerProductName": 200, "vendorId": 32, "sellerProductItemId": 32,
           "itemName": 300, "vendorItemId": 32}  # fmt: skip


def _fits(name: str, value: str | None) -> str | None:
    if value is not None and len(value) > _WIDTHS[name]:
        raise ValueError(f"{name} is longer than {_WIDTHS[name]} characters")
    return value


async def history(client: CoupangClient, seller_product_id: str) -> list[HistoryEntry]:
    """The product's status history, newest first: where a rejection's reason is."""
    path = f"{product_path(seller_product_id)}/histories"
    answer = await client.request("GET", path, query={"maxPerPage": 10})
    listed = answer.get("data")
    rows: list[Any] = listed if isinstance(listed, list) else []
    return [
        # Coupang's document names the field statusName; its example answers status.
        HistoryEntry(
            _text(row.get("statusName") or row.get("status")) or "",
            _text(row.get("comment")),
            _text(row.get("createdAt")),
        )  # fmt: skip
        for row in rows
        if isinstance(row, Mapping)
    ]


def reason_from(entries: list[HistoryEntry], status_name: str) -> str | None:
    """The comment of the newest history entry of ``status_name`` (a rejection's reason)."""
    for entry in entries:
        if entry.status_name == status_name and entry.comment:
            return entry.comment
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None
