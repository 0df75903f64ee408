"""``POST /webhooks/coupang``: Coupang order sheets (or products) reported by a seller's own poller.

The body is in Coupang's own shape: an order sheet list or single-sheet answer
(``{"code", "message", "data": [sheet, ...] | sheet}``), a bare sheet, or a product query
answer (``data`` with ``sellerProductId`` and ``statusName``). It is signed like a Shopee
push: ``Authorization`` is the hex HMAC-SHA256, under ``ORDERWATCH_INGEST_SECRET``, of
``<request URL>|<raw body>``. The vendor is the body's top-level ``vendorId``, else
``ORDERWATCH_COUPANG_VENDOR_ID``.

Answers as for Shopee pushes: 413 over 1 MiB, 401 (nothing stored) on a missing or wrong
signature, 400 when the body is not a JSON object or not in one of those shapes (or nested
deeper, or holding a NUL, as service/limits.py refuses), 503 when
the database is down, else 200 with an empty body once durable. The body is stored in
``pushes`` (keyed by its SHA-256, platform ``coupang``) in the transaction that ingests its
order sheets, marked applied: a body received again answers 200 and changes nothing.
A product is applied (handlers/coupang/products/approval.py) in the transaction that stores its report: a
report seen before changes nothing, and a report not stored has changed nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from handlers.coupang.orders import PLATFORM, SheetError, sheet_events
from handlers.coupang.poll import remember
from handlers.signatures import verify
from service import limits
from service.db import Database
from service.errors import ApiError
from service.ingest import ingest_in
from service.models import PUSHES
from service.pushes import body_key
from service.settings import Settings
from statemachines.events import Event

log = logging.getLogger("orderwatch.webhooks.coupang")

PATH = "/webhooks/coupang"
MAX_BODY = 1024 * 1024
ORDER_SHEETS, PRODUCT = 1, 2  # the ``code`` of a stored Coupang body


def _reject(request: Request, status: int, code: str, reason: str) -> ApiError:
    client = request.client.host if request.client else "unknown"
    log.warning("coupang report rejected (%d %s): %s; from %s", status, code, reason, client)
    return ApiError(status, code, reason)


async def _read(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _reject(request, 413, "payload_too_large", f"a report is at most {MAX_BODY} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise _reject(request, 413, "payload_too_large", f"a report is at most {MAX_BODY} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise _reject(request, 400, "client_disconnect", "the client went away mid-body") from None
    return b"".join(chunks)


def classify(document: Mapping[str, Any]) -> tuple[int, list[Mapping[str, Any]]]:
    """What the body reports: (ORDER_SHEETS or PRODUCT, the sheets or the one product)."""
    data = document.get("data", document)
    rows = data if isinstance(data, list) else [data]
    if not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("data must be an order sheet, a list of order sheets, or a product")
    if all("shipmentBoxId" in row for row in rows):
        return ORDER_SHEETS, rows
    if len(rows) == 1 and "statusName" in rows[0]:
        return PRODUCT, rows
    raise ValueError("the body holds neither Coupang order sheets (shipmentBoxId) nor a product (statusName)")


def _store(conn: Connection, key: str, code: int, vendor_id: str, document: Mapping[str, Any]) -> bool:
    """Insert the body's row, applied; False when the same body was stored before."""
    now = datetime.now(UTC)
    if conn.execute(sa.select(PUSHES.c.id).where(PUSHES.c.dedupe_key == key)).first() is not None:
        return False
    conn.execute(
        PUSHES.insert().values(
            platform=PLATFORM,
            code=code,
            shop_id=vendor_id[:64],
            dedupe_key=key,
            received_at=now,
            body=dict(document),
            applied_at=now,
        )
    )
    return True


def store_sheets(
    db: Database, key: str, vendor_id: str, document: Mapping[str, Any], events: list[Event], sheets: Any
) -> bool:
    """Store the body and ingest its sheets in one transaction; False for a duplicate body."""

    def work(conn: Connection) -> bool:
        if not _store(conn, key, ORDER_SHEETS, vendor_id, document):
            return False
        now = datetime.now(UTC)
        if events:
            ingest_in(conn, events, now)
        remember(conn, vendor_id, sheets, now)
        return True

    return db.run_write(work)


async def coupang_report(request: Request) -> Response:
    """Verify, check, store and ingest one report."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    body = await _read(request)
    secret = settings.ingest_secret
    if secret is None:
        raise _reject(request, 401, "invalid_signature", "ORDERWATCH_INGEST_SECRET is not configured")
    authorization = request.headers.get("authorization")
    if not authorization:
        raise _reject(request, 401, "invalid_signature", "the Authorization header is missing")
    url = str(request.url)
    if not verify([secret.reveal()], url, body, authorization):
        raise _reject(
            request, 401, "invalid_signature", f"the signature does not match for {url.split('?')[0]}"
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if limits.unreadably_deep(exc):
            raise _reject(request, 400, limits.TOO_DEEP, limits.depth_message("the report")) from None
        raise _reject(request, 400, "malformed_json", f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _reject(request, 400, "not_an_object", "the body must be a JSON object")
    # Checked before anything is applied or stored (a product used to move, then fail to store).
    found = limits.problem(body, document)
    if found == limits.TOO_DEEP:
        raise _reject(request, 400, limits.TOO_DEEP, limits.depth_message("the report"))
    if found == limits.NUL:
        raise _reject(request, 400, "malformed_json", "the body holds a NUL character (\\u0000)")
    try:
        kind, rows = classify(document)
    except ValueError as exc:
        raise _reject(request, 400, "malformed_report", str(exc)) from None
    key = body_key(body)
    if kind == PRODUCT:
        await _product(request, db, settings, key, document, rows[0])
        return Response(status_code=200)
    vendor = str(document.get("vendorId") or settings.coupang_vendor_id or "")
    if not vendor:
        raise _reject(request, 400, "malformed_report", "no vendorId in the body and none configured")
    if not isinstance(document.get("vendorId") or vendor, str | int) or len(vendor) > limits.MAX_ID:
        reason = f"vendorId must be a string of {limits.MAX_ID} characters at most"
        raise _reject(request, 400, "malformed_report", reason)
    seen = datetime.now(UTC)
    events: list[Event] = []
    try:
        for row in rows:
            events += sheet_events(vendor, row, seen=seen, source="push")
    except SheetError as exc:
        raise _reject(request, 400, "malformed_report", f"an order sheet: {exc}") from None
    stored = await anyio.to_thread.run_sync(store_sheets, db, key, vendor, document, events, rows)
    log.info("coupang report of %d order sheets %s", len(rows), "stored" if stored else "seen before")
    return Response(status_code=200)


async def _product(
    request: Request, db: Database, settings: Settings, key: str, document: Mapping[str, Any], row: Any
) -> None:
    from handlers.coupang.products.approval import apply_reported_in
    from handlers.coupang.products.calls import parse_product

    try:
        status = parse_product(row)
    except ValueError as exc:
        raise _reject(request, 400, "malformed_report", f"a product: {exc}") from None
    vendor = str(document.get("vendorId") or status.vendor_id or settings.coupang_vendor_id or "")

    def work(conn: Connection) -> bool:
        # One transaction: the product moves if and only if its report is stored (and answered 200).
        if not _store(conn, key, PRODUCT, vendor, document):
            return False  # the same report again: no change
        apply_reported_in(conn, status, settings)
        return True

    await anyio.to_thread.run_sync(db.run_write, work)
