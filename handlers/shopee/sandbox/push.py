"""The sandbox's push delivery: signed POSTs to the push URL, with Shopee's bad habits.

Each push is decided, in the order pushes are made and from a seeded random stream, to be
sent normally, dropped (never sent), duplicated (sent twice), reordered (held back and
sent right after the next push) or delayed (sent ``delay_seconds`` later, behind whatever
comes meanwhile). A push answered with a non-2xx status or a connection error is tried
again after ``backoff * 2**n`` seconds, up to ``attempts`` tries in all, as Shopee retries.

A push dropped, or given up after its last try, is *lost*: kept, as Shopee keeps it for
``v2.push.get_lost_push_message``, until confirmed consumed (:meth:`PushEngine.lost_page`,
:meth:`PushEngine.confirm_lost`).

Delivery runs on its own thread and event loop with one ``httpx.AsyncClient``, so the
sandbox may be driven from tests' threads and from the HTTP handlers alike; ``drain``
waits, from any thread or loop, until every push is delivered or given up.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, fields

import anyio
import httpx
import orjson

from handlers.shopee.signing import push_signature


@dataclass(frozen=True)
class PushFaults:
    """Shares of pushes to drop, duplicate, reorder and delay (one fault per push at most)."""

    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    drop: float = 0.0
    delay_seconds: float = 0.05

    def __post_init__(self) -> None:
        rates = (self.duplicate, self.reorder, self.delay, self.drop)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates are between 0 and 1 and add up to at most 1")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds cannot be negative")


@dataclass(frozen=True)
class PushStats:
    """What became of the pushes so far (``delivered`` counts duplicates' copies too)."""

    created: int = 0
    delivered: int = 0
    attempts: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0
    retried: int = 0
    failed: int = 0
    untargeted: int = 0
    pending: int = 0

    def to_json(self) -> dict[str, int]:
        """The counts as a JSON object."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _Delivery:
    body: bytes
    attempt: int = 1


class PushEngine:
    """Sends the sandbox's pushes to one URL, signed with the partner key (or the push
    partner key it is told to sign with)."""

    def __init__(
        self,
        partner_key: str,
        url: str | None,
        *,
        seed: int = 0,
        faults: PushFaults | None = None,
        attempts: int = 3,
        backoff: float = 0.05,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.faults = faults or PushFaults()
        self.attempts = attempts
        self.backoff = backoff
        self._key = partner_key
        self._timeout = timeout
        self._rng = random.Random(f"{seed}:pushes")
        self._mutex = threading.Lock()
        self._counts = {f.name: 0 for f in fields(PushStats)}
        self._held: list[_Delivery] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Delivery] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closed = False
        self._client: httpx.AsyncClient | None = None
        self._worker: asyncio.Task[None] | None = None
        self._lost: list[tuple[int, bytes]] = []  # (message id, body), oldest first
        self._lost_ids = 0

    def configure(
        self,
        *,
        faults: PushFaults | None = None,
        attempts: int | None = None,
        backoff: float | None = None,
    ) -> None:
        """Change the fault rates and the retry policy for pushes made from now on."""
        if attempts is not None and attempts < 1:
            raise ValueError("attempts must be at least 1")
        with self._mutex:
            self.faults = faults or self.faults
            self.attempts = attempts or self.attempts
            self.backoff = self.backoff if backoff is None else backoff

    def sign_with(self, push_key: str) -> None:
        """Sign the pushes sent from now on with ``push_key``: the Live Push Partner Key that
        Shopee's console issues apart from the API partner key (the API calls keep theirs)."""
        with self._mutex:
            self._key = push_key

    def stats(self) -> PushStats:
        """A snapshot of the counts."""
        with self._mutex:
            return PushStats(**self._counts)

    def submit(self, body: bytes) -> None:
        """Deliver a push body (or not, as the faults decide); returns at once."""
        deliveries: list[_Delivery] = []
        delayed: _Delivery | None = None
        with self._mutex:
            count = self._counts
            count["created"] += 1
            if self.url is None:
                count["untargeted"] += 1
                return
            fault = self._pick_fault()
            if fault == "drop":
                count["dropped"] += 1
                self._lose(body)
                return
            if fault == "reorder":
                count["reordered"] += 1
                count["pending"] += 1
                self._held.append(_Delivery(body))
                return
            if fault == "delay":
                count["delayed"] += 1
                count["pending"] += 1
                delayed = _Delivery(body)
            else:
                copies = 2 if fault == "duplicate" else 1
                count["duplicated"] += copies - 1
                count["pending"] += copies
                # pushes held back for reordering go right after this one
                deliveries = [_Delivery(body) for _ in range(copies)] + self._held
                self._held = []
            delay_seconds = self.faults.delay_seconds
        if delayed is not None:
            self._later(delay_seconds, delayed)
        self._send_soon(deliveries)

    def flush(self) -> int:
        """Send the pushes held back for reordering now; how many there were."""
        with self._mutex:
            held, self._held = self._held, []
        self._send_soon(held)
        return len(held)

    async def drain(self, timeout: float = 10.0) -> PushStats:
        """Flush held pushes, then wait until none is pending; the counts."""
        self.flush()
        deadline = time.monotonic() + timeout
        while self.stats().pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.stats().pending} pushes still pending after {timeout}s")
            await anyio.sleep(0.005)
        return self.stats()

    def drain_sync(self, timeout: float = 10.0) -> PushStats:
        """:meth:`drain` for callers without an event loop."""
        self.flush()
        deadline = time.monotonic() + timeout
        while self.stats().pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.stats().pending} pushes still pending after {timeout}s")
            time.sleep(0.005)
        return self.stats()

    def close(self) -> None:
        """Stop the delivery thread (pending pushes are abandoned)."""
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def lost_page(self, since: int = 0, limit: int = 100) -> tuple[list[tuple[int, bytes]], bool]:
        """The oldest ``limit`` lost pushes not confirmed yet and pushed at ``since`` or
        later (their ``timestamp``), as (message id, body), and whether more wait."""
        with self._mutex:
            lost = [(i, body) for i, body in self._lost if orjson.loads(body).get("timestamp", 0) >= since]
        return lost[:limit], len(lost) > limit

    def confirm_lost(self, last_message_id: int) -> int:
        """Forget the lost pushes up to ``last_message_id``; how many."""
        with self._mutex:
            kept = [(i, body) for i, body in self._lost if i > last_message_id]
            gone = len(self._lost) - len(kept)
            self._lost = kept
            return gone

    def _lose(self, body: bytes) -> None:
        # Called with the mutex held.
        self._lost_ids += 1
        self._lost.append((self._lost_ids, body))

    def _pick_fault(self) -> str | None:
        draw, edge = self._rng.random(), 0.0
        for name in ("drop", "duplicate", "reorder", "delay"):
            edge += getattr(self.faults, name)
            if draw < edge:
                return name
        return None

    # -- the delivery thread --------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._mutex:
            if self._thread is None:
                if self._closed:
                    raise RuntimeError("the push engine is closed")
                self._thread = threading.Thread(target=self._run, name="shopee-sandbox-pushes")
                self._thread.daemon = True
                self._thread.start()
        self._ready.wait(timeout=10)
        assert self._loop is not None
        return self._loop

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self._timeout)
        self._worker = loop.create_task(self._work())
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self._client is not None:
            await self._client.aclose()

    def _send_soon(self, deliveries: list[_Delivery]) -> None:
        if deliveries:
            loop = self._start()
            loop.call_soon_threadsafe(self._enqueue, deliveries)

    def _later(self, delay: float, delivery: _Delivery) -> None:
        loop = self._start()
        loop.call_soon_threadsafe(loop.call_later, delay, self._enqueue, [delivery])

    def _enqueue(self, deliveries: list[_Delivery]) -> None:
        assert self._queue is not None
        for delivery in deliveries:
            self._queue.put_nowait(delivery)

    async def _work(self) -> None:
        assert self._queue is not None and self._loop is not None
        while True:
            delivery = await self._queue.get()
            delivered = await self._post(delivery.body)
            with self._mutex:
                self._counts["attempts"] += 1
                if delivered:
                    self._counts["delivered"] += 1
                elif delivery.attempt < self.attempts:
                    self._counts["retried"] += 1
                    wait = self.backoff * 2 ** (delivery.attempt - 1)
                    delivery.attempt += 1
                    self._loop.call_later(wait, self._enqueue, [delivery])
                    continue
                else:
                    self._counts["failed"] += 1
                    self._lose(delivery.body)
                self._counts["pending"] -= 1

    async def _post(self, body: bytes) -> bool:
        url = self.url
        if url is None or self._client is None:
            return False
        headers = {"Content-Type": "application/json", "Authorization": push_signature(self._key, url, body)}
        try:
            answer = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return 200 <= answer.status_code < 300
