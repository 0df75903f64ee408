"""The machines as the contract draws them, written out by hand for the tests.

Nothing here is derived from ``statemachines``: the tests compare the code against these
tables. Where the contract is silent the code's documented decisions are written in, and
marked so: holds from ``pending`` to ``ready_to_ship`` (orders) and from ``created``,
``processing`` and ``ready_for_pickup`` (packages); ``request_return`` from ``shipped``
and ``delivered``; the package trigger names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

ON_HOLD = "on_hold"

ORDER_STATES = (
    "pending",
    "processing",
    "on_hold",
    "approved",
    "picking",
    "packing",
    "ready_to_ship",
    "shipped",
    "delivered",
    "cancelled",
    "rejected",
    "returning",
    "returned",
)
ORDER_TRIGGERS = (
    "process",
    "hold",
    "release",
    "approve",
    "reject",
    "cancel",
    "start_picking",
    "pack",
    "mark_ready",
    "ship",
    "deliver",
    "request_return",
    "complete_return",
)
ORDER_FINAL = frozenset({"delivered", "cancelled", "rejected", "returned"})
# Code decision: an order may be held from any state between pending and ready_to_ship.
ORDER_HOLDABLE = ("pending", "processing", "approved", "picking", "packing", "ready_to_ship")
ORDER_EARLY = frozenset({"pending", "processing"})

_CANCEL = {"cancel": "cancelled"}
_HOLD = {"hold": ON_HOLD}
ORDER_TABLE: dict[str, dict[str, str]] = {
    "pending": {"process": "processing", **_HOLD, **_CANCEL},
    "processing": {"approve": "approved", "reject": "rejected", **_HOLD, **_CANCEL},
    "approved": {"start_picking": "picking", **_HOLD, **_CANCEL},
    "picking": {"pack": "packing", **_HOLD, **_CANCEL},
    "packing": {"mark_ready": "ready_to_ship", **_HOLD, **_CANCEL},
    "ready_to_ship": {"ship": "shipped", **_HOLD, **_CANCEL},
    "shipped": {"deliver": "delivered", "request_return": "returning"},
    # Code decision: a delivered order may still be returned.
    "delivered": {"request_return": "returning"},
    "returning": {"complete_return": "returned"},
    "cancelled": {},
    "rejected": {},
    "returned": {},
}

PACKAGE_STATES = (
    "created",
    "processing",
    "on_hold",
    "ready_for_pickup",
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "delivery_failed",
    "returned_to_sender",
    "lost",
    "cancelled",
)
PACKAGE_TRIGGERS = (
    "process",
    "hold",
    "release",
    "mark_ready",
    "pick_up",
    "depart",
    "dispatch",
    "deliver",
    "fail_delivery",
    "return_to_sender",
    "lose",
    "cancel",
)
PACKAGE_FINAL = frozenset({"delivered", "returned_to_sender", "lost", "cancelled"})
PACKAGE_EXCEPTIONS = frozenset({"on_hold", "delivery_failed", "lost", "returned_to_sender"})
# Code decision: a package may be held while it is still with the seller.
PACKAGE_HOLDABLE = ("created", "processing", "ready_for_pickup")
PACKAGE_EARLY = frozenset({"created", "processing"})

_LOSE = {"lose": "lost"}
PACKAGE_TABLE: dict[str, dict[str, str]] = {
    "created": {"process": "processing", **_HOLD, **_CANCEL},
    "processing": {"mark_ready": "ready_for_pickup", **_HOLD, **_CANCEL},
    "ready_for_pickup": {"pick_up": "picked_up", **_HOLD, **_CANCEL},
    "picked_up": {"depart": "in_transit", "dispatch": "out_for_delivery", **_LOSE},
    "in_transit": {"dispatch": "out_for_delivery", "deliver": "delivered", **_LOSE},
    "out_for_delivery": {"deliver": "delivered", "fail_delivery": "delivery_failed", **_LOSE},
    "delivery_failed": {"dispatch": "out_for_delivery", "return_to_sender": "returned_to_sender"},
    "delivered": {},
    "returned_to_sender": {},
    "lost": {},
    "cancelled": {},
}


@dataclass(frozen=True)
class Machine:
    """A hand-written machine: the destination of every (state, held_from, trigger)."""

    name: str
    states: tuple[str, ...]
    triggers: tuple[str, ...]
    table: dict[str, dict[str, str]]
    holdable: tuple[str, ...]
    early: frozenset[str]
    early_exit: tuple[str, str]
    initial: str

    def moves(self, state: str, held_from: str | None = None) -> dict[str, str]:
        """Trigger → destination from a position; on_hold depends on where the hold began."""
        if state != ON_HOLD:
            return self.table[state]
        # Contract: release returns to processing when held from the early states, else
        # back where the hold began; only an early hold may be approved (orders) or made
        # ready (packages) directly.
        moves = {"release": "processing" if held_from in self.early else str(held_from), **_CANCEL}
        if held_from in self.early:
            trigger, dest = self.early_exit
            moves[trigger] = dest
        return moves

    def dest(self, state: str, trigger: str, held_from: str | None = None) -> str | None:
        """Where ``trigger`` takes a subject, or None when it is refused."""
        return self.moves(state, held_from).get(trigger)

    def positions(self) -> Iterator[tuple[str, str | None]]:
        """Every (state, held_from) a subject can be in."""
        for state in self.states:
            if state == ON_HOLD:
                yield from ((ON_HOLD, h) for h in self.holdable)
            else:
                yield state, None

    def distances(self, state: str, held_from: str | None = None) -> dict[str, int]:
        """Length of the shortest trigger sequence to every reachable state (BFS)."""
        start = (state, held_from if state == ON_HOLD else None)
        found = {state: 0}
        seen = {start}
        queue = deque([(start, 0)])
        while queue:
            (here, held), depth = queue.popleft()
            for dest in self.moves(here, held).values():
                there = (dest, here if dest == ON_HOLD else None)
                if there in seen:
                    continue
                seen.add(there)
                found.setdefault(dest, depth + 1)
                queue.append((there, depth + 1))
        return found

    def behind(self, target: str, current: str) -> bool:
        """True when ``current`` can be reached from ``target``: the target lies behind."""
        holders = self.holdable if target == ON_HOLD else (None,)
        return any(current in self.distances(target, h) for h in holders)


ORDER = Machine(
    "order",
    ORDER_STATES,
    ORDER_TRIGGERS,
    ORDER_TABLE,
    ORDER_HOLDABLE,
    ORDER_EARLY,
    ("approve", "approved"),
    "pending",
)
PACKAGE = Machine(
    "package",
    PACKAGE_STATES,
    PACKAGE_TRIGGERS,
    PACKAGE_TABLE,
    PACKAGE_HOLDABLE,
    PACKAGE_EARLY,
    ("mark_ready", "ready_for_pickup"),
    "created",
)
MACHINES = {"order": ORDER, "package": PACKAGE}
