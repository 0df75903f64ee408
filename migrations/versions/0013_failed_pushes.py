"""Failed pushes: an index of the stored pushes the applier could not apply.

A push that fails to apply alone keeps its ``error`` (service/inbox.py); ``GET /metrics``
counts them and ``GET /v1/pushes?state=failed`` pages them at every scrape and listing, so
they are read through a partial index of their own instead of a scan of every push.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("error IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_pushes_failed", "pushes", ["id"], unique=False, sqlite_where=WHERE, postgresql_where=WHERE
    )


def downgrade() -> None:
    op.drop_index("ix_pushes_failed", table_name="pushes", sqlite_where=WHERE, postgresql_where=WHERE)
