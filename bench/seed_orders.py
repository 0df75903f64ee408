"""Many orders written straight into the tables, for benchmarks of the read side.

Orders (70% Shopee, 30% Coupang) of 24 shops, two of them Instant Mart outlets of one main
shop, in the state mix of a selling shop (most delivered, a few in every other state),
with one package each (two for 8%, none before ``approved``); ``service.bulk.insert`` in
one transaction, then ANALYZE.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from service import bulk
from service.models import ORDERS, PACKAGES

SHOPS = [str(300_000 + i) for i in range(24)]
OUTLETS = {SHOPS[-1]: "299999", SHOPS[-2]: "299999"}  # Instant Mart outlets -> main shop
#: Order states as a selling shop has them (weights, percent).
ORDER_MIX = (
    ("delivered", 55.0), ("shipped", 12.0), ("cancelled", 8.0), ("pending", 6.0),
    ("approved", 5.0), ("ready_to_ship", 4.0), ("processing", 3.0), ("on_hold", 2.0),
    ("returned", 1.5), ("returning", 1.0), ("picking", 1.0), ("packing", 1.0), ("rejected", 0.5),
)  # fmt: skip
#: The package state an order's package is in (None: the order has no package yet).
PACKAGE_OF = {
    "delivered": "delivered", "shipped": "in_transit", "cancelled": "cancelled", "pending": None,
    "approved": "created", "ready_to_ship": "ready_for_pickup", "processing": None,
    "on_hold": "on_hold", "returned": "returned_to_sender", "returning": "delivered",
    "picking": "processing", "packing": "processing", "rejected": None,
}  # fmt: skip


def seed(url: str, orders: int, seed_value: int = 11) -> dict[str, int]:
    """Write ``orders`` orders and their packages in bulk; counts per order state."""
    rng = random.Random(seed_value)
    states = rng.choices([s for s, _ in ORDER_MIX], weights=[w for _, w in ORDER_MIX], k=orders)
    t0 = datetime(2026, 8, 1, tzinfo=UTC)
    order_rows, package_rows = [], []
    package_pk = 0
    for number, state in enumerate(states, start=1):
        coupang = rng.random() < 0.30
        platform = "coupang" if coupang else "shopee"
        order_id = f"{30_000_000_000 + number}" if coupang else f"2608{number:08d}{rng.choice('ABCDEFGHJK')}"
        shop = rng.choice(SHOPS)
        created = t0 + timedelta(seconds=number * 60)
        updated = created + timedelta(seconds=rng.randint(60, 7 * 86_400))
        order_rows.append(
            (number, platform, order_id, shop, OUTLETS.get(shop), state, state.upper(), "", created, updated)
        )
        package_state = PACKAGE_OF[state]
        if package_state is None:
            continue
        for box in range(2 if rng.random() < 0.08 else 1):
            package_pk += 1
            package_id = f"{600_000_000 + package_pk}" if coupang else f"OFG{package_pk:09d}{box}"
            package_rows.append(
                (
                    package_pk,
                    number,
                    platform,
                    package_id,
                    order_id,
                    package_state,
                    0,
                    False,
                    created,
                    updated,
                )
            )
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for start in range(0, len(order_rows), 20_000):
                bulk.insert(
                    conn,
                    ORDERS,
                    (
                        "id",
                        "platform",
                        "order_id",
                        "shop_id",
                        "main_shop_id",
                        "state",
                        "platform_status",
                        "last_key",
                        "created_at",
                        "updated_at",
                    ),  # fmt: skip
                    order_rows[start : start + 20_000],
                )
            for start in range(0, len(package_rows), 20_000):
                bulk.insert(
                    conn,
                    PACKAGES,
                    (
                        "id",
                        "order_pk",
                        "platform",
                        "package_id",
                        "order_id",
                        "state",
                        "attempts",
                        "provisional",
                        "created_at",
                        "updated_at",
                    ),  # fmt: skip
                    package_rows[start : start + 20_000],
                )
            if conn.dialect.name == "postgresql":
                for name in ("orders", "packages"):
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT max(id) FROM {name}))"))  # fmt: skip
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
    finally:
        engine.dispose()
    found: dict[str, int] = {}
    for state in states:
        found[state] = found.get(state, 0) + 1
    return found
