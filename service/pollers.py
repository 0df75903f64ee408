"""The pollers a process runs: inside ``orderwatch serve`` (unless ``--no-poll``) or alone
as ``orderwatch poll``: each configured marketplace's (its ``pollers``: service/marketplace.py;
Shopee's reconciliation poll, Coupang's order and product approval polls), on the clients
the process opened for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from service.db import Database
from service.marketplace import Clients, Marketplace, open_clients
from service.settings import Settings

log = logging.getLogger("orderwatch.pollers")


@contextlib.asynccontextmanager
async def running_pollers(
    settings: Settings, db: Database, marketplaces: Sequence[Marketplace], clients: Clients
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the configured marketplaces' pollers for the duration of the ``async with`` block."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    for market in marketplaces:
        if not market.configured(settings):
            log.info("%s is not configured (no API credentials): its pollers are off", market.platform)
            continue
        tasks.extend(asyncio.create_task(poll(stop)) for poll in market.pollers(settings, db, clients))
    try:
        yield tasks
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def poll_forever(
    settings: Settings, db: Database, marketplaces: Sequence[Marketplace], stop: asyncio.Event | None = None
) -> None:
    """``orderwatch poll``: run the pollers until ``stop`` is set (or the task is cancelled)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = open_clients(marketplaces, settings, stack)
        async with running_pollers(settings, db, marketplaces, clients) as tasks:
            if not tasks:
                log.warning("no marketplace to poll is configured; waiting for nothing")
            await (stop or asyncio.Event()).wait()
