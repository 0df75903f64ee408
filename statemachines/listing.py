"""The listing machine: a Coupang product's way through Coupang's approval.

Coupang's ``statusName`` names a target state (:data:`COUPANG_STATUS`); the machine moves
along the shortest legal path to it, marking the steps a poll did not see as catch-up,
like the order machine does with marketplace statuses. Unlike an order, a product may go
back: an approved or rejected product that the seller edits is reviewed again. Only
``deleted`` is final. One shared ``transitions`` machine (:data:`LISTING`) drives every
product, built from the table :data:`LISTING_SPECS` by :class:`statemachines.machines.Kind`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cache

from statemachines.machines import Kind, Spec, Subject
from statemachines.maps import Target

LISTING_STATES: tuple[str, ...] = (
    "draft",
    "awaiting_approval",
    "in_review",
    "approved",
    "partially_approved",
    "rejected",
    "deleted",
)
LISTING_TRIGGERS: tuple[str, ...] = (
    "request_approval",
    "start_review",
    "approve",
    "approve_partially",
    "reject",
    "edit",
    "resubmit",
    "delete",
)
_DECIDED = ("approved", "partially_approved", "rejected")
_LIVE = tuple(s for s in LISTING_STATES if s != "deleted")
LISTING_SPECS: tuple[Spec, ...] = (
    Spec("request_approval", ("draft",), "awaiting_approval"),
    Spec("start_review", ("draft", "awaiting_approval"), "in_review"),
    Spec("approve", ("in_review",), "approved"),
    Spec("approve_partially", ("in_review",), "partially_approved"),
    Spec("reject", ("in_review",), "rejected"),
    # The seller edits a decided product: saved as a draft, or sent for review at once.
    Spec("edit", _DECIDED, "draft"),
    Spec("resubmit", _DECIDED, "in_review"),
    Spec("delete", _LIVE, "deleted"),
)
LISTING_FINAL = frozenset({"deleted"})
#: States that open an alert when a product reaches them.
LISTING_EXCEPTIONS = frozenset({"rejected", "partially_approved"})

LISTING = Kind(
    "listing",
    LISTING_STATES,
    LISTING_TRIGGERS,
    LISTING_SPECS,
    "draft",
    LISTING_FINAL,
    LISTING_EXCEPTIONS,
    LISTING_STATES,
)

#: Coupang ``statusName`` → listing state. 임시저장중 ("being saved") is the moment before
#: 임시저장 in Coupang's older product documents (docs/platforms.md).
COUPANG_STATUS: dict[str, Target] = {
    "임시저장중": Target("draft"),
    "임시저장": Target("draft"),
    "승인대기중": Target("awaiting_approval"),
    "심사중": Target("in_review"),
    "승인완료": Target("approved"),
    "부분승인완료": Target("partially_approved", alert=True),
    "승인반려": Target("rejected", alert=True),
    "상품삭제": Target("deleted"),
}


@dataclass(frozen=True)
class ListingStep:
    """One trigger on the way to a target; ``catch_up`` when no poll saw its state."""

    trigger: str
    source: str
    dest: str
    catch_up: bool


@cache
def _paths(current: str) -> dict[str, tuple[ListingStep, ...]]:
    """Shortest step sequences from ``current`` to every reachable state (table order
    breaks ties, so the same inputs always give the same steps)."""
    best: dict[str, tuple[ListingStep, ...]] = {current: ()}
    queue: deque[str] = deque([current])
    while queue:
        here = queue.popleft()
        for spec in LISTING_SPECS:
            if here in spec.sources and spec.dest not in best:
                best[spec.dest] = (*best[here], ListingStep(spec.trigger, here, spec.dest, True))
                queue.append(spec.dest)
    return best


def path_to(current: str, target: str) -> tuple[ListingStep, ...] | None:
    """The steps from ``current`` to ``target`` (empty when already there), every one but
    the last marked catch-up; None when no legal path leads there (out of ``deleted``)."""
    for state in (current, target):
        if state not in LISTING_STATES:
            raise ValueError(f"{state!r} is not a listing state")
    path = _paths(current).get(target)
    if not path:
        return path
    last = path[-1]
    return (*path[:-1], ListingStep(last.trigger, last.source, last.dest, False))


def target_of(status_name: str) -> Target | None:
    """The target a Coupang ``statusName`` names; None for a status we do not know."""
    return COUPANG_STATUS.get(status_name.strip())


def advance(subject: Subject, status_name: str) -> tuple[ListingStep, ...] | None:
    """Move ``subject`` to the state ``status_name`` names through the shared machine.

    Answers the steps fired (empty for a duplicate); None when the status is unknown or
    no legal path leads to it, and then the subject is left as it was.
    """
    target = target_of(status_name)
    if target is None:
        return None
    path = path_to(subject.state, target.state)
    if path is None:
        return None
    for step in path:
        if not LISTING.step(subject, step.trigger):
            raise AssertionError(f"listing table and machine disagree at {step}")
    return path
