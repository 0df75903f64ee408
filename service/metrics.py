"""``GET /metrics``: Prometheus text exposition, one registry per application.

The counters live where the code that counts them keeps them (``app.state.push_counts``
for pushes, :data:`service.counters.TRANSITIONS` for the transitions this process wrote); a collector
reads them at scrape time, so counting stays a dict increment on the hot path and tests
can read the same numbers directly. The gauges (outbox depth and wait, poll lag, open
alerts, unapplied and failed pushes) are read from the database at scrape time, so they
hold for every process that shares it (``orderwatch worker`` processes serve no metrics
of their own); each is one indexed query, and the scrape runs off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import anyio
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from service.counters import TRANSITIONS
from service.db import Database
from service.models import ALERTS, CURSORS, PUSHES
from service.models import OUTBOX as JOBS
from service.push_failures import failed_count

log = logging.getLogger("orderwatch.metrics")


class _AppCollector(Collector):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        pushes = CounterMetricFamily(
            "orderwatch_pushes",
            "Marketplace pushes received, by platform, push code and result "
            "(stored, duplicate, or the reason it was refused)",
            labels=["platform", "code", "result"],
        )
        counts = getattr(getattr(self.app, "state", None), "push_counts", {})
        for (code, result), value in sorted(counts.items()):
            pushes.add_metric(["shopee", code, result], value)
        yield pushes
        committer = getattr(getattr(self.app, "state", None), "push_committer", None)
        if committer is not None:
            commits = CounterMetricFamily(
                "orderwatch_push_commits",
                "Transactions that stored pushes (group commit: several pushes each)",
            )
            commits.add_metric([], committer.commits)
            yield commits
        applier = getattr(getattr(self.app, "state", None), "applier", None)
        if applier is not None:
            applied = CounterMetricFamily(
                "orderwatch_pushes_applied", "Stored pushes applied by this process"
            )
            applied.add_metric([], applier.applied)
            yield applied
        transitions = CounterMetricFamily(
            "orderwatch_transitions",
            "State transitions written by this process, by machine (order or package) and states",
            labels=["machine", "from_state", "to_state"],
        )
        for (machine, before, after), value in sorted(TRANSITIONS.snapshot().items()):
            transitions.add_metric([machine, before, after], value)
        yield transitions
        db = getattr(getattr(self.app, "state", None), "db", None)
        if db is not None:
            try:
                yield from database_gauges(db, datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - a scrape must answer with what it has
                log.warning("metrics: the database gauges are unavailable: %s", exc)


def database_gauges(db: Database, now: datetime) -> list[Metric]:
    """Outbox depth and wait, poll lag, open alerts, unapplied and failed pushes, as the
    database says now."""
    jobs = GaugeMetricFamily(
        "orderwatch_outbox_jobs", "Outbox jobs by state (done ones are not counted)", labels=["state"]
    )
    due = GaugeMetricFamily("orderwatch_outbox_due_jobs", "Pending outbox jobs whose time has come")
    oldest = GaugeMetricFamily(
        "orderwatch_outbox_oldest_due_seconds", "How long the longest-waiting due outbox job has waited"
    )
    lag = GaugeMetricFamily(
        "orderwatch_poll_lag_seconds", "Time since each poll cursor last moved (its last good poll)",
        labels=["cursor"],
    )  # fmt: skip
    alerts = GaugeMetricFamily("orderwatch_open_alerts", "Open alerts by kind", labels=["kind"])
    unapplied = GaugeMetricFamily(
        "orderwatch_pushes_unapplied", "Stored pushes not applied yet (on SQLite, spooled ones included)"
    )
    failed = GaugeMetricFamily(
        "orderwatch_pushes_failed",
        "Stored (acknowledged) pushes that failed to apply and were not re-applied since: "
        "GET /v1/pushes?state=failed lists them",
    )
    with db.read() as conn:
        failed.add_metric([], failed_count(conn))
        waiting_pushes = conn.execute(
            sa.select(sa.func.count()).select_from(PUSHES).where(PUSHES.c.applied_at.is_(None))
        ).scalar_one()
        unapplied.add_metric([], waiting_pushes + (db.spool.count() if db.spool is not None else 0))
        states = conn.execute(
            sa.select(JOBS.c.state, sa.func.count())
            .where(JOBS.c.state.in_(("pending", "running", "dead")))
            .group_by(JOBS.c.state)
        ).all()
        counted = {state: n for state, n in states}
        for state in ("pending", "running", "dead"):
            jobs.add_metric([state], counted.get(state, 0))
        waiting, since = conn.execute(
            sa.select(sa.func.count(), sa.func.min(JOBS.c.run_after)).where(
                JOBS.c.state == "pending", JOBS.c.run_after <= now
            )
        ).one()
        due.add_metric([], waiting)
        oldest.add_metric([], max(0.0, (now - since).total_seconds()) if since else 0.0)
        for name, updated_at in conn.execute(sa.select(CURSORS.c.name, CURSORS.c.updated_at)):
            lag.add_metric([name], max(0.0, (now - updated_at).total_seconds()))
        query = (
            sa.select(ALERTS.c.kind, sa.func.count()).where(ALERTS.c.state == "open").group_by(ALERTS.c.kind)
        )
        for kind, n in conn.execute(query):
            alerts.add_metric([kind], n)
    return [jobs, due, oldest, lag, alerts, unapplied, failed]


def new_registry(app: ASGIApp) -> CollectorRegistry:
    """A registry that reports ``app``'s counters."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_AppCollector(app))
    return registry


async def metrics(request: Request) -> Response:
    """The Prometheus scrape endpoint."""
    registry: CollectorRegistry = request.app.state.metrics
    # The gauges read the database: off the event loop.
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
