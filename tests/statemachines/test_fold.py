"""OrderAggregate and fold(): an order and its packages folded from their events."""

from __future__ import annotations

import pytest

from statemachines.aggregate import Result
from tests.statemachines.builders import ORDER_ID, Timeline, changes_of, fold_all, history, package_states

PROVISIONAL = f"{ORDER_ID}-1"


def _allowed_in(error: str | None) -> set[str]:
    assert error is not None
    return set(error.split("allowed: ", 1)[1].split(", "))


# -- statuses and commands ----------------------------------------------------------------


def test_unknown_order_status_is_reported_and_changes_nothing() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    aggregate, _ = t.apply_all()
    before = (aggregate.state, package_states(aggregate), list(aggregate.changes))

    result = aggregate.apply(t.order("WAITING_FOR_GODOT"))

    assert result.outcome == "unknown_status"
    assert "WAITING_FOR_GODOT" in (result.error or "")
    assert (aggregate.state, package_states(aggregate), aggregate.changes) == before


def test_unknown_logistics_status_is_reported_and_creates_no_package() -> None:
    t = Timeline()
    t.order("UNPAID")
    aggregate, _ = t.apply_all()

    result = aggregate.apply(t.package("PN1", "LOGISTICS_TELEPORTED"))

    assert result.outcome == "unknown_status"
    assert "LOGISTICS_TELEPORTED" in (result.error or "")
    assert (aggregate.state, aggregate.packages, aggregate.changes) == ("pending", {}, [])


def test_refused_order_command_names_the_allowed_triggers() -> None:
    t = Timeline()
    aggregate = t.aggregate()

    result = aggregate.apply(t.command("ship"))

    assert result.outcome == "refused"
    assert "ship is not allowed from pending" in (result.error or "")
    assert _allowed_in(result.error) == {"process", "hold", "cancel"}
    assert (aggregate.state, aggregate.changes) == ("pending", [])


def test_refused_command_from_a_hold_names_only_what_that_hold_allows() -> None:
    t = Timeline()
    t.order("PROCESSED")
    t.command("hold")
    aggregate, _ = t.apply_all()

    result = aggregate.apply(t.command("approve"))

    assert result.outcome == "refused"
    assert _allowed_in(result.error) == {"release", "cancel"}
    assert (aggregate.state, aggregate.subject.held_from) == ("on_hold", "ready_to_ship")


def test_refused_package_command_names_the_allowed_triggers() -> None:
    t = Timeline()
    t.package("PN1", "LOGISTICS_NOT_STARTED")
    aggregate, _ = t.apply_all()

    result = aggregate.apply(t.command("pick_up", package="PN1"))

    assert result.outcome == "refused"
    assert _allowed_in(result.error) == {"process", "hold", "cancel"}
    assert package_states(aggregate) == {"PN1": "created"}


def test_command_for_a_package_the_order_does_not_have_is_refused() -> None:
    t = Timeline()
    aggregate = t.aggregate()

    result = aggregate.apply(t.command("cancel", package="PN404"))

    assert result.outcome == "refused"
    assert "PN404" in (result.error or "")


def test_allowed_command_moves_one_step_and_is_not_catch_up() -> None:
    t = Timeline()
    aggregate = t.aggregate()

    result = aggregate.apply(t.command("process"))

    assert result == Result("applied")
    [change] = aggregate.changes
    assert (change.from_state, change.to_state, change.trigger) == ("pending", "processing", "process")
    assert (change.source, change.catch_up, change.event_id) == ("command", False, 1)


def test_status_already_reached_is_a_duplicate() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    aggregate, _ = t.apply_all()
    changes = list(aggregate.changes)

    assert aggregate.apply(t.order("READY_TO_SHIP")).outcome == "duplicate"
    assert aggregate.changes == changes


def test_older_status_applied_late_is_stale_and_changes_nothing() -> None:
    t = Timeline()
    older = t.order("READY_TO_SHIP")
    newer = t.order("SHIPPED")
    aggregate = t.aggregate()
    aggregate.apply(newer)
    changes = list(aggregate.changes)

    result = aggregate.apply(older)

    assert result.outcome == "stale"
    assert (aggregate.state, aggregate.changes) == ("shipped", changes)


def test_cancel_after_shipped_is_unreachable() -> None:
    t = Timeline()
    t.order("SHIPPED")
    aggregate, _ = t.apply_all()

    assert aggregate.apply(t.order("CANCELLED")).outcome == "unreachable"
    assert aggregate.state == "shipped"


def test_fold_follows_marketplace_time_not_arrival_order() -> None:
    t = Timeline()
    t.order("UNPAID")
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_READY")
    t.order("PROCESSED")
    t.package("PN1", "LOGISTICS_PICKUP_DONE")
    t.order("SHIPPED")

    in_order = fold_all(t.made)
    reversed_ = fold_all(reversed(t.made))

    assert reversed_.state == in_order.state == "shipped"
    assert reversed_.changes == in_order.changes


# -- packages follow the order, the order follows its packages -----------------------------


def test_order_reaching_approved_gets_a_provisional_package() -> None:
    t = Timeline()
    t.order("UNPAID")
    t.order("INVOICE_PENDING")
    aggregate, _ = t.apply_all()
    assert aggregate.packages == {}

    aggregate.apply(t.order("READY_TO_SHIP"))

    assert package_states(aggregate) == {PROVISIONAL: "created"}
    assert aggregate.packages[PROVISIONAL].provisional


@pytest.mark.parametrize("status", ["CANCELLED", "IN_CANCEL"])
def test_order_that_never_reached_approved_gets_no_package(status: str) -> None:
    t = Timeline()
    t.order("UNPAID")
    t.order(status)

    assert fold_all(t.made).packages == {}


def test_first_real_package_event_adopts_the_provisional_package() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.command("process", package=PROVISIONAL)
    t.package("PN1", "LOGISTICS_REQUEST_CREATED")

    aggregate = fold_all(t.made)

    assert package_states(aggregate) == {"PN1": "ready_for_pickup"}
    assert not aggregate.packages["PN1"].provisional
    assert aggregate.renamed == {PROVISIONAL: "PN1"}
    # The provisional package's history now belongs to the real one.
    assert history(aggregate, "PN1") == [
        ("created", "processing", "process"),
        ("processing", "ready_for_pickup", "mark_ready"),
    ]
    assert changes_of(aggregate, PROVISIONAL) == []


def test_second_real_package_is_a_package_of_its_own() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_READY")
    t.package("PN2", "LOGISTICS_NOT_STARTED")

    aggregate = fold_all(t.made)

    assert package_states(aggregate) == {"PN1": "processing", "PN2": "created"}
    assert not any(p.provisional for p in aggregate.packages.values())


def test_tracking_number_makes_the_package_ready_for_pickup() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.tracking("PN1", "SPXID0001")

    package = fold_all(t.made).packages["PN1"]

    assert (package.subject.state, package.tracking_number, package.carrier) == (
        "ready_for_pickup",
        "SPXID0001",
        "SPX",
    )


def test_order_ships_only_once_every_package_is_picked_up() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_REQUEST_CREATED")
    t.package("PN2", "LOGISTICS_REQUEST_CREATED")
    t.package("PN1", "LOGISTICS_PICKUP_DONE")
    aggregate, _ = t.apply_all()
    assert aggregate.state == "approved"

    aggregate.apply(t.package("PN2", "LOGISTICS_PICKUP_DONE"))

    assert aggregate.state == "shipped"
    assert [(c.to_state, c.catch_up) for c in changes_of(aggregate)][-4:] == [
        ("picking", True),
        ("packing", True),
        ("ready_to_ship", True),
        ("shipped", False),
    ]


def test_a_package_beyond_pickup_counts_as_shipped_but_not_delivered() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_READY")
    t.package("PN2", "LOGISTICS_DELIVERY_DONE")
    aggregate, _ = t.apply_all()
    assert aggregate.state == "approved"

    aggregate.apply(t.package("PN1", "LOGISTICS_PICKUP_DONE"))

    assert (aggregate.state, package_states(aggregate)) == (
        "shipped",
        {"PN1": "picked_up", "PN2": "delivered"},
    )


def test_order_is_delivered_once_every_package_is_delivered() -> None:
    t = Timeline()
    t.order("SHIPPED")
    t.package("PN1", "LOGISTICS_PICKUP_DONE")
    t.package("PN2", "LOGISTICS_PICKUP_DONE")
    t.package("PN1", "LOGISTICS_DELIVERY_DONE")
    aggregate, _ = t.apply_all()
    assert aggregate.state == "shipped"

    aggregate.apply(t.package("PN2", "LOGISTICS_DELIVERY_DONE"))

    assert aggregate.state == "delivered"


def test_cancelled_packages_do_not_hold_the_order_back() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_READY")
    t.package("PN2", "LOGISTICS_READY")
    t.package("PN1", "LOGISTICS_REQUEST_CANCELED")
    t.package("PN2", "LOGISTICS_PICKUP_DONE")
    aggregate, _ = t.apply_all()
    assert aggregate.state == "shipped"

    aggregate.apply(t.package("PN2", "LOGISTICS_DELIVERY_DONE"))

    assert (aggregate.state, package_states(aggregate)) == (
        "delivered",
        {"PN1": "cancelled", "PN2": "delivered"},
    )


def test_order_whose_every_package_is_cancelled_stays_where_it_is() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.package("PN1", "LOGISTICS_REQUEST_CANCELED")

    aggregate = fold_all(t.made)

    assert (aggregate.state, package_states(aggregate)) == ("approved", {"PN1": "cancelled"})


@pytest.mark.parametrize("cancel", ["command", "push"])
def test_cancelling_the_order_cancels_packages_not_yet_picked_up(cancel: str) -> None:
    t = Timeline()
    t.order("PROCESSED")
    t.package("PN1", "LOGISTICS_REQUEST_CREATED")
    t.package("PN2", "LOGISTICS_REQUEST_CREATED")
    t.package("PN3", "LOGISTICS_NOT_STARTED")
    t.command("hold", package="PN3")
    t.package("PN1", "LOGISTICS_PICKUP_DONE")
    aggregate, _ = t.apply_all()
    assert aggregate.state == "ready_to_ship"

    result = aggregate.apply(t.command("cancel") if cancel == "command" else t.order("CANCELLED"))

    assert result.outcome == "applied"
    assert aggregate.state == "cancelled"
    assert package_states(aggregate) == {"PN1": "picked_up", "PN2": "cancelled", "PN3": "cancelled"}


def test_cancelling_an_approved_order_cancels_its_provisional_package() -> None:
    t = Timeline()
    t.order("READY_TO_SHIP")
    t.order("CANCELLED")

    assert package_states(fold_all(t.made)) == {PROVISIONAL: "cancelled"}


def test_coupang_order_follows_its_least_advanced_box() -> None:
    t = Timeline(platform="coupang")
    for box in ("B1", "B2"):
        t.order("INSTRUCT", package=box)
    t.order("DEPARTURE", package="B1")
    t.order("DELIVERING", package="B1")
    aggregate, _ = t.apply_all()
    assert (aggregate.state, package_states(aggregate)) == (
        "approved",
        {"B1": "in_transit", "B2": "processing"},
    )

    aggregate.apply(t.order("DELIVERING", package="B2"))

    assert (aggregate.state, package_states(aggregate)) == (
        "shipped",
        {"B1": "in_transit", "B2": "in_transit"},
    )
