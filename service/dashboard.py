"""The dashboard at ``/``: server-rendered HTML over the read model, updated live.

Who may look: the read API's rule. With tokens configured, a viewer or operator token is
needed: as a ``Bearer`` header, or typed once into the sign-in form, which posts it to
``POST /sign-in`` (never in an address, so never in an access log or a browser's history);
that sets a cookie (HttpOnly, SameSite=Strict) for the following pages, and the form's script
keeps the token in the tab's sessionStorage to follow ``GET /v1/stream``. Without tokens only
loopback clients may look.

The live part of a page (``<main id="live">``) is fetched again with ``?partial=1`` when the
change stream says something changed (or every few seconds when the stream is not there).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service import dashboard_data as data
from service import dashboard_html as html
from service import limits, views
from service.auth import Caller, authorize
from service.db import Database
from service.errors import ApiError
from statemachines.machines import ORDER_STATES
from statemachines.maps import PLATFORMS

COOKIE = "orderwatch_token"
SIGN_IN_PATH = "/sign-in"
MAX_SIGN_IN_BODY = 4096  # a token and the page to go back to
# A token the cookie can carry: printable ASCII but the quote, comma, semicolon and backslash.
_COOKIE_SAFE = re.compile(r"[!#-+\--:<-\[\]-~]{1,1024}")


def _as_bearer(request: Request, token: str) -> Request:
    header = (b"authorization", f"Bearer {token}".encode("latin-1", "replace"))
    return Request({**request.scope, "headers": [*request.scope["headers"], header]})


def _caller(request: Request) -> Caller:
    """Who looks, by the read API's rule: a ``Bearer`` header or the sign-in cookie (pages never
    take a token from their address); :class:`ApiError` 401 or 403 otherwise."""
    if "authorization" in request.headers:
        return authorize(request, "viewer")
    offered = request.cookies.get(COOKIE)
    if offered:
        request = _as_bearer(request, offered)
    return authorize(request, "viewer")


def _here(request: Request) -> str:
    """This page's path and query, to come back to after signing in."""
    query = request.url.query
    return _back_to(request.url.path + (f"?{query}" if query else ""))


def _back_to(value: str | None) -> str:
    """Where to go after signing in: a path of this site, never another site (``//host``)."""
    value = (value or "/").strip()
    if not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 1000:
        return "/"
    return value if all(32 < ord(c) < 127 for c in value) else "/"


async def sign_in(request: Request) -> Response:
    """``POST /sign-in`` (a form: ``token``, ``next``): the token checked by the read API's rule,
    kept in the cookie, then back to ``next`` (303); the sign-in page again (401) if refused."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SIGN_IN_BODY:
            return HTMLResponse(
                html.message_page("Sign in", "That form is too large.", sign_in=True),
                413,
                headers=html.HEADERS,
            )
    try:
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    except ValueError:  # more fields than a sign-in form has
        form = {}
    token = (form.get("token") or [""])[0].strip()
    back = _back_to((form.get("next") or ["/"])[0])
    try:
        if not _COOKIE_SAFE.fullmatch(token):
            raise ApiError(401, "unauthorized", "A viewer or operator API token is needed.")
        authorize(_as_bearer(request, token), "viewer")
    except ApiError as exc:
        return _refused(exc, back)
    answer = RedirectResponse(back, status_code=303, headers=html.HEADERS)
    answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return answer


def _refused(exc: ApiError, back: str = "/") -> Response:
    if exc.status == 401:
        page = html.message_page(
            "Sign in", "A viewer or operator API token is needed.", sign_in=True, back=back
        )
    else:
        page = html.message_page("Forbidden", exc.message)
    return HTMLResponse(page, exc.status, headers=html.HEADERS)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:64] if value and "\x00" not in value else None


def _search(request: Request) -> data.Search:
    q = request.query_params
    cursor = q.get("cursor") or None
    return data.Search(
        q=_text(q.get("q")),
        shop=_text(q.get("shop")),
        state=_choice(q.get("state"), ORDER_STATES),
        platform=_choice(q.get("platform"), PLATFORMS),
        cursor=cursor,
    )


async def _read(request: Request, work: Any, *args: Any) -> Any:
    db: Database = request.app.state.db

    def run() -> Any:
        with db.read() as conn:
            return work(conn, *args)

    return await anyio.to_thread.run_sync(run)


def _answer(request: Request, whole: str, live: str, status: int = 200) -> Response:
    partial = request.query_params.get("partial") == "1"
    return HTMLResponse(live if partial else whole, status_code=status, headers=html.HEADERS)


def _index_live(
    conn: Any, search: data.Search, cache: data.CountsCache, db: Database
) -> tuple[str, str | None]:
    head = data.stream_head(conn)  # first: a change made while drawing is sent again, not lost
    found, next_cursor = data.orders(conn, search)
    live = (
        html.counts(cache.get(db))
        + html.alerts(data.open_alerts(conn))
        + html.order_list(found, next_cursor, search)
    )
    return live, head


async def index(request: Request) -> Response:
    """``GET /``: counts, open alerts and the order list."""
    try:
        _caller(request)
    except ApiError as exc:
        return _refused(exc, _here(request))
    search = _search(request)
    cache = getattr(request.app.state, "dashboard_counts", None)
    if cache is None:  # made here, in the event loop: one per application
        cache = request.app.state.dashboard_counts = data.CountsCache()
    live, head = await _read(request, _index_live, search, cache, request.app.state.db)
    whole = html.page("Dashboard", "", live, head, html.search_form(search))
    return _answer(request, whole, live)


def _order_live(conn: Any, platform: str, order_id: str) -> tuple[str | None, str | None]:
    head = data.stream_head(conn)
    order = views.get_order(conn, platform, order_id)
    if order is None:
        return None, None
    return html.order_detail(order, data.timeline(order)), head


async def order_page(request: Request) -> Response:
    """``GET /orders/{platform}/{order_id}``: one order, its packages, checkpoints and timeline."""
    try:
        _caller(request)
    except ApiError as exc:
        return _refused(exc, _here(request))
    platform, order_id = request.path_params["platform"], request.path_params["order_id"]
    live, head = None, None
    if platform in PLATFORMS and "\x00" not in order_id and len(order_id) <= limits.MAX_ID:
        live, head = await _read(request, _order_live, platform, order_id)
    title = f"{platform} order {order_id}"
    if live is None:
        text = f'<h2>Not found</h2><p class="empty">no {html.e(platform)} order {html.e(order_id)}</p>'
        return _answer(request, html.page(title, "", text), text, 404)
    return _answer(request, html.page(title, "", live, head), live)
