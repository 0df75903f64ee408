"""Alert rules: each opens one alert while its condition holds and resolves it when it ends,
and the Slack-compatible sink (a local receiver) is told both; time is an injected clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from handlers.alerts import configured
from service import alert_rules
from service.actions import handlers, resources
from service.alert_rules import Thresholds, customs_hold_since, dispatch, evaluate
from service.app import create_app
from service.db import Database
from service.ingest import ingest
from service.models import Alert, Checkpoint, OutboxJob, Package
from service.outbox import Policy, Worker
from service.settings import Secret, Settings
from tests.alert_receiver import Receiver, receiver
from tests.factories import T0, command_event, order_event, package_event
from tests.live_server import serve

H = timedelta(hours=1)
RULES = Thresholds(ship_by_lead=24 * H, stale=48 * H, hold=24 * H, customs=timedelta(days=3))


@pytest.fixture
def slack() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def settings_for(db: Database, slack: Receiver) -> Settings:
    return Settings(database_url=db.url, alert_webhook_urls=(Secret(slack.url("slack")),))


def deliver(db: Database, settings: Settings) -> None:
    """Dispatch, then run the outbox until nothing is due (the worker's part, at once)."""
    dispatch(db, configured(settings))

    async def run() -> None:
        async with resources(settings) as found:
            worker = Worker(db, handlers(settings), policy=Policy(attempts=2, base=0.01), resources=found)
            await worker.run_until_idle(timeout=20)

    asyncio.run(run())


def alerts(db: Database, kind: str | None = None) -> list[tuple[str, str]]:
    query = sa.select(Alert.state, Alert.condition).order_by(Alert.id)
    if kind:
        query = query.where(Alert.kind == kind)
    with db.read() as conn:
        return [(r.state, r.condition) for r in conn.execute(query)]


def add_checkpoint(db: Database, package_id: str, at: datetime, description: str) -> None:
    with db.write() as conn:
        pk = conn.execute(sa.select(Package.id).where(Package.package_id == package_id)).scalar_one()
        conn.execute(
            sa.insert(Checkpoint).values(
                package_pk=pk, at=at, description=description, location=None, raw_status="PICKED_UP"
            )
        )


def picked_up(db: Database) -> None:
    ingest(
        db, [order_event("O1", "READY_TO_SHIP", 0), package_event("O1", "P1", "LOGISTICS_PICKUP_DONE", 3600)]
    )


@dataclass(frozen=True)
class Case:
    """A rule: make its condition, a time it holds at, and end it."""

    kind: str
    start: Callable[[Database], None]
    fires_at: datetime
    end: Callable[[Database, datetime], None]


def _ship_by(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 0, ship_by=T0 + 48 * H)])


def _ship(db: Database, now: datetime) -> None:
    ingest(db, [order_event("O1", "SHIPPED", (now - T0).total_seconds())])


def _new_checkpoint(db: Database, now: datetime) -> None:
    add_checkpoint(db, "P1", now, "The parcel arrived at the sorting centre")


def _order_on_hold(db: Database) -> None:
    ingest(db, [order_event("O1", "READY_TO_SHIP", 0), command_event("O1", "hold", 60)])


def _release(db: Database, now: datetime) -> None:
    ingest(db, [command_event("O1", "release", (now - T0).total_seconds())])


def _package_on_hold(db: Database) -> None:
    ingest(
        db, [order_event("O1", "READY_TO_SHIP", 0), package_event("O1", "P1", "LOGISTICS_PICKUP_RETRY", 60)]
    )


def _package_picked_up(db: Database, now: datetime) -> None:
    ingest(db, [package_event("O1", "P1", "LOGISTICS_PICKUP_DONE", (now - T0).total_seconds())])


def _customs(db: Database) -> None:
    picked_up(db)
    add_checkpoint(db, "P1", T0 + 2 * H, "The parcel arrived at the hub")
    add_checkpoint(db, "P1", T0 + 3 * H, "The parcel is held by customs for inspection")


def _released(db: Database, now: datetime) -> None:
    add_checkpoint(db, "P1", now, "The parcel was released by customs")


CASES = [
    Case("ship_by_near", _ship_by, T0 + 30 * H, _ship),
    Case("ship_by_passed", _ship_by, T0 + 50 * H, _ship),
    Case("no_checkpoint", picked_up, T0 + 50 * H, _new_checkpoint),
    Case("held_too_long", _order_on_hold, T0 + 25 * H, _release),
    Case("held_too_long", _package_on_hold, T0 + 25 * H, _package_picked_up),
    Case("customs_hold", _customs, T0 + 3 * H + timedelta(days=3, minutes=1), _released),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=["ship_by_near", "ship_by_passed", "no_checkpoint", "order_held", "package_held", "customs"],
)
def test_each_rule_opens_and_resolves_exactly_one_alert_and_slack_is_told(
    db: Database, slack: Receiver, case: Case
) -> None:
    settings = settings_for(db, slack)
    case.start(db)
    evaluate(db, RULES, T0 + 4 * H)  # early on: nothing to say yet
    assert alerts(db, case.kind) == []
    assert evaluate(db, RULES, case.fires_at).resolved == 0
    assert evaluate(db, RULES, case.fires_at + H).opened == 0  # still one: not a stream
    [(state, condition)] = alerts(db, case.kind)
    assert state == "open" and "O1" in condition or "P1" in condition
    assert {k for k in alert_kinds(db) if k in alert_rules.RULE_KINDS} == {case.kind}
    deliver(db, settings)
    [opened] = told(slack, case.kind)
    assert opened.startswith(f"ALERT [{case.kind}]") and "O1" in opened

    case.end(db, case.fires_at + 2 * H)
    found = evaluate(db, RULES, case.fires_at + 3 * H)
    assert (found.opened, found.resolved) == (0, 1)
    assert alerts(db, case.kind) == [("resolved", condition)]
    deliver(db, settings)
    texts = told(slack, case.kind)
    assert len(texts) == 2 and texts[1].startswith(f"RESOLVED [{case.kind}]")
    deliver(db, settings)
    assert len(told(slack, case.kind)) == 2  # each opening and resolution once


def told(slack: Receiver, kind: str) -> list[str]:
    """The texts Slack was sent about alerts of ``kind``."""
    return [t for t in (r.json()["text"] for r in slack.at("slack")) if f"[{kind}]" in t]


def alert_kinds(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(Alert.kind).where(Alert.state == "open")).scalars())


def test_a_condition_that_ends_and_comes_back_opens_a_new_alert(db: Database) -> None:
    _order_on_hold(db)
    evaluate(db, RULES, T0 + 25 * H)
    _release(db, T0 + 26 * H)
    evaluate(db, RULES, T0 + 27 * H)
    ingest(db, [command_event("O1", "hold", (28 * H).total_seconds())])
    assert evaluate(db, RULES, T0 + 30 * H).opened == 0  # held again, not for long yet
    assert evaluate(db, RULES, T0 + 53 * H).opened == 1
    assert [s for s, _ in alerts(db, "held_too_long")] == ["resolved", "open"]


def test_passing_the_deadline_resolves_near_and_opens_passed(db: Database) -> None:
    _ship_by(db)
    evaluate(db, RULES, T0 + 30 * H)
    found = evaluate(db, RULES, T0 + 49 * H)
    assert (found.opened, found.resolved) == (1, 1)
    assert [(s, c.split(":")[0]) for s, c in alerts(db)] == [
        ("resolved", "ship_by_near"),
        ("open", "ship_by_passed"),
    ]


def test_shipped_cancelled_and_undated_orders_raise_no_deadline_alert(db: Database) -> None:
    ingest(
        db,
        [
            order_event("S", "SHIPPED", 0, ship_by=T0 + H),
            order_event("C", "CANCELLED", 0, ship_by=T0 + H),
            order_event("U", "READY_TO_SHIP", 0),
        ],
    )
    evaluate(db, RULES, T0 + 100 * H)
    assert alerts(db, "ship_by_near") == alerts(db, "ship_by_passed") == []


def test_a_customs_hold_is_not_also_a_parcel_without_news(db: Database) -> None:
    _customs(db)
    assert evaluate(db, RULES, T0 + 60 * H).firing == 0  # customs for 57 h: under 3 days
    _released(db, T0 + 61 * H)
    assert evaluate(db, RULES, T0 + 62 * H).firing == 0


def test_customs_hold_begins_at_the_first_of_the_latest_customs_checkpoints() -> None:
    points = [
        (T0, "Held by customs"),
        (T0 + H, "Released by customs"),
        (T0 + 2 * H, "Arrived at the hub"),
        (T0 + 3 * H, "The parcel is held by customs for inspection"),
        (T0 + 4 * H, "Customs inspection continues"),
    ]
    assert customs_hold_since(points) == T0 + 3 * H
    assert customs_hold_since(points[:3]) is None
    assert customs_hold_since([]) is None


def test_an_exception_state_alert_resolves_when_the_state_is_left_and_slack_hears_both(
    db: Database, slack: Receiver
) -> None:
    settings = settings_for(db, slack)
    _package_on_hold(db)
    [(state, condition)] = alerts(db, "exception_state")
    assert state == "open" and condition.endswith(":P1:on_hold")
    deliver(db, settings)
    _package_picked_up(db, T0 + H)
    assert alerts(db, "exception_state") == [("resolved", condition)]
    deliver(db, settings)
    texts = [r.json()["text"] for r in slack.at("slack")]
    assert [t.split(" ")[0] for t in texts] == ["ALERT", "RESOLVED"]


def test_a_sink_that_keeps_failing_dead_letters_without_alerting_itself(
    db: Database, slack: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(db, slack)
    slack.statuses = [503, 503]  # both tries of the one delivery fail
    _order_on_hold(db)
    with caplog.at_level(logging.WARNING, logger="orderwatch.alerts"):
        # The retry, then the dead-letter alert handed over: to the log only. The retry is
        # due 10 ms on, so it falls in the first or in a later round.
        for _ in range(6):
            deliver(db, settings)
            if any("job_dead" in r.getMessage() for r in caplog.records):
                break
    with db.read() as conn:
        jobs = conn.execute(
            sa.select(OutboxJob.kind, OutboxJob.state).where(OutboxJob.kind == "alert_send")
        ).all()
    assert [tuple(j) for j in jobs] == [("alert_send", "dead")]
    assert [s for s, _ in alerts(db, "job_dead")] == ["open"]
    assert slack.at("slack") == []
    assert any("job_dead" in r.getMessage() for r in caplog.records)


def test_the_rules_loop_evaluates_on_its_interval_and_dispatches(db: Database, slack: Receiver) -> None:
    settings = Settings(
        database_url=db.url,
        alert_webhook_urls=(Secret(slack.url("slack")),),
        alert_rules_seconds=0.05,
    )
    _order_on_hold(db)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(alert_rules.run_rules(db, settings, stop, clock=lambda: T0 + 30 * H))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if any(kind == "held_too_long" for kind in alert_kinds(db)):
                break
        stop.set()
        await task

    asyncio.run(run())
    assert [s for s, _ in alerts(db, "held_too_long")] == ["open"]
    with db.read() as conn:
        keys = list(conn.execute(sa.select(OutboxJob.key).where(OutboxJob.kind == "alert_send")).scalars())
    assert len(keys) == 2  # the on-hold exception and held-too-long alerts, one sink


def test_serve_with_its_worker_runs_the_rules_and_slack_hears(db: Database, slack: Receiver) -> None:
    settings = Settings(
        database_url=db.url, alert_webhook_urls=(Secret(slack.url("slack")),), alert_rules_seconds=0.1
    )
    _order_on_hold(db)  # held since T0: weeks ago by the wall clock
    with serve(create_app(settings, db)):
        deadline = time.monotonic() + 10
        while not told(slack, "held_too_long") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(told(slack, "held_too_long")) == 1
    assert len(told(slack, "exception_state")) == 1
