"""Shopee pushes for the tests: bodies as Shopee sends them, signed independently of the code
under test, and a receiver served over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from starlette.applications import Starlette

from service.app import create_app
from service.db import Database
from service.inbox import pending_count
from service.marketplace import Marketplace
from service.models import Event as EventRow
from service.models import Push, Transition
from service.settings import Secret, Settings
from tests.live_server import serve

KEY = "shopee-partner-key-for-tests-0001"
OLD_KEY = "shopee-partner-key-for-tests-0000"
PATH = "/webhooks/shopee"
SENT = 1667963317
MIB = 1024 * 1024


def sign(key: str, url: str, body: bytes) -> str:
    """Shopee's push signature, computed here with hmac/hashlib alone."""
    return hmac.new(key.encode(), url.encode() + b"|" + body, hashlib.sha256).hexdigest()


def encode(document: object) -> bytes:
    """Compact JSON, as Shopee sends it."""
    return orjson.dumps(document)


def status_push(ordersn: str, status: str, update_time: int = SENT - 1, **outer: Any) -> bytes:
    """An order_status_push (code 3)."""
    body = {"data": {"ordersn": ordersn, "status": status, "update_time": update_time}}
    return encode({**body, "shop_id": 680000123, "code": 3, "timestamp": SENT, **outer})


def tracking_push(ordersn: str, package_number: str, tracking_no: str) -> bytes:
    """An order_trackingno_push (code 4), fields as verified in docs/platforms.md."""
    data = {
        "ordersn": ordersn,
        "forder_id": "5867907859180059055",
        "package_number": package_number,
        "tracking_no": tracking_no,
    }
    return encode(
        {"msg_id": "1ed4ce6347d5d962", "data": data, "shop_id": 680000123, "code": 4, "timestamp": SENT}
    )


def padded_push(size: int) -> bytes:
    """A push of a code orderwatch does not act on, padded to exactly ``size`` bytes."""
    head = b'{"code":99,"shop_id":680000123,"timestamp":1667963317,"data":{"pad":"'
    tail = b'"}}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    return body


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``body`` as a stream: sent chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@dataclass
class Receiver:
    """A running app with its own client; ``post`` signs unless told otherwise."""

    app: Starlette
    base: str
    client: httpx.Client
    db: Database

    @property
    def url(self) -> str:
        """The push URL as the app sees it (the request URL)."""
        return self.base + PATH

    def post(
        self,
        body: bytes | Iterable[bytes],
        *,
        key: str | None = KEY,
        url: str | None = None,
        signature: str | None = None,
        signed_body: bytes | None = None,
    ) -> httpx.Response:
        """POST a push signed with ``key`` over ``url`` (or with an explicit ``signature``)."""
        headers = {"Content-Type": "application/json"}
        if signature is None and key is not None:
            raw = signed_body if signed_body is not None else body
            assert isinstance(raw, bytes), "give signed_body for a streamed body"
            signature = sign(key, url or self.url, raw)
        if signature is not None:
            headers["Authorization"] = signature
        answer = self.client.post(PATH, content=body, headers=headers)
        if answer.status_code == 200:
            self.settle()
        return answer

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the app's applier has applied every stored push."""
        deadline = time.monotonic() + timeout
        while pending_count(self.db):
            assert time.monotonic() < deadline, "the stored pushes were not applied in time"
            time.sleep(0.002)

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as the status API shows it."""
        answer = self.client.get(f"/v1/orders/shopee/{order_id}")
        assert answer.status_code == 200, answer.text
        order: dict[str, Any] = answer.json()
        return order

    def counts(self) -> dict[str, int]:
        """Rows in the pushes table, the journal and the history."""
        with self.db.read() as conn:
            return {
                table.__tablename__: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in (Push, EventRow, Transition)
            }


def start_receiver(
    stack: ExitStack,
    db: Database,
    database_url: str,
    *,
    marketplaces: Sequence[Marketplace] | None = None,
    **settings: Any,
) -> Receiver:
    """Serve an app on ``db`` (partner key ``KEY`` unless ``settings`` say otherwise), with
    the installed marketplaces unless others are named."""
    settings.setdefault("shopee_partner_keys", (Secret(KEY),))
    app = create_app(Settings(database_url=database_url, **settings), db, marketplaces=marketplaces)
    base = stack.enter_context(serve(app))
    client = stack.enter_context(httpx.Client(base_url=base, timeout=30))
    return Receiver(app, base, client, db)
