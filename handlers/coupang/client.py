"""Coupang Open API client: signed calls, the answer's envelope, retries.

One long-lived ``httpx.AsyncClient`` per instance (close it with :meth:`CoupangClient.aclose`
or ``async with``); ``transport=`` swaps the transport in tests. Every call is signed with
:func:`handlers.coupang.signing.authorization` over the query string exactly as sent.
Answers are ``{"code", "message", "data", ...}``; an HTTP error status, or a ``code`` that
is neither 200 nor ``SUCCESS``, becomes one of :mod:`handlers.errors`. HTTP 429, 5xx and
transport errors are retried with exponential backoff and full jitter. The signature
travels in a header, never in the URL, so request logs carry no secret.

Every call also carries ``X-Requested-By: <vendorId>``, as Coupang's own Java samples do (the
portal's "Timeout errors occur" page, tests/conformance/samples/coupang/portal.timeout-errors.json);
whether the gateway requires it is not documented. The client also says which versions of the
order sheet and return request paths to speak (``ordersheets_version``, ``returns_version``).
By default only what a published success sample backs: the day list and one box's sheet at v5,
an order's sheets by orderId and the return request list at v4 (the portal's notice of 2025-06-26:
the old paths stay valid, their answers unchanged). The v5 read by orderId and the v6 return list
are opt-in and unverified (:data:`UNVERIFIED`): no published answer of theirs was found.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
import orjson

from handlers.coupang.signing import authorization
from handlers.errors import (
    AuthenticationFailed,
    MarketplaceError,
    MarketplaceUnavailable,
    RateLimited,
    RequestRejected,
)

PLATFORM = "coupang"
API_BASE = "https://api-gateway.coupang.com"
MAX_BACKOFF = 30.0
OK_CODES = frozenset({"200", "SUCCESS", "OK"})
# ``ordersheets_version`` -> the versions of (the day list and one box's sheet, an order's sheets by
# orderId). The default, "v5", reads an order's sheets at v4; "v5-all" reads them at v5 too.
ORDERSHEETS_VERSIONS: dict[str, tuple[str, str]] = {
    "v5": ("v5", "v4"),
    "v4": ("v4", "v4"),
    "v5-all": ("v5", "v5"),
}
RETURNS_VERSIONS = ("v4", "v6")  # v4 the default
# The opt-in versions whose calls no published success sample backs (tests/conformance/samples/coupang),
# with the call: never a default. tests/conformance/test_corpus_coverage.py holds every version to this.
OPENAPI = "/v2/providers/openapi/apis/api"
UNVERIFIED: dict[tuple[str, str], tuple[str, str]] = {
    ("ordersheets_version", "v5-all"): ("GET", OPENAPI + "/v5/vendors/{vendorId}/{orderId}/ordersheets"),
    ("returns_version", "v6"): ("GET", OPENAPI + "/v6/vendors/{vendorId}/returnRequests"),
}

log = logging.getLogger("orderwatch.coupang")

QueryValue = str | int | Sequence[str | int]


def _reveal(value: object) -> str:
    reveal = getattr(value, "reveal", None)  # a settings Secret hides its str()
    return str(reveal()) if callable(reveal) else str(value)


def encode_query(query: Mapping[str, QueryValue | None] | None) -> str:
    """The query string as sent and signed: ``key=value`` pairs in the given order,
    percent-encoded (spaces as ``%20``), lists as repeated keys, None values left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        if isinstance(value, str | int):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, str(item)) for item in value)
    return urlencode(pairs, quote_via=quote)


class CoupangClient:
    """Calls the Coupang Open API for one vendor's access key."""

    def __init__(
        self,
        base_url: str,
        access_key: str,
        secret_key: object,
        *,
        vendor_id: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ordersheets_version: str = "v5",
        returns_version: str = "v4",
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if ordersheets_version not in ORDERSHEETS_VERSIONS:
            raise ValueError(f"ordersheets_version must be one of {', '.join(ORDERSHEETS_VERSIONS)}")
        if returns_version not in RETURNS_VERSIONS:
            raise ValueError(f"returns_version must be one of {', '.join(RETURNS_VERSIONS)}")
        self.vendor_id = vendor_id
        self.ordersheets_version = ordersheets_version
        self.returns_version = returns_version
        self._access_key = _reveal(access_key)
        self._secret = _reveal(secret_key)
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._rng = random.Random()
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"CoupangClient(base_url={str(self._http.base_url)!r}, vendor_id={self.vendor_id!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> CoupangClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, QueryValue | None] | None = None,
        json: Any = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        """The answer's JSON object; retried while the failure is worth retrying.

        ``retry=False`` makes one attempt (for a caller that checks state before trying
        again, so that a lost answer is not applied twice).
        """
        attempts = self._attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._send(method.upper(), path, encode_query(query), json)
            except (MarketplaceUnavailable, RateLimited) as exc:
                if attempt == attempts:
                    raise
                delay = self._rng.uniform(0, min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1)))
                log.warning("%s; attempt %d of %d, again in %.2fs", exc, attempt, attempts, delay)
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, path: str, query: str, body: Any) -> dict[str, Any]:
        name = f"{method} {path}"
        header = authorization(self._access_key, self._secret, method, path, query, now=self._clock())
        headers = {"Authorization": header}
        if self.vendor_id:
            headers["X-Requested-By"] = self.vendor_id
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = "application/json;charset=UTF-8"
        url = f"{path}?{query}" if query else path
        try:
            answer = await self._http.request(method, url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise MarketplaceUnavailable(PLATFORM, f"{name}: no answer within {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise MarketplaceUnavailable(PLATFORM, f"{name}: {type(exc).__name__}") from exc
        return envelope(name, answer, (self._secret, self._access_key))


def envelope(name: str, answer: httpx.Response, secrets: Sequence[str] = ()) -> dict[str, Any]:
    """The answer's JSON object when it is a success; else the matching error."""
    status = answer.status_code
    try:
        loaded = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        loaded = None
    doc: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    code = str(doc.get("code") if doc.get("code") is not None else "").strip()
    said = str(doc.get("message") or doc.get("errorMessage") or "")
    request_id = str(doc.get("transactionId") or doc.get("requestId") or "") or None
    text = _scrub(f"{name}: {said or code or f'HTTP {status}'}", secrets)
    details: dict[str, Any] = {"code": code or None, "request_id": request_id, "status": status}
    numeric = int(code) if code.isdigit() else None
    if status == 429 or numeric == 429:
        raise RateLimited(PLATFORM, text, **details)
    if status in (401, 403) or numeric in (401, 403):
        raise AuthenticationFailed(PLATFORM, text, **details)
    if status >= 500 or (numeric is not None and numeric >= 500):
        raise MarketplaceUnavailable(PLATFORM, text, **details)
    if status >= 400 or (code and code.upper() not in OK_CODES):
        raise RequestRejected(PLATFORM, text, **details)
    if loaded is None or not isinstance(loaded, dict):
        raise MarketplaceUnavailable(PLATFORM, f"{name}: the answer is not a JSON object", status=status)
    return doc


def retryable(exc: MarketplaceError) -> bool:
    """Whether trying the same call again later may succeed."""
    return isinstance(exc, MarketplaceUnavailable | RateLimited)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
