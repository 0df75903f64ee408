"""Coupang return and cancel requests in the order poll: ingest a page of them, remember them.

Coupang lists requests by the day they were made and by their current status, so a request
made days ago that moves on (a stop-shipment request the seller answers, a return Coupang
completes) is only seen by listing its day again under the new status. ``coupang_receipts``
(migration 0012) remembers each request's day and last status; the statuses a request
moves on to (UC, PR, CC) are listed back to the day of the oldest request not yet final,
within ``MAX_OPEN_DAYS``. :class:`handlers.coupang.poll.CoupangPoller` walks the days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.coupang.ingest import ingest_documents, upsert_statuses
from handlers.coupang.orders import parse_time
from handlers.coupang.returns import FINAL, ReceiptError, receipt_events, receipt_ids, receipt_status
from service.db import Database
from service.ingest import Ingested
from service.models import COUPANG_RECEIPTS as RECEIPTS

MAX_OPEN_DAYS = 31  # Coupang's longest window; older requests are no longer looked for
FOLLOWED = ("UC", "PR", "CC")  # statuses a request reaches after it was made


def cursor_name(vendor_id: str, kind: str) -> str:
    """The ``poll_cursors`` name of a request kind's cursor (CANCEL, RU, UC, PR, CC)."""
    return f"coupang:returns:{vendor_id}:{kind}"


def open_since(db: Database, vendor_id: str, now: datetime) -> datetime | None:
    """When the oldest request of the vendor still under way was made (None: there is none)."""
    query = sa.select(sa.func.min(RECEIPTS.c.created_at)).where(
        RECEIPTS.c.vendor_id == vendor_id,
        RECEIPTS.c.status.not_in(sorted(FINAL)),
        RECEIPTS.c.created_at >= now - timedelta(days=MAX_OPEN_DAYS),
    )
    with db.read() as conn:
        found = conn.execute(query).scalar()
    return cast(datetime | None, found)


def remember(conn: Connection, vendor_id: str, receipts: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """Record each request's day and last status (inside the caller's transaction)."""
    rows: dict[str, dict[str, Any]] = {}
    for receipt in receipts:
        made = parse_time(receipt.get("createdAt"))
        if made is None:
            continue
        receipt_id, order_id = receipt_ids(receipt)
        rows[receipt_id] = {
            "receipt_id": receipt_id,
            "vendor_id": vendor_id,
            "order_id": order_id,
            "status": receipt_status(receipt)[:64],
            "created_at": made,
            "updated_at": now,
        }
    upsert_statuses(conn, RECEIPTS, "receipt_id", rows, now)


def ingest_receipts(
    db: Database, vendor_id: str, receipts: Sequence[Mapping[str, Any]], seen: datetime, source: str = "poll"
) -> tuple[list[Ingested], int]:
    """Ingest requests and remember them, in one transaction; the answers and how many
    requests were skipped as malformed."""
    return ingest_documents(
        db,
        receipts,
        lambda receipt: receipt_events(vendor_id, receipt, seen=seen, source=source),
        ReceiptError,
        lambda conn, good: remember(conn, vendor_id, good, seen),
        seen,
        "a return request",
    )
