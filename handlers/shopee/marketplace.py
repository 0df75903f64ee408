"""Shopee, as the service sees it (the port: service/marketplace.py).

Configured when the Open API partner id and key are set. One :class:`ShopeeClient` per
process serves the outbox jobs (arrange_shipment, start_tracking) and the reconciliation
poll; the push receiver, ``POST /webhooks/shopee``, needs only the push partner key, and
its stored pushes are parsed by :func:`handlers.shopee.push.parse_push`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from starlette.routing import Route

from handlers.shopee import actions, receiver
from handlers.shopee.client import ShopeeClient
from handlers.shopee.push import PLATFORM, parse_push
from handlers.shopee.reconcile import ShopeeReconciler
from service.db import Database
from service.marketplace import Clients, Marketplace, Poller
from service.settings import Settings

log = logging.getLogger("orderwatch.pollers")


def configured(settings: Settings) -> bool:
    """Whether the Open API can be called: a partner id and its key."""
    return bool(settings.shopee_partner_id and settings.shopee_partner_keys)


def open_clients(settings: Settings, stack: AsyncExitStack) -> Clients:
    """The process's one Shopee client, closed with ``stack``."""
    client = ShopeeClient(
        settings.shopee_api_base,
        int(settings.shopee_partner_id or 0),
        settings.shopee_partner_keys[0].reveal(),
        backoff=settings.api_backoff_seconds,
    )
    stack.push_async_callback(client.aclose)
    return {"shopee": client}


def pollers(settings: Settings, db: Database, clients: Clients) -> list[Poller]:
    """The reconciliation poll, on the shared client."""
    reconciler = ShopeeReconciler(db, clients["shopee"], overlap=settings.shopee_reconcile_overlap_seconds)
    log.info("shopee reconciliation poll every %.0f s", settings.shopee_reconcile_seconds)

    async def reconcile(stop: asyncio.Event) -> None:
        await reconciler.run_forever(settings.shopee_reconcile_seconds, stop)

    return [reconcile]


MARKETPLACE = Marketplace(
    platform=PLATFORM,
    configured=configured,
    open_clients=open_clients,
    job_handlers=actions.HANDLERS,
    push_parser=parse_push,
    routes=(Route(receiver.PUSH_PATH, receiver.shopee_push, methods=["POST"]),),
    fast_paths={receiver.PUSH_PATH: receiver.shopee_push.answer},
    pollers=pollers,
)
