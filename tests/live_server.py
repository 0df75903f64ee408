"""Serve an ASGI app with uvicorn on a free loopback port, in a thread, for real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from service.stream import Server


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` (lifespan included) until the block ends; yields its base URL.

    The server is orderwatch's own (:class:`service.stream.Server`): its shutdown ends open
    event streams as ``orderwatch serve`` does. (tests/conftest.py shortens uvicorn's
    sleeps, so that a server stops within milliseconds.)"""
    # IPPROTO_TCP named, as when uvicorn binds the port itself: asyncio sets TCP_NODELAY only
    # on sockets of that protocol, and without it every keep-alive answer waited ~40 ms for
    # the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
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
