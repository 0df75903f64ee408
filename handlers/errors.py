"""Errors a marketplace API call can end in, whatever the marketplace.

Exception tree::

    MarketplaceError             any failed call: platform, message, code, request id, status
    ├── MarketplaceUnavailable   no usable answer: transport error, timeout, HTTP 5xx,
    │                            or the marketplace's own "system error, retry later"
    ├── RateLimited              HTTP 429 or the marketplace's rate-limit error
    ├── AuthenticationFailed     wrong signature, unknown partner, invalid or expired
    │                            access or refresh token, shop no longer authorized
    └── RequestRejected          any other error the marketplace answered with

Clients translate lower-level failures at the boundary (``raise ... from exc``), so callers
catch these and never an ``httpx`` exception. Messages are for people: they name the call
and the marketplace's error, and never carry a key, token or signature.
"""

from __future__ import annotations


class MarketplaceError(Exception):
    """A marketplace call failed; ``code`` is the marketplace's error name when it gave one."""

    def __init__(
        self,
        platform: str,
        message: str,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        details = [f"{self.platform}: {self.message}"]
        if self.code:
            details.append(f"error={self.code}")
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        return details[0] if len(details) == 1 else f"{details[0]} ({', '.join(details[1:])})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class MarketplaceUnavailable(MarketplaceError):
    """No usable answer: the connection failed or timed out, or the marketplace had a 5xx."""


class RateLimited(MarketplaceError):
    """The marketplace asks us to slow down (HTTP 429 or its rate-limit error)."""


class AuthenticationFailed(MarketplaceError):
    """The marketplace refused our credentials: signature, partner, or the shop's token."""


class RequestRejected(MarketplaceError):
    """The marketplace answered with an error that is not about availability, rate or auth."""
