"""Small builders of normalized events and journals for the fold tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from statemachines.aggregate import Action, Change, OrderAggregate, Result, fold
from statemachines.events import Event, EventKind
from statemachines.timeline import Journaled

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ORDER_ID = "250301ABCDEF"
SHOP_ID = "shop-1"


@dataclass
class Timeline:
    """Makes one order's events with increasing times and unique dedupe keys."""

    platform: str = "shopee"
    order_id: str = ORDER_ID
    clock: int = 0
    made: list[Journaled] = field(default_factory=list)

    def _add(
        self,
        kind: EventKind,
        status: str,
        source: str,
        package_id: str | None = None,
        tracking_number: str | None = None,
        carrier: str | None = None,
        actor: str | None = None,
    ) -> Journaled:
        self.clock += 1
        event = Event(
            self.platform,
            SHOP_ID,
            self.order_id,
            kind,
            status,
            T0 + timedelta(seconds=self.clock),
            f"{self.platform}:{self.order_id}:{len(self.made) + 1}",
            source=source,
            package_id=package_id,
            tracking_number=tracking_number,
            carrier=carrier,
            actor=actor,
        )
        item = Journaled(len(self.made) + 1, event)
        self.made.append(item)
        return item

    def order(self, status: str, source: str = "push", package: str | None = None) -> Journaled:
        """A marketplace order status (Coupang: of the box ``package``)."""
        return self._add(EventKind.ORDER_STATUS, status, source, package_id=package)

    def package(self, package: str, status: str, source: str = "push") -> Journaled:
        """A marketplace logistics status of one package."""
        return self._add(EventKind.PACKAGE_STATUS, status, source, package_id=package)

    def tracking(self, package: str, number: str, carrier: str = "SPX") -> Journaled:
        """A tracking-number push."""
        return self._add(
            EventKind.TRACKING_NUMBER,
            "TRACKING_NUMBER",
            "push",
            package_id=package,
            tracking_number=number,
            carrier=carrier,
        )

    def command(self, trigger: str, package: str | None = None, source: str = "command") -> Journaled:
        """An operator (or action) firing an order trigger, or a package trigger."""
        kind = EventKind.PACKAGE_COMMAND if package else EventKind.ORDER_COMMAND
        return self._add(kind, trigger, source, package_id=package, actor="ops@example.com")

    def aggregate(self) -> OrderAggregate:
        """An empty aggregate of this timeline's order."""
        return OrderAggregate(self.platform, self.order_id, SHOP_ID)

    def apply_all(self) -> tuple[OrderAggregate, list[Result]]:
        """A new aggregate with every event made so far applied in the order made."""
        aggregate = self.aggregate()
        return aggregate, [aggregate.apply(item) for item in self.made]


def fold_all(items: Iterable[Journaled], platform: str = "shopee") -> OrderAggregate:
    """Fold a journal from scratch and return the aggregate."""
    items = list(items)
    order_id = items[0].event.order_id if items else ORDER_ID
    aggregate, _ = fold(platform, order_id, SHOP_ID, items)
    return aggregate


def package_states(aggregate: OrderAggregate) -> dict[str, str]:
    """Each package's state, by package id."""
    return {pid: p.subject.state for pid, p in aggregate.packages.items()}


def history(aggregate: OrderAggregate, package: str | None = None) -> list[tuple[str, str, str]]:
    """(from, to, trigger) of the order's (or one package's) changes, in order."""
    return [(c.from_state, c.to_state, c.trigger) for c in aggregate.changes if c.package_id == package]


def changes_of(aggregate: OrderAggregate, package: str | None = None) -> list[Change]:
    """The order's (or one package's) changes, in order."""
    return [c for c in aggregate.changes if c.package_id == package]


def actions_of(aggregate: OrderAggregate, kind: str) -> list[Action]:
    """The fold's actions of one kind (alert, arrange_shipment, ...)."""
    return [a for a in aggregate.actions() if a.kind == kind]
