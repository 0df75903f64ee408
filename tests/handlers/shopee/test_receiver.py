"""POST /webhooks/shopee over real HTTP: signatures, body shape and size; nothing stored on refusal."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from starlette.types import Message, Scope

from service.app import create_app
from service.db import Database
from service.settings import Secret, Settings
from tests.shopee_pushes import (
    KEY,
    MIB,
    OLD_KEY,
    PATH,
    Receiver,
    chunks,
    encode,
    padded_push,
    sign,
    start_receiver,
    status_push,
)

Start = Callable[..., Receiver]
NOTHING = {"pushes": 0, "events": 0, "transitions": 0}


@pytest.fixture
def start(db: Database, database_url: str) -> Iterator[Start]:
    with ExitStack() as stack:
        yield lambda **settings: start_receiver(stack, db, database_url, **settings)


@pytest.fixture
def receiver(start: Start) -> Receiver:
    return start()


def error(answer: Any) -> str:
    assert answer.headers["content-type"] == "application/json"
    code: str = answer.json()["error"]["code"]
    assert answer.json()["error"]["message"]
    return code


def test_a_signed_push_is_answered_200_with_an_empty_body(receiver: Receiver) -> None:
    answer = receiver.post(status_push("2211095TV1XRKN", "READY_TO_SHIP"))
    assert answer.status_code == 200
    assert answer.content == b""
    assert receiver.order("2211095TV1XRKN")["state"] == "approved"


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"key": None}, id="missing"),
        pytest.param({"signature": ""}, id="empty"),
        pytest.param({"signature": "0" * 64}, id="garbage"),
        pytest.param({"key": "a-key-nobody-configured"}, id="unknown-key"),
        pytest.param({"url": "https://elsewhere.example/webhooks/shopee"}, id="other-url"),
        pytest.param({"signed_body": status_push("2211095TV1XRKN", "CANCELLED")}, id="other-body"),
    ],
)
def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(
    receiver: Receiver, how: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orderwatch.webhooks")
    answer = receiver.post(status_push("2211095TV1XRKN", "READY_TO_SHIP"), **how)
    assert answer.status_code == 401
    assert error(answer) == "invalid_signature"
    assert receiver.counts() == NOTHING
    [line] = [r.getMessage() for r in caplog.records if r.name == "orderwatch.webhooks"]
    assert "rejected (401 invalid_signature)" in line and "from 127.0.0.1" in line
    assert receiver.app.state.push_counts == {("-", "invalid_signature"): 1}


def test_during_a_key_rotation_the_old_and_the_new_key_are_both_accepted(start: Start) -> None:
    receiver = start(shopee_partner_keys=(Secret(KEY), Secret(OLD_KEY)))
    assert receiver.post(status_push("O-NEW", "UNPAID"), key=KEY).status_code == 200
    assert receiver.post(status_push("O-OLD", "UNPAID"), key=OLD_KEY).status_code == 200
    assert receiver.counts()["pushes"] == 2


def test_after_the_rotation_the_retired_key_is_refused(start: Start) -> None:
    receiver = start(shopee_partner_keys=(Secret(KEY),))
    assert receiver.post(status_push("O-OLD", "UNPAID"), key=OLD_KEY).status_code == 401
    assert receiver.counts() == NOTHING


def test_without_a_partner_key_every_push_is_refused_and_the_reason_logged_once(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orderwatch.webhooks")
    receiver = start(shopee_partner_keys=())
    for key in (KEY, "", OLD_KEY):
        answer = receiver.post(status_push("2211095TV1XRKN", "UNPAID"), key=key)
        assert answer.status_code == 401 and error(answer) == "invalid_signature"
    said = "neither ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY nor ORDERWATCH_SHOPEE_PARTNER_KEY is set"
    explained = [r for r in caplog.records if said in r.getMessage()]
    assert len(explained) == 1 and explained[0].levelno == logging.ERROR
    rejected = [r for r in caplog.records if "no push partner key is configured" in r.getMessage()]
    assert len(rejected) == 3
    assert receiver.counts() == NOTHING


PUSH_KEY = "live-push-partner-key-for-tests-0001"
NEXT_PUSH_KEY = "live-push-partner-key-for-tests-0002"


def test_with_a_push_partner_key_pushes_are_verified_with_it_and_not_with_the_api_key(start: Start) -> None:
    receiver = start(shopee_partner_keys=(Secret(KEY),), shopee_push_partner_keys=(Secret(PUSH_KEY),))
    assert receiver.post(status_push("O-PUSH", "UNPAID"), key=PUSH_KEY).status_code == 200
    refused = receiver.post(status_push("O-API", "UNPAID"), key=KEY)
    assert refused.status_code == 401 and error(refused) == "invalid_signature"
    assert receiver.counts()["pushes"] == 1


def test_push_partner_keys_rotate_side_by_side(start: Start) -> None:
    keys = (Secret(NEXT_PUSH_KEY), Secret(PUSH_KEY))
    receiver = start(shopee_partner_keys=(Secret(KEY),), shopee_push_partner_keys=keys)
    assert receiver.post(status_push("O-NEXT", "UNPAID"), key=NEXT_PUSH_KEY).status_code == 200
    assert receiver.post(status_push("O-PREV", "UNPAID"), key=PUSH_KEY).status_code == 200
    assert receiver.counts()["pushes"] == 2


def test_a_push_partner_key_alone_verifies_pushes(start: Start) -> None:
    receiver = start(shopee_partner_keys=(), shopee_push_partner_keys=(Secret(PUSH_KEY),))
    assert receiver.post(status_push("O-PUSH", "UNPAID"), key=PUSH_KEY).status_code == 200


def test_no_push_key_reaches_the_log_of_a_refused_push(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = start(shopee_partner_keys=(Secret(KEY),), shopee_push_partner_keys=(Secret(PUSH_KEY),))
    assert receiver.post(status_push("O-API", "UNPAID"), key=KEY).status_code == 401
    assert receiver.post(status_push("O-PUSH", "UNPAID"), key=PUSH_KEY).status_code == 200
    lines = [r.getMessage() for r in caplog.records]
    assert lines and not [line for line in lines if PUSH_KEY in line or KEY in line]


def test_behind_a_proxy_the_configured_push_url_is_what_is_signed(start: Start) -> None:
    public = "https://orderwatch.example.com/webhooks/shopee"
    receiver = start(shopee_push_url=public)
    body = status_push("2211095TV1XRKN", "READY_TO_SHIP")
    assert receiver.post(body, url=receiver.url).status_code == 401  # the URL the app sees
    assert receiver.post(body, url=public).status_code == 200
    assert receiver.order("2211095TV1XRKN")["state"] == "approved"


def test_without_the_setting_the_request_url_as_received_is_signed(receiver: Receiver) -> None:
    assert receiver.url.startswith("http://127.0.0.1:")
    body = status_push("2211095TV1XRKN", "UNPAID")
    assert receiver.post(body, url="https://orderwatch.example.com/webhooks/shopee").status_code == 401
    assert receiver.post(body, url=receiver.url).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b'{"code": 3, "data": {', b"", b"not json", b'{"a": NaN}', b'\xff{"code": 3}', b'{"code": 1e999}'],
)
def test_a_signed_body_that_is_not_json_is_400_malformed_json(receiver: Receiver, body: bytes) -> None:
    answer = receiver.post(body)
    assert answer.status_code == 400
    assert error(answer) == "malformed_json"
    assert receiver.counts() == NOTHING


@pytest.mark.parametrize("body", [b"[1,2]", b'"push"', b"3", b"null", b"true"])
def test_signed_json_that_is_not_an_object_is_400_not_an_object(receiver: Receiver, body: bytes) -> None:
    answer = receiver.post(body)
    assert answer.status_code == 400
    assert error(answer) == "not_an_object"
    assert receiver.counts() == NOTHING


def test_a_nul_character_the_database_cannot_hold_is_400_and_nothing_is_stored(receiver: Receiver) -> None:
    answer = receiver.post(status_push("2211095TV1XRKN", "UNPAID\u0000"))
    assert answer.status_code == 400
    assert error(answer) == "malformed_json"
    assert receiver.counts() == NOTHING


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"code": 3, "shop_id": 1, "timestamp": 1667963317, "data": {"status": "UNPAID"}}, "data.ordersn"),
        ({"code": 3, "shop_id": 1, "data": {"ordersn": "O1", "update_time": 1667963316}}, "data.status"),
        (
            {"code": 4, "shop_id": 1, "timestamp": 1667963317, "data": {"ordersn": "O1"}},
            "data.package_number",
        ),
        ({"code": 3, "data": {"ordersn": "O1", "status": "UNPAID", "update_time": 1667963316}}, "shop_id"),
        ({"shop_id": 1, "data": {}}, "code"),
    ],
)
def test_a_malformed_push_of_a_known_code_is_400_saying_what_is_missing(
    receiver: Receiver, document: dict[str, Any], says: str
) -> None:
    answer = receiver.post(encode(document))
    assert answer.status_code == 400
    assert error(answer) == "malformed_push"
    assert says in answer.json()["error"]["message"]
    assert receiver.counts() == NOTHING


def test_exactly_one_mebibyte_is_accepted(receiver: Receiver) -> None:
    answer = receiver.post(padded_push(MIB))
    assert answer.status_code == 200 and answer.content == b""
    assert receiver.counts()["pushes"] == 1


def test_one_byte_over_one_mebibyte_is_413(receiver: Receiver) -> None:
    answer = receiver.post(padded_push(MIB + 1))
    assert answer.status_code == 413
    assert error(answer) == "payload_too_large"
    assert receiver.counts() == NOTHING


def test_a_streamed_body_without_content_length_is_counted_while_read(receiver: Receiver) -> None:
    exact, over = padded_push(MIB), padded_push(MIB + 1)
    answer = receiver.post(chunks(over), signed_body=over)
    assert answer.status_code == 413 and error(answer) == "payload_too_large"
    assert receiver.counts() == NOTHING
    answer = receiver.post(chunks(exact), signed_body=exact)
    assert answer.status_code == 200 and answer.content == b""
    assert receiver.counts()["pushes"] == 1


def test_a_declared_oversize_body_is_refused_before_it_is_sent(receiver: Receiver) -> None:
    host, port = urlsplit(receiver.base).hostname, urlsplit(receiver.base).port
    assert host and port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * MIB}\r\nAuthorization: {'0' * 64}\r\n\r\n".encode()
        )
        answer = b""  # answered with no byte of the body sent
        while b"}}" not in answer:
            received = sock.recv(65536)
            if not received:
                break
            answer += received
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"payload_too_large"' in answer


def test_a_content_length_that_understates_the_body_is_no_way_past_the_limit(
    db: Database, database_url: str
) -> None:
    # Servers trust Content-Length, so a lying header cannot be sent over HTTP/1.1; drive the
    # ASGI app directly with a header saying 10 bytes and a body of 1 MiB + 1.
    app = create_app(Settings(database_url=database_url, shopee_partner_keys=(Secret(KEY),)), db)
    body = padded_push(MIB + 1)
    incoming = [{"type": "http.request", "body": part, "more_body": True} for part in chunks(body)]
    incoming.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-length", b"10"),
            (b"authorization", sign(KEY, "http://test" + PATH, body).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in b"".join(m.get("body", b"") for m in sent[1:])


def test_other_methods_are_405(receiver: Receiver) -> None:
    answer = receiver.client.get(PATH)
    assert answer.status_code == 405
    assert error(answer) == "method_not_allowed"


def test_rejected_and_stored_pushes_are_counted_on_the_metrics_endpoint(receiver: Receiver) -> None:
    assert receiver.post(status_push("2211095TV1XRKN", "READY_TO_SHIP"), key="not-the-key").status_code == 401
    assert receiver.post(b"[1, 2]").status_code == 400
    assert receiver.post(status_push("2211095TV1XRKN", "READY_TO_SHIP")).status_code == 200
    answer = receiver.client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    lines = set(answer.text.splitlines())
    assert 'orderwatch_pushes_total{code="-",platform="shopee",result="invalid_signature"} 1.0' in lines
    assert 'orderwatch_pushes_total{code="-",platform="shopee",result="not_an_object"} 1.0' in lines
    assert 'orderwatch_pushes_total{code="3",platform="shopee",result="stored"} 1.0' in lines
    assert "not-the-key" not in answer.text and KEY not in answer.text


def test_the_metrics_count_push_transactions_and_pushes_applied(receiver: Receiver) -> None:
    for n in range(3):
        assert receiver.post(status_push(f"2211095TV1XRK{n}", "READY_TO_SHIP")).status_code == 200
    lines = set(receiver.client.get("/metrics").text.splitlines())
    assert "orderwatch_push_commits_total 3.0" in lines
    assert "orderwatch_pushes_applied_total 3.0" in lines
