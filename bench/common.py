"""Shared helpers for the benchmarks: the machine, throw-away databases, workloads, tables.

Every benchmark prints its figures next to a baseline measured in the same run on the
same machine, so a noisy shared host shows up in both.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.migrate import upgrade
from statemachines.events import Event, EventKind
from statemachines.timeline import Journaled

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# -- the machine -------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return {
        "nproc": str(usable),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
    }


def postgres_version(url: str) -> str:
    """The server version string of the PostgreSQL at ``url`` (short form)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


# -- throw-away databases ----------------------------------------------------------------


@contextmanager
def temp_sqlite(directory: str | None = None) -> Iterator[str]:
    """A fresh SQLite file, migrated to head; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="ow_bench_", dir=directory)
    try:
        url = f"sqlite:///{os.path.join(folder, 'bench.db')}"
        upgrade(url)
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def temp_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database ``ow_bench_<pid>_<hex>``, migrated to head; dropped afterwards."""
    name = f"ow_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# -- workload: Shopee order lives --------------------------------------------------------

SHOPS = [str(200_000 + i) for i in range(24)]
#: Instant Mart outlet shops and their main shop.
OUTLETS = {SHOPS[-1]: "199999", SHOPS[-2]: "199999"}
CARRIERS = ("SPX Express", "J&T Express", "Ninja Van")


@dataclass
class Life:
    """One order's events, in the marketplace's time order."""

    order_id: str
    shop_id: str
    events: list[Event]


class _LifeMaker:
    def __init__(self, rng: random.Random, order_id: str, shop_id: str, start: datetime) -> None:
        self.rng = rng
        self.order_id = order_id
        self.shop_id = shop_id
        self.at = start
        self.events: list[Event] = []

    def tick(self, low: int, high: int) -> datetime:
        self.at += timedelta(seconds=self.rng.randint(low, high))
        return self.at

    def order(self, status: str, low: int = 60, high: int = 3600) -> None:
        at = self.tick(low, high)
        stamp = int(at.timestamp())
        self.events.append(
            Event(
                platform="shopee",
                shop_id=self.shop_id,
                order_id=self.order_id,
                kind=EventKind.ORDER_STATUS,
                status=status,
                occurred_at=at,
                dedupe_key=f"shopee:{self.order_id}:order:{status}:{stamp}",
                main_shop_id=OUTLETS.get(self.shop_id),
                raw={
                    "code": 3,
                    "shop_id": int(self.shop_id),
                    "timestamp": stamp,
                    "data": {"ordersn": self.order_id, "status": status, "update_time": stamp},
                },
            )
        )

    def package(self, package_id: str, status: str, low: int = 60, high: int = 3600) -> None:
        at = self.tick(low, high)
        stamp = int(at.timestamp())
        self.events.append(
            Event(
                platform="shopee",
                shop_id=self.shop_id,
                order_id=self.order_id,
                kind=EventKind.PACKAGE_STATUS,
                status=status,
                occurred_at=at,
                dedupe_key=f"shopee:{self.order_id}:logistics:{package_id}:{status}:{stamp}",
                package_id=package_id,
                raw={
                    "code": 3,
                    "shop_id": int(self.shop_id),
                    "timestamp": stamp,
                    "data": {
                        "ordersn": self.order_id,
                        "package_number": package_id,
                        "logistics_status": status,
                        "update_time": stamp,
                    },
                },
            )
        )

    def tracking(self, package_id: str) -> None:
        at = self.tick(60, 1800)
        stamp = int(at.timestamp())
        number = f"SPXID{self.rng.randrange(10**11, 10**12)}"
        carrier = self.rng.choice(CARRIERS)
        self.events.append(
            Event(
                platform="shopee",
                shop_id=self.shop_id,
                order_id=self.order_id,
                kind=EventKind.TRACKING_NUMBER,
                status="TRACKING_NUMBER",
                occurred_at=at,
                dedupe_key=f"shopee:{self.order_id}:tracking:{package_id}:{number}",
                package_id=package_id,
                tracking_number=number,
                carrier=carrier,
                raw={
                    "code": 4,
                    "shop_id": int(self.shop_id),
                    "timestamp": stamp,
                    "data": {
                        "ordersn": self.order_id,
                        "package_number": package_id,
                        "tracking_no": number,
                    },
                },
            )
        )


#: How often each kind of order life occurs (weights).
LIFE_MIX = (
    ("delivered", 78),  # the happy path, one package
    ("two_packages", 8),  # split shipment, both delivered
    ("redelivered", 6),  # first delivery attempt fails, the second succeeds
    ("cancelled_unpaid", 4),  # never paid
    ("cancelled_arranging", 4),  # paid, cancelled before shipping
)


def shopee_life(rng: random.Random, number: int, start: datetime) -> Life:
    """One generated Shopee order life, every event in time order."""
    order_id = f"2611{number:08d}{rng.choice('ABCDEFGHJK')}{rng.randrange(100, 999)}"
    shop_id = rng.choice(SHOPS)
    shape = rng.choices([s for s, _ in LIFE_MIX], weights=[w for _, w in LIFE_MIX])[0]
    make = _LifeMaker(rng, order_id, shop_id, start)
    packages = [f"OFG{number:09d}{i}" for i in range(1, 3 if shape == "two_packages" else 2)]
    make.order("UNPAID", 0, 0)
    if shape == "cancelled_unpaid":
        make.order("CANCELLED", 600, 86_400)
        return Life(order_id, shop_id, make.events)
    make.order("READY_TO_SHIP", 30, 1800)
    for package in packages:
        make.package(package, "LOGISTICS_READY", 5, 120)
    if shape == "cancelled_arranging":
        make.order("CANCELLED", 300, 7200)
        make.package(packages[0], "LOGISTICS_REQUEST_CANCELED", 5, 120)
        return Life(order_id, shop_id, make.events)
    make.order("PROCESSED", 600, 14_400)
    for package in packages:
        make.tracking(package)
    for package in packages:
        make.package(package, "LOGISTICS_PICKUP_DONE", 3600, 43_200)
    make.order("SHIPPED", 60, 900)
    for package in packages:
        if shape == "redelivered":
            make.package(package, "LOGISTICS_DELIVERY_FAILED", 21_600, 86_400)
        make.package(package, "LOGISTICS_DELIVERY_DONE", 21_600, 172_800)
    make.order("COMPLETED", 3600, 259_200)
    return Life(order_id, shop_id, make.events)


def shopee_lives(events: int, seed: int = 7, start: datetime | None = None) -> list[Life]:
    """Enough order lives for about ``events`` events; orders begin every few seconds,
    so at any moment thousands of them are in flight, as in a busy seller's day."""
    rng = random.Random(seed)
    at = start or datetime(2026, 11, 1, tzinfo=UTC)
    lives: list[Life] = []
    total = 0
    while total < events:
        at += timedelta(seconds=rng.randint(1, 6))
        life = shopee_life(rng, len(lives) + 1, at)
        lives.append(life)
        total += len(life.events)
    return lives


def journaled(lives: Sequence[Life]) -> list[list[Journaled]]:
    """The lives as journal items (ids as a journal would give them)."""
    out = []
    next_id = 1
    for life in lives:
        items = []
        for event in life.events:
            items.append(Journaled(next_id, event))
            next_id += 1
        out.append(items)
    return out


@dataclass
class Stream:
    """Events as a marketplace delivers them, and what was mixed in."""

    events: list[Event]
    unique: int
    duplicates: int
    late: int


def delivery_stream(
    lives: Sequence[Life], duplicate_rate: float = 0.10, late_rate: float = 0.10, seed: int = 11
) -> Stream:
    """All events in arrival order: time order across orders, with about ``late_rate`` of
    the delivered events arriving after a later event of their own order (reordered
    pushes), and about ``duplicate_rate`` of them being the same fact pushed again a little
    later. Both rates are fractions of everything delivered."""
    rng = random.Random(seed)
    everything = sorted(
        ((event, index) for life in lives for index, event in enumerate(life.events)),
        key=lambda pair: pair[0].occurred_at,
    )
    unique = len(everything)
    delivered = unique / (1 - duplicate_rate)
    eligible = sum(len(life.events) - 1 for life in lives) or 1
    late_chance = min(1.0, late_rate * delivered / eligible)
    duplicate_chance = duplicate_rate / (1 - duplicate_rate)
    position = {id(event): float(i) for i, (event, _) in enumerate(everything)}
    by_order = {life.order_id: life.events for life in lives}
    placed: list[tuple[float, int, Event]] = []
    late = duplicates = 0
    for serial, (event, index) in enumerate(everything):
        where = position[id(event)]
        siblings = by_order[event.order_id]
        if index + 1 < len(siblings) and rng.random() < late_chance:
            # Delivered after the order's next event: up to a few batches behind it.
            where = position[id(siblings[index + 1])] + rng.uniform(1, 1500)
            late += 1
        placed.append((where, serial, event))
        if rng.random() < duplicate_chance:
            # The same fact again (a re-push, or a poll that saw it too), a little later.
            placed.append((position[id(event)] + rng.uniform(1, 2000), unique + serial, event))
            duplicates += 1
    placed.sort(key=lambda item: (item[0], item[1]))
    return Stream([event for _, _, event in placed], unique, duplicates, late)


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """``items`` in consecutive slices of ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- output ------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (Markdown-compatible), columns padded to fit."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def rate(count: float, seconds: float) -> float:
    """Things per second (0 when no time passed)."""
    return count / seconds if seconds > 0 else 0.0


def fmt_rate(value: float) -> str:
    """A rate with thousands separators."""
    return f"{value:,.0f}"


def say(*parts: Any) -> None:
    """Progress to stderr, so stdout holds only the results."""
    print(*parts, file=sys.stderr, flush=True)
