"""Alert rules and sinks: deadlines, staleness, and delivered notifications.

Orders get their ship-by deadline (``ship_by``, indexed for the deadline rule); alerts
get ``notified``: the last state of the alert handed to the sinks, so each opening and
each resolution is delivered once (the partial index finds those not yet handed over).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("ship_by", service.models.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_orders_ship_by", ["state", "ship_by"], unique=False)
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("notified", sa.String(length=16), server_default="", nullable=False))
    # Alerts from before: already delivered to the log, as they were then.
    op.execute("UPDATE alerts SET notified = state")
    op.create_index(
        "ix_alerts_unnotified",
        "alerts",
        ["id"],
        unique=False,
        sqlite_where=sa.text("notified <> state"),
        postgresql_where=sa.text("notified <> state"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_alerts_unnotified",
        table_name="alerts",
        sqlite_where=sa.text("notified <> state"),
        postgresql_where=sa.text("notified <> state"),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("notified")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_ship_by")
        batch.drop_column("ship_by")
