"""Coupang products: registering them, following their approval, listing them.

A product enters by :func:`register` (the body is checked against Coupang's documented
limits first: :class:`ProductInvalid` carries the field-level problems, and nothing is
sent) or by :func:`track` (a ``sellerProductId`` made elsewhere). :func:`poll_products`,
called from the Coupang poller's loop, reads each due product and moves it through the
listing machine (statemachines/listing.py) to the state its ``statusName`` names, in one
transaction: the product row, its items' ``vendorItemId``s, its history, and for
``rejected`` or ``partially_approved`` an alert (an ``alerts`` row and an outbox ``alert``
job, as order exceptions get). Leaving that state resolves the alert. Coupang's "being
registered, retry later" only schedules the next look. Alerts name the product by its
``sellerProductId`` in ``order_id`` (the alert shape has no product field).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.coupang.client import CoupangClient
from handlers.coupang.products import calls as api
from handlers.coupang.products import read as product_views
from handlers.coupang.products.rules import FieldError, validate, wire_body
from handlers.errors import MarketplaceError
from service.db import Database, StorageUnavailable
from service.models import (
    ALERTS,
    OUTBOX,
)
from service.models import COUPANG_PRODUCT_ITEMS as ITEMS
from service.models import COUPANG_PRODUCT_TRANSITIONS as HISTORY
from service.models import COUPANG_PRODUCTS as PRODUCTS
from service.settings import Settings
from statemachines.listing import LISTING, advance, target_of
from statemachines.machines import Subject

log = logging.getLogger("orderwatch.products")

PLATFORM = "coupang"
BATCH = 50  # products read per poll round
SETTLED_FACTOR = 12  # an approved product is looked at this many times less often


class ProductInvalid(ValueError):
    """A product body breaks Coupang's documented limits; ``errors`` says where."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field or 'body'}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class PollReport:
    """What one round of :func:`poll_products` did."""

    read: int = 0
    moved: int = 0
    not_ready: int = 0
    failed: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


async def register(db: Database, client: CoupangClient, body: object, settings: Settings) -> dict[str, Any]:
    """Check ``body``, send it to Coupang, and follow the new product; the product as
    :func:`handlers.coupang.products.read.list_products` shows it. :class:`ProductInvalid`
    before any call if it breaks a limit; a :class:`handlers.errors.MarketplaceError` if
    Coupang refused it."""
    errors = validate(body)
    if errors:
        raise ProductInvalid(errors)
    assert isinstance(body, Mapping)
    seller_product_id = await api.register(client, body)
    sent = wire_body(body)
    names = [str(item.get("itemName") or "") for item in sent.get("items") or []]
    now = _now()

    def work(conn: Connection) -> None:
        # Followed already when a report about it (POST /webhooks/coupang) came first: kept as it is.
        found = conn.execute(
            sa.select(PRODUCTS.c.id).where(PRODUCTS.c.seller_product_id == seller_product_id)
        ).first()
        if found is not None:
            pk = found.id
        else:
            pk = _insert(
                conn, seller_product_id, "registered", now, settings, name=str(sent["sellerProductName"])
            )
        conn.execute(
            PRODUCTS.update().where(PRODUCTS.c.id == pk).values(body=sent, vendor_id=client.vendor_id or None)
        )
        items = conn.execute(sa.select(ITEMS.c.id).where(ITEMS.c.product_pk == pk)).first()
        if items is None and names:
            conn.execute(
                ITEMS.insert(),
                [{"product_pk": pk, "position": n, "item_name": name} for n, name in enumerate(names)],
            )

    try:
        db.run_write(work)
    except StorageUnavailable:
        log.error("coupang product %s was registered but could not be stored: follow it with "
                  "orderwatch products track %s", seller_product_id, seller_product_id)  # fmt: skip
        raise
    log.info("coupang product %s registered; following its approval", seller_product_id)
    found = product_views.find(db, seller_product_id)
    assert found is not None
    return found


def track(db: Database, seller_product_id: str, settings: Settings) -> bool:
    """Follow a product made elsewhere by its ``sellerProductId``; False if already followed."""
    api.product_path(seller_product_id)  # a number, or ValueError
    now = _now()

    def work(conn: Connection) -> bool:
        exists = conn.execute(
            sa.select(PRODUCTS.c.id).where(PRODUCTS.c.seller_product_id == seller_product_id)
        )
        if exists.first() is not None:
            return False
        _insert(conn, seller_product_id, "tracked", now, settings)
        return True

    return db.run_write(work)


def apply_reported(db: Database, status: api.ProductStatus, settings: Settings) -> bool:
    """Apply a product status reported by an external poller (``POST /webhooks/coupang`` with
    a product in the shape of the product query), following the product if it is new; True
    if its state moved. Durable when it returns. No reason is read for a rejection: the
    report's sender has the status history."""
    return db.run_write(lambda conn: apply_reported_in(conn, status, settings))


def apply_reported_in(conn: Connection, status: api.ProductStatus, settings: Settings) -> bool:
    """:func:`apply_reported` in the caller's transaction (which stores the report with it,
    so that the answer and the change agree)."""
    found = conn.execute(
        sa.select(PRODUCTS.c.id).where(PRODUCTS.c.seller_product_id == status.seller_product_id)
    ).first()
    if found is not None:
        pk = found.id
    else:
        pk = _insert(conn, status.seller_product_id, "tracked", _now(), settings)
    return apply(conn, pk, status, None, settings.coupang_product_poll_seconds, source="push")


def _insert(conn: Connection, seller_product_id: str, origin: str, now: datetime, settings: Settings,
            name: str | None = None) -> int:  # fmt: skip
    row = conn.execute(
        PRODUCTS.insert()
        .values(
            seller_product_id=seller_product_id,
            name=name,
            state=LISTING.initial,
            origin=origin,
            next_poll_at=now,
            created_at=now,
            updated_at=now,
        )  # fmt: skip
        .returning(PRODUCTS.c.id)
    ).scalar_one()
    return int(row)


async def poll_products(settings: Settings, db: Database, client: CoupangClient) -> PollReport:
    """Read every due product once and apply what Coupang says (the Coupang poller's hook)."""
    now = _now()
    with db.read() as conn:
        due = conn.execute(
            sa.select(PRODUCTS.c.id, PRODUCTS.c.seller_product_id, PRODUCTS.c.state, PRODUCTS.c.status_name)
            .where(PRODUCTS.c.next_poll_at.is_not(None), PRODUCTS.c.next_poll_at <= now)
            .order_by(PRODUCTS.c.next_poll_at, PRODUCTS.c.id)
            .limit(BATCH)
        ).all()
    read = moved = not_ready = failed = 0
    interval = settings.coupang_product_poll_seconds
    for row in due:
        try:
            status = await api.get_product(client, row.seller_product_id)
            reason = None
            target = target_of(status.status_name)
            if target is not None and target.alert and status.status_name != row.status_name:
                reason = api.reason_from(await api.history(client, row.seller_product_id), status.status_name)
        except api.ProductNotReady as exc:
            not_ready += 1
            _later(db, row.id, exc, min(interval, 60.0))
            continue
        except MarketplaceError as exc:
            failed += 1
            log.warning("coupang product %s: %s", row.seller_product_id, exc)
            _later(db, row.id, exc, interval)
            continue
        read += 1
        if db.run_write(_applier(row.id, status, reason, interval)):
            moved += 1
    return PollReport(read, moved, not_ready, failed)


async def run_forever(settings: Settings, db: Database, client: CoupangClient, stop: asyncio.Event,
                      tick: float | None = None) -> None:  # fmt: skip
    """Poll due products until ``stop`` is set: a look every ``tick`` seconds (a tenth of
    the product poll interval, 1 to 30 s) costs one query when nothing is due."""
    tick = tick or max(1.0, min(30.0, settings.coupang_product_poll_seconds / 10))
    while not stop.is_set():
        try:
            report = await poll_products(settings, db, client)
            if report.read or report.failed:
                log.info("coupang products: %s", report)
        except StorageUnavailable as exc:
            log.warning("coupang product poll skipped: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)


def _applier(pk: int, status: api.ProductStatus, reason: str | None, interval: float) -> Any:
    def work(conn: Connection) -> bool:
        return apply(conn, pk, status, reason, interval)

    return work


def _later(db: Database, pk: int, exc: MarketplaceError, seconds: float) -> None:
    now = _now()
    db.run_write(
        lambda conn: conn.execute(
            PRODUCTS.update()
            .where(PRODUCTS.c.id == pk)
            .values(
                last_error=str(exc)[:2000], last_polled_at=now, next_poll_at=now + timedelta(seconds=seconds)
            )
        )
    )


def apply(conn: Connection, pk: int, status: api.ProductStatus, reason: str | None, interval: float,
          source: str = "poll") -> bool:  # fmt: skip
    """Apply one read of a product (locked for the transaction); True if its state moved."""
    query = sa.select(PRODUCTS).where(PRODUCTS.c.id == pk)
    row = conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query).one()
    now = _now()
    subject = Subject(row.state)
    steps = advance(subject, status.status_name)
    if steps is None:
        log.warning(
            "coupang product %s: %r leads nowhere from %s",
            row.seller_product_id,
            status.status_name,
            row.state,
        )
    for step in steps or ():
        conn.execute(
            HISTORY.insert().values(
                product_pk=pk,
                from_state=step.source,
                to_state=step.dest,
                trigger=step.trigger,
                status_name=None if step.catch_up else status.status_name,
                at=now,
                source=source,
                catch_up=step.catch_up,
            )  # fmt: skip
        )
    moved = bool(steps)
    state = subject.state
    wait = None if state in LISTING.final else interval * (SETTLED_FACTOR if state == "approved" else 1)
    values: dict[str, Any] = {
        "state": state, "status_name": status.status_name, "last_error": None, "last_polled_at": now,
        "next_poll_at": now + timedelta(seconds=wait) if wait is not None else None,
        "name": status.name or row.name, "vendor_id": status.vendor_id or row.vendor_id,
    }  # fmt: skip
    if moved:
        values["updated_at"] = now
        values["rejection_reason"] = reason if state in LISTING.exceptions else None
    conn.execute(PRODUCTS.update().where(PRODUCTS.c.id == pk).values(**values))
    _write_items(conn, pk, status.items)
    if moved:
        _resolve_alerts(conn, row.seller_product_id, state, now)
        if state in LISTING.exceptions:
            _open_alert(conn, pk, row.seller_product_id, status.name or row.name, state, reason, now)
    return moved


def _write_items(conn: Connection, pk: int, items: tuple[api.ProductItem, ...]) -> None:
    stored = {r.position: r for r in conn.execute(sa.select(ITEMS).where(ITEMS.c.product_pk == pk))}
    for position, item in enumerate(items):
        values = {
            "seller_product_item_id": item.seller_product_item_id,
            "item_name": item.item_name,
            "vendor_item_id": item.vendor_item_id,
        }
        old = stored.get(position)
        if old is None:
            conn.execute(ITEMS.insert().values(product_pk=pk, position=position, **values))
        elif any(getattr(old, k) != v for k, v in values.items()):
            conn.execute(ITEMS.update().where(ITEMS.c.id == old.id).values(**values))


def _condition(seller_product_id: str, state: str) -> str:
    return f"product:{PLATFORM}:{seller_product_id}:{state}"


def _open_alert(conn: Connection, pk: int, seller_product_id: str, name: str | None, state: str,
                reason: str | None, now: datetime) -> None:  # fmt: skip
    condition = _condition(seller_product_id, state)
    what = "was rejected" if state == "rejected" else "was only partly approved"
    message = f"coupang product {seller_product_id} ({name or 'unnamed'}) {what}" + (
        f": {reason}" if reason else ""
    )
    open_now = conn.execute(
        sa.select(ALERTS.c.id).where(ALERTS.c.condition == condition, ALERTS.c.state == "open")
    )
    if open_now.first() is None:
        conn.execute(
            ALERTS.insert().values(
                condition=condition,
                kind=f"product_{state}",
                platform=PLATFORM,
                order_id=seller_product_id,
                package_id=None,
                state="open",
                opened_at=now,
                resolved_at=None,
                message=message,
            )  # fmt: skip
        )
    # The number of steps so far makes each entering of the state a job of its own.
    history = conn.execute(sa.select(sa.func.count()).where(HISTORY.c.product_pk == pk)).scalar_one()
    conn.execute(
        OUTBOX.insert().values(
            key=f"alert:product:{seller_product_id}:{state}:{history}",
            kind="alert",
            platform=PLATFORM,
            order_id=seller_product_id,
            package_id=None,
            state="pending",
            attempts=0,
            run_after=now,
            created_at=now,
            updated_at=now,
            last_error=None,
            payload={"subject": "product", "state": state, "reason": reason or "", "message": message},
        )  # fmt: skip
    )


def _resolve_alerts(conn: Connection, seller_product_id: str, state: str, now: datetime) -> None:
    keep = _condition(seller_product_id, state)
    conn.execute(
        ALERTS.update()
        .where(
            ALERTS.c.state == "open",
            ALERTS.c.condition.like(f"product:{PLATFORM}:{seller_product_id}:%"),
            ALERTS.c.condition != keep,
        )
        .values(state="resolved", resolved_at=now)
    )
