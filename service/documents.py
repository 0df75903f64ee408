"""Documents kept for packages (the airway bill): stored once, served as they came."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.models import DOCUMENTS

AIRWAY_BILL = "airway_bill"


@dataclass(frozen=True)
class StoredDocument:
    """A document's bytes and type."""

    content: bytes
    content_type: str


def store(db: Database, platform: str, package_id: str, kind: str, content: bytes, content_type: str) -> None:
    """Keep a package's document (the first one stored stays: a retry stores nothing new)."""

    def work(conn: Connection) -> None:
        if find_in(conn, platform, package_id, kind) is None:
            conn.execute(
                DOCUMENTS.insert().values(
                    platform=platform,
                    package_id=package_id,
                    kind=kind,
                    content_type=content_type,
                    content=content,
                    created_at=datetime.now(UTC),
                )
            )

    db.run_write(work)


def find_in(conn: Connection, platform: str, package_id: str, kind: str) -> StoredDocument | None:
    """The document, or None."""
    row = conn.execute(
        sa.select(DOCUMENTS.c.content, DOCUMENTS.c.content_type).where(
            DOCUMENTS.c.platform == platform, DOCUMENTS.c.package_id == package_id, DOCUMENTS.c.kind == kind
        )
    ).first()
    return None if row is None else StoredDocument(bytes(row.content), row.content_type)


def find(db: Database, platform: str, package_id: str, kind: str) -> StoredDocument | None:
    """:func:`find_in` in a reading transaction."""
    with db.read() as conn:
        return find_in(conn, platform, package_id, kind)
