"""Which handler runs which outbox job kind, and running the outbox in a process.

Job kinds: ``arrange_shipment`` and ``start_tracking`` (Shopee: handlers/shopee/actions.py,
when the Shopee app is configured), ``alert`` (hands new alerts to the sinks at once:
service/alert_rules.py), ``alert_send`` (one alert to one webhook sink:
handlers/alerts/delivery.py), ``noop``
(does nothing: benchmarks and tests of the worker itself), ``acknowledge`` and
``upload_invoice`` (Coupang: handlers/coupang/actions.py, when Coupang is configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from handlers.alerts import configured as configured_sinks
from handlers.alerts import delivery as alert_delivery
from service import alert_rules
from service.db import Database
from service.outbox import Again, Context, Handler, Job, Policy, Worker
from service.settings import Settings

log = logging.getLogger("orderwatch.actions")


async def noop(job: Job, _ctx: Context) -> Again | None:
    """Do nothing; with ``payload.trace`` (a file), note the run there (worker tests)."""
    trace = job.payload.get("trace")
    if trace:
        began = time.monotonic()
        await asyncio.sleep(float(job.payload.get("seconds", 0)))
        with open(trace, "a", encoding="utf-8") as out:
            out.write(f"{job.id} {os.getpid()} {began:.6f} {time.monotonic():.6f}\n")
    return None


def handlers(settings: Settings) -> dict[str, Handler]:
    """The handlers this process can run, by job kind."""
    found: dict[str, Handler] = {"noop": noop, "alert": alert_rules.dispatch_job, **alert_delivery.HANDLERS}
    if settings.shopee_partner_id and settings.shopee_partner_keys:
        from handlers.shopee import actions as shopee

        found.update(shopee.HANDLERS)
    if settings.coupang_vendor_id and settings.coupang_access_key and settings.coupang_secret_key:
        from handlers.coupang import actions as coupang

        found.update(coupang.HANDLERS)
    return found


@contextlib.asynccontextmanager
async def resources(settings: Settings, db: Database) -> AsyncIterator[dict[str, Any]]:
    """Long-lived clients the handlers use, closed at the end."""
    found: dict[str, Any] = {"settings": settings}
    async with contextlib.AsyncExitStack() as stack:
        if configured_sinks(settings):
            found["alerts_http"] = await stack.enter_async_context(httpx.AsyncClient())
        if settings.shopee_partner_id and settings.shopee_partner_keys:
            from handlers.shopee.client import ShopeeClient

            client = ShopeeClient(
                settings.shopee_api_base,
                int(settings.shopee_partner_id),
                settings.shopee_partner_keys[0].reveal(),
                backoff=settings.api_backoff_seconds,
            )
            stack.push_async_callback(client.aclose)
            found["shopee"] = client
        from handlers.coupang.ordersheets import OrderSheets
        from handlers.coupang.poll import coupang_client

        coupang = coupang_client(settings)
        if coupang is not None:
            stack.push_async_callback(coupang.aclose)
            found["coupang_sheets"] = OrderSheets(coupang)
        yield found


@contextlib.asynccontextmanager
async def running_outbox(
    settings: Settings, db: Database, policy: Policy | None = None, idle: float = 0.5
) -> AsyncIterator[Worker]:
    """Run the outbox worker in this event loop for the duration of the block."""
    stop = asyncio.Event()
    async with resources(settings, db) as found:
        policy = policy or Policy(attempts=settings.outbox_attempts, base=settings.outbox_backoff_seconds)
        worker = Worker(db, handlers(settings), policy=policy, resources=found, idle=idle)
        task = asyncio.create_task(worker.run(stop))
        rules = asyncio.create_task(alert_rules.run_rules(db, settings, stop))
        try:
            yield worker
        finally:
            stop.set()
            for running in (task, rules):
                with contextlib.suppress(asyncio.CancelledError):
                    await running
