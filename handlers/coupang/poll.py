"""The Coupang order poll: Coupang has no push, so orderwatch lists the vendor's order sheets
and its buyers' return and cancel requests.

For each status (ACCEPT … NONE_TRACKING) it lists the sheets ordered on each Korean day
from that status's cursor (less an overlap) to today, page by page (``nextToken``), and
ingests each page as ``poll`` events in one transaction together with the poller's memory
of the boxes (``coupang_boxes``). A status's cursor, persisted in ``poll_cursors``, moves to
the end of a day only after every page of that day has committed, so a crash at any point
re-lists, never skips; a duplicate is harmless (same dedupe key). Boxes still on their way
are found again wherever they were ordered: each status after ACCEPT also lists back to the
day of the oldest box not yet delivered nor cancelled (within ``MAX_OPEN_DAYS``).

Return and cancel requests (CANCEL, RU, UC, PR, CC) are walked the same way, by the day they
were made, each kind with its own cursor; :mod:`handlers.coupang.receipts` ingests and
remembers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, cast

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.coupang import receipts
from handlers.coupang.ingest import ingest_documents, upsert_statuses
from handlers.coupang.orders import STATUSES, SheetError, day_start, kst_day, parse_time, sheet_events
from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.returnrequests import ReturnRequests
from handlers.coupang.returns import KINDS
from handlers.errors import MarketplaceError
from service.cursors import read_cursor, write_cursor
from service.db import Database, StorageUnavailable
from service.ingest import Ingested
from service.models import COUPANG_BOXES as BOXES
from service.models import PACKAGES
from service.rounds import every

log = logging.getLogger("orderwatch.coupang.poll")

DONE = ("FINAL_DELIVERY",)
MAX_OPEN_DAYS = 31  # boxes ordered longer ago than this are no longer looked for
MAX_PAGES = 1000  # per day and status: a guard against a token that never ends


@dataclass
class Report:
    """What one poll round did."""

    pages: int = 0
    sheets: int = 0
    receipts: int = 0
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def cursor_name(vendor_id: str, status: str) -> str:
    """The ``poll_cursors`` name of a status's cursor."""
    return f"coupang:ordersheets:{vendor_id}:{status}"


def open_since(db: Database, vendor_id: str, now: datetime) -> datetime | None:
    """When the oldest box of the vendor still on its way was ordered (None: there is none);
    a box the buyer cancelled is no longer on its way, whatever status its sheet keeps."""
    floor = now - timedelta(days=MAX_OPEN_DAYS)
    cancelled = sa.select(PACKAGES.c.id).where(
        PACKAGES.c.platform == "coupang",
        PACKAGES.c.package_id == BOXES.c.shipment_box_id,
        PACKAGES.c.state == "cancelled",
    )
    query = sa.select(sa.func.min(BOXES.c.ordered_at)).where(
        BOXES.c.vendor_id == vendor_id,
        BOXES.c.status.not_in(DONE),
        BOXES.c.ordered_at >= floor,
        ~sa.exists(cancelled),
    )
    with db.read() as conn:
        found = conn.execute(query).scalar()
    return cast(datetime | None, found)


def remember(conn: Connection, vendor_id: str, sheets: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """Record each box's order time and last status (inside the caller's transaction)."""
    rows: dict[str, dict[str, Any]] = {}
    for sheet in sheets:
        ordered = parse_time(sheet.get("orderedAt")) or parse_time(sheet.get("paidAt"))
        if ordered is None:
            continue
        box = str(sheet["shipmentBoxId"])
        rows[box] = {
            "shipment_box_id": box,
            "vendor_id": vendor_id,
            "order_id": str(sheet["orderId"]),
            "status": str(sheet["status"])[:32],
            "ordered_at": ordered,
            "updated_at": now,
        }
    upsert_statuses(conn, BOXES, "shipment_box_id", rows, now)


def ingest_sheets(
    db: Database, vendor_id: str, sheets: Sequence[Mapping[str, Any]], seen: datetime, source: str = "poll"
) -> tuple[list[Ingested], int]:
    """Ingest order sheets and remember their boxes, in one transaction; the answers and
    how many sheets were skipped as malformed."""
    return ingest_documents(
        db,
        sheets,
        lambda sheet: sheet_events(vendor_id, sheet, seen=seen, source=source),
        SheetError,
        lambda conn, good: remember(conn, vendor_id, good, seen),
        seen,
        "an order sheet",
    )


def days(start: datetime, end: datetime) -> list[date]:
    """The Korean days from the one of ``start`` to the one of ``end``, both included."""
    first, last = kst_day(start), kst_day(end)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


Fetch = Callable[[str], Awaitable[tuple[list[dict[str, Any]], str]]]
Ingest = Callable[[Database, str, Sequence[Mapping[str, Any]], datetime], tuple[list[Ingested], int]]


class CoupangPoller:
    """Polls one vendor's order sheets and return requests, once or on a schedule."""

    def __init__(
        self,
        db: Database,
        sheets: OrderSheets,
        *,
        overlap: float = 3600.0,
        lookback_days: int = 7,
        per_page: int = 50,
        statuses: Sequence[str] = STATUSES,
        returns: Sequence[str] = KINDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.sheets = sheets
        self.receipts = ReturnRequests(sheets.client)
        self.vendor_id = sheets.client.vendor_id
        self.overlap = timedelta(seconds=overlap)
        self.lookback = timedelta(days=lookback_days)
        self.per_page = per_page
        self.statuses = tuple(statuses)
        self.return_kinds = tuple(returns)
        self.clock = clock
        self.last_success: datetime | None = None

    async def run_once(self) -> Report:
        """List every status and request kind once; one that fails is reported, the others go on."""
        report = Report()
        now = self.clock()
        boxes = await anyio.to_thread.run_sync(open_since, self.db, self.vendor_id, now)
        requests = await anyio.to_thread.run_sync(receipts.open_since, self.db, self.vendor_id, now)
        walks: list[tuple[str, str, datetime | None, Callable[[date], Awaitable[None]]]] = [
            (
                status,
                cursor_name(self.vendor_id, status),
                None if status == "ACCEPT" else boxes,
                partial(self._sheet_day, status, report=report),
            )
            for status in self.statuses
        ]
        walks += [
            (
                f"returns:{kind}",
                receipts.cursor_name(self.vendor_id, kind),
                requests if kind in receipts.FOLLOWED else None,
                partial(self._receipt_day, kind, report=report),
            )
            for kind in self.return_kinds
        ]
        for what, name, oldest, list_day in walks:
            try:
                await self._walk(name, now, oldest, list_day)
            except (MarketplaceError, StorageUnavailable) as exc:
                report.failed.append(what)
                log.warning("coupang poll of %s failed: %s", what, exc)
        if not report.failed:
            self.last_success = now
        log.info(
            "coupang poll: %d pages, %d sheets, %d requests, %d events %s, %d skipped, failed: %s",
            report.pages,
            report.sheets,
            report.receipts,
            report.events,
            report.outcomes,
            report.skipped,
            report.failed or "none",
        )
        return report

    async def run_forever(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set (or the task is cancelled)."""
        await every(interval, stop, self.run_once, "coupang poll")

    async def _walk(
        self, name: str, now: datetime, oldest: datetime | None, list_day: Callable[[date], Awaitable[None]]
    ) -> None:
        """List each Korean day from cursor ``name`` (back to ``oldest`` when given), less the
        overlap, to today; the cursor moves to a day's end once the day is listed."""
        saved = await anyio.to_thread.run_sync(read_cursor, self.db, name)
        cursor = datetime.fromisoformat(saved) if saved else now - self.lookback
        start = min(cursor, oldest) if oldest else cursor
        for day in days(start - self.overlap, now):
            await list_day(day)
            reached = min(day_start(day + timedelta(days=1)), now)
            if saved is None or reached > cursor:
                await anyio.to_thread.run_sync(write_cursor, self.db, name, reached.isoformat())
                cursor, saved = reached, reached.isoformat()

    async def _sheet_day(self, status: str, day: date, report: Report) -> None:
        async def fetch(token: str) -> tuple[list[dict[str, Any]], str]:
            page = await self.sheets.list_page(status, day, token, self.per_page)
            report.sheets += len(page.sheets)
            return page.sheets, page.next_token

        await self._pages(fetch, ingest_sheets, f"{status} on {day}", report)

    async def _receipt_day(self, kind: str, day: date, report: Report) -> None:
        async def fetch(token: str) -> tuple[list[dict[str, Any]], str]:
            page = await self.receipts.list_page(kind, day, token, self.per_page)
            report.receipts += len(page.receipts)
            return page.receipts, page.next_token

        await self._pages(fetch, receipts.ingest_receipts, f"requests {kind} on {day}", report)

    async def _pages(self, fetch: Fetch, ingest: Ingest, what: str, report: Report) -> None:
        """Fetch and ingest page after page until the token ends (each page its own transaction)."""
        token = ""
        for _ in range(MAX_PAGES):
            rows, next_token = await fetch(token)
            report.pages += 1
            if rows:
                answers, skipped = await anyio.to_thread.run_sync(
                    ingest, self.db, self.vendor_id, rows, self.clock()
                )
                report.skipped += skipped
                report.events += len(answers)
                for answer in answers:
                    report.outcomes[answer.outcome] = report.outcomes.get(answer.outcome, 0) + 1
            if not next_token or next_token == token:
                return
            token = next_token
        log.warning("coupang poll of %s: more than %d pages, the rest next round", what, MAX_PAGES)
