"""Coupang, as the service sees it (the port: service/marketplace.py).

Configured when the vendor id and both Open API keys are set. One :class:`CoupangClient`
per process serves the outbox jobs (acknowledge, upload_invoice: through
``coupang_sheets``), the order poll, the product approval poll and ``POST /v1/products``.
Coupang has no push: its report endpoint, ``POST /webhooks/coupang``, ingests as it
receives. The ``orderwatch products`` commands are Coupang's too.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
from contextlib import AsyncExitStack
from typing import Any

from starlette.routing import Route

from handlers.coupang import actions, webhook
from handlers.coupang.client import CoupangClient
from handlers.coupang.orders import PLATFORM
from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.poll import CoupangPoller
from handlers.coupang.products import approval
from handlers.coupang.products import cli as products_cli
from handlers.coupang.products import routes as products_routes
from service.db import Database
from service.marketplace import Clients, Marketplace, Poller
from service.settings import Settings

log = logging.getLogger("orderwatch.pollers")


def configured(settings: Settings) -> bool:
    """Whether the Open API can be called: the vendor id and both keys."""
    return bool(settings.coupang_vendor_id and settings.coupang_access_key and settings.coupang_secret_key)


def coupang_client(settings: Settings) -> CoupangClient | None:
    """A client for the configured vendor; None when Coupang is not configured."""
    key, vendor = settings.coupang_access_key, settings.coupang_vendor_id
    if not (configured(settings) and key and vendor):  # (the two named again for the type checker)
        return None
    return CoupangClient(
        settings.coupang_api_base,
        key.reveal(),
        settings.coupang_secret_key,
        vendor_id=vendor,
        backoff=settings.api_backoff_seconds,
        ordersheets_version=settings.coupang_ordersheets_version,
        returns_version=settings.coupang_returns_version,
    )


def open_clients(settings: Settings, stack: AsyncExitStack) -> Clients:
    """The process's one Coupang client (and its order-sheet calls), closed with ``stack``."""
    client = coupang_client(settings)
    if client is None:
        return {}
    stack.push_async_callback(client.aclose)
    return {"coupang": client, "coupang_sheets": OrderSheets(client)}


def pollers(settings: Settings, db: Database, clients: Clients) -> list[Poller]:
    """The order poll and the product approval poll, both on the shared client."""
    poller = CoupangPoller(
        db,
        clients["coupang_sheets"],
        overlap=settings.coupang_poll_overlap_seconds,
        lookback_days=settings.coupang_lookback_days,
    )
    log.info("coupang order poll every %.0f s", settings.coupang_poll_seconds)
    log.info("coupang product approval poll every %.0f s", settings.coupang_product_poll_seconds)

    async def orders(stop: asyncio.Event) -> None:
        await poller.run_forever(settings.coupang_poll_seconds, stop)

    async def products(stop: asyncio.Event) -> None:
        await approval.run_forever(settings, db, clients["coupang"], stop)

    return [orders, products]


def add_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """``orderwatch products``."""
    products_cli.add_parser(sub).set_defaults(run=functools.partial(products_cli.run, connect=coupang_client))


MARKETPLACE = Marketplace(
    platform=PLATFORM,
    configured=configured,
    open_clients=open_clients,
    job_handlers=actions.HANDLERS,
    routes=(Route(webhook.PATH, webhook.coupang_report, methods=["POST"]), *products_routes.ROUTES),
    pollers=pollers,
    add_commands=add_commands,
)
