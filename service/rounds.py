"""Work done in rounds on a schedule (the pollers): one bad round is logged, never fatal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("orderwatch.rounds")


async def every(
    interval: float, stop: asyncio.Event | None, round_: Callable[[], Awaitable[Any]], what: str
) -> None:
    """Run ``round_`` every ``interval`` seconds until ``stop`` is set (or the task is
    cancelled); a round that raises is logged as ``what`` and the next one comes on time."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await round_()
        except Exception:  # noqa: BLE001 - the schedule must outlive one bad round
            log.exception("%s round failed", what)
        # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a cancellation
        # that lands as its timeout fires, and the loop would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
