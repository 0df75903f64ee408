"""The Shopee sandbox served for a test, and orderwatch settings that talk to it."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from handlers.shopee.sandbox import ShopeeSandbox, create_sandbox
from handlers.shopee.tokens import set_tokens
from service.db import Database
from service.settings import Secret, Settings
from tests.live_server import serve


def start_sandbox(
    stack: ExitStack, db: Database, *, partner: int, key: str, shop: int, token: str, seed: int
) -> tuple[ShopeeSandbox, str]:
    """Serve a sandbox with one authorized shop (known to ``db`` with its token); it and its URL."""
    app = create_sandbox(partner, key, seed=seed)
    sandbox: ShopeeSandbox = app.state.sandbox
    sandbox.pushes.configure(backoff=0.01)
    base = stack.enter_context(serve(app))
    sandbox.add_shop(shop, access_token=token)
    set_tokens(db, str(shop), token)
    return sandbox, base


def sandbox_settings(database_url: str, *, partner: int, key: str, api: str, **extra: Any) -> Settings:
    """Settings of an orderwatch whose Shopee is the sandbox at ``api``."""
    return Settings(
        database_url=database_url,
        shopee_partner_id=str(partner),
        shopee_partner_keys=(Secret(key),),
        shopee_api_base=api,
        **extra,
    )
