"""The Coupang sandbox's control endpoints (JSON under ``/sandbox``): make orders, move boxes,
steer faults, read the clock and what was asked of it.

    POST /sandbox/orders                {"boxes"?, "items"?, "status"?, "ordered_at"?, "order_id"?,
                                         "count"?} -> {"boxes": [order sheet, ...]}
    GET  /sandbox/orders/{orderId}      {"boxes": [order sheet, ...]}
    GET  /sandbox/boxes/{shipmentBoxId} the order sheet
    POST /sandbox/boxes/{shipmentBoxId}/status  {"status"} -> the order sheet
    POST /sandbox/advance               {"shipmentBoxId"?} -> {"moved": n}: one courier step
    POST /sandbox/orders/{orderId}/cancel  {"shipmentBoxIds"?} -> {"receipts": [request, ...]}: the
                                        buyer cancels (ACCEPT: at once; INSTRUCT: asks to stop)
    POST /sandbox/boxes/{shipmentBoxId}/return  the request: the buyer returns a dispatched box
    GET  /sandbox/receipts/{receiptId}  the request as the list shows it
    POST /sandbox/receipts/{receiptId}/stop     the seller stops the requested box (출고중지완료)
    POST /sandbox/receipts/{receiptId}/shipped  the seller had shipped it (이미출고): a return
    POST /sandbox/receipts/{receiptId}/status   {"status"}: Coupang moves a return on
    POST /sandbox/faults                {"rate"?, "kinds"?: ["500"|"429"|"hang"], "hang_seconds"?,
                                         "fail_next"?: [kind, ...], "lose_rate"?, "delay_seconds"?,
                                         "duplicate_rate"?} -> the faults
    GET  /sandbox/counts                {"acknowledgements": {box: n}, "invoice_uploads": {box: n},
                                         "calls": {endpoint: n}}
    GET  /sandbox/clock                 {"now"};  POST {"advance": seconds}

Errors answer ``{"error": "<message>"}`` with 400 or 404.

Invented: all of these; Coupang has no control endpoints (the answers show order sheets in
v4's shape, and requests as the v4 list shows them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.coupang.sandbox.api import answer
from handlers.coupang.sandbox.returns import CoupangSandbox
from handlers.sandbox_common import ApiFaults, SandboxError, body_value, control_body

Control = Callable[[Request, CoupangSandbox], Awaitable[Any]]


def control(handler: Control, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Run ``handler``; its result as JSON, a :class:`SandboxError` as ``{"error"}``."""

    async def serve(request: Request) -> Response:
        try:
            return answer(await handler(request, request.app.state.sandbox), status)
        except SandboxError as exc:
            return answer({"error": str(exc)}, exc.status)

    return serve


def _box_id(request: Request, name: str = "shipmentBoxId") -> int:
    text = request.path_params[name]
    if not text.isdigit():
        raise SandboxError(f"{name} must be a number")
    return int(text)


async def _create(request: Request, sandbox: CoupangSandbox) -> Any:
    body = await control_body(request)
    made = []
    for _ in range(body_value(body, "count", int, 1)):
        made += sandbox.create_order(
            boxes=body_value(body, "boxes", int, 1),
            items=body_value(body, "items", int, 1),
            status=body_value(body, "status", str, "ACCEPT"),
            ordered_at=body_value(body, "ordered_at", int),
            order_id=body_value(body, "order_id", int),
        )
    with sandbox.lock:
        return {"boxes": [box.sheet() for box in made]}


async def _order(request: Request, sandbox: CoupangSandbox) -> Any:
    boxes = sandbox.order_boxes(_box_id(request, "orderId"))
    if not boxes:
        raise SandboxError("no such order", 404)
    with sandbox.lock:
        return {"boxes": [box.sheet() for box in boxes]}


async def _box(request: Request, sandbox: CoupangSandbox) -> Any:
    with sandbox.lock:
        return sandbox.box(_box_id(request)).sheet()


async def _status(request: Request, sandbox: CoupangSandbox) -> Any:
    status = body_value(await control_body(request), "status", str)
    if status is None:
        raise SandboxError("status is required")
    with sandbox.lock:
        return sandbox.set_status(_box_id(request), status).sheet()


async def _advance(request: Request, sandbox: CoupangSandbox) -> Any:
    return {"moved": sandbox.advance(body_value(await control_body(request), "shipmentBoxId", int))}


async def _cancel(request: Request, sandbox: CoupangSandbox) -> Any:
    boxes = body_value(await control_body(request), "shipmentBoxIds", list)
    if boxes is not None and not all(isinstance(b, int) for b in boxes):
        raise SandboxError("shipmentBoxIds must be a list of numbers")
    with sandbox.lock:
        made = sandbox.returns.cancel(_box_id(request, "orderId"), boxes)
        return {"receipts": [receipt.row() for receipt in made]}


async def _return(request: Request, sandbox: CoupangSandbox) -> Any:
    with sandbox.lock:
        return sandbox.returns.request_return(_box_id(request)).row()


async def _receipt(request: Request, sandbox: CoupangSandbox) -> Any:
    receipt_id, desk = _box_id(request, "receiptId"), sandbox.returns
    action = request.path_params.get("action")
    if action not in (None, "stop", "shipped", "status"):
        raise SandboxError(f"no action {action!r}: stop, shipped or status", 404)
    status = body_value(await control_body(request), "status", str) if action == "status" else None
    if action == "status" and status is None:
        raise SandboxError("status is required")
    with sandbox.lock:
        if action == "stop":
            return desk.stop_shipment(receipt_id).row()
        if action == "shipped":
            return desk.already_shipped(receipt_id).row()
        if status is not None:
            return desk.set_status(receipt_id, status).row()
        return desk.receipt(receipt_id).row()


async def _faults(request: Request, sandbox: CoupangSandbox) -> Any:
    body = await control_body(request)
    with sandbox.lock:
        current = sandbox.faults
        kinds = body_value(body, "kinds", list)
        api = ApiFaults(
            rate=float(body_value(body, "rate", (int, float), current.api.rate)),
            kinds=tuple(kinds) if kinds is not None else current.api.kinds,
            hang_seconds=float(body_value(body, "hang_seconds", (int, float), current.api.hang_seconds)),
        )
        changes = {
            name: float(body_value(body, name, (int, float)))
            for name in ("lose_rate", "delay_seconds", "duplicate_rate")
            if name in body
        }
        sandbox.faults = replace(current, api=api, **changes)
        sandbox.fail_next(body_value(body, "fail_next", list, []))
        shown = asdict(sandbox.faults)
        shown["api"]["kinds"] = list(api.kinds)
        return shown


async def _counts(request: Request, sandbox: CoupangSandbox) -> Any:
    with sandbox.lock:
        return {
            "acknowledgements": {str(k): v for k, v in sandbox.acknowledgements.items()},
            "invoice_uploads": {str(k): v for k, v in sandbox.invoice_uploads.items()},
            "calls": dict(sandbox.calls),
        }


async def _clock(request: Request, sandbox: CoupangSandbox) -> Any:
    if request.method == "POST":
        sandbox.clock.advance(body_value(await control_body(request), "advance", int, 0))
    return {"now": sandbox.clock.now()}


def control_routes() -> list[Route]:
    """The ``/sandbox`` routes."""
    return [
        Route("/sandbox/orders", control(_create, 201), methods=["POST"]),
        Route("/sandbox/orders/{orderId}", control(_order), methods=["GET"]),
        Route("/sandbox/boxes/{shipmentBoxId}", control(_box), methods=["GET"]),
        Route("/sandbox/boxes/{shipmentBoxId}/status", control(_status), methods=["POST"]),
        Route("/sandbox/advance", control(_advance), methods=["POST"]),
        Route("/sandbox/orders/{orderId}/cancel", control(_cancel), methods=["POST"]),
        Route("/sandbox/boxes/{shipmentBoxId}/return", control(_return), methods=["POST"]),
        Route("/sandbox/receipts/{receiptId}", control(_receipt), methods=["GET"]),
        Route("/sandbox/receipts/{receiptId}/{action:str}", control(_receipt), methods=["POST"]),
        Route("/sandbox/faults", control(_faults), methods=["POST"]),
        Route("/sandbox/counts", control(_counts), methods=["GET"]),
        Route("/sandbox/clock", control(_clock), methods=["GET", "POST"]),
    ]
