"""Path finding: from the current state to the state a marketplace status names.

A position is ``(state, held_from)``: where a subject is and, when on hold, where the
hold began (it decides where ``release`` goes). Shortest paths are found breadth-first
over the transition table in table order, so ties always break the same way.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from functools import cache

from statemachines.machines import KINDS, ON_HOLD, Kind

Position = tuple[str, "str | None"]


class Outcome(enum.StrEnum):
    """What a target does to a subject."""

    MOVED = "moved"
    DUPLICATE = "duplicate"  # already there
    STALE = "stale"  # the target lies behind the current state
    UNREACHABLE = "unreachable"  # no legal path, and not behind either: a conflict


@dataclass(frozen=True)
class Step:
    """One trigger on the way to a target; ``catch_up`` when the marketplace skipped it."""

    trigger: str
    source: str
    dest: str
    catch_up: bool


@dataclass(frozen=True)
class Advance:
    """The answer of :func:`advance`: an outcome and the steps to fire (maybe none)."""

    outcome: Outcome
    steps: tuple[Step, ...] = ()


def _moves(kind: Kind, position: Position) -> list[tuple[str, Position]]:
    state, held_from = position
    moves = []
    for spec in kind.specs:
        if state not in spec.sources:
            continue
        if spec.held_from is not None and held_from not in spec.held_from:
            continue
        new_held = state if spec.dest == ON_HOLD else None
        moves.append((spec.trigger, (spec.dest, new_held)))
    return moves


@cache
def _shortest(kind_name: str, position: Position) -> dict[str, tuple[Step, ...]]:
    """Shortest step sequences from ``position`` to every reachable state."""
    kind = KINDS[kind_name]
    best: dict[str, tuple[Step, ...]] = {position[0]: ()}
    seen = {position}
    queue: deque[tuple[Position, tuple[Step, ...]]] = deque([(position, ())])
    while queue:
        here, path = queue.popleft()
        for trigger, there in _moves(kind, here):
            if there in seen:
                continue
            seen.add(there)
            step_path = (*path, Step(trigger, here[0], there[0], True))
            best.setdefault(there[0], step_path)
            queue.append((there, step_path))
    return best


@cache
def _ancestors(kind_name: str, state: str) -> frozenset[str]:
    """States from which ``state`` can be reached: targets "behind" it."""
    kind = KINDS[kind_name]
    found = set()
    for candidate in kind.states:
        if candidate == state:
            continue
        holders = [None] if candidate != ON_HOLD else list(kind.states)
        if any(state in _shortest(kind_name, (candidate, h)) for h in holders):
            found.add(candidate)
    return frozenset(found)


@cache
def _advance(kind_name: str, position: Position, target: str) -> Advance:
    if target == position[0]:
        return Advance(Outcome.DUPLICATE)
    path = _shortest(kind_name, position).get(target)
    if path is not None:
        last = path[-1]
        marked = (*path[:-1], Step(last.trigger, last.source, last.dest, False))
        return Advance(Outcome.MOVED, marked)
    if target in _ancestors(kind_name, position[0]):
        return Advance(Outcome.STALE)
    return Advance(Outcome.UNREACHABLE)


def advance(kind: str, current: str, target: str, held_from: str | None = None) -> Advance:
    """The shortest legal path from ``current`` to ``target`` for machine ``kind``.

    Every step but the last is marked catch-up: the marketplace skipped it. A target
    equal to the current state is a duplicate; one behind it is stale; both change
    nothing. A target that is neither reachable nor behind is unreachable.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown machine kind {kind!r}")
    for state in (current, target):
        if state not in KINDS[kind].states:
            raise ValueError(f"{state!r} is not a {kind} state")
    return _advance(kind, (current, held_from if current == ON_HOLD else None), target)


@cache
def rank(kind: str, state: str) -> int:
    """Where ``state`` lies in the flow: orders events of the same time by progress.

    Side states (holds, cancellation, returns, exceptions) rank after the main flow: a
    hold or a cancel reported in the same second as a step forward came after it.
    """
    return KINDS[kind].progress.index(state)
