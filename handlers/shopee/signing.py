"""Shopee push signatures: hex HMAC-SHA256, under the partner key, of ``<push url>|<raw body>``.

Verified over the raw bytes as received (never a re-serialisation), in constant time,
against every configured key so that a key can be rotated without refusing pushes.
The format is recorded with its sources in docs/platforms.md.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def push_base_string(url: str, body: bytes) -> bytes:
    """The bytes Shopee signs: the callback URL, ``|``, then the raw request body."""
    return url.encode("utf-8") + b"|" + body


def push_signature(key: str, url: str, body: bytes) -> str:
    """The lowercase hex signature Shopee sends in a push's ``Authorization`` header."""
    # hmac.digest: the one-shot C implementation, a fifth of hmac.new's cost per push.
    return hmac.digest(key.encode("utf-8"), push_base_string(url, body), "sha256").hex()


def verify_push(keys: Iterable[str], url: str, body: bytes, authorization: str | None) -> bool:
    """True when ``authorization`` is the signature of ``url|body`` under one of ``keys``."""
    offered = (authorization or "").strip().lower()
    if not offered or not offered.isascii():
        return False
    wanted = offered.encode("ascii")
    found = False
    for key in keys:  # compare with every key: the timing says nothing about which one matched
        if hmac.compare_digest(wanted, push_signature(key, url, body).encode("ascii")):
            found = True
    return found


def api_base_string(
    partner_id: int | str,
    path: str,
    timestamp: int,
    access_token: str | None = None,
    shop_id: int | str | None = None,
) -> bytes:
    """The bytes an Open API v2 call signs: partner id, API path and timestamp, then the
    access token and shop id for shop-level calls (public calls stop after the timestamp)."""
    text = f"{partner_id}{path}{timestamp}"
    if access_token is not None and shop_id is not None:
        text += f"{access_token}{shop_id}"
    return text.encode("utf-8")


def api_signature(
    key: str,
    partner_id: int | str,
    path: str,
    timestamp: int,
    access_token: str | None = None,
    shop_id: int | str | None = None,
) -> str:
    """The ``sign`` query parameter of an Open API v2 call: lowercase hex HMAC-SHA256."""
    message = api_base_string(partner_id, path, timestamp, access_token, shop_id)
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()
