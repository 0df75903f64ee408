"""API tokens with ``viewer`` and ``operator`` roles, compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from service.settings import ConfigurationError, Secret

ROLES = ("viewer", "operator")


@dataclass(frozen=True)
class Token:
    """A configured API token: who holds it and what it may do."""

    name: str
    secret: Secret
    role: str


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as the token says."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this caller holds ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


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


def identify(tokens: tuple[Token, ...], authorization: str | None) -> Caller | None:
    """The caller a ``Bearer`` header names, or None when it names no configured token."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    offered = authorization[len("Bearer ") :].strip().encode()
    found = None
    for token in tokens:  # compare against every token: timing says nothing about which
        if hmac.compare_digest(offered, token.secret.reveal().encode()):
            found = Caller(token.name, token.role)
    return found


def is_loopback(host: str | None) -> bool:
    """True for a loopback client address."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
