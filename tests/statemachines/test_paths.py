"""advance(): the shortest legal path to the state a marketplace status names."""

from __future__ import annotations

import pytest

from statemachines import maps
from statemachines.maps import Target
from statemachines.paths import Advance, Outcome, Step, advance, rank
from statemachines.timeline import sort_key
from tests.factories import order_event
from tests.statemachines import contract_tables as contract

ORDER_FLOW = (
    "pending",
    "processing",
    "approved",
    "picking",
    "packing",
    "ready_to_ship",
    "shipped",
    "delivered",
)


def _triggers(steps: tuple[Step, ...]) -> list[str]:
    return [step.trigger for step in steps]


def test_shortest_path_fires_every_skipped_trigger() -> None:
    plan = advance("order", "pending", "shipped")

    assert plan.outcome is Outcome.MOVED
    assert _triggers(plan.steps) == ["process", "approve", "start_picking", "pack", "mark_ready", "ship"]


def test_all_but_the_last_step_are_catch_up() -> None:
    plan = advance("order", "pending", "shipped")

    assert [step.catch_up for step in plan.steps] == [True] * 5 + [False]


def test_a_single_step_is_not_catch_up() -> None:
    plan = advance("order", "processing", "approved")

    assert plan.steps == (Step("approve", "processing", "approved", False),)


def test_package_path_takes_a_shortest_route_to_delivered() -> None:
    plan = advance("package", "picked_up", "delivered")

    assert plan.outcome is Outcome.MOVED
    assert len(plan.steps) == 2
    assert plan.steps[0].dest in ("in_transit", "out_for_delivery")
    assert plan.steps[-1] == Step("deliver", plan.steps[0].dest, "delivered", False)


def test_delivery_failed_catches_up_through_another_attempt() -> None:
    plan = advance("package", "delivery_failed", "delivered")

    assert _triggers(plan.steps) == ["dispatch", "deliver"]
    assert [step.catch_up for step in plan.steps] == [True, False]


@pytest.mark.parametrize(
    ("kind", "state"),
    [("order", s) for s in contract.ORDER_STATES if s != "on_hold"]
    + [("package", s) for s in contract.PACKAGE_STATES if s != "on_hold"],
)
def test_target_equal_to_the_current_state_is_a_duplicate(kind: str, state: str) -> None:
    assert advance(kind, state, state) == Advance(Outcome.DUPLICATE, ())


def test_on_hold_again_is_a_duplicate_wherever_the_hold_began() -> None:
    plan = advance("order", "on_hold", "on_hold", held_from="packing")

    assert (plan.outcome, plan.steps) == (Outcome.DUPLICATE, ())


@pytest.mark.parametrize(
    ("kind", "current", "target", "held_from"),
    [
        ("order", "shipped", "approved", None),
        ("order", "delivered", "shipped", None),
        ("order", "shipped", "pending", None),
        ("order", "cancelled", "processing", None),
        ("order", "returned", "delivered", None),
        ("order", "shipped", "on_hold", None),
        ("order", "on_hold", "approved", "picking"),
        ("order", "on_hold", "processing", "approved"),
        ("package", "delivered", "in_transit", None),
        ("package", "ready_for_pickup", "processing", None),
        ("package", "cancelled", "created", None),
    ],
)
def test_target_behind_the_current_state_is_stale(
    kind: str, current: str, target: str, held_from: str | None
) -> None:
    plan = advance(kind, current, target, held_from)

    assert (plan.outcome, plan.steps) == (Outcome.STALE, ())


@pytest.mark.parametrize(
    ("kind", "current", "target"),
    [
        ("order", "shipped", "cancelled"),
        ("order", "delivered", "cancelled"),
        ("order", "rejected", "approved"),
        ("order", "cancelled", "shipped"),
        ("package", "picked_up", "cancelled"),
        ("package", "lost", "delivered"),
        ("package", "delivered", "lost"),
    ],
)
def test_target_neither_reachable_nor_behind_is_unreachable(kind: str, current: str, target: str) -> None:
    plan = advance(kind, current, target)

    assert (plan.outcome, plan.steps) == (Outcome.UNREACHABLE, ())


def test_hold_from_picking_is_released_back_to_picking_on_the_way_forward() -> None:
    plan = advance("order", "on_hold", "ready_to_ship", held_from="picking")

    assert plan.steps == (
        Step("release", "on_hold", "picking", True),
        Step("pack", "picking", "packing", True),
        Step("mark_ready", "packing", "ready_to_ship", False),
    )


def test_early_hold_is_approved_directly() -> None:
    plan = advance("order", "on_hold", "approved", held_from="pending")

    assert plan.steps == (Step("approve", "on_hold", "approved", False),)


def test_package_held_at_pickup_is_released_then_picked_up() -> None:
    plan = advance("package", "on_hold", "picked_up", held_from="ready_for_pickup")

    assert _triggers(plan.steps) == ["release", "pick_up"]
    assert plan.steps[0].dest == "ready_for_pickup"


def test_held_from_is_ignored_off_hold() -> None:
    plan = advance("order", "approved", "picking", held_from="packing")

    assert plan == advance("order", "approved", "picking")


def _position_cases(name: str) -> list[pytest.ParameterSet]:
    machine = contract.MACHINES[name]
    return [
        pytest.param(name, state, held, target, id=f"{state}<{held}>-{target}")
        for state, held in machine.positions()
        for target in machine.states
        if target != state
    ]


@pytest.mark.parametrize(
    ("name", "current", "held_from", "target"), _position_cases("order") + _position_cases("package")
)
def test_every_pair_has_the_outcome_and_length_of_a_hand_search(
    name: str, current: str, held_from: str | None, target: str
) -> None:
    machine = contract.MACHINES[name]
    distance = machine.distances(current, held_from).get(target)

    plan = advance(name, current, target, held_from)

    if distance is not None:
        assert plan.outcome is Outcome.MOVED
        assert len(plan.steps) == distance
        here, held = current, held_from
        for step in plan.steps:
            assert step.source == here
            assert machine.dest(here, step.trigger, held) == step.dest
            here, held = step.dest, (here if step.dest == "on_hold" else None)
        assert here == target
        assert [s.catch_up for s in plan.steps] == [True] * (distance - 1) + [False]
    elif machine.behind(target, current):
        assert (plan.outcome, plan.steps) == (Outcome.STALE, ())
    else:
        assert (plan.outcome, plan.steps) == (Outcome.UNREACHABLE, ())


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown machine kind 'invoice'"):
        advance("invoice", "pending", "processing")


def test_unknown_target_state_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'teleported' is not a order state"):
        advance("order", "pending", "teleported")


def test_package_state_is_not_an_order_target() -> None:
    with pytest.raises(ValueError):
        advance("order", "pending", "in_transit")


def test_unknown_current_state_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        advance("order", "teleported", "pending")


def test_rank_grows_along_the_seed_flow() -> None:
    ranks = [rank("order", state) for state in ORDER_FLOW]

    assert ranks == list(range(len(ORDER_FLOW)))


# -- marketplace statuses → target states: the contract's tables, written out by hand ---

SHOPEE_ORDER = {
    "UNPAID": ("pending", False),
    "READY_TO_SHIP": ("approved", False),
    "PROCESSED": ("ready_to_ship", False),
    "RETRY_SHIP": ("ready_to_ship", True),
    "SHIPPED": ("shipped", False),
    "TO_CONFIRM_RECEIVE": ("delivered", False),
    "COMPLETED": ("delivered", False),
    # Not Shopee's: orderwatch's name for a COMPLETED push with completed_scenario RRAOC, a
    # return and refund raised after completion (handlers/shopee/push.py).
    "COMPLETED_RRAOC": ("returning", True),
    "IN_CANCEL": ("on_hold", True),
    "CANCELLED": ("cancelled", False),
    "TO_RETURN": ("returning", True),
    "INVOICE_PENDING": ("processing", False),
}
COUPANG_ORDER = {
    "ACCEPT": ("processing", False),
    "INSTRUCT": ("approved", False),
    "DEPARTURE": ("ready_to_ship", False),
    "DELIVERING": ("shipped", False),
    "FINAL_DELIVERY": ("delivered", False),
    "NONE_TRACKING": ("shipped", False),
}
SHOPEE_PACKAGE = {
    "LOGISTICS_NOT_STARTED": ("created", False),
    "LOGISTICS_PENDING_ARRANGE": ("processing", False),
    "LOGISTICS_READY": ("processing", False),
    "LOGISTICS_REQUEST_CREATED": ("ready_for_pickup", False),
    "LOGISTICS_PICKUP_DONE": ("picked_up", False),
    "LOGISTICS_PICKUP_RETRY": ("on_hold", False),
    # Shopee's data definitions: "order cancelled by 3PL due to failed pickup ...", "order
    # cancelled due to 3PL delivery failed", "order cancelled when order at LOGISTICS_READY";
    # not retryable, unlike the contract's first table (statemachines/maps.py says why).
    "LOGISTICS_PICKUP_FAILED": ("cancelled", True),
    "LOGISTICS_DELIVERY_DONE": ("delivered", False),
    "LOGISTICS_DELIVERY_FAILED": ("returned_to_sender", False),
    "LOGISTICS_REQUEST_CANCELED": ("cancelled", False),
    "LOGISTICS_LOST": ("lost", False),
    "LOGISTICS_COD_REJECTED": ("on_hold", True),
    "LOGISTICS_INVALID": ("cancelled", False),
}


@pytest.mark.parametrize(
    ("platform", "status", "expected"),
    [("shopee", s, e) for s, e in SHOPEE_ORDER.items()]
    + [("coupang", s, e) for s, e in COUPANG_ORDER.items()],
)
def test_order_status_names_the_contract_target(
    platform: str, status: str, expected: tuple[str, bool]
) -> None:
    assert maps.order_target(platform, status) == Target(*expected)


@pytest.mark.parametrize(("status", "expected"), SHOPEE_PACKAGE.items())
def test_shopee_logistics_status_names_the_contract_target(status: str, expected: tuple[str, bool]) -> None:
    assert maps.package_target("shopee", status) == Target(*expected)


def test_maps_hold_no_status_the_contract_does_not_name() -> None:
    assert set(maps.SHOPEE_ORDER) == set(SHOPEE_ORDER)
    assert set(maps.COUPANG_ORDER) == set(COUPANG_ORDER)
    # Beside the contract's LOGISTICS_NOT_STARTED, the spelling of Shopee's own data
    # definition (docs/platforms.md), naming the same state.
    assert set(maps.SHOPEE_PACKAGE) == set(SHOPEE_PACKAGE) | {"LOGISTICS_NOT_START"}
    assert maps.SHOPEE_PACKAGE["LOGISTICS_NOT_START"] == maps.SHOPEE_PACKAGE["LOGISTICS_NOT_STARTED"]


def test_two_statuses_of_one_state_in_the_same_second_apply_in_the_marketplaces_flow_order() -> None:
    received = order_event("O1", "TO_CONFIRM_RECEIVE", 5)
    completed = order_event("O1", "COMPLETED", 5)
    assert sort_key(received) < sort_key(completed)


def test_coupang_box_statuses_name_package_states() -> None:
    # The contract maps Coupang statuses to order states only; the box targets are the
    # code's reading, so only their shape is checked: every order status names a box state.
    assert set(maps.COUPANG_PACKAGE) == set(COUPANG_ORDER)
    assert all(t.state in contract.PACKAGE_STATES and not t.alert for t in maps.COUPANG_PACKAGE.values())


@pytest.mark.parametrize(
    ("platform", "status"), [("shopee", "NOT_A_STATUS"), ("lazada", "UNPAID"), ("coupang", "UNPAID")]
)
def test_unknown_status_names_no_target(platform: str, status: str) -> None:
    assert maps.order_target(platform, status) is None
    assert maps.package_target(platform, status) is None
