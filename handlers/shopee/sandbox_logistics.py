"""The sandbox's Shopee logistics endpoints, in Shopee's request and answer shapes.

``get_shipping_parameter``, ``ship_order``, ``get_tracking_number``,
``create_shipping_document``, ``get_shipping_document_result``,
``download_shipping_document`` (the PDF itself, not JSON) and ``get_tracking_info``, each
checked as the order calls are (:func:`handlers.shopee.sandbox_api.authenticate`), with
the state in :mod:`handlers.shopee.sandbox_shipping` and :mod:`handlers.shopee.sandbox_carrier`.

Faults, in this order: the sandbox's API faults and the logistics faults fail a call
before it acts (500, 429, or a hang); then a POST carrying an ``Idempotency-Key`` seen
before gets the first answer again without acting; then the call acts; then a share of
answers is lost (an error_server 500, a connection dropped midway, or a hang) although
the action is done. ``package_number`` is required for split orders and, in
``ship_order``, refused for orders that are not split.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from handlers.shopee.sandbox_api import STATUS, ShopeeApiError, answer, authenticate
from handlers.shopee.sandbox_shipping import DOCUMENT_TYPES, MODES
from handlers.shopee.sandbox_state import Order, Package, Shop, ShopeeSandbox

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_DOCUMENTS = 50
Handler = Callable[[Mapping[str, Any], ShopeeSandbox, Shop], "dict[str, Any] | Response"]


class DroppedAnswer(Response):
    """Starts the answer and stops halfway: the server closes the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
        )


def _error(error: str, message: str, request_id: str, status: int) -> Response:
    return answer({"request_id": request_id, "error": error, "message": message}, status)


def logistics_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Faults, checks, idempotency keys and lost answers around a logistics handler."""

    async def serve(request: Request) -> Response:
        sandbox: ShopeeSandbox = request.app.state.sandbox
        desk = sandbox.logistics
        request_id = uuid.uuid4().hex
        fault, hang = sandbox.next_api_fault(), sandbox.api_faults.hang_seconds
        if fault is None:
            fault, hang = desk.next_fault(), desk.faults.hang_seconds
        if fault == "500":
            return _error("error_server", "System error. Please try again later.", request_id, 500)
        if fault == "429":
            message = "Too many requests. You have reached the rate limit. Please try again later."
            return _error("error_rate_limit", message, request_id, 429)
        if fault == "hang":
            await anyio.sleep(hang)
        raw = await request.body()
        key = request.headers.get(IDEMPOTENCY_HEADER) if request.method == "POST" else None
        try:
            shop = authenticate(request, sandbox, shop_call=True)
            assert shop is not None
            remembered = desk.recall(shop.shop_id, request.url.path, key, raw) if key else None
            if remembered is not None:
                return Response(remembered.body, remembered.status, media_type=remembered.media_type)
            desk.release_due()
            result = handler(_arguments(request, raw), sandbox, shop)
        except ShopeeApiError as exc:
            return _error(exc.error, exc.message, request_id, STATUS.get(exc.error, 400))
        if isinstance(result, Response):
            response = result
        else:
            response = answer({"request_id": request_id, "error": "", "message": "", **result})
        if key:
            kind = response.media_type or "application/json"
            desk.remember(
                shop.shop_id, request.url.path, key, raw, (response.status_code, bytes(response.body), kind)
            )
        loss = desk.next_loss()
        if loss == "500":
            return _error("error_server", "System error. Please try again later.", request_id, 500)
        if loss == "drop":
            return DroppedAnswer(bytes(response.body), response.status_code, media_type=response.media_type)
        if loss == "hang":
            await anyio.sleep(desk.faults.hang_seconds)
        return response

    return serve


def _arguments(request: Request, raw: bytes) -> Mapping[str, Any]:
    if request.method == "GET":
        return dict(request.query_params)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: the body is not JSON.") from None
    if not isinstance(body, dict):
        raise ShopeeApiError("error_param", "Wrong parameters, detail: the body is not an object.")
    return body


def _param(detail: str) -> ShopeeApiError:
    return ShopeeApiError("error_param", f"Wrong parameters, detail: {detail}.")


def _target(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop, *, ship: bool = False
) -> tuple[Order, Package]:
    """The order and package a call names; Shopee's errors when it names none of the shop's."""
    order_sn = args.get("order_sn")
    if not isinstance(order_sn, str) or not order_sn:
        raise _param("order_sn is a required field")
    order = sandbox.orders.get(order_sn)
    if order is None or order.shop_id != shop.shop_id:
        raise ShopeeApiError("logistics.invalid_error", "Order does not exist.")
    number = args.get("package_number")
    if number is None:
        if len(order.packages) > 1:
            code = (
                "logistics.ship_order_need_pacakge_number" if ship else "logistics.package_number_not_exist"
            )
            raise ShopeeApiError(code, "Please request with package_number for this split order.")
        if not order.packages:
            raise ShopeeApiError("logistics.package_not_exist", "Package does not exist.")
        return order, order.packages[0]
    if not isinstance(number, str) or not number:
        raise _param("package_number must not be empty; leave it out when there is none")
    if ship and len(order.packages) == 1:
        message = "This order is not split; please request without package_number."
        raise ShopeeApiError("logistics.ship_order_not_need_pacakge_number", message)
    package = next((p for p in order.packages if p.package_number == number), None)
    if package is None:
        raise ShopeeApiError("logistics.package_not_exist", "Package does not exist.")
    return order, package


def get_shipping_parameter(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``GET /api/v2/logistics/get_shipping_parameter``: the modes and their choices."""
    order, package = _target(args, sandbox, shop)
    return {"response": sandbox.logistics.shipping_parameter(order, package)}


def ship_order(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``POST /api/v2/logistics/ship_order``: arrange shipment of one package."""
    order, package = _target(args, sandbox, shop, ship=True)
    modes = [mode for mode in MODES if mode in args]
    if len(modes) != 1:
        raise _param("send exactly one of pickup, dropoff and non_integrated")
    choice = args[modes[0]]
    if not isinstance(choice, dict):
        raise _param(f"{modes[0]} must be an object")
    sandbox.logistics.ship(order, package, modes[0], choice)
    return {}


def get_tracking_number(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``GET /api/v2/logistics/get_tracking_number``: empty until the number is there."""
    order, package = _target(args, sandbox, shop)
    return {"response": {"tracking_number": sandbox.logistics.tracking_number(order, package)}}


def get_tracking_info(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``GET /api/v2/logistics/get_tracking_info``: the status and checkpoints, newest first."""
    order, package = _target(args, sandbox, shop)
    checkpoints = sandbox.logistics.carrier.checkpoints(order.order_sn, package.package_number)
    response = {
        "order_sn": order.order_sn,
        "package_number": package.package_number,
        "logistics_status": package.logistics_status,
        "tracking_info": checkpoints[::-1],
    }
    return {"response": response}


def _documents(args: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = args.get("order_list")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_DOCUMENTS:
        raise _param(f"order_list must hold 1 to {MAX_DOCUMENTS} orders")
    if not all(isinstance(entry, dict) for entry in entries):
        raise _param("order_list must hold objects")
    return entries


def _kind(entry: Mapping[str, Any], args: Mapping[str, Any]) -> str:
    kind = entry.get("shipping_document_type") or args.get("shipping_document_type") or DOCUMENT_TYPES[0]
    if kind not in DOCUMENT_TYPES:
        raise _param(f"shipping_document_type must be one of {', '.join(DOCUMENT_TYPES)}")
    return str(kind)


def _each(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop, act: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """A document call's ``result_list``: one result per order, failures included."""
    results = []
    for entry in _documents(args):
        kind = _kind(entry, args)
        result: dict[str, Any] = {
            "order_sn": entry.get("order_sn"),
            "package_number": entry.get("package_number"),
        }
        try:
            order, package = _target(entry, sandbox, shop)
            result["package_number"] = package.package_number
            result.update(act(order, package, kind, entry))
        except ShopeeApiError as exc:
            result.update(fail_error=exc.error, fail_message=exc.message)
        results.append(result)
    return {"response": {"result_list": results}}


def create_shipping_document(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``POST /api/v2/logistics/create_shipping_document``: airway bill tasks."""

    def create(order: Order, package: Package, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        error, message = sandbox.logistics.create_document(order, package, kind, entry.get("tracking_number"))
        return {"fail_error": error, "fail_message": message}

    return _each(args, sandbox, shop, create)


def get_shipping_document_result(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop
) -> dict[str, Any]:
    """``POST /api/v2/logistics/get_shipping_document_result``: READY, PROCESSING or FAILED."""

    def result(order: Order, package: Package, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        status = sandbox.logistics.document_status(order, package, kind)
        if status is None:
            message = "Please call create_shipping_document first."
            return {"fail_error": "logistics.shipping_document_not_exist", "fail_message": message}
        if status == "FAILED":
            message = "The airway bill could not be made."
            return {
                "status": status,
                "fail_error": "logistics.shipping_document_failed",
                "fail_message": message,
            }
        return {"status": status, "fail_error": "", "fail_message": ""}

    return _each(args, sandbox, shop, result)


def download_shipping_document(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> Response:
    """``POST /api/v2/logistics/download_shipping_document``: the airway bill, a PDF."""
    kind = _kind({}, args)
    lines = [f"Shopee sandbox airway bill ({kind})"]
    for entry in _documents(args):
        order, package = _target(entry, sandbox, shop)
        if sandbox.logistics.document_status(order, package, kind) != "READY":
            raise ShopeeApiError(
                "logistics.shipping_document_not_ready", "The shipping document is not ready."
            )
        arranged = sandbox.logistics.arrangement(order, package)
        number = arranged.tracking_number if arranged else ""
        lines += [f"Order {order.order_sn}", f"Package {package.package_number}", f"Tracking number {number}"]
    return Response(airway_bill(lines), media_type="application/pdf")


def airway_bill(lines: list[str]) -> bytes:
    """A small valid one-page PDF (A6) showing ``lines``."""
    shown = " T* ".join(f"({_pdf_text(line)}) Tj" for line in lines)
    stream = f"BT /F1 11 Tf 14 TL 20 390 Td {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 420] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


def _pdf_text(line: str) -> str:
    text = line.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def logistics_routes() -> list[Route]:
    """The Shopee logistics routes (before the catch-all of the API routes)."""
    base = "/api/v2/logistics"
    calls: list[tuple[str, Handler, str]] = [
        ("get_shipping_parameter", get_shipping_parameter, "GET"),
        ("ship_order", ship_order, "POST"),
        ("get_tracking_number", get_tracking_number, "GET"),
        ("create_shipping_document", create_shipping_document, "POST"),
        ("get_shipping_document_result", get_shipping_document_result, "POST"),
        ("download_shipping_document", download_shipping_document, "POST"),
        ("get_tracking_info", get_tracking_info, "GET"),
    ]
    return [
        Route(f"{base}/{name}", logistics_endpoint(handler), methods=[method])
        for name, handler, method in calls
    ]
