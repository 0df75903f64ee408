"""Pollers' cursors: how far each poller got, kept in ``poll_cursors`` by name.

Marketplace-neutral: the Shopee reconciler and the Coupang pollers each keep theirs here
under names of their own (``<platform>:…``), so neither marketplace's code imports the
other's to remember where it stopped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.models import CURSORS


def read_cursor(db: Database, name: str) -> str | None:
    """A poller's cursor, or None before its first good poll."""
    with db.read() as conn:
        value = conn.execute(sa.select(CURSORS.c.value).where(CURSORS.c.name == name)).scalar()
        return None if value is None else str(value)


def write_cursor(db: Database, name: str, value: str) -> None:
    """Persist a poller's cursor."""

    def work(conn: Connection) -> None:
        now = datetime.now(UTC)
        updated = conn.execute(
            CURSORS.update().where(CURSORS.c.name == name).values(value=value, updated_at=now)
        )
        if not updated.rowcount:
            conn.execute(CURSORS.insert().values(name=name, value=value, updated_at=now))

    db.run_write(work)
