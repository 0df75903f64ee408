"""POST /webhooks/shopee over real HTTP: what is stored and applied, once; 503 and recovery; secrets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from service.db import Database
from service.models import Event as EventRow
from service.models import Push
from service.settings import Secret, Settings
from service.spool import Spool
from tests.shopee_pushes import (
    KEY,
    OLD_KEY,
    SENT,
    Receiver,
    encode,
    sign,
    start_receiver,
    status_push,
    tracking_push,
)

SN = "2211095TV1XRKN"  # an order's ordersn


@pytest.fixture
def receiver(db: Database, database_url: str) -> Iterator[Receiver]:
    with ExitStack() as stack:
        yield start_receiver(stack, db, database_url)


def pushes(db: Database) -> list[sa.Row[tuple[str, int, str | None, str, object]]]:
    with db.read() as conn:
        columns = (Push.platform, Push.code, Push.shop_id, Push.dedupe_key, Push.body)
        return list(conn.execute(sa.select(*columns).order_by(Push.id)))


def test_an_order_status_push_is_stored_journaled_and_moves_the_order(
    receiver: Receiver, db: Database
) -> None:
    body = status_push(SN, "PROCESSED", update_time=SENT - 30)
    assert receiver.post(body).status_code == 200
    [row] = pushes(db)
    assert row.platform == "shopee" and row.code == 3 and row.shop_id == "680000123"
    assert row.dedupe_key == hashlib.sha256(body).hexdigest()
    assert row.body == orjson.loads(body)
    order = receiver.order(SN)
    assert (order["state"], order["platform_status"]) == ("ready_to_ship", "PROCESSED")
    assert order["shop_id"] == "680000123"
    assert order["history"][-1]["to"] == "ready_to_ship"
    assert order["history"][-1]["source"] == "push"
    assert order["history"][-1]["at"] == "2022-11-09T03:08:07Z"  # the push's update_time
    with db.read() as conn:
        [key] = conn.execute(sa.select(EventRow.dedupe_key)).scalars()
    assert key == f"shopee:2211095TV1XRKN:order:PROCESSED:{SENT - 30}"
    assert receiver.app.state.push_counts == {("3", "stored"): 1}


def test_a_tracking_number_push_gives_the_package_its_number(receiver: Receiver) -> None:
    assert receiver.post(status_push(SN, "READY_TO_SHIP", update_time=SENT - 60)).status_code == 200
    answer = receiver.post(tracking_push(SN, "OFG221109914227949", "SPXID069148014501"))
    assert answer.status_code == 200 and answer.content == b""
    package = receiver.client.get("/v1/packages/shopee/OFG221109914227949").json()
    assert package["order_id"] == SN
    assert package["tracking_number"] == "SPXID069148014501"
    assert package["state"] == "ready_for_pickup"


def test_a_push_code_orderwatch_does_not_act_on_is_stored_and_answered_200(
    receiver: Receiver, db: Database
) -> None:
    data = {"ordersn": SN, "package_number": "OFG1", "status": "READY"}
    document = {"data": data, "shop_id": 680000123, "code": 15, "timestamp": SENT}
    partner_level = {"data": {"shop_id_list": [680000123]}, "code": 1, "timestamp": SENT}  # no shop_id
    for body in (encode(document), encode(partner_level)):
        answer = receiver.post(body)
        assert answer.status_code == 200 and answer.content == b""
    assert [(r.code, r.shop_id) for r in pushes(db)] == [(15, "680000123"), (1, None)]
    assert receiver.counts() == {"pushes": 2, "events": 0, "transitions": 0}
    assert receiver.app.state.push_counts == {("15", "stored"): 1, ("1", "stored"): 1}


def test_the_same_push_twice_is_answered_200_both_times_and_stored_once(receiver: Receiver) -> None:
    body = status_push(SN, "READY_TO_SHIP")
    assert receiver.post(body).status_code == 200
    before = (receiver.counts(), receiver.order(SN))
    second = receiver.post(body)
    assert second.status_code == 200 and second.content == b""
    assert (receiver.counts(), receiver.order(SN)) == before
    assert before[0] == {"pushes": 1, "events": 1, "transitions": 2}
    assert receiver.app.state.push_counts == {("3", "stored"): 1, ("3", "duplicate"): 1}


def test_a_retried_push_with_a_new_timestamp_is_kept_but_changes_nothing(receiver: Receiver) -> None:
    assert receiver.post(status_push(SN, "READY_TO_SHIP")).status_code == 200
    before = receiver.order(SN)
    retried = status_push(SN, "READY_TO_SHIP", timestamp=SENT + 900)
    assert receiver.post(retried).status_code == 200
    assert receiver.order(SN) == before
    assert receiver.counts() == {"pushes": 2, "events": 1, "transitions": 2}


def test_an_older_push_arriving_late_changes_nothing(receiver: Receiver) -> None:
    assert receiver.post(status_push(SN, "SHIPPED", update_time=SENT - 10)).status_code == 200
    assert receiver.post(status_push(SN, "READY_TO_SHIP", update_time=SENT - 99)).status_code == 200
    assert receiver.order(SN)["state"] == "shipped"


def test_storage_down_is_503_and_recovers_without_a_restart(
    receiver: Receiver, db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = status_push(SN, "READY_TO_SHIP")
    caplog.clear()
    working, reading, spool = db.engine, db.read_engine, db.spool
    broken = sa.create_engine(f"sqlite:///{tmp_path}/no-such-directory/down.db")
    db.engine = broken  # the app's own Database: the server keeps running throughout
    if reading is working:  # PostgreSQL reads on the same engine: the whole database is away
        db.read_engine = broken
    if spool is not None:  # a SQLite file: pushes are stored in its spool first
        db._spool = Spool(f"{tmp_path}/no-such-directory/down.db-spool")
    try:
        for _ in range(5):
            answer = receiver.post(body)
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "storage_unavailable"
    finally:
        db.engine, db.read_engine, db._spool = working, reading, spool
        broken.dispose()
    assert receiver.counts() == {"pushes": 0, "events": 0, "transitions": 0}
    answer = receiver.post(body)  # Shopee's retry
    assert answer.status_code == 200 and answer.content == b""
    assert receiver.order(SN)["state"] == "approved"
    assert receiver.app.state.push_counts == {("3", "storage_unavailable"): 5, ("3", "stored"): 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # one warning as the outage starts, one as it ends: not one (or two) per refused push
    assert [w for w in warnings if "database is unavailable" in w][:1] == warnings[:1]
    assert len([w for w in warnings if "database is unavailable" in w]) == 1, warnings
    assert [w for w in warnings if "database is back" in w and "5 requests" in w], warnings
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]


def test_no_secret_appears_in_logs_or_answers(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with ExitStack() as stack:
        receiver = start_receiver(stack, db, database_url, shopee_partner_keys=(Secret(KEY), Secret(OLD_KEY)))
        body = status_push(SN, "READY_TO_SHIP")
        good = sign(KEY, receiver.url, body)
        bad = sign("attacker-key", receiver.url, body)
        for answer in (
            receiver.post(body, signature=bad),
            receiver.post(body, signature=good.upper()[:-1]),
            receiver.post(body, url="https://proxy.example/webhooks/shopee"),
            receiver.post(b"[1]"),
            receiver.post(body, signature=good),
            receiver.post(body, signature=good),
        ):
            seen.append(answer.text + str(answer.headers))
        seen.append(repr(receiver.app.state.settings))
    text = caplog.text + "\n".join(seen)
    assert "rejected (401 invalid_signature)" in caplog.text
    elsewhere = sign(KEY, "https://proxy.example/webhooks/shopee", body)
    for secret in (KEY, OLD_KEY, good, bad, good.upper()[:-1], elsewhere, sign(KEY, receiver.url, b"[1]")):
        assert secret not in text
    assert repr(Settings(shopee_partner_keys=(Secret(KEY),))).count("**********") == 1
