"""The sandbox's Shopee Open API v2 endpoints, in Shopee's request and answer shapes.

Each call is checked as Shopee checks it: ``partner_id``, ``timestamp`` (no more than five
minutes off), ``sign`` over the path and the common parameters, then, for shop calls, the
shop and its access token, then the call's own parameters. Errors answer
``{"error", "message", "request_id"}`` with the names and messages the published error
lists and examples pair (tests/conformance/samples/shopee): a wrong partner_id is
``error_param`` "Invalid partner_id.", a wrong access token ``error_auth`` "Invalid
access_token.", a shop the partner is not authorized for ``error_auth`` "Invalid partner_id
or shopid." (get_shop_info's error example), and, in refresh_access_token's body,
``shop_no_linked`` "Partner and shop has no linked." (its list).

Invented (the reference documents no HTTP status for any error): 400 for parameter
errors, 403 for authentication errors (a wrong partner_id among them, although its name is
error_param), 404 for unknown paths and orders, 429 for the rate limit and 500 for the
sandbox's own failures. A share of calls can be made to fail (500, 429) or to hang, before
any check, as a gateway would (:func:`gateway_fault`).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handlers.shopee.sandbox.state import Order, Shop, ShopeeWorld
from handlers.shopee.signing import api_signature

TIMESTAMP_WINDOW = 5 * 60
MAX_WINDOW = 15 * 24 * 3600
MAX_PAGE_SIZE = 100
MAX_ORDER_SNS = 50
TIME_RANGE_FIELDS = ("create_time", "update_time")
# Invented: the HTTP status of each error name (the reference documents none).
STATUS = {"error_not_found": 404, "error_server": 500}
STATUS.update(dict.fromkeys(("error_auth", "error_sign", "shop_no_linked"), 403))
INVALID_PARTNER = ("error_param", "Invalid partner_id.")  # every list but the lost-push pages' (none)
INVALID_TOKEN = ("error_auth", "Invalid access_token.")  # every shop call's list; the returns examples
UNAUTHORIZED_SHOP = ("error_auth", "Invalid partner_id or shopid.")  # get_shop_info's error example
SERVER_ERROR = ("error_server", "System error. Please try again later.")
# No page of the calls orderwatch makes (order, shop, auth, push, logistics) publishes a rate-limit
# answer. The livestream pages publish this one (lazykern/ecommerce-api-docs
# data/raw/shopee/apis/livestream/*.json, their error_list), under error_server, a name every list
# here has; the ads pages publish ads.rate_limit.* names of their own module.
RATE_LIMITED = ("error_server", "Too many requests, please try again later")

Handler = Callable[[Request, ShopeeWorld], Awaitable[dict[str, Any]]]


class ShopeeApiError(Exception):
    """A Shopee error answer: its ``error`` name and ``message``, and the HTTP status it goes with
    (by default the name's, :data:`STATUS`)."""

    def __init__(self, error: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status if status is not None else STATUS.get(error, 400)


def answer(body: dict[str, Any], status: int = 200) -> Response:
    """Compact JSON, as Shopee answers."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Faults first, then the handler; its data or error go into Shopee's envelope."""

    async def serve(request: Request) -> Response:
        sandbox: ShopeeWorld = request.app.state.sandbox
        request_id = uuid.uuid4().hex
        fault = sandbox.next_api_fault()
        failed = gateway_fault(fault, request_id)
        if failed is not None:
            return failed
        if fault == "hang":
            await anyio.sleep(sandbox.api_faults.hang_seconds)
        try:
            data = await handler(request, sandbox)
        except ShopeeApiError as exc:
            return answer(_error(exc.error, exc.message, request_id), exc.status)
        return answer({"request_id": request_id, "error": "", "message": "", **data})

    return serve


def gateway_fault(fault: str | None, request_id: str) -> Response | None:
    """The answer of a gateway fault that fails the call ("500", "429"), or None (none, or a hang).

    Invented: the statuses 500 and 429, and answering :data:`RATE_LIMITED` for calls whose pages
    publish no rate-limit answer at all."""
    if fault == "500":
        return answer(_error(*SERVER_ERROR, request_id), 500)
    if fault == "429":
        return answer(_error(*RATE_LIMITED, request_id), 429)
    return None


def _error(error: str, message: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "error": error, "message": message}


def authenticate(request: Request, sandbox: ShopeeWorld, *, shop_call: bool) -> Shop | None:
    """Check the common parameters and the signature; the shop of a shop call."""
    query = request.query_params
    partner_id = query.get("partner_id")
    if not partner_id:
        raise ShopeeApiError("error_param", "There is no partner_id in query.")
    if not partner_id.isdigit() or int(partner_id) != sandbox.partner_id:
        raise ShopeeApiError(*INVALID_PARTNER, status=403)
    timestamp = query.get("timestamp")
    if not timestamp:
        raise ShopeeApiError("error_param", "There is no timestamp in query.")
    if not timestamp.isdigit():
        raise ShopeeApiError("error_param", "Invalid timestamp.")
    if abs(sandbox.clock.now() - int(timestamp)) > TIMESTAMP_WINDOW:
        raise ShopeeApiError("error_param", "Timestamp is expired.")
    token, shop_id = query.get("access_token"), query.get("shop_id")
    if shop_call:
        if not shop_id:
            raise ShopeeApiError("error_param", "There is no shop_id in query.")
        if not token:
            raise ShopeeApiError("error_param", "There is no access_token in query.")
    path = request.url.path
    if shop_call and token and shop_id:
        expected = api_signature(sandbox.partner_key, partner_id, path, int(timestamp), token, shop_id)
    else:
        expected = api_signature(sandbox.partner_key, partner_id, path, int(timestamp))
    offered = query.get("sign") or ""
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise ShopeeApiError("error_sign", "Wrong sign.")
    if not shop_call:
        return None
    assert shop_id is not None and token is not None
    shop = sandbox.shops.get(int(shop_id)) if shop_id.isdigit() else None
    if shop is None:
        # get_shop_info's error example; the other shop calls publish none for this check, which is
        # the gateway's and comes before any call's own, so they answer it the same.
        raise ShopeeApiError(*UNAUTHORIZED_SHOP)
    if not sandbox.token_is_valid(shop, token):
        raise ShopeeApiError(*INVALID_TOKEN)
    return shop


def _int(request: Request, name: str, *, required: bool = True, default: int = 0) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise ShopeeApiError("error_param", f"Wrong parameters, detail: {name} is required.")
        return default
    if not value.lstrip("-").isdigit():
        raise ShopeeApiError("error_param", f"Wrong parameters, detail: {name} must be an integer.")
    return int(value)


async def get_order_list(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """``GET /api/v2/order/get_order_list``: order numbers in a time window, cursor-paged."""
    shop = authenticate(request, sandbox, shop_call=True)
    assert shop is not None
    field_name = request.query_params.get("time_range_field", "")
    if field_name not in TIME_RANGE_FIELDS:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: time_range_field is invalid.")
    start, end = _int(request, "time_from"), _int(request, "time_to")
    if not start < end or end - start > MAX_WINDOW:
        message = "Start time must be earlier than end time and diff in 15days."
        raise ShopeeApiError("order.order_list_invalid_time", message)
    page_size = _int(request, "page_size")
    if page_size > MAX_PAGE_SIZE:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: page_size must be 100 or less.")
    if page_size < 1:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: page_size must be 1 or more.")
    cursor = request.query_params.get("cursor", "").strip('"')  # Shopee's example sends ""
    if cursor and not cursor.isdigit():
        raise ShopeeApiError("error_param", "Wrong parameters, detail: cursor is invalid.")
    offset = int(cursor or 0)
    orders = sandbox.orders_in_window(shop.shop_id, field_name, start, end)
    page = orders[offset : offset + page_size]
    more = offset + page_size < len(orders)
    optional = set(request.query_params.get("response_optional_fields", "").split(","))
    entries = [
        {"order_sn": o.order_sn, **({"order_status": o.order_status} if "order_status" in optional else {})}
        for o in page
    ]
    response = {"more": more, "next_cursor": str(offset + page_size) if more else "", "order_list": entries}
    return {"response": response}


async def get_order_detail(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """``GET /api/v2/order/get_order_detail``: up to 50 orders; optional fields on request."""
    shop = authenticate(request, sandbox, shop_call=True)
    assert shop is not None
    order_sns = [sn for sn in request.query_params.get("order_sn_list", "").split(",") if sn]
    if not 1 <= len(order_sns) <= MAX_ORDER_SNS:
        message = f"Wrong parameters, detail: order_sn_list must hold 1 to {MAX_ORDER_SNS} orders."
        raise ShopeeApiError("error_param", message)
    fields = set(request.query_params.get("response_optional_fields", "").split(","))
    found = [sandbox.orders.get(sn) for sn in order_sns]
    orders = [o for o in found if o is not None and o.shop_id == shop.shop_id]
    if len(orders) < len(order_sns):
        raise ShopeeApiError("error_not_found", "Wrong parameters, detail: the order is not found.")
    return {"response": {"order_list": [order_detail(o, fields) for o in orders]}}


def order_detail(order: Order, fields: set[str]) -> dict[str, Any]:
    """One order of ``get_order_detail``: the default fields, then the optional ones asked."""
    detail: dict[str, Any] = {
        "order_sn": order.order_sn,
        "region": "SG",
        "currency": "SGD",
        "cod": False,
        "order_status": order.order_status,
        "message_to_seller": "",
        "create_time": order.create_time,
        "update_time": order.update_time,
        "days_to_ship": order.days_to_ship,
        "ship_by_date": order.ship_by_date,
    }
    carrier = order.packages[0].shipping_carrier if order.packages else ""
    if "shipping_carrier" in fields:
        detail["shipping_carrier"] = carrier
    if "pickup_done_time" in fields:
        detail["pickup_done_time"] = 0
    if "cancel_by" in fields:
        detail["cancel_by"] = "system" if order.order_status == "CANCELLED" else ""
    if "cancel_reason" in fields:
        detail["cancel_reason"] = ""
    if "recipient_address" in fields:
        detail["recipient_address"] = dict(order.recipient_address)
    if "package_list" in fields:
        detail["package_list"] = [
            {
                "package_number": p.package_number,
                "logistics_status": p.logistics_status,
                "logistics_channel_id": 18025,
                "shipping_carrier": p.shipping_carrier,
                "allow_self_design_awb": False,
                "item_list": [],
                "parcel_chargeable_weight_gram": 0,
            }
            for p in order.packages
        ]
    return detail


async def get_shop_info(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """``GET /api/v2/shop/get_shop_info``: top-level fields, Instant Mart relation included."""
    shop = authenticate(request, sandbox, shop_call=True)
    assert shop is not None
    outlets = sandbox.outlets(shop.shop_id)
    now = sandbox.clock.now()
    info: dict[str, Any] = {
        "shop_name": shop.shop_name,
        "region": shop.region,
        "status": "NORMAL",
        "is_cb": shop.cross_border,
        "is_sip": False,
        "is_upgraded_cbsc": False,
        "merchant_id": None,
        "shop_fulfillment_flag": "Others",
        "is_main_shop": False,  # Shopee's "main shop" is the cross-border one, not the Mart
        "is_direct_shop": False,
        "linked_main_shop_id": 0,
        "linked_direct_shop_list": [],
        "is_one_awb": False,
        "auth_time": now - 86400,
        "expire_time": now + 365 * 86400,
        "is_mart_shop": bool(outlets),
        "is_outlet_shop": shop.mart_shop_id is not None,
    }
    if shop.mart_shop_id is not None:
        info["mart_shop_id"] = shop.mart_shop_id
    if outlets:
        info["outlet_shop_info_list"] = [{"outlet_shop_id": outlet} for outlet in outlets]
    return info


async def refresh_access_token(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """``POST /api/v2/auth/access_token/get``: a public call; JSON body with the refresh token."""
    authenticate(request, sandbox, shop_call=False)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: the body is not JSON.") from None
    if not isinstance(body, dict):
        raise ShopeeApiError("error_param", "Wrong parameters, detail: the body is not an object.")
    if body.get("partner_id") != sandbox.partner_id:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: partner_id does not match.")
    shop_id, refresh_token = body.get("shop_id"), body.get("refresh_token")
    if not isinstance(shop_id, int) or not isinstance(refresh_token, str) or not refresh_token:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: shop_id and refresh_token.")
    shop = sandbox.shops.get(shop_id)
    if shop is None:  # refresh_access_token's list; invalid_shop_id is get_access_token's
        raise ShopeeApiError("shop_no_linked", "Partner and shop has no linked.")
    refreshed = sandbox.refresh(shop, refresh_token)
    if refreshed is None:
        raise ShopeeApiError("error_auth", "Invalid refresh_token.")
    return {
        "partner_id": sandbox.partner_id,
        "shop_id": shop.shop_id,
        "access_token": refreshed.access_token,
        "refresh_token": refreshed.refresh_token,
        "expire_in": refreshed.expires_at - sandbox.clock.now(),
    }


async def not_found(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """Any other ``/api/v2`` path."""
    raise ShopeeApiError("error_not_found", "Api not found.")


def api_routes() -> list[Route]:
    """The Shopee API routes."""
    return [
        Route("/api/v2/order/get_order_list", endpoint(get_order_list), methods=["GET"]),
        Route("/api/v2/order/get_order_detail", endpoint(get_order_detail), methods=["GET"]),
        Route("/api/v2/shop/get_shop_info", endpoint(get_shop_info), methods=["GET"]),
        Route("/api/v2/auth/access_token/get", endpoint(refresh_access_token), methods=["POST"]),
        Route("/api/v2/{rest:path}", endpoint(not_found), methods=["GET", "POST"]),
    ]
