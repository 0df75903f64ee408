"""The order and package machines: one shared ``transitions.Machine`` per kind.

The transition table is data (:data:`ORDER_SPECS`, :data:`PACKAGE_SPECS`); the
``transitions`` machine and the path-finding graph are both built from it, so they
cannot disagree. Models are tiny :class:`Subject` objects; a machine is built once per
kind (``Machine(model=None)``) and drives any number of them through
``machine.events[trigger].trigger(subject)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine, Transition
from transitions.core import EventData

ON_HOLD = "on_hold"


@dataclass(frozen=True)
class Spec:
    """One row of a transition table: ``trigger`` moves ``sources`` to ``dest``.

    ``held_from`` restricts a transition out of ``on_hold`` to subjects held from one of
    those states (``release`` returns to where the hold began).
    """

    trigger: str
    sources: tuple[str, ...]
    dest: str
    held_from: frozenset[str] | None = None


@dataclass
class Subject:
    """A model the shared machine drives: the state and where a hold began."""

    state: str
    held_from: str | None = None
    attempts: int = 0


def _held(*states: str) -> frozenset[str]:
    return frozenset(states)


ORDER_STATES: tuple[str, ...] = (
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
ORDER_TRIGGERS: tuple[str, ...] = (
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
_ORDER_HOLDABLE = ("pending", "processing", "approved", "picking", "packing", "ready_to_ship")
_EARLY = _held("pending", "processing")
ORDER_SPECS: tuple[Spec, ...] = (
    Spec("process", ("pending",), "processing"),
    Spec("approve", ("processing",), "approved"),
    Spec("approve", (ON_HOLD,), "approved", _EARLY),
    Spec("start_picking", ("approved",), "picking"),
    Spec("pack", ("picking",), "packing"),
    Spec("mark_ready", ("packing",), "ready_to_ship"),
    Spec("ship", ("ready_to_ship",), "shipped"),
    Spec("deliver", ("shipped",), "delivered"),
    Spec("hold", _ORDER_HOLDABLE, ON_HOLD),
    Spec("release", (ON_HOLD,), "processing", _EARLY),
    *(Spec("release", (ON_HOLD,), s, _held(s)) for s in _ORDER_HOLDABLE[2:]),
    Spec("reject", ("processing",), "rejected"),
    Spec("cancel", (*_ORDER_HOLDABLE[:2], ON_HOLD, *_ORDER_HOLDABLE[2:]), "cancelled"),
    Spec("request_return", ("shipped", "delivered"), "returning"),
    Spec("complete_return", ("returning",), "returned"),
)
#: The flow's order, side states last (see ``paths.rank``).
ORDER_PROGRESS: tuple[str, ...] = (
    "pending", "processing", "approved", "picking", "packing", "ready_to_ship", "shipped",
    "delivered", "on_hold", "rejected", "cancelled", "returning", "returned",
)  # fmt: skip
ORDER_FINAL = frozenset({"delivered", "cancelled", "rejected", "returned"})
ORDER_EXCEPTIONS = frozenset({"on_hold", "rejected", "returning"})

PACKAGE_STATES: tuple[str, ...] = (
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
PACKAGE_TRIGGERS: tuple[str, ...] = (
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
_PACKAGE_HOLDABLE = ("created", "processing", "ready_for_pickup")
_PKG_EARLY = _held("created", "processing")
PACKAGE_SPECS: tuple[Spec, ...] = (
    Spec("process", ("created",), "processing"),
    Spec("mark_ready", ("processing",), "ready_for_pickup"),
    Spec("mark_ready", (ON_HOLD,), "ready_for_pickup", _PKG_EARLY),
    Spec("pick_up", ("ready_for_pickup",), "picked_up"),
    Spec("depart", ("picked_up",), "in_transit"),
    Spec("dispatch", ("picked_up", "in_transit", "delivery_failed"), "out_for_delivery"),
    Spec("deliver", ("out_for_delivery", "in_transit"), "delivered"),
    Spec("fail_delivery", ("out_for_delivery",), "delivery_failed"),
    Spec("return_to_sender", ("delivery_failed",), "returned_to_sender"),
    Spec("lose", ("picked_up", "in_transit", "out_for_delivery"), "lost"),
    Spec("hold", _PACKAGE_HOLDABLE, ON_HOLD),
    Spec("release", (ON_HOLD,), "processing", _PKG_EARLY),
    Spec("release", (ON_HOLD,), "ready_for_pickup", _held("ready_for_pickup")),
    Spec("cancel", ("created", "processing", ON_HOLD, "ready_for_pickup"), "cancelled"),
)
PACKAGE_PROGRESS: tuple[str, ...] = (
    "created", "processing", "ready_for_pickup", "picked_up", "in_transit", "out_for_delivery",
    "delivery_failed", "delivered", "on_hold", "returned_to_sender", "lost", "cancelled",
)  # fmt: skip
PACKAGE_FINAL = frozenset({"delivered", "returned_to_sender", "lost", "cancelled"})
PACKAGE_EXCEPTIONS = frozenset({"on_hold", "delivery_failed", "lost", "returned_to_sender"})
#: Package states at or beyond pick-up: the parcel has left the seller.
PACKAGE_LEFT_SELLER = frozenset(
    {
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "delivery_failed",
        "returned_to_sender",
        "lost",
    }
)


def _remember_hold(event: Any) -> None:
    event.model.held_from = event.transition.source


def _forget_hold(event: Any) -> None:
    event.model.held_from = None


def _count_attempt(event: Any) -> None:
    event.model.attempts += 1


def _guard(allowed: frozenset[str]) -> Any:
    def check(event: Any) -> bool:
        return event.model.held_from in allowed

    return check


class _Transition(Transition):
    """A transition that runs exactly the library's steps, minus debug logging and empty
    callback lists: with thousands of events a second those were most of its cost."""

    def execute(self, event_data: Any) -> bool:
        machine = event_data.machine
        if self.prepare:
            machine.callbacks(self.prepare, event_data)
        for condition in self.conditions:
            if not condition.check(event_data):
                return False
        if machine.before_state_change or self.before:
            machine.callbacks([*machine.before_state_change, *self.before], event_data)
        self._change_state(event_data)
        if self.after or machine.after_state_change:
            machine.callbacks([*self.after, *machine.after_state_change], event_data)
        return True

    def _change_state(self, event_data: Any) -> None:
        machine = event_data.machine
        source = machine.get_state(self.source)
        if source.on_exit:
            source.exit(event_data)
        machine.set_state(self.dest, event_data.model)
        event_data.update(getattr(event_data.model, machine.model_attribute))
        dest = machine.get_state(self.dest)
        if dest.on_enter:
            dest.enter(event_data)
        if dest.final and machine.on_final:
            machine.callbacks(machine.on_final, event_data)


class _Machine(Machine):
    transition_cls = _Transition


@dataclass
class Kind:
    """A machine kind: its table, its shared ``transitions.Machine`` and derived facts."""

    name: str
    states: tuple[str, ...]
    triggers: tuple[str, ...]
    specs: tuple[Spec, ...]
    initial: str
    final: frozenset[str]
    exceptions: frozenset[str]
    progress: tuple[str, ...]
    machine: Machine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if sorted(self.progress) != sorted(self.states):
            raise ValueError(f"{self.name}: progress must list every state once")
        self.machine = self.build(_Machine)

    def build(self, machine_cls: type[Machine] = Machine) -> Machine:
        """A machine of ``machine_cls`` for this table (the stock library class by default:
        the benchmark's baseline)."""
        machine = machine_cls(
            model=None,
            states=list(self.states),
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
            name=self.name,
        )
        for spec in self.specs:
            for source in spec.sources:
                machine.add_transition(
                    spec.trigger,
                    source,
                    spec.dest,
                    conditions=[_guard(spec.held_from)] if spec.held_from else None,
                    before=[_remember_hold] if spec.dest == ON_HOLD else None,
                    after=self._after(source, spec.dest),
                )
        return machine

    @staticmethod
    def _after(source: str, dest: str) -> list[Any] | None:
        callbacks = []
        if source == ON_HOLD:
            callbacks.append(_forget_hold)
        if dest == "delivery_failed":
            callbacks.append(_count_attempt)
        return callbacks or None

    def allowed(self, subject: Subject) -> list[str]:
        """The triggers that may fire from the subject's state (guards included)."""
        return [
            spec.trigger
            for spec in self.specs
            if subject.state in spec.sources
            and (spec.held_from is None or subject.held_from in spec.held_from)
        ]

    def fire(self, subject: Subject, trigger: str) -> bool:
        """Fire ``trigger`` on ``subject`` through the shared machine; False if refused."""
        event = self.machine.events.get(trigger)
        if event is None or subject.state not in event.transitions:
            return False
        return bool(event.trigger(subject))

    def step(self, subject: Subject, trigger: str) -> bool:
        """Execute the machine's ``trigger`` transition out of the subject's state.

        For a step path finding has already checked: the transition objects of the shared
        machine run with their conditions and callbacks, skipping only the per-trigger
        queueing and source lookup of ``Event.trigger``. False if no transition applies.
        """
        event = self.machine.events[trigger]
        candidates = event.transitions.get(subject.state)
        if not candidates:
            return False
        data = EventData(self.machine.get_state(subject.state), event, self.machine, subject, (), {})
        for transition in candidates:
            data.transition = transition
            if transition.execute(data):
                return True
        return False

    def edges(self) -> Iterable[Spec]:
        """Every transition of the table."""
        return self.specs


ORDER = Kind(
    "order",
    ORDER_STATES,
    ORDER_TRIGGERS,
    ORDER_SPECS,
    "pending",
    ORDER_FINAL,
    ORDER_EXCEPTIONS,
    ORDER_PROGRESS,
)
PACKAGE = Kind(
    "package",
    PACKAGE_STATES,
    PACKAGE_TRIGGERS,
    PACKAGE_SPECS,
    "created",
    PACKAGE_FINAL,
    PACKAGE_EXCEPTIONS,
    PACKAGE_PROGRESS,
)
KINDS = {"order": ORDER, "package": PACKAGE}
