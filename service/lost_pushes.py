"""Recover the pushes Shopee could not deliver, from its lost-push list.

Each lost push goes through the receiver's checks and is stored in ``pushes`` like any
push (the applier applies it). A message that is not a push we can read (its data is not
a push envelope, the push fails the receiver's checks, its outer shop or code disagrees
with the push's) is kept as an open ``lost_push_unreadable`` alert holding the message as
received, so that someone sees it and can replay it; the reconciliation poll's order list
catches up on the order meanwhile.

A page is confirmed consumed only once every message of it is durably stored, as a push
or as an alert: Shopee's confirmation is cumulative and the messages carry no ids, so a
page that could not be stored whole (the database down) is not confirmed and comes back
next round, and storing it again changes nothing (same body, same key; the alert's
condition is the message's digest). Run by the reconciliation poll (service/reconcile.py)
before it lists orders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.shopee.lost_pushes import Caller, Unreadable, confirm_lost_pushes, get_lost_pushes
from handlers.shopee.push import PLATFORM, MalformedPush, check_push
from service import limits
from service.db import Database
from service.models import ALERTS
from service.pushes import Received, store_pushes

log = logging.getLogger("orderwatch.lost_pushes")

MAX_PAGES = 50  # 5,000 pushes a round; the rest wait for the next round
ALERT_KIND = "lost_push_unreadable"
NO_ORDER = "-"  # the alert's order when the message names none


@dataclass
class LostReport:
    """What one recovery did."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    pages: int = 0
    confirmed: int = 0  # pages confirmed consumed


async def recover_lost_pushes(db: Database, client: Caller, max_pages: int = MAX_PAGES) -> LostReport:
    """Fetch, store and confirm the lost pushes, page by page (a storage failure raises,
    with the page unconfirmed)."""
    report = LostReport()
    for _ in range(max_pages):
        page = await get_lost_pushes(client)
        report.pages += 1
        report.fetched += page.size
        received: list[Received] = []
        unreadable = list(page.unreadable)
        for push in page.pushes:
            try:
                if b"\\u0000" in push.body or b"\x00" in push.body:  # PostgreSQL's JSON cannot hold it
                    raise MalformedPush("the push holds a NUL character")
                if limits.problem(push.body, push.document) == limits.TOO_DEEP:  # as the receiver refuses it
                    raise MalformedPush(limits.depth_message("the push"))
                received.append(Received(PLATFORM, check_push(push.document), push.body, push.document))
            except MalformedPush as exc:
                unreadable.append(Unreadable(f"the push is malformed: {exc}", push.body.decode()[:4000]))
        report.malformed += len(unreadable)
        if received:
            new = await anyio.to_thread.run_sync(store_pushes, db, received)
            report.stored += sum(new)
            report.duplicates += len(new) - sum(new)
        if unreadable:
            opened = await anyio.to_thread.run_sync(keep_unreadable, db, unreadable)
            for item in unreadable:
                log.warning("a lost shopee push cannot be read, kept as an alert: %s", item.reason)
            if opened:
                log.error("%d lost shopee pushes are unreadable: see the %s alerts", opened, ALERT_KIND)
        if page.last_message_id:
            await confirm_lost_pushes(client, page.last_message_id)
            report.confirmed += 1
        elif page.size:
            log.warning("shopee gave %d lost pushes without a last_message_id: not confirmed", page.size)
        if not page.has_next_page or not page.last_message_id:
            break
    if report.fetched:
        log.info(
            "shopee lost pushes: %d fetched, %d stored, %d already stored, %d unreadable (alerts)",
            report.fetched,
            report.stored,
            report.duplicates,
            report.malformed,
        )
    return report


def keep_unreadable(db: Database, items: Sequence[Unreadable], now: datetime | None = None) -> int:
    """Open one alert per unreadable message (none twice while open); how many are new."""
    when = now or datetime.now(UTC)

    def work(conn: Connection) -> int:
        opened = 0
        for item in items:
            condition = f"{ALERT_KIND}:{hashlib.sha256(item.text.encode()).hexdigest()}"
            exists = conn.execute(
                sa.select(ALERTS.c.id).where(ALERTS.c.condition == condition, ALERTS.c.state == "open")
            ).first()
            if exists is not None:
                continue
            conn.execute(
                ALERTS.insert().values(
                    condition=condition,
                    kind=ALERT_KIND,
                    platform=PLATFORM,
                    order_id=(item.order_sn or NO_ORDER)[:64],
                    package_id=None,
                    state="open",
                    opened_at=when,
                    resolved_at=None,
                    message=f"a lost Shopee push could not be read ({item.reason}); "
                    f"the message as Shopee gave it: {item.text}",
                )
            )
            opened += 1
        return opened

    return db.run_write(work)
