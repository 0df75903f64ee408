"""A fuzz suite against the live app over real HTTP (issue 12): every inbound endpoint and the
status API, driven as an attacker and a sloppy client would.

One server per module (with a Coupang sandbox on loopback behind it, for the product bodies),
one keep-alive client, hypothesis derandomized so that every run sends the same requests.
Every answer must come within the client's timeout and be below 500; a forged push or report
stores nothing (the pushes table and the SQLite spool are counted around each one); every
push answered 200 is applied without error and its order can be read back; no configured
secret (partner keys, the ingest secret, API tokens, Coupang's keys) appears in any log line
the servers write (uvicorn's access log included) or in any answer to a request that did not
carry it. The examples of issue 12 that failed are kept as ``@example`` cases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.coupang.sandbox import CoupangSandbox, create_sandbox
from handlers.coupang.sandbox.products import attach, product_routes
from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.inbox import pending_count
from service.limits import MAX_DEPTH
from service.models import Base, Order, Package, Push
from service.settings import Secret, Settings
from statemachines.maps import SHOPEE_ORDER, SHOPEE_PACKAGE
from tests.handlers.coupang.product_bodies import valid_body
from tests.live_server import serve

API_KEY = "fuzz-shopee-api-partner-key-0001"
PUSH_KEY = "fuzz-shopee-live-push-partner-key-0001"
INGEST = "fuzz-ingest-secret-0001"
VIEWER = "fuzz-viewer-token-0001"
OPERATOR = "fuzz-operator-token-0001"
VENDOR, ACCESS, COUPANG_SECRET = "A00012345", "fuzz-coupang-access-key-0001", "fuzz-coupang-secret-key-0001"
SECRETS = (API_KEY, PUSH_KEY, INGEST, VIEWER, OPERATOR, ACCESS, COUPANG_SECRET)
SHOP = 680000123
SENT = 1667963317
ORDER, PACKAGE = "FUZZ0RDER0001", "OFGFUZZ0001"  # one of each exists before the API is fuzzed
TIMEOUT = 10.0  # seconds: an answer later than this is a hang
# Examples per test (one request each, plus the read-backs): at least 2,000 in all.
BUDGET = {
    "test_signed_hostile_pushes_are_answered_below_500_and_what_is_acknowledged_applies": 700,
    "test_a_forged_push_is_401_and_stores_nothing": 300,
    "test_signed_hostile_coupang_reports_are_answered_below_500": 350,
    "test_a_forged_coupang_report_is_401_and_stores_nothing": 100,
    "test_hostile_command_and_tracking_bodies_are_answered_below_500": 300,
    "test_hostile_product_bodies_are_answered_below_500": 150,
    "test_garbage_ids_and_query_parameters_are_answered_below_500": 600,
}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# -- the world ----------------------------------------------------------------------------------


class Capture(logging.Handler):
    """Every line the servers log, formatted as a handler writing them would (tracebacks too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class World:
    db: Database
    base: str
    http: httpx.Client
    logs: Capture
    requests: int = 0
    answered: dict[int, int] = field(default_factory=dict)

    def send(self, method: str, path: str, *, carries: tuple[str, ...] = (), **kwargs: Any) -> httpx.Response:
        """One request, whose answer must be below 500 and free of the secrets it did not carry."""
        start = time.monotonic()
        answer = self.http.request(method, path, **kwargs)
        assert time.monotonic() - start < TIMEOUT
        self.requests += 1
        self.answered[answer.status_code] = self.answered.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, f"{method} {path[:200]}: {answer.status_code} {answer.text[:500]}"
        for secret in SECRETS:
            assert secret in carries or secret not in answer.text, f"{method} {path[:200]} answers a secret"
        return answer

    def stored(self) -> int:
        """Pushes and reports stored: the table's rows and the SQLite spool's."""
        with self.db.read() as conn:
            rows = int(conn.execute(sa.select(sa.func.count()).select_from(Push.__table__)).scalar_one())
        return rows + (self.db.spool.count() if self.db.spool is not None else 0)

    def settle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while pending_count(self.db):
            assert time.monotonic() < deadline, "the stored pushes were not applied in time"
            time.sleep(0.01)


def _fresh_database(template: str, directory: Path) -> str:
    """An empty migrated database for the module (a copy of the SQLite template, or the
    worker's PostgreSQL database emptied as tests/conftest.py empties it)."""
    if template.startswith("sqlite"):
        target = directory / "fuzz.db"
        shutil.copyfile(template.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    engine = sa.create_engine(template, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    return template


@pytest.fixture(scope="module")
def world(database_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = _fresh_database(database_template, tmp_path_factory.mktemp("fuzz"))
    capture = Capture()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    levels = {name: logging.getLogger(name).level for name in ("orderwatch", "uvicorn.access")}
    db = Database(url)
    try:
        with ExitStack() as stack:
            coupang = create_sandbox(VENDOR, ACCESS, COUPANG_SECRET, extra_routes=product_routes())
            attach(coupang)
            coupang_base = stack.enter_context(serve(coupang))
            app = create_app(
                Settings(
                    database_url=url,
                    api_tokens=parse_tokens(f"eyes:{VIEWER}:viewer,ops:{OPERATOR}:operator"),
                    shopee_partner_keys=(Secret(API_KEY),),
                    shopee_push_partner_keys=(Secret(PUSH_KEY),),
                    ingest_secret=Secret(INGEST),
                    coupang_vendor_id=VENDOR,
                    coupang_access_key=Secret(ACCESS),
                    coupang_secret_key=Secret(COUPANG_SECRET),
                    coupang_api_base=coupang_base,
                    api_backoff_seconds=0.01,
                ),
                db,
            )
            base = stack.enter_context(serve(app))
            # After serve(): uvicorn's Config sets its loggers' handlers and levels when it is made.
            for logger in loggers:
                logger.addHandler(capture)
            logging.getLogger("uvicorn.access").setLevel(logging.INFO)
            logging.getLogger("orderwatch").setLevel(logging.DEBUG)
            http = stack.enter_context(httpx.Client(base_url=base, timeout=TIMEOUT))
            world = World(db, base, http, capture)
            _seed(world)
            yield world
            world.settle()
            _check_every_push_applied(world)
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        db.dispose()
    _check_no_secret_logged(capture)


def budget(test: str) -> settings:
    """The fuzz settings with ``test``'s number of examples."""
    return settings(FUZZ, max_examples=BUDGET[test])


@pytest.fixture(autouse=True)
def _checked(world: World, request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: it sent (at least) its budget of requests, and no secret was logged.
    Before it, the pushes of the tests before are applied: a push moving from the SQLite
    spool into the table is counted twice for a moment, which :meth:`World.stored` must not see."""
    world.settle()
    before = world.requests
    yield
    _check_no_secret_logged(world.logs)
    wanted = BUDGET.get(request.node.name, 0)
    assert world.requests - before >= wanted, f"{world.requests - before} requests, not {wanted}"


def test_the_fuzz_budget_is_at_least_two_thousand_requests() -> None:
    assert sum(BUDGET.values()) >= 2000
    assert set(BUDGET) <= {name for name in globals() if name.startswith("test_")}


def _check_no_secret_logged(capture: Capture) -> None:
    assert any("HTTP/1.1" in line for line in capture.lines), "the access log was not captured"
    for line in capture.lines:
        for secret in SECRETS:
            assert secret not in line, f"a secret is in the log: {line[:300]}"


def _check_every_push_applied(world: World) -> None:
    with world.db.read() as conn:
        failed = conn.execute(sa.select(Push.id, Push.code, Push.error).where(Push.error.is_not(None))).all()
        orders = conn.execute(sa.select(Order.platform, Order.order_id)).all()
        packages = conn.execute(sa.select(Package.platform, Package.package_id)).all()
    assert not failed, f"pushes answered 200 failed to apply: {failed[:5]}"
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    # Whatever was stored can be read back by its id, percent-encoded.
    for platform, order_id in orders:
        answer = world.send("GET", f"/v1/orders/{platform}/{quote(order_id, safe='')}", headers=viewer)
        assert answer.status_code == 200 and answer.json()["order_id"] == order_id, order_id
    for platform, package_id in packages:
        answer = world.send("GET", f"/v1/packages/{platform}/{quote(package_id, safe='')}", headers=viewer)
        assert answer.status_code == 200 and answer.json()["package_id"] == package_id, package_id


def _seed(world: World) -> None:
    """The order and package the command and tracking bodies are aimed at."""
    status = push_document(ORDER, "READY_TO_SHIP")
    tracking = {
        "code": 4,
        "shop_id": SHOP,
        "timestamp": SENT,
        "data": {"ordersn": ORDER, "package_number": PACKAGE, "tracking_no": "SPXFUZZ1"},
    }
    for document in (status, tracking):
        assert post_push(world, json.dumps(document).encode()).status_code == 200
    world.settle()
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    assert world.send("GET", f"/v1/packages/shopee/{PACKAGE}", headers=viewer).status_code == 200


# -- signing ------------------------------------------------------------------------------------


def signature(key: str, url: str, body: bytes) -> str:
    return hmac.new(key.encode(), url.encode() + b"|" + body, hashlib.sha256).hexdigest()


def post_push(world: World, body: bytes, authorization: str | None = None) -> httpx.Response:
    url = world.base + "/webhooks/shopee"
    sign = signature(PUSH_KEY, url, body) if authorization is None else authorization
    return world.send("POST", "/webhooks/shopee", content=body, headers={"Authorization": sign})


def post_report(world: World, body: bytes, authorization: str | None = None) -> httpx.Response:
    url = world.base + "/webhooks/coupang"
    sign = signature(INGEST, url, body) if authorization is None else authorization
    return world.send("POST", "/webhooks/coupang", content=body, headers={"Authorization": sign})


# -- strategies ---------------------------------------------------------------------------------

SPECIAL_TEXT = [
    "", " ", "\x00", "a\x00b", "/", "a/b", ".", "..", "%2F", "%00", "\\", "\n", "\r\n", "\t",
    "é", "🛒", "\u202e", "\ufeff", "x" * 64, "x" * 65, "x" * 101, "9" * 20, "9" * 4301,
    "<script>", "' OR 1=1 --", "${jndi:x}", "null", "true", "-1", "1e999", "NaN",
]  # fmt: skip
# Around the limit, around orjson's writer (254) and reader (1,024), the old NUL check (~330).
LEVELS = [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 100, 252, 253, 254, 255, 330,
          1023, 1024, 1025, 3000]  # fmt: skip

texts = st.one_of(st.text(max_size=80), st.sampled_from(SPECIAL_TEXT))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, SENT, 946_684_799, 4_102_444_801]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
ordersns = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=70),
    st.from_regex(r"\A[0-9]{6}[A-Z0-9]{8}\Z"),
    st.sampled_from(SPECIAL_TEXT),
)
shopee_statuses = st.sampled_from(sorted({*SHOPEE_ORDER, *SHOPEE_PACKAGE})) | texts


def header(text: str) -> bytes:
    """``text`` as a header value HTTP can carry (its UTF-8 bytes, without control characters)."""
    raw = bytes(b for b in text.encode("utf-8") if b >= 0x20 and b != 0x7F)
    return raw.strip(b" ") or b"x"


def depth_of(raw: bytes) -> int:
    """How deep ``raw`` nests objects and arrays, read as JSON text (outside strings), by a
    plain scan independent of the code under test."""
    deepest = level = 0
    inside = escaped = False
    for byte in raw:
        if inside:
            escaped, inside = (False, True) if escaped else (byte == 0x5C, byte != 0x22)
        elif byte == 0x22:
            inside = True
        elif byte in b"[{":
            level += 1
            deepest = max(deepest, level)
        elif byte in b"]}":
            level -= 1
    return deepest


def nested(levels: int, inner: bytes = b"1") -> bytes:
    return b"[" * levels + inner + b"]" * levels


def encode(document: Any, ascii_only: bool = True) -> bytes:
    # json, not orjson: it writes any integer, NaN and lone surrogates as a sloppy sender would.
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    inner = draw(st.sampled_from([b"1", b'"\\u0000"', b'{"a":"\\u0000"}', b"{}", b'"x"']))
    return nested(draw(st.sampled_from(LEVELS) | st.integers(0, 1100)), inner)


def with_extra(body: bytes, extra: bytes) -> bytes:
    """``body`` (a JSON object) with one more member, ``extra`` as raw JSON, in its ``data`` if it has one."""
    if b'"data": {' in body:
        return body.replace(b'"data": {', b'"data": {"extra": ' + extra + b", ", 1)
    if body.endswith(b"}") and len(body) > 2:
        return body[:-1] + b', "extra": ' + extra + b"}"
    return body


def push_document(ordersn: str, status: str) -> dict[str, Any]:
    data = {"ordersn": ordersn, "status": status, "update_time": SENT - 1}
    return {"code": 3, "shop_id": SHOP, "timestamp": SENT, "data": data}


@st.composite
def push_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A push as Shopee sends it (code 3 or 4, of any ordersn and status), half of them with
    up to three of its members hostile or missing."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "ordersn": ordersns,
        "status": shopee_statuses,
        "update_time": st.integers(946_684_800, 4_102_444_800),
        "package_number": ordersns,
        "tracking_no": st.text(min_size=1, max_size=100),
        "completed_scenario": st.just("RRAOC") | texts,
    }
    outer = {"code": st.sampled_from([3, 3, 4]), "shop_id": st.sampled_from([SHOP, str(SHOP)]),
             "timestamp": st.just(SENT)}  # fmt: skip
    names = [*outer, "data", *fields]
    spoiled = draw(st.sets(st.sampled_from(names), max_size=3)) if draw(st.booleans()) else set()

    def members(strategies: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
        found = {}
        for name, right in strategies.items():
            if name not in spoiled:
                found[name] = draw(right)
            elif draw(st.booleans()):  # hostile, else left out
                found[name] = draw(values)
        return found

    data = members(fields)
    data.update(draw(st.dictionaries(texts, values, max_size=2)))
    return {**members(outer), **members({"data": st.just(data)})}


@st.composite
def push_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return encode(draw(values), draw(st.booleans()))
    body = encode(draw(push_documents()), draw(st.booleans()))
    if kind <= 3:
        body = with_extra(body, draw(deep()))
    return body


# -- Shopee pushes --------------------------------------------------------------------------------


REFUSALS = {"malformed_json", "not_an_object", "malformed_push", "too_deep"}


def _issue_3(levels: int) -> bytes:
    return with_extra(encode(push_document("2211095TV1XRKN", "READY_TO_SHIP")), nested(levels))


@budget("test_signed_hostile_pushes_are_answered_below_500_and_what_is_acknowledged_applies")
@given(body=push_bodies())
@example(body=b'{"code":99,"shop_id":680000123,"data":' + nested(330, b'"\\u0000"') + b"}")  # case 2
@example(body=with_extra(encode(push_document("O1", "UNPAID")), nested(330, b'"\\u0000"')))  # case 2
@example(body=_issue_3(253))  # case 3
@example(body=_issue_3(1000))  # case 3
@example(body=encode(push_document("2211/095TV1XRKN", "READY_TO_SHIP")))  # case 6
def test_signed_hostile_pushes_are_answered_below_500_and_what_is_acknowledged_applies(
    world: World, body: bytes
) -> None:
    answer = post_push(world, body)
    assert answer.status_code in (200, 400, 413), answer.text
    if answer.status_code == 400:
        assert answer.json()["error"]["code"] in REFUSALS
    if depth_of(body) > MAX_DEPTH:  # never acknowledged: the applier could not write it back
        assert answer.status_code == 400, body[:200]


forged = st.one_of(
    st.text(max_size=100),
    st.sampled_from(["", " ", "0" * 64, "sha256=", "Bearer " + OPERATOR, API_KEY, PUSH_KEY, "é" * 64]),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
)


@budget("test_a_forged_push_is_401_and_stores_nothing")
@given(
    body=push_bodies() | st.sampled_from([encode(push_document("2211095TV1XRKN", "READY_TO_SHIP"))]),
    how=st.sampled_from(["garbage", "api key", "other key", "other url", "other body", "none"]),
    garbage=forged,
)
def test_a_forged_push_is_401_and_stores_nothing(world: World, body: bytes, how: str, garbage: str) -> None:
    url = world.base + "/webhooks/shopee"
    authorization = {
        "garbage": garbage,
        "api key": signature(API_KEY, url, body),  # the push key is set: only it verifies pushes
        "other key": signature("a-key-nobody-configured", url, body),
        "other url": signature(PUSH_KEY, "https://elsewhere.example/webhooks/shopee", body),
        "other body": signature(PUSH_KEY, url, body + b" ").upper(),  # upper case is read as lower
        "none": "",
    }[how]
    before = world.stored()
    headers = {"Authorization": header(authorization)} if authorization else {}
    carries = tuple(s for s in SECRETS if s in authorization)
    answer = world.send("POST", "/webhooks/shopee", content=body, headers=headers, carries=carries)
    assert answer.status_code in (401, 413), answer.text
    assert world.stored() == before


# -- Coupang reports ---------------------------------------------------------------------------------


def _sheets() -> list[dict[str, Any]]:
    world = CoupangSandbox(VENDOR, "a", "s", seed=7)
    statuses = ("ACCEPT", "INSTRUCT", "DEPARTURE")
    return [box.sheet() for status in statuses for box in world.create_order(status=status)]


SHEETS = _sheets()
PRODUCT = {"sellerProductId": 427011919, "sellerProductName": "해피바스 솝베리 클렌징 오일 200ml",
           "statusName": "심사중", "vendorId": VENDOR,
           "items": [{"sellerProductItemId": 1, "itemName": "200ml", "vendorItemId": None}]}  # fmt: skip


@st.composite
def spoiled(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with some of its members replaced by hostile values, or dropped."""
    copy = dict(document)
    for name in draw(st.lists(st.sampled_from(sorted(document)), max_size=3, unique=True)):
        if draw(st.booleans()):
            copy[name] = draw(values | st.sampled_from(SPECIAL_TEXT))
        else:
            copy.pop(name)
    return copy


@st.composite
def report_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return encode(draw(values))
    if kind <= 5:
        rows = draw(st.lists(st.sampled_from(SHEETS).flatmap(spoiled), min_size=1, max_size=3))
        document: dict[str, Any] = {"code": 200, "message": "OK", "data": rows}
        if draw(st.booleans()):
            document["vendorId"] = draw(st.just(VENDOR) | texts)
    else:
        document = {"code": "SUCCESS", "message": "", "data": draw(spoiled(PRODUCT))}
    body = encode(document, draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:
        body = with_extra(body, draw(deep()))
    return body


def _issue_4(levels: int) -> bytes:
    return with_extra(encode({"code": "SUCCESS", "message": "", "data": PRODUCT}), nested(levels))


@budget("test_signed_hostile_coupang_reports_are_answered_below_500")
@given(body=report_bodies())
@example(body=_issue_4(254))  # case 4
@example(body=_issue_4(600))  # case 4
def test_signed_hostile_coupang_reports_are_answered_below_500(world: World, body: bytes) -> None:
    before = world.stored()
    answer = post_report(world, body)
    assert answer.status_code in (200, 400, 413), answer.text
    if depth_of(body) > MAX_DEPTH:
        assert answer.status_code == 400, body[:200]
    if answer.status_code != 200:
        assert world.stored() == before  # refused: nothing stored (nor applied with it)


@budget("test_a_forged_coupang_report_is_401_and_stores_nothing")
@given(body=report_bodies(), garbage=forged)
def test_a_forged_coupang_report_is_401_and_stores_nothing(world: World, body: bytes, garbage: str) -> None:
    before = world.stored()
    carries = tuple(s for s in SECRETS if s in garbage)
    headers = {"Authorization": header(garbage)} if garbage else {}
    answer = world.send("POST", "/webhooks/coupang", content=body, headers=headers, carries=carries)
    assert answer.status_code in (401, 413), answer.text
    assert world.stored() == before


# -- API bodies ----------------------------------------------------------------------------------------

COMMANDS = ["process", "hold", "release", "approve", "reject", "cancel", "start_picking", "pack",
            "mark_ready", "request_return", "complete_return", "lose", "ship", "deliver"]  # fmt: skip


@st.composite
def command_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return encode(draw(values))
    document = {
        "command": draw(st.sampled_from(COMMANDS) | texts),
        "reason": draw(texts | st.text(min_size=990, max_size=1010)),
        "carrier": draw(st.just("SPX") | texts),
        "tracking_number": draw(st.just("SPX123") | texts),
    }
    body = encode(draw(spoiled(document)), draw(st.booleans()))
    if kind == 2:
        body = with_extra(body, draw(deep()))
    return body


@budget("test_hostile_command_and_tracking_bodies_are_answered_below_500")
@given(
    target=st.sampled_from(
        [
            f"/v1/orders/shopee/{ORDER}/commands",
            f"/v1/packages/shopee/{PACKAGE}/commands",
            f"/v1/packages/shopee/{PACKAGE}/tracking",
        ]  # fmt: skip
    ),
    body=command_bodies(),
    key=st.none() | st.text(max_size=300),
)
def test_hostile_command_and_tracking_bodies_are_answered_below_500(
    world: World, target: str, body: bytes, key: str | None
) -> None:
    headers: dict[str, Any] = {"Authorization": f"Bearer {OPERATOR}"}
    if key is not None:
        headers["Idempotency-Key"] = header(key)
    answer = world.send("POST", target, content=body, headers=headers, carries=(OPERATOR,))
    assert answer.status_code in (200, 400, 409, 413), answer.text


@st.composite
def product_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return encode(draw(values))
    if kind == 1:
        return encode({"sellerProductId": draw(scalars | st.sampled_from(["9" * 4301, "1", "0"]))})
    document = valid_body()
    item = draw(spoiled(document["items"][0]))
    body = encode({**draw(spoiled(document)), "items": [item]}, draw(st.booleans()))
    if kind == 2:
        body = with_extra(body, draw(deep()))
    return body


@budget("test_hostile_product_bodies_are_answered_below_500")
@given(body=product_bodies())
@example(body=encode({"sellerProductId": "9" * 4301}))
def test_hostile_product_bodies_are_answered_below_500(world: World, body: bytes) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    answer = world.send("POST", "/v1/products", content=body, headers=headers, carries=(OPERATOR,))
    assert answer.status_code in (200, 201, 400, 413, 422), answer.text


# -- the status API ------------------------------------------------------------------------------------

ROUTES = [
    "/v1/orders", "/v1/orders/{platform}/{id}", "/v1/packages/{platform}/{id}",
    "/v1/packages/{platform}/{id}/airway-bill", "/v1/changes", "/v1/alerts", "/v1/jobs", "/v1/pushes",
    "/v1/products", "/v1/products/{id}", "/", "/orders/{platform}/{id}", "/metrics", "/openapi.json",
    "/healthz", "/readyz",
]  # fmt: skip
PARAMETERS = ["state", "platform", "shop_id", "updated_since", "limit", "cursor", "after", "q", "shop",
              "partial", "next"]  # fmt: skip
ids = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80),
    st.sampled_from(SPECIAL_TEXT[1:] + [ORDER, PACKAGE, "427011919", "9" * 5000, "-1", "0"]),
)
query_values = st.one_of(
    texts,
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "500",
            "501",
            "1000",
            "9" * 5000,
            "2024-01-01T00:00:00Z",
            "2024-01-01",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "b286MQ",
            "b286LTE",
            "shopee",
            "approved",
            "open",
            "failed",
            "pending",
        ]
    ),  # fmt: skip
)


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    pairs = draw(st.lists(st.tuples(st.sampled_from(PARAMETERS) | texts, query_values), max_size=4))
    carries: tuple[str, ...] = ()
    if draw(st.integers(0, 9)) == 0:  # a secret put in the address: the access log must not print it
        name = draw(st.sampled_from(["token", "access_token", "sign", "partner_key", "secret"]))
        secret = draw(st.sampled_from(SECRETS))
        pairs.append((name, secret))
        carries = (secret,)
    text = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return (f"?{text}" if text else ""), carries


@pytest.mark.sends_secret_in_address  # a configured token in the query, to see it refused
@budget("test_garbage_ids_and_query_parameters_are_answered_below_500")
@given(
    route=st.sampled_from(ROUTES),
    platform=st.sampled_from(["shopee", "coupang"]) | ids,
    ident=ids,
    query=queries(),
    who=st.sampled_from(["viewer", "viewer", "viewer", "operator", "nobody", "wrong", "cookie"]),
)
@example(route="/v1/products/{id}", platform="coupang", ident="9" * 4301, query=("", ()), who="viewer")
@example(route="/v1/orders/{platform}/{id}", platform="shopee", ident="a/b", query=("", ()), who="viewer")
def test_garbage_ids_and_query_parameters_are_answered_below_500(
    world: World, route: str, platform: str, ident: str, query: tuple[str, tuple[str, ...]], who: str
) -> None:
    path = route.replace("{platform}", quote(platform, safe="")).replace("{id}", quote(ident, safe=""))
    search, carries = query
    headers: dict[str, Any] = {}
    if who in ("viewer", "operator"):
        headers["Authorization"] = f"Bearer {VIEWER if who == 'viewer' else OPERATOR}"
        carries = (*carries, VIEWER if who == "viewer" else OPERATOR)
    elif who == "wrong":
        headers["Authorization"] = "Bearer not-a-token"
    elif who == "cookie":
        headers["Cookie"] = f"orderwatch_token={VIEWER}"
        carries = (*carries, VIEWER)
    answer = world.send("GET", path + search, headers=headers, carries=carries)
    assert answer.status_code in (200, 303, 307, 400, 401, 403, 404, 405), answer.text[:300]
