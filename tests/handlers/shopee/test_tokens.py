"""Shops' access tokens: used while fresh, refreshed against the sandbox before they expire."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from handlers.shopee.client import ShopeeClient
from handlers.shopee.sandbox import ShopeeSandbox, create_sandbox
from handlers.shopee.tokens import NotAuthorized, access_token, authorized_shops, set_tokens
from service.db import Database
from tests.live_server import serve

PARTNER, KEY, SHOP = 2001234, "sandbox-partner-key", 680000123


def test_a_token_about_to_expire_is_refreshed_and_the_new_pair_stored(db: Database) -> None:
    app = create_sandbox(PARTNER, KEY, seed=3)
    sandbox: ShopeeSandbox = app.state.sandbox
    shop = sandbox.add_shop(SHOP, access_token="old-access", refresh_token="old-refresh")
    soon = datetime.now(UTC) + timedelta(minutes=2)
    set_tokens(db, str(SHOP), "old-access", "old-refresh", soon)

    async def get() -> str:
        with serve(app) as base:
            async with ShopeeClient(base, PARTNER, KEY) as client:
                return await access_token(db, client, str(SHOP))

    token = asyncio.run(get())
    assert token == shop.access_token != "old-access"
    assert [s.access_token for s in authorized_shops(db)] == [token]


def test_a_fresh_token_is_used_as_it_is_and_a_shop_without_one_is_not_authorized(db: Database) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    set_tokens(db, str(SHOP), "fresh-access", "fresh-refresh", later)

    class NoCalls:
        async def refresh_access_token(self, shop_id: str, refresh_token: str) -> None:
            raise AssertionError("no refresh for a fresh token")

    assert asyncio.run(access_token(db, NoCalls(), str(SHOP))) == "fresh-access"
    with pytest.raises(NotAuthorized, match="has not authorized"):
        asyncio.run(access_token(db, NoCalls(), "999"))


def test_the_shops_command_stores_tokens_read_from_standard_input(db: Database, database_url: str) -> None:
    from tests.service.test_cli import run

    result = run("shops", "authorize", str(SHOP), url=database_url, input="access-from-stdin\nrefresh-too\n")
    assert result.returncode == 0, result.stderr
    assert "tokens stored" in result.stdout and "access-from-stdin" not in result.stdout + result.stderr
    assert [s.access_token for s in authorized_shops(db)] == ["access-from-stdin"]
    empty = run("shops", "authorize", str(SHOP), url=database_url, input="")
    assert empty.returncode == 2 and "standard input" in empty.stderr
