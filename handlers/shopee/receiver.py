"""Shopee's pushes over HTTP: ``POST /webhooks/shopee``.

In order: read the raw body (at most 1 MiB: 413), verify the signature over those bytes
with the push partner key (``ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY``, else the API partner key;
401, nothing stored), decode it (400 unless a JSON object; 400 ``too_deep`` when nested deeper than
service/limits.py allows, or holding a NUL), parse it into events (400
when a push of a code we act on is malformed), then store the push and ingest its events
in one transaction (shared with the pushes that arrive at the same time: group commit,
service/pushes.py), and answer 200 with an empty body only after the
commit (503 when the database is down, so Shopee retries). Every rejection is logged
with its reason and the client's address, never a key or the signature, and counted in
``app.state.push_counts`` by (code, result).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from handlers.shopee.push import PLATFORM, MalformedPush, check_push
from handlers.shopee.signing import verify_push
from service import limits
from service.db import StorageUnavailable
from service.errors import ApiError
from service.pushes import PushCommitter, Received
from service.settings import Settings

log = logging.getLogger("orderwatch.webhooks")

PUSH_PATH = "/webhooks/shopee"
MAX_BODY = 1024 * 1024  # bytes; Shopee's pushes are a few hundred
UNKNOWN = "-"  # the code label of a push rejected before its code was read

PushCounts = Counter[tuple[str, str]]


def new_push_counts() -> PushCounts:
    """An empty counter of pushes by (code, result), for ``app.state.push_counts``."""
    return Counter()


class ShopeePush:
    """``POST /webhooks/shopee`` as a plain ASGI app: the hot path of the service, so it
    reads the scope and the body itself instead of building a Request and a Response.
    Errors are raised as :class:`ApiError` and answered by the app's error handlers, or
    by :meth:`answer` when the app hands the push over before its router (service/app.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        settings: Settings = state.settings
        authorization, declared = _headers(scope)
        try:
            body = await _read_body(scope, receive, declared)
        except ClientDisconnect:
            _count(scope, UNKNOWN, "client_disconnect")
            log.info("shopee push abandoned: the client %s went away mid-body", _client(scope))
            await _answer(send, 400)
            return
        # The Live Push Partner Key(s) when set, else the API partner key(s).
        keys = [key.reveal() for key in settings.shopee_push_keys]
        if not keys:
            _explain_missing_keys(scope)
            raise _reject(scope, 401, "invalid_signature", "no push partner key is configured")
        url = settings.shopee_push_url or str(Request(scope).url)
        if not authorization:
            raise _reject(scope, 401, "invalid_signature", "the Authorization header is missing")
        if not verify_push(keys, url, body, authorization):
            raise _reject(
                scope, 401, "invalid_signature", f"the signature does not match for push URL {_plain(url)}"
            )
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if limits.unreadably_deep(exc):
                raise _reject(scope, 400, limits.TOO_DEEP, limits.depth_message("the push")) from None
            raise _reject(scope, 400, "malformed_json", f"the body is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _reject(scope, 400, "not_an_object", f"the body is a JSON {_kind(document)}, not an object")
        found = limits.problem(body, document)
        if found == limits.TOO_DEEP:
            # Before it is stored: what the applier could not write back is never acknowledged.
            raise _reject(scope, 400, limits.TOO_DEEP, limits.depth_message("the push"))
        if found == limits.NUL:
            # PostgreSQL's JSON cannot hold NUL characters; no real push has them.
            raise _reject(scope, 400, "malformed_json", "the body holds a NUL character (\\u0000)")
        try:
            # Checked as the applier will parse it, but no events are built here: the
            # applier builds them from the stored body.
            push = check_push(document)
        except MalformedPush as exc:
            raise _reject(scope, 400, "malformed_push", str(exc), code=document.get("code")) from None
        committer: PushCommitter = state.push_committer
        started = state.db.outage.now()
        try:
            stored = await committer.submit(Received(PLATFORM, push, body, document))
        except StorageUnavailable:
            _count(scope, push.code, "storage_unavailable")  # each one counted; logged once an outage
            raise
        state.db.outage.served(started)
        state.push_counts[(str(push.code), "stored" if stored else "duplicate")] += 1
        await _answer(send, 200)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a push with no framework around it: the errors become their JSON answers here."""
        try:
            await self(scope, receive, send)
        except ApiError as exc:
            await _answer_error(send, exc.status, exc.code, exc.message)
        except StorageUnavailable as exc:
            scope["app"].state.db.outage.refused(exc)
            await _answer_error(send, 503, "storage_unavailable", "the database is unavailable; retry later")
        except Exception as exc:
            log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
            await _answer_error(send, 500, "internal_error", "internal error")


shopee_push = ShopeePush()

_EMPTY_BODY: Message = {"type": "http.response.body", "body": b""}


async def _answer(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send(_EMPTY_BODY)


async def _answer_error(send: Send, status: int, code: str, message: str) -> None:
    # As service.errors.error_response renders it.
    body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> tuple[str | None, bytes | None]:
    authorization = declared = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            declared = value
    return authorization, declared


async def _read_body(scope: Scope, receive: Receive, declared: bytes | None) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large(scope, f"Content-Length {declared.decode()} is over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    # Count while reading too: a chunked body has no Content-Length, and one may lie.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large(scope, f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(scope: Scope, reason: str) -> ApiError:
    return _reject(scope, 413, "payload_too_large", reason, message=f"a push is at most {MAX_BODY} bytes")


def _reject(
    scope: Scope,
    status: int,
    error: str,
    reason: str,
    *,
    code: object = None,
    message: str | None = None,
) -> ApiError:
    label = str(code) if isinstance(code, int) and not isinstance(code, bool) else UNKNOWN
    _count(scope, label, error)
    log.warning("shopee push rejected (%d %s): %s; from %s", status, error, reason, _client(scope))
    return ApiError(status, error, message or reason)


def _count(scope: Scope, code: object, result: str) -> None:
    counts: PushCounts = scope["app"].state.push_counts
    counts[(str(code), result)] += 1


def _explain_missing_keys(scope: Scope) -> None:
    state = scope["app"].state
    if not getattr(state, "shopee_keys_explained", False):
        state.shopee_keys_explained = True
        log.error(
            "neither ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY nor ORDERWATCH_SHOPEE_PARTNER_KEY is set: "
            "every Shopee push is refused with 401 until the push partner key is configured"
        )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _plain(url: str) -> str:
    # The URL without its query string, which could carry a token.
    return url.split("?", 1)[0]


def _kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
