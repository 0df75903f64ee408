"""Indexes for the status API and dashboard lists at 100,000 orders.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 22:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
