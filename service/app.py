"""The HTTP application: ``create_app`` builds it with its settings and database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import documents, metrics, openapi, outbox, shops, views, webhooks
from service.actions import running_outbox
from service.auth import Caller, identify, is_loopback
from service.db import Database, StorageUnavailable
from service.errors import HANDLERS, ApiError
from service.inbox import Applier
from service.pollers import running_pollers
from service.pushes import PushCommitter
from service.settings import Settings
from statemachines.machines import ORDER_STATES
from statemachines.maps import PLATFORMS

log = logging.getLogger("orderwatch.app")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def authorize(request: Request, role: str) -> Caller:
    """The caller, if allowed ``role``; otherwise the fitting :class:`ApiError`."""
    settings: Settings = request.app.state.settings
    if not settings.api_tokens:
        client = request.client.host if request.client else None
        if role == "viewer" and is_loopback(client):
            return Caller("loopback", "viewer")
        raise ApiError(403, "forbidden", "no API tokens are configured: reads are served to loopback only")
    caller = identify(settings.api_tokens, request.headers.get("authorization"))
    if caller is None:
        raise ApiError(401, "unauthorized", "a valid Bearer token is required")
    if not caller.may(role):
        raise ApiError(403, "forbidden", f"this token's role may not {role}")
    return caller


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
    if "\x00" in value:  # no id holds a NUL (and PostgreSQL text cannot)
        raise ApiError(404, "not_found", f"no such {name}")
    return value


def _text(value: str | None, name: str) -> str | None:
    if value and "\x00" in value:
        raise ApiError(400, "bad_query", f"{name} must not hold a NUL character")
    return value or None


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
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
        cursor=q.get("cursor") or None,
    )
    return JSONResponse(page)


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


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ok = await anyio.to_thread.run_sync(_db(request).ping)
    if not ok:
        raise ApiError(503, "storage_unavailable", "the database is unreachable")
    return JSONResponse({"status": "ready"})


ROUTES = [
    Route("/webhooks/shopee", webhooks.shopee_push, methods=["POST"]),  # first: the hot path
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/v1/orders", list_orders),
    Route("/v1/orders/{platform}/{order_id}", get_order),
    Route("/v1/packages/{platform}/{package_id}", get_package),
    Route("/v1/packages/{platform}/{package_id}/airway-bill", get_airway_bill),
    Route("/v1/alerts", list_alerts),
    Route("/v1/jobs", list_jobs),
    Route("/metrics", metrics.metrics),
    Route("/openapi.json", openapi.openapi),
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


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    *,
    pollers: bool = False,
    worker: bool = True,
) -> Starlette:
    """Build the application; the database is opened in the lifespan unless handed in.
    With ``worker`` this process applies the pushes it stores (else ``orderwatch worker``
    processes do); with ``pollers`` the configured marketplace pollers run here too."""
    settings = settings or Settings.from_environ()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = db is None
        app.state.db = db or Database(settings.database_url)
        applier = Applier(app.state.db) if worker else None
        app.state.applier = applier
        app.state.push_committer = PushCommitter(app.state.db, on_commit=applier.wake if applier else None)
        if applier is not None:
            applier.start()
        if settings.shopee_outlet_shops:
            await _link_configured_outlets(app.state.db, settings)
        try:
            async with contextlib.AsyncExitStack() as stack:
                stack.enter_context(app.state.db.checkpoints())
                if worker:
                    app.state.outbox = await stack.enter_async_context(running_outbox(settings, app.state.db))
                if pollers:
                    await stack.enter_async_context(running_pollers(settings, app.state.db))
                yield
        finally:
            await anyio.to_thread.run_sync(app.state.push_committer.close)
            if applier is not None:
                await anyio.to_thread.run_sync(applier.stop)
            if own:
                app.state.db.dispose()

    app = Starlette(routes=ROUTES, lifespan=lifespan, exception_handlers=HANDLERS)
    app.state.settings = settings
    app.state.push_counts = webhooks.new_push_counts()
    app.state.metrics = metrics.new_registry(app)
    return app
