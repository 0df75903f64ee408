"""Operator commands and tracking numbers, ingested as normalized events (source "command").

A command is journaled and folded like any marketplace event, in one transaction that
first checks the order (or package) exists: it lands in the journal and in the history
with who issued it (the token's name, ``actor``) and why (``reason``). A trigger the
machine does not allow from the current state is journaled with outcome ``refused``
and answered 409 with the triggers an operator may fire instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.db import Database
from service.errors import ApiError
from service.ingest import ingest_in
from service.models import ORDERS, PACKAGES
from statemachines.events import Event, EventKind
from statemachines.machines import ORDER, PACKAGE, Kind, Subject

# What an operator may fire. ``ship`` and ``deliver`` are left out: an order is shipped and
# delivered when its packages are (the carrier says so), never by hand.
ORDER_COMMANDS = (
    "process", "hold", "release", "approve", "reject", "cancel", "start_picking", "pack",
    "mark_ready", "request_return", "complete_return",
)  # fmt: skip
# Packages follow the marketplace and the carrier; an operator may hold, release, cancel a
# package at the seller, or declare a parcel lost.
PACKAGE_COMMANDS = ("hold", "release", "cancel", "lose")
MAX_REASON = 1000
MAX_TEXT = 100
TRACKING_STATUS = "TRACKING_NUMBER"  # the ``status`` of a tracking-number event
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # journal sort keys begin with microseconds since then


@dataclass(frozen=True)
class Done:
    """What became of a command: the journal's outcome and the operator triggers allowed now."""

    outcome: str
    error: str | None
    state: str
    allowed: list[str]


def _body_text(body: dict[str, Any], name: str, limit: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ApiError(400, "bad_body", f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ApiError(400, "bad_body", f"{name} must be at most {limit} characters")
    return value.strip()


def parse_command(body: Any, commands: tuple[str, ...], triggers: tuple[str, ...]) -> tuple[str, str | None]:
    """``(command, reason)`` from a command body; 400 ``bad_body`` when malformed."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_body", 'the body must be a JSON object {"command": …, "reason": …}')
    command = _body_text(body, "command", 32, True) or ""
    if command not in triggers:
        raise ApiError(400, "bad_body", f"command must be one of {', '.join(commands)}")
    return command, _body_text(body, "reason", MAX_REASON, False)


def parse_tracking(body: Any) -> tuple[str, str]:
    """``(carrier, tracking_number)`` from a tracking body; 400 ``bad_body`` when malformed."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_body", 'the body must be a JSON object {"carrier": …, "tracking_number": …}')
    carrier = _body_text(body, "carrier", MAX_TEXT, True) or ""
    return carrier, _body_text(body, "tracking_number", MAX_TEXT, True) or ""


def not_allowed(command: str, done: Done) -> ApiError:
    """The 409 answer naming the allowed commands."""
    allowed = ", ".join(done.allowed) or "none"
    return ApiError(
        409,
        "command_not_allowed",
        f"{command} is not allowed from {done.state}; allowed: {allowed}",
        allowed=done.allowed,
    )


def _allowed(kind: Kind, subject: Subject, commands: tuple[str, ...]) -> list[str]:
    return [t for t in kind.allowed(subject) if t in commands]


def command(
    db: Database,
    what: str,
    platform: str,
    ident: str,
    command: str,
    *,
    actor: str,
    reason: str | None,
    key: str | None = None,
    now: datetime | None = None,
) -> Done | None:
    """Fire an operator ``command`` on an order or a package (``what``) by its id; None
    when there is no such order or package."""
    when = now or datetime.now(UTC)
    package = what == "package"
    kind, allowed_here = (PACKAGE, PACKAGE_COMMANDS) if package else (ORDER, ORDER_COMMANDS)

    def find(conn: Connection) -> tuple[Any, Subject] | None:
        if package:
            return _package(conn, platform, ident)
        row = _order(conn, platform, ident)
        return None if row is None else (row, Subject(row.state, row.held_from))

    def work(conn: Connection) -> Done | None:
        found = find(conn)
        if found is None:
            return None
        row, before = found
        if command not in allowed_here:
            allowed = _allowed(kind, before, allowed_here)
            return Done("refused", f"{command} is not an operator command", before.state, allowed)
        event_kind = EventKind.PACKAGE_COMMAND if package else EventKind.ORDER_COMMAND
        event = _event(row, event_kind, command, when, actor, reason, key, ident if package else None)
        [answer] = ingest_in(conn, [event], when)
        _, after = find(conn) or found
        return Done(answer.outcome, answer.error, after.state, _allowed(kind, after, allowed_here))

    return db.run_write(work)


def add_tracking(
    db: Database,
    platform: str,
    package_id: str,
    carrier: str,
    tracking_number: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> Done | None:
    """Ingest "package ``package_id`` got ``tracking_number``"; None when there is no such package."""
    when = now or datetime.now(UTC)

    def work(conn: Connection) -> Done | None:
        found = _package(conn, platform, package_id)
        if found is None:
            return None
        row, _ = found
        # The key a marketplace push of the same number carries: the fact is applied once.
        key = f"{platform}:{row.order_id}:tracking:{package_id}:{tracking_number}"[:200]
        event = Event(
            platform=platform,
            shop_id=row.shop_id,
            order_id=row.order_id,
            kind=EventKind.TRACKING_NUMBER,
            status=TRACKING_STATUS,
            occurred_at=dated(row, when),
            dedupe_key=key,
            source="command",
            package_id=package_id,
            main_shop_id=row.main_shop_id,
            tracking_number=tracking_number,
            carrier=carrier,
            actor=actor,
        )
        [answer] = ingest_in(conn, [event], when)
        _, after = _package(conn, platform, package_id) or found
        return Done(answer.outcome, answer.error, after.state, [])

    return db.run_write(work)


def _order(conn: Connection, platform: str, order_id: str) -> Any:
    query = sa.select(ORDERS).where(ORDERS.c.platform == platform, ORDERS.c.order_id == order_id)
    return conn.execute(query).first()


def _package(conn: Connection, platform: str, package_id: str) -> tuple[Any, Any] | None:
    query = (
        sa.select(ORDERS, PACKAGES.c.state.label("package_state"), PACKAGES.c.held_from.label("package_held"))
        .join(PACKAGES, PACKAGES.c.order_pk == ORDERS.c.id)
        .where(PACKAGES.c.platform == platform, PACKAGES.c.package_id == package_id)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return row, Subject(row.package_state, row.package_held)


def dated(row: Any, when: datetime) -> datetime:
    """A command's time: ``when``, or just after the order's newest event if that is later
    (a marketplace clock ahead of ours), so that the command is folded after everything the
    operator saw instead of folding the order again with the command in the middle."""
    head = str(row.last_key or "").split("|", 1)[0]
    if head.isdigit():
        newest = _EPOCH + timedelta(microseconds=int(head))
        if newest >= when:
            return newest + timedelta(microseconds=1)
    return when


def _event(
    row: Any,
    kind: EventKind,
    command: str,
    when: datetime,
    actor: str,
    reason: str | None,
    key: str | None,
    package_id: str | None,
) -> Event:
    # An Idempotency-Key makes a repeated request the same fact (applied once).
    suffix = f"key:{actor}:{key}" if key else uuid.uuid4().hex
    return Event(
        platform=row.platform,
        shop_id=row.shop_id,
        order_id=row.order_id,
        kind=kind,
        status=command,
        occurred_at=dated(row, when),
        dedupe_key=f"command:{row.platform}:{row.order_id}:{package_id or ''}:{suffix}"[:200],
        source="command",
        package_id=package_id,
        main_shop_id=row.main_shop_id,
        actor=actor,
        reason=reason,
    )
