"""The applier: apply the stored pushes' events, after they were acknowledged.

A stored push is applied exactly once: the applier takes a batch of unapplied pushes
(``applied_at IS NULL``, in arrival order; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so
several appliers in several processes share the queue without taking the same push),
parses each stored body into events, journals and applies them with
:func:`service.ingest.ingest_in`, and marks the pushes applied, all in one transaction.
A crash before the commit leaves them unapplied for the next try; after it, they are
done. A batch that fails for another reason than the database is applied again push by
push, and a push that fails alone is marked with its error (visible, and re-appliable by
clearing ``applied_at``) so that it cannot block the queue.

The applier runs in a thread of ``orderwatch serve`` (woken by every group commit of
pushes) or of ``orderwatch worker`` (which looks for new pushes every ``idle`` seconds).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.shopee.push import MalformedPush, parse_push
from service.db import Database, StorageUnavailable
from service.ingest import ingest_in
from service.models import Push
from service.spool import Spool, Spooled
from statemachines.events import Event

log = logging.getLogger("orderwatch.inbox")

PUSHES = cast(sa.Table, Push.__table__)
PARSERS = {"shopee": parse_push}
SQLITE_BATCH = 250  # pushes per applying transaction on SQLite: tens of milliseconds


@dataclass(frozen=True)
class Applied:
    """What one round of the applier did."""

    pushes: int = 0
    events: int = 0
    failed: int = 0


def apply_pending(db: Database, limit: int = 500, now: datetime | None = None) -> Applied:
    """Apply up to ``limit`` unapplied pushes in one transaction; what was done.

    On SQLite the spooled pushes (service/spool.py) are copied into ``pushes`` first, in
    the same transaction, and leave the spool once it has committed."""
    when = now or datetime.now(UTC)
    spooled: list[Spooled] = []

    def work(conn: Connection) -> Applied:
        spooled[:] = _unspool(conn, db.spool, limit)
        return _apply(conn, _claim(conn, limit), when)

    try:
        done = db.run_write(work)
    except StorageUnavailable:
        raise
    except Exception:  # noqa: BLE001 - one bad push must not hold up the others
        log.warning("a batch of pushes failed to apply; applying them one by one", exc_info=True)
        spooled[:] = db.run_write(lambda conn: _unspool(conn, db.spool, limit))
        _forget(db, spooled)
        return _apply_one_by_one(db, limit, when)
    _forget(db, spooled)
    return done


def pending_count(db: Database) -> int:
    """How many stored pushes are not applied yet (spooled ones included)."""
    with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(PUSHES).where(PUSHES.c.applied_at.is_(None))
        unapplied = int(conn.execute(query).scalar_one())
    return unapplied + (db.spool.count() if db.spool is not None else 0)


def _unspool(conn: Connection, spool: Spool | None, limit: int) -> list[Spooled]:
    # Copy the oldest spooled pushes into ``pushes``, unapplied; one copied before (or
    # stored there by a push of the same body) is left as it is. What was taken.
    if spool is None:
        return []
    rows = spool.take(limit)
    if rows:
        conn.exec_driver_sql(
            "INSERT INTO pushes (dedupe_key, platform, code, shop_id, body, received_at, applied_at) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (dedupe_key) DO NOTHING",
            [(r.dedupe_key, r.platform, r.code, r.shop_id, r.body, r.received_at) for r in rows],
        )
    return rows


def _forget(db: Database, spooled: Sequence[Spooled]) -> None:
    # In ``pushes`` now, committed: out of the spool. A crash before this only means the
    # next round finds them in ``pushes`` and forgets them then.
    if db.spool is not None and spooled:
        try:
            db.spool.remove([row.id for row in spooled])
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(f"push spool unavailable: {exc}") from exc


def _claim(conn: Connection, limit: int, ids: Sequence[int] | None = None) -> list[Any]:
    query = (
        sa.select(PUSHES.c.id, PUSHES.c.platform, PUSHES.c.body)
        .where(PUSHES.c.applied_at.is_(None))
        .order_by(PUSHES.c.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(PUSHES.c.id.in_(ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def _events(row: Any) -> list[Event]:
    parse = PARSERS.get(row.platform)
    if parse is None:
        raise MalformedPush(f"no parser for {row.platform} pushes")
    return list(parse(row.body).events)


def _apply(conn: Connection, rows: Sequence[Any], now: datetime) -> Applied:
    if not rows:
        return Applied()
    events = [event for row in rows for event in _events(row)]
    if events:
        for answer in ingest_in(conn, events, now):
            if answer.outcome in ("error", "unknown_status", "unreachable", "refused"):
                log.info("push event %s: %s %s", answer.dedupe_key, answer.outcome, answer.error or "")
    _mark(conn, [row.id for row in rows], now, None)
    return Applied(len(rows), len(events))


def _apply_ids(conn: Connection, ids: Sequence[int], now: datetime) -> Applied:
    return _apply(conn, _claim(conn, len(ids), ids), now)


def _mark(conn: Connection, ids: Sequence[int], now: datetime, error: str | None) -> None:
    query = PUSHES.update().where(PUSHES.c.id.in_(ids), PUSHES.c.applied_at.is_(None))
    conn.execute(query.values(applied_at=now, error=error))


def _apply_one_by_one(db: Database, limit: int, now: datetime) -> Applied:
    with db.read() as conn:
        query = sa.select(PUSHES.c.id).where(PUSHES.c.applied_at.is_(None)).order_by(PUSHES.c.id)
        ids = [row.id for row in conn.execute(query.limit(limit))]
    done = Applied()
    for push_id in ids:
        try:
            step = db.run_write(functools.partial(_apply_ids, ids=[push_id], now=now))
        except StorageUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the push, and logged
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("push %d could not be applied: %s", push_id, error)
            db.run_write(functools.partial(_mark, ids=[push_id], now=now, error=error))
            step = Applied(1, 0, 1)
        done = Applied(done.pushes + step.pushes, done.events + step.events, done.failed + step.failed)
    return done


class Applier:
    """A thread that applies stored pushes as they come."""

    def __init__(self, db: Database, *, idle: float = 0.5, batch: int | None = None) -> None:
        self.db = db
        self.idle = idle
        # On SQLite the other writers of the database (commands, pollers, jobs) wait for the
        # whole of an applying transaction: keep it shortish. Storing pushes does not wait
        # (it writes the spool), nor do PostgreSQL writers.
        self.batch = batch or (500 if db.is_postgres else SQLITE_BATCH)
        self.applied = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """New pushes are stored: look now (safe from any thread)."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="orderwatch-applier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the round in progress and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        pause = 0.0
        while not self._stop.is_set():
            self._wake.wait(pause or self.idle)
            self._wake.clear()
            try:
                while not self._stop.is_set():
                    round_ = apply_pending(self.db, self.batch)
                    self.applied += round_.pushes
                    if round_.pushes < self.batch:
                        break
                pause = 0.0
            except StorageUnavailable as exc:
                pause = min(max(pause * 2, 0.1), 5.0)
                log.warning("pushes wait to be applied: %s; trying again in %.1f s", exc, pause)
            except Exception:  # noqa: BLE001 - the applier must outlive a bug
                pause = 1.0
                log.exception("the applier failed a round")
