"""The shapes of Shopee's logistics answers, and how they are read.

Frozen results of :class:`handlers.shopee.logistics.ShopeeLogistics`: the shipping
parameter (modes with the fields ``info_needed`` lists, addresses with time slots, drop-off
branches and TW drop-off partners), the document parameter (the airway bill type Shopee
suggests for the package) and the tracking info (the package's ``LOGISTICS_*`` status and
the carrier's checkpoints). The batch calls' ``result_list`` entries are read here too.

Read from the field tables and samples in tests/conformance/samples/shopee (Shopee's
reference as published in lazykern/ecommerce-api-docs): a null list is an empty one
(``"time_slot_list": null``, ``"dropoff": null`` in get_shipping_parameter's sample);
``warning`` may be null or a list of orders (anything else is only logged); a package may
have no pickup time slots ("Shopee will arrange a suitable timing"); get_tracking_info's
sample lists checkpoints oldest first, with ties.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.errors import MarketplaceError, RequestRejected
from handlers.shopee.client import PLATFORM

log = logging.getLogger("orderwatch.shopee")


@dataclass(frozen=True)
class TimeSlot:
    """A pickup time slot of an address; ``pickup_time_id`` goes into ``ship_order``."""

    pickup_time_id: str
    date: int
    time_text: str = ""
    flags: tuple[str, ...] = ()

    @property
    def recommended(self) -> bool:
        """The slot Shopee suggests (``flags`` holds ``recommended``)."""
        return "recommended" in self.flags


@dataclass(frozen=True)
class PickupAddress:
    """A shop address the carrier can pick up from, with its time slots."""

    address_id: int
    address: str
    city: str
    zipcode: str
    flags: tuple[str, ...]
    time_slots: tuple[TimeSlot, ...]


@dataclass(frozen=True)
class DropoffBranch:
    """A carrier branch the seller can drop the parcel off at."""

    branch_id: int
    address: str
    city: str
    zipcode: str


@dataclass(frozen=True)
class ShippingParameter:
    """What ``ship_order`` needs for a package: per mode, the fields ``info_needed`` lists
    (None when the mode is not offered; Shopee's names, e.g. ``tracking_no`` for the body's
    ``tracking_number``), and the addresses, branches and TW drop-off partners (``slug``)."""

    pickup: tuple[str, ...] | None
    dropoff: tuple[str, ...] | None
    non_integrated: tuple[str, ...] | None
    addresses: tuple[PickupAddress, ...]
    branches: tuple[DropoffBranch, ...]
    slugs: tuple[str, ...] = ()

    @property
    def allows_pickup(self) -> bool:
        """The carrier can pick the parcel up."""
        return self.pickup is not None

    @property
    def allows_dropoff(self) -> bool:
        """The seller can drop the parcel off."""
        return self.dropoff is not None

    @property
    def allows_non_integrated(self) -> bool:
        """The seller ships with a carrier of their own and uploads its tracking number."""
        return self.non_integrated is not None


@dataclass(frozen=True)
class DocumentParameter:
    """The airway bill types of a package: the one Shopee suggests (its default when none is
    named) and the ones that may be chosen."""

    suggested: str
    selectable: tuple[str, ...]


@dataclass(frozen=True)
class Checkpoint:
    """One step of the carrier's tracking; ``logistics_status`` is Shopee's tracking status
    (``PICKED_UP``, ``DELIVERY_PENDING``, ``DELIVERED``, ``FAILED_DELIVERED``...)."""

    update_time: int
    description: str
    logistics_status: str


@dataclass(frozen=True)
class TrackingInfo:
    """The package's logistics status (``LOGISTICS_*``) and its checkpoints, oldest first."""

    order_sn: str
    package_number: str
    logistics_status: str
    checkpoints: tuple[Checkpoint, ...]


def parse_shipping_parameter(doc: Mapping[str, Any]) -> ShippingParameter:
    """``get_shipping_parameter``'s answer as a :class:`ShippingParameter`."""
    name = "get_shipping_parameter"
    response = object_of(doc.get("response"), name, "response")
    needed = object_of(response.get("info_needed") or {}, name, "info_needed")
    pickup = object_of(response.get("pickup") or {}, name, "pickup")
    dropoff = object_of(response.get("dropoff") or {}, name, "dropoff")
    return ShippingParameter(
        pickup=_needed(needed, "pickup"),
        dropoff=_needed(needed, "dropoff"),
        non_integrated=_needed(needed, "non_integrated"),
        addresses=tuple(_address(a) for a in list_of(pickup.get("address_list"), "address_list")),
        branches=tuple(_branch(b) for b in list_of(dropoff.get("branch_list"), "branch_list")),
        slugs=tuple(_slug(s) for s in list_of(dropoff.get("slug_list"), "slug_list")),
    )


def parse_document_parameter(result: Mapping[str, Any]) -> DocumentParameter:
    """One ``result_list`` entry of ``get_shipping_document_parameter`` (not a failed one)."""
    name = "get_shipping_document_parameter"
    suggested = _str(result, "suggest_shipping_document_type")
    selectable = tuple(
        str(kind) for kind in list_of(result.get("selectable_shipping_document_type"), "selectable")
    )
    if not suggested:
        if not selectable:
            raise unexpected(name, "no shipping document type is suggested or selectable")
        suggested = selectable[0]
    return DocumentParameter(suggested, selectable or (suggested,))


def only_result(
    doc: Mapping[str, Any], name: str, order_sn: str, package_number: str | None
) -> Mapping[str, Any]:
    """The ``result_list`` entry of the one order (and package) asked about.

    Entries may leave ``package_number`` out (create_shipping_document's sample does); an
    order with several packages is told apart by it (get_shipping_document_result's does).
    """
    log_warning(doc, name)
    response = object_of(doc.get("response"), name, "response")
    results = [r for r in list_of(response.get("result_list"), "result_list") if isinstance(r, Mapping)]
    mine = [r for r in results if r.get("order_sn") == order_sn]
    if package_number:
        mine = [r for r in mine if r.get("package_number") in (None, "", package_number)]
    if not mine:
        raise unexpected(name, "the order is not in result_list")
    return mine[0]


def entry_failure(result: Mapping[str, Any], name: str, doc: Mapping[str, Any]) -> RequestRejected | None:
    """The failure one entry of a batch answer reports (``fail_error``), or None."""
    error = str(result.get("fail_error") or "").strip()
    if not error:
        return None
    said = str(result.get("fail_message") or error)
    request_id = str(doc.get("request_id") or "") or None
    return RequestRejected(PLATFORM, f"{name}: {said}", code=error, request_id=request_id, status=200)


def log_warning(doc: Mapping[str, Any], name: str) -> None:
    """Log the answer's ``warning``: null, a list of orders, or (never seen) anything else."""
    warning = doc.get("warning")
    if warning:
        log.info("%s: warning: %s", name, str(warning)[:500])


def parse_tracking_info(doc: Mapping[str, Any], order_sn: str, package_number: str | None) -> TrackingInfo:
    """``get_tracking_info``'s answer as a :class:`TrackingInfo`, checkpoints oldest first."""
    response = object_of(doc.get("response"), "get_tracking_info", "response")
    status = response.get("logistics_status")
    if not isinstance(status, str) or not status:
        raise unexpected("get_tracking_info", "logistics_status is missing")
    listed = [_checkpoint(c) for c in list_of(response.get("tracking_info"), "tracking_info")]
    # Shopee's sample lists the oldest first, with ties (ORDER_CREATED and PICKED_UP in the
    # same second): that order is kept. A list that is newest first is turned round first.
    if len(listed) > 1 and listed[0].update_time > listed[-1].update_time:
        listed.reverse()
    checkpoints = sorted(listed, key=lambda c: c.update_time)
    number = response.get("package_number")
    return TrackingInfo(
        order_sn=str(response.get("order_sn") or order_sn),
        package_number=str(number) if number else package_number or "",
        logistics_status=status,
        checkpoints=tuple(checkpoints),
    )


def unexpected(name: str, what: str) -> MarketplaceError:
    """An answer not in the shape Shopee documents."""
    return MarketplaceError(PLATFORM, f"{name}: unexpected answer: {what}")


def object_of(value: object, name: str, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or an unexpected-answer error naming ``what``."""
    if not isinstance(value, Mapping):
        raise unexpected(name, f"{what} is not an object")
    return value


def list_of(value: object, what: str) -> list[Any]:
    """``value`` as a list (null is an empty list), or an unexpected-answer error."""
    if value is None:  # Shopee answers null for an empty list ("branch_list": null)
        return []
    if not isinstance(value, list):
        raise unexpected("logistics", f"{what} is not a list")
    return value


def _needed(needed: Mapping[str, Any], mode: str) -> tuple[str, ...] | None:
    if mode not in needed:
        return None
    return tuple(str(field) for field in list_of(needed[mode], f"info_needed.{mode}"))


def _int(holder: Mapping[str, Any], key: str) -> int:
    value = holder.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise unexpected("logistics", f"{key} is not an integer")
    return value


def _str(holder: Mapping[str, Any], key: str) -> str:
    value = holder.get(key)
    return value if isinstance(value, str) else ""


def _address(raw: object) -> PickupAddress:
    entry = object_of(raw, "get_shipping_parameter", "an address")
    slots = []
    for slot in list_of(entry.get("time_slot_list"), "time_slot_list"):
        slot = object_of(slot, "get_shipping_parameter", "a time slot")
        slot_id = _str(slot, "pickup_time_id")
        if not slot_id:
            raise unexpected("get_shipping_parameter", "pickup_time_id is missing")
        flags = tuple(str(f) for f in list_of(slot.get("flags"), "flags"))
        slots.append(TimeSlot(slot_id, _int(slot, "date"), _str(slot, "time_text"), flags))
    return PickupAddress(
        address_id=_int(entry, "address_id"),
        address=_str(entry, "address"),
        city=_str(entry, "city"),
        zipcode=_str(entry, "zipcode"),
        flags=tuple(str(f) for f in list_of(entry.get("address_flag"), "address_flag")),
        time_slots=tuple(slots),
    )


def _branch(raw: object) -> DropoffBranch:
    entry = object_of(raw, "get_shipping_parameter", "a branch")
    return DropoffBranch(
        _int(entry, "branch_id"), _str(entry, "address"), _str(entry, "city"), _str(entry, "zipcode")
    )


def _slug(raw: object) -> str:
    entry = object_of(raw, "get_shipping_parameter", "a drop-off partner")
    slug = _str(entry, "slug")
    if not slug:
        raise unexpected("get_shipping_parameter", "slug is missing")
    return slug


def _checkpoint(raw: object) -> Checkpoint:
    entry = object_of(raw, "get_tracking_info", "a checkpoint")
    return Checkpoint(_int(entry, "update_time"), _str(entry, "description"), _str(entry, "logistics_status"))
