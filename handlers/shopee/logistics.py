"""Shopee logistics calls: arrange shipment, the tracking number, the airway bill, tracking.

:class:`ShopeeLogistics` wraps a :class:`~handlers.shopee.client.ShopeeClient` (signing,
envelope, retries and error mapping are the client's). The flow, as Shopee's guide lays it
out: ``get_shipping_parameter`` (which of pickup, dropoff and non-integrated the package
allows, with addresses, time slots and branches) → ``ship_order`` → ``get_tracking_number``
(empty for a while after arranging: poll) → ``get_shipping_document_parameter`` (the
airway bill type Shopee suggests for the package) → ``create_shipping_document`` →
``get_shipping_document_result`` until READY → ``download_shipping_document`` (the file
itself; an error is JSON) → ``get_tracking_info`` for the carrier's checkpoints.

The four document calls are batch calls (``order_list`` in, ``result_list`` out) though
orderwatch sends one order: when every entry fails Shopee answers a top-level
``common.batch_api_all_failed``, which the client takes as the answer (``batch=True``), and
the entry's ``fail_error`` decides. ``logistics.shipping_document_should_print_first``
from get_shipping_document_result means no task yet (:data:`NO_TASK`): create one.

``ship_order`` is safe to retry: the client retries a lost answer by itself, and Shopee
answers a second arrangement of the same package with ``logistics.package_already_shipped``,
which is taken as success (``ShipResult.already``). An optional idempotency key travels as
the ``Idempotency-Key`` header; real Shopee has no such header (the sandbox honours it).
Paths, fields and error names are backed by Shopee's published reference, kept with its
source in tests/conformance/samples/shopee/v2.logistics.*.json (checked by
tests/conformance/test_shopee_logistics_samples.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from handlers.errors import MarketplaceError, RequestRejected
from handlers.shopee.client import ShopeeClient
from handlers.shopee.logistics_answers import (
    Checkpoint,
    DocumentParameter,
    DropoffBranch,
    PickupAddress,
    ShippingParameter,
    TimeSlot,
    TrackingInfo,
    entry_failure,
    log_warning,
    object_of,
    only_result,
    parse_document_parameter,
    parse_shipping_parameter,
    parse_tracking_info,
    unexpected,
)

__all__ = [
    "Checkpoint",
    "DocumentParameter",
    "Dropoff",
    "DropoffBranch",
    "NonIntegrated",
    "Pickup",
    "PickupAddress",
    "ShipResult",
    "ShippingParameter",
    "ShopeeLogistics",
    "TimeSlot",
    "TrackingInfo",
]

SHIPPING_PARAMETER_PATH = "/api/v2/logistics/get_shipping_parameter"
SHIP_ORDER_PATH = "/api/v2/logistics/ship_order"
TRACKING_NUMBER_PATH = "/api/v2/logistics/get_tracking_number"
DOCUMENT_PARAMETER_PATH = "/api/v2/logistics/get_shipping_document_parameter"
CREATE_DOCUMENT_PATH = "/api/v2/logistics/create_shipping_document"
DOCUMENT_RESULT_PATH = "/api/v2/logistics/get_shipping_document_result"
DOWNLOAD_DOCUMENT_PATH = "/api/v2/logistics/download_shipping_document"
TRACKING_INFO_PATH = "/api/v2/logistics/get_tracking_info"

log = logging.getLogger("orderwatch.shopee")

IDEMPOTENCY_HEADER = "Idempotency-Key"
DOCUMENT_TYPES = (
    "NORMAL_AIR_WAYBILL",
    "THERMAL_AIR_WAYBILL",
    "NORMAL_JOB_AIR_WAYBILL",
    "THERMAL_JOB_AIR_WAYBILL",
    "THERMAL_UNPACKAGED_LABEL",
)
DocumentStatus = Literal["READY", "PROCESSING", "FAILED"]
DOCUMENT_STATUSES: tuple[DocumentStatus, ...] = ("READY", "PROCESSING", "FAILED")
# get_shipping_document_result's fail_error for a package with no document task yet.
NO_TASK = "shipping_document_should_print_first"
# A second ship_order of the same package: ship_order's error list has
# logistics.package_already_shipped (published with a leading space) and logistics.error_param
# "Order has been shipped."; both are taken as "already arranged".
_ALREADY_CODES = frozenset({"package_already_shipped"})
_NOT_SPLIT = "ship_order_not_need_pacakge_number"  # (sic) package_number sent for an order not split
_ALREADY_MESSAGE = re.compile(r"(?i)has been shipped|already been (?:shipped|arranged)")


@dataclass(frozen=True)
class Pickup:
    """Arrange a pickup at ``address_id``, in the slot ``pickup_time_id`` when the address
    has slots (some channels offer none: Shopee picks the time), with the carrier's
    ``tracking_number`` when ``info_needed.pickup`` asks for it."""

    address_id: int
    pickup_time_id: str | None = None
    tracking_number: str | None = None


@dataclass(frozen=True)
class Dropoff:
    """Arrange a drop-off with the fields ``info_needed.dropoff`` lists (maybe none; its
    ``tracking_no`` is sent as ``tracking_number``; for channels 80003/80004 one of
    ``tracking_number`` and ``sender_real_name``)."""

    branch_id: int | None = None
    sender_real_name: str | None = None
    tracking_number: str | None = None
    slug: str | None = None


@dataclass(frozen=True)
class NonIntegrated:
    """Ship with the seller's own carrier, under its ``tracking_number`` (optional in
    ``ship_order``; to send when ``info_needed.non_integrated`` lists ``tracking_no``)."""

    tracking_number: str | None = None


@dataclass(frozen=True)
class ShipResult:
    """The package is arranged; ``already`` when Shopee said it had been arranged before."""

    order_sn: str
    package_number: str | None
    already: bool
    request_id: str | None = None


class ShopeeLogistics:
    """The logistics calls of one partner, through its :class:`ShopeeClient`."""

    def __init__(self, client: ShopeeClient) -> None:
        self.client = client

    async def get_shipping_parameter(
        self, shop_id: str, access_token: str, order_sn: str, package_number: str | None = None
    ) -> ShippingParameter:
        """Which ways of handing the parcel over the package allows, with their choices."""
        params = _package_query(order_sn, package_number)
        doc = await self.client.call(
            "GET", SHIPPING_PARAMETER_PATH, params=params, shop=(shop_id, access_token)
        )
        return parse_shipping_parameter(doc)

    async def ship_order(
        self,
        shop_id: str,
        access_token: str,
        order_sn: str,
        package_number: str | None = None,
        *,
        pickup: Pickup | Mapping[str, Any] | None = None,
        dropoff: Dropoff | Mapping[str, Any] | None = None,
        non_integrated: NonIntegrated | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ShipResult:
        """Arrange shipment of the package; a package arranged before counts as success, with
        ``already=True``. Shopee wants ``package_number`` for split orders only: sent for an
        order that is not split, the call is made again without it."""
        modes = (("pickup", pickup), ("dropoff", dropoff), ("non_integrated", non_integrated))
        chosen = [(name, value) for name, value in modes if value is not None]
        if len(chosen) != 1:
            raise ValueError("ship_order takes exactly one of pickup, dropoff and non_integrated")
        name, value = chosen[0]
        body: dict[str, Any] = {"order_sn": order_sn, name: _mode_body(name, value)}
        if package_number:  # Shopee: never send an empty package_number
            body["package_number"] = package_number
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else None
        shop = (shop_id, access_token)
        try:
            try:
                doc = await self.client.call("POST", SHIP_ORDER_PATH, body=body, shop=shop, headers=headers)
            except RequestRejected as exc:
                if not package_number or _code(exc) != _NOT_SPLIT:
                    raise
                # Shopee wants package_number for split orders only: the same call without it.
                del body["package_number"]
                doc = await self.client.call("POST", SHIP_ORDER_PATH, body=body, shop=shop, headers=headers)
        except RequestRejected as exc:
            if not _already_arranged(exc):
                raise
            return ShipResult(order_sn, package_number, already=True, request_id=exc.request_id)
        return ShipResult(order_sn, package_number, already=False, request_id=_request_id(doc))

    async def get_tracking_number(
        self, shop_id: str, access_token: str, order_sn: str, package_number: str | None = None
    ) -> str | None:
        """The package's tracking number, or None while Shopee has none yet (poll again)."""
        params = _package_query(order_sn, package_number)
        doc = await self.client.call("GET", TRACKING_NUMBER_PATH, params=params, shop=(shop_id, access_token))
        response = object_of(doc.get("response"), "get_tracking_number", "response")
        number = response.get("tracking_number")
        return number if isinstance(number, str) and number.strip() else None

    async def get_shipping_document_parameter(
        self, shop_id: str, access_token: str, order_sn: str, package_number: str | None = None
    ) -> DocumentParameter:
        """The airway bill type Shopee suggests for the package, and the selectable ones."""
        name = "get_shipping_document_parameter"
        entry = _document_entry(order_sn, package_number, None)
        doc = await self.client.call(
            "POST", DOCUMENT_PARAMETER_PATH, body={"order_list": [entry]}, shop=(shop_id, access_token),
            batch=True,
        )  # fmt: skip
        result = only_result(doc, name, order_sn, package_number)
        failure = entry_failure(result, name, doc)
        if failure is not None:
            raise failure
        return parse_document_parameter(result)

    async def create_shipping_document(
        self,
        shop_id: str,
        access_token: str,
        order_sn: str,
        package_number: str | None = None,
        *,
        tracking_number: str | None = None,
        document_type: str | None = None,
    ) -> None:
        """Ask Shopee to make the package's airway bill (a task: then poll its result); the
        entry's ``fail_error`` is raised as a :class:`RequestRejected` with that code. With no
        ``document_type`` Shopee makes the type it suggests."""
        entry = _document_entry(order_sn, package_number, document_type)
        if tracking_number:
            entry["tracking_number"] = tracking_number
        name = "create_shipping_document"
        doc = await self.client.call(
            "POST", CREATE_DOCUMENT_PATH, body={"order_list": [entry]}, shop=(shop_id, access_token),
            batch=True,
        )  # fmt: skip
        response = doc.get("response")
        if not (isinstance(response, Mapping) and response.get("result_list")):
            log_warning(doc, name)
            return  # no entries to read (one SDK types this answer as empty): the task is asked for
        failure = entry_failure(only_result(doc, name, order_sn, package_number), name, doc)
        if failure is not None:
            raise failure

    async def get_shipping_document_result(
        self,
        shop_id: str,
        access_token: str,
        order_sn: str,
        package_number: str | None = None,
        *,
        document_type: str | None = None,
    ) -> DocumentStatus | None:
        """The airway bill task's status: READY, PROCESSING or FAILED; None when there is no
        task yet (``logistics.shipping_document_should_print_first``: create one). Any other
        ``fail_error`` is raised as a :class:`RequestRejected` with that code."""
        entry = _document_entry(order_sn, package_number, document_type)
        name = "get_shipping_document_result"
        doc = await self.client.call(
            "POST", DOCUMENT_RESULT_PATH, body={"order_list": [entry]}, shop=(shop_id, access_token),
            batch=True,
        )  # fmt: skip
        result = only_result(doc, name, order_sn, package_number)
        failure = entry_failure(result, name, doc)
        if failure is not None:
            if _code(failure) == NO_TASK:
                log.info("%s: %s has no airway bill task yet", name, order_sn)
                return None
            raise failure
        status = result.get("status")
        for known in DOCUMENT_STATUSES:
            if status == known:
                return known
        raise unexpected(name, f"unknown status {status!r}")

    async def download_shipping_document(
        self,
        shop_id: str,
        access_token: str,
        order_sn: str,
        package_number: str | None = None,
        *,
        document_type: str | None = None,
    ) -> bytes:
        """The airway bill file as Shopee answers it (PDF mostly; HTML or ZIP for some
        channels); an error is JSON (``logistics.download_later`` while it is processing)."""
        entry: dict[str, Any] = {"order_sn": order_sn}
        if package_number:
            entry["package_number"] = package_number
        body: dict[str, Any] = {"order_list": [entry]}
        if document_type is not None:
            _check_document_type(document_type)
            body["shipping_document_type"] = document_type
        return await self.client.call_for_file(
            "POST", DOWNLOAD_DOCUMENT_PATH, body=body, shop=(shop_id, access_token)
        )

    async def get_tracking_info(
        self, shop_id: str, access_token: str, order_sn: str, package_number: str | None = None
    ) -> TrackingInfo:
        """The package's logistics status and the carrier's checkpoints so far, oldest first."""
        params = _package_query(order_sn, package_number)
        doc = await self.client.call("GET", TRACKING_INFO_PATH, params=params, shop=(shop_id, access_token))
        return parse_tracking_info(doc, order_sn, package_number)


def _package_query(order_sn: str, package_number: str | None) -> dict[str, str | int]:
    if not order_sn:
        raise ValueError("order_sn is required")
    params: dict[str, str | int] = {"order_sn": order_sn}
    if package_number:  # Shopee: never send an empty package_number
        params["package_number"] = package_number
    return params


def _check_document_type(document_type: str) -> None:
    if document_type not in DOCUMENT_TYPES:
        raise ValueError(f"document_type must be one of {', '.join(DOCUMENT_TYPES)}")


def _document_entry(order_sn: str, package_number: str | None, document_type: str | None) -> dict[str, Any]:
    if not order_sn:
        raise ValueError("order_sn is required")
    entry: dict[str, Any] = {"order_sn": order_sn}
    if package_number:  # Shopee: never send an empty package_number
        entry["package_number"] = package_number
    if document_type is not None:
        _check_document_type(document_type)
        entry["shipping_document_type"] = document_type
    return entry


def _mode_body(name: str, value: object) -> dict[str, Any]:
    kinds: dict[str, type] = {"pickup": Pickup, "dropoff": Dropoff, "non_integrated": NonIntegrated}
    kind = kinds[name]
    chosen = value if isinstance(value, kind) else kind(**dict(value))  # type: ignore[call-overload]
    # Shopee: send the mode's object even when it has nothing in it (a plain dropoff is {});
    # fields left unset (or empty) are not sent.
    return {k: v for k, v in vars(chosen).items() if v is not None and v != ""}


def _code(exc: MarketplaceError) -> str:
    return (exc.code or "").strip().rsplit(".", 1)[-1]


def _already_arranged(exc: MarketplaceError) -> bool:
    base = _code(exc)
    return base in _ALREADY_CODES or (base == "error_param" and bool(_ALREADY_MESSAGE.search(exc.message)))


def _request_id(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("request_id")
    return str(value) if value else None
