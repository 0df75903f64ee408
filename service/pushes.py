"""Received pushes: store a verified push once and ingest its events, in one transaction.

A push is stored as received, keyed by the SHA-256 of its raw body, so a push delivered
twice is stored once and applied once. Its events are journaled and applied by
:func:`service.ingest.ingest_in` inside the same transaction: when the commit returns,
the push and everything it changed are durable together, or neither is.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from handlers.shopee.push import ParsedPush
from service.db import Database
from service.ingest import ingest_in
from service.models import Push

log = logging.getLogger("orderwatch.pushes")

PUSHES = cast(sa.Table, Push.__table__)


def body_key(body: bytes) -> str:
    """The dedupe key of a raw push body: its SHA-256, hex."""
    return hashlib.sha256(body).hexdigest()


def store_push(
    db: Database,
    platform: str,
    push: ParsedPush,
    body: bytes,
    document: Mapping[str, Any],
    now: datetime | None = None,
) -> bool:
    """Store ``push`` (raw ``body``, decoded ``document``) and ingest its events in one
    transaction; False when the same body was stored before (then nothing changes)."""
    received = now or datetime.now(UTC)
    row = {
        "platform": platform,
        "code": push.code,
        "shop_id": push.shop_id,
        "dedupe_key": body_key(body),
        "received_at": received,
        "body": dict(document),
    }

    def work(conn: Connection) -> bool:
        if not _insert_once(conn, row):
            return False  # its events were ingested with it, in that same transaction
        if push.events:
            for answer in ingest_in(conn, push.events, received):
                if answer.outcome not in ("applied", "duplicate_event"):
                    error = answer.error or ""
                    log.info("%s push: %s %s %s", platform, answer.dedupe_key, answer.outcome, error)
        return True

    return db.run_write(work)


def _insert_once(conn: Connection, row: dict[str, Any]) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(PUSHES)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(PUSHES.c.id)
    )
    return conn.execute(statement).first() is not None
