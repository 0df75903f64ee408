"""Alert sinks: where an alert's opening and resolution are delivered.

``Notice`` is what every sink is given: one alert, opened or resolved. The sinks are the
log (every deployment has it), Slack-compatible incoming webhooks (slack.py) and generic
webhooks signed the Standard Webhooks way (standard_webhooks.py); ``configured`` names the
ones the settings ask for, each by an id that does not reveal its URL (job payloads and
logs carry the id). HTTP answers map to the outbox's outcomes in ``post``: a 2xx is
delivered, 408/429/5xx and transport errors are retried, any other answer can never
succeed and is refused (dead-lettered at once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from handlers.redact import hide, protect_logs
from service.outbox import JobFailed, JobRefused
from service.settings import Secret, Settings

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Notice:
    """One alert opened or resolved, as the sinks are told it (times in RFC 3339 UTC)."""

    alert_id: int
    event: str  # "opened" or "resolved"
    kind: str
    platform: str
    order_id: str
    package_id: str | None
    message: str
    opened_at: str
    resolved_at: str | None

    @property
    def title(self) -> str:
        """A one-line summary for people."""
        mark = "RESOLVED" if self.event == "resolved" else "ALERT"
        return f"{mark} [{self.kind}] {self.message}"

    def as_payload(self) -> dict[str, Any]:
        """The notice as JSON-able data (outbox job payloads, webhook bodies)."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notice:
        """The notice a job payload holds."""
        given: dict[str, Any] = {name: payload.get(name) for name in cls.__dataclass_fields__}
        return cls(**given)


@dataclass(frozen=True)
class Sink:
    """A configured sink: ``kind`` is log, slack or standard; ``id`` names it in jobs."""

    id: str
    kind: str
    url: Secret | None = None


def sink_id(kind: str, url: str) -> str:
    """A stable name for a webhook sink that does not reveal its URL (which holds a token)."""
    return f"{kind}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def configured(settings: Settings) -> dict[str, Sink]:
    """The webhook sinks the settings name, by id (the log is always there besides)."""
    found: dict[str, Sink] = {}
    for kind, urls in (
        ("slack", settings.alert_webhook_urls),
        ("standard", settings.alert_standard_webhook_urls),
    ):
        for url in urls:
            sink = Sink(sink_id(kind, url.reveal()), kind, url)
            found[sink.id] = sink
    return found


async def post(client: httpx.AsyncClient, sink: Sink, content: bytes, headers: dict[str, str]) -> None:
    """POST a body to a webhook sink; raise what the outbox should do when it failed."""
    assert sink.url is not None
    # The URL is the sink's secret (a Slack incoming webhook holds its token), and httpx logs
    # every URL it posts to: out of its records.
    hide(sink.url.reveal())
    protect_logs()
    try:
        response = await client.post(
            sink.url.reveal(),
            content=content,
            headers={"content-type": "application/json", **headers},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        # The exception text may hold the URL: name only its kind.
        raise JobFailed(f"{sink.id}: {type(exc).__name__}") from None
    if response.is_success:
        return
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise JobFailed(f"{sink.id}: HTTP {response.status_code}")
    raise JobRefused(f"{sink.id}: HTTP {response.status_code} {response.text[:200]}")
