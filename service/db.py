"""The database: engines for SQLite (embedded) and PostgreSQL (production, scale-out).

SQLite gets WAL, full fsync on commit and ``BEGIN IMMEDIATE`` for writing transactions,
so concurrent writers queue instead of failing half-way; reads use plain ``BEGIN``.
PostgreSQL uses row locks (``SELECT … FOR UPDATE``) and retries on deadlock.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from service.outage import Outage
from service.spool import Spool, spool_file
from service.sqlite import AUTOCHECKPOINT_PAGES, WriteTurn, turn_file

T = TypeVar("T")


class StorageUnavailable(Exception):
    """The database cannot be reached or refused the work; the caller may retry later."""


class Retry(Exception):
    """Raised by work inside :meth:`Database.run_write` to roll back and start it again."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = sa.create_engine(
        url,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        # Long-running processes checkpoint in a thread of their own (Database.checkpoints);
        # a committing writer checkpoints only if the WAL grows past this many pages.
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The engines and the transaction helpers every component shares."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        self._turn = WriteTurn(turn_file(url)) if self.dialect == "sqlite" else None
        self._spool: Spool | None = None  # opened on first use
        self._spool_opened = False
        self.outage = Outage()  # one warning per outage of this database (service/outage.py)
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.engine = sa.create_engine(
                url,
                json_serializer=_dumps,
                json_deserializer=orjson.loads,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=True,
                connect_args={"options": "-c timezone=UTC"},
            )
            self.read_engine = self.engine

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL."""
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A writing transaction: committed on success, rolled back on error."""
        started = self.outage.now()
        try:
            with self.writing(), self.engine.begin() as conn:
                yield conn
            self.outage.served(started)
        except sa.exc.OperationalError as exc:
            raise StorageUnavailable(_describe(exc)) from exc
        except self._driver_operational as exc:
            # service/bulk.py talks to the driver directly: its errors come unwrapped.
            raise StorageUnavailable(_describe(exc)) from exc

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the SQLite write turn (nothing on PostgreSQL): see :class:`WriteTurn`."""
        if self._turn is None:
            yield
            return
        with self._turn:
            yield

    @property
    def spool(self) -> Spool | None:
        """The push spool beside a SQLite database file, or None: on PostgreSQL and for an
        in-memory database pushes go straight to ``pushes``."""
        if not self._spool_opened and self.dialect == "sqlite":
            path = spool_file(self.url)
            self._spool = Spool(path) if path else None
            self._spool_opened = True
        return self._spool

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A reading transaction."""
        started = self.outage.now()
        try:
            with self.read_engine.begin() as conn:
                yield conn
            self.outage.served(started)
        except sa.exc.OperationalError as exc:
            raise StorageUnavailable(_describe(exc)) from exc
        except self._driver_operational as exc:
            raise StorageUnavailable(_describe(exc)) from exc

    @property
    def _driver_operational(self) -> type[Exception]:
        dbapi: Any = self.engine.dialect.dbapi
        kind: type[Exception] = dbapi.OperationalError
        return kind

    def run_write(self, work: Callable[[Connection], T], attempts: int = 8) -> T:
        """Run ``work`` in a writing transaction, retrying deadlocks, serialization failures
        and :class:`Retry`, with jittered exponential backoff."""
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except (StorageUnavailable, sa.exc.DBAPIError, Retry) as exc:
                transient = isinstance(exc, Retry) or _retryable(exc)
                if transient and attempt == attempts - 1:
                    reason = f"contention: gave up after {attempts} attempts ({exc})"
                    raise StorageUnavailable(reason) from exc
                if not transient:
                    raise
                time.sleep(random.uniform(0.5, 1.0) * 0.005 * 2**attempt)
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.read() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except (StorageUnavailable, sa.exc.DBAPIError):
            return False

    @contextmanager
    def checkpoints(self, every: float = 1.0, *, database: bool = True) -> Iterator[None]:
        """While the block runs, checkpoint SQLite's WAL (the push spool's, and with
        ``database`` the database file's) every ``every`` seconds in a thread (PASSIVE: it
        never waits for writers), so commits do not pay for checkpoints.

        A web process that leaves applying to ``orderwatch worker`` passes
        ``database=False``: the worker writes most of the database's WAL and checkpoints
        it, and the web process's fsyncs (storing pushes) then do not queue behind the
        checkpoint's writes."""
        if self.dialect != "sqlite":
            yield
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every):
                try:
                    # Outside any transaction (the driver connection is in autocommit).
                    if database:
                        raw = self.read_engine.raw_connection()
                        try:
                            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        finally:
                            raw.close()
                    if self.spool is not None:
                        self.spool.checkpoint()
                except (sa.exc.DBAPIError, sqlite3.Error):  # the database is away: later
                    continue

        thread = threading.Thread(target=run, name="orderwatch-checkpoint", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        if self._turn is not None:
            self._turn.close()
        if self._spool is not None:
            self._spool.close()
        self._spool = None
        self._spool_opened = False


def _retryable(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, StorageUnavailable) else exc
    orig = getattr(cause, "orig", cause)  # SQLAlchemy wraps the driver's error; bulk.py does not
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig):
        # SQLite answers BUSY at once, without its busy wait, where waiting could deadlock
        # (a reader becoming a writer): transient, like a deadlock on PostgreSQL.
        return True
    return sqlstate in {"40P01", "40001"}


def _describe(exc: BaseException) -> str:
    # The driver's message, never the URL (it may carry a password).
    orig = getattr(exc, "orig", exc)
    lines = str(orig).splitlines() or [""]
    return f"database unavailable: {type(orig).__name__}: {lines[0]}"
