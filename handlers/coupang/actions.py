"""Coupang actions run from the outbox: acknowledge order sheets, upload invoices.

**Acknowledge** (job ``acknowledge``, written when a Coupang order reaches ``processing``),
when the vendor's policy says so (``orderwatch shops acknowledge``): read every box of the
order as Coupang has it now, and acknowledge those still in ACCEPT and not cancelled by the
buyer (상품준비중 처리, at most 50 per call, one attempt per call). Then read the order again —
the buyer may have changed the address while it was ACCEPT — and ingest what Coupang says
(the boxes' INSTRUCT).

**Upload invoice** (job ``upload_invoice``, written once per box and tracking number when
the box has a tracking number and its order is ``ready_to_ship``, whichever comes first):
read the box; if Coupang already has it dispatched (an earlier try whose answer was lost,
or the seller in Wing), or the buyer cancelled it, there is nothing to do; while the order or
the box is on hold (a stop-shipment request, an operator's hold) it looks again after the
next poll (``Again``); else upload the courier code and number for
every item of the box, then ingest the box's new status (DEPARTURE).

Both read Coupang before acting, so a retry after a lost answer never acts twice. A box's
failure is read from Coupang's per-box result: ``retryRequired`` (or a failure to answer)
retries the job with backoff; any other failure dead-letters it at once, which opens an
alert. Paths, fields and result codes are recorded in docs/platforms.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import sqlalchemy as sa

from handlers.coupang.orders import DISPATCHED, PLATFORM, cancelled, held_for_cancel
from handlers.coupang.ordersheets import MAX_ACKNOWLEDGE, BoxResult, OrderSheets, invoice_dtos
from handlers.coupang.policy import acknowledges
from handlers.coupang.poll import ingest_sheets
from service.db import Database
from service.models import ORDERS, PACKAGES
from service.outbox import Again, Context, Handler, Job, JobFailed, JobRefused

log = logging.getLogger("orderwatch.coupang.actions")

CANCELLED = frozenset({"cancelled", "rejected"})  # order or box states that ship nothing

# Coupang's deliveryCompanyCode values (the invoice upload's courier table), and the names
# an operator may type for the common ones.
COURIERS = frozenset(
    [
        "HYUNDAI",
        "KGB",
        "EPOST",
        "HANJIN",
        "CJGLS",
        "KGBLS",
        "KDEXP",
        "DONGBU",
        "ILYANG",
        "CHUNIL",
        "AJOU",
        "CSLOGIS",
        "DAESIN",
        "CVS",
        "HDEXP",
        "DADREAM",
        "DHL",
        "UPS",
        "FEDEX",
        "REGISTPOST",
        "DIRECT",
        "COUPANG",
        "IQS",
        "EMS",
        "TNT",
        "USPS",
        "IPARCEL",
        "GSMNTON",
        "SWGEXP",
        "PANTOS",
        "ACIEXPRESS",
        "DAEWOON",
        "AIRBOY",
        "KGLNET",
        "KUNYOUNG",
        "SLX",
        "HONAM",
        "LINEEXPRESS",
        "SFEXPRESS",
        "TWOFASTEXP",
    ]
)
COURIER_NAMES = {
    "CJ대한통운": "CJGLS",
    "CJ 대한통운": "CJGLS",
    "롯데택배": "HYUNDAI",
    "한진택배": "HANJIN",
    "우체국": "EPOST",
    "우체국택배": "EPOST",
    "경동택배": "KDEXP",
    "로젠택배": "KGB",
    "일양택배": "ILYANG",
    "대신택배": "DAESIN",
    "업체직송": "DIRECT",
}


def courier_code(carrier: str | None) -> str | None:
    """Coupang's deliveryCompanyCode for what the operator gave as the carrier (None: unknown)."""
    text = (carrier or "").strip()
    if text.upper() in COURIERS:
        return text.upper()
    return COURIER_NAMES.get(text)


@dataclass(frozen=True)
class Box:
    """What the invoice upload needs of a package (a box)."""

    order_id: str
    shop_id: str
    order_state: str
    package_id: str
    state: str
    carrier: str | None
    tracking_number: str | None


def read_order_state(db: Database, order_id: str) -> tuple[str, str] | None:
    """The order's (vendor id, state), or None when it is unknown."""
    with db.read() as conn:
        row = conn.execute(
            sa.select(ORDERS.c.shop_id, ORDERS.c.state).where(
                ORDERS.c.platform == PLATFORM, ORDERS.c.order_id == order_id
            )
        ).first()
    return (row.shop_id, row.state) if row else None


def read_box(db: Database, order_id: str, package_id: str) -> Box | None:
    """The package with its order, or None when either is unknown."""
    query = (
        sa.select(
            ORDERS.c.shop_id,
            ORDERS.c.state.label("order_state"),
            PACKAGES.c.state,
            PACKAGES.c.carrier,
            PACKAGES.c.tracking_number,
        )
        .join(ORDERS, ORDERS.c.id == PACKAGES.c.order_pk)
        .where(
            PACKAGES.c.platform == PLATFORM,
            PACKAGES.c.package_id == package_id,
            ORDERS.c.order_id == order_id,
        )
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Box(
        order_id, row.shop_id, row.order_state, package_id, row.state, row.carrier, row.tracking_number
    )


async def _learn(db: Database, vendor_id: str, sheets: Sequence[Mapping[str, Any]]) -> None:
    """Ingest what Coupang says of the boxes now (as ``action`` events)."""
    if sheets:
        await anyio.to_thread.run_sync(
            ingest_sheets, db, vendor_id, list(sheets), datetime.now(UTC), "action"
        )


def _judge(results: Sequence[BoxResult], left: set[int], what: str) -> None:
    """Raise for the boxes still not done: retry when Coupang says so, else give up (alert)."""
    failed = [r for r in results if not r.succeed and r.shipment_box_id in left]
    if not failed:
        if left:
            raise JobFailed(f"{what}: Coupang did not answer for boxes {sorted(left)}")
        return
    text = "; ".join(f"{r.shipment_box_id}: {r.result_code} {r.message}".strip() for r in failed)
    if any(r.retry_required for r in failed):
        raise JobFailed(f"{what}: {text}")
    raise JobRefused(f"{what}: {text}")


async def acknowledge(job: Job, ctx: Context) -> Again | None:
    """Acknowledge the order's boxes still in ACCEPT (the vendor's policy permitting)."""
    db = ctx.db
    sheets: OrderSheets = ctx.resources["coupang_sheets"]
    found = await anyio.to_thread.run_sync(read_order_state, db, job.order_id)
    if found is None or found[1] != "processing":
        return None  # moved on (acknowledged in Wing, held, cancelled): nothing to acknowledge
    vendor_id = found[0]
    if not await anyio.to_thread.run_sync(acknowledges, db, vendor_id):
        log.info("coupang order %s: vendor %s acknowledges in Wing", job.order_id, vendor_id)
        return None
    now = await sheets.order(int(job.order_id))
    await _learn(db, vendor_id, now)
    waiting = [s["shipmentBoxId"] for s in now if s.get("status") == "ACCEPT" and not cancelled(s)]
    if not waiting:
        return None
    results: list[BoxResult] = []
    for start in range(0, len(waiting), MAX_ACKNOWLEDGE):
        results += await sheets.acknowledge(waiting[start : start + MAX_ACKNOWLEDGE])
    after = await sheets.order(int(job.order_id))  # the address may have changed meanwhile
    await _learn(db, vendor_id, after)
    left = {s["shipmentBoxId"] for s in after if s.get("status") == "ACCEPT" and not cancelled(s)}
    _judge(results, left, f"acknowledge order {job.order_id}")
    return None


async def upload_invoice(job: Job, ctx: Context) -> Again | None:
    """Upload the box's courier and tracking number, unless Coupang has it dispatched."""
    db = ctx.db
    sheets: OrderSheets = ctx.resources["coupang_sheets"]
    box = await anyio.to_thread.run_sync(read_box, db, job.order_id, job.package_id or "")
    if box is None or not box.tracking_number or not box.package_id.isdigit():
        return None
    if CANCELLED & {box.order_state, box.state}:
        return None  # the buyer cancelled it: it must not ship
    wait = float(getattr(ctx.resources.get("settings"), "coupang_poll_seconds", 300.0))
    if "on_hold" in (box.order_state, box.state):
        return Again(wait, f"box {box.package_id} is held (order {box.order_state}, box {box.state})")
    sheet = await sheets.sheet(int(box.package_id))
    await _learn(db, box.shop_id, [sheet])
    status = sheet.get("status")
    if status in DISPATCHED:
        return None  # uploaded already: by an earlier try whose answer was lost, or in Wing
    if cancelled(sheet):
        return None  # cancelled at Coupang before our poll saw the request
    if held_for_cancel(sheet):
        return Again(wait, f"box {box.package_id}: the buyer asked to stop it (holdCountForCancel)")
    if status == "ACCEPT":
        raise JobFailed(f"box {box.package_id} is not acknowledged yet (ACCEPT)")
    courier = courier_code(box.carrier)
    if courier is None:
        raise JobRefused(
            f"box {box.package_id}: carrier {box.carrier!r} is not a Coupang deliveryCompanyCode (e.g. CJGLS)"
        )
    dtos = invoice_dtos(sheet, courier, box.tracking_number)
    if not dtos:
        raise JobRefused(f"box {box.package_id}: the order sheet lists no vendor items")
    results = await sheets.upload_invoices(dtos)
    after = await sheets.sheet(int(box.package_id))
    await _learn(db, box.shop_id, [after])
    left = set() if after.get("status") in DISPATCHED else {int(box.package_id)}
    _judge(results, left, f"upload the invoice of box {box.package_id}")
    return None


HANDLERS: dict[str, Handler] = {"acknowledge": acknowledge, "upload_invoice": upload_invoice}
