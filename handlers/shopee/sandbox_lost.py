"""The sandbox's lost-push endpoints: ``v2.push.get_lost_push_message`` and
``v2.push.confirm_consumed_lost_push_message``.

Partner-level calls (signed with partner id, path and timestamp; no shop, no token). The
list holds the earliest 100 pushes lost within the last 3 days and not confirmed, each
with its ``data`` as a JSON *string*, as Shopee answers it (docs/platforms.md); confirming
up to ``last_message_id`` removes them.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route

from handlers.shopee.sandbox_api import ShopeeApiError, authenticate, endpoint
from handlers.shopee.sandbox_state import ShopeeSandbox

GET_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
KEPT_SECONDS = 3 * 24 * 3600
PAGE = 100


async def get_lost_push_message(request: Request, sandbox: ShopeeSandbox) -> dict[str, Any]:
    """The oldest unconfirmed lost pushes of the last 3 days."""
    authenticate(request, sandbox, shop_call=False)
    lost, more = sandbox.pushes.lost_page(since=sandbox.clock.now() - KEPT_SECONDS, limit=PAGE)
    messages = []
    for _, body in lost:
        push = orjson.loads(body)
        data = orjson.dumps(push["data"]).decode()
        message = {"code": push["code"], "timestamp": push["timestamp"], "data": data}
        if "shop_id" in push:
            message["shop_id"] = push["shop_id"]
        messages.append(message)
    last = lost[-1][0] if lost else 0
    return {"response": {"push_message_list": messages, "has_next_page": more, "last_message_id": last}}


async def confirm_consumed_lost_push_message(request: Request, sandbox: ShopeeSandbox) -> dict[str, Any]:
    """Forget the lost pushes up to ``last_message_id``."""
    authenticate(request, sandbox, shop_call=False)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: the body is not JSON.") from None
    last = body.get("last_message_id") if isinstance(body, dict) else None
    if not isinstance(last, int) or isinstance(last, bool) or last < 0:
        raise ShopeeApiError("error_param", "Wrong parameters, detail: last_message_id is required.")
    sandbox.pushes.confirm_lost(last)
    return {}


def lost_push_routes() -> list[Route]:
    """The lost-push routes (before the API's catch-all)."""
    return [
        Route(GET_PATH, endpoint(get_lost_push_message), methods=["GET"]),
        Route(CONFIRM_PATH, endpoint(confirm_consumed_lost_push_message), methods=["POST"]),
    ]
