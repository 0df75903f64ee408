"""Carrier checkpoints become package events that move the package along, attempts counted."""

from __future__ import annotations

import pytest

from handlers.shopee.tracking import Point, checkpoint_events
from service.db import Database
from service.ingest import ingest
from statemachines.events import EventKind
from statemachines.maps import SHOPEE_PACKAGE
from tests.factories import T0, order_event, package_event
from tests.snapshots import snapshot

START = int(T0.timestamp())


def shipped(db: Database) -> None:
    ingest(
        db,
        [
            order_event("T1", "READY_TO_SHIP", 1),
            order_event("T1", "PROCESSED", 2),
            package_event("T1", "PKG1", "LOGISTICS_REQUEST_CREATED", 3),
            package_event("T1", "PKG1", "LOGISTICS_PICKUP_DONE", 4),
        ],
    )


def package(db: Database) -> tuple[str, int]:
    _, state, _, attempts, *_ = snapshot(db)["packages"][("shopee", "PKG1")]
    return state, attempts


def points(*steps: tuple[int, str, str]) -> list[Point]:
    return [Point(START + at, words, status) for at, words, status in steps]


def test_checkpoints_take_a_parcel_through_a_failed_attempt_to_delivered(db: Database) -> None:
    shipped(db)
    assert package(db) == ("picked_up", 0)
    route = points(
        (10, "Departed sorting centre", "LOGISTICS_PICKUP_DONE"),
        (20, "Out for delivery", "LOGISTICS_PICKUP_DONE"),
        (30, "Delivery attempt failed: nobody home", "DELIVERY_PENDING"),
        (40, "Out for delivery", "LOGISTICS_PICKUP_DONE"),
        (50, "Delivered", "LOGISTICS_DELIVERY_DONE"),
    )
    ingest(db, checkpoint_events("1001", "T1", "PKG1", "picked_up", route[:2]))
    assert package(db)[0] == "out_for_delivery"
    ingest(db, checkpoint_events("1001", "T1", "PKG1", "out_for_delivery", route[2:3]))
    assert package(db) == ("delivery_failed", 1)
    ingest(db, checkpoint_events("1001", "T1", "PKG1", "delivery_failed", route[3:]))
    assert package(db) == ("delivered", 1)
    assert snapshot(db)["orders"][("shopee", "T1")][0] == "delivered"


def test_reading_the_same_checkpoints_again_changes_nothing(db: Database) -> None:
    shipped(db)
    route = points((10, "In transit", "LOGISTICS_PICKUP_DONE"), (20, "Customs clearance in progress", ""))
    ingest(db, checkpoint_events("1001", "T1", "PKG1", "picked_up", route))
    before = snapshot(db)
    answers = ingest(db, checkpoint_events("1001", "T1", "PKG1", "in_transit", route))
    assert {a.outcome for a in answers} <= {"duplicate_event"}
    assert snapshot(db) == before and package(db)[0] == "in_transit"


def test_a_customs_checkpoint_is_recognised_and_keeps_the_parcel_in_transit() -> None:
    [point] = points((5, "Held at customs for inspection", "LOGISTICS_PICKUP_DONE"))
    assert point.customs
    events = checkpoint_events("1001", "T1", "PKG1", "in_transit", [point])
    assert events == []


@pytest.mark.parametrize("status", ["FAILED_DELIVERED", "LOGISTICS_DELIVERY_FAILED"])
def test_a_failed_delivery_is_what_the_status_map_says_not_an_attempt(db: Database, status: str) -> None:
    # Shopee's data definitions: LOGISTICS_DELIVERY_FAILED is "order cancelled due to 3PL
    # delivery failed"; get_tracking_info's sample pairs it with a FAILED_DELIVERED checkpoint.
    shipped(db)
    route = points((10, "Out for delivery", "DELIVERY_PENDING"), (20, "包裹正退回物流中心", status))
    [dispatch, failed] = checkpoint_events("1001", "T1", "PKG1", "picked_up", route)
    assert (dispatch.status, failed.kind, failed.status) == (
        "dispatch",
        EventKind.PACKAGE_STATUS,
        "LOGISTICS_DELIVERY_FAILED",
    )
    ingest(db, [dispatch, failed])
    assert package(db)[0] == SHOPEE_PACKAGE["LOGISTICS_DELIVERY_FAILED"].state != "out_for_delivery"


def test_a_failed_attempt_before_the_parcel_is_out_changes_nothing() -> None:
    route = points((10, "Delivery attempt failed: nobody home", "LOGISTICS_PICKUP_DONE"))
    assert checkpoint_events("1001", "T1", "PKG1", "in_transit", route) == []
