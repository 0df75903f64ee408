"""Which handler runs which outbox job kind, and running the outbox in a process.

Job kinds: those of each configured marketplace (its ``job_handlers``: service/marketplace.py),
``alert`` (hands new alerts to the sinks at once: service/alert_rules.py), ``alert_send``
(one alert to one webhook sink: handlers/alerts/delivery.py) and ``noop`` (does nothing:
benchmarks and tests of the worker itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx

from handlers.alerts import configured as configured_sinks
from handlers.alerts import delivery as alert_delivery
from service import alert_rules
from service.db import Database
from service.marketplace import Clients, Marketplace
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


def handlers(settings: Settings, marketplaces: Iterable[Marketplace] = ()) -> dict[str, Handler]:
    """The handlers this process can run, by job kind: a marketplace's once it is configured."""
    found: dict[str, Handler] = {"noop": noop, "alert": alert_rules.dispatch_job, **alert_delivery.HANDLERS}
    for market in marketplaces:
        if market.configured(settings):
            found.update(market.job_handlers)
    return found


@contextlib.asynccontextmanager
async def resources(settings: Settings, clients: Clients | None = None) -> AsyncIterator[dict[str, Any]]:
    """What the handlers use: the settings, the alert sinks' client (closed at the end) and
    the marketplaces' ``clients``, opened by the caller and shared with its routes and pollers."""
    found: dict[str, Any] = {"settings": settings, **(clients or {})}
    async with contextlib.AsyncExitStack() as stack:
        if configured_sinks(settings):
            found["alerts_http"] = await stack.enter_async_context(httpx.AsyncClient())
        yield found


@contextlib.asynccontextmanager
async def running_outbox(
    settings: Settings,
    db: Database,
    marketplaces: Iterable[Marketplace],
    clients: Clients,
    policy: Policy | None = None,
    idle: float = 0.5,
) -> AsyncIterator[Worker]:
    """Run the outbox worker in this event loop for the duration of the block, its
    marketplace jobs on the marketplaces' ``clients``."""
    stop = asyncio.Event()
    async with resources(settings, clients) as found:
        policy = policy or Policy(attempts=settings.outbox_attempts, base=settings.outbox_backoff_seconds)
        worker = Worker(db, handlers(settings, marketplaces), policy=policy, resources=found, idle=idle)
        task = asyncio.create_task(worker.run(stop))
        rules = asyncio.create_task(alert_rules.run_rules(db, settings, stop))
        try:
            yield worker
        finally:
            stop.set()
            for running in (task, rules):
                with contextlib.suppress(asyncio.CancelledError):
                    await running
