"""Shopee pushes (already JSON-decoded) parsed into normalized events.

A push is ``{"code": int, "shop_id": int, "timestamp": int, "data": {...}}``. orderwatch
acts on two codes (field names verified in docs/platforms.md):

- 3, order_status_push: ``data`` has ``ordersn``, ``status``, ``update_time`` and
  ``completed_scenario`` (the published push in tests/conformance/samples/shopee/
  v2.push.get_lost_push_message.json also has ``items``, which orderwatch does not read).
  A COMPLETED push whose ``completed_scenario`` is ``RRAOC`` says a return and refund was
  raised after the order completed (Shopee's returns pages: "RRAOC (Return/Refund request
  raised after Order Complete)"): its event's status is :data:`COMPLETED_RRAOC`, which the
  order map sends to ``returning`` with an alert, instead of COMPLETED (delivered, a state
  the order is in already). The order_status_push page itself is not in the public scrape:
  no other ``completed_scenario`` value is known, and any other is read as plain COMPLETED.
- 4, order_trackingno_push: ``data`` has ``ordersn``, ``package_number``, ``tracking_no``
  (and ``forder_id``); it carries no update time, so the push's ``timestamp`` stands in.

An ``ordersn`` or ``package_number`` holding ``/`` (or being ``.`` or ``..``) is malformed:
no status API path could address it (docs/decisions.md, "Hostile input").

Every other code makes no event; the receiver stores it all the same. The dedupe key of
an event names the fact, not the delivery: a retried push (new outer ``timestamp``) and a
reconciliation poll of the same status and update time carry the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from service.limits import addressable
from statemachines.events import Event, EventKind

PLATFORM = "shopee"
ORDER_STATUS_PUSH = 3
TRACKING_NUMBER_PUSH = 4
ACTED_ON = (ORDER_STATUS_PUSH, TRACKING_NUMBER_PUSH)
TRACKING_STATUS = "TRACKING_NUMBER"  # the ``status`` of a tracking-number event
# Not a Shopee status: orderwatch's name for COMPLETED with completed_scenario RRAOC.
COMPLETED_RRAOC = "COMPLETED_RRAOC"

MAX_KEY = 200  # the journal's dedupe_key column
_MAX_CODE = 2**31 - 1  # the pushes table's code column is a 32-bit integer
# Column widths of the journal (and orders/packages) that the parsed fields go into.
_WIDTHS = {"ordersn": 64, "status": 64, "package_number": 64, "tracking_no": 100, "shop_id": 64}
# The ids the status API reads back by path (/v1/orders/shopee/{ordersn}, /v1/packages/...).
_ADDRESSED = ("ordersn", "package_number")
# 2000-01-01 .. 2100-01-01: anything outside is not a Shopee time.
_EARLIEST, _LATEST = 946_684_800, 4_102_444_800


class MalformedPush(ValueError):
    """A push lacks a field orderwatch needs, or has it in the wrong shape; the message says which."""


@dataclass(frozen=True)
class ParsedPush:
    """One push: its code, its shop (absent for partner-level pushes) and the events it says."""

    code: int
    shop_id: str | None
    events: tuple[Event, ...]


def order_status_key(ordersn: str, status: str, update_time: int) -> str:
    """The dedupe key of "order ``ordersn`` had ``status`` at ``update_time``" (push or poll)."""
    return _bounded(f"{PLATFORM}:{ordersn}:order:{status}:{update_time}")


def tracking_number_key(ordersn: str, package_number: str, tracking_no: str) -> str:
    """The dedupe key of "package ``package_number`` of ``ordersn`` got ``tracking_no``"."""
    return _bounded(f"{PLATFORM}:{ordersn}:tracking:{package_number}:{tracking_no}")


@dataclass(frozen=True, slots=True)
class PushHead:
    """What the receiver keeps of a push it checked: its code and shop."""

    code: int
    shop_id: str | None


def check_push(body: Mapping[str, Any]) -> PushHead:
    """The push's code and shop, once every check of :func:`parse_push` has passed; it
    builds no events (the receiver stores the push, the applier parses it again)."""
    code, shop_id, _ = _read(body)
    return PushHead(code, shop_id)


def parse_push(body: Mapping[str, Any]) -> ParsedPush:
    """The push's code, shop and events; :class:`MalformedPush` when a push of a code we act on
    (or any push's ``code``) is unusable."""
    code, shop_id, fields = _read(body)
    if fields is None:
        return ParsedPush(code, shop_id, ())
    assert shop_id is not None  # _read insists on it for the codes it reads fields of
    ordersn, when, first, second = fields
    if code == ORDER_STATUS_PUSH:
        event = Event(
            platform=PLATFORM,
            shop_id=shop_id,
            order_id=ordersn,
            kind=EventKind.ORDER_STATUS,
            status=first,
            occurred_at=datetime.fromtimestamp(when, UTC),
            dedupe_key=order_status_key(ordersn, first, when),
            source="push",
            raw=body,
        )
    else:
        event = Event(
            platform=PLATFORM,
            shop_id=shop_id,
            order_id=ordersn,
            kind=EventKind.TRACKING_NUMBER,
            status=TRACKING_STATUS,
            occurred_at=datetime.fromtimestamp(when, UTC),
            dedupe_key=tracking_number_key(ordersn, first, second),
            source="push",
            package_id=first,
            tracking_number=second,
            raw=body,
        )
    return ParsedPush(code, shop_id, (event,))


_Fields = tuple[str, int, str, str]  # ordersn, update time, then status and "" or package and tracking


def _read(body: Mapping[str, Any]) -> tuple[int, str | None, _Fields | None]:
    # Every check a push goes through, shared by the receiver and the applier, so that a
    # push the receiver stored is one the applier can parse.
    code = body.get("code")
    if not _is_int(code) or not 0 <= code <= _MAX_CODE:
        raise MalformedPush("code must be a non-negative integer")
    if code not in ACTED_ON:
        return code, _loose_shop_id(body.get("shop_id")), None
    shop_id = _shop_id(body.get("shop_id"))
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise MalformedPush(f"a code {code} push must carry a data object")
    ordersn = _text(data, "ordersn")
    # The order's own update time; the outer timestamp (when the push was sent) only without
    # it, as in the tracking-number push.
    when = _when(body, data)
    if code == ORDER_STATUS_PUSH:
        return code, shop_id, (ordersn, when, _order_status(data), "")
    return code, shop_id, (ordersn, when, _text(data, "package_number"), _text(data, "tracking_no"))


def _order_status(data: Mapping[str, Any]) -> str:
    status = _text(data, "status")
    if status == "COMPLETED" and data.get("completed_scenario") == "RRAOC":
        return COMPLETED_RRAOC
    return status


def _when(body: Mapping[str, Any], data: Mapping[str, Any]) -> int:
    if data.get("update_time") is not None:
        return _epoch(data, "update_time")
    return _epoch(body, "timestamp")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedPush(f"data.{name} must be a non-empty string")
    if len(value) > _WIDTHS[name]:
        raise MalformedPush(f"data.{name} is longer than {_WIDTHS[name]} characters")
    if name in _ADDRESSED and not addressable(value):
        raise MalformedPush(f"data.{name} must be one segment of a URL path: no '/', and not '.' or '..'")
    return value


def _epoch(holder: Mapping[str, Any], name: str) -> int:
    value = holder.get(name)
    where = "data." + name if name == "update_time" else name
    if not _is_int(value):
        raise MalformedPush(f"{where} must be an integer (seconds since 1970)")
    if not _EARLIEST <= value <= _LATEST:
        raise MalformedPush(f"{where} is not a plausible time")
    return int(value)


def _shop_id(value: object) -> str:
    shop_id = _loose_shop_id(value)
    if shop_id is None:
        raise MalformedPush("shop_id must be a positive integer")
    return shop_id


def _loose_shop_id(value: object) -> str | None:
    # Partner-level pushes (shop authorization, code 1, 2, 12) have no shop_id.
    if _is_int(value) and 0 < value < 10 ** _WIDTHS["shop_id"]:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= _WIDTHS["shop_id"]:
        return value
    return None


def _bounded(key: str) -> str:
    # Real keys are far shorter; an outsized one keeps its head and a digest of the whole.
    if len(key) <= MAX_KEY:
        return key
    return f"{key[: MAX_KEY - 65]}#{hashlib.sha256(key.encode()).hexdigest()}"
