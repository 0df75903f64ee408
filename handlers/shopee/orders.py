"""Shopee order details (``v2.order.get_order_detail``) as normalized events.

The reconciliation poll turns what Shopee says an order is now into the same events a
push would have made: the order status at its ``update_time`` (the same dedupe key as
the order_status_push of that status and time, so a push and a poll of one fact are
applied once) and each package's logistics status. A package has no update time of its
own in the detail, so its status is dated at the order's update time and keyed by the
status alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from handlers.shopee.push import PLATFORM, order_status_key
from statemachines.events import Event, EventKind


class PackageLike(Protocol):
    """What the poll needs of a package of an order detail."""

    @property
    def package_number(self) -> str: ...
    @property
    def logistics_status(self) -> str: ...


class DetailLike(Protocol):
    """What the poll needs of an order detail."""

    @property
    def order_sn(self) -> str: ...
    @property
    def order_status(self) -> str: ...
    @property
    def update_time(self) -> int: ...
    @property
    def packages(self) -> Sequence[PackageLike]: ...


def package_status_key(ordersn: str, package_number: str, logistics_status: str) -> str:
    """The dedupe key of "package ``package_number`` of ``ordersn`` was ``logistics_status``"."""
    return f"{PLATFORM}:{ordersn}:package:{package_number}:{logistics_status}"


def detail_events(shop_id: str, detail: DetailLike, raw: Mapping[str, Any] | None = None) -> list[Event]:
    """The events an order detail says, as the poll reports them (``source="poll"``)."""
    when = datetime.fromtimestamp(detail.update_time, UTC)
    body = dict(raw or {})
    events = [
        Event(
            platform=PLATFORM,
            shop_id=shop_id,
            order_id=detail.order_sn,
            kind=EventKind.ORDER_STATUS,
            status=detail.order_status,
            occurred_at=when,
            dedupe_key=order_status_key(detail.order_sn, detail.order_status, detail.update_time),
            source="poll",
            ship_by=_ship_by(detail),
            raw=body,
        )
    ]
    for package in detail.packages:
        if not package.package_number or not package.logistics_status:
            continue
        events.append(
            Event(
                platform=PLATFORM,
                shop_id=shop_id,
                order_id=detail.order_sn,
                kind=EventKind.PACKAGE_STATUS,
                status=package.logistics_status,
                occurred_at=when,
                dedupe_key=package_status_key(
                    detail.order_sn, package.package_number, package.logistics_status
                ),
                source="poll",
                package_id=package.package_number,
            )
        )
    return events


def _ship_by(detail: DetailLike) -> datetime | None:
    """The order's ship-by deadline (``ship_by_date``; none before it is paid)."""
    stamp = getattr(detail, "ship_by_date", None)
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) and stamp > 0 else None
