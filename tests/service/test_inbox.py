"""The applier: stored pushes are applied after they are acknowledged, each exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa

from handlers.shopee.push import parse_push
from service.db import Database
from service.inbox import Applied, Applier, apply_pending, pending_count
from service.models import Event as EventRow
from service.models import Push
from service.pushes import Received, body_key, store_pushes
from tests.conftest import PARSERS
from tests.service.test_cli import ORDERWATCH
from tests.shopee_pushes import SENT, status_push
from tests.snapshots import snapshot

NOW = datetime(2022, 11, 9, 3, 10, tzinfo=UTC)


def received(body: bytes) -> Received:
    document = orjson.loads(body)
    return Received("shopee", parse_push(document), body, document)


def lives(orders: int) -> list[Received]:
    statuses = ("UNPAID", "READY_TO_SHIP", "PROCESSED", "SHIPPED", "COMPLETED")
    return [
        received(status_push(f"IN{n:04d}", status, update_time=SENT - 100 + step))
        for n in range(orders)
        for step, status in enumerate(statuses)
    ]


def states(db: Database) -> dict[str, str]:
    return {order_id: row[0] for (_, order_id), row in snapshot(db)["orders"].items()}


def test_stored_pushes_are_applied_once_and_marked(db: Database) -> None:
    store_pushes(db, lives(3), NOW)
    assert pending_count(db) == 15 and states(db) == {}
    assert apply_pending(db, PARSERS, now=NOW) == Applied(pushes=15, events=15)
    assert pending_count(db) == 0
    assert states(db) == {"IN0000": "delivered", "IN0001": "delivered", "IN0002": "delivered"}
    assert apply_pending(db, PARSERS) == Applied()
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EventRow)).scalar_one() == 15


@pytest.mark.failing_pushes
def test_a_push_that_cannot_be_applied_is_marked_with_its_error_and_the_rest_go_ahead(db: Database) -> None:
    pushes = lives(2)
    # A stored body the parser refuses (as after a parser change), among good ones.
    refused = Received("shopee", pushes[0].push, b'{"code":3,"shop_id":1}', {"code": 3, "shop_id": 1})
    store_pushes(db, [*pushes[:3], refused, *pushes[3:]], NOW)
    done = apply_pending(db, PARSERS)
    assert (done.pushes, done.failed) == (11, 1)
    with db.read() as conn:
        query = sa.select(Push.error).where(Push.dedupe_key == body_key(refused.body))
        error = conn.execute(query).scalar_one()
    assert error is not None and "data object" in error
    assert pending_count(db) == 0 and states(db) == {"IN0000": "delivered", "IN0001": "delivered"}


def test_four_appliers_at_once_apply_every_push_exactly_once(db: Database, database_url: str) -> None:
    pushes = lives(40)
    counted: list[int] = []
    errors: list[BaseException] = []
    storing = threading.Event()

    def apply_until_done() -> None:
        own = Database(database_url)
        try:
            while storing.is_set() or pending_count(own):
                counted.append(apply_pending(own, PARSERS, limit=7).pushes)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.dispose()

    storing.set()
    threads = [threading.Thread(target=apply_until_done) for _ in range(4)]
    for thread in threads:
        thread.start()
    for start in range(0, len(pushes), 20):
        store_pushes(db, pushes[start : start + 20])
    storing.clear()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(counted) == len(pushes), "each push counted by exactly one applier"
    assert set(states(db).values()) == {"delivered"} and len(states(db)) == 40


def test_the_applier_thread_is_woken_by_new_pushes_and_outlives_a_database_outage(
    db: Database, tmp_path: object
) -> None:
    applier = Applier(db, PARSERS, idle=30.0)  # it must not wait for its idle look
    applier.start()
    try:
        working = db.engine
        db.engine = sa.create_engine("sqlite:////nonexistent-dir/down.db")
        applier.wake()
        time.sleep(0.2)
        db.engine = working
        store_pushes(db, lives(1))
        applier.wake()
        deadline = time.monotonic() + 10
        while pending_count(db):
            assert time.monotonic() < deadline, "the applier did not recover"
            time.sleep(0.01)
    finally:
        applier.stop()
    assert states(db) == {"IN0000": "delivered"}


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_the_worker_command_applies_what_serve_without_worker_stored(db: Database, database_url: str) -> None:
    store_pushes(db, lives(5))
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [*ORDERWATCH, "worker", "--idle", "0.05", "--nice", "3"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while pending_count(db):
            assert time.monotonic() < deadline and process.poll() is None, "the worker did not apply"
            time.sleep(0.05)
        # It yields the CPU to the web process: 3 steps less priority than its parent.
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 3
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "worker stopped after applying 25 pushes" in stderr
    assert set(states(db).values()) == {"delivered"}
