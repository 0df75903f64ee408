"""The dashboard's pages over real HTTP: who may see them, what they show, search and paging."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from service.app import create_app
from service.auth import parse_tokens
from service.dashboard_data import CountsCache
from service.db import Database
from service.ingest import ingest
from service.settings import Settings
from tests.factories import order_event, package_event
from tests.live_server import serve

TOKENS = "desk:viewer-token-1:viewer,boss:operator-token-2:operator"
VIEWER = {"Authorization": "Bearer viewer-token-1"}


@pytest.fixture
def base(db: Database, database_url: str) -> Iterator[str]:
    settings = Settings(database_url=database_url, api_tokens=parse_tokens(TOKENS))
    with serve(create_app(settings, db, worker=False)) as url:
        yield url


def _orders_shown(page: str) -> list[str]:
    return re.findall(r'<tr data-order="([^"]+)">', page)


@pytest.mark.sends_secret_in_address
def test_without_a_token_the_dashboard_asks_for_one(base: str) -> None:
    for path in ("/", "/orders/shopee/X1", "/?token=viewer-token-1"):
        answer = httpx.get(base + path)
        assert answer.status_code == 401, path  # a token in the address is not taken
        assert answer.headers["content-type"].startswith("text/html")
        assert 'name="token"' in answer.text and 'method="post"' in answer.text
        assert "set-cookie" not in answer.headers
    assert httpx.get(base + "/", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_token_signed_in_by_the_form_is_kept_in_a_strict_http_only_cookie(base: str) -> None:
    with httpx.Client(base_url=base) as browser:
        asked = browser.get("/orders/shopee/none?partial=1")
        assert asked.status_code == 401
        assert 'name="next" value="/orders/shopee/none?partial=1"' in asked.text
        form = {"token": "viewer-token-1", "next": "/orders/shopee/none"}
        signed = browser.post("/sign-in", data=form)
        assert signed.status_code == 303 and signed.headers["location"] == "/orders/shopee/none"
        cookie = signed.headers["set-cookie"].lower()
        assert cookie.startswith("orderwatch_token=viewer-token-1")
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "viewer-token-1" not in signed.text + signed.headers["location"]
        assert browser.get("/").status_code == 200  # the cookie alone lets it in
        assert browser.get("/orders/shopee/none").status_code == 404


def test_sign_in_refuses_a_bad_token_and_never_sends_anyone_to_another_site(base: str) -> None:
    with httpx.Client(base_url=base) as browser:
        refused = browser.post("/sign-in", data={"token": "wrong", "next": "/"})
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert 'name="token"' in refused.text
        assert browser.post("/sign-in", data={"next": "/"}).status_code == 401
        for away in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", "/\\evil"):
            answer = browser.post("/sign-in", data={"token": "viewer-token-1", "next": away})
            assert answer.status_code == 303 and answer.headers["location"] == "/", away
        huge = browser.post("/sign-in", content=b"token=" + b"x" * 10_000)
        assert huge.status_code == 413


def test_the_access_log_never_shows_a_secret_sent_in_an_address() -> None:
    from service.access_log import redact

    assert redact("/?token=viewer-token-1&q=24") == "/?token=[redacted]&q=24"
    assert redact("/v1/orders?state=pending&access_token=abc&sign=def") == (
        "/v1/orders?state=pending&access_token=[redacted]&sign=[redacted]"
    )
    assert redact("/v1/orders?q=token") == "/v1/orders?q=token"
    assert redact("/healthz") == "/healthz"


def test_without_configured_tokens_loopback_may_look(db: Database, database_url: str) -> None:
    with serve(create_app(Settings(database_url=database_url), db, worker=False)) as url:
        assert httpx.get(url + "/").status_code == 200


def test_the_page_counts_orders_and_packages_per_shop_and_lists_open_alerts(db: Database, base: str) -> None:
    ingest(
        db,
        [
            order_event("A1", "UNPAID", 1, shop_id="11"),
            order_event("A2", "UNPAID", 2, shop_id="11"),
            order_event("A3", "READY_TO_SHIP", 3, shop_id="22"),
            package_event("A3", "P3", "LOGISTICS_PICKUP_DONE", 4, shop_id="22"),
            order_event("A4", "IN_CANCEL", 5, shop_id="22"),
        ],
    )
    page = httpx.get(base + "/", headers=VIEWER).text
    orders = page[page.index('data-kind="Orders"') : page.index('data-kind="Packages"')]
    assert re.search(r"<td>shopee</td><td>11</td>.*?>2</a></td>.*?<td class='n'>2</td></tr>", orders)
    assert '<a href="/?platform=shopee&amp;shop=22&amp;state=on_hold">1</a>' in orders
    packages = page[page.index('data-kind="Packages"') :]
    assert re.search(r"<td>shopee</td><td>22</td>.*?<td class='n'>1</td></tr>", packages)
    assert "Open alerts (1)" in page and "A4" in page
    assert _orders_shown(page) == ["shopee/A4", "shopee/A3", "shopee/A2", "shopee/A1"]  # newest first


def test_search_by_id_prefix_shop_and_state(db: Database, base: str) -> None:
    ingest(
        db,
        [
            order_event("240101AAA", "UNPAID", 1, shop_id="11"),
            order_event("240101AAB", "READY_TO_SHIP", 2, shop_id="11"),
            order_event("240102CCC", "UNPAID", 3, shop_id="22"),
        ],
    )

    def shown(query: str) -> list[str]:
        return _orders_shown(httpx.get(f"{base}/?{query}&partial=1", headers=VIEWER).text)

    assert shown("q=240101") == ["shopee/240101AAA", "shopee/240101AAB"]  # by order id
    assert shown("q=240101AAA") == ["shopee/240101AAA"]
    assert shown("shop=22") == ["shopee/240102CCC"]
    assert shown("state=pending") == ["shopee/240102CCC", "shopee/240101AAA"]
    assert shown("q=240101&state=approved") == ["shopee/240101AAB"]
    assert shown("q=999") == []
    assert shown("platform=coupang") == []
    assert shown("state=bogus&cursor=garbage") == shown("")  # ignored, not an error


def _all_pages(base: str, path: str) -> list[str]:
    seen: list[str] = []
    for _ in range(10):
        page = httpx.get(base + path, headers=VIEWER).text
        seen += _orders_shown(page)
        found = re.search(r'<a rel="next" href="([^"]+)"', page)
        if not found:
            return seen
        path = found.group(1).replace("&amp;", "&") + "&partial=1"
    raise AssertionError("the pages did not end")


def test_the_list_pages_by_keyset_without_repeating_or_skipping(db: Database, base: str) -> None:
    ingest(db, [order_event(f"P{n:03d}", "UNPAID", n) for n in range(120)])
    ingest(db, [order_event(f"Q{n:03d}", "UNPAID", 200 + n, shop_id="33") for n in range(3)])
    newest_first = [f"shopee/Q{n:03d}" for n in reversed(range(3))] + [
        f"shopee/P{n:03d}" for n in reversed(range(120))
    ]
    assert _all_pages(base, "/?partial=1") == newest_first
    assert _all_pages(base, "/?q=P&partial=1") == [f"shopee/P{n:03d}" for n in range(120)]
    assert _all_pages(base, "/?shop=1001&partial=1") == newest_first[3:]


def test_pages_run_only_their_own_script_and_leak_no_token_in_a_referer(base: str) -> None:
    for answer in (httpx.get(base + "/", headers=VIEWER), httpx.get(base + "/")):
        policy = answer.headers["content-security-policy"]
        assert "script-src 'sha256-" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"


def test_partial_answers_only_the_live_part(base: str) -> None:
    whole = httpx.get(base + "/", headers=VIEWER).text
    part = httpx.get(base + "/?partial=1", headers=VIEWER).text
    assert whole.startswith("<!doctype html>") and 'id="live"' in whole and "<script>" in whole
    assert "<html" not in part and "<script>" not in part and "Orders" in part


def test_the_order_page_shows_packages_checkpoints_and_the_timeline(db: Database, base: str) -> None:
    ingest(
        db,
        [
            order_event("O1", "READY_TO_SHIP", 1),
            package_event("O1", "PK1", "LOGISTICS_PICKUP_DONE", 9),
        ],
    )
    answer = httpx.get(base + "/orders/shopee/O1", headers=VIEWER)
    assert answer.status_code == 200
    page = answer.text
    assert 'id="order-state"><span class="state" data-state="shipped">' in page
    assert "Package PK1" in page and 'data-state="picked_up"' in page
    timeline = page[page.index('class="timeline"') :]
    assert timeline.index("pending → processing") < timeline.index("ready_for_pickup → picked_up")
    assert "(catch-up)" in timeline
    assert httpx.get(base + "/orders/coupang/O1", headers=VIEWER).status_code == 404
    assert httpx.get(base + "/orders/lazada/O1", headers=VIEWER).status_code == 404


def test_what_the_marketplace_sent_is_escaped(db: Database, base: str) -> None:
    ingest(db, [order_event("<script>alert(1)</script>", "UNPAID", 1, shop_id='"><b>x')])
    page = httpx.get(base + "/", headers=VIEWER).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"><b>x' not in page


def test_counts_are_shared_and_counted_again_in_the_background_once_due(db: Database) -> None:
    cache = CountsCache()
    ingest(db, [order_event("C1", "UNPAID", 1, shop_id="11")])
    first = cache.get(db)
    assert first.orders == {("shopee", "11"): {"pending": 1}}
    ingest(db, [order_event("C2", "UNPAID", 2, shop_id="11")])
    cache._until = 0.0  # due now
    assert cache.get(db) is first  # the pages keep showing the last counts meanwhile
    deadline = time.monotonic() + 10
    while cache.get(db) is first:
        assert time.monotonic() < deadline, "the counts were not refreshed"
        time.sleep(0.01)
    assert cache.get(db).orders == {("shopee", "11"): {"pending": 2}}
