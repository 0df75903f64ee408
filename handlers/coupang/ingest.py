"""What the Coupang order poll and the return-request poll share: turning a page of
documents into events and ingesting them in the transaction that remembers the
documents' last statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.ingest import Ingested, ingest_in
from statemachines.events import Event

log = logging.getLogger("orderwatch.coupang")

Document = Mapping[str, Any]


def ingest_documents(
    db: Database,
    documents: Sequence[Document],
    events_of: Callable[[Document], list[Event]],
    refused: type[Exception],
    remember: Callable[[Connection, Sequence[Document]], None],
    seen: datetime,
    what: str,
) -> tuple[list[Ingested], int]:
    """Ingest the events of ``documents`` and ``remember`` them, in one transaction; the
    answers and how many documents were skipped (``events_of`` raised ``refused``)."""
    events: list[Event] = []
    good: list[Document] = []
    for document in documents:
        try:
            events.extend(events_of(document))
        except refused as exc:
            log.warning("coupang: skipped %s: %s", what, exc)
            continue
        good.append(document)

    def work(conn: Connection) -> list[Ingested]:
        answers = ingest_in(conn, events, seen) if events else []
        remember(conn, good)
        return answers

    return db.run_write(work), len(documents) - len(good)


def upsert_statuses(
    conn: Connection, table: sa.Table, key: str, rows: Mapping[str, dict[str, Any]], now: datetime
) -> None:
    """Insert the rows (by their ``key`` column) not there yet; set ``status`` and
    ``updated_at`` on the others (inside the caller's transaction)."""
    if not rows:
        return
    column = table.c[key]
    known = set(conn.execute(sa.select(column).where(column.in_(list(rows)))).scalars())
    fresh = [row for name, row in sorted(rows.items()) if name not in known]
    if fresh:
        conn.execute(table.insert(), fresh)
    changed = [
        {"u_key": name, "u_status": row["status"], "u_now": now}
        for name, row in sorted(rows.items())
        if name in known
    ]
    if changed:
        conn.execute(
            table.update()
            .where(column == sa.bindparam("u_key"))
            .values(status=sa.bindparam("u_status"), updated_at=sa.bindparam("u_now")),
            changed,
        )
