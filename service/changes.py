"""The change feed: every state change and new checkpoint, in commit order, with a cursor.

Each change gets a **position** from the one-row ``change_counter`` table, taken in the
transaction that makes the change, as its last write. The row lock on the counter is held
until commit, so a writer that takes positions after another also commits after it:
positions are gapless (a rollback gives its positions back) and in commit order, and a
reader that sees position *p* sees every position below it. A consumer reading
``position > cursor`` therefore never misses nor repeats a change, on PostgreSQL (where
ids from a sequence are handed out before commit, so id 11 can be visible before id 10)
and on SQLite alike. The lock serializes only the tail of writing transactions (two
statements and the commit).

The ``changes`` table is append-only and separate from ``transitions``: a refold of an
order rewrites the tail of its history rows, and the feed then publishes only what the
rewrite changed — a transition it added, or one it took back (``retracted``) — never the
rows it merely wrote again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import bulk
from service.batch import Writes
from service.models import CHANGES, EVENTS, TRANSITIONS

if TYPE_CHECKING:
    from statemachines.aggregate import OrderAggregate


MAX_LIMIT = 1000
TRANSITION_NAMES = (
    "id", "kind", "platform", "order_id", "package_id", "from_state", "to_state", "trigger", "at",
    "source", "event_id", "catch_up", "retracted", "state", "committed_at",
)  # fmt: skip
CHECKPOINT_NAMES = (
    "id", "kind", "platform", "order_id", "package_id", "at", "description", "location",
    "raw_status", "retracted", "state", "committed_at",
)  # fmt: skip
_CHANGE_COLUMNS = ("package_id", "from_state", "to_state", "trigger", "at", "source", "event_id", "catch_up")
# The statement that hands out positions: it creates the counter row if it is missing (a
# truncated table), else adds to it, and answers the new last position.
_RESERVE = sa.text(
    "INSERT INTO change_counter (id, value) VALUES (1, :n) "
    "ON CONFLICT (id) DO UPDATE SET value = change_counter.value + excluded.value "
    "RETURNING value"
)


def reserve(conn: Connection, count: int) -> int:
    """Take ``count`` positions (locking the counter until commit); the first of them."""
    last = int(conn.execute(_RESERVE, {"n": count}).scalar_one())
    return last - count + 1


def _append(conn: Connection, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (``names`` order, ``id`` first and left None) at new positions."""
    if not rows:
        return
    first = reserve(conn, len(rows))
    bulk.insert(conn, CHANGES, names, [(first + i, *row[1:]) for i, row in enumerate(rows)])


def publish_transitions(conn: Connection, writes: Writes, now: datetime) -> None:
    """Publish the history rows a batch of ingest wrote (and the ones a refold took back).

    Called by :func:`service.store_writes.write` as the transaction's last ingest statement.
    """
    deleted = set(writes.transition_deletes)
    # writes.transitions: (order_pk, platform, order_id, *Change) per history row written.
    written: dict[int, list[tuple[Any, ...]]] = {}
    heads: dict[int, tuple[str, str]] = {}
    for row in writes.transitions:
        written.setdefault(row[0], []).append(row[3:])
        heads[row[0]] = (row[1], row[2])
    gone: dict[int, list[tuple[Any, ...]]] = {}
    aggregates = {}
    for order_pk, agg in writes.touched.values():
        aggregates[order_pk] = agg
        heads.setdefault(order_pk, (agg.platform, agg.order_id))
        if order_pk in writes.rebuilt:
            tail = [tuple(change) for pk, change in writes.history.get(order_pk, []) if pk in deleted]
            if tail:
                gone[order_pk] = tail
    renamed = _renamed(conn, writes.renames, written)
    for order_pk, moved in renamed.items():
        gone[order_pk] = [*gone.get(order_pk, []), *(old for old, _ in moved)]
    rows: list[tuple[Any, ...]] = []
    for order_pk in sorted(set(written) | set(gone), key=heads.__getitem__):
        platform, order_id = heads[order_pk]
        now_in = _states(aggregates.get(order_pk))
        new = [*(change for _, change in renamed.get(order_pk, [])), *written.get(order_pk, [])]
        if order_pk not in gone:  # the common case: history only grew
            rows.extend(_transition(platform, order_id, change, False, now_in, now) for change in new)
            continue
        # Rows a refold wrote again were published when first written: match them out.
        again = Counter(gone[order_pk]) & Counter(new)
        left = again.copy()
        for change in gone[order_pk]:
            if left[change] > 0:
                left[change] -= 1
            else:
                rows.append(_transition(platform, order_id, change, True, now_in, now))
        for change in new:
            if again[change] > 0:
                again[change] -= 1
            else:
                rows.append(_transition(platform, order_id, change, False, now_in, now))
    _append(conn, TRANSITION_NAMES, rows)


def _renamed(
    conn: Connection, renames: Sequence[dict[str, Any]], written: dict[int, list[tuple[Any, ...]]]
) -> dict[int, list[tuple[tuple[Any, ...], tuple[Any, ...]]]]:
    """History rows a package rename rewrote in place (a placeholder package adopted by
    its real number), as (before, after): the feed takes back the old and adds the new."""
    found: dict[int, list[tuple[tuple[Any, ...], tuple[Any, ...]]]] = {}
    if not renames:
        return found
    wanted = {(r["b_order_pk"], r["new"]): r["b_old"] for r in renames}
    query = (
        sa.select(TRANSITIONS.c.order_pk, *(TRANSITIONS.c[name] for name in _CHANGE_COLUMNS))
        .where(TRANSITIONS.c.order_pk.in_(sorted({pk for pk, _ in wanted})))
        .order_by(TRANSITIONS.c.id)
    )
    fresh = {key: Counter(c for c in written.get(key[0], []) if c[0] == key[1]) for key in wanted}
    for row in conn.execute(query):  # one query for the batch's renames
        key = (row[0], row[1])
        if key not in wanted:
            continue
        change = tuple(row[1:])
        if fresh[key][change] > 0:  # written by this batch, not renamed
            fresh[key][change] -= 1
            continue
        found.setdefault(key[0], []).append(((wanted[key], *change[1:]), change))
    return found


def _states(agg: OrderAggregate | None) -> dict[str | None, str]:
    """The states an order and its packages are in after the batch (key None: the order)."""
    if agg is None:
        return {}
    found: dict[str | None, str] = {p.package_id: p.subject.state for p in agg.packages.values()}
    found[None] = agg.state
    return found


def _transition(
    platform: str,
    order_id: str,
    change: tuple[Any, ...],
    retracted: bool,
    states: dict[str | None, str],
    now: datetime,
) -> tuple[Any, ...]:
    package_id, from_state, to_state, trigger, at, source, event_id, catch_up = change
    kind = "order" if package_id is None else "package"
    return (None, kind, platform, order_id, package_id, from_state, to_state, trigger, at, source,
            event_id, catch_up, retracted, states.get(package_id), now)  # fmt: skip


def publish_checkpoints(
    conn: Connection,
    package: tuple[str, str, str, str],
    rows: Sequence[dict[str, Any]],
    now: datetime,
) -> None:
    """Publish new checkpoints of a ``(platform, order_id, package_id, state)`` package
    (dicts as stored: at, description, location, raw_status); call it as the
    transaction's last statement."""
    platform, order_id, package_id, state = package
    ordered = sorted(rows, key=lambda r: r["at"])
    _append(
        conn,
        CHECKPOINT_NAMES,
        [
            (
                None,
                "checkpoint",
                platform,
                order_id,
                package_id,
                r["at"],
                r["description"],
                r["location"],
                r["raw_status"],
                False,
                state,
                now,
            )
            for r in ordered
        ],  # fmt: skip
    )


def end(conn: Connection) -> int:
    """The last position committed so far (0 when the feed is empty)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(CHANGES.c.id), 0))).scalar_one())


def read(conn: Connection, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` changes after position ``after``, in feed order, as JSON shapes."""
    query = (
        sa.select(CHANGES, EVENTS.c.actor, EVENTS.c.reason)
        .select_from(CHANGES.outerjoin(EVENTS, EVENTS.c.id == CHANGES.c.event_id))
        .where(CHANGES.c.id > after)
        .order_by(CHANGES.c.id)
        .limit(limit)
    )
    return [_shape(row) for row in conn.execute(query)]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _shape(row: Any) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "cursor": str(row.id),
        "kind": row.kind,
        "platform": row.platform,
        "order_id": row.order_id,
        "package_id": row.package_id,
        "state": row.state,
        "at": _time(row.at),
        "committed_at": _time(row.committed_at),
    }
    if row.kind == "checkpoint":
        shaped["checkpoint"] = {
            "at": _time(row.at),
            "description": row.description,
            "location": row.location,
            "raw_status": row.raw_status,
        }
        return shaped
    shaped.update(
        {
            "from": row.from_state,
            "to": row.to_state,
            "trigger": row.trigger,
            "source": row.source,
            "event_id": row.event_id,
            "catch_up": bool(row.catch_up),
            "actor": row.actor,
            "reason": row.reason,
            "retracted": bool(row.retracted),
        }
    )
    return shaped


def parse_cursor(value: str | None) -> int | None:
    """A cursor as a position; None when it is not one of ours."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
