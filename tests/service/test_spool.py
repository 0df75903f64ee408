"""The SQLite push spool: storing a push never waits for applying, and a spooled push is
applied once, even when the applier stops between its commit and emptying the spool."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

import service.inbox
from handlers.shopee.push import parse_push
from service.db import Database
from service.inbox import Applied, apply_pending, pending_count
from service.migrate import upgrade
from service.models import Event as EventRow
from service.models import Push
from service.pushes import Received, store_pushes
from service.spool import Spool, SpoolError, spool_file
from tests.conftest import PARSERS
from tests.shopee_pushes import SENT, status_push

NOW = datetime(2022, 11, 9, 3, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spool") / "migrated.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db(migrated: Path, tmp_path: Path) -> Iterator[Database]:
    """A SQLite database file (whatever backend the suite runs on: the spool is SQLite's)."""
    shutil.copyfile(migrated, tmp_path / "orders.db")
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    yield database
    database.dispose()


def pushes(count: int, first: int = 0) -> list[Received]:
    made = []
    for n in range(first, first + count):
        body = status_push(f"SP{n:04d}", "READY_TO_SHIP", update_time=SENT - 100 + n)
        document = orjson.loads(body)
        made.append(Received("shopee", parse_push(document), body, document))
    return made


def spool_of(db: Database) -> Spool:
    """The database's spool, which a SQLite file always has."""
    assert db.spool is not None
    return db.spool


def rows(db: Database, table: type[Push] | type[EventRow]) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_the_spool_lies_beside_a_database_file_and_memory_has_none(tmp_path: Path) -> None:
    assert spool_file(f"sqlite:///{tmp_path}/a.db") == f"{tmp_path}/a.db-spool"
    assert spool_file("sqlite://") is None and spool_file("sqlite:///:memory:") is None


def test_a_push_is_spooled_then_copied_into_pushes_applied_and_unspooled(db: Database) -> None:
    assert store_pushes(db, pushes(5), NOW) == [True] * 5
    assert spool_of(db).count() == 5 and rows(db, Push) == 0 and pending_count(db) == 5
    assert apply_pending(db, PARSERS, now=NOW) == Applied(pushes=5, events=5)
    assert spool_of(db).count() == 0 and rows(db, Push) == 5 and pending_count(db) == 0
    with db.read() as conn:
        stored = conn.execute(sa.select(Push.received_at, Push.applied_at, Push.body)).all()
    assert {(r.received_at, r.applied_at) for r in stored} == {(NOW, NOW)}
    assert sorted(r.body["data"]["ordersn"] for r in stored) == [f"SP{n:04d}" for n in range(5)]


def test_storing_does_not_wait_for_an_applying_transaction(db: Database) -> None:
    # Another writer holds the database's write turn and an open writing transaction for
    # two seconds, as the applier does while it applies a batch.
    holding, release = threading.Event(), threading.Event()

    def apply_slowly() -> None:
        with db.write() as conn:
            conn.execute(sa.text("UPDATE orders SET state = state"))
            holding.set()
            release.wait(10)

    other = threading.Thread(target=apply_slowly)
    other.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        assert store_pushes(db, pushes(3), NOW) == [True] * 3
        took = time.monotonic() - started
    finally:
        release.set()
        other.join()
    assert took < 1.0, f"storing waited {took:.2f} s for the applying transaction"
    assert apply_pending(db, PARSERS, now=NOW).pushes == 3


def test_a_stop_between_the_apply_and_the_unspooling_applies_nothing_twice(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_pushes(db, pushes(4), NOW)
    with monkeypatch.context() as patched:  # the process dies right after its commit
        patched.setattr(service.inbox, "_forget", lambda db, spooled: None)
        assert apply_pending(db, PARSERS, now=NOW) == Applied(pushes=4, events=4)
    assert spool_of(db).count() == 4 and rows(db, EventRow) == 4
    store_pushes(db, pushes(2, first=4), NOW)
    assert apply_pending(db, PARSERS, now=NOW) == Applied(pushes=2, events=2)
    assert spool_of(db).count() == 0 and rows(db, Push) == 6 and rows(db, EventRow) == 6
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(Push.applied_at.is_(None))).scalar_one() == 0


def test_a_push_already_in_pushes_is_a_duplicate_and_is_not_spooled_again(db: Database) -> None:
    first = pushes(2)
    store_pushes(db, first, NOW)
    apply_pending(db, PARSERS, now=NOW)
    assert store_pushes(db, [*first, *pushes(1, first=2)], NOW) == [False, False, True]
    assert spool_of(db).count() == 1
    assert store_pushes(db, pushes(1, first=2), NOW) == [False]  # spooled already


def test_a_batch_that_fails_is_applied_one_by_one_from_pushes(db: Database) -> None:
    good = pushes(3)
    refused = Received("shopee", good[0].push, b'{"code":3,"shop_id":9}', {"code": 3, "shop_id": 9})
    store_pushes(db, [*good, refused], NOW)
    done = apply_pending(db, PARSERS, now=NOW)
    assert (done.pushes, done.failed) == (4, 1)
    assert spool_of(db).count() == 0 and pending_count(db) == 0 and rows(db, EventRow) == 3


def test_a_spool_made_by_a_newer_orderwatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.db-spool"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    spool = Spool(str(path))
    with pytest.raises(SpoolError, match="layout 99"):
        spool.count()
    spool.close()


def test_the_serving_process_checkpoints_the_spool_so_that_storing_does_not(db: Database) -> None:
    store_pushes(db, pushes(200), NOW)
    spool_file_size = Path(spool_of(db).path).stat().st_size
    # Committing did not checkpoint (a plain connection would, past 1,000 pages)...
    assert spool_of(db)._connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 1000
    assert Path(spool_of(db).path + "-wal").stat().st_size > spool_file_size
    with db.checkpoints(every=0.01):  # ...the serving process's checkpoint thread does
        deadline = time.monotonic() + 10
        while Path(spool_of(db).path).stat().st_size == spool_file_size:
            assert time.monotonic() < deadline, "the spool was never checkpointed"
            time.sleep(0.01)


def test_a_web_process_without_the_applier_checkpoints_the_spool_but_not_the_database(db: Database) -> None:
    store_pushes(db, pushes(200), NOW)
    apply_pending(db, PARSERS, now=NOW)  # the database's WAL now holds the applied orders
    database = Path(str(sa.engine.make_url(db.url).database))
    sizes = database.stat().st_size, Path(spool_of(db).path).stat().st_size

    def wait_until_grown(path: Path, size: int) -> None:
        deadline = time.monotonic() + 10
        while path.stat().st_size == size:
            assert time.monotonic() < deadline, f"{path.name} was never checkpointed"
            time.sleep(0.01)

    with db.checkpoints(every=0.01, database=False):
        wait_until_grown(Path(spool_of(db).path), sizes[1])
        time.sleep(0.1)
    assert database.stat().st_size == sizes[0], "the database was checkpointed"
    with db.checkpoints(every=0.01):  # orderwatch worker's, or serve's with the applier
        wait_until_grown(database, sizes[0])
