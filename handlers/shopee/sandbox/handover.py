"""The Shopee sandbox's checks of a ``ship_order`` mode against ``info_needed``.

Each refusal is a name from ship_order's published error list
(tests/conformance/samples/shopee/v2.logistics.ship_order.json): the pickup needs
``address_id`` and, where the address has time slots, a valid ``pickup_time_id``; a channel
without slots takes none; ``tracking_number`` where ``info_needed`` lists it; drop-off the
fields it lists (``tracking_no`` or ``sender_real_name`` for the JOB channels, one of the
two); non-integrated its ``tracking_no`` when listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from handlers.shopee.sandbox.api import ShopeeApiError


class Offer(Protocol):
    """What a check reads of the logistics settings (handlers.shopee.sandbox.shipping's
    ``LogisticsSettings``, which builds on this module)."""

    pickup_slots: bool

    def needed(self, mode: str) -> list[str]:
        """What ``info_needed`` lists for ``mode``."""
        ...


UNSUPPORTED = {
    "pickup": "This order does not support ship with pickup.",
    "dropoff": "This order does not support ship with dropoff.",
    "non_integrated": "This order does not support ship with non_integrated.",
}
ADDRESSES = (
    {"address_id": 4001, "address": "12 Kallang Avenue #04-01", "zipcode": "339511",
     "address_flag": ["default_address", "pickup_address", "return_address"]},
    {"address_id": 4002, "address": "3 Tuas South Street 5", "zipcode": "637331", "address_flag": []},
)  # fmt: skip
BRANCHES = (
    {"branch_id": 7001, "address": "SPX Drop-off Point, 1 Jurong West Central 2", "zipcode": "648886"},
    {"branch_id": 7002, "address": "SPX Drop-off Point, 23 Serangoon Central", "zipcode": "556083"},
)  # fmt: skip
SLOT_DAYS = 3
SLUGS = ({"slug": "SPX_TW", "slug_name": "Shopee Xpress"},)  # Invented: names of TW drop-off partners
NEED_TRACKING = "Parameter tracking_number can not be null."
NOT_TRACKED = "Please do not request with tracking_no for this channel which does not require tracking_no."


def check_choice(settings: Offer, now: int, mode: str, choice: Mapping[str, Any]) -> str:
    """Check the mode's fields against what ``info_needed`` lists (ship_order's error
    names); where the parcel is handed over."""
    needed = settings.needed(mode)
    number = choice.get("tracking_number")
    asked = "tracking_no" in needed or "tracking_number" in needed
    # (Optional for non-integrated channels: ship_order's field table.)
    if _text(number) and not asked and mode != "non_integrated":
        raise ShopeeApiError("error_param", NOT_TRACKED)
    if mode == "pickup":
        return _check_pickup(settings, now, choice, needed)
    if mode == "dropoff":
        return _check_dropoff(choice, needed)
    if "tracking_no" in needed and not _text(number):
        raise ShopeeApiError("logistics.ship_order_need_tracking_number", NEED_TRACKING)
    return "The seller handed the parcel to their own carrier"


def _check_pickup(settings: Offer, now: int, choice: Mapping[str, Any], needed: list[str]) -> str:
    address_id = choice.get("address_id")
    slots = settings.pickup_slots
    if address_id is None or (
        slots and "pickup_time_id" in needed and not _text(choice.get("pickup_time_id"))
    ):
        message = "Parameter address_id and pickup_time_id are required."
        raise ShopeeApiError("logistics.ship_order_need_address_pickup_time", message)
    address = next((a for a in ADDRESSES if a["address_id"] == address_id), None)
    if address is None:
        raise ShopeeApiError("logistics.address_not_found", "Address is not found.")
    if slots:
        valid = {s["pickup_time_id"] for s in slots_at(now) + slots_at(now - 86400)}
        if choice.get("pickup_time_id") not in valid:
            message = "Invalid pickup time id. Please check the pick up time id."
            raise ShopeeApiError("logistics.ship_order_pickup_time_invalid", message)
    if "tracking_number" in needed and not _text(choice.get("tracking_number")):
        raise ShopeeApiError("logistics.ship_order_need_tracking_number", NEED_TRACKING)
    return str(address["address"])


def _check_dropoff(choice: Mapping[str, Any], needed: list[str]) -> str:
    where = "a drop-off point"
    if "branch_id" in needed:
        if choice.get("branch_id") is None:
            raise ShopeeApiError("logistics.ship_order_need_branch_id", "Parameter branch_id is required.")
        branch = next((b for b in BRANCHES if b["branch_id"] == choice.get("branch_id")), None)
        if branch is None:
            raise _param("branch_id is invalid")  # Invented: the detail of this error_param
        where = str(branch["address"])
    if "slug" in needed and not _text(choice.get("slug")):
        raise ShopeeApiError("error_param", "Slug not allow empty.")
    if "slug" not in needed and choice.get("slug") not in (None, ""):
        raise ShopeeApiError("error_param", "Slug not required.")
    number, sender = _text(choice.get("tracking_number")), _text(choice.get("sender_real_name"))
    if "tracking_no" in needed and "sender_real_name" in needed:
        if not (number or sender):  # channels 80003/80004: one of the two
            message = "Parameter sender_real_name or tracking_number is required."
            raise ShopeeApiError("logistics.ship_order_invalid_job_param", message)
    elif "tracking_no" in needed and not number:
        raise ShopeeApiError("logistics.ship_order_need_tracking_number", NEED_TRACKING)
    elif "sender_real_name" in needed and not sender:
        message = "Parameter sender_real_name can not be null."
        raise ShopeeApiError("logistics.ship_order_need_sender_real_name", message)
    return where


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _param(detail: str) -> ShopeeApiError:
    return ShopeeApiError("error_param", f"Wrong parameters, detail: {detail}.")


def slots_at(now: int) -> list[dict[str, Any]]:
    """Pickup slots: 09:00 UTC on each of the next days, the second one ``recommended``.
    Invented: the slots' times and ids (the id is the slot's time, as in one integrator's
    record, ``"pickup_time_id": "1639472400"``; Shopee's sample has no slots)."""
    first = (now // 86400 + 1) * 86400 + 9 * 3600
    dates = [first + day * 86400 for day in range(SLOT_DAYS)]
    return [
        {
            "date": d,
            "time_text": "09:00-18:00",
            "pickup_time_id": str(d),
            "flags": ["recommended"] if i == 1 else [],
        }
        for i, d in enumerate(dates)
    ]
