"""An acknowledged push that fails to apply (a bug) stays in sight and can be applied again.

The bug is played by the applier's parser raising for orders named ``BUG…`` (the webhook's
checks passed: the push is answered 200 and stored); the fix is the real parser back. The
parser is Shopee's through the port (service/marketplace.py), which the live app and this
module's appliers share.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from handlers.shopee.push import parse_push
from service.alert_rules import dispatch
from service.auth import parse_tokens
from service.db import Database
from service.inbox import apply_pending, reapply
from service.ingest import ingest
from service.marketplace import push_parsers
from service.marketplaces import installed
from service.models import Alert, Push, Transition
from service.models import Event as EventRow
from service.pushes import Received, store_pushes
from service.settings import Secret
from service.views import encode_cursor
from tests.alert_receiver import Receiver as AlertReceiver
from tests.alert_receiver import receiver as alert_receiver
from tests.conftest import unapplicable_pushes
from tests.service.test_cli import ORDERWATCH
from tests.shopee_pushes import SENT, Receiver, start_receiver, status_push

OPERATOR = "operator-token-for-failed-pushes"
VIEWER = "viewer-token-for-failed-pushes"
TOKENS = parse_tokens(f"ops:{OPERATOR}:operator,eyes:{VIEWER}:viewer")

pytestmark = pytest.mark.failing_pushes  # every test here stores pushes that fail on purpose

PARSE: dict[str, Any] = {"shopee": parse_push}  # the bug is swapped in and out here


def _parse(body: Any) -> Any:
    return PARSE["shopee"](body)


# The installed marketplaces, Shopee's push parser that of PARSE.
MARKETPLACES = tuple(
    dataclasses.replace(m, push_parser=_parse) if m.platform == "shopee" else m for m in installed()
)
PARSERS = push_parsers(MARKETPLACES)


def bug(monkeypatch: pytest.MonkeyPatch, error: type[Exception] = RuntimeError) -> None:
    """The applier cannot apply a push of an order named BUG… (it raises ``error``)."""

    def parse(body: Any) -> Any:
        parsed = parse_push(body)
        if any(event.order_id.startswith("BUG") for event in parsed.events):
            raise error("a bug in the applier")
        return parsed

    monkeypatch.setitem(PARSE, "shopee", parse)


def fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PARSE, "shopee", parse_push)


def received(body: bytes) -> Received:
    document = orjson.loads(body)
    return Received("shopee", parse_push(document), body, document)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def slack() -> Iterator[AlertReceiver]:
    with alert_receiver() as found:
        yield found


@pytest.fixture
def live(db: Database, database_url: str, slack: AlertReceiver) -> Iterator[Receiver]:
    """The push receiver with API tokens and an alert sink."""
    with ExitStack() as stack:
        found = start_receiver(
            stack,
            db,
            database_url,
            marketplaces=MARKETPLACES,
            api_tokens=TOKENS,
            alert_webhook_urls=(Secret(slack.url("slack")),),
        )
        found.client.headers["Authorization"] = f"Bearer {VIEWER}"  # a push's signature overrides it
        yield found


def failed(live: Receiver, **params: str) -> dict[str, Any]:
    answer = live.client.get("/v1/pushes", params={"state": "failed", **params}, headers=bearer(VIEWER))
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def gauge(live: Receiver) -> float:
    lines = live.client.get("/metrics").text.splitlines()
    return float(next(line for line in lines if line.startswith("orderwatch_pushes_failed ")).split()[1])


def open_alerts(db: Database, kind: str = "push_failed") -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(Alert).where(Alert.kind == kind, Alert.state == "open")))


def told(slack: AlertReceiver, kind: str) -> list[str]:
    return [t for t in (r.json()["text"] for r in slack.at("slack")) if f"[{kind}]" in t]


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_acknowledged_push_that_fails_to_apply_is_counted_listed_and_alerted_once_per_failure(
    live: Receiver, db: Database, slack: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    assert live.post(status_push("GOOD1", "READY_TO_SHIP")).status_code == 200
    assert live.post(status_push("BUG1", "READY_TO_SHIP")).status_code == 200  # acknowledged
    assert live.order("GOOD1")["state"] == "approved"
    assert live.client.get("/v1/orders/shopee/BUG1", headers=bearer(VIEWER)).status_code == 404

    page = failed(live)
    assert page["next_cursor"] is None and len(page["pushes"]) == 1
    push = page["pushes"][0]
    assert {k: push[k] for k in ("platform", "code", "shop_id", "ordersn", "state")} == {
        "platform": "shopee", "code": 3, "shop_id": "680000123", "ordersn": "BUG1", "state": "failed",
    }  # fmt: skip
    assert push["error"] == "RuntimeError: a bug in the applier"
    assert push["received_at"].endswith("Z") and push["failed_at"].endswith("Z")
    assert "body" not in push and "data" not in push  # small: the ordersn stands for the body
    assert gauge(live) == 1.0

    (alert,) = open_alerts(db)
    assert alert.order_id == "BUG1" and f"push {push['id']}" in alert.message
    # On-call hears it at once: the alert job dispatches without waiting for the rules' tick.
    wait_for(lambda: told(slack, "push_failed"))

    # A burst of the same failure joins the open alert; every push is listed and counted.
    for n in range(2, 5):
        assert live.post(status_push(f"BUG{n}", "READY_TO_SHIP")).status_code == 200
    assert [p["ordersn"] for p in failed(live)["pushes"]] == ["BUG1", "BUG2", "BUG3", "BUG4"]
    assert gauge(live) == 4.0 and len(open_alerts(db)) == 1
    time.sleep(0.3)
    assert len(told(slack, "push_failed")) == 1


def test_a_failed_push_reapplied_after_the_fix_applies_once_as_the_operator_and_the_alert_resolves(
    live: Receiver, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    assert live.post(status_push("GOOD1", "READY_TO_SHIP")).status_code == 200
    assert live.post(status_push("BUG1", "READY_TO_SHIP")).status_code == 200
    assert live.post(status_push("BUG2", "READY_TO_SHIP")).status_code == 200
    first, second = (p["id"] for p in failed(live)["pushes"])
    fix(monkeypatch)

    path = f"/v1/pushes/{first}/reapply"
    assert live.client.post(path, headers=bearer(VIEWER)).status_code == 403  # operators only
    answer = live.client.post(path, headers=bearer(OPERATOR))
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["events"] == 1
    assert shown["push"]["state"] == "applied" and shown["push"]["error"] is None
    order = live.client.get("/v1/orders/shopee/BUG1", headers=bearer(VIEWER)).json()
    assert order["state"] == live.order("GOOD1")["state"] == "approved"  # as if it never failed
    assert {(t["actor"], t["reason"]) for t in order["history"]} == {("ops", f"push {first} re-applied")}
    again = live.client.post(path, headers=bearer(OPERATOR))
    assert again.status_code == 409 and again.json()["error"]["code"] == "push_not_failed"
    assert live.client.get("/v1/orders/shopee/BUG1", headers=bearer(VIEWER)).json() == order

    # One push of the failure is still failed: its alert holds until that one applies too.
    assert [p["id"] for p in failed(live)["pushes"]] == [second] and len(open_alerts(db)) == 1
    assert live.client.post(f"/v1/pushes/{second}/reapply", headers=bearer(OPERATOR)).status_code == 200
    assert failed(live)["pushes"] == [] and gauge(live) == 0.0 and open_alerts(db) == []
    with db.read() as conn:
        resolved = conn.execute(sa.select(Alert.state).where(Alert.kind == "push_failed")).scalars().all()
    assert resolved == ["resolved"]
    assert unapplicable_pushes(db, PARSERS) == []


def test_a_push_that_still_fails_answers_422_and_a_new_failure_opens_its_own_alert(
    live: Receiver, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    assert live.post(status_push("BUG1", "READY_TO_SHIP")).status_code == 200
    (push,) = failed(live)["pushes"]
    answer = live.client.post(f"/v1/pushes/{push['id']}/reapply", headers=bearer(OPERATOR))
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "push_still_fails"
    assert "RuntimeError" in answer.json()["error"]["message"]
    assert [a.condition for a in open_alerts(db)] == ["push_failed:shopee:3:RuntimeError"]

    bug(monkeypatch, ValueError)  # a half fix: it fails otherwise now
    answer = live.client.post(f"/v1/pushes/{push['id']}/reapply", headers=bearer(OPERATOR))
    assert answer.status_code == 422
    (still,) = failed(live)["pushes"]
    assert still["id"] == push["id"] and still["error"] == "ValueError: a bug in the applier"
    # The RuntimeError failure has no push left: resolved; the ValueError one is open.
    assert [a.condition for a in open_alerts(db)] == ["push_failed:shopee:3:ValueError"]


def test_reapplying_is_exactly_once_in_effect_against_a_poll_and_a_second_operator(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    store_pushes(
        db, [received(status_push("BUG1", "READY_TO_SHIP")), received(status_push("BUG2", "SHIPPED"))]
    )
    assert apply_pending(db, PARSERS).failed == 2
    fix(monkeypatch)
    # BUG1's status came meanwhile by the reconciliation poll: the same fact, the same key.
    (event,) = parse_push(orjson.loads(status_push("BUG1", "READY_TO_SHIP"))).events
    ingest(db, [dataclasses.replace(event, source="poll", raw={})])
    with db.read() as conn:
        polled = conn.execute(sa.select(sa.func.count()).select_from(Transition)).scalar_one()

    outcomes: list[str] = []

    def operator() -> None:
        outcomes.extend(r.outcome for r in reapply(db, PARSERS, [1, 2], actor="ops"))

    threads = [threading.Thread(target=operator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied", "applied", "not_failed", "not_failed"]
    with db.read() as conn:
        journal = conn.execute(sa.select(EventRow.order_id, EventRow.source).order_by(EventRow.id)).all()
        steps = conn.execute(sa.select(sa.func.count()).select_from(Transition)).scalar_one()
    assert [tuple(row) for row in journal] == [("BUG1", "poll"), ("BUG2", "push")]
    with db.read() as conn:
        joined = sa.select(sa.func.count()).select_from(
            sa.join(Transition, EventRow, EventRow.id == Transition.event_id)
        )
        bug2 = conn.execute(joined.where(EventRow.order_id == "BUG2")).scalar_one()
    assert bug2 > 0 and steps == polled + bug2  # BUG1's push added nothing to what the poll did
    assert reapply(db, PARSERS, actor="ops") == []  # nothing is failed any more
    assert unapplicable_pushes(db, PARSERS) == []


def test_the_listing_pages_with_a_cursor_and_refuses_what_it_does_not_know(
    live: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    for n in range(3):
        assert live.post(status_push(f"BUG{n}", "READY_TO_SHIP")).status_code == 200
    first = failed(live, limit="2")
    assert [p["ordersn"] for p in first["pushes"]] == ["BUG0", "BUG1"] and first["next_cursor"]
    rest = failed(live, limit="2", cursor=first["next_cursor"])
    assert [p["ordersn"] for p in rest["pushes"]] == ["BUG2"] and rest["next_cursor"] is None
    assert live.client.get("/v1/pushes", headers=bearer(VIEWER)).json()["pushes"] == failed(live)["pushes"]
    for query in ("state=applied", "limit=0", "limit=501", "limit=x", "cursor=nope"):
        answer = live.client.get(f"/v1/pushes?{query}", headers=bearer(VIEWER))
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_query", query
    assert httpx.get(f"{live.base}/v1/pushes").status_code == 401
    far = encode_cursor(2**40)  # past PostgreSQL's INTEGER ids (it made a 500 there)
    assert failed(live, cursor=far) == {"pushes": [], "next_cursor": None}
    for push_id in ("x", "9" * 19, "999999", "4953615211545", "0"):
        answer = live.client.post(f"/v1/pushes/{push_id}/reapply", headers=bearer(OPERATOR))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", push_id


def test_an_orders_cursor_past_the_id_range_is_an_empty_page_not_a_500(live: Receiver) -> None:
    # The same keyset pages as GET /v1/pushes; PostgreSQL's INTEGER ids end at 2**31 - 1.
    assert live.post(status_push("GOOD1", "READY_TO_SHIP")).status_code == 200
    answer = live.client.get("/v1/orders", params={"cursor": encode_cursor(2**40)})
    assert answer.status_code == 200 and answer.json() == {"orders": [], "next_cursor": None}


def test_the_pushes_commands_list_and_reapply_failed_pushes(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    store_pushes(db, [received(status_push("BUG1", "READY_TO_SHIP", update_time=SENT - 5))])
    # A push the real parser refuses too: it stays failed (a stored body older code accepted).
    broken = b'{"code":3,"shop_id":680000123,"timestamp":1667963317}'
    store_pushes(db, [Received("shopee", received(status_push("X", "READY_TO_SHIP")).push, broken, {})])
    assert apply_pending(db, PARSERS).failed == 2
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": database_url, "USER": "alice"}

    listing = subprocess.run([*ORDERWATCH, "pushes", "failed"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [(r[0], r[2], r[3]) for r in rows] == [("1", "3", "BUG1"), ("2", "3", "-")]
    assert rows[0][5] == "RuntimeError: a bug in the applier" and rows[1][5].startswith("MalformedPush")

    # The subprocess has the real parser: the fix. BUG1 applies; the broken one cannot.
    done = subprocess.run([*ORDERWATCH, "pushes", "reapply"], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "re-applied 1 of 2 pushes (1 events)" in done.stdout
    assert "push 2: failed: MalformedPush" in done.stderr and "Traceback" not in done.stderr
    with db.read() as conn:
        actors = conn.execute(sa.select(EventRow.actor)).scalars().all()
        errors = conn.execute(sa.select(Push.id).where(Push.error.is_not(None))).scalars().all()
    assert actors == ["cli:alice"] and errors == [2]
    again = subprocess.run([*ORDERWATCH, "pushes", "reapply", "1"], env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "push 1: not failed" in again.stderr


def test_the_alert_of_a_failed_push_is_handed_to_the_sinks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug(monkeypatch)
    store_pushes(db, [received(status_push("BUG1", "READY_TO_SHIP"))])
    apply_pending(db, PARSERS)
    notices = dispatch(db, {})
    assert [(n.kind, n.event, n.order_id) for n in notices] == [("push_failed", "opened", "BUG1")]
    with db.read() as conn:
        jobs = conn.execute(sa.text("SELECT kind, key FROM outbox")).all()
    assert [tuple(j) for j in jobs] == [("alert", "alert:push_failed:1:opened")]


def test_the_end_of_test_check_names_a_failed_push_and_applies_what_was_left_unapplied(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert unapplicable_pushes(db, PARSERS) == []
    store_pushes(db, [received(status_push("LEFT1", "READY_TO_SHIP"))])  # acknowledged, not applied
    assert unapplicable_pushes(db, PARSERS) == []  # it applies: the check applied it
    with db.read() as conn:
        assert conn.execute(sa.select(Push.applied_at, Push.error)).one().applied_at is not None
    bug(monkeypatch)
    store_pushes(db, [received(status_push("BUG1", "READY_TO_SHIP"))])
    failure = "push 2 (code 3) failed to apply: RuntimeError: a bug in the applier"
    assert unapplicable_pushes(db, PARSERS) == [failure]
