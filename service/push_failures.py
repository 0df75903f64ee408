"""Failed pushes: acknowledged, stored, and then not applicable (a bug); kept in sight.

A push is answered 200 once stored; the applier (service/inbox.py) applies it after. One
that fails to apply alone is marked applied with its ``error`` so that it cannot block the
queue. So that such a push is not lost from sight, it is

- counted (``orderwatch_pushes_failed`` in ``GET /metrics``) and listed
  (``GET /v1/pushes?state=failed``, :func:`list_failed`), through the partial index
  ``ix_pushes_failed``;
- told to on-call by a ``push_failed`` alert through the alert machinery (the sinks hear of
  it at the next dispatch, which an ``alert`` outbox job asks for at once). One alert
  stands for a *failure*: the pushes of one platform and code failing with one exception
  type. A bug fails every push of its kind, and one alert for the burst is what on-call
  needs; a thousand would bury it. Later pushes failing the same way join the open alert.
  It resolves once no push of its failure is left failed (after the fix, the pushes were
  re-applied); a new failure after that opens a new alert;
- re-applicable after a fix (service/inbox.py :func:`service.inbox.reapply`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service import bulk
from service.models import ALERTS, OUTBOX, PUSHES
from service.views import after_cursor, encode_cursor, rfc3339

ALERT_KIND = "push_failed"
NO_ORDER = "-"  # the alert's order when the push names none
MAX_LIMIT = 500
FAILED = PUSHES.c.error.is_not(None)


def failure(platform: str, code: int, error: str) -> str:
    """The alert condition of a push's failure: its platform, code and exception type
    (errors are recorded as ``<type>: <message>``)."""
    kind = error.split(":", 1)[0].strip()[:100]
    return f"{ALERT_KIND}:{platform}:{code}:{kind}"


def _error_kind(condition: str) -> str:
    return condition.split(":", 3)[3]


def ordersn(conn: Connection) -> Any:
    """The SQL expression of a push's ``data.ordersn`` (NULL when it has none).

    Read by the database from the stored body, so that a listing never loads bodies (they
    may be large); on SQLite only from a body it can read, so one odd body cannot fail it."""
    value = PUSHES.c.body[("data", "ordersn")].as_string()
    if conn.dialect.name == "sqlite":
        return sa.case((sa.func.json_valid(PUSHES.c.body) == 1, value), else_=None)
    return value


def failed_count(conn: Connection) -> int:
    """How many stored pushes failed to apply (and were not re-applied since)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(PUSHES).where(FAILED)).scalar_one())


def open_alert(conn: Connection, push_id: int, error: str, now: datetime) -> bool:
    """Open the ``push_failed`` alert of push ``push_id``'s failure unless it is open; True
    when it was opened. The caller's transaction is the one that records the error."""
    row = conn.execute(
        sa.select(PUSHES.c.platform, PUSHES.c.code, ordersn(conn).label("ordersn")).where(
            PUSHES.c.id == push_id
        )
    ).one()
    order = str(row.ordersn)[:64] if row.ordersn is not None else NO_ORDER
    alert = {
        "condition": failure(row.platform, row.code, error)[:300], "kind": ALERT_KIND,
        "platform": row.platform, "order_id": order, "package_id": None, "state": "open",
        "opened_at": now, "resolved_at": None,
        "message": f"a {row.platform} push (code {row.code}) was acknowledged but could not be "
        f"applied: push {push_id}, order {order}: {error[:500]}. Later pushes failing the same "
        "way join this alert. See GET /v1/pushes?state=failed; after a fix, re-apply them "
        "(POST /v1/pushes/{id}/reapply, or orderwatch pushes reapply).",
    }  # fmt: skip
    # Two appliers failing the same way at once: the open one stands (unique while open).
    made = bulk.insert_dicts(
        conn, ALERTS, [alert], conflict=["condition"], conflict_where="state = 'open'", returning=["id"]
    )
    if made:
        _dispatch_soon(conn, made[0].id, "opened", row.platform, order, now)
    return bool(made)


def _dispatch_soon(
    conn: Connection, alert_id: int, event: str, platform: str, order: str, now: datetime
) -> None:
    # The ``alert`` job dispatches at once (service/alert_rules.py dispatch_job) instead of
    # at the rules loop's next tick; its key makes it one job per alert and event.
    job = {
        "key": f"alert:{ALERT_KIND}:{alert_id}:{event}", "kind": "alert", "platform": platform,
        "order_id": order, "package_id": None, "payload": {"alert_id": alert_id}, "state": "pending",
        "attempts": 0, "run_after": now, "created_at": now, "updated_at": now, "last_error": None,
    }  # fmt: skip
    bulk.insert_dicts(conn, OUTBOX, [job], conflict=["key"])


def resolve_cleared(conn: Connection, now: datetime) -> int:
    """Resolve the open ``push_failed`` alerts whose failure no failed push has any more;
    how many."""
    query = sa.select(ALERTS.c.id, ALERTS.c.condition, ALERTS.c.platform, ALERTS.c.order_id).where(
        ALERTS.c.state == "open", ALERTS.c.kind == ALERT_KIND
    )
    resolved = 0
    for alert in conn.execute(query).all():
        code = int(alert.condition.split(":", 3)[2])
        kind = _error_kind(alert.condition)
        left = conn.execute(
            sa.select(PUSHES.c.id)
            .where(FAILED, PUSHES.c.platform == alert.platform, PUSHES.c.code == code)
            .where(PUSHES.c.error.startswith(f"{kind}:", autoescape=True))
            .limit(1)
        ).first()
        if left is None:
            conn.execute(
                ALERTS.update().where(ALERTS.c.id == alert.id).values(state="resolved", resolved_at=now)
            )
            _dispatch_soon(conn, alert.id, "resolved", alert.platform, alert.order_id, now)
            resolved += 1
    return resolved


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "platform": row.platform,
        "code": row.code,
        "shop_id": row.shop_id,
        "ordersn": str(row.ordersn)[:64] if row.ordersn is not None else None,
        "received_at": rfc3339(row.received_at),
        "failed_at": rfc3339(row.applied_at),
        "error": row.error,
    }


def _columns(conn: Connection) -> list[Any]:
    c = PUSHES.c
    return [c.id, c.platform, c.code, c.shop_id, ordersn(conn).label("ordersn"), c.received_at,
            c.applied_at, c.error]  # fmt: skip


def get_push(conn: Connection, push_id: int) -> dict[str, Any] | None:
    """One stored push as the status API shows it (without its body), failed or not."""
    row = conn.execute(sa.select(*_columns(conn)).where(PUSHES.c.id == push_id)).first()
    if row is None:
        return None
    view = _view(row)
    if row.error is None:
        view["failed_at"] = None
    view["state"] = "failed" if row.error else ("applied" if row.applied_at else "unapplied")
    return view


def list_failed(conn: Connection, *, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    """A page of the failed pushes, oldest first, without their bodies (the body's ordersn
    stands for it): id, platform, code, shop, when received, when it failed, and why."""
    query = sa.select(*_columns(conn)).where(FAILED).order_by(PUSHES.c.id).limit(limit + 1)
    if cursor:
        query = query.where(PUSHES.c.id > after_cursor(conn, cursor))
    rows = conn.execute(query).all()
    page = rows[:limit]
    return {
        "pushes": [{**_view(row), "state": "failed"} for row in page],
        "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
    }
