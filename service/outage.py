"""One warning per database outage, not one per refused request.

While the database is away every push and read is answered 503, and each used to log a
warning of its own (two per push). Each :class:`service.db.Database` has an :class:`Outage`
that logs the first refusal of an outage as a warning, the rest at debug level, and one
warning when it serves again, with how long it lasted and how many requests were refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("orderwatch.db")


class Outage:
    """Whether the database is away, as the requests answered 503 saw it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._refused = 0

    @property
    def down(self) -> bool:
        """True from a refusal until something is served again."""
        return self._since is not None

    def refused(self, reason: object) -> None:
        """A request answered 503: the database is unavailable."""
        with self._lock:
            first = self._since is None
            if first:
                self._since = self._clock()
            self._refused += 1
        if first:
            log.warning("the database is unavailable (%s): answering 503 until it is back", reason)
        else:
            log.debug("still unavailable: %s", reason)

    def now(self) -> float:
        """When a piece of work starts, to hand to :meth:`served` once it succeeds."""
        return self._clock()

    def served(self, started: float) -> None:
        """Work begun at ``started`` succeeded: it ends an outage that began before it (work
        that began earlier and finishes meanwhile says nothing); a cheap look when none."""
        if self._since is None:
            return
        with self._lock:
            since, refused = self._since, self._refused
            if since is None or started < since:
                return
            self._since, self._refused = None, 0
        if since is not None:
            log.warning(
                "the database is back after %.1f s; %d requests were answered 503 meanwhile",
                self._clock() - since,
                refused,
            )

