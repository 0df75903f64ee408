"""Shopee Open API v2 client: signed calls, the answer's envelope, retries, typed results.

One long-lived ``httpx.AsyncClient`` per instance (close it with :meth:`ShopeeClient.aclose`
or ``async with``). Every call carries ``partner_id``, ``timestamp`` and ``sign`` in the
query, and shop calls ``access_token`` and ``shop_id`` too, signed with
:func:`handlers.shopee.signing.api_signature`. Answers are ``{"error", "message",
"request_id", ...}``; a non-empty ``error`` (or a failing HTTP status) becomes one of
:mod:`handlers.errors` (which one, :func:`handlers.shopee.errors.error_kind` says). HTTP 429,
5xx, Shopee's ``error_rate_limit``/``error_server`` and transport errors are retried with
exponential backoff and full jitter.

The access token and ``sign`` must travel in the query string, and httpx logs every
request URL at INFO: :class:`RedactSecrets` scrubs them from httpx's (and httpcore's) log
records. Paths, parameters and error names are recorded with their sources in
docs/platforms.md.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import httpx
import orjson

from handlers.errors import (
    AuthenticationFailed,
    MarketplaceError,
    MarketplaceUnavailable,
    RateLimited,
    RequestRejected,
)
from handlers.redact import SECRET_QUERY, RedactSecrets, protect_logs
from handlers.shopee.errors import BATCH_ALL_FAILED, RETRIED_RATE_LIMIT, error_kind
from handlers.shopee.order_answers import (
    OrderDetail,
    OrderListPage,
    PackageDetail,
    ShopRelation,
    TokenPair,
    _member,
    _order_detail,
    _shop_id_or_none,
    _status_or_none,
    _text,
    _unexpected,
)
from handlers.shopee.signing import api_signature

__all__ = [
    "OrderDetail",
    "OrderListPage",
    "PackageDetail",
    "RedactSecrets",
    "ShopRelation",
    "ShopeeClient",
    "TokenPair",
    "protect_logs",
]

PLATFORM = "shopee"
ORDER_LIST_PATH = "/api/v2/order/get_order_list"
ORDER_DETAIL_PATH = "/api/v2/order/get_order_detail"
SHOP_INFO_PATH = "/api/v2/shop/get_shop_info"
REFRESH_TOKEN_PATH = "/api/v2/auth/access_token/get"

MAX_WINDOW = 15 * 24 * 3600  # get_order_list: time_to - time_from, seconds
MAX_PAGE_SIZE = 100
DETAIL_CHUNK = 50  # get_order_detail: order_sn_list holds 1..50
TIME_RANGE_FIELDS = ("create_time", "update_time")
# Optional fields of get_order_detail come back only when asked for; ship_by_date,
# create_time, update_time and order_status are returned by default.
DETAIL_FIELDS = "package_list,shipping_carrier,pickup_done_time,cancel_by,cancel_reason,recipient_address"
MAX_BACKOFF = 30.0

log = logging.getLogger("orderwatch.shopee")


class ShopeeClient:
    """Calls the Shopee Open API v2 for one partner (app)."""

    def __init__(
        self,
        base_url: str,
        partner_id: int,
        partner_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        reveal = getattr(partner_key, "reveal", None)  # a settings Secret hides its str()
        self._key: str = reveal() if callable(reveal) else str(partner_key)
        self._partner_id = int(partner_id)
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._rng = random.Random()
        protect_logs()
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"ShopeeClient(base_url={str(self._http.base_url)!r}, partner_id={self._partner_id})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> ShopeeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def get_order_list(
        self,
        shop_id: str,
        access_token: str,
        *,
        time_from: int,
        time_to: int,
        cursor: str = "",
        page_size: int = 100,
        time_range_field: str = "update_time",
    ) -> OrderListPage:
        """One page of the shop's orders created or updated in ``[time_from, time_to]``."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if time_range_field not in TIME_RANGE_FIELDS:
            raise ValueError(f"time_range_field must be one of {', '.join(TIME_RANGE_FIELDS)}")
        if time_to <= time_from:
            raise ValueError("time_from must be earlier than time_to")
        if time_to - time_from > MAX_WINDOW:
            raise ValueError("Shopee answers at most 15 days per get_order_list call")
        params: dict[str, str | int] = dict(time_range_field=time_range_field, page_size=page_size)
        params["response_optional_fields"] = "order_status"  # to fetch details only where needed
        params.update(time_from=time_from, time_to=time_to)
        if cursor:
            params["cursor"] = cursor
        doc = await self.call("GET", ORDER_LIST_PATH, params=params, shop=(shop_id, access_token))
        response = _member(doc, "response", dict, "get_order_list")
        orders = _member(response, "order_list", list, "get_order_list")
        order_sns = [_text(entry, "order_sn", "get_order_list") for entry in orders]
        statuses = tuple(_status_or_none(entry) for entry in orders)
        more = bool(response.get("more"))
        next_cursor = str(response.get("next_cursor") or "") if more else ""
        return OrderListPage(order_sns, more, next_cursor, statuses)

    async def get_order_detail(
        self, shop_id: str, access_token: str, order_sns: Sequence[str]
    ) -> list[OrderDetail]:
        """The orders' details, asked for in chunks of at most 50 order numbers."""
        unique = list(dict.fromkeys(order_sns))
        for order_sn in unique:
            if not order_sn or "," in order_sn:
                raise ValueError(f"not an order number: {order_sn!r}")
        details: list[OrderDetail] = []
        for start in range(0, len(unique), DETAIL_CHUNK):
            params = {
                "order_sn_list": ",".join(unique[start : start + DETAIL_CHUNK]),
                "response_optional_fields": DETAIL_FIELDS,
            }
            doc = await self.call("GET", ORDER_DETAIL_PATH, params=params, shop=(shop_id, access_token))
            response = _member(doc, "response", dict, "get_order_detail")
            orders = _member(response, "order_list", list, "get_order_detail")
            details.extend(_order_detail(raw) for raw in orders)
        return details

    async def get_shop_relation(self, shop_id: str, access_token: str) -> ShopRelation:
        """Instant Mart relation from ``v2.shop.get_shop_info`` (its fields are top-level)."""
        doc = await self.call("GET", SHOP_INFO_PATH, shop=(shop_id, access_token))
        outlets = doc.get("outlet_shop_info_list") or []
        if not isinstance(outlets, list):
            raise _unexpected("get_shop_info", "outlet_shop_info_list is not a list")
        return ShopRelation(
            shop_id=str(shop_id),
            is_mart_shop=bool(doc.get("is_mart_shop")),
            is_outlet_shop=bool(doc.get("is_outlet_shop")),
            mart_shop_id=_shop_id_or_none(doc.get("mart_shop_id")),
            outlet_shop_ids=tuple(
                str(entry["outlet_shop_id"])
                for entry in outlets
                if isinstance(entry, dict) and _shop_id_or_none(entry.get("outlet_shop_id"))
            ),
        )

    async def refresh_access_token(self, shop_id: str, refresh_token: str) -> TokenPair:
        """Spend ``refresh_token`` for a new pair (a public call: no token in the signature)."""
        if not str(shop_id).isdigit():
            raise ValueError("shop_id must be a number")
        body = {"refresh_token": refresh_token, "partner_id": self._partner_id, "shop_id": int(shop_id)}
        doc = await self.call("POST", REFRESH_TOKEN_PATH, body=body, hidden=(refresh_token,))
        access = _text(doc, "access_token", "refresh_access_token")
        refresh = _text(doc, "refresh_token", "refresh_access_token")
        expire_in = doc.get("expire_in")
        if not isinstance(expire_in, int) or isinstance(expire_in, bool):
            raise _unexpected("refresh_access_token", "expire_in is not an integer")
        return TokenPair(access, refresh, expire_in)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        shop: tuple[str, str] | None = None,
        hidden: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        batch: bool = False,
    ) -> dict[str, Any]:
        """The answer's JSON object; retried while the failure is worth retrying.

        ``shop`` is ``(shop_id, access_token)`` for a shop call; ``hidden`` names further
        secrets to scrub from messages; ``headers`` are sent as they are. A ``batch`` call
        (one that answers ``response.result_list``) takes a top-level
        ``common.batch_api_all_failed`` as its answer: every entry failed, and each entry's
        ``fail_error`` says why (Shopee: "please check result_list for more details").
        """
        doc, _ = await self._exchange(
            method, path, params, body, shop, hidden, headers, file_ok=False, batch=batch
        )
        assert doc is not None
        return doc

    async def call_for_file(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        shop: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """A call whose success is a file (not JSON): its bytes; a JSON answer is an error."""
        doc, content = await self._exchange(method, path, params, body, shop, (), headers, file_ok=True)
        if doc is not None:
            raise _unexpected(path.rsplit("/", 1)[-1], "a JSON answer where a file was expected")
        return content

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        shop: tuple[str, str] | None,
        hidden: Sequence[str],
        headers: Mapping[str, str] | None,
        *,
        file_ok: bool,
        batch: bool = False,
    ) -> tuple[dict[str, Any] | None, bytes]:
        secrets = (self._key, *(shop[1:] if shop else ()), *hidden)
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._send(
                    method, path, params or {}, body, shop, secrets, headers, file_ok, batch
                )
            except MarketplaceError as exc:
                if attempt == self._attempts or not _retryable(exc):
                    raise
                delay = self._rng.uniform(0, min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1)))
                n = self._attempts
                log.warning("%s; attempt %d of %d, again in %.2fs", exc, attempt, n, delay)
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int],
        body: Mapping[str, Any] | None,
        shop: tuple[str, str] | None,
        secrets: Sequence[str],
        extra_headers: Mapping[str, str] | None = None,
        file_ok: bool = False,
        batch: bool = False,
    ) -> tuple[dict[str, Any] | None, bytes]:
        timestamp = int(self._clock())
        query: dict[str, str | int] = {"partner_id": self._partner_id, "timestamp": timestamp}
        if shop is None:
            query["sign"] = api_signature(self._key, self._partner_id, path, timestamp)
        else:
            shop_id, token = shop
            query.update(access_token=token, shop_id=shop_id)
            query["sign"] = api_signature(self._key, self._partner_id, path, timestamp, token, shop_id)
        query.update(params)
        name = path.rsplit("/", 1)[-1]
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        headers.update(extra_headers or {})
        try:
            answer = await self._http.request(method, path, params=query, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise MarketplaceUnavailable(PLATFORM, f"{name}: no answer within {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise MarketplaceUnavailable(PLATFORM, f"{name}: {type(exc).__name__}") from exc
        doc = _envelope(name, answer, (*secrets, str(query["sign"])), file_ok=file_ok, batch=batch)
        return doc, answer.content


def _envelope(
    name: str, answer: httpx.Response, secrets: Sequence[str], *, file_ok: bool = False, batch: bool = False
) -> dict[str, Any] | None:
    """The answer's JSON object, or None for a file answered where ``file_ok``; else raises.

    With ``batch``, a ``common.batch_api_all_failed`` that carries its ``result_list`` is
    the answer itself (the per-entry failures are the caller's to read)."""
    status = answer.status_code
    try:
        loaded = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        loaded = None
    doc: dict[str, Any] | None = loaded if isinstance(loaded, dict) else None
    if file_ok and doc is None and status == 200:
        if not answer.content:
            raise MarketplaceUnavailable(PLATFORM, f"{name}: an empty file", status=status)
        return None  # the file itself (a PDF, or HTML/ZIP for some channels)
    code = str((doc or {}).get("error") or "")
    if code == "-":  # some pages document "-" for no error (the lost-push calls among them)
        code = ""
    said = str((doc or {}).get("message") or (doc or {}).get("msg") or "")
    request_id = str((doc or {}).get("request_id") or "") or None
    base = code.rsplit(".", 1)[-1]
    if batch and base == BATCH_ALL_FAILED and status < 500 and _has_result_list(doc):
        return doc
    text = _scrub(f"{name}: {said or code or f'HTTP {status}'}", secrets)
    details: dict[str, Any] = {"code": code or None, "request_id": request_id, "status": status}
    kind = error_kind(code, said)
    if status == 429 or kind == "rate_limit":
        raise RateLimited(PLATFORM, text, **details)
    if kind == "auth":
        raise AuthenticationFailed(PLATFORM, text, **details)
    if kind == "unavailable" or status >= 500:
        raise MarketplaceUnavailable(PLATFORM, text, **details)
    if code:
        raise RequestRejected(PLATFORM, text, **details)
    if status in (401, 403):
        raise AuthenticationFailed(PLATFORM, text, **details)
    if status >= 400:
        raise RequestRejected(PLATFORM, text, **details)
    if doc is None:
        raise MarketplaceUnavailable(PLATFORM, f"{name}: the answer is not a JSON object", status=status)
    return doc


def _has_result_list(doc: Mapping[str, Any] | None) -> bool:
    response = (doc or {}).get("response")
    return isinstance(response, Mapping) and isinstance(response.get("result_list"), list)


def _retryable(exc: MarketplaceError) -> bool:
    if isinstance(exc, MarketplaceUnavailable):
        return True
    if isinstance(exc, RateLimited):
        return exc.status == 429 or (exc.code or "").rsplit(".", 1)[-1] in RETRIED_RATE_LIMIT
    return False


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return SECRET_QUERY.sub(r"\1[redacted]", text)
