"""Shopee's lost pushes: ``v2.push.get_lost_push_message`` and
``v2.push.confirm_consumed_lost_push_message``.

Shopee keeps, for 3 days, the pushes it could not deliver; the earliest 100 that are not
confirmed come back per call, each with its ``data`` as a JSON *string* (docs/platforms.md).
Both are partner-level calls: signed with partner id, path and timestamp, no shop. A page
is turned back into push documents as the push URL would have received them, so the
receiver's checks, storage and applier take them as they take any push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from handlers.shopee.order_answers import _member, _unexpected

GET_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"


class Caller(Protocol):
    """:meth:`handlers.shopee.client.ShopeeClient.call`, which these calls go through."""

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LostPushPage:
    """One page of lost pushes: the push documents, what could not be read, and the cursor."""

    pushes: list[dict[str, Any]]
    unreadable: int
    has_next_page: bool
    last_message_id: int


async def get_lost_pushes(client: Caller) -> LostPushPage:
    """The earliest unconfirmed lost pushes, as push documents."""
    doc = await client.call("GET", GET_PATH)
    response = _member(doc, "response", dict, "get_lost_push_message")
    messages = response.get("push_message_list") or []
    if not isinstance(messages, list):
        raise _unexpected("get_lost_push_message", "push_message_list is not a list")
    last = response.get("last_message_id") or 0
    if not isinstance(last, int) or isinstance(last, bool):
        raise _unexpected("get_lost_push_message", "last_message_id is not an integer")
    pushes: list[dict[str, Any]] = []
    unreadable = 0
    for message in messages:
        push = _push_document(message)
        if push is None:
            unreadable += 1
        else:
            pushes.append(push)
    return LostPushPage(pushes, unreadable, bool(response.get("has_next_page")), last)


async def confirm_lost_pushes(client: Caller, last_message_id: int) -> None:
    """Tell Shopee the lost pushes up to ``last_message_id`` are consumed."""
    await client.call("POST", CONFIRM_PATH, body={"last_message_id": last_message_id})


def _push_document(message: object) -> dict[str, Any] | None:
    # {"shop_id"?, "code", "timestamp", "data": "<JSON>"} -> the push as it would have come.
    if not isinstance(message, dict):
        return None
    data = message.get("data")
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(data, dict):
        return None
    push: dict[str, Any] = {"data": data}
    if "shop_id" in message:
        push["shop_id"] = message["shop_id"]
    push["code"] = message.get("code")
    push["timestamp"] = message.get("timestamp")
    return push
