"""The Coupang actions a fold calls for: one invoice upload per box and tracking number,
whichever comes first of the number and ready_to_ship; no booking, no tracking poll."""

from __future__ import annotations

import pytest

from tests.statemachines.builders import Timeline, actions_of, fold_all

STEPS = ["start_picking", "pack", "mark_ready"]


def invoice_keys_fold_by_fold(t: Timeline) -> set[str]:
    """Apply the events one ingest at a time (each fold sees only its own changes, as when the
    order is loaded from its rows), and collect the keys of every upload_invoice written."""
    aggregate = t.aggregate()
    keys: set[str] = set()
    for item in t.made:
        aggregate.changes = []
        aggregate.apply(item)
        keys |= {a.key for a in aggregate.actions() if a.kind == "upload_invoice"}
    return keys


@pytest.mark.parametrize("position", range(len(STEPS) + 1))
def test_one_invoice_upload_whenever_the_number_comes(position: int) -> None:
    t = Timeline(platform="coupang")
    t.order("INSTRUCT", package="640001")
    for i, step in enumerate(STEPS):
        if i == position:
            t.tracking("640001", "340010913442", carrier="CJGLS")
        t.command(step)
    if position == len(STEPS):
        t.tracking("640001", "340010913442", carrier="CJGLS")

    keys = invoice_keys_fold_by_fold(t)

    assert keys == {f"upload_invoice:coupang:{t.order_id}:640001:340010913442"}
    assert actions_of(fold_all(t.made, "coupang"), "arrange_shipment") == []


def test_each_box_with_a_number_gets_its_own_upload() -> None:
    t = Timeline(platform="coupang")
    t.order("INSTRUCT", package="640001")
    t.order("INSTRUCT", package="640002")
    t.tracking("640001", "111")
    for step in STEPS:
        t.command(step)
    t.tracking("640002", "222")

    keys = {a.key.rsplit(":", 2)[-2] for a in actions_of(fold_all(t.made, "coupang"), "upload_invoice")}

    assert keys == {"640001", "640002"}


def test_a_box_dispatched_in_wing_is_not_uploaded_again() -> None:
    t = Timeline(platform="coupang")
    t.order("INSTRUCT", package="640001")
    for step in STEPS:
        t.command(step)
    t.order("DEPARTURE", source="poll", package="640001")
    t.tracking("640001", "340010913442")

    assert actions_of(fold_all(t.made, "coupang"), "upload_invoice") == []


def test_no_upload_before_ready_to_ship_and_no_tracking_poll_for_coupang() -> None:
    t = Timeline(platform="coupang")
    t.order("INSTRUCT", package="640001")
    t.tracking("640001", "340010913442")
    assert actions_of(fold_all(t.made, "coupang"), "upload_invoice") == []
    t.order("DELIVERING", source="poll", package="640001")
    assert actions_of(fold_all(t.made, "coupang"), "start_tracking") == []
