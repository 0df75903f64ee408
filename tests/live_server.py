"""Serve an ASGI app with uvicorn on a free loopback port, in a thread, for real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from service.stream import Server


class _Server(Server):
    """orderwatch's server, that notices ``should_exit`` within 5 ms.

    uvicorn looks every 100 ms, and each of the suite's some 350 servers is waited for as
    it stops. The shutdown itself (streams ended, connections closed, the lifespan's end)
    is orderwatch's and uvicorn's own."""

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):  # uvicorn's housekeeping, every 100 ms as before
            for _ in range(20):
                await asyncio.sleep(0.005)
                if self.should_exit:
                    return
            ticks += 1


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` (lifespan included) until the block ends; yields its base URL.

    The server is orderwatch's own (:class:`service.stream.Server`): its shutdown ends open
    event streams as ``orderwatch serve`` does."""
    # IPPROTO_TCP named, as when uvicorn binds the port itself: asyncio sets TCP_NODELAY only
    # on sockets of that protocol, and without it every keep-alive answer waited ~40 ms for
    # the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
