"""GET /v1/stream over real HTTP: server-sent events with cursor ids, resumed from
Last-Event-ID, keep-alive comments, a clean end on shutdown; and tracking checkpoints
(the "notify" step) on the feed, end to end with the Shopee sandbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from service import stream
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.settings import Settings
from tests.factories import command_event, order_event
from tests.live_server import serve
from tests.shopee_world import sandbox_settings, start_sandbox


def _read_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of a stream, each as {id, event, data}."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                found.append(current)
                if len(found) == count:
                    return found
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return found


@pytest.fixture
def base(db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.02)
    with serve(create_app(Settings(database_url=database_url), db, worker=False)) as url:
        yield url


def test_the_stream_sends_changes_with_cursor_ids_and_resumes_from_last_event_id(
    db: Database, base: str
) -> None:
    ingest(db, [order_event("S1", "UNPAID", 0), order_event("S1", "READY_TO_SHIP", 10)])
    with httpx.Client(base_url=base, timeout=5) as client:
        with client.stream("GET", "/v1/stream", params={"after": "0"}) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            first = _read_events(answer.iter_lines(), 2)
        assert [(e["id"], e["event"]) for e in first] == [("1", "change"), ("2", "change")]
        assert first[1]["data"]["to"] == "approved" and first[1]["data"]["cursor"] == "2"
        # While nobody listens the order moves on; a reconnect says where it got to.
        ingest(db, [command_event("S1", "start_picking", 20, actor="ops"), command_event("S1", "pack", 30)])
        with client.stream("GET", "/v1/stream", headers={"Last-Event-ID": first[-1]["id"]}) as answer:
            resumed = _read_events(answer.iter_lines(), 2)
    assert [e["id"] for e in resumed] == ["3", "4"]
    assert [(e["data"]["trigger"], e["data"]["source"], e["data"]["actor"]) for e in resumed] == [
        ("start_picking", "command", "ops"),
        ("pack", "command", "ops"),
    ]


def test_a_stream_without_a_cursor_starts_at_the_end_and_follows_live(db: Database, base: str) -> None:
    ingest(db, [order_event("S2", "UNPAID", 0), order_event("S2", "READY_TO_SHIP", 10)])
    with httpx.Client(base_url=base, timeout=5) as client, client.stream("GET", "/v1/stream") as answer:
        lines = answer.iter_lines()
        assert next(lines).startswith("retry: ")
        threading.Timer(0.1, ingest, args=(db, [command_event("S2", "hold", 20)])).start()
        [live] = _read_events(lines, 1)
    assert live["id"] == "3" and live["data"]["trigger"] == "hold" and live["data"]["state"] == "on_hold"


def test_a_quiet_stream_sends_keep_alive_comments(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.05)
    with httpx.Client(base_url=base, timeout=5) as client, client.stream("GET", "/v1/stream") as answer:
        lines = answer.iter_lines()
        comments = [line for _, line in zip(range(6), lines, strict=False) if line.startswith(":")]
    assert ": keep-alive" in comments


def test_a_bad_cursor_is_400(base: str) -> None:
    with httpx.Client(base_url=base, timeout=5) as client:
        assert client.get("/v1/stream", params={"after": "x"}).status_code == 400
        assert client.get("/v1/stream", headers={"Last-Event-ID": "-3"}).status_code == 400


def test_open_streams_end_cleanly_when_the_server_shuts_down(db: Database, database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), db, worker=False)
    ended: list[float] = []
    with ExitStack() as stack:
        base = stack.enter_context(serve(app))

        def listen() -> None:
            with (
                httpx.Client(base_url=base, timeout=10) as client,
                client.stream("GET", "/v1/stream") as answer,
            ):
                for _ in answer.iter_lines():
                    pass
            ended.append(time.monotonic())

        thread = threading.Thread(target=listen)
        thread.start()
        time.sleep(0.3)
        stopping = time.monotonic()
    thread.join(timeout=5)
    assert ended and ended[0] - stopping < 3, "the stream did not end with the server"


PARTNER, KEY, SHOP, TOKEN = 2001299, "sandbox-partner-key-feed", 680000199, "feed-token"


def test_tracking_checkpoints_and_package_moves_appear_on_the_feed(db: Database, database_url: str) -> None:
    with ExitStack() as stack:
        sandbox, api = start_sandbox(stack, db, partner=PARTNER, key=KEY, shop=SHOP, token=TOKEN, seed=5)
        settings = sandbox_settings(database_url, partner=PARTNER, key=KEY, api=api, tracking_seconds=0.2)
        base = stack.enter_context(serve(create_app(settings, db)))
        sandbox.pushes.url = base + "/webhooks/shopee"
        client = stack.enter_context(httpx.Client(base_url=base, timeout=10))
        order = sandbox.create_order(SHOP, order_sn="2511FEED001", status="READY_TO_SHIP")
        number = order.packages[0].package_number
        deadline = time.monotonic() + 30

        def wait(what: str, check: Any) -> None:
            while not check():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.05)

        wait("the paid order", lambda: client.get(f"/v1/orders/shopee/{order.order_sn}").status_code == 200)
        wait(
            "approval",
            lambda: client.get(f"/v1/orders/shopee/{order.order_sn}").json()["state"] == "approved",
        )
        ingest(
            db,
            [
                command_event(order.order_sn, s, 10**9 + i)
                for i, s in enumerate(("start_picking", "pack", "mark_ready"))
            ],
        )

        def package_state() -> str:
            return str(client.get(f"/v1/packages/shopee/{number}").json().get("state"))

        wait("the booking", lambda: package_state() == "ready_for_pickup")
        sandbox.logistics.carrier.pickup(order.order_sn)
        for _ in range(12):
            sandbox.logistics.carrier.advance(order.order_sn)
        wait("delivery", lambda: package_state() == "delivered")
        feed: list[dict[str, Any]] = []
        cursor = "0"
        while True:
            page = client.get("/v1/changes", params={"after": cursor}).json()
            if not page["changes"]:
                break
            feed.extend(page["changes"])
            cursor = page["next"]
        stored = client.get(f"/v1/packages/shopee/{number}").json()
    mine = [c for c in feed if c["package_id"] == number]
    published = [c["checkpoint"] for c in mine if c["kind"] == "checkpoint"]
    # Each stored checkpoint was published, once.
    assert published and sorted(map(json.dumps, published)) == sorted(map(json.dumps, stored["checkpoints"]))
    moves = [c["to"] for c in mine if c["kind"] == "package"]
    # Each move the package's history holds was published (how many steps the tracking
    # poll saw depends on when it looked: the carrier ran ahead of it).
    assert moves[-1] == "delivered" and len(stored["history"]) > 2
    assert {step["to"] for step in stored["history"]} <= set(moves)
    assert any(c["kind"] == "package" and c["source"] == "action" for c in mine)
