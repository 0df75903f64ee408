"""The pollers a process runs: inside ``orderwatch serve`` (unless ``--no-poll``) or alone
as ``orderwatch poll``: the Shopee reconciliation poll (handlers/shopee/reconcile.py) and the
Coupang order poll (handlers/coupang/poll.py). Each is started only when its marketplace is
configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.poll import CoupangPoller, coupang_client
from handlers.coupang.products import approval as products
from handlers.shopee.reconcile import ShopeeReconciler
from service.db import Database
from service.settings import Settings

log = logging.getLogger("orderwatch.pollers")


@contextlib.asynccontextmanager
async def running_pollers(settings: Settings, db: Database) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the configured pollers for the duration of the ``async with`` block."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    async with contextlib.AsyncExitStack() as stack:
        if settings.shopee_partner_id and settings.shopee_partner_keys:
            from handlers.shopee.client import ShopeeClient

            client = ShopeeClient(
                settings.shopee_api_base,
                int(settings.shopee_partner_id),
                settings.shopee_partner_keys[0].reveal(),
            )
            stack.push_async_callback(client.aclose)
            reconciler = ShopeeReconciler(db, client, overlap=settings.shopee_reconcile_overlap_seconds)
            tasks.append(asyncio.create_task(reconciler.run_forever(settings.shopee_reconcile_seconds, stop)))
            log.info("shopee reconciliation poll every %.0f s", settings.shopee_reconcile_seconds)
        else:
            log.info("no Shopee partner id and key: the Shopee reconciliation poll is off")
        coupang = coupang_client(settings)
        if coupang is not None:
            stack.push_async_callback(coupang.aclose)
            poller = CoupangPoller(
                db,
                OrderSheets(coupang),
                overlap=settings.coupang_poll_overlap_seconds,
                lookback_days=settings.coupang_lookback_days,
            )
            tasks.append(asyncio.create_task(poller.run_forever(settings.coupang_poll_seconds, stop)))
            log.info("coupang order poll every %.0f s", settings.coupang_poll_seconds)
            # Product approval (handlers/coupang/products/approval.py) rides on the same client.
            tasks.append(asyncio.create_task(products.run_forever(settings, db, coupang, stop)))
            log.info("coupang product approval poll every %.0f s", settings.coupang_product_poll_seconds)
        else:
            log.info("no Coupang vendor id and keys: the Coupang order poll is off")
        try:
            yield tasks
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def poll_forever(settings: Settings, db: Database, stop: asyncio.Event | None = None) -> None:
    """``orderwatch poll``: run the pollers until ``stop`` is set (or the task is cancelled)."""
    async with running_pollers(settings, db) as tasks:
        if not tasks:
            log.warning("no marketplace to poll is configured; waiting for nothing")
        await (stop or asyncio.Event()).wait()
