"""The one normalized event that crosses boundaries: parsers make it, ingest journals it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class EventKind(enum.StrEnum):
    """What an event says."""

    ORDER_STATUS = "order_status"  # a marketplace order status (Coupang: of one box)
    PACKAGE_STATUS = "package_status"  # a marketplace logistics status of one package
    TRACKING_NUMBER = "tracking_number"  # a package got its tracking number
    ORDER_COMMAND = "order_command"  # an operator or action fired an order trigger
    PACKAGE_COMMAND = "package_command"  # an operator or action fired a package trigger


SOURCES = ("push", "poll", "command", "action", "replay")


@dataclass(frozen=True)
class Event:
    """A normalized marketplace or operator event.

    ``status`` is the marketplace status for status events and the trigger name for
    commands. ``dedupe_key`` identifies the fact: the same fact seen twice (a duplicate
    push, a push and a poll) carries the same key and is applied once.
    """

    platform: str
    shop_id: str
    order_id: str
    kind: EventKind
    status: str
    occurred_at: datetime
    dedupe_key: str
    source: str = "push"
    package_id: str | None = None
    main_shop_id: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    actor: str | None = None
    reason: str | None = None
    # The order's ship-by deadline when the marketplace states one (Shopee's ship_by_date,
    # Coupang's outbound shipping days): written to the order as it is, not folded.
    ship_by: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if self.source not in SOURCES:
            raise ValueError(f"unknown event source {self.source!r}")
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        if self.ship_by is not None:
            if self.ship_by.tzinfo is None:
                raise ValueError("ship_by must be timezone-aware")
            object.__setattr__(self, "ship_by", self.ship_by.astimezone(UTC))
