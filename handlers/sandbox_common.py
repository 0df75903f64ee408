"""What the marketplace sandboxes share: their error, API calls' faults, the clock, and
reading a control request's body. Each sandbox builds on this module, never on another
marketplace's sandbox.

A sandbox's API call fails before it is handled with HTTP 500, 429, or an answer that
hangs: first the faults a test scripted for the next calls, in order, then at the share
its :class:`ApiFaults` say. A control request the sandbox cannot do raises
:class:`SandboxError`, which carries its HTTP answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

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


class SandboxClock:
    """Seconds since 1970: real time (``start=None``) or frozen at ``start``; both advance."""

    def __init__(self, start: int | None = None) -> None:
        self._start = start
        self._offset = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        """The sandbox's current time."""
        with self._lock:
            base = int(time.time()) if self._start is None else self._start
            return base + self._offset

    def advance(self, seconds: int) -> int:
        """Move time forward by ``seconds`` (not backwards); the new time."""
        if seconds < 0:
            raise SandboxError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()


async def control_body(request: Request) -> dict[str, Any]:
    """A control request's JSON object body (empty: ``{}``); :class:`SandboxError` otherwise."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise SandboxError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise SandboxError("the body must be a JSON object")
    return body


def body_value(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """``body[key]`` (``default`` when absent), refused unless of ``kind`` (a bool is no int)."""
    value = body.get(key, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is int):
        raise SandboxError(f"{key} has the wrong type")
    return value
