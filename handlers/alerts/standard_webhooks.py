"""Generic webhooks signed as the Standard Webhooks specification says.

Headers ``webhook-id`` (the same on every try of one message: the receiver's idempotency
key), ``webhook-timestamp`` (Unix seconds of this try) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``<id>.<timestamp>.<body>`` under the key that
the ``whsec_`` secret holds in base64). The body is ``{"type", "timestamp", "data"}``
with ``type`` ``alert.opened`` or ``alert.resolved`` and the alert as ``data``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from handlers.alerts import Notice, Sink, post


def message_id(notice: Notice) -> str:
    """The webhook-id of a notice: one per alert and event, whatever the try."""
    return f"msg_alert_{notice.alert_id}_{notice.event}"


def signature(secret: str, msg_id: str, timestamp: int, content: bytes) -> str:
    """The ``webhook-signature`` value for a message under a ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + content
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], content: bytes) -> bool:
    """Whether headers and body carry a valid signature (for receivers and tests)."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    expected = signature(secret, msg_id, int(stamp), content).encode()
    given = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, one.encode()) for one in given)


def body(notice: Notice, now: datetime) -> dict[str, Any]:
    """The webhook body for a notice."""
    data = notice.as_payload()
    data["id"] = data.pop("alert_id")
    data["state"] = "resolved" if data.pop("event") == "resolved" else "open"
    stamp = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"type": f"alert.{notice.event}", "timestamp": stamp, "data": data}


async def send(client: httpx.AsyncClient, sink: Sink, secret: str, notice: Notice, now: datetime) -> None:
    """Deliver the notice to one Standard Webhooks endpoint, signed."""
    content = orjson.dumps(body(notice, now))
    msg_id, stamp = message_id(notice), int(now.timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature(secret, msg_id, stamp, content),
    }
    await post(client, sink, content, headers)
