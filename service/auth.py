"""Who is calling: the API token a request bears, compared in constant time, and whether its
role may do what is asked. The tokens themselves are settings (service/settings.py); their
names are re-exported here for the callers that import them from this module."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from service.errors import ApiError
from service.settings import ROLES, Settings, Token, parse_tokens

__all__ = ["ROLES", "Caller", "Token", "authorize", "identify", "is_loopback", "parse_tokens"]


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as the token says."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this caller holds ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


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


def authorize(request: Request, role: str) -> Caller:
    """The caller, if allowed ``role``; otherwise the fitting :class:`ApiError`.

    With tokens configured: no token or a wrong one is 401, a viewer's token on a command
    403. With none configured: loopback clients may read (as ``loopback``), anyone else
    gets 403, and commands are refused with 403 (no token could be right: 401 would
    invite a retry with credentials that cannot exist).
    """
    settings: Settings = request.app.state.settings
    if not settings.api_tokens:
        client = request.client.host if request.client else None
        if role == "viewer" and is_loopback(client):
            return Caller("loopback", "viewer")
        if role == "viewer":
            raise ApiError(
                403, "forbidden", "no API tokens are configured: reads are served to loopback only"
            )
        raise ApiError(403, "forbidden", "no API tokens are configured: commands are refused")
    caller = identify(settings.api_tokens, request.headers.get("authorization"))
    if caller is None:
        raise ApiError(401, "unauthorized", "a valid Bearer token is required")
    if not caller.may(role):
        raise ApiError(403, "forbidden", f"this token's role may not {role}")
    return caller
