"""The Coupang client over real HTTP: the signed query is the query sent, the envelope's
errors map onto handlers.errors, and 429/5xx are retried."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handlers.coupang.client import CoupangClient
from handlers.errors import AuthenticationFailed, MarketplaceUnavailable, RateLimited, RequestRejected
from tests.live_server import serve

ACCESS = "access-key-for-tests"
SECRET = "secret-key-for-tests-0001"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Stub:
    """Answers queued replies; records what it saw and whether each signature held."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        fields = dict(part.strip().split("=", 1) for part in header.removeprefix("CEA ").split(","))
        query = request.scope["query_string"].decode()
        message = fields["signed-date"] + request.method + request.url.path + query
        good = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
        self.seen.append({"query": query, "valid": fields["signature"] == good, "body": await request.body()})
        status, doc = (
            self.replies.pop(0) if self.replies else (200, {"code": 200, "message": "OK", "data": []})
        )
        return JSONResponse(doc, status_code=status)


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()
    app = Starlette(routes=[Route("/{path:path}", state.handle, methods=["GET", "POST", "PUT"])])
    with serve(app) as base:
        yield state, base


def client(base: str) -> CoupangClient:
    return CoupangClient(base, ACCESS, SECRET, vendor_id="A00012345", backoff=0.001, timeout=2.0)


async def test_the_signature_covers_the_query_exactly_as_sent(stub: tuple[Stub, str]) -> None:
    state, base = stub
    async with client(base) as api:
        doc = await api.request(
            "GET",
            "/v2/x/ordersheets",
            query={"createdAtFrom": "2026-11-25T09:00", "status": "ACCEPT", "n": None},
        )
        await api.request("PUT", "/v2/x/acknowledgement", json={"shipmentBoxIds": [1, 2]})
    assert doc["data"] == []
    assert state.seen[0]["valid"] and state.seen[1]["valid"]
    assert state.seen[0]["query"] == "createdAtFrom=2026-11-25T09%3A00&status=ACCEPT"
    assert state.seen[1]["body"] == b'{"shipmentBoxIds":[1,2]}'


async def test_server_errors_and_rate_limits_are_retried_then_succeed(stub: tuple[Stub, str]) -> None:
    state, base = stub
    state.replies = [(500, {"code": 500, "message": "boom"}), (429, {"code": 429, "message": "slow"})]
    async with client(base) as api:
        doc = await api.request("GET", "/v2/x")
    assert doc["code"] == 200 and len(state.seen) == 3


async def test_one_attempt_only_when_retry_is_off(stub: tuple[Stub, str]) -> None:
    state, base = stub
    state.replies = [(503, {"code": 503, "message": "down"})]
    async with client(base) as api:
        with pytest.raises(MarketplaceUnavailable):
            await api.request("GET", "/v2/x", retry=False)
    assert len(state.seen) == 1


@pytest.mark.parametrize(
    ("status", "doc", "error"),
    [
        (401, {"code": 401, "message": "Invalid signature"}, AuthenticationFailed),
        (400, {"code": 400, "message": "createdAtFrom is invalid"}, RequestRejected),
        (200, {"code": "ERROR", "message": "shipmentBoxId not found"}, RequestRejected),
        (429, {"code": 429, "message": "too many"}, RateLimited),
        (502, "<html>bad gateway</html>", MarketplaceUnavailable),
    ],
)
async def test_errors_map_onto_the_exception_tree(
    stub: tuple[Stub, str], status: int, doc: Any, error: type[Exception]
) -> None:
    state, base = stub
    state.replies = [(status, doc)] * 4
    async with CoupangClient(base, ACCESS, SECRET, attempts=1) as api:
        with pytest.raises(error) as caught:
            await api.request("GET", "/v2/x")
    assert SECRET not in str(caught.value)
