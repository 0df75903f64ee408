"""The push spool: on SQLite, received pushes are stored in a file of their own first.

SQLite lets one writer at a time into a database file. With the pushes stored in the
same file as the orders, the web process storing a push had to wait whenever the applier
(``orderwatch worker``, or its thread in ``serve``) was in the middle of applying a batch,
which takes tens of milliseconds: Shopee's wait, and the rate the web process acknowledges
at, depended on the applier's work. So on a SQLite database file the web process stores
each verified push in the *spool*, a SQLite file beside the database
(``<database>-spool``, WAL, full fsync on commit, as durable as the database itself),
and acknowledges it once that commit is done. Only the applier writes both files:

1. in the transaction that applies them, it copies a batch of spooled pushes into
   ``pushes`` (unique by their body's SHA-256, so a push copied before is not copied, nor
   applied, again), applies them and marks them applied, and commits;
2. then it deletes that batch from the spool.

A crash between the two leaves the batch in the spool, already in ``pushes``: the next
round finds them there and only deletes them. So a push is never lost and never applied
twice, and ``pushes`` stays the one record of every push received, as on PostgreSQL
(where the web process inserts into ``pushes`` directly: its writers do not wait for each
other). The spool is empty whenever the applier has caught up; it is a queue, not part of
the schema of record, so its one table is made here rather than by a migration, and its
``user_version`` says which layout it has.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from service.sqlite import AUTOCHECKPOINT_PAGES, WriteTurn

LAYOUT = 1  # PRAGMA user_version of a spool made by this code
ROWS_PER_INSERT = 2000  # 6 parameters a row, under SQLite's 32,766

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    code INTEGER NOT NULL,
    shop_id TEXT,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
)
"""


class SpoolError(Exception):
    """The spool file cannot be used (made by a newer orderwatch, say)."""


@dataclass(frozen=True)
class Spooled:
    """One spooled push, as stored: ``received_at`` as SQLite text (naive UTC)."""

    id: int
    dedupe_key: str
    platform: str
    code: int
    shop_id: str | None
    body: str
    received_at: str


def spool_file(url: str) -> str | None:
    """The spool beside the SQLite database file of ``url``; None in memory."""
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path + "-spool"


class Spool:
    """The spool file: one connection per thread, writers taking turns (:class:`WriteTurn`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.turn = WriteTurn(path + "-writelock")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        # Per thread and per process: a connection must not cross a fork.
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]  # type: ignore[no-any-return]
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=60000")
            # As for the database: the serving process checkpoints in a thread of its own
            # (Database.checkpoints), so that storing a push does not pay for one.
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            layout = conn.execute("PRAGMA user_version").fetchone()[0]
            if layout > LAYOUT:
                raise SpoolError(f"the push spool has layout {layout}; this orderwatch knows {LAYOUT}")
            if layout < LAYOUT:
                with self.turn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(_SCHEMA)
                    conn.execute(f"PRAGMA user_version={LAYOUT}")
                    conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._local.held = (os.getpid(), conn)
        with self._guard:
            self._opened.append(conn)
        return conn

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        with self.turn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def add(self, rows: Sequence[tuple[str, str, int, str | None, str]], received_at: str) -> set[str]:
        """Spool ``rows`` (dedupe key, platform, code, shop id, body) in one transaction;
        the keys that were not spooled already."""
        made: set[str] = set()
        with self._writing() as conn:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
                params = [value for row in chunk for value in (*row, received_at)]
                sql = (
                    "INSERT INTO spool (dedupe_key, platform, code, shop_id, body, received_at) "
                    f"VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
                )
                made.update(key for (key,) in conn.execute(sql, params).fetchall())
        return made

    def take(self, limit: int) -> list[Spooled]:
        """The oldest ``limit`` spooled pushes, in arrival order (they stay spooled)."""
        cursor = self._connection().execute(
            "SELECT id, dedupe_key, platform, code, shop_id, body, received_at "
            "FROM spool ORDER BY id LIMIT ?",
            (limit,),
        )
        return [Spooled(*row) for row in cursor.fetchall()]

    def remove(self, ids: Sequence[int]) -> None:
        """Delete these spooled pushes (copied into ``pushes`` already)."""
        if not ids:
            return
        with self._writing() as conn:
            for start in range(0, len(ids), ROWS_PER_INSERT):
                chunk = ids[start : start + ROWS_PER_INSERT]
                conn.execute(f"DELETE FROM spool WHERE id IN ({', '.join('?' * len(chunk))})", chunk)

    def checkpoint(self) -> None:
        """Copy the spool's WAL into its file (PASSIVE: it never waits for a writer)."""
        self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def count(self) -> int:
        """How many pushes are spooled."""
        return int(self._connection().execute("SELECT count(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        """Close every connection this object opened, and the turn's lock file."""
        with self._guard:
            opened, self._opened = self._opened, []
        for conn in opened:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # in use by a thread of its own: it goes with it
                continue
        self._local = threading.local()
        self.turn.close()
