"""Shopee push signatures: hex HMAC-SHA256, under the partner key, of ``<push url>|<raw body>``.

Verified over the raw bytes as received (never a re-serialisation), in constant time,
against every configured key so that a key can be rotated without refusing pushes.
The format is recorded with its sources in docs/platforms.md.
"""

from __future__ import annotations

import hashlib
import hmac

from handlers import signatures

# A push is signed as ``<url>|<body>``, the form the Coupang report takes too: the one
# implementation is in handlers/signatures.py. Aliases, not wrappers: no extra call per push.
push_base_string = signatures.base_string
push_signature = signatures.sign
verify_push = signatures.verify


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
