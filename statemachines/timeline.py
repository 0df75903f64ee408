"""Where each event sits in its order's timeline, and the state its status names.

:func:`sort_key` orders an order's events by the marketplace's update time, then order
events before package events before commands, then flow progress (side states last),
then the status's place in the marketplace's table, then the dedupe key — so any arrival
order of the same events folds the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statemachines import maps
from statemachines.events import Event, EventKind
from statemachines.paths import rank

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_KIND_RANK = {
    EventKind.ORDER_STATUS: 0,
    EventKind.PACKAGE_STATUS: 1,
    EventKind.TRACKING_NUMBER: 1,
    EventKind.ORDER_COMMAND: 2,
    EventKind.PACKAGE_COMMAND: 2,
}
_READY = maps.Target("ready_for_pickup")


def event_target(event: Event) -> maps.Target | None:
    """The state an event's marketplace status names (None for commands and unknowns)."""
    if event.kind is EventKind.ORDER_STATUS:
        return maps.order_target(event.platform, event.status)
    if event.kind is EventKind.PACKAGE_STATUS:
        return maps.package_target(event.platform, event.status)
    if event.kind is EventKind.TRACKING_NUMBER:
        return _READY
    return None


def sort_key(event: Event, target: maps.Target | None = None) -> str:
    """The position of an event in its order's timeline, as a comparable string."""
    if target is None:
        target = event_target(event)
    is_order = event.kind is EventKind.ORDER_STATUS
    progress = rank("order" if is_order else "package", target.state) if target else 99
    status = maps.status_rank(event.platform, event.status, is_order) if target else 99
    micros = (event.occurred_at - _EPOCH) // _MICROSECOND
    return f"{micros:017d}|{_KIND_RANK[event.kind]}|{progress:02d}{status:02d}|{event.dedupe_key}"


class Journaled:
    """An event with the id the journal gave it, its target and its timeline key."""

    __slots__ = ("id", "event", "target", "key")

    def __init__(self, id: int, event: Event) -> None:  # noqa: A002 - the journal's name
        self.id = id
        self.event = event
        self.target = event_target(event)
        self.key = sort_key(event, self.target)

    def __repr__(self) -> str:
        return f"Journaled({self.id}, {self.event!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Journaled) and (self.id, self.event) == (other.id, other.event)

    def __hash__(self) -> int:
        return hash((self.id, self.event.dedupe_key))
