"""Coupang Open API request signatures (CEA HMAC-SHA256).

Every call carries ``Authorization: CEA algorithm=HmacSHA256, access-key=<key>,
signed-date=<yyMMdd'T'HHmmss'Z', UTC>, signature=<hex>``, where the signature is the
lowercase hex HMAC-SHA256, under the secret key's UTF-8 bytes, of ``signed-date + METHOD +
path + query`` — the query exactly as sent, without the ``?`` (empty when there is none).
The body is not signed. Sources are recorded in docs/platforms.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ALGORITHM = "HmacSHA256"
DATE_FORMAT = "%y%m%dT%H%M%SZ"

_HEADER = re.compile(
    r"^CEA\s+algorithm=(?P<algorithm>[^,\s]+)\s*,\s*access-key=(?P<access_key>[^,\s]+)\s*,"
    r"\s*signed-date=(?P<signed_date>\d{6}T\d{6}Z)\s*,\s*signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


def signed_date(moment: datetime) -> str:
    """``moment`` in Coupang's signed-date form, ``yyMMdd'T'HHmmss'Z'`` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("signed_date needs an aware datetime")
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def base_string(date: str, method: str, path: str, query: str = "") -> bytes:
    """The bytes Coupang signs: signed-date, method, path and query (without ``?``)."""
    return f"{date}{method.upper()}{path}{query.removeprefix('?')}".encode()


def signature(secret_key: str, date: str, method: str, path: str, query: str = "") -> str:
    """The lowercase hex HMAC-SHA256 of the base string under ``secret_key``."""
    message = base_string(date, method, path, query)
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def authorization(
    access_key: str, secret_key: str, method: str, path: str, query: str = "", *, now: datetime
) -> str:
    """The ``Authorization`` header value for one call made at ``now``."""
    date = signed_date(now)
    sig = signature(secret_key, date, method, path, query)
    return f"CEA algorithm={ALGORITHM}, access-key={access_key}, signed-date={date}, signature={sig}"


@dataclass(frozen=True)
class SignedHeader:
    """The parts of a CEA ``Authorization`` header."""

    algorithm: str
    access_key: str
    signed_date: str
    signature: str

    def signed_at(self) -> datetime:
        """The signed-date as an aware UTC datetime."""
        return datetime.strptime(self.signed_date, DATE_FORMAT).replace(tzinfo=UTC)


def parse_authorization(header: str | None) -> SignedHeader | None:
    """The header's parts, or None when it is not a CEA header."""
    match = _HEADER.match((header or "").strip())
    if match is None:
        return None
    return SignedHeader(**match.groupdict())


def verify(
    header: str | None,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    query: str,
    *,
    now: datetime,
    skew: timedelta = timedelta(minutes=5),
) -> str | None:
    """None when ``header`` signs this request; else why not (for the sandbox's 401)."""
    parts = parse_authorization(header)
    if parts is None:
        return "Invalid authorization header: expected CEA algorithm=..., access-key=..., ..."
    if parts.algorithm != ALGORITHM:
        return f"Unsupported algorithm {parts.algorithm}"
    if not hmac.compare_digest(parts.access_key.encode(), access_key.encode()):
        return "Invalid access key"
    try:
        when = parts.signed_at()
    except ValueError:
        return "Invalid signed-date"
    if abs(now - when) > skew:
        return "Specified signature is expired"
    expected = signature(secret_key, parts.signed_date, method, path, query)
    if not hmac.compare_digest(parts.signature.lower().encode(), expected.encode()):
        return "Invalid signature"
    return None
