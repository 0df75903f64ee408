"""``orderwatch demo``: the service against the built-in Shopee sandbox, so a newcomer sees
orders move from paid to delivered within a minute, with nothing to configure.

One process serves both: the sandbox on a loopback port of its own (it creates an order
every ``pace`` seconds, pushes its changes, and carries arranged parcels to delivery) and
orderwatch on ``--host``/``--port`` with its worker and pollers, on the configured database
(SQLite by default). A pretend warehouse walks every paid order through picking, packing
and ready-to-ship as operator commands, which makes orderwatch arrange its shipment; the
log says what happens, and ``GET /v1/orders`` (or the dashboard) shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import sqlalchemy as sa
import uvicorn

from handlers.shopee.sandbox import ShopeeSandbox, create_sandbox
from handlers.shopee.tokens import set_tokens
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.migrate import upgrade
from service.models import Order
from service.settings import Secret, Settings
from service.stream import Server
from statemachines.events import Event, EventKind

log = logging.getLogger("orderwatch.demo")

PARTNER = 1_000_001
SHOP = 600_000_001
WAREHOUSE_STEPS = ("start_picking", "pack", "mark_ready")


class _Server(Server):
    """A uvicorn server that leaves signals to the demo (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _approved(db: Database) -> list[tuple[str, str]]:
    with db.read() as conn:
        query = sa.select(Order.order_id, Order.shop_id).where(
            Order.platform == "shopee", Order.state == "approved"
        )
        return [(row.order_id, row.shop_id) for row in conn.execute(query)]


def _states(db: Database) -> Counter[str]:
    with db.read() as conn:
        query = (
            sa.select(Order.state, sa.func.count()).where(Order.platform == "shopee").group_by(Order.state)
        )
        return Counter({state: n for state, n in conn.execute(query)})


def _warehouse_steps(order_id: str, shop_id: str) -> list[Event]:
    now = datetime.now(UTC)
    return [
        Event(
            platform="shopee",
            shop_id=shop_id,
            order_id=order_id,
            kind=EventKind.ORDER_COMMAND,
            status=trigger,
            occurred_at=now + timedelta(milliseconds=i),  # one after the other
            dedupe_key=f"demo-warehouse:{order_id}:{trigger}",
            source="command",
            actor="demo-warehouse",
            reason="the demo's warehouse",
        )
        for i, trigger in enumerate(WAREHOUSE_STEPS)
    ]


async def _warehouse(db: Database, every: float) -> None:
    """Pick, pack and mark ready every paid order, as a warehouse team would."""
    while True:
        for order_id, shop_id in await anyio.to_thread.run_sync(_approved, db):
            await anyio.to_thread.run_sync(ingest, db, _warehouse_steps(order_id, shop_id))
            log.info("demo warehouse: order %s picked, packed and ready to ship", order_id)
        await asyncio.sleep(every)


async def _report(db: Database, every: float) -> None:
    """Say every so often how many orders are in each state."""
    while True:
        await asyncio.sleep(every)
        states = await anyio.to_thread.run_sync(_states, db)
        log.info(
            "demo: orders by state: %s",
            ", ".join(f"{s} {n}" for s, n in sorted(states.items())) or "none yet",
        )


async def run_demo(settings: Settings, host: str, port: int, pace: float) -> None:
    """Serve the sandbox and orderwatch until interrupted."""
    key = secrets.token_hex(16)  # made up for this run: the sandbox and orderwatch share it
    sandbox_port = _free_port("127.0.0.1")
    sandbox_base = f"http://127.0.0.1:{sandbox_port}"
    push_url = f"http://127.0.0.1:{port}/webhooks/shopee"
    settings = replace(
        settings,
        shopee_partner_id=str(PARTNER),
        shopee_partner_keys=(Secret(key),),
        shopee_api_base=sandbox_base,
        shopee_push_url=push_url,
        shopee_reconcile_seconds=30.0,
        tracking_seconds=max(1.0, pace),
    )
    await anyio.to_thread.run_sync(upgrade, settings.database_url)
    db = Database(settings.database_url)
    sandbox_app = create_sandbox(PARTNER, key, push_url=push_url, seed=secrets.randbelow(10**6))
    sandbox: ShopeeSandbox = sandbox_app.state.sandbox
    token = secrets.token_hex(16)
    sandbox.add_shop(SHOP, access_token=token, shop_name="Demo shop")
    await anyio.to_thread.run_sync(lambda: set_tokens(db, str(SHOP), token))
    app = create_app(settings, db, pollers=True, worker=True)
    level = settings.log_level.lower()
    servers = [
        _Server(uvicorn.Config(sandbox_app, host="127.0.0.1", port=sandbox_port, log_level="warning")),
        _Server(uvicorn.Config(app, host=host, port=port, log_level=level, access_log=False)),
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM"):
        loop.add_signal_handler(getattr(signal, name), stop)
    log.info(
        "demo: the Shopee sandbox is at %s; orderwatch at http://%s:%d (try /v1/orders)",
        sandbox_base,
        host,
        port,
    )
    try:
        async with anyio.create_task_group() as group:
            for server in servers:
                group.start_soon(server.serve)
            while not all(server.started for server in servers):
                await asyncio.sleep(0.05)
            sandbox.start_demo(pace_seconds=pace, shop_id=SHOP)
            log.info("demo: a new order every %.1f s; each is delivered within about a minute", pace)
            async with anyio.create_task_group() as helpers:
                helpers.start_soon(_warehouse, db, min(1.0, pace))
                helpers.start_soon(_report, db, 10.0)
                while not any(server.should_exit for server in servers):
                    await asyncio.sleep(0.2)
                sandbox.stop_demo()
                for server in servers:
                    server.should_exit = True  # both shut down cleanly, lifespans included
                helpers.cancel_scope.cancel()
    finally:
        with contextlib.suppress(Exception):
            sandbox.stop_demo()
        db.dispose()
