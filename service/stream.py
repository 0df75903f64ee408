"""``GET /v1/stream``: the change feed as server-sent events.

Each change is one event: ``id:`` its cursor, ``event: change``, ``data:`` the change's
JSON (the shape of ``GET /v1/changes`` items). A client resumes after the last id it saw
with the ``Last-Event-ID`` header (browsers' EventSource sends it on reconnect) or
``?after=``; with neither, the stream starts at the current end (only new changes).
Between changes a keep-alive comment goes out every ``KEEPALIVE_SECONDS``. The feed is
read every ``POLL_SECONDS`` (several processes may write it, so polling the table is the
one signal they all share). When the server shuts down, every stream ends cleanly: the
server sets the application's ``stop_streams`` event before it waits for connections.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import uvicorn
from starlette.requests import Request
from starlette.responses import StreamingResponse

from service import changes
from service.db import Database, StorageUnavailable
from service.errors import ApiError

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
BATCH = 500
RETRY_MS = 2000  # what a browser waits before reconnecting


def start_position(request: Request, db: Database) -> int:
    """Where a stream starts: Last-Event-ID, else ``?after=``, else the current end."""
    given = request.headers.get("last-event-id") or request.query_params.get("after")
    if given:
        position = changes.parse_cursor(given)
        if position is None:
            raise ApiError(400, "bad_query", "after (or Last-Event-ID) must be a cursor of the change feed")
        return position
    with db.read() as conn:
        return changes.end(conn)


def frame(change: dict[str, Any]) -> bytes:
    """One server-sent event for a change."""
    return b"id: %s\nevent: change\ndata: %s\n\n" % (change["cursor"].encode(), orjson.dumps(change))


def _page(db: Database, after: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        return changes.read(conn, after, BATCH)


async def _events(request: Request, db: Database, after: int, stop: threading.Event) -> AsyncIterator[bytes]:
    yield b"retry: %d\n: stream of orderwatch changes\n\n" % RETRY_MS
    quiet_since = time.monotonic()
    while not stop.is_set():
        try:
            page = await anyio.to_thread.run_sync(_page, db, after)
        except StorageUnavailable:
            page = []  # the database is away: keep the stream, look again
        if page:
            after = int(page[-1]["cursor"])
            yield b"".join(frame(change) for change in page)
            quiet_since = time.monotonic()
            if len(page) == BATCH:
                continue
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        if await request.is_disconnected():
            return
        await anyio.sleep(POLL_SECONDS)


def response(request: Request, db: Database, stop: threading.Event) -> StreamingResponse:
    """The streaming answer, from the request's start position."""
    after = start_position(request, db)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(request, db, after, stop), media_type="text/event-stream", headers=headers
    )


class Server(uvicorn.Server):
    """uvicorn's server, ending the application's streams before it waits for connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        stop = getattr(state, "stop_streams", None)
        if isinstance(stop, threading.Event):
            stop.set()
        await super().shutdown(sockets)
