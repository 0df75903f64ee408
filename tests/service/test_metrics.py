"""``GET /metrics``: transitions by machine and states, outbox depth and wait, poll lag and
open alerts, scraped over real HTTP from the app with its lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from handlers.shopee.push import parse_push
from service import counters
from service.alert_rules import Thresholds, evaluate
from service.app import create_app
from service.db import Database
from service.inbox import apply_pending
from service.ingest import ingest
from service.models import OutboxJob, PollCursor
from service.pushes import Received, store_pushes
from service.settings import Settings
from tests.conftest import PARSERS
from tests.factories import T0, command_event, order_event, package_event
from tests.live_server import serve
from tests.shopee_pushes import status_push


@pytest.fixture
def api(db: Database, database_url: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=database_url)
    with serve(create_app(settings, db, worker=False)) as base, httpx.Client(base_url=base) as client:
        yield client


def scrape(api: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_transitions_are_counted_by_machine_and_states(db: Database, api: httpx.Client) -> None:
    before = counters.TRANSITIONS.snapshot()
    ingest(db, [order_event("M1", "READY_TO_SHIP", 0), order_event("M2", "READY_TO_SHIP", 0)])
    ingest(db, [package_event("M1", "P1", "LOGISTICS_READY", 10)])
    found = scrape(api)
    key = (
        "orderwatch_transitions_total",
        (("from_state", "processing"), ("machine", "order"), ("to_state", "approved")),
    )
    assert found[key] == before.get(("order", "processing", "approved"), 0) + 2
    key = (
        "orderwatch_transitions_total",
        (("from_state", "created"), ("machine", "package"), ("to_state", "processing")),
    )
    assert found[key] == before.get(("package", "created", "processing"), 0) + 1


def test_outbox_depth_and_the_wait_of_the_oldest_due_job(db: Database, api: httpx.Client) -> None:
    now = datetime.now(UTC)

    def job(key: str, state: str, run_after: datetime) -> dict[str, object]:
        return {
            "key": key, "kind": "noop", "platform": "shopee", "order_id": "O", "package_id": None,
            "payload": {}, "state": state, "attempts": 0, "run_after": run_after, "created_at": now,
            "updated_at": now,
        }  # fmt: skip

    with db.write() as conn:
        conn.execute(
            sa.insert(OutboxJob),
            [
                job("a", "pending", now - timedelta(minutes=5)),
                job("b", "pending", now - timedelta(minutes=1)),
                job("c", "pending", now + timedelta(hours=1)),  # not due: tracking's next look
                job("d", "dead", now - timedelta(hours=2)),
                job("e", "done", now - timedelta(hours=3)),
            ],
        )
    found = scrape(api)
    assert found[("orderwatch_outbox_jobs", (("state", "pending"),))] == 3
    assert found[("orderwatch_outbox_jobs", (("state", "dead"),))] == 1
    assert found[("orderwatch_outbox_jobs", (("state", "running"),))] == 0
    assert found[("orderwatch_outbox_due_jobs", ())] == 2
    assert 300 <= found[("orderwatch_outbox_oldest_due_seconds", ())] < 400


def test_an_empty_outbox_has_waited_zero_seconds(api: httpx.Client) -> None:
    found = scrape(api)
    assert found[("orderwatch_outbox_oldest_due_seconds", ())] == 0
    assert found[("orderwatch_outbox_due_jobs", ())] == 0


def test_stored_pushes_wait_to_be_applied_until_the_applier_has_run(db: Database, api: httpx.Client) -> None:
    bodies = [status_push(f"MP{n}", "READY_TO_SHIP") for n in range(3)]
    documents = [orjson.loads(body) for body in bodies]
    store_pushes(
        db, [Received("shopee", parse_push(d), b, d) for b, d in zip(bodies, documents, strict=True)]
    )
    assert scrape(api)[("orderwatch_pushes_unapplied", ())] == 3  # this app applies nothing
    assert apply_pending(db, PARSERS).pushes == 3
    assert scrape(api)[("orderwatch_pushes_unapplied", ())] == 0


def test_poll_lag_is_the_age_of_each_cursor(db: Database, api: httpx.Client) -> None:
    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(
            sa.insert(PollCursor),
            [
                {"name": "shopee:reconcile:1001", "value": "1", "updated_at": now - timedelta(minutes=10)},
                {"name": "coupang:orders:A1", "value": "2", "updated_at": now - timedelta(seconds=30)},
            ],
        )
    found = scrape(api)
    assert 600 <= found[("orderwatch_poll_lag_seconds", (("cursor", "shopee:reconcile:1001"),))] < 700
    assert 30 <= found[("orderwatch_poll_lag_seconds", (("cursor", "coupang:orders:A1"),))] < 130


def test_open_alerts_are_counted_by_kind_and_resolved_ones_drop_out(db: Database, api: httpx.Client) -> None:
    ingest(db, [order_event("M1", "READY_TO_SHIP", 0), command_event("M1", "hold", 60)])
    evaluate(db, Thresholds(), T0 + timedelta(days=2))
    found = scrape(api)
    assert found[("orderwatch_open_alerts", (("kind", "exception_state"),))] == 1
    assert found[("orderwatch_open_alerts", (("kind", "held_too_long"),))] == 1
    ingest(db, [command_event("M1", "release", 3600 * 49)])
    evaluate(db, Thresholds(), T0 + timedelta(days=2, hours=2))
    found = scrape(api)
    assert ("orderwatch_open_alerts", (("kind", "held_too_long"),)) not in found
    assert ("orderwatch_open_alerts", (("kind", "exception_state"),)) not in found
