"""Receiving Shopee pushes: ``POST /webhooks/shopee`` over loopback HTTP, against a bare echo.

    .venv/bin/python bench/ingest.py [--quick] [--backend sqlite|postgres|all] [--pg-url URL]
                                     [--duration S] [--concurrency C] [--rounds N] [--profile TARGET]

Measures, in one run on one machine, with every server, worker and load generator in its
own process (bench/pushload.py):

1. **the service, web + worker** (the Procfile layout): ``orderwatch serve --no-migrate
   --no-worker --no-poll`` (uvicorn, one worker), which acknowledges a push once its raw
   body is stored, together with one ``orderwatch worker --idle 0.05`` process (at its
   default lower CPU priority), which applies the stored pushes' events, on a fresh,
   migrated SQLite file and on a fresh PostgreSQL database (``ow_bench_<pid>_<hex>``,
   dropped afterwards). Sent correctly signed pushes: code 3 order statuses along whole
   order lives (UNPAID → READY_TO_SHIP → PROCESSED → SHIPPED → COMPLETED, a few
   cancelled), code 4 tracking numbers, and ~2% byte-identical re-sends.
2. **the baseline**: a bare Starlette app on the same path that reads the body and answers
   200, served by the same ``uvicorn.run`` call, sent the same pushes: a closed loop at the
   start, and again after every server, so that each server's ratio is against the mean of
   the echo runs right before and right after it (the machine is shared: drift cancels).
3. For each: **phase A**, a closed loop of C keep-alive connections (default 64) for N s
   after a short warm-up: acknowledged (200) pushes/s, p50 and p99 latency; then **phase
   B**, an open loop at half the rate phase A measured, on a fixed schedule, latency
   counted from each push's scheduled send time (so queueing is not hidden by the client
   waiting: no coordinated omission): p50 and p99. After each phase of the service, the
   **apply drain**: how long after the load stopped the last stored push was applied
   (``pushes.applied_at`` set), and the pushes applied per second over the phase and the
   drain together.
4. **two other layouts** (info), phase A only, each on a fresh database: *all in one*,
   ``orderwatch serve --no-migrate --no-poll`` with the applier in a thread of the web
   process, and its drain; *web alone*, ``serve --no-worker`` with no worker running
   (nothing applies the pushes), to show what the worker costs the web process.
5. **the client's ceiling**: the same load generator against a raw asyncio server that
   answers a canned 200 (no framework), and the client's CPU use in every phase, to show
   that the client is not what limits the figures.

Targets (web + worker): acknowledged pushes/s ≥ 60% of the echo rate; p99 ≤ 30 ms at half
the max rate. Everything is measured ``--rounds`` times (3 by default, 1 with ``--quick``);
with several rounds the targets are judged on the median round. Pushes per transaction
come from the service's ``orderwatch_push_commits_total`` (``GET /metrics``), read before
and after each phase. After each service run the rows of ``pushes`` (and of the SQLite
spool) are checked: every acknowledged body stored once, every row applied, none with an
error. Results go to stdout as a table; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import itertools
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_PG_URL,
    fmt_rate,
    machine_info,
    postgres_version,
    say,
    table,
    temp_postgres,
    temp_sqlite,
)
from bench.pushload import (  # noqa: E402
    KEY_ENV,
    PROFILE_ENV,
    PROFILE_MODE_ENV,
    PUSH_PATH,
)
from service.spool import spool_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The callback URL the pushes are signed for, as registered with Shopee (the service is
#: told it through ORDERWATCH_SHOPEE_PUSH_URL, as behind a proxy in production).
PUSH_URL = "https://orderwatch.example.com" + PUSH_PATH
HOST = "127.0.0.1"
RATE_TARGET = 0.60  # acknowledged pushes/s ÷ echo requests/s
P99_TARGET_MS = 30.0  # at half the closed-loop rate
ECHO_DRIFT = 0.15  # echo's start and end rates further apart than this: warn of a busy machine
WORKER_IDLE = 0.05  # orderwatch worker --idle: seconds between looks for new pushes
DRAIN_POLL = 0.02  # seconds between looks at the unapplied pushes after a phase
DRAIN_TIMEOUT = 120.0  # seconds after the load stopped before the drain is given up
# The layouts of the service measured:
WEB_WORKER = "web + 1 worker"  # serve --no-worker --no-poll, and one orderwatch worker process
ALL_IN_ONE = "all in one"  # serve --no-poll: the applier in a thread of the web process
WEB_ALONE = "web alone"  # serve --no-worker --no-poll and no worker: nothing applies the pushes
COMMITS_METRIC = "orderwatch_push_commits_total"  # transactions that stored pushes
APPLIED_METRIC = "orderwatch_pushes_applied_total"  # pushes applied by this process's applier


# -- processes ---------------------------------------------------------------------------


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without any ORDERWATCH_ setting of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(stat_path: str) -> float:
    """User + system CPU seconds from a /proc .../stat file (0 when it is gone)."""
    try:
        with open(stat_path, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of each thread of process ``pid``, by thread id."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return {}
    return {tid: _cpu_seconds(f"/proc/{pid}/task/{tid}/stat") for tid in tids}


def _machine_ticks() -> tuple[int, int, int]:
    """(total, busy, iowait) jiffies of all CPUs so far, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return (0, 0, 0)
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    idle, iowait = values[3], values[4]
    return total, total - idle - iowait, iowait


def _stop(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """Stop ``process`` with SIGINT (graceful: uvicorn's lifespan, the worker's applier)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        say(f"[{name}] did not stop on SIGINT in 30 s; killing it")
        process.kill()
        process.wait()


def _tail(log: IO[bytes], lines: int) -> str:
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def _problems(log: IO[bytes]) -> list[str]:
    log.seek(0)
    text = log.read().decode(errors="replace").splitlines()
    return [line for line in text if "Traceback" in line or " ERROR " in line or "CRITICAL" in line]


class Server(AbstractContextManager["Server"]):
    """A server in its own process on a free loopback port, stopped with SIGINT."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        metrics: bool = False,
    ) -> None:
        self.name = name
        self.has_metrics = metrics  # the service answers GET /metrics
        self.port = _free_port()
        self.command = [
            sys.executable,
            "-m",
            "bench.pushload",
            *command,
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        self.env = _child_env(env or {})
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - read by tail() after stop
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} server exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return self
                connection.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} server did not answer /healthz in 30 s:\n{self.tail()}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        _stop(self.process, self.name)

    def metrics(self) -> dict[str, float]:
        """The service's counters from ``GET /metrics``, summed over labels, by name; empty
        when the server has none (echo, canned) or does not answer."""
        if not self.has_metrics:
            return {}
        try:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
            try:
                connection.request("GET", "/metrics")
                response = connection.getresponse()
                text = response.read().decode()
                if response.status != 200:
                    return {}
            finally:
                connection.close()
        except OSError:
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            name = name.split("{", 1)[0]
            try:
                found[name] = found.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return found

    def counter(self, name: str) -> int:
        """One counter of :meth:`metrics` (-1 when the server does not report it)."""
        value = self.metrics().get(name)
        return -1 if value is None else int(value)

    def tail(self, lines: int = 30) -> str:
        return _tail(self.log, lines)


class Worker(AbstractContextManager["Worker"]):
    """``orderwatch worker`` in its own process (applies stored pushes; logs to stderr),
    stopped with SIGINT."""

    def __init__(self, name: str, env: dict[str, str], idle: float = WORKER_IDLE) -> None:
        self.name = name
        self.command = [sys.executable, "-m", "bench.pushload", "worker", "--idle", repr(idle)]
        self.env = _child_env(env)
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - read by tail() after stop
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> Worker:
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check(self) -> None:
        """Raise when the worker has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def cpu(self) -> float:
        """CPU seconds the worker process has used so far, all its threads."""
        assert self.process is not None
        return _cpu_seconds(f"/proc/{self.process.pid}/stat")

    def stop(self) -> None:
        _stop(self.process, self.name)
        if self.process is not None:
            self.returncode = self.process.returncode

    def tail(self, lines: int = 30) -> str:
        return _tail(self.log, lines)


class Pushes:
    """The harness's own look at the ``pushes`` table, and on SQLite at the push spool
    beside the database (service/spool.py: pushes stored, not yet copied into ``pushes``)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        self.spool = spool_file(url) if url.startswith("sqlite") else None

    def close(self) -> None:
        self.engine.dispose()

    def _scalar(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar() or 0)

    def spooled(self) -> int:
        if self.spool is None or not os.path.exists(self.spool):
            return 0
        with contextlib.closing(sqlite3.connect(self.spool, timeout=60)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM spool").fetchone()[0])
            except sqlite3.OperationalError:  # not made yet: nothing was stored
                return 0

    def unapplied(self) -> int:
        return self._scalar("SELECT count(*) FROM pushes WHERE applied_at IS NULL") + self.spooled()

    def applied(self) -> int:
        return self._scalar("SELECT count(*) FROM pushes WHERE applied_at IS NOT NULL")

    def check(self) -> dict[str, Any]:
        """Rows, rows applied, rows with an error, and the first few errors."""
        with self.engine.connect() as conn:
            rows, applied, failed = conn.execute(
                sa.text("SELECT count(*), count(applied_at), count(error) FROM pushes")
            ).one()
            errors = [
                f"push {row.id}: {row.error}"
                for row in conn.execute(
                    sa.text("SELECT id, error FROM pushes WHERE error IS NOT NULL ORDER BY id LIMIT 5")
                )
            ]
        rows += self.spooled()
        return {"rows": int(rows), "applied": int(applied), "failed": int(failed), "errors": errors}


# -- phases ------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


@dataclass
class Phase:
    """One measured phase against one server (all load generator processes together)."""

    mode: str
    concurrency: int
    rate_target: float = 0.0
    sent: int = 0
    acked: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # ms, acknowledged pushes only
    lags: list[float] = field(default_factory=list)  # ms, open loop: send time - scheduled time
    codes: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    distinct_acked: int = 0  # distinct bodies acknowledged, warm-up included
    client_cpu: float = 0.0  # seconds
    server_cpu: float = 0.0  # seconds, all threads
    loop_cpu: float = 0.0  # seconds, the main thread: the event loop (HTTP, routing, the handler)
    commits: int = 0  # transactions that stored pushes during the phase (-1: unknown)
    wall: float = 0.0  # seconds the CPU figures were taken over
    machine_busy: float = 0.0  # fraction of all CPUs
    machine_iowait: float = 0.0
    began: float = 0.0  # perf_counter() when the measured phase began (after the warm-up)
    ended: float = 0.0  # perf_counter() when the load stopped (the last answer came)
    # The apply drain (the service only):
    applied_before: int = -1  # rows of pushes applied when the phase began (-1: not measured)
    applied: int = 0  # pushes applied from the phase's start until none was left
    drain: float = float("nan")  # seconds from the end of the load until none was left
    unapplied: int = 0  # pushes still unapplied when the drain gave up
    worker_cpu: float = -1.0  # seconds, the worker process during the load (-1: no worker)
    worker_drain_cpu: float = -1.0  # seconds, the worker process during the drain
    server_drain_cpu: float = 0.0  # seconds, the server process during the drain
    applied_metric: int = -1  # the server's orderwatch_pushes_applied_total over phase + drain
    applied_metric_before: int = -1

    @property
    def apply_seconds(self) -> float:
        return self.ended - self.began + self.drain

    @property
    def apply_rate(self) -> float:
        return self.applied / self.apply_seconds if self.apply_seconds > 0 else 0.0

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


@dataclass
class Settings:
    duration: float
    warmup: float
    concurrency: int
    clients: int
    max_connections: int
    seed: int
    duplicates: float
    key: str
    namespaces: Iterator[int]


def run_phase(
    server: Server,
    mode: str,
    s: Settings,
    rate: float = 0.0,
    duration: float | None = None,
    *,
    pushes: Pushes | None = None,
    worker: Worker | None = None,
) -> Phase:
    """Drive ``server`` with ``s.clients`` load generator processes; their figures, merged.
    With ``pushes``, also count the pushes applied when the phase begins (for the drain)."""
    duration = s.duration if duration is None else duration
    warmup = s.warmup if mode == "closed" else 0.0
    phase = Phase(mode, s.concurrency, rate)
    start_at = time.time() + 0.5  # every generator imported and connected by then
    processes = []
    for index in range(s.clients):
        share = s.concurrency // s.clients + (1 if index < s.concurrency % s.clients else 0)
        command = [
            sys.executable, "-m", "bench.pushload", "load",
            "--host", HOST, "--port", str(server.port), "--push-url", PUSH_URL,
            "--mode", mode, "--concurrency", str(max(1, share)), "--rate", repr(rate / s.clients),
            "--max-connections", str(max(1, s.max_connections // s.clients)),
            "--duration", repr(duration), "--warmup", repr(warmup),
            "--namespace", str(next(s.namespaces)), "--seed", str(s.seed),
            "--duplicates", repr(s.duplicates), "--start-at", repr(start_at),
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=_child_env({KEY_ENV: s.key}),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    time.sleep(max(0.0, start_at + warmup - time.time()))
    commits = server.counter(COMMITS_METRIC)
    if pushes is not None:
        phase.applied_before = pushes.applied()
        phase.applied_metric_before = server.counter(APPLIED_METRIC)
    worker_cpu = worker.cpu() if worker else 0.0
    cpu, machine, began = _thread_cpu(server.pid), _machine_ticks(), time.perf_counter()
    outputs = [p.communicate(timeout=warmup + duration + 120) for p in processes]
    returned, returned_wall = time.perf_counter(), time.time()
    phase.began = began
    phase.wall = returned - began
    if worker is not None:
        phase.worker_cpu = worker.cpu() - worker_cpu
    # Threads that ended during the phase are missed; the service's worker threads live long.
    cpu_after = _thread_cpu(server.pid)
    phase.server_cpu = sum(v - cpu.get(tid, 0.0) for tid, v in cpu_after.items())
    phase.loop_cpu = cpu_after.get(server.pid, 0.0) - cpu.get(server.pid, 0.0)
    phase.commits = server.counter(COMMITS_METRIC) - commits if commits >= 0 else -1
    after = _machine_ticks()
    total = max(1, after[0] - machine[0])
    phase.machine_busy = (after[1] - machine[1]) / total
    phase.machine_iowait = (after[2] - machine[2]) / total
    last_answer = 0.0
    for process, (out, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(
                f"load generator failed ({process.returncode}): {err.decode(errors='replace')}"
            )
        result: dict[str, Any] = json.loads(out)
        last_answer = max(last_answer, result["ended"])
        phase.sent += result["sent"]
        phase.acked += result["acked"]
        phase.seconds = max(phase.seconds, result["seconds"])
        phase.statuses.update(result["statuses"])
        phase.errors.update(result["errors"])
        phase.latencies.extend(result["latencies_ms"])
        phase.lags.extend(result["lags_ms"])
        phase.codes.update(result["codes"])
        phase.duplicates += result["duplicates_sent"]
        phase.distinct_acked += result["distinct_acked"]
        phase.client_cpu += result["cpu_seconds"]
        if result["warmup"]:
            phase.statuses.update({f"{k} (warm-up)": v for k, v in result["warmup"]["statuses"].items()})
            phase.errors.update({f"{k} (warm-up)": v for k, v in result["warmup"]["errors"].items()})
    # The generators take a moment to exit (their results are large): count from the last answer.
    phase.ended = returned - min(max(0.0, returned_wall - last_answer), phase.wall)
    return phase


def drain(phase: Phase, server: Server, pushes: Pushes, worker: Worker | None) -> None:
    """Wait until every stored push is applied (or DRAIN_TIMEOUT after the load stopped);
    how long that took, and how many pushes were applied over the phase and the drain."""
    worker_cpu = worker.cpu() if worker else 0.0
    server_cpu = sum(_thread_cpu(server.pid).values())
    while True:
        left = pushes.unapplied()
        now = time.perf_counter()
        if left == 0 or now - phase.ended > DRAIN_TIMEOUT:
            break
        if worker is not None:
            worker.check()
        time.sleep(DRAIN_POLL)
    phase.unapplied = left
    phase.drain = now - phase.ended
    phase.applied = pushes.applied() - phase.applied_before
    phase.server_drain_cpu = sum(_thread_cpu(server.pid).values()) - server_cpu
    if worker is not None:
        phase.worker_drain_cpu = worker.cpu() - worker_cpu


@dataclass
class Target:
    """One server's phases, and what it stored."""

    name: str
    label: str
    closed: Phase | None = None
    open: Phase | None = None
    stored: dict[str, int] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)  # Pushes.check() after the run
    server: str = ""
    layout: str = WEB_WORKER
    worker_exit: int | None = None  # the worker process's exit code (None: no worker)
    echo: tuple[float, float] = (0.0, 0.0)  # echo's closed-loop rate right before and right after

    @property
    def echo_rate(self) -> float:
        """The baseline of this server's ratio: the mean of the echo runs around it."""
        return statistics.mean(self.echo)

    @property
    def ratio(self) -> float:
        return self.closed.rate / self.echo_rate if self.closed and self.echo_rate else 0.0

    @property
    def phases(self) -> list[Phase]:
        return [p for p in (self.closed, self.open) if p is not None]

    @property
    def distinct_acked(self) -> int:
        return sum(p.distinct_acked for p in self.phases)


def measure(
    target: Target,
    server: Server,
    s: Settings,
    *,
    pushes: Pushes | None = None,
    worker: Worker | None = None,
    open_loop: bool = True,
) -> None:
    """Phase A (closed loop), then phase B (open loop at half the rate A measured); with
    ``pushes``, the apply drain after each."""

    def drained(phase: Phase) -> None:
        if pushes is None:
            return
        drain(phase, server, pushes, worker)
        if phase.applied_metric_before >= 0:
            phase.applied_metric = server.counter(APPLIED_METRIC) - phase.applied_metric_before
        left = f"; {phase.unapplied:,} STILL UNAPPLIED" if phase.unapplied else ""
        say(
            f"[{target.name}]   applied {fmt_rate(phase.apply_rate)} pushes/s, "
            f"drain {phase.drain:.2f} s after the load{left}"
        )

    say(f"[{target.name}] phase A: closed loop, {s.concurrency} connections, {s.duration:g} s …")
    target.closed = run_phase(server, "closed", s, pushes=pushes, worker=worker)
    say(f"[{target.name}]   {fmt_rate(target.closed.rate)} acknowledged/s, p99 {target.closed.p99:.1f} ms")
    drained(target.closed)
    half = target.closed.rate / 2
    if not open_loop:
        return
    if half < 1:
        say(f"[{target.name}] phase B skipped: phase A acknowledged almost nothing")
        return
    say(f"[{target.name}] phase B: open loop at {fmt_rate(half)}/s, {s.duration:g} s …")
    target.open = run_phase(server, "open", s, rate=half, pushes=pushes, worker=worker)
    say(f"[{target.name}]   p50 {target.open.p50:.1f} ms, p99 {target.open.p99:.1f} ms")
    drained(target.open)


def fresh_database(backend: str, sqlite_dir: str | None, pg_url: str) -> AbstractContextManager[str]:
    """A fresh, migrated database of ``backend``, removed afterwards."""
    return temp_sqlite(sqlite_dir) if backend == "sqlite" else temp_postgres(pg_url)


def run_service(
    target: Target,
    url: str,
    s: Settings,
    *,
    open_loop: bool = True,
    profile_mode: str | None = None,
    profile_out: str | None = None,
) -> None:
    """Measure the service in ``target.layout`` on the fresh database ``url``: the web
    process (``--no-worker``) and one ``orderwatch worker`` process; the all-in-one process;
    or the web process alone. Then check what it stored and, unless nothing was meant to
    apply it, applied (every process stopped by then: everything committed)."""
    pushes = Pushes(url)
    applier: Worker | None = None
    try:
        with ExitStack() as stack:  # stopped in reverse: the web process first, then the worker
            if target.layout == WEB_WORKER:
                applier = stack.enter_context(Worker(f"{target.name} worker", service_env(url, s.key)))
            server = stack.enter_context(
                service(
                    target.name,
                    url,
                    s.key,
                    applier=target.layout == ALL_IN_ONE,
                    profile=target.name if profile_mode else None,
                    profile_mode=profile_mode or "cprofile",
                    profile_out=profile_out,
                )
            )
            if applier is not None:
                applier.check()
            applies = target.layout != WEB_ALONE
            measure(
                target, server, s, pushes=pushes if applies else None, worker=applier, open_loop=open_loop
            )
        if applier is not None:
            target.worker_exit = applier.returncode
            problems = _problems(applier.log)
            if problems or applier.returncode:
                say(
                    f"[{applier.name}] exited with {applier.returncode}, {len(problems)} error lines; "
                    f"its last lines:\n{applier.tail()}"
                )
        target.stored = count_rows(url)
        target.stored["pushes"] += pushes.spooled()  # stored, not yet copied into pushes
        target.check = pushes.check()
    finally:
        pushes.close()


def count_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() or 0)
                for name in ("pushes", "events", "orders")
            }
    finally:
        engine.dispose()


def service_env(url: str, key: str) -> dict[str, str]:
    """The environment of the service's processes (web and worker alike)."""
    return {
        "ORDERWATCH_DATABASE_URL": url,
        "ORDERWATCH_SHOPEE_PARTNER_KEY": key,
        "ORDERWATCH_SHOPEE_PUSH_URL": PUSH_URL,
        "ORDERWATCH_LOG_LEVEL": "WARNING",  # no access log line per request
    }


@contextmanager
def service(
    name: str,
    url: str,
    key: str,
    *,
    applier: bool = False,
    profile: str | None = None,
    profile_mode: str = "cprofile",
    profile_out: str | None = None,
) -> Iterator[Server]:
    """``orderwatch serve --no-migrate --no-poll``, with ``--no-worker`` unless ``applier``
    (then the applier runs in a thread of this process: the all-in-one layout)."""
    env = service_env(url, key)
    report = None
    if profile:
        report = profile_out or os.path.join(tempfile.gettempdir(), f"ow_bench_profile_{os.getpid()}_{name}")
        env[PROFILE_ENV] = report
        env[PROFILE_MODE_ENV] = profile_mode
    command = ["serve", "--no-migrate", "--no-poll", *([] if applier else ["--no-worker"])]
    server = Server(name, command, env, metrics=True)
    try:
        with server:
            yield server
    finally:
        problems = _problems(server.log)
        if problems:
            say(f"[{name}] the server logged {len(problems)} error lines; its last lines:\n{server.tail()}")
        if report and os.path.exists(report + ".txt"):
            with open(report + ".txt", encoding="utf-8") as handle:
                say(f"\n=== profile of the {name} service (figures inflated by profiling) ===")
                say(handle.read())
            if not profile_out:
                for suffix in (".txt", ".prof"):
                    if os.path.exists(report + suffix):
                        os.remove(report + suffix)


# -- output ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value == value else "—"


def _code_version() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "service", "handlers", "statemachines", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = sorted(line[3:] for line in dirty if line.strip())
    return f"commit {head}" + (f", with uncommitted changes to {', '.join(changed)}" if changed else "")


def _server_stack() -> str:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
    uvicorn = f"uvicorn {version('uvicorn')} (1 worker, loop {loop}, http {http_impl})"
    return f"{uvicorn}, Starlette {version('starlette')}"


def _target_rate(phase: Phase | None) -> str:
    return fmt_rate(phase.rate_target) if phase else "—"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value == value else "—"


def _share(seconds: float, wall: float) -> str:
    return f"{seconds / wall:.0%}" if seconds >= 0 and wall > 0 else "—"


def _apply_details(phase: Phase) -> str:
    if phase.applied_before < 0:
        return "apply: not measured"
    left = f", {phase.unapplied:,} STILL UNAPPLIED after {DRAIN_TIMEOUT:g} s" if phase.unapplied else ""
    cpu = []
    if phase.worker_cpu >= 0:
        cpu.append(f"worker process {_share(phase.worker_cpu, phase.wall)} of a core during the load")
    # /proc counts CPU in clock ticks (10 ms): too coarse for a shorter drain.
    if phase.drain >= 0.25:
        if phase.worker_drain_cpu >= 0:
            cpu.append(f"worker {_share(phase.worker_drain_cpu, phase.drain)} during the drain")
        cpu.append(f"server process {_share(phase.server_drain_cpu, phase.drain)} during the drain")
    metric = (
        f"; the server's applier counted {phase.applied_metric:,} ({APPLIED_METRIC}, read a few ms "
        "apart from the table)"
        if phase.applied_metric >= 0
        else ""
    )
    return (
        f"apply: {phase.applied:,} pushes applied in {phase.apply_seconds:.2f} s (the phase and its "
        f"drain) = {fmt_rate(phase.apply_rate)}/s; drain {_seconds(phase.drain)} after the load{left}"
        + (f"; CPU: {', '.join(cpu)}" if cpu else "")
        + metric
    )


def _details(phase: Phase) -> str:
    others = phase.server_cpu - phase.loop_cpu
    refused = ", ".join(f"{k} ×{v:,}" for k, v in sorted(phase.statuses.items())) or "none"
    errors = ", ".join(f"{k} ×{v:,}" for k, v in sorted(phase.errors.items())) or "none"
    what = (
        f"closed loop, {phase.concurrency} connections"
        if phase.mode == "closed"
        else f"open loop at {fmt_rate(phase.rate_target)}/s (achieved {fmt_rate(phase.rate)}/s, "
        f"send lag behind schedule p99 {ms(percentile(phase.lags, 0.99))})"
    )
    grouping = (
        f"; {phase.commits:,} commits, {phase.acked / phase.commits:.1f} pushes each"
        if phase.commits > 0
        else ""
    )
    return (
        f"{what}: {phase.sent:,} sent, {phase.acked:,} acknowledged in {phase.seconds:.2f} s{grouping}; "
        f"p50 {ms(phase.p50)}, p99 {ms(phase.p99)}, max {ms(max(phase.latencies, default=float('nan')))}; "
        f"non-200: {refused}; errors: {errors}; CPU: client {phase.client_cpu / phase.wall:.0%}, "
        f"server {phase.server_cpu / phase.wall:.0%} of a core (event loop thread "
        f"{phase.loop_cpu / phase.wall:.0%}, others {others / phase.wall:.0%}), "
        f"machine {phase.machine_busy:.0%} busy "
        f"(iowait {phase.machine_iowait:.0%})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (~40 s)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server to create the throw-away database on (default %(default)s)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per measured phase (default 8, --quick 2)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="closed-loop warm-up before phase A (default 1, --quick 0.5)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="phase A connections (default %(default)s)"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="load generator processes sharing the load (default %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=256,
        help="phase B: most connections open at once; later pushes wait (default %(default)s)",
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.02,
        help="share of byte-identical re-sends (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--sqlite-dir", default=None, help="where the SQLite file goes (default: system temp)"
    )
    parser.add_argument(
        "--profile",
        choices=("sqlite", "postgres"),
        default=None,
        help="profile this service process and print where the time went to stderr",
    )
    parser.add_argument(
        "--profile-mode",
        choices=("cprofile", "sample"),
        default="cprofile",
        help="cProfile in every thread, in thread CPU time; or wall-clock stack samples of every "
        "thread, biased towards GIL releases (default %(default)s)",
    )
    parser.add_argument(
        "--profile-out", default=None, help="keep the profile as <this>.txt (and <this>.prof for cprofile)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="measure every layout this many times, each between two echo runs; the targets are "
        "judged on the median round (default 3, --quick 1)",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        parser.error("--rounds must be at least 1")

    duration = args.duration or (2.0 if args.quick else 8.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    if duration <= 0 or warmup < 0 or args.concurrency < 1 or args.clients < 1:
        parser.error("--duration and --concurrency must be positive, --warmup not negative")
    if not 0 <= args.duplicates < 1:
        parser.error("--duplicates must be a fraction in [0, 1)")
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    info = machine_info()
    code = _code_version()
    began = time.perf_counter()
    s = Settings(
        duration=duration,
        warmup=warmup,
        concurrency=args.concurrency,
        clients=args.clients,
        max_connections=args.max_connections,
        seed=args.seed,
        duplicates=args.duplicates,
        key=secrets.token_hex(16),
        namespaces=itertools.count(1),
    )

    targets: list[Target] = []  # the web + worker layout, one per backend
    others: dict[str, list[Target]] = {}  # the other layouts, by backend (phase A only)
    skipped: dict[str, str] = {}
    with ExitStack() as stack:
        say("[client] ceiling: closed loop against a raw asyncio server answering a canned 200 …")
        with Server("canned", ["canned"]) as canned:
            ceiling = run_phase(canned, "closed", s, duration=min(duration / 2, 2.0))
        say(
            f"[client]   {fmt_rate(ceiling.rate)} requests/s, "
            f"client CPU {ceiling.client_cpu / ceiling.wall:.0%}"
        )
        echo = stack.enter_context(Server("echo", ["echo"]))
        first = Target("echo", "echo (bare Starlette)")
        measure(first, echo, s)
        assert first.closed is not None
        echoes = [first.closed]

        def beside_echo(target: Target) -> None:
            # The echo run after a server is also the one before the next: each server's
            # ratio is against the echo runs right around it, so drift over the run cancels.
            say("[echo] closed loop, between servers …")
            after = run_phase(echo, "closed", s)
            say(f"[echo]   {fmt_rate(after.rate)} acknowledged/s")
            target.echo = (echoes[-1].rate, after.rate)
            echoes.append(after)

        versions: dict[str, str] = {}
        for backend in backends:
            if backend == "postgres":
                try:
                    versions[backend] = postgres_version(args.pg_url)
                except sa.exc.OperationalError as exc:
                    reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
                    if args.backend == "postgres":
                        print(f"ingest.py: PostgreSQL at --pg-url does not answer: {reason}", file=sys.stderr)
                        return 2
                    say(f"[postgres] skipped: {reason}")
                    skipped["PostgreSQL"] = backend
        for round_ in range(1, rounds + 1):
            for backend in (b for b in backends if b not in skipped.values()):
                label = "SQLite" if backend == "sqlite" else "PostgreSQL"
                suffix = f" #{round_}" if rounds > 1 else ""
                target = Target(f"{backend}{suffix}", f"{label} ({WEB_WORKER}){suffix}")
                target.server = versions.get(backend, "")
                profile = args.profile_mode if args.profile == backend and round_ == 1 else None
                with fresh_database(backend, args.sqlite_dir, args.pg_url) as url:
                    run_service(target, url, s, profile_mode=profile, profile_out=args.profile_out)
                beside_echo(target)
                targets.append(target)
                for layout in (ALL_IN_ONE, WEB_ALONE):
                    other = Target(
                        f"{backend} {layout}{suffix}", f"{label} ({layout}){suffix}", layout=layout
                    )
                    with fresh_database(backend, args.sqlite_dir, args.pg_url) as url:
                        run_service(other, url, s, open_loop=False)
                    beside_echo(other)
                    others.setdefault(target.name, []).append(other)
        last = echoes[-1]
    total = time.perf_counter() - began

    # -- report ------------------------------------------------------------------------
    echo_open = first.open
    everything = [t for web in targets for t in (web, *others.get(web.name, []))]
    all_phases = [p for t in [first, *everything] for p in t.phases]
    codes = sum((p.codes for p in all_phases), Counter())
    pushes = sum(codes.values())
    duplicates = sum(p.duplicates for p in all_phases)
    print("# bench/ingest.py — receiving Shopee pushes over HTTP")
    print()
    print(
        f"machine: nproc={info['nproc']}, {info['cpu']}, {info['python']}, {info['os']}, "
        f"SQLite {info['sqlite']}, SQLAlchemy {info['sqlalchemy']}"
        + "".join(f", PostgreSQL {t.server}" for t in targets if t.server)
        + f"; {_server_stack()}"
    )
    print(f"code: {code}")
    print(
        f"workload: signed pushes over loopback HTTP/1.1 keep-alive; phase A closed loop, "
        f"{s.concurrency} connections, {duration:g} s after {warmup:g} s warm-up; phase B open loop "
        f"at half of A's rate for {duration:g} s, latency from the scheduled send time; "
        f"{s.clients} load generator process(es); of {pushes:,} pushes made "
        f"{int(codes['3']) / max(1, pushes):.0%} code 3, {int(codes['4']) / max(1, pushes):.0%} code 4, "
        f"plus {duplicates:,} byte-identical re-sends ({duplicates / max(1, pushes + duplicates):.1%})"
    )
    print()
    rows: list[list[Any]] = [
        [
            "load generator ceiling (raw asyncio server, canned 200)",
            f"{fmt_rate(ceiling.rate)} req/s",
            "—",
            "—",
            "(info)",
            "",
        ],
        [
            f"echo, closed loop C={s.concurrency}: answered/s ({len(echoes)} runs, one between "
            "every two servers: first / median / last)",
            f"{fmt_rate(first.closed.rate)} / {fmt_rate(statistics.median(e.rate for e in echoes))} / "
            f"{fmt_rate(last.rate)} req/s",
            "—",
            "—",
            "(info)",
            "",
        ],
        [
            f"echo, p50 / p99 closed loop; open loop at {_target_rate(echo_open)}/s",
            f"{ms(first.closed.p50)} / {ms(first.closed.p99)}; "
            + (f"{ms(echo_open.p50)} / {ms(echo_open.p99)}" if echo_open else "—"),
            "—",
            "—",
            "(info)",
            "",
        ],
    ]
    for target in targets:
        closed, opened = target.closed, target.open
        assert closed is not None
        rows.append(
            [
                f"{target.label}: acknowledged pushes/s, closed loop C={s.concurrency}",
                f"{fmt_rate(closed.rate)} pushes/s",
                _echo_cell(target),
                f"{target.ratio:.1%}",
                f"≥ {RATE_TARGET:.0%} of echo",
                verdict(target.ratio >= RATE_TARGET),
            ]
        )
        rows.append(
            [
                f"{target.label}: p99, open loop at half max ({_target_rate(opened)}/s)",
                ms(opened.p99) if opened else "—",
                f"echo {ms(echo_open.p99)} at {fmt_rate(echo_open.rate_target)}/s" if echo_open else "—",
                "—",
                f"≤ {P99_TARGET_MS:.0f} ms",
                verdict(opened is not None and opened.p99 <= P99_TARGET_MS),
            ]
        )
        rows.append(
            [
                f"{target.label}: p50 closed loop / open loop; p99 closed loop",
                f"{ms(closed.p50)} / {ms(opened.p50) if opened else '—'}; {ms(closed.p99)}",
                f"echo {ms(first.closed.p50)} / {ms(echo_open.p50) if echo_open else '—'}; "
                f"{ms(first.closed.p99)}",
                "—",
                "(info)",
                "",
            ]
        )
        half = f"; at half rate: drain {_seconds(opened.drain)}" if opened else ""
        rows.append(
            [
                f"{target.label}: applied by one worker process, phase A + drain",
                f"{fmt_rate(closed.apply_rate)} pushes/s (drain {_seconds(closed.drain)} after the load)"
                f"{half}; worker {_share(closed.worker_cpu, closed.wall)} of a core during the load",
                f"acknowledged {fmt_rate(closed.rate)}/s",
                f"{closed.apply_rate / closed.rate:.1%}" if closed.rate else "—",
                "(info)",
                "",
            ]
        )
        for other in others.get(target.name, []):
            if other.closed is None:
                continue
            alone = other.closed
            if other.layout == ALL_IN_ONE:
                what = "`serve --no-poll`, the applier in a thread"
                applied = (
                    f"; applied {fmt_rate(alone.apply_rate)}/s (drain {_seconds(alone.drain)} after the load)"
                )
            else:
                what = "no worker running, pushes left unapplied (for comparison)"
                applied = ""
            rows.append(
                [
                    f"{other.label}, {what}: acknowledged pushes/s, closed loop C={s.concurrency}",
                    f"{fmt_rate(alone.rate)} pushes/s, p50 / p99 {ms(alone.p50)} / {ms(alone.p99)}{applied}",
                    _echo_cell(other),
                    f"{other.ratio:.1%}",
                    "(info)",
                    "",
                ]
            )
    if rounds > 1:
        rows.extend(_medians(targets))
    for label in skipped:
        rows.append(
            [
                f"{label}: acknowledged pushes/s",
                "skipped",
                "no server at --pg-url",
                "—",
                f"≥ {RATE_TARGET:.0%} of echo",
                "—",
            ]
        )
    print(table(["measure", "figure", "baseline (same run)", "ratio", "target", "result"], rows))
    print()
    print(f"client ceiling: {_details(ceiling)}")
    print(f"echo A: {_details(first.closed)}")
    if echo_open:
        print(f"echo B: {_details(echo_open)}")
    print(f"echo at the end: {_details(last)}")
    moved = [t.label for t in everything if _drift(t) > ECHO_DRIFT]
    if moved:
        print(
            f"WARNING: echo's closed-loop rate moved by more than {ECHO_DRIFT:.0%} across "
            f"{', '.join(moved)}: something else was using the machine then, so those ratios are unreliable"
        )
    client_busy = max(p.client_cpu / p.wall for p in echoes if p.wall > 0) / s.clients
    if client_busy > 0.85:
        print(f"WARNING: the load generator used {client_busy:.0%} of its core against echo: try --clients 2")
    ok = True
    for target in everything:
        print()
        for name, phase in (("A", target.closed), ("B", target.open)):
            if phase is not None:
                print(f"{target.label} {name}: {_details(phase)}")
                if target.layout != WEB_ALONE:
                    print(f"  {_apply_details(phase)}")
        ok = _report_rows(target) and ok
    print()
    if args.profile:
        print(
            f"note: the {args.profile} web process ran under a profiler, "
            "so its figures are lower than they should be"
        )
    print(f"total {total:.1f} s")
    return 0 if ok else 1


def _drift(target: Target) -> float:
    before, after = target.echo
    return abs(before - after) / max(before, after, 1.0)


def _echo_cell(target: Target) -> str:
    before, after = target.echo
    return f"echo {fmt_rate(target.echo_rate)}/s (before {fmt_rate(before)}, after {fmt_rate(after)})"


def _medians(targets: Sequence[Target]) -> list[list[Any]]:
    """The verdict rows over the rounds: each backend's median ratio and median p99."""
    rows: list[list[Any]] = []
    for backend in dict.fromkeys(t.name.split(" #")[0] for t in targets):
        mine = [t for t in targets if t.name.split(" #")[0] == backend]
        label = mine[0].label.split(" #")[0]
        ratios = [t.ratio for t in mine]
        p99s = [t.open.p99 for t in mine if t.open is not None]
        ratio = statistics.median(ratios)
        rows.append(
            [
                f"**{label}: acknowledged pushes/s ÷ echo, median of {len(mine)} rounds**",
                " / ".join(f"{r:.1%}" for r in ratios),
                "each round against the echo runs around it",
                f"{ratio:.1%}",
                f"≥ {RATE_TARGET:.0%} of echo",
                verdict(ratio >= RATE_TARGET),
            ]
        )
        if p99s:
            p99 = statistics.median(p99s)
            rows.append(
                [
                    f"**{label}: p99 at half max, median of {len(p99s)} rounds**",
                    " / ".join(ms(v) for v in p99s),
                    "—",
                    "—",
                    f"≤ {P99_TARGET_MS:.0f} ms",
                    verdict(p99 <= P99_TARGET_MS),
                ]
            )
    return rows


def _report_rows(target: Target) -> bool:
    """Print what ``target`` stored and applied; True when it is all as it must be."""
    rows_stored = target.stored.get("pushes", 0)
    agree = rows_stored == target.distinct_acked
    acknowledged = sum(p.acked for p in target.phases)
    print(
        f"  stored: {rows_stored:,} rows in pushes (and the spool) for {target.distinct_acked:,} "
        "distinct bodies "
        f"acknowledged (warm-up included; acknowledged {acknowledged:,} times in the phases, "
        "re-sends included) — "
        + ("OK, every acknowledged push is stored once" if agree else "MISMATCH")
        + f"; journal {target.stored.get('events', 0):,} events, "
        f"{target.stored.get('orders', 0):,} orders"
    )
    check = target.check
    if target.layout == WEB_ALONE:
        print(
            f"  applied: {check.get('applied', 0):,} of {check.get('rows', 0):,} rows "
            "(no process applied pushes in this layout)"
        )
        return agree
    applied = check.get("rows", -1) == check.get("applied", -2) and check.get("failed", 1) == 0
    print(
        f"  applied: {check.get('applied', 0):,} of {check.get('rows', 0):,} rows have applied_at set, "
        f"{check.get('failed', 0):,} have an error — "
        + ("OK, every stored push is applied, without error" if applied else "NOT ALL APPLIED CLEANLY")
    )
    for error in check.get("errors", []):
        print(f"    {error}")
    worker = target.worker_exit is None or target.worker_exit == 0
    if not worker:
        print(f"  the worker process exited with {target.worker_exit}")
    drained = all(p.unapplied == 0 for p in target.phases)
    if not drained:
        print(f"  the drain gave up: pushes were still unapplied {DRAIN_TIMEOUT:g} s after the load")
    return agree and applied and worker and drained


if __name__ == "__main__":
    raise SystemExit(main())
