"""Secrets out of the access log: uvicorn prints every request line with its query string.

No orderwatch route takes a secret in its address any more (the dashboard signs in by a form
POST), but a client may still send one there (an old bookmark with ``?token=``, a script that
puts an API token in the query): :class:`RedactQuery` rewrites the values of the query
parameters that name secrets before uvicorn's access log writes the line.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
# token (the dashboard's old sign-in), the marketplaces' own (access_token, refresh_token, sign),
# and anything named like a key or secret.
_SECRET_PARAM = re.compile(
    r"(?i)(?<=[?&;])((?:[\w.-]*(?:token|secret|key|password|sign(?:ature)?))=)[^&;#\s]*"
)


def redact(path: str) -> str:
    """``path`` (with its query) with the values of secret-looking parameters replaced."""
    if "?" not in path:
        return path
    head, query = path.split("?", 1)
    return head + "?" + _SECRET_PARAM.sub(r"\1[redacted]", "&" + query)[1:]


class RedactQuery(logging.Filter):
    """Rewrites uvicorn's access record ``(client, method, path, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            cleaned = redact(args[2])
            if cleaned != args[2]:
                record.args = (*args[:2], cleaned, *args[3:])
        return True


def protect_access_log() -> None:
    """Install :class:`RedactQuery` on uvicorn's access logger (idempotent)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())
