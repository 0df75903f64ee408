"""Settings: one frozen object built once from the environment (12-factor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.config import Config

if TYPE_CHECKING:
    from service.auth import Token

DEFAULT_DATABASE_URL = "sqlite:///orderwatch.db"


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
        )
