"""How a Shopee package is handed over to the carrier, from ``get_shipping_parameter``.

``info_needed`` lists, per mode offered, the fields ``ship_order`` must carry (Shopee's
field table, tests/conformance/samples/shopee/v2.logistics.get_shipping_parameter.json):
pickup ``address_id`` and ``pickup_time_id`` (a channel may offer no time slots: then none
is sent and Shopee picks the time) and, for some channels, ``tracking_number``; drop-off
``branch_id``, ``sender_real_name``, ``tracking_no`` (sent as ``tracking_number``) and
``slug`` (TW drop-off partners), where channels 80003/80004 list both ``tracking_no`` and
``sender_real_name`` and take one of them; non-integrated ``tracking_no``. A mode whose
fields orderwatch cannot fill is passed over; with none left the caller is told why
(:class:`Unmet`). The seller's own carrier (non-integrated) is used only with its tracking
number known, as without it the parcel cannot be followed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.shopee.logistics import Dropoff, NonIntegrated, Pickup, PickupAddress, ShippingParameter

__all__ = ["Handover", "Unmet", "advance_fulfilment", "choose"]

Handover = Pickup | Dropoff | NonIntegrated
Known = Mapping[str, "str | None"]


@dataclass(frozen=True)
class Unmet:
    """No way to hand the package over that orderwatch can fill in: why, per mode."""

    reason: str


def choose(
    parameter: ShippingParameter,
    policy: str | None = None,
    *,
    tracking_number: str | None = None,
    sender_real_name: str | None = None,
) -> Handover | Unmet:
    """How to hand the package over: ``policy`` if allowed, else pickup, else drop-off, else
    the seller's own carrier; each with every field its ``info_needed`` lists, filled from
    the shipping parameter and from what is known of the package (a tracking number an
    operator entered, a sender's name). A mode that needs what is not known is passed over."""
    known = {"tracking_number": tracking_number or None, "sender_real_name": sender_real_name or None}
    reasons: list[str] = []
    for way in dict.fromkeys(w for w in (policy, "pickup", "dropoff", "non_integrated") if w):
        chosen = _WAYS[way](parameter, known) if way in _WAYS else f"{way} is not a way to ship"
        if not isinstance(chosen, str):
            return chosen
        reasons.append(chosen)
    return Unmet("; ".join(r for r in reasons if r) or "Shopee offers no way to hand the parcel over")


def _pickup(parameter: ShippingParameter, known: Known) -> Pickup | str:
    needed = parameter.pickup
    if needed is None:
        return ""
    address = _pickup_address(parameter.addresses)
    if address is None:
        return "pickup: Shopee lists no pickup address"
    slots = address.time_slots
    slot = next((t for t in slots if t.recommended), slots[0] if slots else None)
    wants_number = "tracking_number" in needed or "tracking_no" in needed
    number = known["tracking_number"]
    if wants_number and not number:
        return "pickup: Shopee asks for the carrier's tracking number"
    # No slot to choose on some channels: Shopee arranges the time (time_slot_list's description).
    return Pickup(address.address_id, slot.pickup_time_id if slot else None, number if wants_number else None)


def _pickup_address(addresses: tuple[PickupAddress, ...]) -> PickupAddress | None:
    flagged = [a for a in addresses if "pickup_address" in a.flags]
    with_slots = [a for a in flagged or addresses if a.time_slots]
    return next(iter(with_slots or flagged or addresses), None)


def _dropoff(parameter: ShippingParameter, known: Known) -> Dropoff | str:
    needed = parameter.dropoff
    if needed is None:
        return ""
    fields: dict[str, Any] = {}
    if "branch_id" in needed:
        if not parameter.branches:
            return "dropoff: Shopee lists no branch"
        fields["branch_id"] = parameter.branches[0].branch_id
    if "slug" in needed:
        if not parameter.slugs:
            return "dropoff: Shopee lists no drop-off partner (slug)"
        fields["slug"] = parameter.slugs[0]
    number, sender = known["tracking_number"], known["sender_real_name"]
    wants_number = "tracking_no" in needed or "tracking_number" in needed
    wants_sender = "sender_real_name" in needed
    if wants_number and wants_sender:
        # Channels 80003/80004 list both and take one of them: the tracking number (Regular)
        # or the sender's real name (JOB).
        if not (number or sender):
            return "dropoff: Shopee asks for the carrier's tracking number or the sender's real name"
        fields["tracking_number" if number else "sender_real_name"] = number or sender
        return Dropoff(**fields)
    if wants_number:
        if not number:
            return "dropoff: Shopee asks for the carrier's tracking number"
        fields["tracking_number"] = number
    if wants_sender:
        if not sender:
            return "dropoff: Shopee asks for the sender's real name"
        fields["sender_real_name"] = sender
    return Dropoff(**fields)


def _non_integrated(parameter: ShippingParameter, known: Known) -> NonIntegrated | str:
    needed = parameter.non_integrated
    if needed is None:
        return ""
    number = known["tracking_number"]
    if not number:
        # The seller's own carrier: without its number the parcel cannot be followed.
        return "non_integrated: the seller's carrier's tracking number is not known"
    return NonIntegrated(number)


_WAYS: dict[str, Callable[[ShippingParameter, Known], Handover | str]] = {
    "pickup": _pickup,
    "dropoff": _dropoff,
    "non_integrated": _non_integrated,
}


def advance_fulfilment(detail: Mapping[str, Any]) -> bool:
    """Shopee fulfils the order from advance stock: the seller must not arrange shipment."""
    return detail.get("advance_package") is True or bool(str(detail.get("booking_sn") or "").strip())
