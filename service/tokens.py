"""Shops' Open API access tokens: read from ``shops``, refreshed before they expire.

Shopee's access tokens live hours and a refresh token can be spent once. A token that
expires within :data:`AHEAD` is refreshed first; the new pair is stored only if nobody
else stored one meanwhile (the refresh token we spent is still the stored one), so two
workers refreshing at once keep a working pair.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio
import sqlalchemy as sa

from service.db import Database
from service.models import SHOPS

log = logging.getLogger("orderwatch.tokens")

AHEAD = timedelta(minutes=10)


class NotAuthorized(Exception):
    """The shop has no access token: the seller has not authorized the app for it."""


class Refresher(Protocol):
    """The client call that refreshes a token pair."""

    async def refresh_access_token(self, shop_id: str, refresh_token: str) -> Any: ...


def _read(db: Database, platform: str, shop_id: str) -> Any:
    with db.read() as conn:
        query = sa.select(SHOPS.c.access_token, SHOPS.c.refresh_token, SHOPS.c.token_expires_at).where(
            SHOPS.c.platform == platform, SHOPS.c.shop_id == shop_id
        )
        return conn.execute(query).first()


def _store(db: Database, platform: str, shop_id: str, spent: str, pair: Any, now: datetime) -> None:
    def work(conn: Any) -> None:
        conn.execute(
            SHOPS.update()
            .where(SHOPS.c.platform == platform, SHOPS.c.shop_id == shop_id, SHOPS.c.refresh_token == spent)
            .values(
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                token_expires_at=now + timedelta(seconds=int(pair.expire_in)),
            )
        )

    db.run_write(work)


async def access_token(db: Database, client: Refresher, shop_id: str, platform: str = "shopee") -> str:
    """A usable access token of the shop, refreshed first when it is about to expire."""
    row = await anyio.to_thread.run_sync(_read, db, platform, shop_id)
    if row is None or not row.access_token:
        raise NotAuthorized(f"{platform} shop {shop_id} has not authorized orderwatch (no access token)")
    now = datetime.now(UTC)
    if row.token_expires_at is None or row.token_expires_at - now > AHEAD or not row.refresh_token:
        return str(row.access_token)
    pair = await client.refresh_access_token(shop_id, row.refresh_token)
    await anyio.to_thread.run_sync(_store, db, platform, shop_id, row.refresh_token, pair, now)
    log.info("%s shop %s: access token refreshed", platform, shop_id)
    fresh = await anyio.to_thread.run_sync(_read, db, platform, shop_id)
    return str(fresh.access_token)
