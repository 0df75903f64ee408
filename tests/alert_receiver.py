"""A local webhook receiver for alert sinks: records what it is sent, answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live_server import serve


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.content)


@dataclass
class Receiver:
    """What was received, and the statuses to answer with next (then 200)."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        """The URL of a path on the receiver."""
        return f"{self.base}/{path.lstrip('/')}"

    def at(self, path: str) -> list[Received]:
        """The requests received at a path."""
        with self.lock:
            return [r for r in self.received if r.path == "/" + path.lstrip("/")]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Serve a receiver on a loopback port for the duration of the block."""
    found = Receiver()

    async def hook(request: Request) -> Response:
        content = await request.body()
        with found.lock:
            status = found.statuses.pop(0) if found.statuses else 200
            if status < 300:
                found.received.append(Received(request.url.path, dict(request.headers), content))
        return JSONResponse({"ok": status < 300}, status_code=status)

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    with serve(app) as base:
        found.base = base
        yield found
