"""The sandbox's lost-push endpoints: ``v2.push.get_lost_push_message`` and
``v2.push.confirm_consumed_lost_push_message``, in the shape of Shopee's published samples
(tests/conformance/samples/shopee/v2.push.*.json).

Partner-level calls (signed with partner id, path and timestamp; no shop, no token). The
list holds the earliest 100 pushes lost within the last 3 days and not confirmed, each as
``{shop_id?, code, timestamp, data}`` where ``data`` is the whole push envelope, as a JSON
string, exactly as it would have been posted; confirming up to ``last_message_id`` removes
them. Success answers carry ``"error": "-"``, ``"message": "-"`` and ``"warning": "-"``, as
the samples do.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route

from handlers.shopee.sandbox.api import ShopeeApiError, authenticate, endpoint
from handlers.shopee.sandbox.state import ShopeeWorld

GET_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
KEPT_SECONDS = 3 * 24 * 3600
PAGE = 100
NO_ERROR = {"error": "-", "message": "-", "warning": "-"}  # as the published samples answer success


async def get_lost_push_message(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
    """The oldest unconfirmed lost pushes of the last 3 days."""
    authenticate(request, sandbox, shop_call=False)
    lost, more = sandbox.pushes.lost_page(since=sandbox.clock.now() - KEPT_SECONDS, limit=PAGE)
    messages = []
    for _, body in lost:
        push = orjson.loads(body)
        message: dict[str, Any] = {"shop_id": push["shop_id"]} if "shop_id" in push else {}
        # Invented: the message's timestamp is the push's own; the reference says it is when
        # the message was lost, and its sample shows the two equal.
        message.update(code=push["code"], timestamp=push["timestamp"], data=body.decode())
        messages.append(message)
    # Invented: what last_message_id is when nothing is lost (the reference shows a full page).
    last = lost[-1][0] if lost else 0
    page = {"push_message_list": messages, "has_next_page": more, "last_message_id": last}
    return {**NO_ERROR, "response": page}


async def confirm_consumed_lost_push_message(request: Request, sandbox: ShopeeWorld) -> dict[str, Any]:
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
    return dict(NO_ERROR)


def lost_push_routes() -> list[Route]:
    """The lost-push routes (before the API's catch-all)."""
    return [
        Route(GET_PATH, endpoint(get_lost_push_message), methods=["GET"]),
        Route(CONFIRM_PATH, endpoint(confirm_consumed_lost_push_message), methods=["POST"]),
    ]
