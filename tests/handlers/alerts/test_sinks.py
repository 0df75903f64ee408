"""Alert sinks over real HTTP to a local receiver: Slack-compatible bodies, Standard Webhooks
signatures (checked here from the specification, not with the code under test), what an
answer means for the outbox, and the whole way from an alert to a signed delivery."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from handlers.alerts import Notice, Sink, configured, sink_id, slack, standard_webhooks
from handlers.alerts import log as log_sink
from service.actions import handlers, resources
from service.alert_rules import dispatch
from service.db import Database
from service.ingest import ingest
from service.models import OutboxJob
from service.outbox import JobFailed, JobRefused, Policy, Worker
from service.settings import ConfigurationError, Secret, Settings
from tests.alert_receiver import Receiver, receiver
from tests.factories import command_event, order_event

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOTICE = Notice(
    alert_id=7,
    event="opened",
    kind="held_too_long",
    platform="shopee",
    order_id="2211095TV1XRKN",
    package_id="OFG1",
    message="shopee order 2211095TV1XRKN: package OFG1 has been on hold for 25.0 h",
    opened_at="2026-11-02T10:00:00Z",
    resolved_at=None,
)
NOW = datetime(2026, 11, 2, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def sink(hooks: Receiver, kind: str, path: str) -> Sink:
    url = hooks.url(path)
    return Sink(sink_id(kind, url), kind, Secret(url))


def send_slack(target: Sink, notice: Notice = NOTICE) -> None:
    async def run() -> None:
        async with httpx.AsyncClient() as client:
            await slack.send(client, target, notice)

    asyncio.run(run())


def send_standard(target: Sink, notice: Notice = NOTICE, now: datetime = NOW) -> None:
    async def run() -> None:
        async with httpx.AsyncClient() as client:
            await standard_webhooks.send(client, target, SECRET, notice, now)

    asyncio.run(run())


def spec_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_slack_receives_text_and_blocks_naming_the_order_and_package(hooks: Receiver) -> None:
    send_slack(sink(hooks, "slack", "services/T000/B000/XXXX"))
    [got] = hooks.at("services/T000/B000/XXXX")
    body = got.json()
    assert got.headers["content-type"] == "application/json"
    assert body["text"] == f"ALERT [held_too_long] {NOTICE.message}"
    assert body["blocks"][0]["type"] == "section" and NOTICE.message in body["blocks"][0]["text"]["text"]
    facts = " ".join(e["text"] for e in body["blocks"][1]["elements"])
    assert "OFG1" in facts and "2211095TV1XRKN" in facts


def test_a_resolution_says_resolved_and_when(hooks: Receiver) -> None:
    resolved = Notice(**{**NOTICE.as_payload(), "event": "resolved", "resolved_at": "2026-11-02T12:00:00Z"})
    send_slack(sink(hooks, "slack", "s"), resolved)
    body = hooks.at("s")[0].json()
    assert body["text"].startswith("RESOLVED [held_too_long]")
    assert "2026-11-02T12:00:00Z" in " ".join(e["text"] for e in body["blocks"][1]["elements"])


def test_standard_webhooks_headers_verify_by_the_specification(hooks: Receiver) -> None:
    send_standard(sink(hooks, "standard", "hook"))
    [got] = hooks.at("hook")
    assert got.headers["webhook-id"] == "msg_alert_7_opened"
    assert got.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    expected = spec_signature(
        SECRET, got.headers["webhook-id"], got.headers["webhook-timestamp"], got.content
    )
    assert got.headers["webhook-signature"] == expected
    assert standard_webhooks.verify(SECRET, got.headers, got.content)
    assert not standard_webhooks.verify(SECRET, got.headers, got.content + b" ")
    body = got.json()
    assert body["type"] == "alert.opened" and body["timestamp"] == "2026-11-02T10:00:05Z"
    assert body["data"] == {
        "id": 7, "state": "open", "kind": "held_too_long", "platform": "shopee",
        "order_id": "2211095TV1XRKN", "package_id": "OFG1", "message": NOTICE.message,
        "opened_at": "2026-11-02T10:00:00Z", "resolved_at": None,
    }  # fmt: skip


def test_a_retried_message_keeps_its_webhook_id_and_is_signed_anew(hooks: Receiver) -> None:
    target = sink(hooks, "standard", "hook")
    hooks.statuses = [503]
    with pytest.raises(JobFailed, match="HTTP 503"):
        send_standard(target)
    later = datetime(2026, 11, 2, 10, 1, tzinfo=UTC)
    send_standard(target, now=later)
    [got] = hooks.at("hook")
    assert got.headers["webhook-id"] == "msg_alert_7_opened"
    assert got.headers["webhook-timestamp"] == str(int(later.timestamp()))
    assert standard_webhooks.verify(SECRET, got.headers, got.content)


ANSWERS = [(500, JobFailed), (429, JobFailed), (408, JobFailed), (404, JobRefused), (400, JobRefused),
           (403, JobRefused)]  # fmt: skip


@pytest.mark.parametrize(("status", "outcome"), ANSWERS)
def test_what_an_answer_means_for_the_outbox(hooks: Receiver, status: int, outcome: type[Exception]) -> None:
    hooks.statuses = [status]
    with pytest.raises(outcome):
        send_slack(sink(hooks, "slack", "s"))


def test_an_unreachable_sink_is_retried_and_its_url_is_not_told() -> None:
    url = "http://127.0.0.1:9/services/T000/B000/SECRETTOKEN"
    with pytest.raises(JobFailed) as failed:
        send_slack(Sink(sink_id("slack", url), "slack", Secret(url)))
    assert "SECRETTOKEN" not in str(failed.value) and "slack:" in str(failed.value)


def test_the_log_sink_writes_the_title_and_where(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orderwatch.alerts"):
        log_sink.send(NOTICE)
    [record] = caplog.records
    assert record.getMessage().startswith("ALERT [held_too_long]") and "package OFG1" in record.getMessage()


def test_settings_name_the_sinks_without_revealing_their_urls() -> None:
    settings = Settings.from_environ(
        {
            "ORDERWATCH_ALERT_WEBHOOK_URLS": "https://hooks.slack.com/services/T/B/TOKEN1, http://chat.local/hook",
            "ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS": "https://example.com/alerts",
            "ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET": SECRET,
        }
    )
    sinks = configured(settings)
    assert sorted(s.kind for s in sinks.values()) == ["slack", "slack", "standard"]
    assert "TOKEN1" not in repr(settings) and "TOKEN1" not in repr(sinks) and SECRET not in repr(settings)


@pytest.mark.parametrize(
    "environ",
    [
        {"ORDERWATCH_ALERT_WEBHOOK_URLS": "hooks.slack.com/services/T/B/X"},
        {"ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS": "https://example.com/alerts"},
        {
            "ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS": "https://e.com/a",
            "ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET": "x",
        },
        {"ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET": "whsec_c2hvcnQ="},
        {"ORDERWATCH_ALERT_HOLD_HOURS": "0"},
    ],
)
def test_unusable_sink_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_environ(environ)


def test_an_alert_reaches_both_webhooks_through_the_outbox(db: Database, hooks: Receiver) -> None:
    settings = Settings(
        database_url=db.url,
        alert_webhook_urls=(Secret(hooks.url("slack")),),
        alert_standard_webhook_urls=(Secret(hooks.url("standard")),),
        alert_standard_webhook_secret=Secret(SECRET),
    )
    ingest(db, [order_event("O1", "READY_TO_SHIP", 0), command_event("O1", "hold", 60)])

    async def run() -> None:
        async with resources(settings) as found:
            worker = Worker(db, handlers(settings), policy=Policy(attempts=2, base=0.01), resources=found)
            await worker.run_until_idle(timeout=20)  # the ``alert`` job dispatches, then delivery

    asyncio.run(run())
    [to_slack] = hooks.at("slack")
    [to_hook] = hooks.at("standard")
    assert to_slack.json()["text"].startswith("ALERT [exception_state] shopee order O1")
    assert standard_webhooks.verify(SECRET, to_hook.headers, to_hook.content)
    assert to_hook.json()["data"]["order_id"] == "O1"
    assert dispatch(db, configured(settings)) == []  # handed over once
    with db.read() as conn:
        states = conn.execute(sa.select(OutboxJob.state).where(OutboxJob.kind == "alert_send")).scalars()
        assert sorted(states) == ["done", "done"]
