"""Shopee actions run from the outbox: arrange shipment, and tracking.

**Arrange shipment** (job ``arrange_shipment``, written when an order reaches
``ready_to_ship`` by the seller's own steps), for each package not yet arranged: check the
recipient's address (missing or malformed: the package goes on hold, which opens an
alert, and nothing is booked), choose how to hand it over (the shop's policy, else pickup,
else drop-off, else the seller's own carrier) with every field ``info_needed`` lists for it
(a mode whose fields orderwatch cannot fill is passed over; when none is left the package
goes on hold with the reason), book it (``ship_order``, with an idempotency key; "already
arranged" counts as booked, so a retry after a lost answer never books twice), fetch the
tracking number, have Shopee make the airway bill of the type it suggests
(``get_shipping_document_parameter``) and keep it. The tracking number then moves the
package to ``ready_for_pickup``. Every step can be repeated: a try that failed half-way
goes again from the top and skips what is done.

An order Shopee fulfils from advance stock (``advance_package`` true, or a ``booking_sn``:
"matched with a booking and seller should not arrange shipment", get_order_detail's field
table) is not booked at all.

**Tracking** (job ``start_tracking``, once a package is picked up): read the carrier's
checkpoints, keep the new ones, turn them into package events
(:mod:`handlers.shopee.tracking`), and look again after ``ORDERWATCH_TRACKING_SECONDS``
until the package is in a final state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import sqlalchemy as sa

from handlers.errors import RequestRejected
from handlers.shopee.client import ShopeeClient
from handlers.shopee.handover import Handover, Unmet, advance_fulfilment, choose
from handlers.shopee.logistics import Dropoff, Pickup, ShopeeLogistics
from handlers.shopee.push import PLATFORM, tracking_number_key
from handlers.shopee.tokens import access_token
from handlers.shopee.tracking import Point, checkpoint_events
from service import changes, documents
from service.db import Database
from service.ingest import ingest
from service.models import CHECKPOINTS, ORDERS, PACKAGES
from service.outbox import Again, Context, Handler, Job
from statemachines.events import Event, EventKind
from statemachines.machines import PACKAGE

log = logging.getLogger("orderwatch.shopee.actions")

NOT_ARRANGED = {"created", "processing"}
# Order states in which shipment may be arranged (approved: the shop's policy says so).
ARRANGEABLE = {"approved", "picking", "packing", "ready_to_ship"}
PICKED_UP = {"picked_up", "in_transit", "out_for_delivery", "delivery_failed"}
_PHONE = re.compile(r"\d")
# download_shipping_document's errors that mean "not yet": wait, or make the task again.
_DOWNLOAD_LATER = "download_later"
_PRINT_FIRST = "shipping_document_should_print_first"


@dataclass(frozen=True)
class PackageRow:
    """What the actions need of a package."""

    package_id: str
    state: str
    tracking_number: str | None
    provisional: bool


@dataclass(frozen=True)
class OrderRow:
    """What the actions need of an order."""

    order_id: str
    shop_id: str
    state: str
    packages: tuple[PackageRow, ...]


def read_order(db: Database, order_id: str) -> OrderRow | None:
    """The order and its packages, as stored now."""
    with db.read() as conn:
        order = conn.execute(
            sa.select(ORDERS.c.id, ORDERS.c.order_id, ORDERS.c.shop_id, ORDERS.c.state).where(
                ORDERS.c.platform == PLATFORM, ORDERS.c.order_id == order_id
            )
        ).first()
        if order is None:
            return None
        rows = conn.execute(
            sa.select(
                PACKAGES.c.package_id, PACKAGES.c.state, PACKAGES.c.tracking_number, PACKAGES.c.provisional
            )
            .where(PACKAGES.c.order_pk == order.id)
            .order_by(PACKAGES.c.id)
        )
        packages = tuple(
            PackageRow(r.package_id, r.state, r.tracking_number, bool(r.provisional)) for r in rows
        )
        return OrderRow(order.order_id, order.shop_id, order.state, packages)


def address_problem(address: object) -> str | None:
    """Why the recipient's address cannot be shipped to, or None when it can."""
    if not isinstance(address, Mapping) or not address:
        return "the order has no recipient address"
    missing = [name for name in ("name", "phone", "full_address") if not str(address.get(name) or "").strip()]
    if missing:
        return f"the recipient address lacks {', '.join(missing)}"
    # Shopee masks fields "according to each market and kind of seller" (get_order_detail's
    # recipient_address; its sample: phone "******64", name "P******n"): a masked value is there.
    phone = str(address["phone"])
    if "*" not in phone and len(_PHONE.findall(phone)) < 6:
        return "the recipient's phone number is malformed"
    zipcode = str(address.get("zipcode") or "")
    if zipcode and "*" not in zipcode and not zipcode.replace(" ", "").replace("-", "").isalnum():
        return "the recipient's zipcode is malformed"
    return None


def _command(order: OrderRow, package_id: str, trigger: str, reason: str, key: str) -> Event:
    return Event(
        platform=PLATFORM,
        shop_id=order.shop_id,
        order_id=order.order_id,
        kind=EventKind.PACKAGE_COMMAND,
        status=trigger,
        occurred_at=datetime.now(UTC),
        dedupe_key=key[:200],
        source="action",
        package_id=package_id,
        actor="arrange_shipment",
        reason=reason[:500],
    )


async def arrange_shipment(job: Job, ctx: Context) -> Again | None:
    """Book, number and label every package of the order not yet arranged."""
    db = ctx.db
    client: ShopeeClient = ctx.resources["shopee"]
    order = await anyio.to_thread.run_sync(read_order, db, job.order_id)
    if order is None or order.state not in ARRANGEABLE:
        return None  # it moved on (the marketplace shipped or cancelled it): nothing to arrange
    token = await access_token(db, client, order.shop_id)
    [detail] = await client.get_order_detail(order.shop_id, token, [order.order_id])
    if advance_fulfilment(detail.raw):
        log.info("shopee order %s is fulfilled from advance stock: Shopee arranges it", order.order_id)
        return None
    numbers = [p.package_number for p in detail.packages]
    logistics = ShopeeLogistics(client)
    for package in order.packages:
        if package.state not in NOT_ARRANGED and not (
            package.state == "ready_for_pickup" and not await _has_bill(db, package.package_id)
        ):
            continue  # arranged (booked and labelled), or moved on
        # A placeholder package (the order's push named no package) takes Shopee's number.
        number = numbers[0] if package.provisional and len(numbers) == 1 else package.package_id
        problem = address_problem(detail.raw.get("recipient_address"))
        if problem:
            await _hold(db, job, order, package.package_id, number, problem)
            continue
        tracking = await _book(logistics, job, order, token, number, package.tracking_number)
        if isinstance(tracking, Unmet):
            await _hold(db, job, order, package.package_id, number, tracking.reason)
            continue
        if tracking is None:
            return Again(2.0, "waiting for the tracking number")
        if not await _airway_bill(logistics, db, order, token, number, tracking):
            return Again(1.0, "waiting for the airway bill")
        event = Event(
            platform=PLATFORM,
            shop_id=order.shop_id,
            order_id=order.order_id,
            kind=EventKind.TRACKING_NUMBER,
            status="TRACKING_NUMBER",
            occurred_at=datetime.now(UTC),
            dedupe_key=tracking_number_key(order.order_id, number, tracking),
            source="action",
            package_id=number,
            tracking_number=tracking,
        )
        await anyio.to_thread.run_sync(ingest, db, [event])
    return None


async def _hold(db: Database, job: Job, order: OrderRow, package_id: str, number: str, why: str) -> None:
    hold = _command(order, package_id, "hold", why, f"{job.key}:hold:{package_id}")
    await anyio.to_thread.run_sync(ingest, db, [hold])
    log.warning("shopee order %s package %s on hold: %s", order.order_id, number, why)


async def _book(
    logistics: ShopeeLogistics, job: Job, order: OrderRow, token: str, number: str, known: str | None
) -> str | Unmet | None:
    """The package's tracking number once booked (None: not given yet), or why it cannot be."""
    shop = order.shop_id
    existing = await logistics.get_tracking_number(shop, token, order.order_id, number)
    if existing:
        return existing  # booked before (by an earlier try, or by the seller in Seller Centre)
    parameter = await logistics.get_shipping_parameter(shop, token, order.order_id, number)
    way = choose(parameter, tracking_number=known)
    if isinstance(way, Unmet):
        return Unmet(f"cannot arrange shipment: {way.reason}")
    await logistics.ship_order(shop, token, order.order_id, number, idempotency_key=f"{job.key}:{number}",
                               **_mode(way))  # fmt: skip
    return await logistics.get_tracking_number(shop, token, order.order_id, number)


def _mode(way: Handover) -> dict[str, Any]:
    name = (
        "pickup" if isinstance(way, Pickup) else "dropoff" if isinstance(way, Dropoff) else "non_integrated"
    )
    return {name: way}


async def _has_bill(db: Database, package_id: str) -> bool:
    found = await anyio.to_thread.run_sync(documents.find, db, PLATFORM, package_id, documents.AIRWAY_BILL)
    return found is not None


async def _airway_bill(
    logistics: ShopeeLogistics, db: Database, order: OrderRow, token: str, number: str, tracking: str
) -> bool:
    """Keep the package's airway bill, of the type Shopee suggests; False while it is being made."""
    if await _has_bill(db, number):
        return True
    shop, sn = order.shop_id, order.order_id
    kind = (await logistics.get_shipping_document_parameter(shop, token, sn, number)).suggested
    status = await logistics.get_shipping_document_result(shop, token, sn, number, document_type=kind)
    if status is None or status == "FAILED":  # no task yet, or it failed: (re)make it
        await logistics.create_shipping_document(
            shop, token, sn, number, tracking_number=tracking, document_type=kind
        )
        status = await logistics.get_shipping_document_result(shop, token, sn, number, document_type=kind)
    if status != "READY":
        return False
    try:
        content = await logistics.download_shipping_document(shop, token, sn, number, document_type=kind)
    except RequestRejected as exc:
        if (exc.code or "").rsplit(".", 1)[-1] in (_DOWNLOAD_LATER, _PRINT_FIRST):
            log.info("shopee order %s package %s: airway bill not ready: %s", sn, number, exc)
            return False
        raise
    kind_of = "application/pdf" if content.startswith(b"%PDF") else "application/octet-stream"
    bill = documents.AIRWAY_BILL
    await anyio.to_thread.run_sync(documents.store, db, PLATFORM, number, bill, content, kind_of)
    return True


async def start_tracking(job: Job, ctx: Context) -> Again | None:
    """Read the parcel's checkpoints, apply the new ones, and look again until it is final."""
    db = ctx.db
    client: ShopeeClient = ctx.resources["shopee"]
    every = float(getattr(ctx.resources.get("settings"), "tracking_seconds", 900.0))
    order = await anyio.to_thread.run_sync(read_order, db, job.order_id)
    package = next((p for p in order.packages if p.package_id == job.package_id), None) if order else None
    if order is None or package is None or package.state in PACKAGE.final:
        return None
    token = await access_token(db, client, order.shop_id)
    info = await ShopeeLogistics(client).get_tracking_info(
        order.shop_id, token, order.order_id, package.package_id
    )
    points = [Point(c.update_time, c.description, c.logistics_status) for c in info.checkpoints]
    await anyio.to_thread.run_sync(_keep_checkpoints, db, package.package_id, points)
    events = checkpoint_events(order.shop_id, order.order_id, package.package_id, package.state, points)
    if events:
        await anyio.to_thread.run_sync(ingest, db, events)
    after = await anyio.to_thread.run_sync(read_order, db, job.order_id)
    now = next((p for p in after.packages if p.package_id == package.package_id), None) if after else None
    if now is None or now.state in PACKAGE.final:
        return None
    return Again(every, f"{package.package_id} is {now.state}")


def _keep_checkpoints(db: Database, package_id: str, points: list[Point]) -> None:
    def work(conn: Any) -> None:
        found = conn.execute(
            sa.select(PACKAGES.c.id, PACKAGES.c.order_id, PACKAGES.c.state).where(
                PACKAGES.c.platform == PLATFORM, PACKAGES.c.package_id == package_id
            )
        ).first()
        if found is None:
            return
        pk = found.id
        known = {
            (row.at, row.raw_status, row.description)
            for row in conn.execute(sa.select(CHECKPOINTS).where(CHECKPOINTS.c.package_pk == pk))
        }
        rows = []
        for point in points:
            at = datetime.fromtimestamp(point.update_time, UTC)
            entry = (at, point.logistics_status[:64], point.description[:500])
            if entry not in known:
                known.add(entry)
                rows.append({"package_pk": pk, "at": at, "raw_status": entry[1], "description": entry[2],
                             "location": None})  # fmt: skip
        if rows:
            conn.execute(CHECKPOINTS.insert(), rows)
            # Each new checkpoint is a change on the feed (the "notify" step).
            where = (PLATFORM, found.order_id, package_id, found.state)
            changes.publish_checkpoints(conn, where, rows, datetime.now(UTC))

    db.run_write(work)


HANDLERS: dict[str, Handler] = {"arrange_shipment": arrange_shipment, "start_tracking": start_tracking}
