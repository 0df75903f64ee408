"""The dashboard's HTML: small functions that render escaped strings, and the page's script."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from service.dashboard_data import Counts, Search
from statemachines.machines import ORDER_EXCEPTIONS, ORDER_STATES, PACKAGE_EXCEPTIONS, PACKAGE_STATES
from statemachines.maps import PLATFORMS

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}
header a{color:#fff;font-weight:600;text-decoration:none}#live-status{font-size:12px;opacity:.8}
main,form.search{padding:0 1em}h2{font-size:16px;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;margin-bottom:.8em}
th,td{border:1px solid #dde;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right}
.state{font-family:ui-monospace,monospace}.exception{color:#b00020;font-weight:600}
.empty{color:#888}form.search{margin:1em 0;display:flex;gap:.5em;flex-wrap:wrap}
input,select,button{font:inherit;padding:.2em .4em}.pager{margin:.5em 0 2em}
"""

SCRIPT = """
(function () {
  var KEY = "orderwatch_token", live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var saved = sessionStorage.getItem(KEY), auth = saved ? {Authorization: "Bearer " + saved} : {};
  var timer = null, polling = false, last = live.getAttribute("data-after");
  function refresh() {
    timer = null;
    var url = new URL(location.href);
    url.searchParams.set("partial", "1");
    fetch(url, {headers: auth, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () {});
  }
  function soon() { if (!timer) { timer = setTimeout(refresh, 250); } }
  function poll(why) {
    status.textContent = "polling every 5 s (" + why + ")";
    if (!polling) { polling = true; setInterval(refresh, 5000); }
  }
  async function follow() {
    var headers = Object.assign({Accept: "text/event-stream"}, auth), answer = null;
    if (last) { headers["Last-Event-ID"] = last; }
    try { answer = await fetch("/v1/stream", {headers: headers, credentials: "same-origin"}); } catch (e) {}
    if (!answer) { status.textContent = "reconnecting"; setTimeout(follow, 3000); return; }
    if (!answer.ok || !answer.body) { poll("stream answered " + answer.status); return; }
    status.textContent = "live";
    var reader = answer.body.getReader(), decoder = new TextDecoder(), buffer = "";
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) { break; }
        buffer += decoder.decode(chunk.value, {stream: true}).replace(/\\r\\n?/g, "\\n");
        var end;
        while ((end = buffer.indexOf("\\n\\n")) >= 0) {
          var block = buffer.slice(0, end), data = false;
          buffer = buffer.slice(end + 2);
          block.split("\\n").forEach(function (line) {
            if (line.indexOf("id:") === 0) { last = line.slice(3).trim(); }
            else if (line.indexOf("data:") === 0) { data = true; }
          });
          if (data) { soon(); }
        }
      }
    } catch (e) {}
    status.textContent = "reconnecting";
    soon();
    setTimeout(follow, 1000);
  }
  follow();
})();
"""


# The sign-in form posts the token (never in an address); its script keeps it for this tab,
# which follows GET /v1/stream with it (the stream takes a Bearer header, not the cookie).
SIGN_IN_SCRIPT = """
document.getElementById("sign-in").addEventListener("submit", function (event) {
  sessionStorage.setItem("orderwatch_token", event.target.elements.token.value.trim());
});
"""




def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


# The page runs no script but its own (by hash), loads nothing from elsewhere, may not be
# framed, and sends no Referer.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src "
    + _script_hash(SCRIPT) + " " + _script_hash(SIGN_IN_SCRIPT)
    + "; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def e(value: object) -> str:
    """Escaped text ('' for None)."""
    return "" if value is None else escape(str(value))


def _link(path: str, params: dict[str, str | None]) -> str:
    kept = {k: v for k, v in params.items() if v}
    return escape(path + ("?" + urlencode(kept) if kept else ""))


def order_href(platform: str, order_id: str) -> str:
    """The order page's path."""
    return f"/orders/{quote(platform, safe='')}/{quote(order_id, safe='')}"


def _state(state: str | None, exceptions: frozenset[str]) -> str:
    css = "state exception" if state in exceptions else "state"
    return f'<span class="{css}" data-state="{e(state)}">{e(state)}</span>'


def page(title: str, body: str, live: str, after: str | None = None, search: str = "") -> str:
    """A whole page: header, the search form (outside the live part) and the live part."""
    data = f' data-after="{e(after)}"' if after else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)} · orderwatch</title><style>{STYLE}</style></head><body>"
        '<header><a href="/">orderwatch</a><span id="live-status">connecting</span></header>'
        f'{search}{body}<main id="live"{data}>{live}</main><script>{SCRIPT}</script></body></html>'
    )


def message_page(title: str, text: str, sign_in: bool = False, back: str = "/") -> str:
    """A page that only says something (and may ask for a token, then go back to ``back``)."""
    form = (
        '<form id="sign-in" method="post" action="/sign-in">'
        '<label>API token <input type="password" name="token" autocomplete="off" required></label>'
        f' <input type="hidden" name="next" value="{e(back)}"> <button>Sign in</button></form>'
        f"<script>{SIGN_IN_SCRIPT}</script>"
        if sign_in
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} · orderwatch</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/">orderwatch</a></header><main><h2>{e(title)}</h2><p>{e(text)}</p>'
        f"{form}</main></body></html>"
    )


def _options(values: Iterable[str], chosen: str | None, everything: str) -> str:
    found = [f'<option value="">{e(everything)}</option>']
    for value in values:
        selected = " selected" if value == chosen else ""
        found.append(f'<option value="{e(value)}"{selected}>{e(value)}</option>')
    return "".join(found)


def search_form(search: Search) -> str:
    """The order search: id prefix, shop, state and platform."""
    return (
        '<form class="search" method="get" action="/" role="search">'
        f'<input name="q" placeholder="order id (or its start)" value="{e(search.q)}" aria-label="order id">'
        f'<input name="shop" placeholder="shop id" value="{e(search.shop)}" aria-label="shop id">'
        f'<select name="state" aria-label="state">'
        f"{_options(ORDER_STATES, search.state, 'any state')}</select>"
        f'<select name="platform" aria-label="platform">'
        f"{_options(PLATFORMS, search.platform, 'any platform')}</select>"
        "<button>Search</button></form>"
    )


def _count_table(
    caption: str,
    found: dict[tuple[str, str], dict[str, int]],
    order: Sequence[str],
    exceptions: frozenset[str],
    link: bool,
) -> str:
    if not found:
        return f'<h2>{e(caption)}</h2><p class="empty">none yet</p>'
    present = {state for by_state in found.values() for state in by_state}
    states = [s for s in order if s in present] + sorted(present - set(order))
    head = "".join(f"<th>{_state(s, exceptions)}</th>" for s in states)
    rows = []
    for (platform, shop), by_state in sorted(found.items()):
        cells = []
        for state in states:
            number = by_state.get(state, 0)
            text = str(number)
            if link and number:
                href = _link("/", {"platform": platform, "shop": shop, "state": state})
                text = f'<a href="{href}">{number}</a>'
            cells.append(f'<td class="n">{text}</td>')
        total = sum(by_state.values())
        rows.append(
            f"<tr><td>{e(platform)}</td><td>{e(shop)}</td>{''.join(cells)}<td class='n'>{total}</td></tr>"
        )
    return (
        f'<h2>{e(caption)}</h2><table class="counts" data-kind="{e(caption)}"><tr><th>platform</th>'
        f"<th>shop</th>{head}<th>total</th></tr>{''.join(rows)}</table>"
    )


def counts(found: Counts) -> str:
    """Order and package counts per platform, shop and state."""
    at = found.at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        f'<p class="empty" id="counts-at">counts as of {at}</p>'
        + _count_table("Orders", found.orders, ORDER_STATES, ORDER_EXCEPTIONS, True)
        + _count_table("Packages", found.packages, PACKAGE_STATES, PACKAGE_EXCEPTIONS, False)
    )


def alerts(found: list[dict[str, Any]]) -> str:
    """The open alerts."""
    if not found:
        return '<h2>Open alerts</h2><p class="empty">no open alerts</p>'
    rows = "".join(
        f"<tr><td>{e(a['opened_at'])}</td><td>{e(a['kind'])}</td>"
        f'<td><a href="{e(order_href(a["platform"], a["order_id"]))}">'
        f"{e(a['platform'])} {e(a['order_id'])}</a></td><td>{e(a['package_id'])}</td>"
        f"<td>{e(a['message'])}</td></tr>"
        for a in found
    )
    return (
        f'<h2>Open alerts ({len(found)})</h2><table class="alerts"><tr><th>opened</th><th>kind</th>'
        f"<th>order</th><th>package</th><th>message</th></tr>{rows}</table>"
    )


def order_list(found: list[dict[str, Any]], next_cursor: str | None, search: Search) -> str:
    """A page of the order list, with a link to the next page."""
    if not found:
        return '<h2>Orders</h2><p class="empty" id="no-orders">no orders match</p>'
    rows = "".join(
        f'<tr data-order="{e(o["platform"])}/{e(o["order_id"])}">'
        f'<td><a href="{e(order_href(o["platform"], o["order_id"]))}">{e(o["order_id"])}</a></td>'
        f"<td>{e(o['platform'])}</td><td>{e(o['shop_id'])}</td><td>{e(o['main_shop_id'])}</td>"
        f"<td>{_state(o['state'], ORDER_EXCEPTIONS)}</td><td>{e(o['platform_status'])}</td>"
        f"<td>{e(o['updated_at'])}</td></tr>"
        for o in found
    )
    params = {"q": search.q, "shop": search.shop, "state": search.state, "platform": search.platform}
    pager = []
    if search.cursor:
        pager.append(f'<a href="{_link("/", params)}">first page</a>')
    if next_cursor:
        pager.append(f'<a rel="next" href="{_link("/", {**params, "cursor": next_cursor})}">next page</a>')
    return (
        '<h2>Orders</h2><table class="orders"><tr><th>order</th><th>platform</th><th>shop</th>'
        f"<th>main shop</th><th>state</th><th>marketplace status</th><th>updated</th></tr>{rows}</table>"
        f'<div class="pager">{" · ".join(pager)}</div>'
    )


def order_detail(order: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """An order: its fields, packages with checkpoints, and the whole timeline."""
    facts = (
        f'<h2>{e(order["platform"])} order {e(order["order_id"])}</h2><table class="order">'
        f'<tr><th>state</th><td id="order-state">{_state(order["state"], ORDER_EXCEPTIONS)}</td></tr>'
        f"<tr><th>marketplace status</th><td>{e(order['platform_status'])}</td></tr>"
        f"<tr><th>shop</th><td>{e(order['shop_id'])}</td></tr>"
        f"<tr><th>main shop</th><td>{e(order['main_shop_id'])}</td></tr>"
        f"<tr><th>created</th><td>{e(order['created_at'])}</td></tr>"
        f"<tr><th>updated</th><td>{e(order['updated_at'])}</td></tr></table>"
    )
    packages = []
    for p in order["packages"]:
        checkpoints = "".join(
            f"<tr><td>{e(c['at'])}</td><td>{e(c['raw_status'])}</td><td>{e(c['description'])}</td>"
            f"<td>{e(c['location'])}</td></tr>"
            for c in p["checkpoints"]
        )
        table = (
            f'<table class="checkpoints"><tr><th>at</th><th>status</th><th>description</th><th>location</th>'
            f"</tr>{checkpoints}</table>"
            if checkpoints
            else '<p class="empty">no checkpoints yet</p>'
        )
        packages.append(
            f"<h2>Package {e(p['package_id'])} {_state(p['state'], PACKAGE_EXCEPTIONS)}</h2>"
            f"<p>carrier {e(p['carrier']) or '—'}, tracking number {e(p['tracking_number']) or '—'}, "
            f"updated {e(p['updated_at'])}</p>{table}"
        )
    if not packages:
        packages.append('<h2>Packages</h2><p class="empty">no packages yet</p>')
    rows = "".join(
        f"<tr><td>{e(t['at'])}</td><td>{e(t['what'])}</td>"
        + (
            f'<td colspan="3">checkpoint {e(t["raw_status"])}: {e(t["description"])}</td><td></td>'
            if t.get("checkpoint")
            else f"<td>{e(t['from'])} → {e(t['to'])}</td><td>{e(t['trigger'])}</td>"
            f"<td>{e(t['source'])}{' (catch-up)' if t['catch_up'] else ''}</td><td>{e(t['event_id'])}</td>"
        )
        + "</tr>"
        for t in entries
    )
    timeline = (
        '<h2>Timeline</h2><table class="timeline"><tr><th>at</th><th>what</th><th>change</th>'
        f"<th>trigger</th><th>source</th><th>event</th></tr>{rows}</table>"
    )
    return facts + "".join(packages) + timeline
