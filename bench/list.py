"""``GET /v1/orders?state=…`` at 100,000 orders: p50/p99 over real HTTP, next to baselines.

    .venv/bin/python bench/list.py [--orders 100000] [--requests 500] [--quick]
                                   [--backend sqlite|postgres|all] [--pg-url URL] [--explain]

In one run, per backend (a fresh SQLite file; a fresh PostgreSQL database, dropped after):

1. **seed**: ``--orders`` orders (70% Shopee, 30% Coupang; 24 shops, two of them Instant
   Mart outlets of one main shop; states in a seller's mix: most delivered, a few in
   every other state) with one package each (two for 8%, none before ``approved``),
   written in bulk with ``service.bulk.insert``, then ANALYZE.
2. **app**: the application (``create_app``, no worker, no pollers) under uvicorn in its
   own process on loopback, with a viewer token; one keep-alive client sends the
   requests one after another (20 warm-up, then ``--requests`` timed) per scenario.
3. **bare** (baseline): the same uvicorn serving a bare Starlette endpoint that answers
   the same JSON document (taken from the app's answer of that scenario, serialized per
   request by ``JSONResponse`` as the app does): what HTTP and JSON alone cost here.
4. **sql** (baseline): the page's rows by two plain statements (the orders, then their
   packages) run in this process, timed the same way: what the database alone costs.
5. **dashboard**: a few of the dashboard's pages from the same app (info).

Target (issue 6): p99 < 50 ms on each backend for the ``state=`` scenarios.
Results go to stdout as a table; progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_PG_URL,
    machine_info,
    postgres_version,
    say,
    table,
    temp_postgres,
    temp_sqlite,
)
from bench.seed_orders import SHOPS, seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TOKEN = "bench-viewer-token"
TARGET_MS = 50.0
WARMUP = 20


@dataclass(frozen=True)
class Scenario:
    """One kind of request: its query, and the SQL filter that the page runs."""

    name: str
    params: dict[str, str]
    where: str
    binds: dict[str, Any]
    walk: bool = False  # follow next_cursor from page to page (back to the first at the end)
    targeted: bool = True  # a state= scenario: the target applies

    @property
    def limit(self) -> int:
        return int(self.params.get("limit", "100"))


SCENARIOS = (
    Scenario("state=delivered (55%)", {"state": "delivered"}, "state = :s", {"s": "delivered"}),
    Scenario("state=on_hold (2%)", {"state": "on_hold"}, "state = :s", {"s": "on_hold"}),
    Scenario(
        "state=pending&platform=coupang",
        {"state": "pending", "platform": "coupang"},
        "state = :s AND platform = :p",
        {"s": "pending", "p": "coupang"},
    ),
    Scenario(
        "state=shipped&shop_id=<a shop>",
        {"state": "shipped", "shop_id": SHOPS[3]},
        "state = :s AND (shop_id = :shop OR main_shop_id = :shop)",
        {"s": "shipped", "shop": SHOPS[3]},
    ),
    Scenario(
        "state=delivered&shop_id=<main shop>",
        {"state": "delivered", "shop_id": "299999"},
        "state = :s AND (shop_id = :shop OR main_shop_id = :shop)",
        {"s": "delivered", "shop": "299999"},
    ),
    Scenario(
        "state=delivered, walking next_cursor",
        {"state": "delivered"},
        "state = :s",
        {"s": "delivered"},
        walk=True,
    ),
    Scenario(
        "state=delivered&limit=500",
        {"state": "delivered", "limit": "500"},
        "state = :s",
        {"s": "delivered"},
        targeted=False,
    ),
    Scenario(
        "shop_id=<a shop> (no state)",
        {"shop_id": SHOPS[5]},
        "(shop_id = :shop OR main_shop_id = :shop)",
        {"shop": SHOPS[5]},
        targeted=False,
    ),
)


# -- servers -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(kind: str, env: dict[str, str]) -> Iterator[str]:
    """This file run as ``--serve kind`` in its own process; yields its base URL."""
    port = _free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERWATCH_")}
    child_env.update(env)
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://{HOST}:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the {kind} server exited:\n{log.read().decode(errors='replace')}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start in 30 s")
                time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _serve(kind: str, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    app: Any
    if kind == "app":
        from service.app import create_app

        app = create_app(worker=False)
    else:
        bodies = orjson.loads(Path(os.environ["BENCH_BODIES"]).read_bytes())

        async def answer(request: Request) -> Response:
            return JSONResponse(bodies[request.query_params["body"]])

        async def healthz(_request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        app = Starlette(routes=[Route("/v1/orders", answer), Route("/healthz", healthz)])
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# -- measuring ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _p50_p99(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}"


def timed(call: Callable[[], Any], count: int) -> list[float]:
    """Milliseconds of ``count`` calls, after ``WARMUP`` untimed ones."""
    for _ in range(WARMUP):
        call()
    found = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        found.append((time.perf_counter() - start) * 1000)
    return found


def app_caller(client: httpx.Client, scenario: Scenario, bodies: dict[str, Any]) -> Callable[[], None]:
    """A function that sends the scenario's next request and checks the answer."""
    cursor: list[str | None] = [None]

    def call() -> None:
        params = dict(scenario.params)
        if scenario.walk and cursor[0]:
            params["cursor"] = cursor[0]
        answer = client.get("/v1/orders", params=params)
        if answer.status_code != 200:
            raise RuntimeError(f"{scenario.name}: {answer.status_code} {answer.text[:200]}")
        page = orjson.loads(answer.content)
        bodies.setdefault(scenario.name, page)
        if scenario.walk:
            cursor[0] = page["next_cursor"]

    return call


PAGES: list[list[str]] = []  # dashboard page timings: backend, page, p50 / p99


def dashboard_pages(order: dict[str, Any]) -> list[tuple[str, str]]:
    """The dashboard pages measured: (label, path)."""
    return [
        ("/ (counts, open alerts, newest 50)", "/"),
        ("/?q=<an order id's first 9 characters>", f"/?q={order['order_id'][:9]}"),
        ("/?state=on_hold&shop=<a shop>", f"/?state=on_hold&shop={SHOPS[2]}"),
        ("/orders/<platform>/<order id>", f"/orders/{order['platform']}/{order['order_id']}"),
    ]


def page_caller(client: httpx.Client, path: str) -> Callable[[], None]:
    """A function that loads one dashboard page."""

    def call() -> None:
        answer = client.get(path)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")

    return call


def sql_caller(conn: sa.Connection, scenario: Scenario) -> Callable[[], None]:
    """The page's two statements, as the driver runs them."""
    orders = sa.text(f"SELECT * FROM orders WHERE {scenario.where} AND id > :after ORDER BY id LIMIT :n")
    cursor = [0]

    def call() -> None:
        rows = conn.execute(orders, {**scenario.binds, "after": cursor[0], "n": scenario.limit + 1}).all()
        ids = [r.id for r in rows[: scenario.limit]]
        if ids:
            packages = sa.text("SELECT * FROM packages WHERE order_pk IN :ids ORDER BY id").bindparams(
                sa.bindparam("ids", expanding=True)
            )
            conn.execute(packages, {"ids": ids}).all()
        if scenario.walk:
            cursor[0] = ids[-1] if len(rows) > scenario.limit else 0

    return call


def explain(conn: sa.Connection, scenario: Scenario) -> str:
    """The database's plan for the scenario's orders statement."""
    sql = f"SELECT * FROM orders WHERE {scenario.where} AND id > :after ORDER BY id LIMIT 101"
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    rows = conn.execute(sa.text(prefix + sql), {**scenario.binds, "after": 0}).all()
    return " / ".join(str(r[-1]) for r in rows)


def run_backend(name: str, url: str, orders: int, requests: int, show_plans: bool) -> list[list[str]]:
    """Seed, serve, measure every scenario; one table row per scenario."""
    say(f"[{name}] seeding {orders:,} orders")
    started = time.monotonic()
    mix = seed(url, orders)
    say(f"[{name}] seeded in {time.monotonic() - started:.1f} s: {mix}")
    bodies: dict[str, Any] = {}
    app_ms: dict[str, list[float]] = {}
    env = {"ORDERWATCH_DATABASE_URL": url, "ORDERWATCH_API_TOKENS": f"bench:{TOKEN}:viewer",
           "ORDERWATCH_LOG_LEVEL": "WARNING"}  # fmt: skip
    load_before = os.getloadavg()[0]
    with (
        server("app", env) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client,
    ):
        for scenario in SCENARIOS:
            say(f"[{name}] app: {scenario.name}")
            app_ms[scenario.name] = timed(app_caller(client, scenario, bodies), requests)
        first = bodies[SCENARIOS[0].name]["orders"][0]
        for label, path in dashboard_pages(first):
            say(f"[{name}] dashboard: {label}")
            PAGES.append([name, label, _p50_p99(timed(page_caller(client, path), max(50, requests // 5)))])
    with tempfile.NamedTemporaryFile(suffix=".json") as saved:
        saved.write(orjson.dumps(bodies))
        saved.flush()
        bare_ms: dict[str, list[float]] = {}
        with server("bare", {"BENCH_BODIES": saved.name}) as base, httpx.Client(base_url=base) as client:
            for scenario in SCENARIOS:
                say(f"[{name}] bare: {scenario.name}")
                bare_ms[scenario.name] = timed(
                    partial(client.get, "/v1/orders", params={"body": scenario.name}), requests
                )
    sql_ms: dict[str, list[float]] = {}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for scenario in SCENARIOS:
                say(f"[{name}] sql: {scenario.name}")
                sql_ms[scenario.name] = timed(sql_caller(conn, scenario), requests)
                if show_plans:
                    say(f"    plan: {explain(conn, scenario)}")
            conn.rollback()
    finally:
        engine.dispose()
    load_after = os.getloadavg()[0]
    say(f"[{name}] load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    rows = []
    for scenario in SCENARIOS:
        p99 = percentile(app_ms[scenario.name], 0.99)
        verdict = ("PASS" if p99 < TARGET_MS else "FAIL") if scenario.targeted else "(info)"
        size = len(orjson.dumps(bodies[scenario.name]))
        rows.append(
            [
                name,
                scenario.name,
                f"{size / 1024:.0f} KiB",
                _p50_p99(app_ms[scenario.name]),
                _p50_p99(bare_ms[scenario.name]),
                _p50_p99(sql_ms[scenario.name]),
                verdict,
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="10,000 orders, 100 requests")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--explain", action="store_true", help="print each scenario's plan (stderr)")
    parser.add_argument("--serve", choices=("app", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.port)
        return 0
    orders, requests = (10_000, 100) if args.quick else (args.orders, args.requests)
    info = machine_info()
    rows: list[list[str]] = []
    if args.backend in ("sqlite", "all"):
        with temp_sqlite() as url:
            rows += run_backend("SQLite", url, orders, requests, args.explain)
    if args.backend in ("postgres", "all"):
        info["postgresql"] = postgres_version(args.pg_url)
        with temp_postgres(args.pg_url) as url:
            rows += run_backend("PostgreSQL", url, orders, requests, args.explain)
    print(", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"{orders:,} orders; {requests} timed requests per scenario, one at a time, after {WARMUP} warm-up")
    print(
        table(
            [
                "backend",
                "scenario",
                "body",
                "app p50 / p99 ms",
                "bare p50 / p99 ms",
                "sql p50 / p99 ms",
                f"p99 < {TARGET_MS:.0f} ms",
            ],  # fmt: skip
            rows,
        )
    )
    print()
    print(table(["backend", "dashboard page", "p50 / p99 ms"], PAGES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
