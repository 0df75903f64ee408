"""Rebuild every order and package from the event journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.ingest import OrderKey, apply_orders
from service.models import EVENTS
from statemachines.aggregate import Result


@dataclass(frozen=True)
class ReplayReport:
    """How a replay went."""

    orders: int
    events: int
    failed: int


def _rebuild(keys: list[OrderKey], conn: Connection) -> dict[int, Result]:
    return apply_orders(conn, {k: [] for k in keys}, datetime.now(UTC), rebuild=True)


def replay(
    db: Database, chunk: int = 200, progress: Callable[[int, int], None] | None = None
) -> ReplayReport:
    """Fold every order again from its whole journal, ``chunk`` orders per transaction.

    ``progress`` is called after each chunk with the orders it did and the total.
    """
    with db.read() as conn:
        keys: list[OrderKey] = [
            (r.platform, r.order_id)
            for r in conn.execute(
                sa.select(EVENTS.c.platform, EVENTS.c.order_id)
                .distinct()
                .order_by(EVENTS.c.platform, EVENTS.c.order_id)
            )
        ]
    events = failed = 0
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        results = db.run_write(partial(_rebuild, part))
        events += len(results)
        failed += sum(1 for r in results.values() if r.outcome == "error")
        if progress is not None:
            progress(len(part), len(keys))
    return ReplayReport(orders=len(keys), events=events, failed=failed)
