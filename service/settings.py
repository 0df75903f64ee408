"""Settings: one frozen object built once from the environment (12-factor)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.config import Config

DEFAULT_DATABASE_URL = "sqlite:///orderwatch.db"
SHOPEE_API_BASE = "https://partner.shopeemobile.com"
COUPANG_API_BASE = "https://api-gateway.coupang.com"


class ConfigurationError(Exception):
    """The configuration is unusable; the message says which variable and why."""


class Secret(str):
    """A string whose ``repr`` and ``str`` hide it; use :meth:`reveal` to get it."""

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def reveal(self) -> str:
        """The secret's value, for signing only."""
        return str.__str__(self)


ROLES = ("viewer", "operator")  # weakest first: a role may do what those before it may


@dataclass(frozen=True)
class Token:
    """A configured API token: who holds it and what it may do."""

    name: str
    secret: Secret
    role: str


def parse_tokens(text: str | None) -> tuple[Token, ...]:
    """Parse ``name:token:role,…``; :class:`ConfigurationError` names the bad entry."""
    if not text:
        return ()
    tokens = []
    for number, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), start=1):
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts) or parts[2] not in ROLES:
            raise ConfigurationError(
                f"ORDERWATCH_API_TOKENS entry {number} must be name:token:role with role viewer or operator"
            )
        tokens.append(Token(parts[0], Secret(parts[1]), parts[2]))
    return tuple(tokens)


@dataclass(frozen=True)
class Settings:
    """Everything orderwatch reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    api_tokens: tuple[Token, ...] = ()
    shopee_partner_id: str | None = None
    # The API partner keys: the first signs every API call; while no push key is set, every
    # one of them verifies pushes (rotation: old and new side by side).
    shopee_partner_keys: tuple[Secret, ...] = ()
    # The Live Push Partner Key(s) that Shopee's console issues for pushes: they verify pushes
    # (comma-separated while rotating) and never sign an API call. Unset: the API keys.
    shopee_push_partner_keys: tuple[Secret, ...] = ()
    shopee_push_url: str | None = None  # the callback URL as registered with Shopee
    shopee_api_base: str = SHOPEE_API_BASE
    # Instant Mart: (outlet shop id, main shop id) pairs set by configuration.
    shopee_outlet_shops: tuple[tuple[str, str], ...] = ()
    # The reconciliation poll: how often, and how far back before the last good poll.
    shopee_reconcile_seconds: float = 300.0
    shopee_reconcile_overlap_seconds: float = 600.0
    # How often a picked-up parcel's checkpoints are read until it is delivered (or final).
    tracking_seconds: float = 900.0
    # Retries: the first backoff of a marketplace call, and of an outbox job (each doubles).
    api_backoff_seconds: float = 0.5
    outbox_backoff_seconds: float = 1.0
    outbox_attempts: int = 8
    # Alerts: the sinks (Slack-compatible webhooks; Standard Webhooks, signed) and the rules'
    # thresholds (see service/alert_rules.py). Webhook URLs carry tokens: kept as secrets.
    alert_webhook_urls: tuple[Secret, ...] = ()
    alert_standard_webhook_urls: tuple[Secret, ...] = ()
    alert_standard_webhook_secret: Secret | None = None  # whsec_<base64>
    alert_rules_seconds: float = 60.0
    alert_ship_by_hours: float = 24.0
    alert_stale_hours: float = 48.0
    alert_hold_hours: float = 24.0
    alert_customs_days: float = 3.0
    # Coupang Open API: the vendor and its access key pair (unset: no Coupang polling).
    coupang_vendor_id: str | None = None
    coupang_access_key: Secret | None = None
    coupang_secret_key: Secret | None = None
    coupang_api_base: str = COUPANG_API_BASE
    # How often a followed Coupang product's approval status is read (approved: 12x less often).
    coupang_product_poll_seconds: float = 300.0
    # The Coupang order poll: how often; how far before each status's cursor (and before the
    # oldest open order) it lists again; how far back its first poll of a status looks.
    coupang_poll_seconds: float = 300.0
    coupang_poll_overlap_seconds: float = 3600.0
    coupang_lookback_days: int = 7
    # The versions of the order sheet reads and the return request list, by default the ones whose
    # answers are published: v5 lists and single sheets with v4 by orderId, and the v4 return list.
    # "v4" reads every sheet at v4; "v5-all" (by orderId too) and "v6" are unverified opt-ins
    # (see handlers/coupang/client.py).
    coupang_ordersheets_version: str = "v5"
    coupang_returns_version: str = "v4"
    # Shared secret of POST /webhooks/coupang (hex HMAC-SHA256 of "<url>|<body>").
    ingest_secret: Secret | None = None

    @property
    def shopee_push_keys(self) -> tuple[Secret, ...]:
        """The keys that verify Shopee pushes: the push partner keys, else the API partner keys."""
        return self.shopee_push_partner_keys or self.shopee_partner_keys

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (the process environment by default)."""
        config = Config(environ=dict(os.environ if environ is None else environ))
        url = config("ORDERWATCH_DATABASE_URL", default=DEFAULT_DATABASE_URL)
        if not url.startswith(("sqlite", "postgresql")):
            raise ConfigurationError(
                "ORDERWATCH_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL"
            )
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        settings = cls(
            database_url=url,
            log_level=config("ORDERWATCH_LOG_LEVEL", default="INFO"),
            api_tokens=parse_tokens(config("ORDERWATCH_API_TOKENS", default=None)),
            shopee_partner_id=_partner_id(config("ORDERWATCH_SHOPEE_PARTNER_ID", default=None)),
            shopee_partner_keys=_secrets(config("ORDERWATCH_SHOPEE_PARTNER_KEY", default=None)),
            shopee_push_partner_keys=_secrets(config("ORDERWATCH_SHOPEE_PUSH_PARTNER_KEY", default=None)),
            shopee_push_url=_push_url(config("ORDERWATCH_SHOPEE_PUSH_URL", default=None)),
            shopee_api_base=_base_url(
                "ORDERWATCH_SHOPEE_API_BASE", config("ORDERWATCH_SHOPEE_API_BASE", default=SHOPEE_API_BASE)
            ),
            shopee_outlet_shops=_outlets(config("ORDERWATCH_SHOPEE_OUTLET_SHOPS", default=None)),
            shopee_reconcile_seconds=_seconds(
                "ORDERWATCH_SHOPEE_RECONCILE_SECONDS",
                config("ORDERWATCH_SHOPEE_RECONCILE_SECONDS", default="300"),
            ),
            api_backoff_seconds=_seconds(
                "ORDERWATCH_API_BACKOFF_SECONDS", config("ORDERWATCH_API_BACKOFF_SECONDS", default="0.5")
            ),
            outbox_backoff_seconds=_seconds(
                "ORDERWATCH_OUTBOX_BACKOFF_SECONDS", config("ORDERWATCH_OUTBOX_BACKOFF_SECONDS", default="1")
            ),
            outbox_attempts=_count(
                "ORDERWATCH_OUTBOX_ATTEMPTS", config("ORDERWATCH_OUTBOX_ATTEMPTS", default="8")
            ),
            alert_webhook_urls=_urls(
                "ORDERWATCH_ALERT_WEBHOOK_URLS", config("ORDERWATCH_ALERT_WEBHOOK_URLS", default=None)
            ),
            alert_standard_webhook_urls=_urls(
                "ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS",
                config("ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS", default=None),
            ),
            alert_standard_webhook_secret=_whsec(
                config("ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET", default=None),
                bool(config("ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS", default="").strip()),
            ),
            alert_rules_seconds=_seconds(
                "ORDERWATCH_ALERT_RULES_SECONDS", config("ORDERWATCH_ALERT_RULES_SECONDS", default="60")
            ),
            alert_ship_by_hours=_seconds(
                "ORDERWATCH_ALERT_SHIP_BY_HOURS", config("ORDERWATCH_ALERT_SHIP_BY_HOURS", default="24")
            ),
            alert_stale_hours=_seconds(
                "ORDERWATCH_ALERT_STALE_HOURS", config("ORDERWATCH_ALERT_STALE_HOURS", default="48")
            ),
            alert_hold_hours=_seconds(
                "ORDERWATCH_ALERT_HOLD_HOURS", config("ORDERWATCH_ALERT_HOLD_HOURS", default="24")
            ),
            alert_customs_days=_seconds(
                "ORDERWATCH_ALERT_CUSTOMS_DAYS", config("ORDERWATCH_ALERT_CUSTOMS_DAYS", default="3")
            ),
            coupang_vendor_id=(config("ORDERWATCH_COUPANG_VENDOR_ID", default="") or "").strip() or None,
            coupang_access_key=_secret(config("ORDERWATCH_COUPANG_ACCESS_KEY", default=None)),
            coupang_secret_key=_secret(config("ORDERWATCH_COUPANG_SECRET_KEY", default=None)),
            coupang_api_base=_base_url(
                "ORDERWATCH_COUPANG_API_BASE", config("ORDERWATCH_COUPANG_API_BASE", default=COUPANG_API_BASE)
            ),
            coupang_product_poll_seconds=_seconds(
                "ORDERWATCH_COUPANG_PRODUCT_POLL_SECONDS",
                config("ORDERWATCH_COUPANG_PRODUCT_POLL_SECONDS", default="300"),
            ),
            coupang_poll_seconds=_seconds(
                "ORDERWATCH_COUPANG_POLL_SECONDS", config("ORDERWATCH_COUPANG_POLL_SECONDS", default="300")
            ),
            coupang_poll_overlap_seconds=_seconds(
                "ORDERWATCH_COUPANG_POLL_OVERLAP_SECONDS",
                config("ORDERWATCH_COUPANG_POLL_OVERLAP_SECONDS", default="3600"),
            ),
            coupang_lookback_days=_count(
                "ORDERWATCH_COUPANG_LOOKBACK_DAYS", config("ORDERWATCH_COUPANG_LOOKBACK_DAYS", default="7")
            ),
            coupang_ordersheets_version=_version(
                "ORDERWATCH_COUPANG_ORDERSHEETS_VERSION",
                config("ORDERWATCH_COUPANG_ORDERSHEETS_VERSION", default="v5"),
                ("v5", "v4", "v5-all"),
            ),
            coupang_returns_version=_version(
                "ORDERWATCH_COUPANG_RETURNS_VERSION",
                config("ORDERWATCH_COUPANG_RETURNS_VERSION", default="v4"),
                ("v4", "v6"),
            ),
            ingest_secret=_secret(config("ORDERWATCH_INGEST_SECRET", default=None)),
            tracking_seconds=_seconds(
                "ORDERWATCH_TRACKING_SECONDS", config("ORDERWATCH_TRACKING_SECONDS", default="900")
            ),
            shopee_reconcile_overlap_seconds=_seconds(
                "ORDERWATCH_SHOPEE_RECONCILE_OVERLAP_SECONDS",
                config("ORDERWATCH_SHOPEE_RECONCILE_OVERLAP_SECONDS", default="600"),
            ),
        )
        _refuse_half_set(settings)
        return settings


def _refuse_half_set(settings: Settings) -> None:
    """Marketplace credentials come whole or not at all: half of them starts a service that
    fails only later, at the first push refused or the first poll (one line, exit 2, now)."""
    if settings.shopee_partner_id and not settings.shopee_partner_keys:
        raise ConfigurationError(
            "ORDERWATCH_SHOPEE_PARTNER_ID is set but ORDERWATCH_SHOPEE_PARTNER_KEY is not: "
            "API calls are signed with the key; set both, or neither"
        )
    coupang = {
        "ORDERWATCH_COUPANG_VENDOR_ID": settings.coupang_vendor_id,
        "ORDERWATCH_COUPANG_ACCESS_KEY": settings.coupang_access_key,
        "ORDERWATCH_COUPANG_SECRET_KEY": settings.coupang_secret_key,
    }
    missing = [name for name, value in coupang.items() if not value]
    if 0 < len(missing) < len(coupang):
        needed = ", ".join(coupang)
        raise ConfigurationError(f"Coupang needs all three of {needed}: {', '.join(missing)} not set")


def _partner_id(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    if not text.strip().isdigit():
        raise ConfigurationError("ORDERWATCH_SHOPEE_PARTNER_ID must be a number")
    return text.strip()


def _secrets(text: str | None) -> tuple[Secret, ...]:
    return tuple(Secret(part.strip()) for part in (text or "").split(",") if part.strip())


def _version(name: str, text: str, allowed: tuple[str, ...]) -> str:
    version = (text or "").strip().lower()
    if version not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}")
    return version


def _secret(text: str | None) -> Secret | None:
    return Secret(text.strip()) if text and text.strip() else None


def _push_url(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            "ORDERWATCH_SHOPEE_PUSH_URL must be the absolute http(s) URL registered with Shopee"
        )
    return url


def _base_url(name: str, text: str) -> str:
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http(s) URL")
    return url


def _outlets(text: str | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        outlet, _, main = (piece.strip() for piece in part.partition(":"))
        if not (outlet.isdigit() and main.isdigit()) or outlet == main:
            raise ConfigurationError(
                "ORDERWATCH_SHOPEE_OUTLET_SHOPS must be comma-separated <outlet shop id>:<main shop id> "
                f"pairs of two different numeric shop ids, not {part.strip()!r}"
            )
        pairs.append((outlet, main))
    return tuple(pairs)


def _urls(name: str, text: str | None) -> tuple[Secret, ...]:
    urls = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        parts = urlsplit(part.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"{name} must be comma-separated absolute http(s) URLs")
        urls.append(Secret(part.strip()))
    return tuple(urls)


def _whsec(text: str | None, needed: bool) -> Secret | None:
    name = "ORDERWATCH_ALERT_STANDARD_WEBHOOK_SECRET"
    if not text or not text.strip():
        if needed:
            raise ConfigurationError(f"{name} is needed to sign ORDERWATCH_ALERT_STANDARD_WEBHOOK_URLS")
        return None
    secret = text.strip()
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        key = b""
    if not secret.startswith("whsec_") or len(key) < 16:
        raise ConfigurationError(f"{name} must be whsec_ and the base64 of at least 16 random bytes")
    return Secret(secret)


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {text!r}") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be more than 0 seconds")
    return value


def _count(name: str, text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)
