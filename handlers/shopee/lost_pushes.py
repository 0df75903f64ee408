"""Shopee's lost pushes: ``v2.push.get_lost_push_message`` and
``v2.push.confirm_consumed_lost_push_message``.

Shopee keeps, for 3 days, the pushes it could not deliver; the earliest 100 that are not
confirmed come back per call as ``{shop_id?, code, timestamp, data}``. Per the published
response sample (tests/conformance/samples/shopee/v2.push.get_lost_push_message.json),
``data`` is a JSON *string* holding the **whole original push envelope**
(``{"data": {...}, "shop_id", "code", "timestamp"}``), not its inner ``data``; the outer
``shop_id``, ``code`` and ``timestamp`` are the lost message's own (its timestamp says when
it was lost). So the push is the envelope inside, stored byte for byte as Shopee would have
posted it, and the receiver's checks, storage and applier take it as they take any push.

When the outer ``shop_id`` or ``code`` disagrees with the envelope's, the message is not
understood: it is reported unreadable (the caller keeps it visible) rather than applied to
a shop or code it may not be of; the outer timestamp may differ (it is the time of loss).

Both are partner-level calls: signed with partner id, path and timestamp, no shop. The
confirmation is cumulative (every message up to ``last_message_id``) and the messages
carry no ids of their own, so a page is confirmed whole or not at all.

Recovery (:func:`recover_lost_pushes`): each lost push goes through the receiver's checks
and is stored in ``pushes`` like any push (the applier applies it). A message that is not
a push we can read (its data is not a push envelope, the push fails the receiver's checks,
its outer shop or code disagrees with the push's) is kept as an open ``lost_push_unreadable``
alert holding the message as received, so that someone sees it and can replay it; the
reconciliation poll's order list
catches up on the order meanwhile.

A page is confirmed consumed only once every message of it is durably stored, as a push
or as an alert: Shopee's confirmation is cumulative and the messages carry no ids, so a
page that could not be stored whole (the database down) is not confirmed and comes back
next round, and storing it again changes nothing (same body, same key; the alert's
condition is the message's digest). Run by the reconciliation poll (reconcile.py)
before it lists orders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from handlers.shopee.order_answers import _member, _unexpected
from handlers.shopee.push import PLATFORM, MalformedPush, check_push
from service import limits
from service.db import Database
from service.models import ALERTS
from service.pushes import Received, store_pushes

log = logging.getLogger("orderwatch.lost_pushes")

GET_PATH = "/api/v2/push/get_lost_push_message"
CONFIRM_PATH = "/api/v2/push/confirm_consumed_lost_push_message"
MAX_KEPT = 4000  # characters of an unreadable message kept for whoever looks at it
MAX_PAGES = 50  # 5,000 pushes a round; the rest wait for the next round
ALERT_KIND = "lost_push_unreadable"
NO_ORDER = "-"  # the alert's order when the message names none


class Caller(Protocol):
    """:meth:`handlers.shopee.client.ShopeeClient.call`, which these calls go through."""

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LostPush:
    """A lost push as it would have been posted: its raw body and that body decoded."""

    body: bytes
    document: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Unreadable:
    """A lost message that is not a push we can read: why, and the message as received."""

    reason: str
    text: str
    order_sn: str | None = None


@dataclass(frozen=True)
class LostPushPage:
    """One page of lost pushes: the pushes, what could not be read, and the cursor."""

    pushes: list[LostPush]
    unreadable: list[Unreadable]
    has_next_page: bool
    last_message_id: int

    @property
    def size(self) -> int:
        """How many messages the page held."""
        return len(self.pushes) + len(self.unreadable)


async def get_lost_pushes(client: Caller) -> LostPushPage:
    """The earliest unconfirmed lost pushes, each as the push it was."""
    doc = await client.call("GET", GET_PATH)
    response = _member(doc, "response", dict, "get_lost_push_message")
    messages = response.get("push_message_list") or []
    if not isinstance(messages, list):
        raise _unexpected("get_lost_push_message", "push_message_list is not a list")
    last = response.get("last_message_id") or 0
    if not isinstance(last, int) or isinstance(last, bool) or last < 0:
        raise _unexpected("get_lost_push_message", "last_message_id is not an integer")
    pushes: list[LostPush] = []
    unreadable: list[Unreadable] = []
    for message in messages:
        read = read_lost_message(message)
        if isinstance(read, LostPush):
            pushes.append(read)
        else:
            unreadable.append(read)
    return LostPushPage(pushes, unreadable, bool(response.get("has_next_page")), last)


async def confirm_lost_pushes(client: Caller, last_message_id: int) -> None:
    """Tell Shopee the lost pushes up to ``last_message_id`` are consumed."""
    await client.call("POST", CONFIRM_PATH, body={"last_message_id": last_message_id})


def read_lost_message(message: object) -> LostPush | Unreadable:
    """One ``push_message_list`` entry as the push it was, or why it cannot be."""
    if not isinstance(message, dict):
        return Unreadable("the message is not an object", _kept(message))
    data = message.get("data")
    if not isinstance(data, str):
        return Unreadable("its data is not a string holding the push", _kept(message))
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Unreadable("its data is not JSON", _kept(message))
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return Unreadable("its data is not a push envelope with a data object", _kept(message))
    order_sn = envelope["data"].get("ordersn")
    order_sn = order_sn if isinstance(order_sn, str) and order_sn else None
    for name in ("code", "shop_id"):
        if name in message and name in envelope and str(message[name]) != str(envelope[name]):
            why = f"its {name} ({message[name]!r}) is not the push's ({envelope[name]!r})"
            return Unreadable(why, _kept(message), order_sn)
    if "code" not in envelope:
        return Unreadable("the push in its data has no code", _kept(message), order_sn)
    return LostPush(data.encode(), envelope)


def _kept(message: object) -> str:
    try:
        text = orjson.dumps(message).decode()
    except TypeError:
        try:
            text = repr(message)
        except RecursionError:  # nested past Python's limit (orjson reads 1,024 levels, writes 254)
            text = "(a message nested too deep to show)"
    return text[:MAX_KEPT]


@dataclass
class LostReport:
    """What one recovery did."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    pages: int = 0
    confirmed: int = 0  # pages confirmed consumed


async def recover_lost_pushes(db: Database, client: Caller, max_pages: int = MAX_PAGES) -> LostReport:
    """Fetch, store and confirm the lost pushes, page by page (a storage failure raises,
    with the page unconfirmed)."""
    report = LostReport()
    for _ in range(max_pages):
        page = await get_lost_pushes(client)
        report.pages += 1
        report.fetched += page.size
        received: list[Received] = []
        unreadable = list(page.unreadable)
        for push in page.pushes:
            try:
                if b"\\u0000" in push.body or b"\x00" in push.body:  # PostgreSQL's JSON cannot hold it
                    raise MalformedPush("the push holds a NUL character")
                if limits.problem(push.body, push.document) == limits.TOO_DEEP:  # as the receiver refuses it
                    raise MalformedPush(limits.depth_message("the push"))
                received.append(Received(PLATFORM, check_push(push.document), push.body, push.document))
            except MalformedPush as exc:
                unreadable.append(Unreadable(f"the push is malformed: {exc}", push.body.decode()[:MAX_KEPT]))
        report.malformed += len(unreadable)
        if received:
            new = await anyio.to_thread.run_sync(store_pushes, db, received)
            report.stored += sum(new)
            report.duplicates += len(new) - sum(new)
        if unreadable:
            opened = await anyio.to_thread.run_sync(keep_unreadable, db, unreadable)
            for item in unreadable:
                log.warning("a lost shopee push cannot be read, kept as an alert: %s", item.reason)
            if opened:
                log.error("%d lost shopee pushes are unreadable: see the %s alerts", opened, ALERT_KIND)
        if page.last_message_id:
            await confirm_lost_pushes(client, page.last_message_id)
            report.confirmed += 1
        elif page.size:
            log.warning("shopee gave %d lost pushes without a last_message_id: not confirmed", page.size)
        if not page.has_next_page or not page.last_message_id:
            break
    if report.fetched:
        log.info(
            "shopee lost pushes: %d fetched, %d stored, %d already stored, %d unreadable (alerts)",
            report.fetched,
            report.stored,
            report.duplicates,
            report.malformed,
        )
    return report


def keep_unreadable(db: Database, items: Sequence[Unreadable], now: datetime | None = None) -> int:
    """Open one alert per unreadable message (none twice while open); how many are new."""
    when = now or datetime.now(UTC)

    def work(conn: Connection) -> int:
        opened = 0
        for item in items:
            condition = f"{ALERT_KIND}:{hashlib.sha256(item.text.encode()).hexdigest()}"
            exists = conn.execute(
                sa.select(ALERTS.c.id).where(ALERTS.c.condition == condition, ALERTS.c.state == "open")
            ).first()
            if exists is not None:
                continue
            conn.execute(
                ALERTS.insert().values(
                    condition=condition,
                    kind=ALERT_KIND,
                    platform=PLATFORM,
                    order_id=(item.order_sn or NO_ORDER)[:64],
                    package_id=None,
                    state="open",
                    opened_at=when,
                    resolved_at=None,
                    message=f"a lost Shopee push could not be read ({item.reason}); "
                    f"the message as Shopee gave it: {item.text}",
                )
            )
            opened += 1
        return opened

    return db.run_write(work)
