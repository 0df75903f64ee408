"""The tables, as SQLAlchemy 2 typed models. Alembic migrations must match them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

# The base and the column types, and the Coupang tables, live beside this module; they are
# named here too, so that importing service.models gives every table (Alembic's env.py, the
# migrations' UTCDateTime) as it always has.
from service.models_base import NAMING as NAMING
from service.models_base import Base as Base
from service.models_base import JSONType as JSONType
from service.models_base import UTCDateTime as UTCDateTime
from service.models_coupang import COUPANG_BOXES as COUPANG_BOXES
from service.models_coupang import COUPANG_PRODUCT_ITEMS as COUPANG_PRODUCT_ITEMS
from service.models_coupang import COUPANG_PRODUCT_TRANSITIONS as COUPANG_PRODUCT_TRANSITIONS
from service.models_coupang import COUPANG_PRODUCTS as COUPANG_PRODUCTS
from service.models_coupang import COUPANG_RECEIPTS as COUPANG_RECEIPTS
from service.models_coupang import CoupangBox as CoupangBox
from service.models_coupang import CoupangProduct as CoupangProduct
from service.models_coupang import CoupangProductItem as CoupangProductItem
from service.models_coupang import CoupangProductTransition as CoupangProductTransition
from service.models_coupang import CoupangReceipt as CoupangReceipt


class Shop(Base):
    """A marketplace shop; an Instant Mart outlet shop names its main shop."""

    __tablename__ = "shops"
    __table_args__ = (sa.UniqueConstraint("platform", "shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    shop_id: Mapped[str] = mapped_column(sa.String(64))
    main_shop_id: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    # The shop's Open API authorization (secrets: never logged, never served).
    access_token: Mapped[str | None] = mapped_column(sa.Text)
    refresh_token: Mapped[str | None] = mapped_column(sa.Text)
    token_expires_at: Mapped[datetime | None]
    # When shipment is arranged: at ready_to_ship (after the warehouse steps; the default,
    # None) or already at approved (sellers without warehouse steps).
    arrange_at: Mapped[str | None] = mapped_column(sa.String(32))
    # Coupang: whether new order sheets are acknowledged by orderwatch (None, the default)
    # or left to the seller ("manual").
    acknowledge: Mapped[str | None] = mapped_column(sa.String(16))


class Order(Base):
    """An order's current state; its history is in ``transitions``."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("platform", "order_id"),
        sa.Index("ix_orders_state_id", "state", "id"),
        sa.Index("ix_orders_shop", "platform", "shop_id"),
        sa.Index("ix_orders_main_shop", "platform", "main_shop_id"),
        sa.Index("ix_orders_updated", "updated_at", "id"),
        sa.Index("ix_orders_ship_by", "state", "ship_by"),  # the ship-by rule: unshipped states
        # GET /v1/orders?shop_id= matches either column, whatever the platform (migration 0011).
        sa.Index("ix_orders_shop_id", "shop_id", "id"),
        sa.Index("ix_orders_main_shop_id", "main_shop_id", "id"),
        sa.Index("ix_orders_order_id", "order_id", "id"),  # the dashboard's search by an id's start
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    shop_id: Mapped[str] = mapped_column(sa.String(64))
    main_shop_id: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(32))
    held_from: Mapped[str | None] = mapped_column(sa.String(32))
    platform_status: Mapped[str | None] = mapped_column(sa.String(64))
    last_key: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The marketplace's ship-by deadline, as its last event stating one said (not folded).
    ship_by: Mapped[datetime | None]


class Package(Base):
    """A package (Shopee package_number, Coupang shipmentBoxId) of an order."""

    __tablename__ = "packages"
    __table_args__ = (sa.UniqueConstraint("platform", "package_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_pk: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    package_id: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(32), index=True)
    held_from: Mapped[str | None] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(default=0)
    platform_status: Mapped[str | None] = mapped_column(sa.String(64))
    carrier: Mapped[str | None] = mapped_column(sa.String(100))
    tracking_number: Mapped[str | None] = mapped_column(sa.String(100))
    provisional: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """The append-only journal: every event received, once, with how it fared."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("dedupe_key"),
        sa.Index("ix_events_order", "platform", "order_id"),
        # Only the events that were not applied: the ones ``reapply`` looks for.
        sa.Index(
            "ix_events_unapplied",
            "outcome",
            sqlite_where=sa.text("outcome <> 'applied'"),
            postgresql_where=sa.text("outcome <> 'applied'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    platform: Mapped[str] = mapped_column(sa.String(16))
    shop_id: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    package_id: Mapped[str | None] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(16))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    main_shop_id: Mapped[str | None] = mapped_column(sa.String(64))
    tracking_number: Mapped[str | None] = mapped_column(sa.String(100))
    carrier: Mapped[str | None] = mapped_column(sa.String(100))
    actor: Mapped[str | None] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    raw: Mapped[dict[str, Any]]
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)


class Transition(Base):
    """One step of an order's or package's history.

    The hottest table: written only by ingest, in the transaction that writes the order
    and journals the event, and never deleted from but by a refold of its order. Foreign
    keys to ``orders`` and ``events`` would cost each row two index probes and row locks
    (four times the insert time on PostgreSQL) to guard what that one writer already
    guarantees, so the references are plain indexed columns.
    """

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_pk: Mapped[int] = mapped_column(index=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    package_id: Mapped[str | None] = mapped_column(sa.String(64))
    from_state: Mapped[str] = mapped_column(sa.String(32))
    to_state: Mapped[str] = mapped_column(sa.String(32))
    trigger: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(sa.String(16))
    event_id: Mapped[int | None]
    catch_up: Mapped[bool]


class Checkpoint(Base):
    """A carrier tracking checkpoint of a package."""

    __tablename__ = "checkpoints"
    __table_args__ = (sa.UniqueConstraint("package_pk", "at", "raw_status", "description"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_pk: Mapped[int] = mapped_column(sa.ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    description: Mapped[str] = mapped_column(sa.String(500))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    raw_status: Mapped[str] = mapped_column(sa.String(64))


class OutboxJob(Base):
    """Work to do after a commit (marketplace actions, alert delivery), exactly once in effect."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("key"),
        sa.Index("ix_outbox_ready", "state", "run_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[str] = mapped_column(sa.String(32))
    platform: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    package_id: Mapped[str | None] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # While a worker runs the job: until when it is the worker's, and which worker.
    lease_until: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(sa.String(100))


class Alert(Base):
    """An alert: one per condition while it holds (``condition`` is unique among open ones)."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.Index("ix_alerts_state", "state", "id"),
        sa.Index(
            "uq_alerts_open_condition",
            "condition",
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        ),
        # Alerts whose opening or resolution the sinks have not been handed yet.
        sa.Index(
            "ix_alerts_unnotified",
            "id",
            sqlite_where=sa.text("notified <> state"),
            postgresql_where=sa.text("notified <> state"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    condition: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[str] = mapped_column(sa.String(32))
    platform: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    package_id: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    message: Mapped[str] = mapped_column(sa.Text)
    # The last state handed to the sinks ("" before the opening is): see service/alert_rules.py.
    notified: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")


class Push(Base):
    """A verified marketplace push as received, stored once per body (its SHA-256); its
    events are applied after it is acknowledged (``applied_at``, or ``error`` if it could
    not be)."""

    __tablename__ = "pushes"
    __table_args__ = (
        sa.UniqueConstraint("dedupe_key"),
        # Only the pushes still to apply: the applier's queue.
        sa.Index(
            "ix_pushes_unapplied",
            "id",
            sqlite_where=sa.text("applied_at IS NULL"),
            postgresql_where=sa.text("applied_at IS NULL"),
        ),
        # The pushes that failed to apply: counted at every scrape, listed by the status API.
        sa.Index(
            "ix_pushes_failed",
            "id",
            sqlite_where=sa.text("error IS NOT NULL"),
            postgresql_where=sa.text("error IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    code: Mapped[int]
    shop_id: Mapped[str | None] = mapped_column(sa.String(64))
    dedupe_key: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]
    applied_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)


class PollCursor(Base):
    """Where a poller got to (e.g. the last good Shopee reconciliation of a shop), so a
    restart resumes there."""

    __tablename__ = "poll_cursors"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime]


class Document(Base):
    """A file a marketplace made for a package, kept to be served (the airway bill)."""

    __tablename__ = "documents"
    __table_args__ = (sa.UniqueConstraint("platform", "package_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(sa.String(16))
    package_id: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(32))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]


class Change(Base):
    """The change feed: every state change and new checkpoint, append-only, in commit order.

    ``id`` is the feed position, assigned from ``change_counter`` in the writing
    transaction (see service/changes.py), so positions are gapless and in commit order.
    """

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(16))  # order, package or checkpoint
    platform: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[str] = mapped_column(sa.String(64))
    package_id: Mapped[str | None] = mapped_column(sa.String(64))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str | None] = mapped_column(sa.String(32))
    trigger: Mapped[str | None] = mapped_column(sa.String(32))
    at: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(sa.String(16))
    event_id: Mapped[int | None]
    catch_up: Mapped[bool | None]
    # A transition a refold of its order took back (the history no longer holds it).
    retracted: Mapped[bool] = mapped_column(default=False)
    # The state the order (or package) is in once this change's transaction committed.
    state: Mapped[str | None] = mapped_column(sa.String(32))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    raw_status: Mapped[str | None] = mapped_column(sa.String(64))
    committed_at: Mapped[datetime]


class ChangeCounter(Base):
    """One row: the last feed position handed out; its row lock orders the feed's writers."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(sa.BigInteger)


# One typed table per model, for Core queries (a model's __table__ is typed as a FromClause).
SHOPS = cast(sa.Table, Shop.__table__)
ORDERS = cast(sa.Table, Order.__table__)
PACKAGES = cast(sa.Table, Package.__table__)
EVENTS = cast(sa.Table, Event.__table__)
TRANSITIONS = cast(sa.Table, Transition.__table__)
CHECKPOINTS = cast(sa.Table, Checkpoint.__table__)
OUTBOX = cast(sa.Table, OutboxJob.__table__)
ALERTS = cast(sa.Table, Alert.__table__)
PUSHES = cast(sa.Table, Push.__table__)
CURSORS = cast(sa.Table, PollCursor.__table__)
DOCUMENTS = cast(sa.Table, Document.__table__)
CHANGES = cast(sa.Table, Change.__table__)
CHANGE_COUNTER = cast(sa.Table, ChangeCounter.__table__)
