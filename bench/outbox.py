"""Outbox jobs: orderwatch's outbox worker against procrastinate, on PostgreSQL.

    .venv/bin/python bench/outbox.py [--jobs N] [--quick] [--workers 1,4] [--pg-url URL]
                                     [--idle 0.05] [--timeout S] [--profile orderwatch|procrastinate]

Measures, in one run on one machine, jobs/s from worker start until every job is done:

1. **orderwatch**: ``N`` ``noop`` jobs inserted into ``outbox`` (state ``pending``,
   ``run_after`` in the past, unique keys, payload ``{}``) of a fresh, migrated PostgreSQL
   database (``ow_bench_<pid>_<hex>``, dropped afterwards), then ``orderwatch worker
   --idle 0.05`` started in 1 and in 4 processes (the applier and the outbox, as shipped;
   the outbox Worker keeps its defaults: concurrency 8, and idle 0.5 s, as ``--idle``
   reaches only the applier at the time of writing). The clock runs from just before the
   first process is started until a poll of ``outbox`` counts ``N`` jobs ``done``. Then
   every job must be ``done`` with ``attempts`` 1 (ran exactly once).
2. **the baseline, procrastinate** (the PostgreSQL task queue library; the ``bench`` extra):
   the same number of jobs of a no-op async task, deferred first with ``batch_defer_async``
   into its own fresh database (``ow_bench_<pid>_<hex>``, procrastinate's schema), then
   ``app.run_worker`` in 1 and in 4 processes with ``concurrency=8`` (orderwatch's
   default), ``fetch_job_polling_interval`` = ``--idle``, ``listen_notify=False``
   (orderwatch has no LISTEN/NOTIFY; the jobs are all there before the workers start),
   a connection pool of at most 10 (orderwatch's SQLAlchemy ``pool_size``). Timed the
   same way, on ``procrastinate_jobs.status = 'succeeded'``; every job must have
   succeeded with ``attempts`` 1.

A run that is not done after ``--timeout`` seconds is ended there and reports the rate of
the jobs done by then, marked "timed out" (``--quick`` gives each run 15 s, so a smoke run
stays under a minute however slow a system is). Both tables are emptied, refilled and
``VACUUM ANALYZE``-d before each run. Each worker process runs the same wrapper (this
file with ``--child``), so start-up costs match.
Target: orderwatch's jobs/s ≥ procrastinate's, with 1 and with 4 worker processes.

``--profile orderwatch|procrastinate`` runs cProfile in every thread of each such worker
process (timed in each thread's CPU time) and prints the first process's top functions
per run to stderr. Results go to stdout as a table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

PROFILE_ENV = "ORDERWATCH_BENCH_OUTBOX_PROFILE"
TASK_NAME = "bench_noop"
CONCURRENCY = 8  # orderwatch's Worker default, given to procrastinate too
POOL_MAX = 10  # orderwatch's SQLAlchemy pool_size, given to procrastinate's pool as max_size


# -- the worker processes ----------------------------------------------------------------


def procrastinate_app(conninfo: str) -> Any:
    """A procrastinate app on ``conninfo`` with the no-op task."""
    if __name__ == "__main__":  # procrastinate warns about apps made in __main__: make it here
        return importlib.import_module("bench.outbox").procrastinate_app(conninfo)
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo, max_size=POOL_MAX))

    @app.task(name=TASK_NAME)
    async def noop() -> None:
        return None

    return app


def _child(argv: Sequence[str]) -> int:
    """A worker process: ``orderwatch ARGS…`` or ``procrastinate CONNINFO IDLE``, maybe profiled."""
    kind, *rest = argv

    def run() -> int:
        if kind == "orderwatch":
            from service.cli import main

            return main(rest)
        conninfo, idle = rest
        procrastinate_app(conninfo).run_worker(
            concurrency=CONCURRENCY,
            fetch_job_polling_interval=float(idle),
            listen_notify=False,
            install_signal_handlers=True,
            wait=True,
        )
        return 0

    path = os.environ.get(PROFILE_ENV)
    if not path:
        return run()
    import cProfile

    profiles: list[cProfile.Profile] = []

    def bootstrap(_frame: Any, _event: str, _arg: Any) -> None:
        # The first event of a new thread: profile it from here on with its own profiler.
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()

    threading.setprofile(bootstrap)
    first = cProfile.Profile(time.thread_time)
    profiles.append(first)
    first.enable()
    try:
        return run()
    finally:
        first.disable()
        threading.setprofile(None)
        import pstats

        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            with contextlib.suppress(TypeError):  # a thread that never ran any Python
                stats.add(profile)
        stats.dump_stats(path)


# -- the harness -------------------------------------------------------------------------


@dataclass
class Run:
    """One system's run with some worker processes."""

    system: str
    workers: int
    jobs: int
    seconds: float = 0.0
    first_seconds: float = 0.0  # from start until a poll saw the first job taken
    done: int = 0
    timed_out: bool = False
    exactly_once: bool = False
    check: str = ""
    per_worker: list[int] = field(default_factory=list)
    cpu_seconds: float = 0.0  # user + system time of the worker processes
    busy: float = 0.0  # the machine's busy share during the run
    exits: list[int | None] = field(default_factory=list)
    profile: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def conninfo(url: str) -> str:
    """The libpq URL for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def temp_database(admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database ``ow_bench_<pid>_<hex>``; dropped afterwards."""
    import psycopg

    name = f"ow_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = conninfo(admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield conninfo(admin_url).rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class System:
    """What differs between orderwatch and procrastinate: filling, counting, starting, checking."""

    name = ""
    table = ""

    def __init__(self, url: str) -> None:
        self.url = url  # libpq URL

    def fill(self, jobs: int) -> None:
        raise NotImplementedError

    def counts_query(self) -> str:
        raise NotImplementedError

    def spread_query(self) -> str:
        """Jobs taken by each worker (asked while the workers still run)."""
        raise NotImplementedError

    def command(self, idle: float) -> list[str]:
        raise NotImplementedError

    status = ""  # the column of a job's state
    finished = ""  # its value once the job ran successfully

    def check(self, run: Run) -> None:
        """Every job ran exactly once: finished with one attempt (of a timed-out run: each job
        finished so far, and no job tried twice)."""
        import psycopg

        with psycopg.connect(self.url) as conn:
            total, done, once, again = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {self.status} = %(done)s), "
                f"count(*) FILTER (WHERE {self.status} = %(done)s AND attempts = 1), "
                f"count(*) FILTER (WHERE attempts > 1) FROM {self.table}",
                {"done": self.finished},
            ).fetchone() or (0, 0, 0, 0)
            states = conn.execute(
                f"SELECT {self.status}::text, attempts, count(*) FROM {self.table} "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
        run.exactly_once = (
            total == run.jobs and once == done and again == 0 and (done == run.jobs or run.timed_out)
        )
        run.check = ", ".join(f"{s} attempts={a}: {n:,}" for s, a, n in states)

    def vacuum(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {self.table}")


class Orderwatch(System):
    name = "orderwatch"
    table = "outbox"
    status = "state"
    finished = "done"

    def fill(self, jobs: int) -> None:
        from datetime import UTC, datetime, timedelta

        from service.db import Database
        from service.models import OUTBOX as JOBS

        db = Database("postgresql+psycopg://" + self.url.split("://", 1)[1])
        try:
            with db.write() as conn:
                conn.exec_driver_sql("TRUNCATE outbox RESTART IDENTITY")
            now = datetime.now(UTC)
            past = now - timedelta(minutes=1)
            rows: list[dict[str, Any]] = [
                {
                    "key": f"bench:noop:{i}",
                    "kind": "noop",
                    "platform": "shopee",
                    "order_id": f"bench{i:08d}",
                    "package_id": None,
                    "payload": {},
                    "state": "pending",
                    "attempts": 0,
                    "run_after": past,
                    "created_at": now,
                    "updated_at": now,
                    "last_error": None,
                    "lease_until": None,
                    "worker": None,
                }
                for i in range(jobs)
            ]
            for start in range(0, jobs, 5_000):
                with db.write() as conn:
                    conn.execute(JOBS.insert(), rows[start : start + 5_000])
        finally:
            db.dispose()
        self.vacuum()

    def counts_query(self) -> str:
        return (
            "SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state <> 'pending') "
            "FROM outbox"
        )

    def spread_query(self) -> str:
        return "SELECT count(*) FROM outbox WHERE worker IS NOT NULL GROUP BY worker ORDER BY 1 DESC"

    def command(self, idle: float) -> list[str]:
        return ["orderwatch", "worker", "--idle", str(idle)]


class Procrastinate(System):
    name = "procrastinate"
    table = "procrastinate_jobs"
    status = "status"
    finished = "succeeded"

    def schema(self) -> None:
        app = procrastinate_app(self.url)

        async def apply() -> None:
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(apply())

    def fill(self, jobs: int) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("TRUNCATE procrastinate_jobs, procrastinate_workers RESTART IDENTITY CASCADE")
        app = procrastinate_app(self.url)

        async def defer() -> None:
            async with app.open_async():
                task = app.tasks[TASK_NAME]
                for start in range(0, jobs, 1_000):
                    await task.batch_defer_async(*({} for _ in range(min(1_000, jobs - start))))

        asyncio.run(defer())
        self.vacuum()

    def counts_query(self) -> str:
        return (
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status <> 'todo') "
            "FROM procrastinate_jobs"
        )

    def spread_query(self) -> str:
        return (
            "SELECT count(*) FROM procrastinate_jobs WHERE worker_id IS NOT NULL "
            "GROUP BY worker_id ORDER BY 1 DESC"
        )

    def command(self, idle: float) -> list[str]:
        return ["procrastinate", self.url, str(idle)]


def measure(
    system: System, workers: int, jobs: int, idle: float, timeout: float, poll: float, profile_dir: str | None
) -> Run:
    """Fill ``jobs`` jobs, start ``workers`` processes, time until all are done, stop, check."""
    import psycopg

    from bench.common import say

    run = Run(system.name, workers, jobs)
    say(f"[{system.name} ×{workers}] filling {jobs:,} jobs …")
    system.fill(jobs)
    env = {k: v for k, v in os.environ.items() if k != PROFILE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["ORDERWATCH_DATABASE_URL"] = "postgresql+psycopg://" + system.url.split("://", 1)[1]
    env.setdefault("ORDERWATCH_LOG_LEVEL", "INFO")
    profiles: list[str] = []
    count = system.counts_query()
    with (
        tempfile.TemporaryFile(mode="w+", encoding="utf-8") as logs,
        psycopg.connect(system.url, autocommit=True) as conn,
    ):
        say(f"[{system.name} ×{workers}] running …")
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        ticks_before = cpu_ticks()
        began = time.perf_counter()
        procs = []
        for n in range(workers):
            child_env = dict(env)
            if profile_dir:
                path = os.path.join(profile_dir, f"{system.name}-{workers}-{n}.prof")
                child_env[PROFILE_ENV] = path
                profiles.append(path)
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--child", *system.command(idle)],
                    env=child_env,
                    cwd=str(ROOT),
                    stdout=logs,
                    stderr=logs,
                )
            )
        try:
            while True:
                done, taken = conn.execute(count).fetchone() or (0, 0)
                now = time.perf_counter() - began
                if taken and not run.first_seconds:
                    run.first_seconds = now
                if done >= jobs or now > timeout or any(p.poll() is not None for p in procs):
                    run.seconds, run.done = now, done
                    run.timed_out = done < jobs
                    break
                time.sleep(poll)
            ticks_after = cpu_ticks()
            # procrastinate forgets a job's worker when the worker stops: count them now.
            run.per_worker = [n for (n,) in conn.execute(system.spread_query())]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            run.exits = [p.returncode for p in procs]
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        busy, total = ticks_after[0] - ticks_before[0], ticks_after[1] - ticks_before[1]
        run.busy = busy / total if total else 0.0
        system.check(run)
        if not run.exactly_once or any(code != 0 for code in run.exits):
            logs.seek(0)
            say(f"[{system.name} ×{workers}] worker output (tail):\n{logs.read()[-4000:]}")
    if profiles and os.path.exists(profiles[0]):
        import pstats

        buffer = io.StringIO()
        stats = pstats.Stats(profiles[0], stream=buffer).strip_dirs()
        for order in ("tottime", "cumulative"):
            buffer.write(f"\n--- top 30 by {order} ---\n")
            stats.sort_stats(order).print_stats(30)
        run.profile = buffer.getvalue()
    say(
        f"[{system.name} ×{workers}] {run.done:,} jobs in {run.seconds:.2f} s = {run.rate:,.0f} jobs/s"
        + (" (TIMED OUT)" if run.timed_out else "")
    )
    return run


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=None, help="jobs per run (default 20,000; --quick 3,000)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--workers", default="1,4", help="worker process counts, comma-separated (%(default)s)"
    )
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to create the throw-away databases on (default %(default)s)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.05,
        help="orderwatch worker --idle, and procrastinate's fetch_job_polling_interval (%(default)s s)",
    )
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between counts (%(default)s)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="end a run after this many seconds and report the rate of the jobs done by then "
        "(default 3,600; --quick 15)",
    )
    parser.add_argument(
        "--profile",
        choices=("orderwatch", "procrastinate"),
        default=None,
        help="cProfile that system's worker processes; the first one's top functions go to stderr",
    )
    args = parser.parse_args(argv)
    jobs = args.jobs or (3_000 if args.quick else 20_000)
    timeout = args.timeout or (15.0 if args.quick else 3_600.0)
    try:
        counts = sorted({int(x) for x in args.workers.split(",") if x.strip()})
    except ValueError:
        parser.error("--workers takes numbers, e.g. 1,4")
    if jobs < 1 or not counts or min(counts) < 1 or args.idle <= 0:
        parser.error("--jobs, --workers and --idle must be positive")
    if importlib.util.find_spec("procrastinate") is None:
        print(
            "outbox.py: procrastinate is not installed; it is the baseline of this benchmark. "
            "Install the bench extra: .venv/bin/pip install -e '.[bench]' "
            "(or: .venv/bin/pip install 'procrastinate>=2')",
            file=sys.stderr,
        )
        return 2

    import sqlalchemy as sa

    from bench.common import fmt_rate, machine_info, postgres_version, say, table, temp_postgres

    try:
        server = postgres_version(args.pg_url)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        print(f"outbox.py: PostgreSQL at --pg-url does not answer: {reason}", file=sys.stderr)
        return 2
    info = machine_info()
    versions = {
        name: importlib.metadata.version(name) for name in ("procrastinate", "psycopg", "psycopg-pool")
    }
    began = time.perf_counter()
    runs: dict[tuple[str, int], Run] = {}
    with contextlib.ExitStack() as stack:
        profile_dir = stack.enter_context(tempfile.TemporaryDirectory()) if args.profile else None
        say("[setup] two throw-away databases: orderwatch (migrated), procrastinate (its schema) …")
        ours = Orderwatch(conninfo(stack.enter_context(temp_postgres(args.pg_url))))
        theirs = Procrastinate(stack.enter_context(temp_database(args.pg_url)))
        theirs.schema()
        for workers in counts:
            for system in (ours, theirs):
                runs[system.name, workers] = measure(
                    system,
                    workers,
                    jobs,
                    args.idle,
                    timeout,
                    args.poll,
                    profile_dir if args.profile == system.name else None,
                )
    total = time.perf_counter() - began

    # -- report ------------------------------------------------------------------------
    print("# bench/outbox.py — outbox jobs/s on PostgreSQL")
    print()
    print(
        f"machine: nproc={info['nproc']}, {info['cpu']}, {info['python']}, {info['os']}, "
        f"PostgreSQL {server}, SQLAlchemy {info['sqlalchemy']}, psycopg {versions['psycopg']}, "
        f"procrastinate {versions['procrastinate']} (psycopg-pool {versions['psycopg-pool']})"
    )
    print(
        f"workload: {jobs:,} pre-inserted no-op jobs per run; orderwatch: `orderwatch worker --idle "
        f"{args.idle:g}` (outbox Worker defaults: concurrency {CONCURRENCY}, idle 0.5 s); "
        f"procrastinate: run_worker("
        f"concurrency={CONCURRENCY}, fetch_job_polling_interval={args.idle:g}, listen_notify=False), "
        f"pool max {POOL_MAX}; timed from worker start until all jobs are done (polled every {args.poll:g} s)"
    )
    print()
    rows: list[list[Any]] = []
    for workers in counts:
        ow, pc = runs["orderwatch", workers], runs["procrastinate", workers]
        label = f"{workers} worker process{'es' if workers > 1 else ''}"
        ok = ow.rate >= pc.rate and not ow.timed_out and ow.exactly_once
        rows.append(
            [
                f"orderwatch outbox, {label}",
                f"{fmt_rate(ow.rate)} jobs/s" + (" (timed out)" if ow.timed_out else ""),
                f"procrastinate {fmt_rate(pc.rate)} jobs/s" + (" (timed out)" if pc.timed_out else ""),
                f"{ow.rate / pc.rate:.1%}" if pc.rate else "—",
                "≥ procrastinate's rate",
                verdict(ok),
            ]
        )
    print(table(["measure", "figure", "baseline (same run)", "ratio", "target", "result"], rows))
    print()
    for run in runs.values():
        per_job = run.cpu_seconds / run.done * 1e6 if run.done else 0.0
        spread = "/".join(f"{n:,}" for n in run.per_worker)
        print(
            f"{run.system} ×{run.workers}: {run.done:,} of {run.jobs:,} jobs in {run.seconds:.2f} s "
            f"(first job taken after {run.first_seconds:.2f} s); worker CPU {run.cpu_seconds:.1f} s "
            f"({per_job:,.0f} µs/job); machine busy {run.busy:.0%}; jobs per worker {spread}"
        )
        if not run.exactly_once:
            outcome = "WARNING: not every job ran exactly once"
        elif run.timed_out:
            outcome = f"timed out after {timeout:g} s; every job done by then ran once"
        else:
            outcome = "every job ran exactly once"
        print(f"  {outcome} ({run.check}); worker exits {run.exits}")
    failed = [r for r in runs.values() if not r.exactly_once]
    print()
    if args.profile:
        print(f"note: {args.profile} ran under cProfile, so its figures are deflated")
        for run in runs.values():
            if run.profile:
                say(
                    f"\n=== cProfile of the first {run.system} worker, ×{run.workers} "
                    f"(every thread, thread CPU time) ==={run.profile}"
                )
    print(f"total {total:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
