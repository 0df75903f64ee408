"""What the database says about orders, packages and histories, for comparisons."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.db import Database
from service.models import Event, Order, Package, Transition


def snapshot(db: Database) -> dict[str, Any]:
    """Orders, packages and every history, keyed by marketplace ids (no surrogate ids)."""
    with db.read() as conn:
        orders = {
            (r.platform, r.order_id): (
                r.state,
                r.held_from,
                r.platform_status,
                r.shop_id,
                r.main_shop_id,
                r.created_at,
                r.updated_at,
                r.last_key,
            )
            for r in conn.execute(sa.select(Order.__table__))
        }
        packages = {
            (r.platform, r.package_id): (
                r.order_id,
                r.state,
                r.held_from,
                r.attempts,
                r.platform_status,
                r.tracking_number,
                r.provisional,
            )
            for r in conn.execute(sa.select(Package.__table__))
        }
        history: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        query = sa.select(Transition.__table__).order_by(Transition.id)
        for r in conn.execute(query):
            history.setdefault((r.platform, r.order_id), []).append(
                (r.package_id, r.from_state, r.to_state, r.trigger, r.at, r.source, r.event_id, r.catch_up)
            )
        outcomes = {r.id: (r.outcome, r.error) for r in conn.execute(sa.select(Event.__table__))}
    return {"orders": orders, "packages": packages, "history": history, "outcomes": outcomes}


def order_view(db: Database, platform: str, order_id: str) -> tuple[str, list[tuple[Any, ...]]]:
    """One order's state and history as (package, from, to, trigger, at, catch_up) rows."""
    with db.read() as conn:
        state = conn.execute(
            sa.select(Order.state).where(Order.platform == platform, Order.order_id == order_id)
        ).scalar_one()
        rows = conn.execute(
            sa.select(Transition.__table__)
            .where(Transition.platform == platform, Transition.order_id == order_id)
            .order_by(Transition.id)
        ).all()
    return state, [(r.package_id, r.from_state, r.to_state, r.trigger, r.at, r.catch_up) for r in rows]


def count(db: Database, table: Any, *where: Any) -> int:
    """Rows in ``table`` matching ``where``."""
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())
