"""``GET /metrics``: Prometheus text exposition, one registry per application.

The counters live where the code that counts them keeps them (``app.state.push_counts``
for pushes); a collector reads them at scrape time, so counting stays a dict increment
on the hot path and tests can read the same numbers directly.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp


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


def new_registry(app: ASGIApp) -> CollectorRegistry:
    """A registry that reports ``app``'s counters."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_AppCollector(app))
    return registry


async def metrics(request: Request) -> Response:
    """The Prometheus scrape endpoint."""
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
