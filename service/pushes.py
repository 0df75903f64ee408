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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.shopee.push import ParsedPush
from service import bulk
from service.bulk import RawJSON
from service.db import Database, StorageUnavailable
from service.models import Push

log = logging.getLogger("orderwatch.pushes")

PUSHES = cast(sa.Table, Push.__table__)
_COLUMNS = ["platform", "code", "shop_id", "dedupe_key", "received_at", "body", "applied_at"]


def body_key(body: bytes) -> str:
    """The dedupe key of a raw push body: its SHA-256, hex."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Received:
    """A verified push as received: its platform, what it says, its raw body and its JSON."""

    platform: str
    push: ParsedPush
    body: bytes
    document: Mapping[str, Any]


def store_push(
    db: Database,
    platform: str,
    push: ParsedPush,
    body: bytes,
    document: Mapping[str, Any],
    now: datetime | None = None,
) -> bool:
    """Store one push; False when the same body was stored before (then nothing changes)."""
    return store_pushes(db, [Received(platform, push, body, document)], now)[0]


def store_pushes(db: Database, pushes: Sequence[Received], now: datetime | None = None) -> list[bool]:
    """Store ``pushes`` in one transaction; for each push, True when it was new, False when
    its body was stored before (or earlier in ``pushes``)."""
    received = now or datetime.now(UTC)
    return db.run_write(lambda conn: store_pushes_in(conn, pushes, received))


def store_pushes_in(conn: Connection, pushes: Sequence[Received], now: datetime) -> list[bool]:
    """:func:`store_pushes` inside the caller's transaction."""
    keys = [body_key(item.body) for item in pushes]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    # The body is stored as received: it is JSON already (the webhook decoded it).
    rows = [
        (item.platform, item.push.code, item.push.shop_id, key, now, RawJSON(item.body.decode()), None)
        for i, (item, key) in enumerate(zip(pushes, keys, strict=True))
        if first[key] == i
    ]
    if conn.dialect.name == "postgresql":
        made = bulk.insert(conn, PUSHES, _COLUMNS, rows, conflict=["dedupe_key"], returning=["dedupe_key"])
        new = {row.dedupe_key for row in made}
    else:
        # This transaction holds SQLite's write lock (BEGIN IMMEDIATE): the keys it does not
        # find cannot appear before it commits, so one lookup and one executemany will do.
        seen = _stored_keys(conn, list(first))
        rows = [row for row in rows if row[3] not in seen]
        bulk.insert(conn, PUSHES, _COLUMNS, rows)
        new = {row[3] for row in rows}
    return [key in new and first[key] == i for i, key in enumerate(keys)]


def _stored_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = sa.select(PUSHES.c.dedupe_key).where(PUSHES.c.dedupe_key.in_(chunk))
        found.update(conn.execute(query).scalars())
    return found


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
