"""The outbox worker: jobs run after commit, retried with backoff, dead-lettered with an
alert, leased so that no two workers run one job at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.db import Database
from service.ingest import ingest
from service.models import Alert, OutboxJob
from service.outbox import Again, Context, Job, JobRefused, Policy, Worker, claim, jobs
from tests.conftest import is_postgres
from tests.factories import command_event, order_event
from tests.service.test_cli import ORDERWATCH

NOW = datetime.now(UTC)


def add_jobs(db: Database, kind: str, n: int, payload: dict[str, object] | None = None) -> None:
    with db.write() as conn:
        conn.execute(
            sa.insert(OutboxJob),
            [
                {
                    "key": f"{kind}:test:{i}", "kind": kind, "platform": "shopee", "order_id": f"J{i}",
                    "package_id": None, "payload": payload or {}, "state": "pending", "attempts": 0,
                    "run_after": NOW - timedelta(seconds=1), "created_at": NOW, "updated_at": NOW,
                }
                for i in range(n)
            ],
        )  # fmt: skip


def run(worker: Worker) -> None:
    asyncio.run(worker.run_until_idle(timeout=60))


def test_a_transition_writes_its_job_and_the_worker_runs_it_after_commit(db: Database) -> None:
    seen: list[Job] = []

    async def arrange(job: Job, _ctx: Context) -> None:
        seen.append(job)

    ingest(db, [order_event("A1", "READY_TO_SHIP", 1)])
    ingest(db, [command_event("A1", trigger, 2 + i) for i, trigger in enumerate(["start_picking", "pack"])])
    assert jobs(db) == []
    ingest(db, [command_event("A1", "mark_ready", 9)])
    [written] = jobs(db)
    assert (written["kind"], written["state"]) == ("arrange_shipment", "pending")
    run(Worker(db, {"arrange_shipment": arrange}))
    assert [job.order_id for job in seen] == ["A1"] and seen[0].attempts == 1
    assert jobs(db)[0]["state"] == "done"


def test_a_catch_up_to_shipped_writes_no_booking(db: Database) -> None:
    ingest(db, [order_event("C1", "READY_TO_SHIP", 1), order_event("C1", "SHIPPED", 2)])
    assert [j["kind"] for j in jobs(db)] == ["start_tracking"], "shipped: track the parcel, book nothing"


def test_a_failing_job_is_retried_with_backoff_then_dead_lettered_with_one_alert(db: Database) -> None:
    add_jobs(db, "flaky", 1)
    tries: list[int] = []

    async def flaky(job: Job, _ctx: Context) -> None:
        tries.append(job.attempts)
        raise RuntimeError("the marketplace said no")

    worker = Worker(db, {"flaky": flaky}, policy=Policy(attempts=3, base=0.0, cap=0.0))
    run(worker)
    assert tries == [1, 2, 3]
    [job] = jobs(db)
    assert (job["state"], job["attempts"]) == ("dead", 3)
    assert "the marketplace said no" in job["last_error"]
    with db.read() as conn:
        alerts = list(conn.execute(sa.select(Alert.kind, Alert.state, Alert.message)))
    assert [(a.kind, a.state) for a in alerts] == [("job_dead", "open")]
    assert "gave up after 3 tries" in alerts[0].message


def test_a_retry_waits_for_its_backoff(db: Database) -> None:
    add_jobs(db, "flaky", 1)

    async def flaky(job: Job, _ctx: Context) -> None:
        raise RuntimeError("not yet")

    run(Worker(db, {"flaky": flaky}, policy=Policy(attempts=5, base=60.0, cap=60.0), seed=1))
    [job] = jobs(db)
    assert (job["state"], job["attempts"]) == ("pending", 1)
    assert job["run_after"] > datetime.now(UTC), "the next try waits"


def test_a_refused_job_is_dead_at_once(db: Database) -> None:
    add_jobs(db, "bad", 1)

    async def bad(job: Job, _ctx: Context) -> None:
        raise JobRefused("the address is missing")

    run(Worker(db, {"bad": bad}))
    assert jobs(db)[0]["state"] == "dead"


def test_again_later_does_not_count_as_a_try(db: Database) -> None:
    add_jobs(db, "poll", 1)
    calls: list[int] = []

    async def poll(job: Job, _ctx: Context) -> Again | None:
        calls.append(job.attempts)
        return Again(0.0) if len(calls) < 4 else None

    run(Worker(db, {"poll": poll}))
    assert calls == [1, 1, 1, 1]
    assert jobs(db)[0]["state"] == "done"


def test_a_job_whose_worker_died_is_taken_again_when_its_lease_lapses(db: Database) -> None:
    add_jobs(db, "noop", 1)
    # A lease long enough that the look while it holds is taken within it, even on a loaded
    # machine (0.05 s was not, now and then, under the full suite).
    started = time.monotonic()
    [taken] = claim(db, ["noop"], 1, "dead-worker", lease=1.0)
    assert claim(db, ["noop"], 1, "other", lease=60) == []
    assert time.monotonic() - started < 1.0  # the look above was within the lease
    time.sleep(max(0.0, 1.1 - (time.monotonic() - started)))
    [again] = claim(db, ["noop"], 1, "other", lease=60)
    assert again.id == taken.id and again.attempts == 2


def test_jobs_of_kinds_without_a_handler_wait(db: Database) -> None:
    add_jobs(db, "acknowledge", 2)
    run(Worker(db, {"noop": lambda job, ctx: asyncio.sleep(0)}))
    assert {j["state"] for j in jobs(db)} == {"pending"}


def _connected(db: Database, names: list[str]) -> int:
    query = sa.text(
        "SELECT count(DISTINCT application_name) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = ANY(:names)"
    )
    with db.read() as conn:
        return int(conn.execute(query, {"names": names}).scalar_one())


@pytest.mark.skipif(not is_postgres(), reason="several worker processes share PostgreSQL, not SQLite")
def test_two_worker_processes_never_run_the_same_job_at_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    trace = tmp_path / "runs.txt"
    env = {**os.environ, "ORDERWATCH_DATABASE_URL": database_url}
    names = [f"ow-test-worker-{os.getpid()}-{n}" for n in range(2)]
    workers = [
        subprocess.Popen(
            [*ORDERWATCH, "worker", "--idle", "0.05"],
            env={**env, "PGAPPNAME": name},  # libpq names each worker's connections
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    try:
        # Jobs only once both workers are connected: a worker that starts a second late
        # would otherwise find every job done by the other.
        deadline = time.monotonic() + 60
        while _connected(db, names) < 2:
            assert time.monotonic() < deadline, "the workers did not connect"
            time.sleep(0.05)
        add_jobs(db, "noop", 60, {"trace": str(trace), "seconds": 0.02})
        deadline = time.monotonic() + 60
        while {j["state"] for j in jobs(db)} != {"done"}:
            assert time.monotonic() < deadline, jobs(db)
            time.sleep(0.05)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.communicate(timeout=30)
    runs = [line.split() for line in trace.read_text().splitlines()]
    assert Counter(run[0] for run in runs) == Counter({str(i): 1 for i in {int(r[0]) for r in runs}})
    assert len(runs) == 60, "every job ran exactly once"
    assert len({run[1] for run in runs}) == 2, "both workers took jobs"
