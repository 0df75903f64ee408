"""Shopee actions run from the outbox: arrange shipment, and tracking (filled in next)."""

from __future__ import annotations

from service.outbox import Handler

HANDLERS: dict[str, Handler] = {}
