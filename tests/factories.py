"""Event factories shared by the tests: single events and whole generated order lives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from statemachines.events import Event, EventKind

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

ORDER_FLOW = ("UNPAID", "READY_TO_SHIP", "PROCESSED", "SHIPPED", "TO_CONFIRM_RECEIVE", "COMPLETED")
PACKAGE_FLOW = (
    "LOGISTICS_READY",
    "LOGISTICS_REQUEST_CREATED",
    "LOGISTICS_PICKUP_DONE",
    "LOGISTICS_DELIVERY_DONE",
)


def order_event(
    order_id: str,
    status: str,
    seconds: float,
    *,
    shop_id: str = "1001",
    source: str = "push",
    platform: str = "shopee",
    **extra: object,
) -> Event:
    """A Shopee order-status event at ``T0 + seconds``."""
    return Event(
        platform=platform,
        shop_id=shop_id,
        order_id=order_id,
        kind=EventKind.ORDER_STATUS,
        status=status,
        occurred_at=T0 + timedelta(seconds=seconds),
        dedupe_key=f"{platform}:{order_id}:order:{status}:{seconds}",
        source=source,
        **extra,  # type: ignore[arg-type]
    )


def package_event(
    order_id: str,
    package_id: str,
    status: str,
    seconds: float,
    *,
    shop_id: str = "1001",
    source: str = "push",
) -> Event:
    """A Shopee logistics-status event of one package at ``T0 + seconds``."""
    return Event(
        platform="shopee",
        shop_id=shop_id,
        order_id=order_id,
        kind=EventKind.PACKAGE_STATUS,
        status=status,
        occurred_at=T0 + timedelta(seconds=seconds),
        dedupe_key=f"shopee:{order_id}:package:{package_id}:{status}:{seconds}",
        source=source,
        package_id=package_id,
    )


def command_event(order_id: str, trigger: str, seconds: float, *, actor: str = "ops") -> Event:
    """An operator command on an order."""
    return Event(
        platform="shopee",
        shop_id="1001",
        order_id=order_id,
        kind=EventKind.ORDER_COMMAND,
        status=trigger,
        occurred_at=T0 + timedelta(seconds=seconds),
        dedupe_key=f"cmd:{order_id}:{trigger}:{seconds}",
        source="command",
        actor=actor,
    )


def order_life(rng: random.Random, order_id: str, start: float = 0.0) -> list[Event]:
    """A plausible in-order life: order statuses with gaps, package events, a cancel branch."""
    events: list[Event] = []
    t = start
    package_id = f"PKG-{order_id}"
    if rng.random() < 0.15:
        # Paid, then cancelled before shipping.
        for status in ("UNPAID", "READY_TO_SHIP", "IN_CANCEL", "CANCELLED")[: rng.randint(1, 4)]:
            t += rng.choice((0, 1, 5, 60))
            events.append(order_event(order_id, status, t))
        return events
    stop = rng.randint(1, len(ORDER_FLOW))
    for status in ORDER_FLOW[:stop]:
        if rng.random() < 0.2 and status not in ("UNPAID",):
            continue  # the marketplace skipped a push
        t += rng.choice((0, 1, 5, 60, 3600))
        events.append(order_event(order_id, status, t))
        if status == "PROCESSED":
            for logistics in PACKAGE_FLOW[: rng.randint(0, len(PACKAGE_FLOW))]:
                t += rng.choice((1, 30, 600))
                events.append(package_event(order_id, package_id, logistics, t))
    return events


def shuffled_with_duplicates(rng: random.Random, events: list[Event], dup: float = 0.2) -> list[Event]:
    """The same events in arbitrary order, with some repeated."""
    stream = list(events) + [e for e in events if rng.random() < dup]
    rng.shuffle(stream)
    return stream
