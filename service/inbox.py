"""The applier: apply the stored pushes' events, after they were acknowledged.

A stored push is applied exactly once: the applier takes a batch of unapplied pushes
(``applied_at IS NULL``, in arrival order; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so
several appliers in several processes share the queue without taking the same push),
parses each stored body into events, journals and applies them with
:func:`service.ingest.ingest_in`, and marks the pushes applied, all in one transaction.
A crash before the commit leaves them unapplied for the next try; after it, they are
done. A batch that fails for another reason than the database is applied again push by
push, and a push that fails alone is marked with its ``error`` so that it cannot block the
queue. Such a push was acknowledged: it is kept in sight (service/push_failures.py: counted,
listed, a ``push_failed`` alert) until :func:`reapply` applies it after a fix, exactly once
in effect (its events keep their dedupe keys, and only a push still marked failed is taken).

Each stored body is parsed by its marketplace's push parser (``parsers``, by platform:
service/marketplace.py), handed in by the composition root.

The applier runs in a thread of ``orderwatch serve`` (woken by every group commit of
pushes) or of ``orderwatch worker`` (which looks for new pushes every ``idle`` seconds).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database, StorageUnavailable
from service.ingest import ingest_in
from service.marketplace import PushParser
from service.models import PUSHES
from service.push_failures import FAILED, open_alert, resolve_cleared
from service.spool import Spool, Spooled
from service.views import MAX_ID
from statemachines.events import Event

log = logging.getLogger("orderwatch.inbox")

Parsers = Mapping[str, PushParser]  # by platform
SQLITE_BATCH = 250  # pushes per applying transaction on SQLite: tens of milliseconds


class NoParser(ValueError):
    """No installed marketplace parses the pushes of this platform."""


@dataclass(frozen=True)
class Applied:
    """What one round of the applier did."""

    pushes: int = 0
    events: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Reapplied:
    """What re-applying one push did: ``applied`` (with its events), ``failed`` (again, with
    the error), ``not_failed`` (applied already, or not tried yet) or ``not_found``."""

    push_id: int
    outcome: str
    events: int = 0
    error: str | None = None


def apply_pending(db: Database, parsers: Parsers, limit: int = 500, now: datetime | None = None) -> Applied:
    """Apply up to ``limit`` unapplied pushes in one transaction; what was done.

    On SQLite the spooled pushes (service/spool.py) are copied into ``pushes`` first, in
    the same transaction, and leave the spool once it has committed."""
    when = now or datetime.now(UTC)
    spooled: list[Spooled] = []

    def work(conn: Connection) -> Applied:
        spooled[:] = _unspool(conn, db.spool, limit)
        return _apply(conn, _claim(conn, limit), when, parsers)

    try:
        done = db.run_write(work)
    except StorageUnavailable:
        raise
    except Exception:  # noqa: BLE001 - one bad push must not hold up the others
        log.warning("a batch of pushes failed to apply; applying them one by one", exc_info=True)
        spooled[:] = db.run_write(lambda conn: _unspool(conn, db.spool, limit))
        _forget(db, spooled)
        return _apply_one_by_one(db, limit, when, parsers)
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


def _events(row: Any, parsers: Parsers) -> list[Event]:
    parse = parsers.get(row.platform)
    if parse is None:
        raise NoParser(f"no parser for {row.platform} pushes")
    return list(parse(row.body).events)


def _apply(conn: Connection, rows: Sequence[Any], now: datetime, parsers: Parsers) -> Applied:
    if not rows:
        return Applied()
    events = _ingest([event for row in rows for event in _events(row, parsers)], conn, now)
    _mark(conn, [row.id for row in rows], now, None)
    return Applied(len(rows), events)


def _ingest(events: Sequence[Event], conn: Connection, now: datetime) -> int:
    if events:
        for answer in ingest_in(conn, events, now):
            if answer.outcome in ("error", "unknown_status", "unreachable", "refused"):
                log.info("push event %s: %s %s", answer.dedupe_key, answer.outcome, answer.error or "")
    return len(events)


def _apply_ids(conn: Connection, ids: Sequence[int], now: datetime, parsers: Parsers) -> Applied:
    return _apply(conn, _claim(conn, len(ids), ids), now, parsers)


def _mark(conn: Connection, ids: Sequence[int], now: datetime, error: str | None) -> None:
    query = PUSHES.update().where(PUSHES.c.id.in_(ids), PUSHES.c.applied_at.is_(None))
    conn.execute(query.values(applied_at=now, error=error))


def _apply_one_by_one(db: Database, limit: int, now: datetime, parsers: Parsers) -> Applied:
    with db.read() as conn:
        query = sa.select(PUSHES.c.id).where(PUSHES.c.applied_at.is_(None)).order_by(PUSHES.c.id)
        ids = [row.id for row in conn.execute(query.limit(limit))]
    done = Applied()
    for push_id in ids:
        try:
            step = db.run_write(functools.partial(_apply_ids, ids=[push_id], now=now, parsers=parsers))
        except StorageUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the push, alerted, and logged
            error = _describe(exc)
            log.error("push %d could not be applied (see the push_failed alerts): %s", push_id, error)
            db.run_write(functools.partial(_fail, push_id=push_id, now=now, error=error))
            step = Applied(1, 0, 1)
        done = Applied(done.pushes + step.pushes, done.events + step.events, done.failed + step.failed)
    return done


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _fail(conn: Connection, push_id: int, now: datetime, error: str) -> None:
    # Marked and alerted in one transaction: a failed push is never out of sight.
    _mark(conn, [push_id], now, error)
    open_alert(conn, push_id, error, now)


def failed_ids(db: Database, limit: int | None = None) -> list[int]:
    """The ids of the pushes that failed to apply, oldest first."""
    with db.read() as conn:
        query = sa.select(PUSHES.c.id).where(FAILED).order_by(PUSHES.c.id).limit(limit)
        return [row.id for row in conn.execute(query)]


def reapply(
    db: Database,
    parsers: Parsers,
    push_ids: Sequence[int] | None = None,
    *,
    actor: str,
    now: datetime | None = None,
) -> list[Reapplied]:
    """Apply again the failed pushes (``push_ids``, or every one), each in a transaction of
    its own; the ``push_failed`` alerts whose pushes all applied are resolved.

    Exactly once in effect: only a push still marked failed is taken (locked on
    PostgreSQL, so two operators cannot both apply it), and its events are journaled under
    their dedupe keys, so one that reached the journal by another way (the reconciliation
    poll) is a duplicate. The events carry ``actor`` and a reason naming the push, so the
    order's history says who re-applied it."""
    when = now or datetime.now(UTC)
    ids = failed_ids(db) if push_ids is None else push_ids
    done = [_reapply_one(db, parsers, push_id, actor, when) for push_id in ids]
    if any(r.outcome in ("applied", "failed") for r in done):
        db.run_write(lambda conn: resolve_cleared(conn, when))
    return done


def _reapply_one(db: Database, parsers: Parsers, push_id: int, actor: str, now: datetime) -> Reapplied:
    if not 0 < push_id <= MAX_ID.get(db.dialect, 2**63 - 1):
        return Reapplied(push_id, "not_found")  # no such id: the column could not hold it

    def work(conn: Connection) -> Reapplied:
        query = sa.select(PUSHES.c.id, PUSHES.c.platform, PUSHES.c.body).where(PUSHES.c.id == push_id, FAILED)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            exists = conn.execute(sa.select(PUSHES.c.id).where(PUSHES.c.id == push_id)).first()
            return Reapplied(push_id, "not_failed" if exists else "not_found")
        why = f"push {push_id} re-applied"
        events = [dataclasses.replace(e, actor=actor, reason=why) for e in _events(row, parsers)]
        count = _ingest(events, conn, now)
        conn.execute(PUSHES.update().where(PUSHES.c.id == push_id).values(applied_at=now, error=None))
        return Reapplied(push_id, "applied", count)

    try:
        done = db.run_write(work)
    except StorageUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - still a bug: recorded on the push, alerted, logged
        error = _describe(exc)
        log.error("push %d still fails to apply (re-applied by %s): %s", push_id, actor, error)
        db.run_write(functools.partial(_refail, push_id=push_id, now=now, error=error))
        return Reapplied(push_id, "failed", error=error)
    if done.outcome == "applied":
        log.info("push %d re-applied by %s: %d events", push_id, actor, done.events)
    return done


def _refail(conn: Connection, push_id: int, now: datetime, error: str) -> None:
    conn.execute(PUSHES.update().where(PUSHES.c.id == push_id, FAILED).values(applied_at=now, error=error))
    open_alert(conn, push_id, error, now)


class Applier:
    """A thread that applies stored pushes as they come."""

    def __init__(
        self, db: Database, parsers: Parsers, *, idle: float = 0.5, batch: int | None = None
    ) -> None:
        self.db = db
        self.parsers = parsers
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
                    round_ = apply_pending(self.db, self.parsers, self.batch)
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
