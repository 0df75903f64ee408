"""The order and package machines against the contract's table, pair by pair."""

from __future__ import annotations

import pytest

from statemachines.machines import KINDS, ON_HOLD, Kind, Subject
from tests.statemachines import contract_tables as contract


def _cases(name: str) -> list[pytest.ParameterSet]:
    machine = contract.MACHINES[name]
    cases = []
    for state, held_from in machine.positions():
        where = f"{state}<{held_from}" if held_from else state
        for trigger in machine.triggers:
            expected = machine.dest(state, trigger, held_from)
            cases.append(pytest.param(state, held_from, trigger, expected, id=f"{where}-{trigger}"))
    return cases


def _assert_fires_as_the_contract_says(
    kind: Kind, state: str, held_from: str | None, trigger: str, expected: str | None
) -> None:
    subject = Subject(state, held_from)

    fired = kind.fire(subject, trigger)

    if expected is None:
        assert fired is False
        assert (subject.state, subject.held_from) == (state, held_from)
        return
    assert fired is True
    assert subject.state == expected
    # A hold remembers where it began; leaving on_hold forgets it.
    assert subject.held_from == (state if expected == ON_HOLD else None)


@pytest.mark.parametrize(("state", "held_from", "trigger", "expected"), _cases("order"))
def test_order_trigger_goes_where_the_contract_says_or_is_refused(
    state: str, held_from: str | None, trigger: str, expected: str | None
) -> None:
    _assert_fires_as_the_contract_says(KINDS["order"], state, held_from, trigger, expected)


@pytest.mark.parametrize(("state", "held_from", "trigger", "expected"), _cases("package"))
def test_package_trigger_goes_where_the_contract_says_or_is_refused(
    state: str, held_from: str | None, trigger: str, expected: str | None
) -> None:
    _assert_fires_as_the_contract_says(KINDS["package"], state, held_from, trigger, expected)


@pytest.mark.parametrize("name", ["order", "package"])
def test_machine_has_exactly_the_contract_states_and_triggers(name: str) -> None:
    kind, machine = KINDS[name], contract.MACHINES[name]

    assert kind.states == machine.states
    assert kind.triggers == machine.triggers
    assert kind.initial == machine.initial
    assert set(kind.machine.states) == set(machine.states)
    assert set(kind.machine.events) == set(machine.triggers)


def test_final_and_exception_states_are_the_contract_ones() -> None:
    assert KINDS["order"].final == contract.ORDER_FINAL
    assert KINDS["package"].final == contract.PACKAGE_FINAL
    assert KINDS["package"].exceptions == contract.PACKAGE_EXCEPTIONS


@pytest.mark.parametrize("name", ["order", "package"])
def test_nothing_leaves_a_final_state_but_a_return_of_a_delivered_order(name: str) -> None:
    kind = KINDS[name]
    for state in kind.final:
        allowed = kind.allowed(Subject(state))

        assert allowed == (["request_return"] if (name, state) == ("order", "delivered") else [])


@pytest.mark.parametrize(
    ("held_from", "back_to"),
    [
        ("pending", "processing"),
        ("processing", "processing"),
        ("approved", "approved"),
        ("picking", "picking"),
        ("packing", "packing"),
        ("ready_to_ship", "ready_to_ship"),
    ],
)
def test_order_release_returns_where_the_hold_began(held_from: str, back_to: str) -> None:
    order = KINDS["order"]
    subject = Subject(held_from)

    assert order.fire(subject, "hold")
    assert (subject.state, subject.held_from) == (ON_HOLD, held_from)
    assert order.fire(subject, "release")

    assert (subject.state, subject.held_from) == (back_to, None)


@pytest.mark.parametrize(
    ("held_from", "back_to"),
    [("created", "processing"), ("processing", "processing"), ("ready_for_pickup", "ready_for_pickup")],
)
def test_package_release_returns_where_the_hold_began(held_from: str, back_to: str) -> None:
    package = KINDS["package"]
    subject = Subject(held_from)

    assert package.fire(subject, "hold")
    assert package.fire(subject, "release")

    assert (subject.state, subject.held_from) == (back_to, None)


@pytest.mark.parametrize("held_from", contract.ORDER_HOLDABLE)
def test_order_on_hold_is_approved_only_when_held_early(held_from: str) -> None:
    subject = Subject(ON_HOLD, held_from)

    approved = KINDS["order"].fire(subject, "approve")

    assert approved is (held_from in ("pending", "processing"))
    assert subject.state == ("approved" if approved else ON_HOLD)


@pytest.mark.parametrize("held_from", contract.PACKAGE_HOLDABLE)
def test_package_on_hold_is_made_ready_only_when_held_early(held_from: str) -> None:
    subject = Subject(ON_HOLD, held_from)

    ready = KINDS["package"].fire(subject, "mark_ready")

    assert ready is (held_from in ("created", "processing"))
    assert subject.state == ("ready_for_pickup" if ready else ON_HOLD)


def test_unknown_trigger_is_refused() -> None:
    subject = Subject("pending")

    assert KINDS["order"].fire(subject, "teleport") is False
    assert subject.state == "pending"


@pytest.mark.parametrize("name", ["order", "package"])
def test_allowed_agrees_with_fire_in_every_state(name: str) -> None:
    kind, machine = KINDS[name], contract.MACHINES[name]
    for state, held_from in machine.positions():
        allowed = kind.allowed(Subject(state, held_from))
        fires = [t for t in kind.triggers if kind.fire(Subject(state, held_from), t)]

        assert sorted(allowed) == sorted(fires), (state, held_from)
        assert len(allowed) == len(set(allowed)), (state, held_from)
        assert set(allowed) == set(machine.moves(state, held_from)), (state, held_from)


def test_one_shared_machine_drives_a_thousand_orders() -> None:
    order = KINDS["order"]
    machine = order.machine
    walk = ["process", "approve", "start_picking", "pack", "mark_ready", "ship", "deliver"]
    subjects = [Subject("pending") for _ in range(1000)]

    for i, subject in enumerate(subjects):
        for trigger in walk[: i % (len(walk) + 1)]:
            assert order.fire(subject, trigger)

    assert order.machine is machine
    assert machine.models == []  # no subject was ever added to the machine
    assert not hasattr(subjects[0], "process")  # no trigger methods bound per model
    expected = [
        "pending",
        "processing",
        "approved",
        "picking",
        "packing",
        "ready_to_ship",
        "shipped",
        "delivered",
    ]
    assert [s.state for s in subjects] == [expected[i % len(expected)] for i in range(1000)]


def test_holds_of_different_subjects_do_not_leak_into_each_other() -> None:
    order = KINDS["order"]
    early, late = Subject("pending"), Subject("packing")

    assert order.fire(early, "hold")
    assert order.fire(late, "hold")
    assert order.fire(early, "release")
    assert order.fire(late, "release")

    assert (early.state, late.state) == ("processing", "packing")


def test_delivery_failed_counts_attempts() -> None:
    package = KINDS["package"]
    subject = Subject("out_for_delivery")

    assert package.fire(subject, "fail_delivery")
    assert subject.attempts == 1
    assert package.fire(subject, "dispatch")
    assert subject.attempts == 1
    assert package.fire(subject, "fail_delivery")
    assert package.fire(subject, "return_to_sender")

    assert (subject.state, subject.attempts) == ("returned_to_sender", 2)


def test_refused_trigger_counts_no_attempt() -> None:
    subject = Subject("in_transit")

    assert KINDS["package"].fire(subject, "fail_delivery") is False

    assert subject.attempts == 0
