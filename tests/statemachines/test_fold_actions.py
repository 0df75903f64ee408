"""The actions a fold calls for: alerts, arranging shipment, acknowledging, tracking."""

from __future__ import annotations

import pytest

from tests.statemachines.builders import Timeline, actions_of, changes_of, fold_all


@pytest.mark.parametrize(
    ("statuses", "state"),
    [
        (["READY_TO_SHIP", "IN_CANCEL"], "on_hold"),
        (["PROCESSED", "RETRY_SHIP"], "ready_to_ship"),  # a duplicate target still alerts
        (["SHIPPED", "TO_RETURN"], "returning"),
    ],
)
def test_alert_flag_on_an_order_status_raises_an_alert(statuses: list[str], state: str) -> None:
    t = Timeline()
    for status in statuses:
        t.order(status)

    alerts = actions_of(fold_all(t.made), "alert")

    assert alerts
    assert {(a.package_id, a.state, a.event_id) for a in alerts} == {(None, state, 2)}
    assert statuses[-1] in {a.reason for a in alerts}


def test_in_cancel_raises_exactly_one_alert() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.order("IN_CANCEL")

    assert len(actions_of(fold_all(t.made), "alert")) == 1


def test_alert_flag_on_a_logistics_status_raises_exactly_one_package_alert() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_REQUEST_CREATED")
    t.package("PN1", "LOGISTICS_PICKUP_FAILED")

    [alert] = actions_of(fold_all(t.made), "alert")

    assert (alert.package_id, alert.state, alert.event_id) == ("PN1", "cancelled", 3)
    assert alert.reason == "LOGISTICS_PICKUP_FAILED"


@pytest.mark.parametrize(
    ("before", "status", "state", "alerts"),
    [
        # Shopee's data definitions: each is the order cancelled, not an attempt to retry.
        ("LOGISTICS_READY", "LOGISTICS_INVALID", "cancelled", 0),
        ("LOGISTICS_REQUEST_CREATED", "LOGISTICS_REQUEST_CANCELED", "cancelled", 0),
        ("LOGISTICS_REQUEST_CREATED", "LOGISTICS_PICKUP_FAILED", "cancelled", 1),
        ("LOGISTICS_PICKUP_DONE", "LOGISTICS_DELIVERY_FAILED", "returned_to_sender", 1),
        ("LOGISTICS_PICKUP_DONE", "LOGISTICS_LOST", "lost", 1),
    ],
)
def test_a_logistics_status_that_says_the_order_was_cancelled_ends_the_package(
    before: str, status: str, state: str, alerts: int
) -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", before)
    t.package("PN1", status)
    t.order("CANCELLED")

    aggregate = fold_all(t.made)

    assert aggregate.packages["PN1"].subject.state == state
    assert len([a for a in actions_of(aggregate, "alert") if a.package_id == "PN1"]) == alerts
    if state == "cancelled":
        assert aggregate.state == "cancelled"


def test_alert_no_longer_relevant_at_the_end_of_the_fold_is_dropped() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.order("IN_CANCEL")
    t.order("READY_TO_SHIP")  # the buyer withdrew the cancellation request

    aggregate = fold_all(t.made)

    assert (aggregate.state, actions_of(aggregate, "alert")) == ("approved", [])


def test_marketplace_jump_to_ready_to_ship_arranges_no_shipment() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.order("PROCESSED")

    aggregate = fold_all(t.made)

    assert aggregate.state == "ready_to_ship"
    assert [c.catch_up for c in changes_of(aggregate)][-3:] == [True, True, False]
    assert actions_of(aggregate, "arrange_shipment") == []


def test_catch_up_through_ready_to_ship_arranges_no_shipment() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_REQUEST_CREATED")
    t.command("pick_up", package="PN1")  # the order catches up through ready_to_ship

    aggregate = fold_all(t.made)

    assert aggregate.state == "shipped"
    assert ("ready_to_ship", "command", True) in {
        (c.to_state, c.source, c.catch_up) for c in changes_of(aggregate)
    }
    assert actions_of(aggregate, "arrange_shipment") == []


def test_command_driven_mark_ready_arranges_shipment_once() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.command("start_picking")
    t.command("pack")
    t.command("mark_ready")

    aggregate = fold_all(t.made)

    assert aggregate.state == "ready_to_ship"
    [arrange] = actions_of(aggregate, "arrange_shipment")
    assert (arrange.package_id, arrange.state, arrange.event_id) == (None, "ready_to_ship", 4)


def test_shipment_already_shipped_needs_no_arranging() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.command("start_picking")
    t.command("pack")
    t.command("mark_ready")
    t.order("SHIPPED")

    assert actions_of(fold_all(t.made), "arrange_shipment") == []


def test_coupang_acceptance_is_acknowledged_but_not_when_caught_up_over() -> None:
    accepted = Timeline(platform="coupang")
    accepted.order("ACCEPT")
    instructed = Timeline(platform="coupang")
    instructed.order("INSTRUCT")

    assert [a.state for a in actions_of(fold_all(accepted.made, "coupang"), "acknowledge")] == ["processing"]
    assert actions_of(fold_all(instructed.made, "coupang"), "acknowledge") == []


def test_picked_up_package_starts_tracking() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_PICKUP_DONE")

    [tracking] = actions_of(fold_all(t.made), "start_tracking")

    assert (tracking.package_id, tracking.state) == ("PN1", "picked_up")
