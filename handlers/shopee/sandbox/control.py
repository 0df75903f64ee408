"""The sandbox's control endpoints (JSON under ``/sandbox``): set up shops and orders, move
orders along, steer pushes and API faults, read the clock and the push counts.

    POST /sandbox/shops                   {"shop_id", "access_token"?, "refresh_token"?,
                                           "mart_shop_id"?, "shop_name"?, "cross_border"?}
                                           -> the shop, tokens
    GET  /sandbox/shops                   {"shops": [...]}
    POST /sandbox/orders                  {"shop_id", "order_sn"?, "status"?, "packages"?,
                                           "days_to_ship"?, "shipping_carrier"?} -> the order
    GET  /sandbox/orders[?shop_id=]       {"orders": [...]}, statuses and packages
    GET  /sandbox/orders/{order_sn}       the order
    POST /sandbox/orders/{order_sn}/move  {"status"?, "packages"?: [{"package_number"? |
                                           "index"? | "new"?, "logistics_status"?,
                                           "shipping_carrier"?, "tracking_no"?: str|true}],
                                           "advance"?: seconds} -> the order
    GET  /sandbox/clock                   {"now"};  POST {"advance": seconds}
    POST /sandbox/pushes/faults           {"duplicate"?, "reorder"?, "delay"?, "drop"?,
                                           "delay_seconds"?, "attempts"?, "backoff"?}
    POST /sandbox/pushes/target           {"url": str | null}
    POST /sandbox/pushes/flush            {"released": n}: held pushes sent now
    POST /sandbox/pushes/drain            {"timeout"?} -> the counts, once nothing is pending
    GET  /sandbox/pushes/stats            the counts
    POST /sandbox/api/faults              {"rate"?, "kinds"?: ["500"|"429"|"hang"],
                                           "hang_seconds"?, "fail_next"?: [kind, ...]}

Logistics (:mod:`handlers.shopee.sandbox.shipping`, :mod:`handlers.shopee.sandbox.carrier`):

    POST /sandbox/logistics/faults        {"rate"?, "kinds"?: ["500"|"429"|"hang"], "hang_seconds"?,
                                           "lose_rate"?, "lose_kinds"?: ["500"|"drop"|"hang"],
                                           "fail_next"?: [kind, ...], "lose_next"?: [kind, ...]}
    POST /sandbox/logistics/settings      {"modes"?, "tracking_delay"?, "document_delay"?,
                                           "fail_documents"?, "memory"?, "transit_steps"?,
                                           "failed_attempts"?, "max_failed_attempts"?,
                                           "auto_pickup_beats"?, "complete_beats"?,
                                           "demo_max_waiting"?} -> every setting
    GET  /sandbox/logistics/bookings      {"bookings": {"<order_sn>/<package_number>": n}}
    POST /sandbox/orders/{order_sn}/pickup  {"package_number"?} -> the order
    GET  /sandbox/orders/{order_sn}/tracking  {"packages": {package_number: [checkpoint, ...]}}
    POST /sandbox/logistics/advance       {"order_sn"?} -> {"moved": n}: one carrier step;
                                           {"beat": true} -> a whole auto-mode beat
    POST /sandbox/logistics/auto          {"on", "pace_seconds"?} -> the mode
    POST /sandbox/demo                    {"on", "pace_seconds"?, "shop_id"?} -> the mode

Errors answer ``{"error": "<message>"}`` with 400, 404 or 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields, replace
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.sandbox_common import ApiFaults, SandboxError, body_value, control_body
from handlers.shopee.sandbox.carrier import CarrierSettings
from handlers.shopee.sandbox.shipping import LogisticsSettings, ShopeeSandbox

Control = Callable[[Request, ShopeeSandbox], Awaitable[Any]]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def control(handler: Control, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Run ``handler``; its result as JSON, a :class:`SandboxError` as ``{"error"}``."""

    async def serve(request: Request) -> Response:
        try:
            return _json(await handler(request, request.app.state.sandbox), status)
        except SandboxError as exc:
            return _json({"error": str(exc)}, exc.status)
        except ValueError as exc:  # the dataclasses' own checks
            return _json({"error": str(exc)}, 400)

    return serve


async def _add_shop(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    shop_id = body_value(body, "shop_id", int)
    if shop_id is None:
        raise SandboxError("shop_id is required")
    shop = sandbox.add_shop(
        shop_id,
        access_token=body_value(body, "access_token", str),
        refresh_token=body_value(body, "refresh_token", str),
        mart_shop_id=body_value(body, "mart_shop_id", int),
        shop_name=body_value(body, "shop_name", str, ""),
        cross_border=body_value(body, "cross_border", bool, False),
    )
    return shop.to_json()


async def _list_shops(request: Request, sandbox: ShopeeSandbox) -> Any:
    return {"shops": [shop.to_json() for shop in list(sandbox.shops.values())]}


async def _create_order(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    shop_id = body_value(body, "shop_id", int)
    if shop_id is None:
        raise SandboxError("shop_id is required")
    order = sandbox.create_order(
        shop_id,
        order_sn=body_value(body, "order_sn", str),
        status=body_value(body, "status", str, "UNPAID"),
        packages=body_value(body, "packages", int, 1),
        days_to_ship=body_value(body, "days_to_ship", int, 2),
        shipping_carrier=body_value(body, "shipping_carrier", str, "Standard Delivery"),
    )
    return order.to_json()


async def _list_orders(request: Request, sandbox: ShopeeSandbox) -> Any:
    shop_id = request.query_params.get("shop_id")
    if shop_id is not None and not shop_id.isdigit():
        raise SandboxError("shop_id must be a number")
    orders = sandbox.list_orders(int(shop_id) if shop_id else None)
    return {"orders": [order.to_json() for order in orders]}


async def _get_order(request: Request, sandbox: ShopeeSandbox) -> Any:
    return sandbox.order(request.path_params["order_sn"]).to_json()


async def _move_order(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    packages = body_value(body, "packages", list, [])
    if not all(isinstance(change, dict) for change in packages):
        raise SandboxError("packages must be a list of objects")
    order = sandbox.move(
        request.path_params["order_sn"],
        status=body_value(body, "status", str),
        packages=packages,
        advance=body_value(body, "advance", int, 0),
    )
    return order.to_json()


async def _clock(request: Request, sandbox: ShopeeSandbox) -> Any:
    if request.method == "POST":
        sandbox.clock.advance(body_value(await control_body(request), "advance", int, 0))
    return {"now": sandbox.clock.now()}


async def _push_faults(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    engine = sandbox.pushes
    rates = {k: float(body_value(body, k, (int, float))) for k in asdict(engine.faults) if k in body}
    engine.configure(
        faults=replace(engine.faults, **rates),
        attempts=body_value(body, "attempts", int),
        backoff=body_value(body, "backoff", (int, float)),
    )
    return {**asdict(engine.faults), "attempts": engine.attempts, "backoff": engine.backoff}


async def _push_target(request: Request, sandbox: ShopeeSandbox) -> Any:
    url = body_value(await control_body(request), "url", str)
    if url is not None and not url.startswith(("http://", "https://")):
        raise SandboxError("url must be an absolute http(s) URL")
    sandbox.pushes.url = url
    return {"url": url}


async def _push_flush(request: Request, sandbox: ShopeeSandbox) -> Any:
    return {"released": sandbox.pushes.flush()}


async def _push_drain(request: Request, sandbox: ShopeeSandbox) -> Any:
    timeout = float(body_value(await control_body(request), "timeout", (int, float), 10.0))
    try:
        stats = await sandbox.pushes.drain(timeout)
    except TimeoutError as exc:
        raise SandboxError(str(exc), 409) from None
    return stats.to_json()


async def _push_stats(request: Request, sandbox: ShopeeSandbox) -> Any:
    return sandbox.pushes.stats().to_json()


async def _api_faults(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    current = sandbox.api_faults
    kinds = body_value(body, "kinds", list)
    sandbox.api_faults = ApiFaults(
        rate=float(body_value(body, "rate", (int, float), current.rate)),
        kinds=tuple(kinds) if kinds is not None else current.kinds,
        hang_seconds=float(body_value(body, "hang_seconds", (int, float), current.hang_seconds)),
    )
    sandbox.fail_next(body_value(body, "fail_next", list, []))
    return {**asdict(sandbox.api_faults), "kinds": list(sandbox.api_faults.kinds)}


async def _logistics_faults(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    desk = sandbox.logistics
    changes: dict[str, Any] = {}
    for name in ("rate", "hang_seconds", "lose_rate"):
        if name in body:
            changes[name] = float(body_value(body, name, (int, float)))
    for name in ("kinds", "lose_kinds"):
        if name in body:
            changes[name] = tuple(body_value(body, name, list))
    desk.faults = replace(desk.faults, **changes) if changes else desk.faults
    desk.fail_next(body_value(body, "fail_next", list, []))
    desk.lose_next(body_value(body, "lose_next", list, []))
    faults = desk.faults
    return {**asdict(faults), "kinds": list(faults.kinds), "lose_kinds": list(faults.lose_kinds)}


_SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "modes": list,
    "fail_documents": bool,
    "failed_attempts": (int, float),
}


async def _logistics_settings(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    names = [f.name for f in (*fields(LogisticsSettings), *fields(CarrierSettings))]
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise SandboxError(f"unknown settings: {', '.join(unknown)}")
    changes = {name: body_value(body, name, _SETTING_TYPES.get(name, int)) for name in body}
    sandbox.logistics.configure(**{k: v for k, v in changes.items() if v is not None})
    carrier = asdict(sandbox.logistics.carrier.settings)
    return {**asdict(sandbox.logistics.settings), "modes": list(sandbox.logistics.settings.modes), **carrier}


async def _bookings(request: Request, sandbox: ShopeeSandbox) -> Any:
    return {"bookings": sandbox.logistics.booking_counts()}


async def _pickup(request: Request, sandbox: ShopeeSandbox) -> Any:
    number = body_value(await control_body(request), "package_number", str)
    return sandbox.logistics.carrier.pickup(request.path_params["order_sn"], number).to_json()


async def _tracking(request: Request, sandbox: ShopeeSandbox) -> Any:
    order = sandbox.order(request.path_params["order_sn"])
    carrier = sandbox.logistics.carrier
    return {
        "packages": {
            p.package_number: carrier.checkpoints(order.order_sn, p.package_number) for p in order.packages
        }
    }


async def _advance(request: Request, sandbox: ShopeeSandbox) -> Any:
    body = await control_body(request)
    carrier = sandbox.logistics.carrier
    if body_value(body, "beat", bool, False):
        await anyio.to_thread.run_sync(carrier.beat)
        return {"moved": None}
    order_sn = body_value(body, "order_sn", str)
    if order_sn is not None:
        sandbox.order(order_sn)
    return {"moved": carrier.advance(order_sn)}


async def _auto(request: Request, sandbox: ShopeeSandbox, *, demo: bool = False) -> Any:
    body = await control_body(request)
    carrier = sandbox.logistics.carrier
    on = body_value(body, "on", bool)
    if on is None:
        raise SandboxError("on is required (true or false)")
    if not on:
        await anyio.to_thread.run_sync(carrier.stop)
        return carrier.to_json()
    pace = float(body_value(body, "pace_seconds", (int, float), carrier.pace_seconds or 4.0))
    carrier.start(pace, create_orders=demo, shop_id=body_value(body, "shop_id", int) if demo else None)
    return carrier.to_json()


async def _demo(request: Request, sandbox: ShopeeSandbox) -> Any:
    return await _auto(request, sandbox, demo=True)


def control_routes() -> list[Route]:
    """The ``/sandbox`` routes."""
    return [
        Route("/sandbox/shops", control(_add_shop, 201), methods=["POST"]),
        Route("/sandbox/shops", control(_list_shops), methods=["GET"]),
        Route("/sandbox/orders", control(_create_order, 201), methods=["POST"]),
        Route("/sandbox/orders", control(_list_orders), methods=["GET"]),
        Route("/sandbox/orders/{order_sn}", control(_get_order), methods=["GET"]),
        Route("/sandbox/orders/{order_sn}/move", control(_move_order), methods=["POST"]),
        Route("/sandbox/clock", control(_clock), methods=["GET", "POST"]),
        Route("/sandbox/pushes/faults", control(_push_faults), methods=["POST"]),
        Route("/sandbox/pushes/target", control(_push_target), methods=["POST"]),
        Route("/sandbox/pushes/flush", control(_push_flush), methods=["POST"]),
        Route("/sandbox/pushes/drain", control(_push_drain), methods=["POST"]),
        Route("/sandbox/pushes/stats", control(_push_stats), methods=["GET"]),
        Route("/sandbox/api/faults", control(_api_faults), methods=["POST"]),
        Route("/sandbox/logistics/faults", control(_logistics_faults), methods=["POST"]),
        Route("/sandbox/logistics/settings", control(_logistics_settings), methods=["POST"]),
        Route("/sandbox/logistics/bookings", control(_bookings), methods=["GET"]),
        Route("/sandbox/orders/{order_sn}/pickup", control(_pickup), methods=["POST"]),
        Route("/sandbox/orders/{order_sn}/tracking", control(_tracking), methods=["GET"]),
        Route("/sandbox/logistics/advance", control(_advance), methods=["POST"]),
        Route("/sandbox/logistics/auto", control(_auto), methods=["POST"]),
        Route("/sandbox/demo", control(_demo), methods=["POST"]),
    ]
