"""Settings: one frozen object built once from the environment (12-factor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.config import Config

if TYPE_CHECKING:
    from service.auth import Token

DEFAULT_DATABASE_URL = "sqlite:///orderwatch.db"
SHOPEE_API_BASE = "https://partner.shopeemobile.com"


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


@dataclass(frozen=True)
class Settings:
    """Everything orderwatch reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    log_level: str = "INFO"
    api_tokens: tuple[Token, ...] = ()
    shopee_partner_id: str | None = None
    # Every key verifies pushes (rotation: old and new side by side); the first signs calls.
    shopee_partner_keys: tuple[Secret, ...] = ()
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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (the process environment by default)."""
        from service.auth import parse_tokens

        config = Config(environ=dict(os.environ if environ is None else environ))
        url = config("ORDERWATCH_DATABASE_URL", default=DEFAULT_DATABASE_URL)
        if not url.startswith(("sqlite", "postgresql")):
            raise ConfigurationError(
                "ORDERWATCH_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL"
            )
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return cls(
            database_url=url,
            log_level=config("ORDERWATCH_LOG_LEVEL", default="INFO"),
            api_tokens=parse_tokens(config("ORDERWATCH_API_TOKENS", default=None)),
            shopee_partner_id=_partner_id(config("ORDERWATCH_SHOPEE_PARTNER_ID", default=None)),
            shopee_partner_keys=_secrets(config("ORDERWATCH_SHOPEE_PARTNER_KEY", default=None)),
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
            tracking_seconds=_seconds(
                "ORDERWATCH_TRACKING_SECONDS", config("ORDERWATCH_TRACKING_SECONDS", default="900")
            ),
            shopee_reconcile_overlap_seconds=_seconds(
                "ORDERWATCH_SHOPEE_RECONCILE_OVERLAP_SECONDS",
                config("ORDERWATCH_SHOPEE_RECONCILE_OVERLAP_SECONDS", default="600"),
            ),
        )


def _partner_id(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    if not text.strip().isdigit():
        raise ConfigurationError("ORDERWATCH_SHOPEE_PARTNER_ID must be a number")
    return text.strip()


def _secrets(text: str | None) -> tuple[Secret, ...]:
    return tuple(Secret(part.strip()) for part in (text or "").split(",") if part.strip())


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
