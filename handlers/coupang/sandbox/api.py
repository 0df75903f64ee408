"""The sandbox's Coupang Open API endpoints for order sheets and return/cancel requests, in
Coupang's shapes.

Each call meets, in order: the configured faults (a share answer 500 or 429, or hang, as a
gateway would, before anything is checked), the CEA signature (401 when it is missing,
wrong or more than five minutes old), the vendor id (403 for another vendor), then the
call's own checks (400). Answers are ``{"code": 200, "message": "OK", "data": ...}``;
errors ``{"code": <status>, "message": ...}`` (5xx: ``{"code": "ERROR", ...}``, as the
acknowledgement page's error spec quotes them), with the same HTTP status. Acknowledgements
and invoice uploads answer a result per box, and a share of them can be made and then lose
their answer.

The order sheet reads are served at v4 and v5 (v5: the day as ``yyyy-mm-dd+09:00``, v5's
time and money formats), the return request list at v4 and v6, acknowledgement and invoice
upload at v4, as the portal documents them. tests/conformance/test_coupang_sandbox.py holds
the answers to the published samples; what the reference does not describe is marked
"Invented:" here and in the state modules.

:func:`endpoint` is the wrapper every sandbox endpoint uses (the product endpoints too).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.coupang.orders import KST, STATUSES
from handlers.coupang.returns import KINDS
from handlers.coupang.sandbox.returns import CoupangSandbox
from handlers.coupang.signing import verify

BASE = "/v2/providers/openapi/apis/api/v4/vendors/{vendorId}"
VERSIONED = "/v2/providers/openapi/apis/api/{version}/vendors/{vendorId}"
SHEET_VERSIONS = ("v4", "v5")
RETURN_VERSIONS = ("v4", "v6")
RETURN_CODES = tuple(k for k in KINDS if k != "CANCEL")
Handler = Callable[[Request, CoupangSandbox], Awaitable[Any]]


class CoupangApiError(Exception):
    """An error answer: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def answer(body: Any, status: int = 200) -> Response:
    """Compact JSON."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    code: int | str = "ERROR" if status >= 500 else status
    # Invented: transactionId (a request id the envelope of no published sample shows).
    return answer({"code": code, "message": message, "transactionId": uuid.uuid4().hex}, status)


def _version(request: Request, allowed: tuple[str, ...]) -> str:
    """The path's API version; an unknown one is not a route (404, as a gateway answers)."""
    version = str(request.path_params.get("version") or "v4")
    if version not in allowed:
        raise CoupangApiError(404, f"No matched http method for {request.url.path}")  # Invented wording
    return version


def endpoint(
    handler: Handler, *, action: bool = False, code: int | str = 200
) -> Callable[[Request], Awaitable[Response]]:
    """Faults, signature and vendor checks, then ``handler``; its result is the ``data``.

    ``action``: the call changes state, and may lose its answer after the change is made.
    ``code``: the success ``code`` as the page's published sample writes it (the pages disagree:
    the day lists answer 200, the single reads and the actions "200", the product query "SUCCESS").
    """
    name = handler.__name__.strip("_")

    async def serve(request: Request) -> Response:
        sandbox: CoupangSandbox = request.app.state.sandbox
        sandbox.calls[name] += 1
        fault = sandbox.next_fault()
        if fault == "500":
            return _error(500, "Internal Server Error")
        if fault == "429":
            # Invented: the wording (the portal's rate-limit notices quote no answer body).
            return _error(429, "Too many requests. Please retry later.")
        if fault == "hang":
            await anyio.sleep(sandbox.faults.api.hang_seconds)
        query = request.scope["query_string"].decode("latin-1")
        now = datetime.fromtimestamp(sandbox.clock.now(), UTC)
        problem = verify(
            request.headers.get("authorization"),
            sandbox.access_key,
            sandbox.secret_key,
            request.method,
            request.url.path,
            query,
            now=now,
        )
        if problem:
            return _error(401, problem)
        if request.path_params.get("vendorId", sandbox.vendor_id) != sandbox.vendor_id:
            return _error(400, "Invalid vendor ID")  # the order sheet pages' error spec
        if sandbox.faults.delay_seconds:
            await anyio.sleep(sandbox.faults.delay_seconds)
        try:
            data = await handler(request, sandbox)
        except CoupangApiError as exc:
            return _error(exc.status, exc.message)
        lost = sandbox.loses_answer() if action else None
        if lost:
            sandbox.calls[f"{name}_lost"] += 1
        if lost == "hang":
            await anyio.sleep(sandbox.faults.api.hang_seconds)
        if lost:
            # The acknowledgement page's published 504 (the answer lost after the change is made).
            return _error(
                504, "Request timed out, if the situation continues consider applying timeout extension."
            )
        return answer({"code": code, "message": "OK", **data})

    return serve


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise CoupangApiError(400, "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise CoupangApiError(400, "The request body must be a JSON object.")
    return body


def _day(text: str | None, name: str, version: str = "v4") -> date:
    """A list's day: ``yyyy-mm-dd``, or v5's ``yyyy-mm-dd+09:00`` (the portal's form)."""
    raw = text or ""
    if version == "v5":
        if not raw.endswith("+09:00"):
            raise CoupangApiError(400, f"{name} must be yyyy-mm-dd+09:00")  # Invented wording
        raw = raw.removesuffix("+09:00")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CoupangApiError(400, f"{name} must be a date, yyyy-mm-dd") from None  # Invented wording


def _bounds(first: date, last: date) -> tuple[int, int]:
    start = datetime.combine(first, time(), KST)
    end = datetime.combine(last + timedelta(days=1), time(), KST)
    return int(start.timestamp()), int(end.timestamp())


def _window(
    request: Request, sandbox: CoupangSandbox, version: str = "v4"
) -> tuple[tuple[int, int], int, int]:
    """A list query's creation window (Unix seconds), page size and ``nextToken`` (0: none)."""
    params = request.query_params
    first = _day(params.get("createdAtFrom"), "createdAtFrom", version)
    last = _day(params.get("createdAtTo"), "createdAtTo", version)
    if last < first:
        raise CoupangApiError(400, "createdAtTo is before createdAtFrom")  # Invented wording
    if (last - first).days > 31:
        raise CoupangApiError(400, "endTime-startTime range should less than31.")  # the v5 page's
    # Invented: Coupang accepts up to 31 days; the sandbox's window is narrower (window_days).
    if (last - first).days + 1 > sandbox.window_days:
        raise CoupangApiError(400, f"A search covers at most {sandbox.window_days} day(s).")
    size_text = params.get("maxPerPage") or "50"
    if not size_text.isdigit() or not 1 <= int(size_text) <= sandbox.max_per_page:
        raise CoupangApiError(400, f"maxPerPage must be between 1 and {sandbox.max_per_page}")
    token = params.get("nextToken") or ""
    if token and not token.isdigit():
        raise CoupangApiError(400, "nextToken is invalid")
    return _bounds(first, last), int(size_text), int(token or 0)


async def _list(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    version = _version(request, SHEET_VERSIONS)
    status = request.query_params.get("status")
    if status not in STATUSES:
        raise CoupangApiError(400, f"status must be one of {', '.join(STATUSES)}")
    if request.query_params.get("searchType"):
        raise CoupangApiError(400, "The sandbox serves the per-day list only (no searchType).")  # Invented
    bounds, size, token = _window(request, sandbox, version)
    rows = [b for b in sandbox.sheets(status, *bounds) if b.shipment_box_id > token]
    page = rows[:size]
    more = len(rows) > len(page)
    listed = sandbox.duplicates(page)
    return {
        "data": [box.sheet(version) for box in listed],
        # Invented: the token is the page's last shipmentBoxId (Coupang's is opaque).
        "nextToken": str(page[-1].shipment_box_id) if more else "",
    }


async def _returns(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    version = _version(request, RETURN_VERSIONS)
    params = request.query_params
    if params.get("searchType"):
        raise CoupangApiError(400, "The sandbox serves the per-day search only (no searchType).")
    cancel_type = params.get("cancelType") or "RETURN"
    status, order = params.get("status"), params.get("orderId")
    if cancel_type not in ("RETURN", "CANCEL"):
        raise CoupangApiError(400, "cancelType must be RETURN or CANCEL")
    if cancel_type == "CANCEL" and (status or order):
        raise CoupangApiError(400, "cancelType=CANCEL takes neither status nor orderId")
    if cancel_type == "RETURN" and status not in RETURN_CODES and not (status is None and order):
        raise CoupangApiError(400, f"status must be one of {', '.join(RETURN_CODES)} (or give orderId)")
    bounds, size, token = _window(request, sandbox)
    order_id = _number(order, "orderId") if order else None
    kinds = ["CANCEL"] if cancel_type == "CANCEL" else [status] if status else list(RETURN_CODES)
    with sandbox.lock:
        found = {r.receipt_id: r for k in kinds for r in sandbox.returns.listing(k, *bounds, order_id)}
        rows = [found[i] for i in sorted(found) if i > token]
        page = rows[:size]
        return {
            "data": [r.row(version) for r in page],
            "nextToken": str(page[-1].receipt_id) if len(rows) > len(page) else "",
        }


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise CoupangApiError(400, f"{name} must be a number")
    return int(text)


async def _single(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    version = _version(request, SHEET_VERSIONS)
    box_id = _number(request.path_params["shipmentBoxId"], "shipmentBoxId")
    with sandbox.lock:
        box = sandbox.boxes.get(box_id)
        if box is None:
            raise CoupangApiError(400, f"shipmentBoxId ({box_id}) is not found.")  # Invented wording
        return {"data": box.sheet(version)}


async def _by_order(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    version = _version(request, SHEET_VERSIONS)
    order_id = _number(request.path_params["orderId"], "orderId")
    boxes = sandbox.order_boxes(order_id)
    if not boxes:
        raise CoupangApiError(400, f"orderId ({order_id}) is not found.")  # Invented wording
    with sandbox.lock:
        sheets = [box.sheet(version) for box in boxes]
    # The page types data as an Object and its sample answers one sheet. Invented: an order of
    # several boxes answers a list of them (as integrations read it).
    return {"data": sheets[0] if len(sheets) == 1 else sheets}


def _outcome(results: list[dict[str, Any]], what: str) -> dict[str, Any]:
    ok = sum(1 for r in results if r["succeed"])
    code = 0 if ok == len(results) else 99 if ok == 0 else 1
    words = {0: "All succeeded.", 1: "Partial errors.", 99: "All Failed."}[code]
    return {
        "data": {
            "responseKey": uuid.uuid4().int % 10**18,
            "responseCode": code,
            "responseMessage": f"{what} result - {words}",
            "responseList": results,
        }
    }


async def _acknowledge(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    ids = (await _json_body(request)).get("shipmentBoxIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise CoupangApiError(400, "shipmentBoxIds must be a non-empty list of numbers")
    if len(ids) > 50:
        raise CoupangApiError(400, "Request up to 50 shipmentBoxIds at a time")
    return _outcome(sandbox.acknowledge(ids), "apply instructStatus")


INVOICE_FIELDS = ("shipmentBoxId", "orderId", "vendorItemId", "deliveryCompanyCode", "invoiceNumber")


async def _invoices(request: Request, sandbox: CoupangSandbox) -> dict[str, Any]:
    body = await _json_body(request)
    dtos = body.get("orderSheetInvoiceApplyDtos")
    if not isinstance(dtos, list) or not dtos or not all(isinstance(d, dict) for d in dtos):
        raise CoupangApiError(400, "orderSheetInvoiceApplyDtos must be a non-empty list of objects")
    for dto in dtos:
        missing = [name for name in INVOICE_FIELDS if dto.get(name) in (None, "")]
        if missing:
            raise CoupangApiError(400, f"orderSheetInvoiceApplyDtos: {', '.join(missing)} required")
        if not all(isinstance(dto[name], int) for name in ("shipmentBoxId", "orderId", "vendorItemId")):
            raise CoupangApiError(400, "shipmentBoxId, orderId and vendorItemId must be numbers")
    return _outcome(sandbox.upload_invoices(dtos), "apply invoice")


def api_routes() -> list[Route]:
    """The order sheet and return request endpoints (the reads at every version served)."""
    return [
        Route(
            f"{BASE}/ordersheets/acknowledgement",
            endpoint(_acknowledge, action=True, code="200"),
            methods=["PUT"],
            name="acknowledge",
        ),
        Route(f"{BASE}/orders/invoices", endpoint(_invoices, action=True, code="200"), methods=["POST"]),
        Route(f"{VERSIONED}/ordersheets", endpoint(_list), methods=["GET"], name="list"),
        Route(f"{VERSIONED}/returnRequests", endpoint(_returns), methods=["GET"], name="returns"),
        Route(f"{VERSIONED}/ordersheets/{{shipmentBoxId}}", endpoint(_single, code="200"), methods=["GET"]),
        Route(f"{VERSIONED}/{{orderId}}/ordersheets", endpoint(_by_order, code="200"), methods=["GET"]),
    ]
