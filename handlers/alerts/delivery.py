"""The outbox job that delivers one notice to one webhook sink (``alert_send``)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from handlers.alerts import Notice, configured, slack, standard_webhooks
from service.outbox import Again, Context, Handler, Job, JobRefused
from service.settings import Settings

KIND = "alert_send"


async def send_alert(job: Job, ctx: Context) -> Again | None:
    """Deliver ``job.payload["notice"]`` to the sink ``job.payload["sink"]`` names."""
    settings: Settings = ctx.resources["settings"]
    sink = configured(settings).get(str(job.payload.get("sink")))
    if sink is None:
        raise JobRefused(f"sink {job.payload.get('sink')} is no longer configured")
    notice = Notice.from_payload(job.payload["notice"])
    client: httpx.AsyncClient = ctx.resources["alerts_http"]
    if sink.kind == "slack":
        await slack.send(client, sink, notice)
    else:
        secret = settings.alert_standard_webhook_secret
        if secret is None:
            raise JobRefused("ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET is not set")
        await standard_webhooks.send(client, sink, secret.reveal(), notice, datetime.now(UTC))
    return None


HANDLERS: dict[str, Handler] = {KIND: send_alert}
