"""What the marketplace sandboxes share about failing: their error, and API calls' faults.

A sandbox's API call fails before it is handled with HTTP 500, 429, or an answer that
hangs: first the faults a test scripted for the next calls, in order, then at the share
its :class:`ApiFaults` say. A control request the sandbox cannot do raises
:class:`SandboxError`, which carries its HTTP answer.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

API_FAULTS = ("500", "429", "hang")


class SandboxError(ValueError):
    """A control request the sandbox cannot do; ``status`` is the HTTP answer for it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ApiFaults:
    """A share of API calls that fail: HTTP 500, 429, or an answer after ``hang_seconds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ("500",)
    hang_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise SandboxError("rate must be between 0 and 1")
        if not self.kinds or any(kind not in API_FAULTS for kind in self.kinds):
            raise SandboxError(f"kinds must be some of {', '.join(API_FAULTS)}")


class FaultScript:
    """The API faults scripted for the next calls; after them, faults drawn by rate.

    It holds the sandbox's lock and draws from the random generator it is given, so a
    sandbox that draws its other faults from the same generator keeps one sequence.
    """

    def __init__(self, lock: threading.RLock, rng: random.Random) -> None:
        self._lock = lock
        self._rng = rng
        self._scripted: deque[str] = deque()

    def fail_next(self, kinds: Iterable[str]) -> None:
        """Make the next API calls fail in this order (500, 429 or hang), then go on as before."""
        kinds = list(kinds)
        if any(kind not in API_FAULTS for kind in kinds):
            raise SandboxError(f"kinds must be some of {', '.join(API_FAULTS)}")
        with self._lock:
            self._scripted.extend(kinds)

    def next_fault(self, faults: ApiFaults) -> str | None:
        """The fault this call suffers, if any: the next scripted one, else one at ``faults.rate``."""
        with self._lock:
            if self._scripted:
                return self._scripted.popleft()
            if faults.rate and self._rng.random() < faults.rate:
                return self._rng.choice(faults.kinds)
            return None
