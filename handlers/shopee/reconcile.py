"""The Shopee reconciliation poll: catch the pushes that never came.

For every shop with an access token: list the orders Shopee updated since the last good
poll of that shop (less an overlap, for late writes on Shopee's side and clock skew), in
windows of at most 15 days, page by page; fetch the details of those whose status differs
from ours; ingest them as ``poll`` events (a fact already pushed has the same dedupe key
and changes nothing). The shop's cursor, persisted in ``poll_cursors``, moves only after
every ingest of the poll has committed, so a crash at any point re-polls, never skips.
The poll also learns each shop's Instant Mart relation once per process, and first of
all recovers the pushes Shopee could not deliver from its lost-push list
(lost_pushes.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import sqlalchemy as sa

from handlers.errors import MarketplaceError
from handlers.shopee.lost_pushes import LostReport, recover_lost_pushes
from handlers.shopee.orders import DetailLike, detail_events
from handlers.shopee.push import PLATFORM
from handlers.shopee.tokens import AuthorizedShop, authorized_shops
from service import shops
from service.cursors import read_cursor, write_cursor
from service.db import Database, StorageUnavailable
from service.ingest import ingest
from service.models import ORDERS
from service.rounds import every

log = logging.getLogger("orderwatch.reconcile")

MAX_WINDOW = 15 * 24 * 3600  # Shopee's get_order_list answers at most 15 days at once
DETAIL_CHUNK = 50  # order_sn_list takes at most 50


class ShopeeOrders(Protocol):
    """The calls of :class:`handlers.shopee.client.ShopeeClient` the poll makes."""

    async def get_order_list(
        self,
        shop_id: str,
        access_token: str,
        *,
        time_from: int,
        time_to: int,
        cursor: str = "",
        page_size: int = 100,
        time_range_field: str = "update_time",
    ) -> Any: ...

    async def get_order_detail(
        self, shop_id: str, access_token: str, order_sns: Sequence[str]
    ) -> Sequence[DetailLike]: ...

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class Report:
    """What one reconciliation poll did."""

    shops: int = 0
    listed: int = 0
    fetched: int = 0
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed_shops: list[str] = field(default_factory=list)
    lost: LostReport | None = None  # the lost pushes recovered first (None: not asked)


def cursor_name(shop_id: str) -> str:
    """The ``poll_cursors`` name of a shop's reconciliation cursor."""
    return f"{PLATFORM}:reconcile:{shop_id}"


# Paid orders not shipped yet: their detail has the ship-by deadline (pushes do not).
DEADLINE_STATUSES = ("READY_TO_SHIP", "PROCESSED", "RETRY_SHIP")


def platform_statuses(db: Database, order_ids: Sequence[str]) -> dict[str, str | None]:
    """Our last known Shopee status of each of ``order_ids`` that we know; None for a paid,
    unshipped order whose ship-by deadline we lack, so that its detail is fetched once."""
    found: dict[str, str | None] = {}
    with db.read() as conn:
        for start in range(0, len(order_ids), 500):
            chunk = list(order_ids[start : start + 500])
            query = sa.select(ORDERS.c.order_id, ORDERS.c.platform_status, ORDERS.c.ship_by).where(
                ORDERS.c.platform == PLATFORM, ORDERS.c.order_id.in_(chunk)
            )
            for row in conn.execute(query):
                lacking = row.ship_by is None and row.platform_status in DEADLINE_STATUSES
                found[row.order_id] = None if lacking else row.platform_status
    return found


def windows(start: int, end: int, size: int = MAX_WINDOW) -> list[tuple[int, int]]:
    """``[start, end]`` cut into windows of at most ``size`` seconds."""
    cuts = []
    while start < end:
        cuts.append((start, min(start + size, end)))
        start += size
    return cuts


class ShopeeReconciler:
    """Runs the reconciliation poll, once or on a schedule."""

    def __init__(
        self,
        db: Database,
        client: ShopeeOrders,
        *,
        overlap: float = 600.0,
        first_lookback: float = 3 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
        lost_pushes: bool = True,
    ) -> None:
        self.db = db
        self.client = client
        self.overlap = int(overlap)
        self.first_lookback = int(first_lookback)
        self.clock = clock
        self.lost_pushes = lost_pushes  # ask Shopee's lost-push list first, every round
        self._relations_learned: set[str] = set()
        self.last_success: float | None = None

    async def run_once(self) -> Report:
        """Poll every authorized shop once; a shop that fails is reported, the others go on."""
        report = Report()
        shops_ = await anyio.to_thread.run_sync(authorized_shops, self.db)
        # Lost pushes are the partner's, but with no shop authorized none are of ours.
        if self.lost_pushes and shops_:
            try:
                report.lost = await recover_lost_pushes(self.db, self.client)
            except (MarketplaceError, StorageUnavailable) as exc:
                log.warning("shopee lost pushes not recovered this round: %s", exc)
        for shop in shops_:
            report.shops += 1
            try:
                await self._learn_relation(shop)
                await self._reconcile(shop, report)
            except (MarketplaceError, StorageUnavailable) as exc:
                report.failed_shops.append(shop.shop_id)
                log.warning("shopee reconciliation of shop %s failed: %s", shop.shop_id, exc)
        if not report.failed_shops:
            self.last_success = self.clock()
        log.info(
            "shopee reconciliation: %d shops, %d orders listed, %d fetched, %d events %s",
            report.shops,
            report.listed,
            report.fetched,
            report.events,
            report.outcomes,
        )
        return report

    async def run_forever(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set (or the task is cancelled)."""
        await every(interval, stop, self.run_once, "shopee reconciliation")

    async def _reconcile(self, shop: AuthorizedShop, report: Report) -> None:
        name = cursor_name(shop.shop_id)
        now = int(self.clock())
        saved = await anyio.to_thread.run_sync(read_cursor, self.db, name)
        since = int(saved) if saved is not None else now - self.first_lookback
        listed: dict[str, str | None] = {}
        for time_from, time_to in windows(max(0, since - self.overlap), now):
            page_cursor = ""
            while True:
                page = await self.client.get_order_list(
                    shop.shop_id, shop.access_token, time_from=time_from, time_to=time_to, cursor=page_cursor
                )
                for order_sn, status in _summaries(page):
                    listed[order_sn] = status
                if not page.more or not page.next_cursor:
                    break
                page_cursor = page.next_cursor
        report.listed += len(listed)
        ours = await anyio.to_thread.run_sync(platform_statuses, self.db, list(listed))
        behind = [sn for sn, status in listed.items() if status is None or ours.get(sn, "") != status]
        for start in range(0, len(behind), DETAIL_CHUNK):
            details = await self.client.get_order_detail(
                shop.shop_id, shop.access_token, behind[start : start + DETAIL_CHUNK]
            )
            report.fetched += len(details)
            events = [e for d in details for e in detail_events(shop.shop_id, d, getattr(d, "raw", None))]
            answers = await anyio.to_thread.run_sync(ingest, self.db, events)
            report.events += len(events)
            for answer in answers:
                report.outcomes[answer.outcome] = report.outcomes.get(answer.outcome, 0) + 1
        await anyio.to_thread.run_sync(write_cursor, self.db, name, str(now))

    async def _learn_relation(self, shop: AuthorizedShop) -> None:
        ask = getattr(self.client, "get_shop_relation", None)
        if ask is None or shop.shop_id in self._relations_learned:
            return
        try:
            relation = await ask(shop.shop_id, shop.access_token)
        except MarketplaceError as exc:
            # The orders matter more than the relation: poll them anyway, ask again next time.
            log.warning("could not learn shop %s's Instant Mart relation: %s", shop.shop_id, exc)
            return
        self._relations_learned.add(shop.shop_id)
        main = getattr(relation, "main_shop_id", None)
        outlets = list(getattr(relation, "outlet_shop_ids", ()) or ())
        pairs = [(shop.shop_id, str(main))] if main and str(main) != shop.shop_id else []
        pairs += [(str(outlet), shop.shop_id) for outlet in outlets if str(outlet) != shop.shop_id]
        if pairs:
            changed = await anyio.to_thread.run_sync(shops.link_all, self.db, PLATFORM, pairs)
            log.info(
                "shop %s: learned %d Instant Mart links (%d orders changed)",
                shop.shop_id,
                len(pairs),
                changed,
            )


def _summaries(page: Any) -> list[tuple[str, str | None]]:
    """(order_sn, status or None) of each order of a page."""
    return list(page.status_of().items())
