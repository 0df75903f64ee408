"""Shopee shops' Open API tokens: stored in ``shops`` (``orderwatch shops authorize``),
read from there, refreshed before they expire.

Shopee's access tokens live hours and a refresh token can be spent once. A token that
expires within :data:`AHEAD` is refreshed first; the new pair is stored only if nobody
else stored one meanwhile (the refresh token we spent is still the stored one), so two
workers refreshing at once keep a working pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.shopee.push import PLATFORM
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


@dataclass(frozen=True)
class AuthorizedShop:
    """A shop the poll may ask about, with its access token."""

    shop_id: str
    access_token: str


def authorized_shops(db: Database) -> list[AuthorizedShop]:
    """The Shopee shops that have an access token."""
    query = (
        sa.select(SHOPS.c.shop_id, SHOPS.c.access_token)
        .where(SHOPS.c.platform == PLATFORM, SHOPS.c.access_token.is_not(None))
        .order_by(SHOPS.c.shop_id)
    )
    with db.read() as conn:
        return [AuthorizedShop(row.shop_id, row.access_token) for row in conn.execute(query)]


def set_tokens(
    db: Database,
    shop_id: str,
    access_token: str,
    refresh_token: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Store a shop's Open API tokens (creating the shop if it is new)."""

    def work(conn: Connection) -> None:
        values = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_expires_at": expires_at,
        }
        found = conn.execute(
            SHOPS.update().where(SHOPS.c.platform == PLATFORM, SHOPS.c.shop_id == shop_id).values(**values)
        )
        if not found.rowcount:
            now = datetime.now(UTC)
            conn.execute(SHOPS.insert().values(platform=PLATFORM, shop_id=shop_id, created_at=now, **values))

    db.run_write(work)


async def access_token(db: Database, client: Refresher, shop_id: str, platform: str = PLATFORM) -> str:
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
