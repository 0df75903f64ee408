"""The HTTP application: ``create_app`` builds it with its settings, database and
marketplaces (service/marketplaces.py's installed ones unless handed in)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service import (
    changes,
    commands,
    dashboard,
    documents,
    limits,
    metrics,
    openapi,
    outbox,
    push_views,
    shops,
    stream,
    views,
)
from service.access_log import protect_access_log
from service.actions import running_outbox
from service.auth import authorize
from service.db import Database, StorageUnavailable
from service.errors import HANDLERS, ApiError
from service.inbox import Applier
from service.marketplace import Marketplace, open_clients, push_parsers
from service.marketplaces import installed
from service.pollers import running_pollers
from service.pushes import PushCommitter
from service.settings import Settings
from statemachines.machines import ORDER_STATES, ORDER_TRIGGERS, PACKAGE_TRIGGERS
from statemachines.maps import PLATFORMS

log = logging.getLogger("orderwatch.app")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _read(request: Request, work: Any, *args: Any, **kwargs: Any) -> Any:
    db = _db(request)

    def run() -> Any:
        with db.read() as conn:
            return work(conn, *args, **kwargs)

    return await anyio.to_thread.run_sync(run)


def _platform(request: Request) -> str:
    platform = str(request.path_params["platform"])
    if platform not in PLATFORMS:
        raise ApiError(404, "not_found", f"unknown platform {platform!r}; use shopee or coupang")
    return platform


def _id(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    # No id holds a NUL (and PostgreSQL text cannot), nor is longer than its column.
    if "\x00" in value or len(value) > limits.MAX_ID:
        raise ApiError(404, "not_found", f"no such {name}")
    return value


def _text(value: str | None, name: str) -> str | None:
    if value and "\x00" in value:
        raise ApiError(400, "bad_query", f"{name} must not hold a NUL character")
    if value and len(value) > limits.MAX_ID:
        raise ApiError(400, "bad_query", f"{name} must be at most {limits.MAX_ID} characters")
    return value or None


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if len(value) > 20:  # before int(), which refuses 4,301 digits with a ValueError
        raise ApiError(400, "bad_query", f"{name} must be between {low} and {high}")
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "bad_query", f"{name} must be an integer") from None
    if not low <= number <= high:
        raise ApiError(400, "bad_query", f"{name} must be between {low} and {high}")
    return number


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    if len(value) > 64:  # an RFC 3339 time is about 30 characters
        raise ApiError(400, "bad_query", f"{name} must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_query", f"{name} must be an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ApiError(400, "bad_query", f"{name} must carry a time zone (e.g. Z)")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ApiError(400, "bad_query", f"{name} is out of range") from None
    return parsed


async def list_orders(request: Request) -> Response:
    authorize(request, "viewer")
    q = request.query_params
    state, platform = q.get("state") or None, q.get("platform") or None
    if state and state not in ORDER_STATES:
        raise ApiError(400, "bad_query", f"state must be one of {', '.join(ORDER_STATES)}")
    if platform and platform not in PLATFORMS:
        raise ApiError(400, "bad_query", "platform must be shopee or coupang")
    page = await _read(
        request,
        views.list_orders,
        state=state,
        platform=platform,
        shop_id=_text(q.get("shop_id"), "shop_id"),
        updated_since=_time(q.get("updated_since"), "updated_since"),
        limit=_int(q.get("limit"), "limit", 100, 1, views.MAX_LIMIT),
        cursor=_text(q.get("cursor"), "cursor"),
    )
    # orjson: a page of 100 orders serializes in a tenth of the time json.dumps takes.
    return Response(orjson.dumps(page), media_type="application/json")


async def get_order(request: Request) -> Response:
    authorize(request, "viewer")
    platform = _platform(request)
    order_id = _id(request, "order_id")
    order = await _read(request, views.get_order, platform, order_id)
    if order is None:
        raise ApiError(404, "not_found", f"no {platform} order {order_id}")
    return JSONResponse(order)


async def get_package(request: Request) -> Response:
    authorize(request, "viewer")
    platform = _platform(request)
    package_id = _id(request, "package_id")
    package = await _read(request, views.get_package, platform, package_id)
    if package is None:
        raise ApiError(404, "not_found", f"no {platform} package {package_id}")
    return JSONResponse(package)


async def get_airway_bill(request: Request) -> Response:
    authorize(request, "viewer")
    platform = _platform(request)
    package_id = _id(request, "package_id")
    found = await anyio.to_thread.run_sync(
        documents.find, _db(request), platform, package_id, documents.AIRWAY_BILL
    )
    if found is None:
        raise ApiError(404, "not_found", f"no airway bill for {platform} package {package_id} (yet)")
    headers = {"Content-Disposition": f'inline; filename="airway-bill-{package_id}.pdf"'}
    return Response(found.content, media_type=found.content_type, headers=headers)


async def list_jobs(request: Request) -> Response:
    authorize(request, "viewer")
    state = request.query_params.get("state") or None
    if state not in (None, "pending", "running", "done", "dead"):
        raise ApiError(400, "bad_query", "state must be pending, running, done or dead")
    found = await anyio.to_thread.run_sync(lambda: outbox.jobs(_db(request), state))
    for job in found:
        job["run_after"] = job["run_after"].isoformat().replace("+00:00", "Z")
    return JSONResponse({"jobs": found})


async def list_alerts(request: Request) -> Response:
    authorize(request, "viewer")
    state = request.query_params.get("state") or None
    if state not in (None, "open", "resolved"):
        raise ApiError(400, "bad_query", "state must be open or resolved")
    return JSONResponse(await _read(request, views.list_alerts, state))


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise ApiError(413, "body_too_large", "the body must be at most 64 KiB")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if limits.unreadably_deep(exc):
            raise ApiError(400, limits.TOO_DEEP, limits.depth_message("the body")) from None
        raise ApiError(400, "bad_body", "the body is not JSON") from None
    if limits.problem(raw, body) == limits.TOO_DEEP:
        raise ApiError(400, limits.TOO_DEEP, limits.depth_message("the body"))
    return body  # a NUL is refused where a field is read (service/commands.py)


async def _command(request: Request, what: str) -> Response:
    caller = authorize(request, "operator")
    platform, ident = _platform(request), _id(request, f"{what}_id")
    allowed, triggers = (
        (commands.PACKAGE_COMMANDS, PACKAGE_TRIGGERS)
        if what == "package"
        else (commands.ORDER_COMMANDS, ORDER_TRIGGERS)
    )
    command, reason = commands.parse_command(await _body(request), allowed, triggers)
    key = request.headers.get("idempotency-key")
    done = await anyio.to_thread.run_sync(
        lambda: commands.command(
            _db(request), what, platform, ident, command, actor=caller.name, reason=reason, key=key
        )
    )
    if done is None:
        raise ApiError(404, "not_found", f"no {platform} {what} {ident}")
    if done.outcome == "refused":
        raise commands.not_allowed(command, done)
    show = views.get_package if what == "package" else views.get_order
    return JSONResponse(await _read(request, show, platform, ident))


async def order_command(request: Request) -> Response:
    return await _command(request, "order")


async def package_command(request: Request) -> Response:
    return await _command(request, "package")


async def add_tracking(request: Request) -> Response:
    caller = authorize(request, "operator")
    platform, package_id = _platform(request), _id(request, "package_id")
    carrier, number = commands.parse_tracking(await _body(request))
    done = await anyio.to_thread.run_sync(
        lambda: commands.add_tracking(_db(request), platform, package_id, carrier, number, actor=caller.name)
    )
    if done is None:
        raise ApiError(404, "not_found", f"no {platform} package {package_id}")
    if done.outcome in ("refused", "unreachable"):
        raise ApiError(409, "tracking_not_accepted", f"package {package_id} is {done.state}: {done.error}")
    return JSONResponse(await _read(request, views.get_package, platform, package_id))


async def list_changes(request: Request) -> Response:
    authorize(request, "viewer")
    given = request.query_params.get("after") or "0"
    after = changes.parse_cursor(given)
    if after is None:
        raise ApiError(400, "bad_query", "after must be a cursor of the change feed")
    limit = _int(request.query_params.get("limit"), "limit", 100, 1, changes.MAX_LIMIT)
    page = await _read(request, changes.read, after, limit)
    return JSONResponse({"changes": page, "next": page[-1]["cursor"] if page else str(after)})


async def stream_changes(request: Request) -> Response:
    authorize(request, "viewer")
    db = _db(request)
    stop: threading.Event = request.app.state.stop_streams
    return await anyio.to_thread.run_sync(stream.response, request, db, stop)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ok = await anyio.to_thread.run_sync(_db(request).ping)
    if not ok:
        raise ApiError(503, "storage_unavailable", "the database is unreachable")
    return JSONResponse({"status": "ready"})


# The core's routes; each marketplace's follow them (create_app).
ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/v1/orders", list_orders),
    Route("/v1/orders/{platform}/{order_id}", get_order),
    Route("/v1/packages/{platform}/{package_id}", get_package),
    Route("/v1/packages/{platform}/{package_id}/airway-bill", get_airway_bill),
    Route("/v1/orders/{platform}/{order_id}/commands", order_command, methods=["POST"]),
    Route("/v1/packages/{platform}/{package_id}/commands", package_command, methods=["POST"]),
    Route("/v1/packages/{platform}/{package_id}/tracking", add_tracking, methods=["POST"]),
    Route("/v1/changes", list_changes),
    Route("/v1/stream", stream_changes),
    Route("/v1/alerts", list_alerts),
    Route("/v1/jobs", list_jobs),
    *push_views.ROUTES,
    Route("/metrics", metrics.metrics),
    Route("/openapi.json", openapi.openapi),
    Route("/", dashboard.index),
    Route(dashboard.SIGN_IN_PATH, dashboard.sign_in, methods=["POST"]),
    Route("/orders/{platform}/{order_id}", dashboard.order_page),
]


async def _link_configured_outlets(db: Database, settings: Settings) -> None:
    try:
        changed = await anyio.to_thread.run_sync(
            shops.link_all, db, "shopee", list(settings.shopee_outlet_shops)
        )
    except StorageUnavailable as exc:
        log.warning("the configured outlet shops are not linked yet: %s", exc)
        return
    log.info(
        "linked %d configured Instant Mart outlet shops (%d orders changed)",
        len(settings.shopee_outlet_shops),
        changed,
    )


class App(Starlette):
    """The Starlette app, except that a POST to a marketplace's fast path (the Shopee push)
    goes straight to its handler, which answers its own errors: the hot path skips the
    middleware stack and the router (the route stays, for the app's other callers)."""

    fast_paths: Mapping[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            fast = self.fast_paths.get(scope["path"])
            if fast is not None:
                scope["app"] = self
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    *,
    marketplaces: Sequence[Marketplace] | None = None,
    pollers: bool = False,
    worker: bool = True,
) -> Starlette:
    """Build the application; the database is opened in the lifespan unless handed in.
    With ``worker`` this process applies the pushes it stores (else ``orderwatch worker``
    processes do); with ``pollers`` the configured marketplace pollers run here too. Each
    configured marketplace's clients are opened once, in the lifespan, and shared by its
    routes (``app.state.clients``), its jobs and its pollers."""
    settings = settings or Settings.from_environ()
    markets = installed() if marketplaces is None else tuple(marketplaces)
    parsers = push_parsers(markets)
    protect_access_log()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = db is None
        app.state.db = db or Database(settings.database_url)
        applier = Applier(app.state.db, parsers) if worker else None
        app.state.applier = applier
        app.state.push_committer = PushCommitter(app.state.db, on_commit=applier.wake if applier else None)
        if applier is not None:
            applier.start()
        if settings.shopee_outlet_shops:
            await _link_configured_outlets(app.state.db, settings)
        try:
            async with contextlib.AsyncExitStack() as stack:
                # Without the applier here, orderwatch worker checkpoints the database.
                stack.enter_context(app.state.db.checkpoints(database=worker))
                app.state.clients = clients = open_clients(markets, settings, stack)  # closed last
                if worker:
                    outbox = running_outbox(settings, app.state.db, markets, clients)
                    app.state.outbox = await stack.enter_async_context(outbox)
                if pollers:
                    await stack.enter_async_context(running_pollers(settings, app.state.db, markets, clients))
                yield
        finally:
            app.state.stop_streams.set()
            await anyio.to_thread.run_sync(app.state.push_committer.close)
            if applier is not None:
                await anyio.to_thread.run_sync(applier.stop)
            if own:
                app.state.db.dispose()

    routes = [*ROUTES, *(route for market in markets for route in market.routes)]
    app = App(routes=routes, lifespan=lifespan, exception_handlers=HANDLERS)
    app.fast_paths = {path: fast for market in markets for path, fast in market.fast_paths.items()}
    app.state.settings = settings
    app.state.marketplaces = markets
    app.state.push_parsers = parsers
    app.state.stop_streams = threading.Event()  # set on shutdown: GET /v1/stream answers end
    app.state.push_counts = Counter()  # pushes by (code, result), counted by their receiver
    app.state.metrics = metrics.new_registry(app)
    return app
