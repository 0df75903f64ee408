"""Every configured secret, looked for in every log line the suite's processes write.

A :class:`service.settings.Secret` (the marketplaces' keys, the API tokens, the ingest and
webhook secrets) is remembered as it is made; :class:`Scanner` looks for each in every log
record of the test process — the app's, the pollers', httpx's request lines, uvicorn's — at
INFO and above, and the test fails at teardown naming the leak (tests/conftest.py).
Secrets shorter than :data:`SHORTEST` are left out: a test's ``"k"`` is in every line.
"""

from __future__ import annotations

import logging
import re
import threading

from service.settings import Secret

SHORTEST = 8
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _remember(cls: type[Secret], value: object = "") -> Secret:
    made = str.__new__(cls, value)
    text = str.__str__(made)
    if len(text) >= SHORTEST and text not in _secrets:
        global _pattern
        with _lock:
            _secrets.add(text)
            _pattern = re.compile("|".join(map(re.escape, sorted(_secrets, key=len, reverse=True))))
    return made


def install() -> None:
    """Remember every Secret made from now on."""
    Secret.__new__ = _remember  # type: ignore[method-assign, assignment]


class Scanner(logging.Handler):
    """Collects the records that show a remembered secret."""

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        super().__init__(logging.INFO)
        self.leaks: list[str] = []
        self._ignore = ignore

    def emit(self, record: logging.LogRecord) -> None:
        pattern = _pattern
        if pattern is None or record.name in self._ignore:
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format shows nothing
            return
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if pattern.search(text):
            self.leaks.append(f"{record.name} {record.levelname}: {pattern.sub('<SECRET>', text)[:300]}")


# Loggers that do not propagate to the root (uvicorn's), and the ones raised to INFO while a
# test runs so that their every line is looked at (httpx prints each request's address).
OWN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")
INFO_LOGGERS = ("orderwatch", "httpx", "uvicorn.access", "uvicorn.error")
