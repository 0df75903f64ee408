"""Carrier checkpoints (``v2.logistics.get_tracking_info``) as package events.

A checkpoint whose logistics status names a package state (picked up, delivered, lost,
delivery failed…) becomes a status event, whose state the status map decides; the
contract's in-between states come from the checkpoints' words: an "out for delivery"
checkpoint (or Shopee's ``DELIVERY_PENDING``) dispatches the parcel, a failed delivery
*attempt* ("delivery attempt failed", "unsuccessful delivery"…) fails that delivery (the
machine counts attempts; the next "out for delivery" dispatches it again), any other
checkpoint after pickup means it is in transit. Shopee's data definitions have no status
for a failed attempt to be tried again: ``LOGISTICS_DELIVERY_FAILED`` is "order cancelled
due to 3PL delivery failed", and get_tracking_info's sample pairs it with a
``FAILED_DELIVERED`` checkpoint of a parcel on its way back, so both are that status.
Customs checkpoints keep the parcel in transit and are kept as checkpoints (the
customs-hold rule of the alerts reads them). Each event is keyed by the checkpoint's time,
so a second failed attempt is a new fact and a re-read is not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from handlers.shopee.push import PLATFORM
from statemachines.events import Event, EventKind
from statemachines.maps import SHOPEE_PACKAGE

_OUT_FOR_DELIVERY = re.compile(
    r"out for delivery|with (the )?courier for delivery|on (its|the) way to you", re.I
)
_CUSTOMS = re.compile(r"customs", re.I)
_ATTEMPT_FAILED = re.compile(
    r"attempt(ed)? (to deliver )?(has )?failed|failed (delivery )?attempt|unsuccessful delivery"
    r"|delivery (was )?unsuccessful|could not be delivered|recipient (was )?not (available|home)",
    re.I,
)
# Logistics statuses that name the package's state outright.
_NAMED = {
    "LOGISTICS_PICKUP_DONE",
    "LOGISTICS_DELIVERY_DONE",
    "LOGISTICS_DELIVERY_FAILED",
    "LOGISTICS_LOST",
    "LOGISTICS_REQUEST_CANCELED",
}
# The statuses of get_tracking_info's checkpoints (tracking_info[].logistics_status) in the
# package's logistics vocabulary; DELIVERY_PENDING is the parcel out for delivery.
_OUT = "DELIVERY_PENDING"
_ALIASES = {
    "PICKED_UP": "LOGISTICS_PICKUP_DONE",
    "DELIVERED": "LOGISTICS_DELIVERY_DONE",
    "FAILED_DELIVERED": "LOGISTICS_DELIVERY_FAILED",
    "FAILED_DELIVERY": "LOGISTICS_DELIVERY_FAILED",
    "LOST": "LOGISTICS_LOST",
}
# Where the package is, for choosing the trigger of a worded checkpoint.
_MOVING = {"picked_up", "in_transit", "out_for_delivery", "delivery_failed"}


@dataclass(frozen=True)
class Point:
    """One checkpoint as the carrier reports it."""

    update_time: int
    description: str
    logistics_status: str

    @property
    def customs(self) -> bool:
        """A customs checkpoint (cross-border parcels)."""
        return bool(_CUSTOMS.search(self.description))


def checkpoint_events(
    shop_id: str, order_id: str, package_id: str, state: str, points: Iterable[Point]
) -> list[Event]:
    """The events that ``points`` (in time order) say about a package now in ``state``."""
    events: list[Event] = []
    for i, point in enumerate(sorted(points, key=lambda p: p.update_time)):
        # Checkpoints of one second keep their order: the i-th is dated i microseconds later.
        when = datetime.fromtimestamp(point.update_time, UTC) + timedelta(microseconds=i)
        digest = hashlib.sha256(point.description.encode()).hexdigest()[:12]
        key = f"{PLATFORM}:{order_id}:checkpoint:{package_id}:{point.update_time}:{i}:{digest}"
        point = Point(
            point.update_time, point.description, _ALIASES.get(point.logistics_status, point.logistics_status)
        )
        named = point.logistics_status in _NAMED
        if named and not (point.logistics_status == "LOGISTICS_PICKUP_DONE" and state in _MOVING):
            # (Checkpoints after pickup carry PICKUP_DONE as the parcel's status: their words
            # say where it is.)
            events.append(_event(shop_id, order_id, package_id, EventKind.PACKAGE_STATUS,
                                 point.logistics_status, when, key))  # fmt: skip
            state = _after_status(point.logistics_status, state)
            continue
        if state not in _MOVING:
            continue  # not picked up yet (or done): words change nothing
        out = point.logistics_status == _OUT or _OUT_FOR_DELIVERY.search(point.description)
        if _ATTEMPT_FAILED.search(point.description):
            if state != "out_for_delivery":
                continue  # (the machine fails a delivery that is out only)
            trigger, state = "fail_delivery", "delivery_failed"
        elif out and state != "out_for_delivery":
            trigger, state = "dispatch", "out_for_delivery"
        elif state == "picked_up":
            trigger, state = "depart", "in_transit"
        else:
            continue
        events.append(_event(shop_id, order_id, package_id, EventKind.PACKAGE_COMMAND, trigger, when,
                             f"{key}:{trigger}", reason=point.description[:200]))  # fmt: skip
    return events


def _after_status(status: str, state: str) -> str:
    return {
        "LOGISTICS_PICKUP_DONE": "picked_up" if state not in _MOVING else state,
        "LOGISTICS_DELIVERY_DONE": "delivered",
        "LOGISTICS_DELIVERY_FAILED": SHOPEE_PACKAGE["LOGISTICS_DELIVERY_FAILED"].state,
        "LOGISTICS_LOST": "lost",
        "LOGISTICS_REQUEST_CANCELED": "cancelled",
    }.get(status, state)


def _event(
    shop_id: str,
    order_id: str,
    package_id: str,
    kind: EventKind,
    status: str,
    when: datetime,
    key: str,
    reason: str | None = None,
) -> Event:
    return Event(
        platform=PLATFORM,
        shop_id=shop_id,
        order_id=order_id,
        kind=kind,
        status=status,
        occurred_at=when,
        dedupe_key=key[:200],
        source="action",
        package_id=package_id,
        actor="tracking" if kind is EventKind.PACKAGE_COMMAND else None,
        reason=reason,
    )
