"""The outbox worker: run the jobs that transitions wrote, after their commit.

A job is claimed in a short transaction (on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so
workers in several processes never take the same job; SQLite has one writer at a time)
and leased to its worker for ``lease`` seconds; it runs outside any transaction; then it
is marked ``done``, put back as ``pending`` with a backoff (exponential, full jitter), or,
after its last try, ``dead`` with an alert. A job whose worker died is claimed again once
its lease ran out. Each job's key names it, so its marketplace calls carry an idempotency
key and a retry after a lost answer never acts twice.

Handlers are ``async (job, ctx) -> Outcome | None`` by job kind; a kind with no handler
in this process is left for one that has it. A handler may ask to run again later
(:class:`Again`: tracking polls its parcel until a final state) without that counting as
a failure.

Job states: ``pending`` → ``running`` → ``done`` | ``pending`` (retry, or again later) | ``dead``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database, StorageUnavailable
from service.models import ALERTS
from service.models import OUTBOX as JOBS

log = logging.getLogger("orderwatch.outbox")

LAPSED_CHECK_SECONDS = 5.0  # how often a worker looks for jobs whose worker died


@dataclass(frozen=True)
class Job:
    """A claimed job."""

    id: int
    key: str
    kind: str
    platform: str
    order_id: str
    package_id: str | None
    payload: Mapping[str, Any]
    attempts: int  # this try included


@dataclass(frozen=True)
class Again:
    """Run the job again after ``seconds`` (not a failure: tracking's next look)."""

    seconds: float
    note: str = ""


class JobFailed(Exception):
    """A job's try failed for a reason worth retrying; the message says why."""


class JobRefused(Exception):
    """A job can never succeed (bad data): dead-letter it at once, with an alert."""


Handler = Callable[[Job, "Context"], Awaitable[Again | None]]


@dataclass
class Context:
    """What handlers share: the database, and resources set up by the process."""

    db: Database
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass
class Policy:
    """Retries: ``attempts`` tries, backoff ``base * 2**n`` seconds capped at ``cap``, full jitter."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 300.0
    lease: float = 300.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        """The wait before the next try after ``attempts`` failed ones."""
        return rng.uniform(0, min(self.cap, self.base * 2 ** max(0, attempts - 1)))


def worker_name() -> str:
    """This process's name in the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(
    db: Database, kinds: list[str], limit: int, worker: str, lease: float, lapsed: bool = True
) -> list[Job]:
    """Take up to ``limit`` due jobs of ``kinds``: pending ones whose time has come, and with
    ``lapsed`` running ones whose lease ran out (a scan: workers ask for those now and then)."""
    now = datetime.now(UTC)

    def work(conn: Connection) -> list[Job]:
        due = sa.and_(JOBS.c.state == "pending", JOBS.c.run_after <= now)  # the (state, run_after) index
        if lapsed:
            due = sa.or_(due, sa.and_(JOBS.c.state == "running", JOBS.c.lease_until < now))
        chosen = (
            sa.select(JOBS.c.id).where(due, JOBS.c.kind.in_(kinds)).order_by(JOBS.c.run_after).limit(limit)
        )
        if conn.dialect.name == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        until = now + timedelta(seconds=lease)
        # One statement: choose, lease and answer them.
        rows = conn.execute(
            JOBS.update()
            .where(JOBS.c.id.in_(chosen))
            .values(
                state="running",
                attempts=JOBS.c.attempts + 1,
                lease_until=until,
                worker=worker,
                updated_at=now,
            )
            .returning(*JOBS.c)
        )
        found = [
            Job(r.id, r.key, r.kind, r.platform, r.order_id, r.package_id, r.payload or {}, r.attempts)
            for r in rows
        ]
        return sorted(found, key=lambda job: job.id)

    return db.run_write(work)


def finish(db: Database, job: Job, worker: str, state: str, run_after: datetime | None = None,
           error: str | None = None, attempts: int | None = None) -> bool:  # fmt: skip
    """Record a try's end, if the job is still this worker's; False when it was not."""
    now = datetime.now(UTC)

    def work(conn: Connection) -> bool:
        values: dict[str, Any] = {"state": state, "lease_until": None, "updated_at": now, "last_error": error}
        if run_after is not None:
            values["run_after"] = run_after
        if attempts is not None:
            values["attempts"] = attempts
        mine = sa.and_(JOBS.c.id == job.id, JOBS.c.state == "running", JOBS.c.worker == worker)
        done = conn.execute(JOBS.update().where(mine).values(**values)).rowcount == 1
        if done and state == "dead":
            _open_dead_letter_alert(conn, job, error or "", now)
        return done

    return db.run_write(work)


def finish_done(db: Database, jobs: list[Job], worker: str) -> set[int]:
    """Mark ``jobs`` done in one statement, those still this worker's; their ids."""
    now = datetime.now(UTC)

    def work(conn: Connection) -> set[int]:
        mine = sa.and_(
            JOBS.c.id.in_([j.id for j in jobs]), JOBS.c.state == "running", JOBS.c.worker == worker
        )
        query = (
            JOBS.update()
            .where(mine)
            .values(state="done", lease_until=None, updated_at=now, last_error=None)
            .returning(JOBS.c.id)
        )
        return set(conn.execute(query).scalars())

    return db.run_write(work)


def _open_dead_letter_alert(conn: Connection, job: Job, error: str, now: datetime) -> None:
    condition = f"job_dead:{job.key}"[:300]
    exists = conn.execute(
        sa.select(ALERTS.c.id).where(ALERTS.c.condition == condition, ALERTS.c.state == "open")
    ).first()
    if exists is None:
        conn.execute(
            ALERTS.insert().values(
                condition=condition,
                kind="job_dead",
                platform=job.platform,
                order_id=job.order_id,
                package_id=job.package_id,
                state="open",
                opened_at=now,
                resolved_at=None,
                message=f"{job.kind} for {job.platform} order {job.order_id} gave up after "
                f"{job.attempts} tries: {error}"[:2000],
            )
        )


class Worker:
    """Claims and runs jobs until stopped."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        policy: Policy | None = None,
        concurrency: int = 8,
        idle: float = 0.5,
        resources: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.policy = policy or Policy()
        self.concurrency = concurrency
        self.idle = idle
        self.name = worker_name()
        self.context = Context(db, resources or {})
        self.counts: dict[str, int] = {"done": 0, "retried": 0, "dead": 0, "again": 0}
        self._rng = random.Random(seed)
        self._wake = asyncio.Event()
        self._ended: list[tuple[Job, asyncio.Future[None]]] = []
        self._lapsed_check = 0.0
        self._recording = False

    def wake(self) -> None:
        """New jobs may be due (call from the worker's event loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until ``stop`` is set; jobs in flight finish first."""
        kinds = sorted(self.handlers)
        async with anyio.create_task_group() as group:
            slots = anyio.Semaphore(self.concurrency)
            while not stop.is_set():
                # Wait for a free slot (a job ending frees one at once), then claim for
                # every free slot; sleep only when nothing is due.
                await slots.acquire()
                jobs: list[Job] = []
                lapsed = time.monotonic() >= self._lapsed_check
                if lapsed:
                    self._lapsed_check = time.monotonic() + LAPSED_CHECK_SECONDS
                try:
                    jobs = await anyio.to_thread.run_sync(
                        claim, self.db, kinds, slots.value + 1, self.name, self.policy.lease, lapsed
                    )
                except StorageUnavailable as exc:
                    log.warning("outbox: cannot claim jobs: %s", exc)
                if not jobs:
                    slots.release()
                    self._wake.clear()
                    with anyio.move_on_after(self.idle):
                        await _first(stop.wait(), self._wake.wait())
                    continue
                group.start_soon(self._run_one, jobs[0], slots)
                for job in jobs[1:]:
                    await slots.acquire()
                    group.start_soon(self._run_one, job, slots)

    async def run_until_idle(self, timeout: float = 60.0) -> None:
        """Run every due job, and those they make due, until none is left (for tests, tools)."""
        kinds = sorted(self.handlers)
        with anyio.fail_after(timeout):
            while True:
                jobs = await anyio.to_thread.run_sync(
                    claim, self.db, kinds, self.concurrency, self.name, 60.0
                )
                if not jobs:
                    return
                async with anyio.create_task_group() as group:
                    for job in jobs:
                        group.start_soon(self._run_one, job, None)

    async def _run_one(self, job: Job, slots: anyio.Semaphore | None) -> None:
        try:
            await self._try(job)
        finally:
            if slots is not None:
                slots.release()

    async def _try(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        try:
            result = await handler(job, self.context)
        except JobRefused as exc:
            await self._end(job, "dead", error=f"refused: {exc}")
            log.error("outbox: %s %s refused: %s", job.kind, job.key, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is retried or dead-lettered
            error = f"{type(exc).__name__}: {exc}"[:2000]
            if job.attempts >= self.policy.attempts:
                await self._end(job, "dead", error=error)
                log.error("outbox: %s %s dead after %d tries: %s", job.kind, job.key, job.attempts, error)
                return
            delay = self.policy.delay(job.attempts, self._rng)
            await self._end(job, "pending", error=error, after=delay)
            log.warning("outbox: %s %s try %d failed (%s); again in %.1f s", job.kind, job.key,
                        job.attempts, error, delay)  # fmt: skip
            return
        if isinstance(result, Again):
            # Not a failure: the try does not count against the job's attempts.
            await self._end(job, "pending", after=result.seconds, attempts=job.attempts - 1, error=None)
            self.counts["again"] += 1
            return
        await self._end(job, "done")

    async def _done(self, job: Job) -> None:
        """Record a job done, together with the others that end meanwhile (one statement)."""
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ended.append((job, ended))
        if not self._recording:
            self._recording = True
            asyncio.get_running_loop().create_task(self._record_done())
        await ended

    async def _record_done(self) -> None:
        try:
            while self._ended:
                batch, self._ended = self._ended, []
                jobs = [job for job, _ in batch]
                for pause in (0.1, 0.5, 2.0, 5.0, None):
                    try:
                        mine = await anyio.to_thread.run_sync(finish_done, self.db, jobs, self.name)
                        break
                    except StorageUnavailable as exc:
                        if pause is None:
                            log.error(
                                "outbox: could not record %d jobs done: %s; leases will lapse", len(jobs), exc
                            )
                            mine = set()
                            break
                        await anyio.sleep(pause)
                self.counts["done"] += len(mine)
                for job, ended in batch:
                    if job.id not in mine:
                        log.warning("outbox: %s %s was taken over after its lease lapsed", job.kind, job.key)
                    if not ended.done():
                        ended.set_result(None)
        finally:
            self._recording = False

    async def _end(self, job: Job, state: str, *, error: str | None = None, after: float | None = None,
                   attempts: int | None = None) -> None:  # fmt: skip
        if state == "done" and error is None and after is None and attempts is None:
            await self._done(job)
            return
        run_after = datetime.now(UTC) + timedelta(seconds=after) if after is not None else None
        for pause in (0.1, 0.5, 2.0, 5.0, None):
            try:
                mine = await anyio.to_thread.run_sync(
                    lambda: finish(self.db, job, self.name, state, run_after, error, attempts)
                )
            except StorageUnavailable as exc:
                if pause is None:
                    log.error(
                        "outbox: could not record %s of %s: %s; its lease will lapse", state, job.key, exc
                    )
                    return
                await anyio.sleep(pause)
                continue
            if not mine:
                log.warning("outbox: %s %s was taken over after its lease lapsed", job.kind, job.key)
            elif state in ("done", "dead"):
                self.counts[state] += 1
            elif error:
                self.counts["retried"] += 1
            return


async def _first(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` is done."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def jobs(db: Database, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Jobs with their tries and errors, newest first (for people and tests)."""
    query = sa.select(JOBS).order_by(JOBS.c.id.desc()).limit(limit)
    if state:
        query = query.where(JOBS.c.state == state)
    with db.read() as conn:
        return [
            {
                "id": r.id, "key": r.key, "kind": r.kind, "platform": r.platform, "order_id": r.order_id,
                "package_id": r.package_id, "state": r.state, "attempts": r.attempts,
                "run_after": r.run_after, "last_error": r.last_error, "worker": r.worker,
            }
            for r in conn.execute(query)
        ]  # fmt: skip
