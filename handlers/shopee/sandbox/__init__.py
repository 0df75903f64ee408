"""A pretend Shopee over real HTTP, for tests and ``orderwatch demo``.

``create_sandbox`` answers a Starlette app that serves the Open API v2 calls orderwatch
makes (``get_order_list``, ``get_order_detail``, ``get_shop_info`` for the Instant Mart
relation, the access-token refresh, the lost pushes, and the logistics calls: arrange shipment, tracking
numbers, airway bills, tracking) in Shopee's shapes and with Shopee's checks, and sends
signed pushes (codes 3 and 4) to a push URL as orders change, with configurable faults.
A carrier moves arranged parcels to delivery, on command or on its own (auto and demo
modes). Its state, :class:`ShopeeSandbox`, is ``app.state.sandbox``: tests drive it
in-process, or over HTTP through the ``/sandbox`` control endpoints
(:mod:`handlers.shopee.sandbox.control`). The modules:

- :mod:`handlers.shopee.sandbox.state`: the world (``ShopeeWorld``): shops and tokens,
  orders, what a change pushes;
- :mod:`handlers.shopee.sandbox.push`: delivery, faults, retries, counts;
- :mod:`handlers.shopee.sandbox.api`: the Shopee endpoints and their checks;
- :mod:`handlers.shopee.sandbox.shipping`: arranging shipment, tracking numbers, airway
  bills, logistics faults, idempotency keys, bookings; and ``ShopeeSandbox``, the world with
  this desk, composed above both so that the world never imports a desk that builds on it;
- :mod:`handlers.shopee.sandbox.handover`: the checks of a ``ship_order`` mode against ``info_needed``;
- :mod:`handlers.shopee.sandbox.carrier`: checkpoints, the way to delivery, auto and demo modes;
- :mod:`handlers.shopee.sandbox.logistics`: the logistics endpoints;
- :mod:`handlers.shopee.sandbox.documents`: the shipping-document (airway bill) endpoints;
- :mod:`handlers.shopee.sandbox.lost`: the lost-push endpoints (dropped and undeliverable pushes);
- :mod:`handlers.shopee.sandbox.control`: the control endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette

from handlers.sandbox_common import ApiFaults, SandboxClock, SandboxError
from handlers.shopee.client import protect_logs
from handlers.shopee.sandbox.api import api_routes
from handlers.shopee.sandbox.carrier import Carrier, CarrierSettings
from handlers.shopee.sandbox.control import control_routes
from handlers.shopee.sandbox.documents import document_routes
from handlers.shopee.sandbox.logistics import logistics_routes
from handlers.shopee.sandbox.lost import lost_push_routes
from handlers.shopee.sandbox.push import PushEngine, PushFaults, PushStats
from handlers.shopee.sandbox.shipping import (
    LogisticsFaults,
    LogisticsSettings,
    SandboxLogistics,
    ShopeeSandbox,
)
from handlers.shopee.sandbox.state import Order, Package, Shop

__all__ = [
    "ApiFaults",
    "Carrier",
    "CarrierSettings",
    "LogisticsFaults",
    "LogisticsSettings",
    "Order",
    "Package",
    "PushEngine",
    "PushFaults",
    "PushStats",
    "SandboxClock",
    "SandboxError",
    "SandboxLogistics",
    "Shop",
    "ShopeeSandbox",
    "create_sandbox",
]


def create_sandbox(
    partner_id: int,
    partner_key: str,
    *,
    push_url: str | None = None,
    seed: int = 0,
    clock: SandboxClock | None = None,
    faults: PushFaults | None = None,
) -> Starlette:
    """The sandbox app; its state is ``app.state.sandbox`` (a :class:`ShopeeSandbox`)."""
    sandbox = ShopeeSandbox(partner_id, partner_key, push_url=push_url, seed=seed, clock=clock, faults=faults)
    # Requests carry access_token and sign in their query: keep them out of access logs.
    protect_logs(("uvicorn.access",))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(sandbox.stop_demo)
            await anyio.to_thread.run_sync(sandbox.pushes.close)

    # api_routes ends in a catch-all: the others go first.
    routes = [*logistics_routes(), *document_routes(), *lost_push_routes(), *api_routes(), *control_routes()]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
