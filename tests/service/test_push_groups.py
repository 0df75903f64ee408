"""Group commit of pushes: many pushes that arrive together share a transaction, and
every one of them is durable before it is answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from handlers.shopee.push import parse_push
from service import pushes
from service.db import Database
from service.pushes import PushCommitter, Received, store_pushes
from tests.shopee_pushes import KEY, SENT, Receiver, sign, start_receiver, status_push

NOW = datetime(2022, 11, 9, 3, 10, tzinfo=UTC)


def received(body: bytes) -> Received:
    document = orjson.loads(body)
    return Received("shopee", parse_push(document), body, document)


@pytest.fixture
def receiver(db: Database, database_url: str) -> Iterator[Receiver]:
    with ExitStack() as stack:
        yield start_receiver(stack, db, database_url)


def test_a_body_repeated_in_one_group_is_stored_once(db: Database) -> None:
    first = status_push("SN1", "READY_TO_SHIP")
    other = status_push("SN2", "UNPAID")
    assert store_pushes(db, [received(first), received(first), received(other)], NOW) == [True, False, True]
    assert store_pushes(db, [received(other)], NOW) == [False]


def test_concurrent_pushes_share_transactions_and_every_one_is_stored(receiver: Receiver) -> None:
    statuses = ["UNPAID", "READY_TO_SHIP", "PROCESSED", "SHIPPED"]
    bodies = [
        status_push(f"G{n:03d}", status, update_time=SENT - 100 + step)
        for n in range(60)
        for step, status in enumerate(statuses)
    ]

    async def send_all() -> list[int]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=receiver.base, limits=limits, timeout=60) as client:

            async def send(body: bytes) -> int:
                headers = {"Authorization": sign(KEY, receiver.url, body)}
                answer = await client.post("/webhooks/shopee", content=body, headers=headers)
                return answer.status_code

            return await asyncio.gather(*(send(body) for body in bodies))

    assert asyncio.run(send_all()) == [200] * len(bodies)
    receiver.settle()
    committer: PushCommitter = receiver.app.state.push_committer
    assert receiver.counts()["pushes"] == len(bodies)
    assert committer.commits < len(bodies), "pushes that arrived together shared transactions"
    for n in range(60):
        assert receiver.order(f"G{n:03d}")["state"] == "shipped"


def test_a_push_that_fails_its_group_does_not_refuse_the_others(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = status_push("POISON", "READY_TO_SHIP")
    real = pushes.store_pushes

    def failing(database: Database, items: Sequence[Received], now: datetime | None = None) -> list[bool]:
        if any(item.body == poison for item in items):
            raise RuntimeError("a bug triggered by one push")
        return real(database, items, now)

    monkeypatch.setattr(pushes, "store_pushes", failing)
    bodies = [status_push(f"OK{n}", "UNPAID") for n in range(5)] + [poison]

    async def submit_all() -> list[object]:
        committer = PushCommitter(db)
        return await asyncio.gather(
            *(committer.submit(received(body)) for body in bodies), return_exceptions=True
        )

    outcomes = asyncio.run(submit_all())
    assert outcomes[:5] == [True] * 5
    assert isinstance(outcomes[5], RuntimeError)
    assert real(db, [received(body) for body in bodies[:5]], NOW) == [False] * 5
