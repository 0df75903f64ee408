"""Received pushes: store each verified push once, durably, committed in groups.

A push is stored as received, keyed by the SHA-256 of its raw body, so a push delivered
twice is stored once. It is acknowledged once the transaction holding it has committed;
its events are applied right after, from the ``pushes`` table, by the applier
(:mod:`service.inbox`), which marks each push applied in the transaction that journals
its events. So an acknowledged push is never lost and never applied twice, and the
marketplace's wait does not include the work of applying it.

Pushes that arrive together share a transaction (group commit): :class:`PushCommitter`
keeps one transaction in flight per process and gathers the pushes that arrive meanwhile
into the next one. Under light load a push commits alone, at once; under heavy load one
commit (one fsync on SQLite, one WAL flush on PostgreSQL) acknowledges many pushes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa

from service.db import Database, StorageUnavailable
from service.spool import Spool

log = logging.getLogger("orderwatch.pushes")


def body_key(body: bytes) -> str:
    """The dedupe key of a raw push body: its SHA-256, hex."""
    return hashlib.sha256(body).hexdigest()


class Head(Protocol):
    """What storing needs to know of a push: its code and shop (a ParsedPush, a PushHead)."""

    @property
    def code(self) -> int: ...

    @property
    def shop_id(self) -> str | None: ...


@dataclass(frozen=True)
class Received:
    """A verified push as received: its platform, what it says, its raw body and its JSON."""

    platform: str
    push: Head
    body: bytes
    document: Mapping[str, Any]


def store_push(
    db: Database,
    platform: str,
    push: Head,
    body: bytes,
    document: Mapping[str, Any],
    now: datetime | None = None,
) -> bool:
    """Store one push; False when the same body was stored before (then nothing changes)."""
    return store_pushes(db, [Received(platform, push, body, document)], now)[0]


def store_pushes(db: Database, pushes: Sequence[Received], now: datetime | None = None) -> list[bool]:
    """Store ``pushes`` in one transaction; for each push, True when it was new, False when
    its body was stored before (or earlier in ``pushes``).

    The hot path of the service: it talks to the driver directly (one or two statements
    and a commit), which costs a fraction of a SQLAlchemy transaction's overhead.
    """
    received = now or datetime.now(UTC)
    keys = [body_key(item.body) for item in pushes]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    # The body is stored as received: it is JSON already (the webhook decoded it).
    rows = sorted(
        (key, item.platform, item.push.code, item.push.shop_id, item.body.decode())
        for key, i in first.items()
        for item in (pushes[i],)
    )
    if (spool := db.spool) is not None:
        new = _spool(db, spool, rows, received)
        return [key in new and first[key] == i for i, key in enumerate(keys)]
    write = _write_postgres if db.is_postgres else _write_sqlite
    for attempt in range(3):
        try:
            raw = db.engine.raw_connection()
        except (sa.exc.DBAPIError, sqlite3.Error, psycopg.Error) as exc:
            cause = getattr(exc, "orig", exc)  # the pool may hand the driver's error on unwrapped
            raise StorageUnavailable(f"database unavailable: {type(cause).__name__}") from exc
        try:
            with db.writing():
                new = write(raw, rows, received)
            break
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError | psycopg.OperationalError):
                # The connection may be dead (the server went away): the pool discards it
                # instead of resetting it, which logged a traceback per connection.
                _discard(raw)
                raise StorageUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc
            _rollback(raw)
            if getattr(exc, "sqlstate", None) in ("40P01", "40001") and attempt < 2:
                continue  # two processes inserting the same pushes at once: again
            raise
        finally:
            raw.close()
    return [key in new and first[key] == i for i, key in enumerate(keys)]


def _spool(db: Database, spool: Spool, rows: Sequence[tuple[Any, ...]], now: datetime) -> set[str]:
    # A SQLite database file: into the spool (service/spool.py), so that storing never
    # waits for an applying transaction. A body already in ``pushes`` is a duplicate; a
    # body copied there meanwhile is found there by the applier, which only drops it.
    try:
        known = _stored_keys(db, [row[0] for row in rows])
        return spool.add([row for row in rows if row[0] not in known], _sqlite_time(now))
    except (sa.exc.DBAPIError, sqlite3.OperationalError) as exc:
        cause = getattr(exc, "orig", exc)
        raise StorageUnavailable(f"database unavailable: {type(cause).__name__}: {cause}") from exc


def _stored_keys(db: Database, keys: Sequence[str]) -> set[str]:
    raw = db.read_engine.raw_connection()
    try:
        cursor = raw.cursor()
        found: set[str] = set()
        for start in range(0, len(keys), _SQLITE_ROWS):
            chunk = keys[start : start + _SQLITE_ROWS]
            sql = f"SELECT dedupe_key FROM pushes WHERE dedupe_key IN ({', '.join('?' * len(chunk))})"
            found.update(key for (key,) in cursor.execute(sql, chunk).fetchall())
        return found
    finally:
        raw.close()


_INSERT = "INSERT INTO pushes (dedupe_key, platform, code, shop_id, body, received_at, applied_at) "


def _write_sqlite(raw: Any, rows: Sequence[tuple[Any, ...]], now: datetime) -> set[str]:
    # One statement, run in autocommit: it is its own transaction, so the driver releases
    # and retakes the GIL twice (execute, fetch) instead of once per BEGIN, lookup, insert
    # and COMMIT: with the event loop busy, every retake can wait for its switch interval.
    at = _sqlite_time(now)
    made: set[str] = set()
    cursor = raw.cursor()
    several = len(rows) > _SQLITE_ROWS  # more statements: one transaction around them
    if several:
        cursor.execute("BEGIN IMMEDIATE")
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[start : start + _SQLITE_ROWS]
        values = ", ".join(["(?, ?, ?, ?, ?, ?, NULL)"] * len(chunk))
        params = [value for row in chunk for value in (*row, at)]
        sql = f"{_INSERT}VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
        made.update(key for (key,) in cursor.execute(sql, params).fetchall())
    if several:
        cursor.execute("COMMIT")
    return made


_SQLITE_ROWS = 2000  # 7 parameters a row, under SQLite's 32,766


def _write_postgres(raw: Any, rows: Sequence[tuple[Any, ...]], now: datetime) -> set[str]:
    # Arrays in binary: no quoting of every element in Python (see service/bulk.py).
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    # One statement in autocommit: one round trip, and one release of the GIL, not two.
    driver = raw.driver_connection
    driver.rollback()  # idle (the pool's ping may have opened a transaction)
    driver.autocommit = True
    try:
        return _insert_postgres(driver, columns, now)
    finally:
        if not driver.closed:  # a connection the server dropped takes no more settings
            driver.autocommit = False


def _insert_postgres(driver: Any, columns: Sequence[Sequence[Any]], now: datetime) -> set[str]:
    with driver.cursor() as cursor:
        cursor.execute(
            _INSERT + "SELECT k, p, c, s, CAST(b AS jsonb), %(at)b, NULL FROM unnest("
            "CAST(%(k)b AS varchar[]), CAST(%(p)b AS varchar[]), CAST(%(c)b AS bigint[]), "
            "CAST(%(s)b AS varchar[]), CAST(%(b)b AS text[])) AS t(k, p, c, s, b) "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
            {"k": list(columns[0]), "p": list(columns[1]), "c": list(columns[2]),
             "s": list(columns[3]), "b": list(columns[4]), "at": now},
        )  # fmt: skip
        return {key for (key,) in cursor.fetchall()}


def _sqlite_time(value: datetime) -> str:
    # As service.models.UTCDateTime stores it on SQLite: naive UTC.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _discard(raw: Any) -> None:
    try:
        raw.invalidate()
    except Exception:  # noqa: BLE001 - it is being thrown away
        log.debug("invalidate failed", exc_info=True)


def _rollback(raw: Any) -> None:
    try:
        raw.rollback()
    except Exception:  # noqa: BLE001 - the connection is going back to the pool anyway
        log.debug("rollback failed", exc_info=True)


class PushCommitter:
    """Group commit: one transaction in flight, and the pushes that arrive meanwhile go
    into the next one together (at most ``max_batch``)."""

    def __init__(
        self, db: Database, max_batch: int = 500, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.on_commit = on_commit  # e.g. wake the applier
        self._waiting: list[tuple[Received, asyncio.Future[bool]]] = []
        self._running = False
        self.commits = 0  # transactions committed, for tests and metrics
        # One thread of its own: cheaper to hand work to than anyio's shared pool, and
        # one transaction in flight is the design.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orderwatch-pushes")

    def close(self) -> None:
        """Stop the committing thread once the transaction in flight is done."""
        self._thread.shutdown(wait=True)

    async def submit(self, item: Received) -> bool:
        """Store ``item`` durably; True when new, False when stored before. Raises
        :class:`StorageUnavailable` when the database cannot take it."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        # A client that hangs up cancels only its own future, never the group's commit.
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._commit(batch)
        finally:
            self._running = False

    async def _commit(self, batch: list[tuple[Received, asyncio.Future[bool]]]) -> None:
        items = [item for item, _ in batch]
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._thread, store_pushes, self.db, items)
        except StorageUnavailable as exc:
            _settle(batch, error=exc)
            return
        except Exception as exc:  # noqa: BLE001 - one bad push must not refuse the others
            if len(batch) == 1:
                log.exception("could not store a %s push", items[0].platform)
                _settle(batch, error=exc)
                return
            log.warning("a group of %d pushes failed (%s); storing them one by one", len(batch), exc)
            for one in batch:
                await self._commit([one])
            return
        self.commits += 1
        if self.on_commit is not None and any(results):
            self.on_commit()
        _settle(batch, results=results)


def _settle(
    batch: list[tuple[Received, asyncio.Future[bool]]],
    *,
    results: Sequence[bool] = (),
    error: BaseException | None = None,
) -> None:
    for i, (_, future) in enumerate(batch):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(results[i])
