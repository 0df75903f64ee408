"""Secrets out of the request lines that httpx (and httpcore) log at INFO.

Two kinds: query parameters that carry one (Shopee's ``access_token``, ``refresh_token`` and
``sign`` must travel in the query), and whole values registered with :func:`hide` — a Slack
incoming-webhook URL *is* its secret, and httpx prints every URL it posts to.
:class:`RedactSecrets` rewrites such records on the loggers that print URLs, before any handler
sees them, so this holds whatever handlers or levels the application configures.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence

SECRET_QUERY = re.compile(r"(?i)(?<![\w-])((?:access_token|refresh_token|sign)=)[^&\s\"'#>]+")
PROTECTED_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
_lock = threading.Lock()
_hidden: set[str] = set()
_hidden_pattern: re.Pattern[str] | None = None


def hide(value: str) -> None:
    """Never let ``value`` (a secret URL, a key) show in the protected loggers' records."""
    global _hidden_pattern
    if not value or value in _hidden:
        return
    with _lock:
        _hidden.add(value)
        ordered = sorted(_hidden, key=len, reverse=True)  # the longest first: no half-redactions
        _hidden_pattern = re.compile("|".join(map(re.escape, ordered)))


class RedactSecrets(logging.Filter):
    """Rewrites a record whose text has a secret query parameter or a hidden value."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot format is not ours to judge
            return True
        cleaned = SECRET_QUERY.sub(r"\1[redacted]", text)
        hidden = _hidden_pattern
        if hidden is not None:
            cleaned = hidden.sub("[redacted]", cleaned)
        if cleaned != text:
            record.msg, record.args = cleaned, None
        return True


def protect_logs(names: Sequence[str] = PROTECTED_LOGGERS) -> None:
    """Install :class:`RedactSecrets` on the loggers that print request URLs (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
