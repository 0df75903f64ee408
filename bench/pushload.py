"""The processes of bench/ingest.py: servers to measure and the load generator that drives them.

    python -m bench.pushload serve [orderwatch serve options]   # the real service, `orderwatch serve`
    python -m bench.pushload worker [orderwatch worker options] # `orderwatch worker`: applies pushes
    python -m bench.pushload echo --host H --port P              # baseline: bare Starlette echo on uvicorn
    python -m bench.pushload canned --host H --port P            # raw asyncio canned 200: client ceiling
    python -m bench.pushload load --port P --mode closed|open …  # load generator; JSON results on stdout

Each runs in its own process, so the server, the client and the harness never share a GIL.
The echo server is started with the same ``uvicorn.run(app, host=, port=, log_level=)`` call
as ``orderwatch serve`` (one worker, uvicorn's default loop and HTTP implementation).

The load generator signs its pushes with the key in ``ORDERWATCH_BENCH_KEY`` over the URL
given by ``--push-url``, as Shopee does (hex HMAC-SHA256 of ``<url>|<body>``), and speaks
HTTP/1.1 with keep-alive over raw asyncio protocols: no HTTP client library in the way.

``serve`` and ``worker`` run ``service.cli.main`` (the ``orderwatch`` console script) in
this interpreter. The harness reads the service's own counters from ``GET /metrics``
(``orderwatch_push_commits_total``: transactions that stored pushes, so pushes per
transaction). With ``ORDERWATCH_BENCH_PROFILE=<path>``, ``serve`` also profiles the
service and, when stopped with SIGINT, writes where the time went to ``<path>.txt``:
``ORDERWATCH_BENCH_PROFILE_MODE=cprofile`` (the default) runs cProfile in every thread,
timed in each thread's CPU time (also ``<path>.prof``); ``sample`` takes the stacks of
every thread every 2 ms, wall-clock, which shows waiting (commits, locks) but is biased
towards the points where a thread releases the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import os
import random
import signal
import sys
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

KEY_ENV = "ORDERWATCH_BENCH_KEY"
PROFILE_ENV = "ORDERWATCH_BENCH_PROFILE"
PROFILE_MODE_ENV = "ORDERWATCH_BENCH_PROFILE_MODE"
PUSH_PATH = "/webhooks/shopee"

# -- the pushes --------------------------------------------------------------------------

SHOPS = tuple(680_000_100 + i for i in range(24))
#: Order lives as the pushes that tell them; "TRACKING" is the code 4 push.
LIVES = (
    (("UNPAID", "READY_TO_SHIP", "PROCESSED", "TRACKING", "SHIPPED", "COMPLETED"), 92),
    (("UNPAID", "CANCELLED"), 4),
    (("UNPAID", "READY_TO_SHIP", "CANCELLED"), 4),
)
AVERAGE_LIFE = sum(len(steps) * weight for steps, weight in LIVES) / sum(w for _, w in LIVES)


@dataclass
class _Order:
    ordersn: str
    shop_id: int
    steps: tuple[str, ...]
    at: int  # the order's clock: seconds since 1970
    number: int
    done: int = 0


def sign(key: bytes, url: bytes, body: bytes) -> str:
    """Shopee's push signature (hex HMAC-SHA256 of ``<url>|<body>``), computed here with
    hmac and hashlib alone, independently of the code under test."""
    return hmac.new(key, url + b"|" + body, hashlib.sha256).hexdigest()


class PushStream:
    """An endless, reproducible stream of signed Shopee pushes, ready to write on the wire.

    Many orders are in flight at once (a few hundred: at least ``in_flight[0]``). Each push
    moves a random one of them a step along its life (UNPAID → READY_TO_SHIP → PROCESSED →
    code 4 tracking number → SHIPPED → COMPLETED, or cancelled early). The first
    ``in_flight[0]`` pushes begin orders (all UNPAID); after that new orders begin at the
    rate old ones end, so the mix of statuses holds steady. About ``duplicate_rate`` of the
    pushes are a body sent a little earlier, byte for byte (a retried delivery).
    ``namespace`` keeps order numbers apart between generators.
    """

    def __init__(
        self,
        key: str,
        push_url: str,
        host: str,
        namespace: int,
        seed: int = 7,
        duplicate_rate: float = 0.02,
        in_flight: tuple[int, int] = (300, 3000),
    ) -> None:
        self.key = key.encode()
        self.url = push_url.encode()
        self.host = host
        self.namespace = namespace
        self.rng = random.Random(seed * 1_000_003 + namespace)
        self.duplicate_rate = duplicate_rate
        self.low, self.high = in_flight
        self.orders: list[_Order] = []
        self.started = 0
        self.clock = 1_764_000_000 + namespace * 1000  # late November 2025, then onwards
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=500)
        self.unique = 0  # distinct bodies made; body ids are 0 .. unique-1
        self.duplicates = 0
        self.codes: Counter[int] = Counter()

    def _new_order(self) -> _Order:
        self.started += 1
        self.clock += self.rng.randint(0, 3)
        steps = self.rng.choices([s for s, _ in LIVES], weights=[w for _, w in LIVES])[0]
        ordersn = f"2511{self.namespace:04d}{self.started:07d}{self.rng.choice('ABCDEFGHJK')}"
        return _Order(ordersn, self.rng.choice(SHOPS), steps, self.clock, self.started)

    def _pick(self) -> int:
        count = len(self.orders)
        begin = count < self.low or (count < self.high and self.rng.random() < 1 / AVERAGE_LIFE)
        if begin:
            self.orders.append(self._new_order())
            return count
        return self.rng.randrange(count)

    def _body(self, order: _Order, step: str) -> tuple[int, bytes]:
        order.at += self.rng.randint(30, 3600)
        sent = order.at + self.rng.randint(0, 5)
        document: dict[str, Any]
        if step == "TRACKING":
            document = {
                "msg_id": f"{self.rng.getrandbits(64):016x}",
                "data": {
                    "ordersn": order.ordersn,
                    "forder_id": str(self.rng.randrange(10**18, 10**19)),
                    "package_number": f"OFG{self.namespace:04d}{order.number:07d}1",
                    "tracking_no": f"SPXID{self.rng.randrange(10**11, 10**12)}",
                },
                "shop_id": order.shop_id,
                "code": 4,
                "timestamp": sent,
            }
        else:
            document = {
                "data": {"ordersn": order.ordersn, "status": step, "update_time": order.at},
                "shop_id": order.shop_id,
                "code": 3,
                "timestamp": sent,
            }
        self.codes[document["code"]] += 1
        body = orjson.dumps(document)
        head = (
            f"POST {PUSH_PATH} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: Shopee-Push/bench\r\n"
            f"Content-Type: application/json\r\nAuthorization: {sign(self.key, self.url, body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        ident = self.unique
        self.unique += 1
        return ident, head + body

    def next(self) -> tuple[int, bytes]:
        """The next push: (body id, the whole HTTP request). A duplicate repeats an id."""
        if self.recent and self.rng.random() < self.duplicate_rate:
            self.duplicates += 1
            return self.recent[self.rng.randrange(len(self.recent))]
        index = self._pick()
        order = self.orders[index]
        step = order.steps[order.done]
        order.done += 1
        if order.done == len(order.steps):
            # Finished: swap-remove it (the order of the list does not matter).
            self.orders[index] = self.orders[-1]
            self.orders.pop()
        push = self._body(order, step)
        self.recent.append(push)
        return push


# -- a minimal HTTP/1.1 keep-alive client ------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; resolves the status code."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.need = -1  # body bytes expected once the head is read; -1 while reading the head
        self.status = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.buffer[:end]).split(b"\r\n")
                del self.buffer[: end + 4]
                self.status = int(lines[0].split(b" ", 2)[1])
                self.need, self.close_after = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        self.need = int(value)
                    elif name == b"connection":
                        self.close_after = value.strip().lower() == b"close"
                    elif name == b"transfer-encoding":
                        raise RuntimeError("chunked responses are not expected from these endpoints")
            if len(self.buffer) < self.need:
                return
            del self.buffer[: self.need]
            self.need = -1
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(self.status)
            if self.close_after and self.transport is not None:
                self.transport.close()
                self.closed = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


async def _connect(host: str, port: int) -> _Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return protocol


@dataclass
class _Tally:
    """What one load generator saw."""

    sent: int = 0
    acked: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    lags: array[float] = field(default_factory=lambda: array("d"))
    first: float = 0.0
    last: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acked": self.acked,
            "statuses": {str(k): v for k, v in self.statuses.items() if k != 200},
            "errors": dict(self.errors),
            "seconds": max(0.0, self.last - self.first),
        }


class LoadGenerator:
    """Sends pushes from a :class:`PushStream` to ``host:port`` and keeps the tallies."""

    def __init__(self, stream: PushStream, host: str, port: int, drain: float = 30.0) -> None:
        self.stream = stream
        self.host = host
        self.port = port
        self.drain = drain
        self.acked_ids: set[int] = set()

    async def _send(self, connection: _Connection, tally: _Tally, began: float) -> None:
        ident, data = self.stream.next()
        tally.sent += 1
        try:
            status = await connection.request(data)
        except ConnectionError as exc:
            tally.errors[type(exc).__name__] += 1
            return
        now = time.perf_counter()
        tally.last = max(tally.last, now)
        tally.statuses[status] += 1
        if status == 200:
            tally.acked += 1
            tally.latencies.append(now - began)
            self.acked_ids.add(ident)

    async def closed_loop(self, concurrency: int, seconds: float) -> _Tally:
        """``concurrency`` connections, each sending its next push as soon as the last is answered."""
        connections = await asyncio.gather(*(_connect(self.host, self.port) for _ in range(concurrency)))
        tally = _Tally()
        tally.first = time.perf_counter()
        deadline = tally.first + seconds

        async def worker(connection: _Connection) -> None:
            while time.perf_counter() < deadline:
                if connection.closed:
                    connection = await _connect(self.host, self.port)
                await self._send(connection, tally, time.perf_counter())

        await self._finish([asyncio.ensure_future(worker(c)) for c in connections], deadline, tally)
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
        return tally

    async def open_loop(self, rate: float, seconds: float, max_connections: int) -> _Tally:
        """A push every ``1/rate`` s on a fixed schedule, whatever the answers; latency is
        counted from the scheduled send time, so queueing (here or in the server) shows."""
        idle: list[_Connection] = []
        opened = 0
        freed = asyncio.Condition()
        tally = _Tally()
        tasks: set[asyncio.Task[None]] = set()

        async def one(scheduled: float) -> None:
            nonlocal opened
            connection: _Connection | None = None
            while connection is None:
                if idle:
                    connection = idle.pop()  # the most recently used: still warm, never idle-closed
                    if connection.closed:
                        opened -= 1
                        connection = None
                elif opened < max_connections:
                    opened += 1
                    try:
                        connection = await _connect(self.host, self.port)
                    except OSError as exc:
                        opened -= 1
                        tally.errors[type(exc).__name__] += 1
                        return
                else:
                    async with freed:
                        await freed.wait()
            await self._send(connection, tally, scheduled)
            if connection.closed:
                opened -= 1
            else:
                idle.append(connection)
            async with freed:
                freed.notify()

        for _ in range(min(max_connections, 16)):  # a few warm connections, as a sender keeps
            idle.append(await _connect(self.host, self.port))
            opened += 1
        interval = 1.0 / rate
        tally.first = time.perf_counter()
        deadline = tally.first + seconds
        index = 0
        while True:
            scheduled = tally.first + index * interval
            if scheduled >= deadline:
                break
            now = time.perf_counter()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
                now = time.perf_counter()
            tally.lags.append(now - scheduled)
            task = asyncio.ensure_future(one(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        await self._finish(list(tasks), deadline, tally)
        for connection in idle:
            if connection.transport is not None:
                connection.transport.close()
        return tally

    async def _finish(self, tasks: Sequence[asyncio.Future[None]], deadline: float, tally: _Tally) -> None:
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()) + self.drain)
        for task in pending:
            task.cancel()
        if pending:
            tally.errors["unanswered"] += len(pending)


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise SystemExit(f"pushload: set {KEY_ENV} to the partner key")
    stream = PushStream(
        key, args.push_url, f"{args.host}:{args.port}", args.namespace, args.seed, args.duplicates
    )
    generator = LoadGenerator(stream, args.host, args.port, args.drain)
    if args.start_at:
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    warm = None
    if args.warmup > 0:
        warm = await generator.closed_loop(args.concurrency, args.warmup)
    cpu = time.process_time()
    began = time.time()
    if args.mode == "closed":
        tally = await generator.closed_loop(args.concurrency, args.duration)
    else:
        tally = await generator.open_loop(args.rate, args.duration, args.max_connections)
    cpu = time.process_time() - cpu
    result = tally.summary()
    result.update(
        began=began,
        # When the last answer came, on the wall clock (the harness finds out later).
        ended=time.time() - (time.perf_counter() - tally.last) if tally.last else time.time(),
        cpu_seconds=cpu,
        latencies_ms=[round(x * 1000, 3) for x in tally.latencies],
        lags_ms=[round(x * 1000, 3) for x in tally.lags],
        warmup=warm.summary() if warm else None,
        distinct_acked=len(generator.acked_ids),
        distinct_sent=stream.unique,
        duplicates_sent=stream.duplicates,
        codes={str(k): v for k, v in sorted(stream.codes.items())},
    )
    return result


# -- the servers -------------------------------------------------------------------------


def echo_app() -> Any:
    """The baseline: a bare Starlette app that reads the push and answers 200, empty."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/healthz", healthz), Route(PUSH_PATH, echo, methods=["POST"])])


def _echo(args: argparse.Namespace) -> int:
    import uvicorn

    # The same call as `orderwatch serve` makes (service/cli.py), at the log level the bench
    # gives the service, so both run the same uvicorn configuration.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(echo_app(), host=args.host, port=args.port, log_level="warning")
    return 0


_CANNED = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_HEALTHY = b'HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


class _Canned(asyncio.Protocol):
    """Answers every request with a canned 200 at once: no framework, only the sockets."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.transport.write(_HEALTHY if head.startswith(b"get ") else _CANNED)


def _canned(args: argparse.Namespace) -> int:
    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_Canned, args.host, args.port, backlog=2048)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


# -- the service, optionally profiled ----------------------------------------------------


class _Sampler(threading.Thread):
    """A wall-clock sampling profiler: every ``interval`` s, the stack of every thread.

    Samples are split into the event loop (the main thread) and the worker threads (where
    the service stores pushes); a thread waiting for work (the event loop in ``select``, an
    idle anyio worker in its queue) counts as idle, anything else (running, waiting for the
    GIL, a lock, a pooled connection or the database) as busy. The sampler needs the GIL to
    look, so it mostly looks when a thread has just let go of it (a socket call, a database
    call): trust it for waiting, and cProfile for CPU."""

    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.interval = interval
        self.halt = threading.Event()
        self.ticks = 0
        self.samples: Counter[str] = Counter()
        self.idle: Counter[str] = Counter()
        self.own: Counter[tuple[str, tuple[str, int, str]]] = Counter()
        self.inclusive: Counter[tuple[str, tuple[str, int, str]]] = Counter()

    @staticmethod
    def _is_idle(group: str, stack: list[tuple[str, int, str]]) -> bool:
        if group == "event loop":
            return stack[0][0].endswith("selectors.py") and stack[0][2] == "select"
        for filename, _, name in stack:
            if filename.endswith(("threading.py", "queue.py")):
                continue
            return "anyio" in filename and name == "run"
        return True

    def run(self) -> None:
        me = threading.get_ident()
        main = threading.main_thread().ident
        while not self.halt.wait(self.interval):
            self.ticks += 1
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                group = "event loop" if ident == main else "worker threads"
                stack: list[tuple[str, int, str]] = []
                current: Any = frame
                while current is not None:
                    code = current.f_code
                    stack.append((code.co_filename, code.co_firstlineno, code.co_name))
                    current = current.f_back
                self.samples[group] += 1
                if not stack or self._is_idle(group, stack):
                    self.idle[group] += 1
                    continue
                self.own[group, stack[0]] += 1
                for where in set(stack):
                    self.inclusive[group, where] += 1

    def report(self, top: int = 30) -> str:
        out = io.StringIO()
        print(f"wall-clock samples every {self.interval * 1000:.0f} ms: {self.ticks} ticks", file=out)
        for group in ("event loop", "worker threads"):
            total, idle = self.samples[group], self.idle[group]
            busy = total - idle
            print(
                f"\n## {group}: {total} samples, {busy} busy ({busy / max(1, self.ticks):.2f} threads "
                f"busy on average), {idle} idle",
                file=out,
            )
            for title, counts in (("own (leaf frame)", self.own), ("inclusive", self.inclusive)):
                print(f"\n  top {top} by {title}, % of busy samples:", file=out)
                ranked = sorted(((n, w) for (g, w), n in counts.items() if g == group), reverse=True)
                for count, (filename, line, name) in ranked[:top]:
                    short = "/".join(filename.split(os.sep)[-2:])
                    print(f"  {100 * count / max(1, busy):6.1f}%  {name}  ({short}:{line})", file=out)
        return out.getvalue()


def _serve(argv: Sequence[str]) -> int:
    from service.cli import main

    path = os.environ.get(PROFILE_ENV)
    if not path:
        return main(["serve", *argv])
    mode = os.environ.get(PROFILE_MODE_ENV, "cprofile")
    if mode == "sample":
        sampler = _Sampler()
        sampler.start()
        try:
            return main(["serve", *argv])
        finally:
            sampler.halt.set()
            sampler.join()
            with open(path + ".txt", "w", encoding="utf-8") as handle:
                handle.write(sampler.report())
    import cProfile
    import pstats

    profiles: list[cProfile.Profile] = []

    def bootstrap(_frame: Any, _event: str, _arg: Any) -> None:
        # The first event of a new thread: profile it from here on with its own profiler.
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()

    threading.setprofile(bootstrap)
    first = cProfile.Profile(time.thread_time)
    profiles.append(first)
    first.enable()
    try:
        return main(["serve", *argv])
    finally:
        first.disable()
        threading.setprofile(None)
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            with contextlib.suppress(TypeError):  # a thread that never ran any Python
                stats.add(profile)
        stats.dump_stats(path + ".prof")
        with open(path + ".txt", "w", encoding="utf-8") as handle:
            handle.write(
                f"cProfile of every thread ({len(profiles)} profiled), timed in each thread's own CPU "
                "time: waiting (for the network, the GIL, a lock, the disk) counts for nothing\n"
            )
            for order in ("tottime", "cumulative"):
                buffer = io.StringIO()
                pstats.Stats(path + ".prof", stream=buffer).strip_dirs().sort_stats(order).print_stats(30)
                handle.write(f"\n=== top 30 by {order} ===\n{buffer.getvalue()}")


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The harness stops servers with SIGINT; a process started in the background by a
    # non-interactive shell inherits SIGINT ignored, so take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    if argv[:1] == ["worker"]:
        from service.cli import main as orderwatch

        return orderwatch(argv)
    parser = argparse.ArgumentParser(prog="python -m bench.pushload", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("echo", "canned"):
        server = sub.add_parser(name)
        server.add_argument("--host", default="127.0.0.1")
        server.add_argument("--port", type=int, required=True)
    load = sub.add_parser("load", help="send signed pushes; prints JSON results")
    load.add_argument("--host", default="127.0.0.1")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--push-url", required=True, help="the URL the pushes are signed for")
    load.add_argument("--mode", choices=("closed", "open"), required=True)
    load.add_argument("--concurrency", type=int, default=64, help="connections in the closed loop")
    load.add_argument("--rate", type=float, default=0.0, help="pushes/s in the open loop")
    load.add_argument("--max-connections", type=int, default=256, help="open-loop connection cap")
    load.add_argument("--duration", type=float, required=True, help="seconds measured")
    load.add_argument("--warmup", type=float, default=0.0, help="closed-loop seconds first, not measured")
    load.add_argument("--drain", type=float, default=30.0, help="seconds to wait for late answers")
    load.add_argument("--namespace", type=int, default=0, help="keeps order numbers apart (0-9999)")
    load.add_argument("--seed", type=int, default=7)
    load.add_argument("--duplicates", type=float, default=0.02, help="share of re-sent bodies")
    load.add_argument("--start-at", type=float, default=0.0, help="time.time() to begin at")
    args = parser.parse_args(argv)
    if args.command == "echo":
        return _echo(args)
    if args.command == "canned":
        return _canned(args)
    if args.mode == "open" and args.rate <= 0:
        parser.error("--mode open needs a positive --rate")
    result = asyncio.run(_load(args))
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
