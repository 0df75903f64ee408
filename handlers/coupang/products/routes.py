"""HTTP routes for Coupang products: ``GET /v1/products`` (viewer), ``GET
/v1/products/{seller_product_id}`` (viewer) and ``POST /v1/products`` (operator).

``POST /v1/products`` takes a product body in Coupang's shape and registers it, or
``{"sellerProductId": …}`` alone to follow a product made elsewhere. A body that breaks
Coupang's documented limits answers 422 ``invalid_product`` with ``fields``
(``[{"field", "message"}]``) and no call is made. The call goes through the process's one
Coupang client, opened in the lifespan (``app.state.clients``, handlers/coupang/marketplace.py).
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.coupang.client import CoupangClient
from handlers.coupang.products import approval, read
from handlers.coupang.products.calls import is_product_id
from handlers.coupang.products.rules import validate
from handlers.errors import AuthenticationFailed, MarketplaceError, RequestRejected
from service import limits
from service.auth import authorize
from service.db import Database
from service.errors import ApiError
from service.settings import Settings
from statemachines.listing import LISTING_STATES

MAX_BODY = 512 * 1024  # a product body with many items and long HTML contents


def coupang(request: Request) -> CoupangClient:
    """The process's Coupang client; :class:`ApiError` 503 when Coupang is not configured."""
    client: CoupangClient | None = getattr(request.app.state, "clients", {}).get("coupang")
    if client is None:
        raise ApiError(
            503,
            "not_configured",
            "Coupang is not configured (ORDERWATCH_COUPANG_VENDOR_ID, _ACCESS_KEY, _SECRET_KEY)",
        )
    return client


def _parts(request: Request) -> tuple[Settings, Database]:
    return request.app.state.settings, request.app.state.db


async def list_products(request: Request) -> Response:
    authorize(request, "viewer")
    state = request.query_params.get("state") or None
    if state is not None and state not in LISTING_STATES:
        raise ApiError(400, "bad_query", f"state must be one of {', '.join(LISTING_STATES)}")
    _, db = _parts(request)

    def work() -> list[dict[str, Any]]:
        with db.read() as conn:
            return read.list_products(conn, state=state)

    return JSONResponse({"products": await anyio.to_thread.run_sync(work)})


async def get_product(request: Request) -> Response:
    authorize(request, "viewer")
    seller_product_id = str(request.path_params["seller_product_id"])
    if not is_product_id(seller_product_id):
        raise ApiError(404, "not_found", "a sellerProductId is a number")
    _, db = _parts(request)

    def work() -> dict[str, Any] | None:
        with db.read() as conn:
            found = read.list_products(conn, seller_product_id=seller_product_id)
            if not found:
                return None
            return {**found[0], "history": read.history_of(conn, seller_product_id)}

    found = await anyio.to_thread.run_sync(work)
    if found is None:
        raise ApiError(404, "not_found", f"no coupang product {seller_product_id} is followed")
    return JSONResponse(found)


async def create_product(request: Request) -> Response:
    authorize(request, "operator")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"the body must be at most {MAX_BODY // 1024} KiB")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if limits.unreadably_deep(exc):
            raise ApiError(400, limits.TOO_DEEP, limits.depth_message("the body")) from None
        raise ApiError(400, "bad_body", "the body is not JSON") from None
    problem = limits.problem(raw, body)  # before it is validated, sent or stored
    if problem == limits.TOO_DEEP:
        raise ApiError(400, limits.TOO_DEEP, limits.depth_message("the body"))
    if problem == limits.NUL:
        raise ApiError(400, "bad_body", "the body holds a NUL character (\\u0000)")
    settings, db = _parts(request)
    if isinstance(body, dict) and set(body) == {"sellerProductId"}:
        given = body["sellerProductId"]
        return await _track(db, settings, str(given) if isinstance(given, int | str) else "")
    problems = validate(body)
    if problems:
        raise ApiError(
            422,
            "invalid_product",
            f"the product breaks {len(problems)} of Coupang's documented limits; nothing was sent",
            fields=[p.as_dict() for p in problems],
        )
    client = coupang(request)
    try:
        found = await approval.register(db, client, body, settings)
    except AuthenticationFailed as exc:
        raise ApiError(502, "marketplace_auth_failed", str(exc)) from exc
    except RequestRejected as exc:
        raise ApiError(422, "coupang_refused", str(exc)) from exc
    except MarketplaceError as exc:
        # Coupang may have made the product all the same: look before registering again.
        raise ApiError(
            503,
            "marketplace_unavailable",
            f"{exc}; the product may exist: check before registering again",
        ) from exc
    return JSONResponse(found, status_code=201)


async def _track(db: Database, settings: Settings, seller_product_id: str) -> Response:
    if not is_product_id(seller_product_id):
        raise ApiError(400, "bad_body", "sellerProductId must be a positive number")
    created = await anyio.to_thread.run_sync(approval.track, db, seller_product_id, settings)
    found = await anyio.to_thread.run_sync(read.find, db, seller_product_id)
    return JSONResponse(found, status_code=201 if created else 200)


ROUTES = [
    Route("/v1/products", list_products, methods=["GET"]),
    Route("/v1/products", create_product, methods=["POST"]),
    Route("/v1/products/{seller_product_id}", get_product, methods=["GET"]),
]
