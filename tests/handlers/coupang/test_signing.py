"""Coupang CEA signatures: a worked example computed independently, and verification."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from handlers.coupang.signing import authorization, parse_authorization, signature, signed_date, verify

ACCESS = "a1b2c3d4-0000-4a4a-9b9b-0123456789ab"
SECRET = "0123456789abcdef0123456789abcdef01234567"
PATH = "/v2/providers/openapi/apis/api/v4/vendors/A00012345/ordersheets"
QUERY = "createdAtFrom=2026-11-25&createdAtTo=2026-11-25&status=ACCEPT&maxPerPage=50"
AT = datetime(2026, 11, 25, 14, 3, 9, tzinfo=UTC)


def test_signature_matches_a_worked_example_computed_with_plain_hmac() -> None:
    message = "261125T140309Z" + "GET" + PATH + QUERY
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    header = authorization(ACCESS, SECRET, "GET", PATH, QUERY, now=AT)
    assert header == (
        f"CEA algorithm=HmacSHA256, access-key={ACCESS}, signed-date=261125T140309Z, signature={expected}"
    )


def test_signed_date_is_utc_whatever_the_zone_of_the_moment() -> None:
    kst = AT.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul"))
    assert signed_date(kst) == "261125T140309Z"


def test_a_call_without_query_signs_date_method_and_path_only() -> None:
    message = "261125T140309ZPOST/v2/providers/seller_api/apis/api/v1/marketplace/seller-products"
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    sig = signature(
        SECRET, "261125T140309Z", "post", "/v2/providers/seller_api/apis/api/v1/marketplace/seller-products"
    )
    assert sig == expected


def test_verify_accepts_the_header_and_refuses_changes_to_any_signed_part() -> None:
    header = authorization(ACCESS, SECRET, "GET", PATH, QUERY, now=AT)
    assert verify(header, ACCESS, SECRET, "GET", PATH, QUERY, now=AT) is None
    assert verify(header, ACCESS, SECRET, "PUT", PATH, QUERY, now=AT) == "Invalid signature"
    assert verify(header, ACCESS, SECRET, "GET", PATH, QUERY + "&x=1", now=AT) == "Invalid signature"
    assert verify(header, ACCESS, "other-secret", "GET", PATH, QUERY, now=AT) == "Invalid signature"
    assert verify(header, "other-key", SECRET, "GET", PATH, QUERY, now=AT) == "Invalid access key"
    late = AT + timedelta(minutes=10)
    assert verify(header, ACCESS, SECRET, "GET", PATH, QUERY, now=late) == "Specified signature is expired"
    assert verify(None, ACCESS, SECRET, "GET", PATH, QUERY, now=AT) is not None
    assert verify("Bearer x", ACCESS, SECRET, "GET", PATH, QUERY, now=AT) is not None


def test_parse_reads_the_four_parts() -> None:
    parts = parse_authorization(authorization(ACCESS, SECRET, "GET", PATH, "", now=AT))
    assert parts is not None
    assert (parts.algorithm, parts.access_key, parts.signed_date) == ("HmacSHA256", ACCESS, "261125T140309Z")
    assert parts.signed_at() == AT
