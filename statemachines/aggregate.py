"""An order with its packages, folded from its events in the marketplace's time order.

Events are folded in timeline order (``statemachines.timeline.sort_key``), so any
arrival order of the same events folds to the same state and history.
:class:`OrderAggregate.apply` folds one event: it advances the
machines along the shortest legal path, keeps order and packages in agreement, and
records the transitions and the actions they call for. It never touches storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from statemachines import maps
from statemachines.events import Event, EventKind
from statemachines.machines import (
    ORDER,
    PACKAGE,
    PACKAGE_FINAL,
    PACKAGE_LEFT_SELLER,
    Kind,
    Subject,
)
from statemachines.paths import Outcome, Step, advance, rank
from statemachines.timeline import Journaled


class Change(NamedTuple):
    """A transition of the order or one of its packages (``package_id`` set)."""

    package_id: str | None
    from_state: str
    to_state: str
    trigger: str
    at: datetime
    source: str
    event_id: int | None
    catch_up: bool


ORDER_LEFT_SELLER = frozenset({"shipped", "delivered", "returning", "returned"})
PACKAGE_AT_SELLER = frozenset({"created", "processing", "ready_for_pickup"})
_PICKED_UP = maps.Target("picked_up")
_NOT_DISPATCHED = frozenset({None, "ACCEPT", "INSTRUCT"})  # Coupang box statuses before the invoice


@dataclass(frozen=True)
class Action:
    """Work the outbox must do after commit; ``key`` makes it happen once."""

    kind: str
    key: str
    package_id: str | None
    state: str
    event_id: int | None
    reason: str = ""


@dataclass
class PackageState:
    """One package of an order."""

    package_id: str
    subject: Subject
    platform_status: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    provisional: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Result:
    """How one event fared: ``outcome`` is applied, duplicate, stale, unreachable,
    unknown_status or refused; ``error`` says why when it was not applied."""

    outcome: str
    error: str | None = None


APPLIED = Result("applied")
DUPLICATE = Result("duplicate")


@dataclass
class OrderAggregate:
    """An order and its packages as the fold of its events."""

    platform: str
    order_id: str
    shop_id: str
    main_shop_id: str | None = None
    subject: Subject = field(default_factory=lambda: Subject(ORDER.initial))
    platform_status: str | None = None
    packages: dict[str, PackageState] = field(default_factory=dict)
    last_key: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    changes: list[Change] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    alerts: list[tuple[str | None, str, int | None, str]] = field(default_factory=list)
    # The shop's policy: arrange shipment at "ready_to_ship" (after the warehouse steps) or
    # already at "approved" (sellers without warehouse steps).
    arrange_at: str = "ready_to_ship"

    @property
    def state(self) -> str:
        """The order's state."""
        return self.subject.state

    # -- folding ---------------------------------------------------------------------

    def apply(self, item: Journaled) -> Result:
        """Fold one event (already in timeline order) into the aggregate."""
        event = item.event
        self.last_key = max(self.last_key, item.key)
        if self.created_at is None:
            self.created_at = event.occurred_at
        if event.main_shop_id and not self.main_shop_id:
            self.main_shop_id = event.main_shop_id
        changes, packages = len(self.changes), len(self.packages)
        result = self._apply(item)
        if len(self.changes) != changes or len(self.packages) != packages:
            self._agree(item)  # an event that changed nothing leaves them agreeing
        return result

    def _apply(self, item: Journaled) -> Result:
        event = item.event
        if event.kind is EventKind.ORDER_COMMAND:
            return self._command(ORDER, self.subject, None, item)
        if event.kind is EventKind.PACKAGE_COMMAND:
            package = self.packages.get(event.package_id or "")
            if package is None:
                return Result("refused", f"order has no package {event.package_id!r}")
            return self._command(PACKAGE, package.subject, package, item)
        target = item.target
        if target is None:
            what = "order" if event.kind is EventKind.ORDER_STATUS else "logistics"
            return Result("unknown_status", f"unknown {event.platform} {what} status {event.status!r}")
        if event.kind is EventKind.ORDER_STATUS:
            return self._order_status(item, target)
        package = self._package(event.package_id or f"{self.order_id}-1", event, real=True)
        if event.kind is EventKind.TRACKING_NUMBER:
            package.tracking_number = event.tracking_number or package.tracking_number
            package.carrier = event.carrier or package.carrier
        else:
            package.platform_status = event.status
        return self._move(PACKAGE, package.subject, package, target, item)

    def _order_status(self, item: Journaled, target: maps.Target) -> Result:
        event = item.event
        self.platform_status = event.status
        if event.package_id is None:
            return self._move(ORDER, self.subject, None, target, item)
        # A Coupang order sheet row is one shipment box: the box follows its status, and
        # the order follows the least advanced of its live boxes.
        package = self._package(event.package_id, event, real=True)
        package.platform_status = event.status
        package_target = maps.package_target(event.platform, event.status)
        box = self._move(PACKAGE, package.subject, package, package_target, item) if package_target else None
        slowest = min(
            (p for p in self.packages.values() if p.subject.state != "cancelled" and p.platform_status),
            key=lambda p: rank("order", _order_state(event.platform, p.platform_status)),
            default=package,
        )
        order_target = maps.order_target(event.platform, slowest.platform_status or event.status) or target
        moved = self._move(ORDER, self.subject, None, order_target, item)
        if box is not None and box.outcome == "applied":
            return box
        return moved

    def _move(
        self,
        kind: Kind,
        subject: Subject,
        package: PackageState | None,
        target: maps.Target,
        item: Journaled,
    ) -> Result:
        plan = advance(kind.name, subject.state, target.state, subject.held_from)
        if plan.outcome is Outcome.MOVED:
            self._fire(kind, subject, package, plan.steps, item)
            if target.alert:
                self._alert(package, target.state, item, f"{item.event.status}")
            return APPLIED
        if plan.outcome is Outcome.DUPLICATE:
            if target.alert:
                self._alert(package, target.state, item, f"{item.event.status}")
            return DUPLICATE
        what = f"{kind.name} {package.package_id if package else self.order_id}"
        if plan.outcome is Outcome.STALE:
            return Result("stale", f"{target.state} is behind {what} at {subject.state}")
        return Result("unreachable", f"no legal path for {what} from {subject.state} to {target.state}")

    def _command(self, kind: Kind, subject: Subject, package: PackageState | None, item: Journaled) -> Result:
        trigger = item.event.status
        allowed = kind.allowed(subject)
        if trigger not in allowed:
            return Result(
                "refused", f"{trigger} is not allowed from {subject.state}; allowed: {', '.join(allowed)}"
            )
        dest = _dest(kind, subject, trigger)
        self._fire(kind, subject, package, (Step(trigger, subject.state, dest, False),), item)
        return APPLIED

    def _fire(
        self,
        kind: Kind,
        subject: Subject,
        package: PackageState | None,
        steps: tuple[Step, ...],
        item: Journaled,
    ) -> None:
        event = item.event
        for step in steps:
            if not kind.step(subject, step.trigger):  # pragma: no cover - table bug guard
                raise RuntimeError(f"{kind.name} machine refused {step.trigger} from {subject.state}")
            self.changes.append(
                Change(
                    package.package_id if package else None,
                    step.source,
                    subject.state,
                    step.trigger,
                    event.occurred_at,
                    event.source,
                    item.id,
                    step.catch_up,
                )
            )
        if package is not None:
            package.updated_at = event.occurred_at
        self.updated_at = event.occurred_at

    def _alert(self, package: PackageState | None, state: str, item: Journaled, why: str) -> None:
        self.alerts.append((package.package_id if package else None, state, item.id, why))

    # -- packages ----------------------------------------------------------------------

    def _package(self, package_id: str, event: Event, real: bool) -> PackageState:
        package = self.packages.get(package_id)
        if package is not None:
            return package
        provisional = [p for p in self.packages.values() if p.provisional]
        if real and provisional:
            # The order's placeholder package turns out to be this real one.
            package = provisional[0]
            del self.packages[package.package_id]
            self.changes = [
                c._replace(package_id=package_id) if c.package_id == package.package_id else c
                for c in self.changes
            ]
            self.alerts = [(package_id, *a[1:]) if a[0] == package.package_id else a for a in self.alerts]
            self.renamed[package.package_id] = package_id
            package.package_id = package_id
            package.provisional = False
        else:
            package = PackageState(
                package_id,
                Subject(PACKAGE.initial),
                provisional=not real,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
            )
        self.packages[package_id] = package
        return package

    def _agree(self, item: Journaled) -> None:
        """Keep the order and its packages in agreement after an event."""
        state = self.subject.state
        if state not in ("pending", "processing", "on_hold", "rejected", "cancelled") and not self.packages:
            self._package(f"{self.order_id}-1", item.event, real=False)
        if state == "cancelled":
            for package in self.packages.values():
                if "cancel" in PACKAGE.allowed(package.subject):
                    self._move(PACKAGE, package.subject, package, maps.Target("cancelled"), item)
            return
        live = [p for p in self.packages.values() if p.subject.state != "cancelled"]
        if not live:
            return
        said = item.event.kind is EventKind.ORDER_STATUS and not item.event.package_id
        if state in ORDER_LEFT_SELLER and said:
            # The marketplace says the order shipped: its parcels are with the carrier (Shopee's
            # pushes name no package), which starts their tracking.
            for package in live:
                if package.subject.state in PACKAGE_AT_SELLER:
                    self._move(PACKAGE, package.subject, package, _PICKED_UP, item)
        if all(p.subject.state == "delivered" for p in live):
            goal = "delivered"
        elif all(p.subject.state in PACKAGE_LEFT_SELLER for p in live):
            goal = "shipped"
        else:
            return
        plan = advance("order", state, goal, self.subject.held_from)
        if plan.outcome is Outcome.MOVED:
            self._fire(ORDER, self.subject, None, plan.steps, item)

    # -- actions -----------------------------------------------------------------------

    def actions(self) -> list[Action]:
        """The actions this fold's changes call for, still relevant at its end."""
        found: dict[str, Action] = {}
        prefix = f"{self.platform}:{self.order_id}"
        coupang = self.platform == "coupang"  # no booking: the seller uploads an invoice
        for change in self.changes:
            if change.package_id is None:
                if change.to_state != self.state or change.catch_up:
                    continue
                if (
                    change.to_state == "ready_to_ship"
                    and change.source in ("command", "action")
                    and not coupang
                ):
                    kind = "arrange_shipment"
                elif change.to_state == "approved" and self.arrange_at == "approved" and not coupang:
                    kind = "arrange_shipment"  # a seller without warehouse steps
                elif (
                    change.to_state == "processing"
                    and self.platform == "coupang"
                    and change.source != "command"
                ):
                    kind = "acknowledge"
                elif change.to_state in ORDER.exceptions:
                    kind = "alert"
                else:
                    continue
                key = f"{kind}:{prefix}::{change.to_state}:{change.event_id}"
                found[key] = Action(kind, key, None, change.to_state, change.event_id, change.trigger)
                continue
            package = self.packages.get(change.package_id)
            if package is None or package.subject.state != change.to_state:
                continue
            # Coupang's parcels are followed by the order poll (DELIVERING, FINAL_DELIVERY).
            left = change.to_state in PACKAGE_LEFT_SELLER and change.to_state not in PACKAGE_FINAL
            if left and not coupang:
                key = f"start_tracking:{prefix}:{change.package_id}"
                found[key] = Action(
                    "start_tracking", key, change.package_id, change.to_state, change.event_id
                )
            if change.to_state in PACKAGE.exceptions:
                key = f"alert:{prefix}:{change.package_id}:{change.to_state}:{change.event_id}"
                found[key] = Action(
                    "alert", key, change.package_id, change.to_state, change.event_id, change.trigger
                )
        if coupang and self.changes and self.state == "ready_to_ship":
            for action in self._invoices(prefix):
                found[action.key] = action
        for package_id, state, event_id, why in self.alerts:
            current = self.packages[package_id].subject.state if package_id else self.state
            if current != state:
                continue
            key = f"alert:{prefix}:{package_id or ''}:{state}:{event_id}"
            found[key] = Action("alert", key, package_id, state, event_id, why)  # the status says more
        return list(found.values())

    def _invoices(self, prefix: str) -> list[Action]:
        """Coupang: one invoice upload per box that has a tracking number and no invoice at
        Coupang yet, once the order is ready to ship (whichever came first); the key holds
        the number, so a box is uploaded once per number."""
        found = []
        for package in self.packages.values():
            number = package.tracking_number
            if not number or package.provisional or package.platform_status not in _NOT_DISPATCHED:
                continue
            if package.subject.state not in PACKAGE_AT_SELLER:
                continue
            key = f"upload_invoice:{prefix}:{package.package_id}:{number}"
            event_id = next((c.event_id for c in reversed(self.changes) if c.event_id is not None), None)
            found.append(Action("upload_invoice", key, package.package_id, package.subject.state, event_id))
        return found


def _order_state(platform: str, status: str | None) -> str:
    target = maps.order_target(platform, status or "")
    return target.state if target else "pending"


def _dest(kind: Kind, subject: Subject, trigger: str) -> str:
    for spec in kind.specs:
        if (
            trigger == spec.trigger
            and subject.state in spec.sources
            and (spec.held_from is None or subject.held_from in spec.held_from)
        ):
            return spec.dest
    raise ValueError(f"{trigger} not allowed from {subject.state}")


def fold(
    platform: str, order_id: str, shop_id: str, events: list[Journaled]
) -> tuple[OrderAggregate, dict[int, Result]]:
    """Fold an order's whole journal from scratch, in timeline order."""
    aggregate = OrderAggregate(platform, order_id, shop_id)
    results = {item.id: aggregate.apply(item) for item in sorted(events, key=lambda i: i.key)}
    return aggregate, results
