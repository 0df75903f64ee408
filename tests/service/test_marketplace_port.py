"""The marketplace port (service/marketplace.py): the service runs with no marketplace at all,
and with a fake one registered through the port alone (its route, poller, job and push
parser used, on the one client it opened); the installed marketplaces each open one client
per process, shared by their routes, jobs and pollers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.coupang.client import CoupangClient
from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.sandbox import create_sandbox
from handlers.coupang.sandbox.products import attach, product_routes
from handlers.shopee.client import ShopeeClient
from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.marketplace import Clients, Marketplace, Poller
from service.models import OutboxJob, Push
from service.outbox import Context, Job
from service.pushes import Received, store_pushes
from service.settings import Secret, Settings
from tests.handlers.coupang.product_bodies import valid_body
from tests.live_server import serve
from tests.service.test_outbox import add_jobs

FAKE = "fakemart"
OPERATOR = "operator-token-for-the-port"


@dataclass(frozen=True)
class FakeClient:
    """What a marketplace's API client would be; the fake only tells instances apart."""

    serial: int


@dataclass(frozen=True)
class FakeParsed:
    code: int
    shop_id: str | None = None
    events: tuple[Any, ...] = ()


@dataclass
class Seen:
    """What the fake marketplace was asked to do, and with which client."""

    opened: list[FakeClient] = field(default_factory=list)
    closed: list[FakeClient] = field(default_factory=list)
    routed: list[FakeClient] = field(default_factory=list)
    polled: list[FakeClient] = field(default_factory=list)
    jobs: list[FakeClient] = field(default_factory=list)
    parsed: list[dict[str, Any]] = field(default_factory=list)


def fake_marketplace(seen: Seen) -> Marketplace:
    """A marketplace made only of what the port asks for."""

    def open_clients(_settings: Settings, stack: AsyncExitStack) -> Clients:
        client = FakeClient(len(seen.opened) + 1)
        seen.opened.append(client)
        stack.callback(seen.closed.append, client)
        return {FAKE: client}

    async def ping(request: Request) -> Response:
        seen.routed.append(request.app.state.clients[FAKE])
        return JSONResponse({"pong": True})

    async def job(_job: Job, ctx: Context) -> None:
        seen.jobs.append(ctx.resources[FAKE])

    def parse(body: Any) -> FakeParsed:
        seen.parsed.append(dict(body))
        return FakeParsed(code=int(body["code"]))

    def pollers(_settings: Settings, _db: Database, clients: Clients) -> list[Poller]:
        async def poll(stop: Any) -> None:
            seen.polled.append(clients[FAKE])
            await stop.wait()

        return [poll]

    return Marketplace(
        platform=FAKE,
        configured=lambda _settings: True,
        open_clients=open_clients,
        job_handlers={"fakemart_job": job},
        push_parser=parse,
        routes=(Route("/fakemart/ping", ping),),
        pollers=pollers,
    )


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def job_states(db: Database, kind: str) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OutboxJob.state).where(OutboxJob.kind == kind)).scalars())


def test_the_service_runs_with_no_marketplace(db: Database, database_url: str) -> None:
    settings = Settings(database_url=database_url, shopee_partner_id="1", shopee_partner_keys=(Secret("k"),))
    app = create_app(settings, db, marketplaces=(), pollers=True, worker=True)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        # No marketplace: no receiver (not even the fast path), no marketplace route, no client.
        assert client.post("/webhooks/shopee", content=b"{}").status_code == 404
        assert client.get("/v1/products").status_code == 404
        assert app.state.clients == {} and app.state.push_parsers == {}


def test_a_fake_marketplace_plugs_in_through_the_port(db: Database, database_url: str) -> None:
    seen = Seen()
    add_jobs(db, "fakemart_job", 2)
    body = orjson.dumps({"code": 7, "hello": "fakemart"})
    store_pushes(db, [Received(FAKE, FakeParsed(code=7), body, orjson.loads(body))])
    app = create_app(
        Settings(database_url=database_url), db, marketplaces=(fake_marketplace(seen),), pollers=True
    )
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/fakemart/ping").json() == {"pong": True}
        wait_for(lambda: job_states(db, "fakemart_job") == ["done", "done"])
        wait_for(lambda: bool(seen.polled) and _applied(db) != [])  # the parse commits after
        assert _applied(db) == [None]  # applied, by the fake's parser
    assert seen.parsed == [{"code": 7, "hello": "fakemart"}]
    [client_] = seen.opened  # one client, and the route, the jobs and the poller all had it
    assert seen.routed == [client_] and seen.jobs == [client_, client_] and seen.polled == [client_]
    assert seen.closed == [client_]  # closed at shutdown


def test_without_its_marketplace_a_push_of_that_platform_fails_to_apply_visibly(
    db: Database, database_url: str
) -> None:
    body = orjson.dumps({"code": 7})
    store_pushes(db, [Received(FAKE, FakeParsed(code=7), body, orjson.loads(body))])
    with serve(create_app(Settings(database_url=database_url), db, marketplaces=())):
        wait_for(lambda: _error(db) is not None)
    assert _error(db) == "NoParser: no parser for fakemart pushes"
    with db.write() as conn:  # not this test's subject: out of the end-of-test check
        conn.execute(sa.delete(Push))


def _applied(db: Database) -> list[str | None]:
    """The errors of the fake's pushes applied so far (spooled on SQLite first)."""
    with db.read() as conn:
        query = sa.select(Push.error).where(Push.platform == FAKE, Push.applied_at.is_not(None))
        return list(conn.execute(query).scalars())


def _error(db: Database) -> str | None:
    with db.read() as conn:
        return conn.execute(sa.select(Push.error)).scalars().first()  # (spooled on SQLite first)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every Shopee and Coupang client made from now on, whichever module makes it."""
    made: list[object] = []
    for cls in (ShopeeClient, CoupangClient):
        original = cls.__init__

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            made.append(self)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return made


@pytest.fixture
def coupang_base() -> Iterator[str]:
    app = create_sandbox("A00012345", "access-key-1", "secret-key-1", extra_routes=product_routes())
    attach(app)
    with serve(app) as base:
        yield base


def test_each_marketplace_opens_one_client_for_its_routes_jobs_and_pollers(
    db: Database, database_url: str, made: list[object], coupang_base: str
) -> None:
    settings = Settings(
        database_url=database_url,
        api_tokens=parse_tokens(f"ops:{OPERATOR}:operator"),
        shopee_partner_id="2001234",
        shopee_partner_keys=(Secret("api-key"),),
        shopee_api_base="http://127.0.0.1:9",  # no shop is authorized: the poll calls nothing
        coupang_vendor_id="A00012345",
        coupang_access_key=Secret("access-key-1"),
        coupang_secret_key=Secret("secret-key-1"),
        coupang_api_base=coupang_base,
        api_backoff_seconds=0.01,
    )
    with ExitStack() as stack:
        app = create_app(settings, db, pollers=True, worker=True)
        base = stack.enter_context(serve(app))
        api = stack.enter_context(
            httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {OPERATOR}"})
        )
        for name in ("first", "second"):  # each registration once made a client of its own
            assert (
                api.post("/v1/products", json=valid_body(name=f"{name} product, long enough")).status_code
                == 201
            )
        clients = dict(app.state.clients)
    shopee = [c for c in made if isinstance(c, ShopeeClient)]
    coupang = [c for c in made if isinstance(c, CoupangClient)]
    assert shopee == [clients["shopee"]] and coupang == [clients["coupang"]]
    sheets = clients["coupang_sheets"]
    assert isinstance(sheets, OrderSheets) and sheets.client is clients["coupang"]  # the jobs' calls
