"""Recover the pushes Shopee could not deliver, from its lost-push list.

Each lost push goes through the receiver's checks and is stored in ``pushes`` like any
push (the applier applies it); only once the page is durably stored is it confirmed
consumed, so a crash in between fetches it again, and storing it again changes nothing
(same body, same key; its events' dedupe keys name facts, not deliveries). A lost push
that fails the checks is logged and counted, and confirmed too: asking again would not
make it readable. Run by the reconciliation poll (service/reconcile.py) before it lists
orders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
import orjson

from handlers.shopee.lost_pushes import Caller, confirm_lost_pushes, get_lost_pushes
from handlers.shopee.push import PLATFORM, MalformedPush, check_push
from service.db import Database
from service.pushes import Received, store_pushes

log = logging.getLogger("orderwatch.lost_pushes")

MAX_PAGES = 50  # 5,000 pushes a round; the rest wait for the next round


@dataclass
class LostReport:
    """What one recovery did."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    pages: int = 0


async def recover_lost_pushes(db: Database, client: Caller, max_pages: int = MAX_PAGES) -> LostReport:
    """Fetch, store and confirm the lost pushes, page by page."""
    report = LostReport()
    for _ in range(max_pages):
        page = await get_lost_pushes(client)
        report.pages += 1
        report.fetched += len(page.pushes) + page.unreadable
        report.malformed += page.unreadable
        received = []
        for document in page.pushes:
            body = orjson.dumps(document)
            try:
                if b"\\u0000" in body:  # PostgreSQL's JSON cannot hold it; as the webhook says
                    raise MalformedPush("the push holds a NUL character")
                received.append(Received(PLATFORM, check_push(document), body, document))
            except MalformedPush as exc:
                report.malformed += 1
                log.warning("a lost shopee push is unusable and skipped: %s", exc)
        if received:
            new = await anyio.to_thread.run_sync(store_pushes, db, received)
            report.stored += sum(new)
            report.duplicates += len(new) - sum(new)
        if page.last_message_id:
            await confirm_lost_pushes(client, page.last_message_id)
        if not page.has_next_page:
            break
    if report.fetched:
        log.info(
            "shopee lost pushes: %d fetched, %d stored, %d already stored, %d unusable",
            report.fetched,
            report.stored,
            report.duplicates,
            report.malformed,
        )
    return report
