"""What one batch of ingest writes, gathered before anything is written: :class:`Writes`.

Its own module because two sides read it: service/store_writes.py, which fills it and
writes it, and service/changes.py, which publishes the history rows it holds to the
change feed. Neither then imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Row

from service.store import OrderKey
from statemachines.aggregate import Action, Change, OrderAggregate, Result

ORDER_COLUMNS = (
    "id", "shop_id", "main_shop_id", "state", "held_from", "platform_status", "last_key",
    "created_at", "updated_at",
)  # fmt: skip
PACKAGE_COLUMNS = (
    "id", "package_id", "state", "held_from", "attempts", "platform_status", "carrier",
    "tracking_number", "provisional", "created_at", "updated_at",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "order_pk", "platform", "order_id", "package_id", "from_state", "to_state", "trigger", "at",
    "source", "event_id", "catch_up",
)  # fmt: skip


@dataclass
class Writes:
    """Everything a batch writes, gathered so each table gets one executemany."""

    orders: list[tuple[Any, ...]] = field(default_factory=list)
    package_updates: list[tuple[Any, ...]] = field(default_factory=list)
    package_inserts: list[dict[str, Any]] = field(default_factory=list)
    package_deletes: list[int] = field(default_factory=list)
    renames: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    actions: list[tuple[OrderAggregate, Action]] = field(default_factory=list)
    rebuilt: set[int] = field(default_factory=set)
    history: dict[int, list[tuple[int, Change]]] = field(default_factory=dict)
    transition_deletes: list[int] = field(default_factory=list)
    touched: dict[OrderKey, tuple[int, OrderAggregate]] = field(default_factory=dict)
    outcomes: dict[int, Result] = field(default_factory=dict)

    def add(self, row: Row[Any], package_rows: Sequence[Row[Any]], agg: OrderAggregate) -> None:
        """Gather the writes for one folded order."""
        rebuilt = row.id in self.rebuilt
        created = agg.created_at or row.created_at
        order = (
            row.id, agg.shop_id, agg.main_shop_id, agg.state, agg.subject.held_from,
            agg.platform_status, agg.last_key, created, agg.updated_at or created,
        )  # fmt: skip
        if order != tuple(getattr(row, name) for name in ORDER_COLUMNS):
            self.orders.append(order)
        by_id = {p.package_id: p for p in package_rows}
        for old, new in agg.renamed.items():
            if old in by_id and not rebuilt:
                by_id[new] = by_id.pop(old)
                self.renames.append({"b_order_pk": row.id, "b_old": old, "new": new})
        for package in agg.packages.values():
            values = (
                package.package_id, package.subject.state, package.subject.held_from,
                package.subject.attempts, package.platform_status, package.carrier,
                package.tracking_number, package.provisional, package.created_at or created,
                package.updated_at or package.created_at or created,
            )  # fmt: skip
            existing = by_id.pop(package.package_id, None)
            if existing is None:
                self.package_inserts.append(dict(zip(PACKAGE_COLUMNS[1:], values, strict=True)))
                self.package_inserts[-1].update(order_pk=row.id, platform=agg.platform, order_id=agg.order_id)
            elif values != tuple(getattr(existing, name) for name in PACKAGE_COLUMNS[1:]):
                self.package_updates.append((existing.id, *values))
        if rebuilt:
            self.package_deletes.extend(p.id for p in by_id.values())
        changes: Sequence[Change] = agg.changes
        if rebuilt:
            # Keep the history rows the refold reproduced; rewrite from the first change.
            stored = self.history.get(row.id, [])
            same = 0
            for (_, before), after in zip(stored, changes, strict=False):
                if before != after:
                    break
                same += 1
            self.transition_deletes.extend(pk for pk, _ in stored[same:])
            changes = changes[same:]
        head = (row.id, agg.platform, agg.order_id)
        self.transitions.extend(head + tuple(change) for change in changes)
        self.actions.extend((agg, action) for action in agg.actions())
        self.touched[(agg.platform, agg.order_id)] = (row.id, agg)
