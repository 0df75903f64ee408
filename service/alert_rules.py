"""Alert rules, and handing alerts to the sinks.

A rule is a condition read from the database at a given time; while it holds, one alert
stands for it, named by its ``condition`` key (unique among open alerts), and when it
stops holding, the alert is resolved. Keys carry the time the condition began (the
deadline, the hold's start, the last news of a parcel), so a condition that ends and
comes back is a new condition with a new alert, and re-evaluating never opens a second.

- ``ship_by_near`` / ``ship_by_passed``: an order not shipped yet whose ship-by deadline
  is within ``ship_by_lead`` / has passed (the first resolves when the second opens).
- ``no_checkpoint``: a package picked up, in transit or out for delivery with no new
  checkpoint (nor state change) for ``stale``.
- ``held_too_long``: an order or package on hold for ``hold``.
- ``customs_hold``: a parcel whose latest checkpoints say customs holds it, for ``customs``
  (such a parcel is not also "without checkpoint": customs holds take days).

Exception states open their alerts in ingest (service/store_writes.py) and resolve them there.
Whatever opened or resolved an alert, :func:`dispatch` hands it over once: the log at
once, and one ``alert_send`` outbox job per webhook sink and event (opened, resolved),
keyed so a second dispatch adds nothing. ``notified`` on the alert records what was
handed over. A dead ``alert_send`` job opens a dead-letter alert like any job, which goes
to the log only: a broken sink cannot feed itself alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.alerts import Notice, Sink, configured
from handlers.alerts import log as log_sink
from handlers.alerts.delivery import KIND as SEND_KIND
from service import bulk
from service.db import Database, StorageUnavailable
from service.models import (
    ALERTS,
    CHECKPOINTS,
    ORDERS,
    OUTBOX,
    PACKAGES,
    TRANSITIONS,
)
from service.outbox import Again, Context, Job
from service.settings import Settings

log = logging.getLogger("orderwatch.alert_rules")


# Order states before shipping (cancelled and rejected orders ship nothing).
UNSHIPPED = ("pending", "processing", "on_hold", "approved", "picking", "packing", "ready_to_ship")
MOVING = ("picked_up", "in_transit", "out_for_delivery")
RULE_KINDS = ("ship_by_near", "ship_by_passed", "no_checkpoint", "held_too_long", "customs_hold")
_CUSTOMS = re.compile(r"customs", re.I)
_CLEARED = re.compile(r"releas|cleared|clearance (is )?complete", re.I)
DISPATCH_SECONDS = 5.0  # how often the loop hands new openings and resolutions over
CHUNK = 500


@dataclass(frozen=True)
class Thresholds:
    """How near, how long: the rules' settings."""

    ship_by_lead: timedelta = timedelta(hours=24)
    stale: timedelta = timedelta(hours=48)
    hold: timedelta = timedelta(hours=24)
    customs: timedelta = timedelta(days=3)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds the ``ORDERWATCH_ALERT_*`` settings give."""
        return cls(
            ship_by_lead=timedelta(hours=settings.alert_ship_by_hours),
            stale=timedelta(hours=settings.alert_stale_hours),
            hold=timedelta(hours=settings.alert_hold_hours),
            customs=timedelta(days=settings.alert_customs_days),
        )


@dataclass(frozen=True)
class Firing:
    """A rule's condition that holds now."""

    condition: str
    kind: str
    platform: str
    order_id: str
    package_id: str | None
    message: str


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation changed."""

    firing: int
    opened: int
    resolved: int


def rfc3339(when: datetime) -> str:
    """A UTC time as RFC 3339 (``Z``)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def evaluate(db: Database, thresholds: Thresholds, now: datetime) -> Evaluation:
    """Open an alert for each rule condition that holds at ``now``, resolve those that ended.

    The conditions are read in a read transaction (the long part: SQLite's writers are not
    kept waiting); the short write applies the difference. A change that lands in between
    is seen by the next evaluation.
    """
    with db.read() as conn:
        firing = holding(conn, thresholds, now)
    return db.run_write(lambda conn: apply(conn, firing, now))


def holding(conn: Connection, thresholds: Thresholds, now: datetime) -> dict[str, Firing]:
    """The rule conditions that hold at ``now``, by condition key."""
    firing: dict[str, Firing] = {}
    for found in (
        _ship_by(conn, thresholds, now),
        _held(conn, thresholds, now),
        _parcels(conn, thresholds, now),
    ):
        firing.update((f.condition, f) for f in found)
    return firing


def apply(conn: Connection, firing: Mapping[str, Firing], now: datetime) -> Evaluation:
    """Open the alerts of conditions in ``firing`` not open yet; resolve the open rule
    alerts whose condition is not in it."""
    open_now = conn.execute(
        sa.select(ALERTS.c.id, ALERTS.c.condition).where(
            ALERTS.c.state == "open", ALERTS.c.kind.in_(RULE_KINDS)
        )
    ).all()
    ended = [row.id for row in open_now if row.condition not in firing]
    known = {row.condition for row in open_now}
    fresh = [
        {
            "condition": f.condition, "kind": f.kind, "platform": f.platform, "order_id": f.order_id,
            "package_id": f.package_id, "state": "open", "opened_at": now, "resolved_at": None,
            "message": f.message, "notified": "",
        }
        for f in firing.values()
        if f.condition not in known
    ]  # fmt: skip
    for chunk in _chunks(ended):
        conn.execute(
            ALERTS.update()
            .where(ALERTS.c.id.in_(chunk), ALERTS.c.state == "open")
            .values(state="resolved", resolved_at=now)
        )
    bulk.insert_dicts(conn, ALERTS, fresh, conflict=["condition"], conflict_where="state = 'open'")
    return Evaluation(len(firing), len(fresh), len(ended))


def _firing(kind: str, row: Any, package_id: str | None, began: datetime, message: str) -> Firing:
    """A rule's condition, keyed ``kind:platform:order:package:<when it began>``."""
    key = f"{kind}:{row.platform}:{row.order_id}:{package_id or ''}:{rfc3339(began)}"
    return Firing(key, kind, row.platform, row.order_id, package_id, message)


def _ship_by(conn: Connection, t: Thresholds, now: datetime) -> Iterator[Firing]:
    query = sa.select(ORDERS.c.platform, ORDERS.c.order_id, ORDERS.c.state, ORDERS.c.ship_by).where(
        ORDERS.c.state.in_(UNSHIPPED), ORDERS.c.ship_by <= now + t.ship_by_lead
    )
    for row in conn.execute(query):
        passed = row.ship_by <= now
        hours = abs(row.ship_by - now).total_seconds() / 3600
        when = rfc3339(row.ship_by)
        what = (
            f"missed its ship-by time {when} by {hours:.1f} h"
            if passed
            else f"must ship by {when} (in {hours:.1f} h)"
        )
        kind = "ship_by_passed" if passed else "ship_by_near"
        yield _firing(
            kind,
            row,
            None,
            row.ship_by,
            f"{row.platform} order {row.order_id} {what} and is still {row.state}",
        )


def _held(conn: Connection, t: Thresholds, now: datetime) -> Iterator[Firing]:
    held: dict[tuple[int, str | None], Any] = {}
    orders = sa.select(
        ORDERS.c.id.label("order_pk"), ORDERS.c.platform, ORDERS.c.order_id, sa.null().label("package_id")
    )
    packages = sa.select(PACKAGES.c.order_pk, PACKAGES.c.platform, PACKAGES.c.order_id, PACKAGES.c.package_id)
    for query in (orders.where(ORDERS.c.state == "on_hold"), packages.where(PACKAGES.c.state == "on_hold")):
        held.update(((row.order_pk, row.package_id), row) for row in conn.execute(query))
    since: dict[tuple[int, str | None], datetime] = {}
    for chunk in _chunks(sorted({pk for pk, _ in held})):
        query = (
            sa.select(
                TRANSITIONS.c.order_pk, TRANSITIONS.c.package_id, sa.func.max(TRANSITIONS.c.at).label("at")
            )
            .where(TRANSITIONS.c.order_pk.in_(chunk), TRANSITIONS.c.to_state == "on_hold")
            .group_by(TRANSITIONS.c.order_pk, TRANSITIONS.c.package_id)
        )
        since.update(((row.order_pk, row.package_id), row.at) for row in conn.execute(query))
    for key, row in held.items():
        began = since.get(key)
        if began is None or now - began < t.hold:
            continue
        what = f"package {row.package_id}" if row.package_id else "order"
        hours = (now - began).total_seconds() / 3600
        message = f"{row.platform} order {row.order_id}: {what} has been on hold for {hours:.1f} h"
        yield _firing("held_too_long", row, row.package_id, began, f"{message} (since {rfc3339(began)})")


def _parcels(conn: Connection, t: Thresholds, now: datetime) -> Iterator[Firing]:
    """Parcels on the way with no news for too long, or held by customs for too long."""
    last = sa.func.max(CHECKPOINTS.c.at)
    cutoff = now - t.stale
    columns = (PACKAGES.c.id, PACKAGES.c.platform, PACKAGES.c.order_id, PACKAGES.c.package_id,
               PACKAGES.c.updated_at)  # fmt: skip
    stale_query = (
        sa.select(*columns, last.label("last"))
        .select_from(PACKAGES.outerjoin(CHECKPOINTS, CHECKPOINTS.c.package_pk == PACKAGES.c.id))
        .where(PACKAGES.c.state.in_(MOVING), PACKAGES.c.updated_at <= cutoff)
        .group_by(*columns)
        .having(sa.or_(last.is_(None), last <= cutoff))
    )
    stale = {row.id: row for row in conn.execute(stale_query)}
    # Joined from the packages on their way (an index), not a scan of every checkpoint.
    customs_query = (
        sa.select(*columns)
        .distinct()
        .select_from(PACKAGES.join(CHECKPOINTS, CHECKPOINTS.c.package_pk == PACKAGES.c.id))
        .where(
            PACKAGES.c.state.in_(MOVING),
            CHECKPOINTS.c.at <= now - t.customs,
            sa.func.lower(CHECKPOINTS.c.description).like("%customs%"),
        )
    )
    candidates = {row.id: row for row in conn.execute(customs_query)} | stale
    points: dict[int, list[tuple[datetime, str]]] = {pk: [] for pk in candidates}
    for chunk in _chunks(sorted(candidates)):
        query = (
            sa.select(CHECKPOINTS.c.package_pk, CHECKPOINTS.c.at, CHECKPOINTS.c.description)
            .where(CHECKPOINTS.c.package_pk.in_(chunk))
            .order_by(CHECKPOINTS.c.package_pk, CHECKPOINTS.c.at, CHECKPOINTS.c.id)
        )
        for point in conn.execute(query):
            points[point.package_pk].append((point.at, point.description))
    for pk, row in candidates.items():
        head = f"{row.platform} order {row.order_id}: package {row.package_id}"
        customs = customs_hold_since(points[pk])
        if customs is not None:
            if now - customs >= t.customs:
                days = (now - customs).total_seconds() / 86400
                message = f"{head} has been held by customs for {days:.1f} days (since {rfc3339(customs)})"
                yield _firing("customs_hold", row, row.package_id, customs, message)
            continue
        if pk in stale:
            news = max(row.last or row.updated_at, row.updated_at)
            hours = (now - news).total_seconds() / 3600
            message = f"{head} has had no new checkpoint for {hours:.1f} h (last news {rfc3339(news)})"
            yield _firing("no_checkpoint", row, row.package_id, news, message)


def customs_hold_since(points: Sequence[tuple[datetime, str]]) -> datetime | None:
    """When the customs hold that the latest checkpoints (in time order) say began, if any."""
    since = None
    for at, description in points:
        held = _CUSTOMS.search(description) and not _CLEARED.search(description)
        since = (since or at) if held else None
    return since


def dispatch(db: Database, sinks: Mapping[str, Sink]) -> list[Notice]:
    """Hand every alert opened or resolved since the last dispatch to the sinks; the notices."""
    with db.read() as conn:
        waiting = conn.execute(
            sa.select(ALERTS.c.id).where(ALERTS.c.notified != ALERTS.c.state).limit(1)
        ).first()
    if waiting is None:
        return []  # the usual case: no write transaction
    notices = db.run_write(lambda conn: dispatch_in(conn, sinks))
    for notice in notices:
        log_sink.send(notice)  # after the commit: a retried transaction logs once
    return notices


def dispatch_in(conn: Connection, sinks: Mapping[str, Sink], limit: int = CHUNK) -> list[Notice]:
    """:func:`dispatch` inside the caller's transaction (up to ``limit`` alerts)."""
    query = sa.select(ALERTS).where(ALERTS.c.notified != ALERTS.c.state).order_by(ALERTS.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several workers: each alert once
    rows = conn.execute(query).all()
    now = datetime.now(UTC)
    lag = timedelta(seconds=1)  # opened and resolved at once: the resolution goes second
    notices: list[Notice] = []
    jobs: list[dict[str, Any]] = []
    for row in rows:
        events = (["opened"] if not row.notified else []) + (["resolved"] if row.state == "resolved" else [])
        for event in events:
            notice = Notice(
                alert_id=row.id,
                event=event,
                kind=row.kind,
                platform=row.platform,
                order_id=row.order_id,
                package_id=row.package_id,
                message=row.message,
                opened_at=rfc3339(row.opened_at),
                resolved_at=rfc3339(row.resolved_at) if event == "resolved" and row.resolved_at else None,
            )
            notices.append(notice)
            if row.condition.startswith(f"job_dead:{SEND_KIND}:"):
                continue  # a sink that failed is not told about its own failure
            for sink in sinks.values():
                jobs.append(
                    {
                        "key": f"{SEND_KIND}:{sink.id}:{row.id}:{event}", "kind": SEND_KIND,
                        "platform": row.platform, "order_id": row.order_id, "package_id": row.package_id,
                        "payload": {"sink": sink.id, "notice": notice.as_payload()}, "state": "pending",
                        "attempts": 0, "run_after": now + (lag if event != events[0] else timedelta()),
                        "created_at": now, "updated_at": now,
                        "last_error": None,
                    }
                )  # fmt: skip
    bulk.insert_dicts(conn, OUTBOX, jobs, conflict=["key"])
    for chunk in _chunks([row.id for row in rows]):
        conn.execute(ALERTS.update().where(ALERTS.c.id.in_(chunk)).values(notified=ALERTS.c.state))
    return notices


async def dispatch_job(_job: Job, ctx: Context) -> Again | None:
    """The ``alert`` outbox job (an exception state was entered): dispatch now."""
    settings: Settings = ctx.resources["settings"]
    await anyio.to_thread.run_sync(dispatch, ctx.db, configured(settings))
    return None


async def run_rules(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Evaluate the rules every ``alert_rules_seconds`` (the first time after one interval)
    and dispatch every few seconds (the first time after a few), until ``stop`` is set."""
    thresholds = Thresholds.from_settings(settings)
    sinks = configured(settings)
    tick = min(DISPATCH_SECONDS, settings.alert_rules_seconds)
    due = time.monotonic() + settings.alert_rules_seconds
    while not stop.is_set():
        # Wait first: a starting worker's first moments go to its jobs.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick)
        if stop.is_set():
            return
        try:
            if time.monotonic() >= due:
                due = time.monotonic() + settings.alert_rules_seconds
                found = await anyio.to_thread.run_sync(evaluate, db, thresholds, clock())
                if found.opened or found.resolved:
                    log.info("alert rules: %d opened, %d resolved, %d holding", found.opened,
                             found.resolved, found.firing)  # fmt: skip
            await anyio.to_thread.run_sync(dispatch, db, sinks)
        except StorageUnavailable as exc:
            log.warning("alert rules: the database is unavailable: %s", exc)
        except Exception:  # noqa: BLE001 - the loop must outlive one bad round
            log.exception("alert rules round failed")


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
