"""Slack-compatible incoming webhooks: ``{"text": …, "blocks": […]}``.

``text`` alone is what Slack-compatible receivers (Mattermost, Rocket.Chat, Teams
connectors' Slack mode) read; ``blocks`` adds a tidier layout for Slack itself.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from handlers.alerts import Notice, Sink, post


def body(notice: Notice) -> dict[str, Any]:
    """The webhook body for a notice."""
    facts = [
        f"*Kind:* {notice.kind}",
        f"*Order:* {notice.platform} {notice.order_id}",
        f"*Opened:* {notice.opened_at}",
    ]
    if notice.package_id:
        facts.insert(2, f"*Package:* {notice.package_id}")
    if notice.resolved_at:
        facts.append(f"*Resolved:* {notice.resolved_at}")
    icon = ":white_check_mark:" if notice.event == "resolved" else ":rotating_light:"
    return {
        "text": notice.title,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} {notice.title}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": fact} for fact in facts]},
        ],
    }


async def send(client: httpx.AsyncClient, sink: Sink, notice: Notice) -> None:
    """Deliver the notice to one Slack-compatible webhook."""
    await post(client, sink, orjson.dumps(body(notice)), {})
