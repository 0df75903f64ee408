"""Property tests: any arrival order of an order's events folds to the same order.

A *life* is a plausible, in-order stream of one Shopee order's events: order statuses
along the flow (some skipped, as missed pushes are), logistics statuses and tracking
numbers of one or two packages, maybe a cancellation. The journal keeps each dedupe key
once, numbering events as they arrive; :func:`statemachines.aggregate.fold` then sorts
them by marketplace time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines.aggregate import OrderAggregate, Result, fold
from statemachines.events import Event, EventKind
from statemachines.timeline import Journaled, sort_key
from tests.statemachines import contract_tables as contract
from tests.statemachines.builders import ORDER_ID, SHOP_ID, T0

EXAMPLES = settings(max_examples=1000, deadline=None)

TRACKING = "TRACKING_NUMBER"
# (order status, logistics statuses of each package in the same stretch of the flow)
FLOW: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("UNPAID", ()),
    ("INVOICE_PENDING", ()),
    ("READY_TO_SHIP", ("LOGISTICS_NOT_STARTED", "LOGISTICS_READY")),
    ("PROCESSED", ("LOGISTICS_REQUEST_CREATED", TRACKING)),
    ("RETRY_SHIP", ()),
    ("SHIPPED", ("LOGISTICS_PICKUP_DONE",)),
    ("TO_CONFIRM_RECEIVE", ("LOGISTICS_DELIVERY_DONE",)),
    ("COMPLETED", ()),
    ("TO_RETURN", ()),
)
SHIPPED_AT = 5  # a cancellation can only come before SHIPPED
CANCELLATION = (("IN_CANCEL", ()), ("CANCELLED", ("LOGISTICS_REQUEST_CANCELED",)))

Item = tuple[str | None, str]  # (package number or None for the order, status)


# Strategies built once: hypothesis validates each new strategy object, which cost more
# than the draws themselves when ``lives`` built them anew for every example.
PACKAGE_COUNT = st.integers(0, 2)
CANCEL_AFTER = st.none() | st.integers(0, SHIPPED_AT - 1)
FLOW_LENGTH = st.integers(1, len(FLOW))
GAP = st.sampled_from([0, 1, 1, 7, 60, 3600])


def _stretch(
    draw: st.DrawFn, order_status: str, package_statuses: tuple[str, ...], packages: Sequence[str]
) -> list[Item]:
    """One stretch of the flow: some of its events, each package's in its own order."""
    lanes: list[list[Item]] = []
    if draw(st.booleans()):
        lanes.append([(None, order_status)])
    for package in packages:
        lane: list[Item] = [(package, status) for status in package_statuses if draw(st.booleans())]
        if lane:
            lanes.append(lane)
    merged: list[Item] = []
    while lanes:
        lane = lanes[draw(st.integers(0, len(lanes) - 1))]  # st.integers is cached by its bounds
        merged.append(lane.pop(0))
        if not lane:
            lanes.remove(lane)
    return merged


def _event(item: Item, at: int, key: int) -> Event:
    package, status = item
    kind = EventKind.PACKAGE_STATUS
    if package is None:
        kind = EventKind.ORDER_STATUS
    elif status == TRACKING:
        kind = EventKind.TRACKING_NUMBER
    return Event(
        "shopee",
        SHOP_ID,
        ORDER_ID,
        kind,
        status,
        T0 + timedelta(seconds=at),
        f"shopee:{key:04d}",
        package_id=package,
        tracking_number=f"SPX{package}" if kind is EventKind.TRACKING_NUMBER else None,
        carrier="SPX" if kind is EventKind.TRACKING_NUMBER else None,
    )


@st.composite
def lives(draw: st.DrawFn, holds_share_a_second: bool = True) -> list[Event]:
    """A plausible in-order stream of one order's marketplace events.

    ``holds_share_a_second=False`` keeps an IN_CANCEL a second or more after the event
    before it (see test_in_cancel_in_the_same_second_as_processed_holds_the_order).
    """
    packages = [f"PN{n}" for n in range(1, draw(PACKAGE_COUNT) + 1)]
    cancel_after = draw(CANCEL_AFTER)
    stretches = FLOW[: draw(FLOW_LENGTH)] if cancel_after is None else FLOW[: cancel_after + 1] + CANCELLATION
    items = [item for status, logistics in stretches for item in _stretch(draw, status, logistics, packages)]
    if not items:
        items = [(None, "UNPAID")]
    # Strictly increasing times, sometimes equal (Shopee reports whole seconds).
    gaps = [draw(GAP) for _ in items]
    if not holds_share_a_second:
        gaps = [
            max(gap, 1) if item == (None, "IN_CANCEL") else gap for gap, item in zip(gaps, items, strict=True)
        ]
    # Dedupe keys unrelated to the flow, so that they break equal-time ties arbitrarily.
    keys = draw(st.permutations(range(len(items))))
    times = [sum(gaps[: i + 1]) for i in range(len(items))]
    return [_event(item, at, key) for item, at, key in zip(items, times, keys, strict=True)]


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """A life, and the same events in any order with any of them delivered again."""
    life = draw(lives())
    again = draw(st.lists(st.sampled_from(life), max_size=len(life)))
    return life, draw(st.permutations(life + again))


def journal(events: Iterable[Event]) -> list[Journaled]:
    """What the journal keeps: each dedupe key once, numbered in arrival order."""
    rows: dict[str, Journaled] = {}
    for event in events:
        if event.dedupe_key not in rows:
            rows[event.dedupe_key] = Journaled(len(rows) + 1, event)
    return list(rows.values())


def outcome(aggregate: OrderAggregate, results: dict[int, Result], rows: list[Journaled]) -> dict[str, Any]:
    """Everything a fold decides, with journal ids replaced by the events' dedupe keys."""
    key = {row.id: row.event.dedupe_key for row in rows}
    return {
        "state": (aggregate.state, aggregate.subject.held_from, aggregate.platform_status),
        "packages": {
            pid: (p.subject.state, p.subject.held_from, p.provisional, p.platform_status, p.tracking_number)
            for pid, p in aggregate.packages.items()
        },
        "history": [
            (
                c.package_id,
                c.from_state,
                c.to_state,
                c.trigger,
                c.at,
                c.source,
                key.get(c.event_id or 0),
                c.catch_up,
            )
            for c in aggregate.changes
        ],
        "results": {key[i]: r for i, r in results.items()},
        "actions": sorted(
            (a.kind, a.package_id, a.state, key.get(a.event_id or 0), a.reason) for a in aggregate.actions()
        ),
        "renamed": aggregate.renamed,
    }


def fold_journal(rows: list[Journaled]) -> dict[str, Any]:
    aggregate, results = fold("shopee", ORDER_ID, SHOP_ID, rows)
    return outcome(aggregate, results, rows)


@EXAMPLES
@given(arrivals())
def test_any_arrival_order_with_duplicates_folds_to_the_same_order(
    case: tuple[list[Event], list[Event]],
) -> None:
    life, arrived = case

    assert fold_journal(journal(arrived)) == fold_journal(journal(life))


@EXAMPLES
@given(arrivals())
def test_applying_events_one_by_one_in_timeline_order_equals_the_fold(
    case: tuple[list[Event], list[Event]],
) -> None:
    rows = journal(case[1])
    aggregate = OrderAggregate("shopee", ORDER_ID, SHOP_ID)

    results = {row.id: aggregate.apply(row) for row in sorted(rows, key=lambda r: sort_key(r.event))}

    assert outcome(aggregate, results, rows) == fold_journal(rows)


@EXAMPLES
@given(arrivals())
def test_live_ingest_applying_on_time_events_and_refolding_late_ones_equals_the_fold(
    case: tuple[list[Event], list[Event]],
) -> None:
    # The ingest's way: an event later than everything applied so far is applied to the
    # aggregate as it stands; an earlier one makes the whole journal fold again.
    rows: list[Journaled] = []
    aggregate = OrderAggregate("shopee", ORDER_ID, SHOP_ID)
    results: dict[int, Result] = {}
    for event in case[1]:
        if any(row.event.dedupe_key == event.dedupe_key for row in rows):
            continue
        row = Journaled(len(rows) + 1, event)
        rows.append(row)
        if sort_key(event) > aggregate.last_key:
            results[row.id] = aggregate.apply(row)
        else:
            aggregate, results = fold("shopee", ORDER_ID, SHOP_ID, rows)

    assert outcome(aggregate, results, rows) == fold_journal(rows)


def _histories(aggregate: OrderAggregate) -> dict[str | None, list[tuple[str, str, str]]]:
    found: dict[str | None, list[tuple[str, str, str]]] = {}
    for change in aggregate.changes:
        found.setdefault(change.package_id, []).append((change.from_state, change.to_state, change.trigger))
    return found


@EXAMPLES
@given(lives(holds_share_a_second=False))
def test_a_forward_only_life_enters_no_state_twice(life: list[Event]) -> None:
    aggregate, _ = fold("shopee", ORDER_ID, SHOP_ID, journal(life))

    for subject, steps in _histories(aggregate).items():
        entered = [to for _, to, _ in steps]
        assert len(entered) == len(set(entered)), (subject, steps)


@EXAMPLES
@given(arrivals())
def test_every_change_is_a_legal_transition_of_the_contract_table(
    case: tuple[list[Event], list[Event]],
) -> None:
    aggregate, _ = fold("shopee", ORDER_ID, SHOP_ID, journal(case[1]))

    for subject, steps in _histories(aggregate).items():
        machine = contract.ORDER if subject is None else contract.PACKAGE
        here, held = machine.initial, None
        for source, dest, trigger in steps:
            assert source == here, (subject, steps)
            assert machine.dest(here, trigger, held) == dest, (subject, steps)
            here, held = dest, (here if dest == contract.ON_HOLD else None)
        final = aggregate.state if subject is None else aggregate.packages[subject].subject.state
        assert here == final


def test_in_cancel_in_the_same_second_as_processed_holds_the_order() -> None:
    at = T0 + timedelta(seconds=1)
    life = [
        _event((None, "READY_TO_SHIP"), 0, 1),
        _event((None, "PROCESSED"), 1, 2),
        _event((None, "IN_CANCEL"), 1, 3),
    ]
    assert life[1].occurred_at == life[2].occurred_at == at

    aggregate, _ = fold("shopee", ORDER_ID, SHOP_ID, journal(life))

    assert aggregate.state == "on_hold"
    assert [to for _, to, _ in _histories(aggregate)[None]].count("approved") == 1
