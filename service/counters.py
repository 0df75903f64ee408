"""Counters the ingest path bumps as it writes, read by ``GET /metrics`` at scrape time.

They live on the ingest side, not in service/metrics.py, so that writing a batch never
imports the HTTP endpoint that exposes the numbers: the endpoint reads them, ingest only
adds to them (a dict increment under a lock on the hot path).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


class TransitionCounts:
    """Transitions written by this process, by machine and from/to state (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Count history rows laid out as ``batch.TRANSITION_COLUMNS``."""
        counted = Counter(("package" if r[3] else "order", r[4], r[5]) for r in rows)
        if counted:
            with self._lock:
                self._counts.update(counted)

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """The counts so far."""
        with self._lock:
            return dict(self._counts)


TRANSITIONS = TransitionCounts()
