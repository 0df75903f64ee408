"""Applying events: raw ``transitions`` triggers, pure folding, and ingest with persistence.

    .venv/bin/python bench/apply.py [--events N] [--quick] [--backend sqlite|postgres|all]
                                    [--pg-url URL] [--batch 500] [--profile PART]

Measures, in one run on one machine:

1. **raw triggers** — ``machine.events[name].trigger(subject)`` fired directly on stock
   ``transitions.Machine`` instances built from the same order and package tables
   (``ORDER.build()``, ``PACKAGE.build()``: the library as shipped, same conditions and
   callbacks) along the paths real orders take (pending → … → delivered, created → … →
   delivered); no path finding, no aggregate.
2. **pure** — :meth:`OrderAggregate.apply` over generated in-order Shopee order lives,
   no database: events/s, and steps/s (transitions fired per second, so it compares like
   with like against the raw trigger rate). Target: events/s ≥ 50% of raw triggers/s.
3. **ingest** — :func:`service.ingest.ingest` in batches on a fresh, migrated SQLite file
   and a fresh PostgreSQL database, many orders in flight, ~10% duplicate and (by default) ~2%
   reordered (late) events. Target: ≥ 5,000 events/s on each backend.
4. **baseline** — the same number of rows inserted with executemany into a simple table
   of the same database, in the same batch size and transactions, right after ingest.

Results go to stdout as a table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_PG_URL,
    Life,
    Stream,
    batches,
    delivery_stream,
    fmt_rate,
    journaled,
    machine_info,
    postgres_version,
    rate,
    say,
    shopee_lives,
    table,
    temp_postgres,
    temp_sqlite,
)
from service.db import Database  # noqa: E402
from service.ingest import ingest  # noqa: E402
from service.models import UTCDateTime  # noqa: E402
from statemachines.aggregate import OrderAggregate  # noqa: E402
from statemachines.machines import ORDER, PACKAGE, Subject  # noqa: E402
from statemachines.timeline import Journaled  # noqa: E402

T = TypeVar("T")

STOCK_ORDER = ORDER.build()
STOCK_PACKAGE = PACKAGE.build()
PURE_TARGET = 0.50  # pure events/s ÷ raw triggers/s
INGEST_TARGET = 5_000.0  # events/s per backend

#: The paths real orders and packages take (what the pure fold fires on the happy path).
ORDER_PATH = ("process", "approve", "start_picking", "pack", "mark_ready", "ship", "deliver")
PACKAGE_PATH = ("process", "mark_ready", "pick_up", "depart", "deliver")


# -- profiling ---------------------------------------------------------------------------


@dataclass
class Profiler:
    """Runs one named part under cProfile when asked to, and prints where the time went."""

    part: str | None
    out: str | None
    top: int = 30
    done: bool = False

    def run(self, name: str, work: Callable[[], T]) -> T:
        """``work()``, profiled if ``name`` is the part asked for (its first run only)."""
        if self.part != name or self.done:
            return work()
        self.done = True
        profile = cProfile.Profile()
        result = profile.runcall(work)
        if self.out:
            profile.dump_stats(self.out)
        for order in ("tottime", "cumulative"):
            buffer = io.StringIO()
            stats = pstats.Stats(profile, stream=buffer).strip_dirs().sort_stats(order)
            stats.print_stats(self.top)
            say(f"\n=== cProfile of {name!r}, top {self.top} by {order} (timings inflated by profiling) ===")
            say(buffer.getvalue())
        return result


# -- 1. raw triggers ---------------------------------------------------------------------


def raw_triggers(cycles: int, subjects: int = 1000) -> int:
    """Fire the order and package happy paths ``cycles`` times on stock ``transitions``
    machines built from the same tables (the library as shipped: the baseline)."""
    orders = [Subject(ORDER.initial) for _ in range(subjects)]
    packages = [Subject(PACKAGE.initial) for _ in range(subjects)]
    order_events = STOCK_ORDER.events
    package_events = STOCK_PACKAGE.events
    fired = 0
    for i in range(cycles):
        order = orders[i % subjects]
        order.state = "pending"
        for name in ORDER_PATH:
            order_events[name].trigger(order)
        package = packages[i % subjects]
        package.state = "created"
        for name in PACKAGE_PATH:
            package_events[name].trigger(package)
        fired += len(ORDER_PATH) + len(PACKAGE_PATH)
    if orders[0].state != "delivered" or packages[0].state != "delivered":  # pragma: no cover
        raise AssertionError("the raw paths did not reach delivered")
    return fired


# -- 2. pure -----------------------------------------------------------------------------


def fold_lives(lives: Sequence[Life], items: Sequence[Sequence[Journaled]]) -> list[OrderAggregate]:
    """Fold each life from scratch, in order."""
    aggregates = []
    for life, events in zip(lives, items, strict=True):
        aggregate = OrderAggregate("shopee", life.order_id, life.shop_id)
        for item in events:
            aggregate.apply(item)
        aggregates.append(aggregate)
    return aggregates


# -- 3. + 4. ingest and its baseline -----------------------------------------------------


@dataclass
class IngestRun:
    """One backend's ingest figures and its same-run baseline."""

    backend: str
    events: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    baseline_rows: int = 0
    baseline_seconds: float = 0.0
    rows_written: dict[str, int] = field(default_factory=dict)
    mismatches: int = 0
    server: str = ""

    @property
    def rate(self) -> float:
        return rate(self.events, self.seconds)

    @property
    def baseline_rate(self) -> float:
        return rate(self.baseline_rows, self.baseline_seconds)


BASELINE = sa.Table(
    "bench_raw_events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dedupe_key", sa.String(200)),
    sa.Column("order_id", sa.String(64)),
    sa.Column("status", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime()),
)


def run_ingest(db: Database, stream: Stream, size: int, report: IngestRun) -> None:
    """Ingest the stream in batches of ``size``, one ``ingest`` call (transaction) each."""
    now = datetime.now(UTC)
    start = time.perf_counter()
    for chunk in batches(stream.events, size):
        began = time.perf_counter()
        answers = ingest(db, chunk, now)
        report.latencies.append(time.perf_counter() - began)
        report.outcomes.update(a.outcome for a in answers)
    report.seconds = time.perf_counter() - start
    report.events = len(stream.events)


def run_baseline(db: Database, stream: Stream, size: int, report: IngestRun) -> None:
    """Insert as many plain rows as ingest received, same batch size, one transaction each."""
    BASELINE.create(db.engine, checkfirst=True)
    rows = [
        {"dedupe_key": e.dedupe_key, "order_id": e.order_id, "status": e.status, "occurred_at": e.occurred_at}
        for e in stream.events
    ]
    insert = BASELINE.insert()
    start = time.perf_counter()
    for chunk in batches(rows, size):
        with db.write() as conn:
            conn.execute(insert, list(chunk))
    report.baseline_seconds = time.perf_counter() - start
    report.baseline_rows = len(rows)


def check_ingest(db: Database, expected: dict[str, str], report: IngestRun) -> None:
    """Compare stored order states with the in-order pure fold; count rows written."""
    with db.read() as conn:
        stored = {r.order_id: r.state for r in conn.execute(sa.text("SELECT order_id, state FROM orders"))}
        for name in ("events", "orders", "packages", "transitions", "outbox", "alerts"):
            report.rows_written[name] = int(
                conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() or 0
            )
    report.mismatches = sum(1 for k, v in expected.items() if stored.get(k) != v) + len(
        set(stored) - set(expected)
    )


def ingest_backend(
    backend: str,
    url: str,
    stream: Stream,
    size: int,
    expected: dict[str, str],
    profiler: Profiler,
) -> IngestRun:
    report = IngestRun(backend)
    db = Database(url)
    try:
        say(f"[{backend}] ingesting {len(stream.events):,} events in batches of {size} …")
        profiler.run(backend, lambda: run_ingest(db, stream, size, report))
        say(f"[{backend}] baseline: {len(stream.events):,} plain rows with executemany …")
        run_baseline(db, stream, size, report)
        check_ingest(db, expected, report)
    finally:
        db.dispose()
    return report


# -- output ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="events delivered to ingest per backend "
        "(pure folds the same lives); default 8,000, --quick 2,000",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server to create the throw-away database on (default %(default)s)",
    )
    parser.add_argument("--batch", type=int, default=500, help="events per ingest call (default %(default)s)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="interleaved rounds of raw and pure (best taken; default 5, --quick 1)",
    )
    parser.add_argument(
        "--late",
        type=float,
        default=0.02,
        help="share of delivered events that arrive after a later event of their order "
        "(each makes its order fold again from the journal); default %(default)s, 0.10 for a stress mix",
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.10,
        help="share of delivered events that are repeats (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sqlite-dir", default=None, help="where the SQLite file goes (default: system temp)"
    )
    parser.add_argument(
        "--profile",
        choices=("raw", "pure", "sqlite", "postgres"),
        default=None,
        help="run this part under cProfile and print the top functions to stderr",
    )
    parser.add_argument("--profile-out", default=None, help="also dump the cProfile stats to this file")
    args = parser.parse_args(argv)

    events = args.events or (2_000 if args.quick else 8_000)
    repeats = args.repeats or (1 if args.quick else 5)
    if events < 1 or args.batch < 1:
        parser.error("--events and --batch must be positive")
    if not (0 <= args.late < 1 and 0 <= args.duplicates < 1):
        parser.error("--late and --duplicates must be fractions in [0, 1)")
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    profiler = Profiler(args.profile, args.profile_out)
    info = machine_info()
    began = time.perf_counter()

    # Workload: the lives, their journal items, and the delivery stream for ingest.
    lives = shopee_lives(int(events * 0.9), seed=args.seed)
    stream = delivery_stream(lives, duplicate_rate=args.duplicates, late_rate=args.late, seed=args.seed + 4)
    unique = sum(len(life.events) for life in lives)

    # 1. + 2. Raw triggers and pure folding, interleaved round by round so that both see
    # the same neighbours on a shared machine; the best round of each is reported.
    cycles = max(1_000, unique * 4 // (len(ORDER_PATH) + len(PACKAGE_PATH)))
    say(
        f"[raw+pure] {cycles * (len(ORDER_PATH) + len(PACKAGE_PATH)):,} triggers and {unique:,} events "
        f"in {len(lives):,} order lives, {repeats} interleaved rounds …"
    )
    raw_triggers(1_000)  # warm-up, and the path caches, as in a live process
    folded = fold_lives(lives, journaled(lives))
    steps = sum(len(a.changes) for a in folded)
    expected = {a.order_id: a.state for a in folded}
    raw_times: list[float] = []
    pure_times: list[float] = []
    fired = 0
    for _ in range(repeats):
        began_round = time.perf_counter()
        fired = profiler.run("raw", partial(raw_triggers, cycles))
        raw_times.append(time.perf_counter() - began_round)
        # Fresh journal items each round, as a fold gets them: nothing cached from the last.
        items = journaled(lives)
        began_round = time.perf_counter()
        profiler.run("pure", partial(fold_lives, lives, items))
        pure_times.append(time.perf_counter() - began_round)
    raw_rate = rate(fired, min(raw_times))
    pure_rate = rate(unique, min(pure_times))
    pure_steps = rate(steps, min(pure_times))
    pure_ratio = pure_rate / raw_rate if raw_rate else 0.0
    paired = statistics.median(
        rate(unique, p) / rate(fired, r) for r, p in zip(raw_times, pure_times, strict=True)
    )

    # 3. + 4. Ingest and its baseline per backend.
    runs: list[IngestRun] = []
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend == "sqlite":
            with temp_sqlite(args.sqlite_dir) as url:
                runs.append(ingest_backend("sqlite", url, stream, args.batch, expected, profiler))
        else:
            try:
                server = postgres_version(args.pg_url)
            except sa.exc.OperationalError as exc:
                reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
                if args.backend == "postgres":
                    print(f"apply.py: PostgreSQL at --pg-url does not answer: {reason}", file=sys.stderr)
                    return 2
                say(f"[postgres] skipped: {reason}")
                skipped["postgres"] = "no server at --pg-url"
                continue
            with temp_postgres(args.pg_url) as url:
                run = ingest_backend("postgres", url, stream, args.batch, expected, profiler)
                run.server = server
                runs.append(run)
    total = time.perf_counter() - began

    # -- report ------------------------------------------------------------------------
    cancelled = sum(1 for life in lives if any(e.status == "CANCELLED" for e in life.events))
    print("# bench/apply.py — applying events")
    print()
    print(
        f"machine: nproc={info['nproc']}, {info['cpu']}, {info['python']}, {info['os']}, "
        f"SQLite {info['sqlite']}, SQLAlchemy {info['sqlalchemy']}"
        + "".join(f", PostgreSQL {r.server}" for r in runs if r.server)
    )
    print(
        f"workload: {len(lives):,} Shopee orders, {unique:,} distinct events "
        f"({steps / unique:.2f} transitions each when folded in order; "
        f"{len(lives) - cancelled:,} shipped, {cancelled:,} cancelled); ingest gets "
        f"{len(stream.events):,} events in batches of {args.batch}: "
        f"{stream.duplicates:,} duplicates ({stream.duplicates / len(stream.events):.1%}), "
        f"{stream.late:,} late ({stream.late / len(stream.events):.1%}); "
        f"raw and pure: best of {repeats} interleaved rounds (median paired ratio {paired:.1%})"
    )
    print()
    rows: list[list[Any]] = [
        [
            "raw transitions triggers (stock Machine, same tables)",
            f"{fmt_rate(raw_rate)} triggers/s",
            "—",
            "—",
            "—",
            "—",
        ],
        [
            "pure OrderAggregate.apply",
            f"{fmt_rate(pure_rate)} events/s",
            f"raw {fmt_rate(raw_rate)} triggers/s",
            f"{pure_ratio:.1%}",
            f"≥ {PURE_TARGET:.0%} of raw",
            verdict(pure_ratio >= PURE_TARGET),
        ],
        [
            "pure, transitions fired",
            f"{fmt_rate(pure_steps)} steps/s",
            f"raw {fmt_rate(raw_rate)} triggers/s",
            f"{pure_steps / raw_rate:.1%}" if raw_rate else "—",
            "(info)",
            "",
        ],
    ]
    for run in runs:
        rows.append(
            [
                f"ingest, {run.backend}",
                f"{fmt_rate(run.rate)} events/s",
                f"executemany {fmt_rate(run.baseline_rate)} rows/s",
                f"{run.rate / run.baseline_rate:.1%}" if run.baseline_rate else "—",
                f"≥ {INGEST_TARGET:,.0f} events/s",
                verdict(run.rate >= INGEST_TARGET),
            ]
        )
    for backend, reason in skipped.items():
        rows.append([f"ingest, {backend}", "skipped", reason, "—", f"≥ {INGEST_TARGET:,.0f} events/s", "—"])
    print(table(["measure", "figure", "baseline (same run)", "ratio", "target", "result"], rows))
    for run in runs:
        print()
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(run.outcomes.items()))
        written = ", ".join(f"{k} {v:,}" for k, v in run.rows_written.items())
        print(
            f"{run.backend}: {run.events:,} events in {run.seconds:.2f} s "
            f"({len(run.latencies)} calls; per call median {statistics.median(run.latencies) * 1000:.0f} ms, "
            f"p95 {percentile(run.latencies, 0.95) * 1000:.0f} ms, max {max(run.latencies) * 1000:.0f} ms); "
            f"baseline {run.baseline_rows:,} rows in {run.baseline_seconds:.2f} s"
        )
        print(f"  outcomes: {outcomes}")
        print(f"  rows stored: {written}")
        print(
            "  final order states agree with the in-order pure fold"
            if run.mismatches == 0
            else f"  WARNING: {run.mismatches} orders differ from the in-order pure fold"
        )
    print()
    if args.profile:
        print(f"note: {args.profile!r} ran under cProfile, so its figure is inflated")
    print(f"total {total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
