"""HTTP routes for stored pushes that failed to apply: ``GET /v1/pushes?state=failed``
(viewer) pages them, ``POST /v1/pushes/{push_id}/reapply`` (operator) applies one again
after a fix (service/push_failures.py tells why they exist)."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import inbox, push_failures
from service.auth import authorize
from service.db import Database
from service.errors import ApiError

STATES = ("failed",)  # the one listing offered: the pushes someone must look at
MAX_ID_DIGITS = 18  # a push id is a 63-bit integer: longer is no push


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _limit(text: str | None) -> int:
    if not text:
        return 100
    if not text.isdigit() or len(text) > 4 or not 1 <= int(text) <= push_failures.MAX_LIMIT:
        raise ApiError(400, "bad_query", f"limit must be between 1 and {push_failures.MAX_LIMIT}")
    return int(text)


def _push_id(request: Request) -> int:
    text = str(request.path_params["push_id"])
    if not text.isdigit() or len(text) > MAX_ID_DIGITS:  # by length before converting
        raise ApiError(404, "not_found", "a push id is a number")
    return int(text)


async def list_pushes(request: Request) -> Response:
    """Stored pushes that failed to apply, oldest first, keyset-paginated (no bodies)."""
    authorize(request, "viewer")
    q = request.query_params
    state = q.get("state") or "failed"
    if state not in STATES:
        raise ApiError(400, "bad_query", "state must be failed")
    limit, cursor = _limit(q.get("limit")), q.get("cursor") or None
    db = _db(request)

    def work() -> dict[str, Any]:
        with db.read() as conn:
            return push_failures.list_failed(conn, limit=limit, cursor=cursor)

    return JSONResponse(await anyio.to_thread.run_sync(work))


async def reapply_push(request: Request) -> Response:
    """Apply a failed push again (operator); the push as it is now, and its events' count."""
    caller = authorize(request, "operator")
    push_id = _push_id(request)
    db, parsers = _db(request), request.app.state.push_parsers
    done = await anyio.to_thread.run_sync(lambda: inbox.reapply(db, parsers, [push_id], actor=caller.name)[0])
    if done.outcome == "not_found":
        raise ApiError(404, "not_found", f"no push {push_id}")
    if done.outcome == "not_failed":
        raise ApiError(409, "push_not_failed", f"push {push_id} has not failed: nothing to re-apply")
    if done.outcome == "failed":
        raise ApiError(422, "push_still_fails", f"push {push_id} still fails to apply: {done.error}")

    def show() -> dict[str, Any] | None:
        with db.read() as conn:
            return push_failures.get_push(conn, push_id)

    return JSONResponse({"push": await anyio.to_thread.run_sync(show), "events": done.events})


ROUTES = [
    Route("/v1/pushes", list_pushes),
    Route("/v1/pushes/{push_id}/reapply", reapply_push, methods=["POST"]),
]
