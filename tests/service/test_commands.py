"""Operator commands and tracking numbers over real HTTP: roles, 409 with the allowed
commands, and every command in the journal and the history with who and why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.ingest import ingest
from service.models import Event as EventRow
from service.settings import Settings
from tests.factories import order_event, package_event
from tests.live_server import serve

TOKENS = "alice:operator-secret-1:operator,victor:viewer-secret-1:viewer"
OPERATOR = {"Authorization": "Bearer operator-secret-1"}
VIEWER = {"Authorization": "Bearer viewer-secret-1"}


@pytest.fixture
def api(db: Database, database_url: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=database_url, api_tokens=parse_tokens(TOKENS))
    with (
        serve(create_app(settings, db, worker=False)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client


def _approved(db: Database, order_id: str) -> None:
    ingest(db, [order_event(order_id, "UNPAID", 0), order_event(order_id, "READY_TO_SHIP", 10)])


def _command(api: httpx.Client, order_id: str, command: str, **extra: Any) -> httpx.Response:
    body = {"command": command, "reason": f"{command} because the test says so", **extra}
    return api.post(f"/v1/orders/shopee/{order_id}/commands", json=body, headers=OPERATOR)


def test_an_operator_command_moves_the_order_and_the_history_says_who_and_why(
    api: httpx.Client, db: Database
) -> None:
    _approved(db, "CMD1")
    answer = _command(api, "CMD1", "start_picking")
    assert answer.status_code == 200, answer.text
    order = answer.json()
    assert order["state"] == "picking"
    last = order["history"][-1]
    assert (last["from"], last["to"], last["trigger"]) == ("approved", "picking", "start_picking")
    assert last["source"] == "command" and last["catch_up"] is False
    assert last["actor"] == "alice" and last["reason"] == "start_picking because the test says so"
    with db.read() as conn:
        journaled = conn.execute(sa.select(EventRow).where(EventRow.id == last["event_id"])).one()
    assert (journaled.kind, journaled.status, journaled.actor) == ("order_command", "start_picking", "alice")


def test_warehouse_steps_hold_and_release_drive_the_order_to_ready_to_ship(
    api: httpx.Client, db: Database
) -> None:
    _approved(db, "CMD2")
    states = []
    for command in ("start_picking", "hold", "release", "pack", "mark_ready"):
        answer = _command(api, "CMD2", command)
        assert answer.status_code == 200, answer.text
        states.append(answer.json()["state"])
    assert states == ["picking", "on_hold", "picking", "packing", "ready_to_ship"]


def test_an_illegal_command_is_409_naming_the_allowed_ones_and_is_journaled_refused(
    api: httpx.Client, db: Database
) -> None:
    _approved(db, "CMD3")
    answer = _command(api, "CMD3", "pack")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "command_not_allowed"
    assert sorted(error["allowed"]) == ["cancel", "hold", "start_picking"]
    assert "pack is not allowed from approved" in error["message"]
    assert api.get("/v1/orders/shopee/CMD3", headers=VIEWER).json()["state"] == "approved"
    with db.read() as conn:
        refused = conn.execute(sa.select(EventRow).where(EventRow.kind == "order_command")).one()
    assert refused.outcome == "refused" and refused.actor == "alice"


def test_ship_and_deliver_are_not_operator_commands(api: httpx.Client, db: Database) -> None:
    _approved(db, "CMD4")
    for command in ("start_picking", "pack", "mark_ready"):
        assert _command(api, "CMD4", command).status_code == 200
    answer = _command(api, "CMD4", "ship")
    assert answer.status_code == 409
    assert "ship" not in answer.json()["error"]["allowed"]
    assert "hold" in answer.json()["error"]["allowed"]


def test_a_viewer_may_read_but_not_command(api: httpx.Client, db: Database) -> None:
    _approved(db, "CMD5")
    assert api.get("/v1/orders/shopee/CMD5", headers=VIEWER).status_code == 200
    answer = api.post("/v1/orders/shopee/CMD5/commands", json={"command": "hold"}, headers=VIEWER)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert api.get("/v1/orders/shopee/CMD5", headers=OPERATOR).json()["state"] == "approved"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "operator-secret-1"}]
)
def test_a_command_without_a_valid_token_is_401(
    api: httpx.Client, db: Database, headers: dict[str, str]
) -> None:
    _approved(db, "CMD6")
    for path, body in (
        ("/v1/orders/shopee/CMD6/commands", {"command": "hold"}),
        ("/v1/packages/shopee/CMD6-1/commands", {"command": "hold"}),
        ("/v1/packages/shopee/CMD6-1/tracking", {"carrier": "SPX", "tracking_number": "T1"}),
    ):
        answer = api.post(path, json=body, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
    assert api.get("/v1/changes", headers=headers).status_code == 401
    assert api.get("/v1/orders/shopee/CMD6", headers=OPERATOR).json()["state"] == "approved"


def test_unknown_orders_are_404_and_bad_bodies_400(api: httpx.Client, db: Database) -> None:
    _approved(db, "CMD7")
    assert _command(api, "NOPE", "hold").status_code == 404
    assert (
        api.post("/v1/orders/amazon/CMD7/commands", json={"command": "hold"}, headers=OPERATOR).status_code
        == 404
    )
    for body in (
        b"not json",
        b"[1]",
        b'{"reason": "x"}',
        b'{"command": "fly"}',
        b'{"command": "hold", "reason": 5}',
    ):
        answer = api.post("/v1/orders/shopee/CMD7/commands", content=body, headers=OPERATOR)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] == "bad_body"


def test_an_idempotency_key_makes_a_repeated_command_apply_once(api: httpx.Client, db: Database) -> None:
    _approved(db, "CMD8")
    headers = {**OPERATOR, "Idempotency-Key": "k-1"}
    for _ in range(2):
        answer = api.post("/v1/orders/shopee/CMD8/commands", json={"command": "hold"}, headers=headers)
        assert answer.status_code == 200 and answer.json()["state"] == "on_hold"
    assert [h["trigger"] for h in answer.json()["history"]].count("hold") == 1


def test_package_commands_hold_and_release_a_package(api: httpx.Client, db: Database) -> None:
    _approved(db, "CMD9")
    ingest(db, [package_event("CMD9", "PKG9", "LOGISTICS_READY", 20)])
    path = "/v1/packages/shopee/PKG9/commands"
    held = api.post(path, json={"command": "hold", "reason": "damaged box"}, headers=OPERATOR)
    assert held.status_code == 200 and held.json()["state"] == "on_hold"
    assert held.json()["history"][-1]["actor"] == "alice"
    assert held.json()["history"][-1]["reason"] == "damaged box"
    refused = api.post(path, json={"command": "lose"}, headers=OPERATOR)
    assert refused.status_code == 409 and sorted(refused.json()["error"]["allowed"]) == ["cancel", "release"]
    released = api.post(path, json={"command": "release"}, headers=OPERATOR)
    assert released.status_code == 200 and released.json()["state"] == "processing"
    assert (
        api.post("/v1/packages/shopee/NOPE/commands", json={"command": "hold"}, headers=OPERATOR).status_code
        == 404
    )


def test_a_tracking_number_readies_the_package_and_is_kept_with_its_carrier(
    api: httpx.Client, db: Database
) -> None:
    _approved(db, "CMD10")
    ingest(db, [package_event("CMD10", "PKG10", "LOGISTICS_READY", 20)])
    body = {"carrier": "SPX Express", "tracking_number": "SPXID0001"}
    answer = api.post("/v1/packages/shopee/PKG10/tracking", json=body, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    package = answer.json()
    assert (package["state"], package["carrier"], package["tracking_number"]) == (
        "ready_for_pickup",
        "SPX Express",
        "SPXID0001",
    )
    assert package["history"][-1]["source"] == "command" and package["history"][-1]["actor"] == "alice"
    again = api.post("/v1/packages/shopee/PKG10/tracking", json=body, headers=OPERATOR)
    assert again.status_code == 200 and len(again.json()["history"]) == len(package["history"])
    bad = api.post("/v1/packages/shopee/PKG10/tracking", json={"carrier": "SPX"}, headers=OPERATOR)
    assert bad.status_code == 400
    assert api.post("/v1/packages/shopee/NOPE/tracking", json=body, headers=OPERATOR).status_code == 404


def test_without_tokens_commands_are_refused_even_from_loopback(db: Database, database_url: str) -> None:
    _approved(db, "CMD11")
    settings = Settings(database_url=database_url)
    with serve(create_app(settings, db, worker=False)) as base, httpx.Client(base_url=base) as client:
        assert client.get("/v1/orders/shopee/CMD11").status_code == 200
        answer = client.post("/v1/orders/shopee/CMD11/commands", json={"command": "hold"})
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/orders/shopee/CMD11").json()["state"] == "approved"


def test_paging_sees_every_order_exactly_once_while_orders_change_state(
    api: httpx.Client, db: Database
) -> None:
    ids = [f"PAGE{i:03d}" for i in range(60)]
    ingest(db, [e for order_id in ids for e in (order_event(order_id, "UNPAID", 0),)])
    ingest(db, [order_event(order_id, "READY_TO_SHIP", 10) for order_id in ids[::2]])
    stop = threading.Event()

    def churn() -> None:
        # Orders move between states (and are created) while the client pages.
        n = 0
        while not stop.is_set() and n < 200:
            order_id = ids[(n * 7) % len(ids)]
            ingest(db, [order_event(order_id, ("READY_TO_SHIP", "PROCESSED")[n % 2], 20 + n)])
            ingest(db, [order_event(f"NEW{n:03d}", "UNPAID", 0)])
            n += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/orders", params=params, headers=VIEWER).json()
            seen.extend(o["order_id"] for o in page["orders"] if o["order_id"].startswith("PAGE"))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        pending: list[str] = []
        cursor = None
        while True:  # a state filter: orders that stayed pending throughout are all there
            params = {"limit": "5", "state": "pending", **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/orders", params=params, headers=VIEWER).json()
            assert all(o["state"] == "pending" for o in page["orders"])
            pending.extend(o["order_id"] for o in page["orders"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        thread.join()
    assert sorted(seen) == ids  # none missed, none repeated
    untouched = {i for n, i in enumerate(ids) if n % 2 == 1} - {ids[(n * 7) % len(ids)] for n in range(200)}
    assert len(pending) == len(set(pending)) and untouched <= set(pending)


def test_a_command_applies_after_the_newest_event_even_when_the_marketplace_clock_is_ahead(
    api: httpx.Client, db: Database
) -> None:
    ahead = 10**9  # the order's events are dated decades after our clock
    ingest(db, [order_event("CMD12", "UNPAID", ahead), order_event("CMD12", "READY_TO_SHIP", ahead + 10)])
    answer = _command(api, "CMD12", "start_picking")
    assert answer.status_code == 200 and answer.json()["state"] == "picking"
    last = answer.json()["history"][-1]
    before = answer.json()["history"][-2]
    assert last["trigger"] == "start_picking" and _time(last["at"]) > _time(before["at"])


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
