"""Shopee pushes parsed into normalized events: order status (3), tracking number (4), others."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.shopee.push import (
    COMPLETED_RRAOC,
    MAX_KEY,
    MalformedPush,
    order_status_key,
    parse_push,
    tracking_number_key,
)
from statemachines.events import EventKind
from statemachines.maps import Target, order_target
from tests.statemachines.builders import Timeline, actions_of, fold_all

SENT = 1667963317
UPDATED = 1667963316


def status_push(**data: Any) -> dict[str, Any]:
    body = {"ordersn": "2211095TV1XRKN", "status": "READY_TO_SHIP", "update_time": UPDATED}
    body.update(data)
    return {"data": body, "shop_id": 680000123, "code": 3, "timestamp": SENT}


def tracking_push(**data: Any) -> dict[str, Any]:
    # As Shopee sends it (docs/platforms.md): msg_id outside, forder_id inside, no update time.
    body = {
        "ordersn": "2211095TV1XRKN",
        "forder_id": "5867907859180059055",
        "package_number": "OFG221109914227949",
        "tracking_no": "SPXID069148014501",
    }
    body.update(data)
    return {"msg_id": "1ed4ce63", "data": body, "shop_id": 680000123, "code": 4, "timestamp": SENT}


def test_an_order_status_push_is_an_order_status_event_at_its_update_time() -> None:
    push = parse_push(status_push())
    assert (push.code, push.shop_id) == (3, "680000123")
    [event] = push.events
    assert event.platform == "shopee"
    assert event.kind is EventKind.ORDER_STATUS
    assert (event.order_id, event.shop_id, event.status) == ("2211095TV1XRKN", "680000123", "READY_TO_SHIP")
    assert event.occurred_at == datetime.fromtimestamp(UPDATED, UTC)
    assert event.source == "push"
    assert event.package_id is None
    assert event.dedupe_key == "shopee:2211095TV1XRKN:order:READY_TO_SHIP:1667963316"
    assert event.dedupe_key == order_status_key("2211095TV1XRKN", "READY_TO_SHIP", UPDATED)
    assert event.raw["code"] == 3


def test_a_completed_push_with_completed_scenario_rraoc_is_a_return_raised_after_completion() -> None:
    [event] = parse_push(status_push(status="COMPLETED", completed_scenario="RRAOC")).events
    assert event.status == COMPLETED_RRAOC
    assert event.dedupe_key == order_status_key("2211095TV1XRKN", COMPLETED_RRAOC, UPDATED)
    assert event.dedupe_key != order_status_key("2211095TV1XRKN", "COMPLETED", UPDATED), "not the poll's fact"
    assert order_target("shopee", event.status) == Target("returning", alert=True)


@pytest.mark.parametrize(
    ("status", "scenario"), [("COMPLETED", ""), ("COMPLETED", "OTHER"), ("SHIPPED", "RRAOC")]
)
def test_any_other_completed_scenario_leaves_the_status_as_shopee_says_it(status: str, scenario: str) -> None:
    [event] = parse_push(status_push(status=status, completed_scenario=scenario)).events
    assert event.status == status


def test_a_completed_order_that_gets_a_return_after_completion_is_returning_with_an_alert() -> None:
    t = Timeline()
    t.order("SHIPPED")
    t.order("COMPLETED")
    t.order(COMPLETED_RRAOC)
    aggregate = fold_all(t.made)
    assert aggregate.state == "returning"
    assert [a.state for a in actions_of(aggregate, "alert")] == ["returning"]


def test_an_order_status_push_without_update_time_falls_back_to_the_push_timestamp() -> None:
    body = status_push()
    del body["data"]["update_time"]
    [event] = parse_push(body).events
    assert event.occurred_at == datetime.fromtimestamp(SENT, UTC)
    assert event.dedupe_key.endswith(f":{SENT}")


def test_a_resent_push_with_a_new_timestamp_names_the_same_fact() -> None:
    first = parse_push(status_push())
    again = parse_push({**status_push(), "timestamp": SENT + 600})
    assert first.events[0].dedupe_key == again.events[0].dedupe_key
    first = parse_push(tracking_push())
    again = parse_push({**tracking_push(), "timestamp": SENT + 600, "msg_id": "other"})
    assert first.events[0].dedupe_key == again.events[0].dedupe_key


def test_another_status_or_update_time_is_another_fact() -> None:
    keys = {
        parse_push(status_push()).events[0].dedupe_key,
        parse_push(status_push(status="PROCESSED")).events[0].dedupe_key,
        parse_push(status_push(update_time=UPDATED + 1)).events[0].dedupe_key,
    }
    assert len(keys) == 3


def test_a_tracking_number_push_gives_its_package_the_number() -> None:
    push = parse_push(tracking_push())
    [event] = push.events
    assert event.kind is EventKind.TRACKING_NUMBER
    assert (event.order_id, event.package_id, event.tracking_number) == (
        "2211095TV1XRKN",
        "OFG221109914227949",
        "SPXID069148014501",
    )
    assert event.occurred_at == datetime.fromtimestamp(SENT, UTC)
    assert event.dedupe_key == "shopee:2211095TV1XRKN:tracking:OFG221109914227949:SPXID069148014501"
    assert event.dedupe_key == tracking_number_key(
        "2211095TV1XRKN", "OFG221109914227949", "SPXID069148014501"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"code": 15, "shop_id": 680000123, "timestamp": SENT, "data": {"ordersn": "X", "status": "READY"}},
        {"code": 1, "timestamp": SENT, "data": {"shop_id_list": [1, 2]}},  # partner level: no shop
        {"code": 99},
    ],
)
def test_other_codes_make_no_event(body: dict[str, Any]) -> None:
    push = parse_push(body)
    assert push.code == body["code"]
    assert push.events == ()
    assert push.shop_id == ("680000123" if "shop_id" in body else None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {}}, "code must be"),
        ({"code": "3"}, "code must be"),
        ({"code": True}, "code must be"),
        ({"code": -1}, "code must be"),
        ({"code": 2**31}, "code must be"),
        ({**status_push(), "shop_id": None}, "shop_id"),
        ({**status_push(), "shop_id": "abc"}, "shop_id"),
        ({**status_push(), "data": "ordersn"}, "data object"),
        ({k: v for k, v in status_push().items() if k != "data"}, "data object"),
        (status_push(ordersn=None), "data.ordersn"),
        (status_push(ordersn=""), "data.ordersn"),
        (status_push(ordersn=12345), "data.ordersn"),
        (status_push(ordersn="X" * 65), "data.ordersn is longer"),
        (status_push(status=None), "data.status"),
        (status_push(update_time="1667963316"), "data.update_time must be an integer"),
        (status_push(update_time=1.5), "data.update_time must be an integer"),
        (status_push(update_time=10**12), "data.update_time is not a plausible time"),
        ({**status_push(update_time=None), "timestamp": None}, "timestamp must be an integer"),
        (tracking_push(package_number=None), "data.package_number"),
        (tracking_push(tracking_no=""), "data.tracking_no"),
        (tracking_push(tracking_no="T" * 101), "data.tracking_no is longer"),
        ({**tracking_push(), "timestamp": None}, "timestamp must be an integer"),
    ],
)
def test_a_malformed_push_of_a_code_we_act_on_says_what_is_wrong(body: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedPush, match=message):
        parse_push(body)


def test_an_outsized_key_stays_within_the_journal_column_and_distinct() -> None:
    long_one = tracking_number_key("O" * 64, "P" * 64, "T" * 100)
    other = tracking_number_key("O" * 64, "P" * 64, "T" * 99 + "U")
    assert len(long_one) <= MAX_KEY and len(other) <= MAX_KEY
    assert long_one != other
    assert long_one == tracking_number_key("O" * 64, "P" * 64, "T" * 100)
