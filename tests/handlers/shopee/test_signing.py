"""Shopee push signatures: hex HMAC-SHA256 of ``<push url>|<raw body>`` under a partner key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from handlers.shopee.signing import push_base_string, push_signature, verify_push

KEY = "shopee-partner-key-for-tests"
URL = "https://orderwatch.example.com/webhooks/shopee"
BODY = (
    b'{"data":{"ordersn":"2211095TV1XRKN","status":"READY_TO_SHIP","update_time":1667963316},'
    b'"shop_id":680000123,"code":3,"timestamp":1667963317}'
)
# Computed outside Python: printf '%s' "$URL|$BODY" | openssl dgst -sha256 -hmac "$KEY"
WORKED_EXAMPLE = "f2087e90c8cb9dd6a1a6f3e1a0446333d23ec0fed16616ba540a35ce5b8bef5c"


def test_the_signature_is_hex_hmac_sha256_of_url_pipe_body() -> None:
    expected = hmac.new(KEY.encode(), URL.encode() + b"|" + BODY, hashlib.sha256).hexdigest()
    assert push_base_string(URL, BODY) == URL.encode() + b"|" + BODY
    assert push_signature(KEY, URL, BODY) == expected == WORKED_EXAMPLE


def test_a_matching_signature_verifies_in_any_case_and_with_surrounding_space() -> None:
    assert verify_push([KEY], URL, BODY, WORKED_EXAMPLE)
    assert verify_push([KEY], URL, BODY, f" {WORKED_EXAMPLE.upper()}\t")


def test_any_configured_key_verifies_so_keys_can_rotate() -> None:
    old, new = "old-partner-key", "new-partner-key"
    assert verify_push([new, old], URL, BODY, push_signature(old, URL, BODY))
    assert verify_push([new, old], URL, BODY, push_signature(new, URL, BODY))
    assert not verify_push([new], URL, BODY, push_signature(old, URL, BODY))


@pytest.mark.parametrize(
    ("url", "body", "header"),
    [
        (URL, BODY, None),
        (URL, BODY, ""),
        (URL, BODY, WORKED_EXAMPLE[:-1]),
        (URL, BODY + b" ", WORKED_EXAMPLE),  # the raw bytes are signed, not the JSON's meaning
        (URL + "/", BODY, WORKED_EXAMPLE),  # another URL
        ("http://127.0.0.1:8000/webhooks/shopee", BODY, WORKED_EXAMPLE),  # the URL behind a proxy
        (URL, BODY, "é" * 64),  # not ASCII: refused, not an error
        (URL, BODY, hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()),  # body alone
    ],
)
def test_anything_else_does_not_verify(url: str, body: bytes, header: str | None) -> None:
    assert not verify_push([KEY], url, body, header)


def test_no_keys_verify_nothing() -> None:
    assert not verify_push([], URL, BODY, WORKED_EXAMPLE)
