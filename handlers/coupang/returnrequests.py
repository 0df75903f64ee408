"""The return and cancel request list of the Coupang Open API (반품/취소 요청 목록 조회), on
:class:`CoupangClient`, at the client's ``returns_version``: v4 by default, whose answer is
published (the portal's notice of 2025-06-26 keeps the old paths, their answers unchanged), or
v6, which the current portal lists (times with an offset and microseconds, money as
``{currencyCode, units, nanos}``) but whose answer no published sample shows: an unverified
opt-in.

``GET …/vendors/{vendorId}/returnRequests`` over one Korean day of the requests' creation
(``createdAtFrom``/``createdAtTo`` as ``yyyy-mm-dd``), ``maxPerPage``, ``nextToken``; either
``cancelType=CANCEL`` (orders cancelled at payment; Coupang allows no ``status`` with it) or a
``status`` of RU, UC, PR, CC (``cancelType`` left to its default, RETURN). Signed like every
call of the client. Paths and fields are recorded with their sources in docs/platforms.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.coupang.client import PLATFORM, CoupangClient
from handlers.coupang.ordersheets import MAX_PER_PAGE, VERSIONED
from handlers.coupang.returns import KINDS
from handlers.errors import MarketplaceUnavailable


@dataclass(frozen=True)
class ReceiptPage:
    """One page of requests and the token of the next ("" on the last page)."""

    receipts: list[dict[str, Any]]
    next_token: str


def _receipts(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = doc.get("data")
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise MarketplaceUnavailable(
            PLATFORM, "returnRequests: unexpected answer (data is not a list of requests)"
        )
    return data


class ReturnRequests:
    """Return and cancel request calls for the client's vendor."""

    def __init__(self, client: CoupangClient) -> None:
        self.client = client
        self.version = client.returns_version
        self.path = f"{VERSIONED.format(version=self.version, vendor=client.vendor_id)}/returnRequests"

    async def list_page(self, kind: str, day: date, next_token: str = "", per_page: int = 50) -> ReceiptPage:
        """One page of the requests of ``kind`` (CANCEL, RU, UC, PR or CC) made on ``day``
        (Korean time)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        query: dict[str, str | int | None] = {
            "createdAtFrom": day.isoformat(),
            "createdAtTo": day.isoformat(),
            "cancelType": "CANCEL" if kind == "CANCEL" else None,
            "status": None if kind == "CANCEL" else kind,
            "maxPerPage": per_page,
            "nextToken": next_token or None,
        }
        doc = await self.client.request("GET", self.path, query=query)
        return ReceiptPage(_receipts(doc), str(doc.get("nextToken") or ""))
