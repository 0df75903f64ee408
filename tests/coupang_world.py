"""The Coupang sandbox served for a test, a client of it, and orderwatch settings that talk to it."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from handlers.coupang.client import CoupangClient
from handlers.coupang.sandbox import CoupangSandbox, create_sandbox
from service.settings import Secret, Settings
from tests.live_server import serve

VENDOR = "A00012345"
ACCESS = "7b1c2d3e-access-key-for-tests"
SECRET = "coupang-secret-key-for-tests-0001"


def start_sandbox(stack: ExitStack, *, seed: int = 0, **options: Any) -> tuple[CoupangSandbox, str]:
    """Serve a sandbox of the test vendor for the duration of ``stack``; it and its URL."""
    app = create_sandbox(VENDOR, ACCESS, SECRET, seed=seed, **options)
    base = stack.enter_context(serve(app))
    return app.state.sandbox, base


def client(base: str, **options: Any) -> CoupangClient:
    """A client of the sandbox at ``base`` with fast retries."""
    settings: dict[str, Any] = {"vendor_id": VENDOR, "backoff": 0.001, "timeout": 5.0}
    settings.update(options)
    return CoupangClient(base, ACCESS, SECRET, **settings)


def sandbox_settings(database_url: str, *, api: str, **extra: Any) -> Settings:
    """Settings of an orderwatch whose Coupang is the sandbox at ``api``."""
    return Settings(
        database_url=database_url,
        coupang_vendor_id=VENDOR,
        coupang_access_key=Secret(ACCESS),
        coupang_secret_key=Secret(SECRET),
        coupang_api_base=api,
        **extra,
    )
