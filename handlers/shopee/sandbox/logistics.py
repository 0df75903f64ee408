"""The sandbox's Shopee logistics endpoints, in Shopee's request and answer shapes.

``get_shipping_parameter``, ``ship_order``, ``get_tracking_number`` and
``get_tracking_info`` here, the document calls in :mod:`handlers.shopee.sandbox.documents`;
each checked as the order calls are (:func:`handlers.shopee.sandbox.api.authenticate`),
with the state in :mod:`handlers.shopee.sandbox.shipping` and
:mod:`handlers.shopee.sandbox.carrier`. Error names are each call's own published ones
(tests/conformance/samples/shopee/v2.logistics.*.json): an unknown order is
``error_not_found`` for get_shipping_parameter (its error example),
``logistics.error_order_not_found`` for ship_order, ``logistics.invalid_error`` for the
tracking calls and ``logistics.order_not_exist`` for the document calls.

Invented (the reference describes none of it): faults, in this order: the sandbox's API
faults and the logistics faults fail a call before it acts (500, 429, or a hang); then a
POST carrying an ``Idempotency-Key`` seen before gets the first answer again without
acting; then the call acts; then a share of answers is lost (an error_server 500, a
connection dropped midway, or a hang) although the action is done. The
``Idempotency-Key`` header and the HTTP statuses of error answers are invented too.
``package_number`` is required for split orders and, in ``ship_order``, refused for orders
that are not split.
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

from handlers.shopee.sandbox.api import ShopeeApiError, answer, authenticate, gateway_fault
from handlers.shopee.sandbox.shipping import MODES, ShopeeSandbox
from handlers.shopee.sandbox.state import Order, Package, Shop

IDEMPOTENCY_HEADER = "Idempotency-Key"
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
        failed = gateway_fault(fault, request_id)
        if failed is not None:
            return failed
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
            return _error(exc.error, exc.message, request_id, exc.status)
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


# Per call: the error names of an unknown order and of an unknown package (each call's list).
MISSING = {
    "get_shipping_parameter": (("error_not_found", "Wrong parameters, detail: the order is not found."),
                               ("error_param", "Wrong parameters, detail: the package is not found.")),
    "ship_order": (("logistics.error_order_not_found", "Order is not found."),
                   ("error_param", "Invalid package number, please get package number from field "
                                   "`package_number` instead of `forder_id`.")),
    "tracking": (("logistics.invalid_error", "The order is not exist."),
                 ("logistics.package_not_exist", "The package is not exist.")),
    "document": (("logistics.order_not_exist", "The order_sn {order_sn} is not exist."),
                 ("logistics.package_number_not_found", "The package_number {package_number} is not exist.")),
}  # fmt: skip


def _target(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop, *, ship: bool = False, call: str = "tracking"
) -> tuple[Order, Package]:
    """The order and package a call names; Shopee's errors when it names none of the shop's."""
    (no_order, no_order_text), (no_package, no_package_text) = MISSING["ship_order" if ship else call]
    order_sn = args.get("order_sn")
    if not isinstance(order_sn, str) or not order_sn:
        raise _param("order_sn is a required field")
    order = sandbox.orders.get(order_sn)
    if order is None or order.shop_id != shop.shop_id:
        raise ShopeeApiError(no_order, no_order_text.format(order_sn=order_sn))
    number = args.get("package_number")
    if number is None:
        if len(order.packages) > 1:
            code = (
                "logistics.ship_order_need_pacakge_number" if ship else "logistics.package_number_not_exist"
            )
            raise ShopeeApiError(code, "Please request with package_number for this split order.")
        if not order.packages:
            raise ShopeeApiError(no_package, no_package_text.format(package_number=""))
        return order, order.packages[0]
    if not isinstance(number, str) or not number:
        raise _param("package_number must not be empty; leave it out when there is none")
    if ship and len(order.packages) == 1:
        message = "This order is not split; please request without package_number."
        raise ShopeeApiError("logistics.ship_order_not_need_pacakge_number", message)
    package = next((p for p in order.packages if p.package_number == number), None)
    if package is None:
        raise ShopeeApiError(no_package, no_package_text.format(package_number=number))
    return order, package


def get_shipping_parameter(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``GET /api/v2/logistics/get_shipping_parameter``: the modes and their choices."""
    order, package = _target(args, sandbox, shop, call="get_shipping_parameter")
    return {"response": sandbox.logistics.shipping_parameter(order, package)}


def ship_order(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``POST /api/v2/logistics/ship_order``: arrange shipment of one package."""
    order, package = _target(args, sandbox, shop, ship=True)
    modes = [mode for mode in MODES if mode in args]
    if len(modes) != 1:
        message = "Please select just one way to ship order: pickup or dropoff or non_integrated."
        raise ShopeeApiError("logistics.ship_order_only_support_one_type", message)
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
    """``GET /api/v2/logistics/get_tracking_info``: the status and checkpoints, oldest first
    (as Shopee's sample lists them)."""
    order, package = _target(args, sandbox, shop)
    checkpoints = sandbox.logistics.carrier.checkpoints(order.order_sn, package.package_number)
    response = {
        "order_sn": order.order_sn,
        "package_number": package.package_number,
        "logistics_status": package.logistics_status,
        "tracking_info": checkpoints,
    }
    return {"response": response}


def logistics_routes() -> list[Route]:
    """The Shopee logistics routes but the shipping documents' (before the catch-all of the API
    routes; :func:`handlers.shopee.sandbox.documents.document_routes` has those)."""
    base = "/api/v2/logistics"
    calls: list[tuple[str, Handler, str]] = [
        ("get_shipping_parameter", get_shipping_parameter, "GET"),
        ("ship_order", ship_order, "POST"),
        ("get_tracking_number", get_tracking_number, "GET"),
        ("get_tracking_info", get_tracking_info, "GET"),
    ]
    return [
        Route(f"{base}/{name}", logistics_endpoint(handler), methods=[method])
        for name, handler, method in calls
    ]
