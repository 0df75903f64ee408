"""The ``orderwatch`` command line.

Exit codes: 0 success, 2 bad usage or configuration (one-line reason), 1 other failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.cli_journal import add_journal_commands, run_pushes, run_reapply, run_replay
from service.marketplaces import installed
from service.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from service.db import Database

log = logging.getLogger("orderwatch")
WORKER_NICE = 10  # orderwatch worker --nice


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"orderwatch: {message}", file=sys.stderr)
        raise SystemExit(2)


def _port(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free one) to 65535."""
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a one-line :class:`ConfigurationError`.

    Binding before uvicorn starts turns a busy port or a host that does not resolve into exit 2
    with its reason, instead of uvicorn's tracebacks and exit 3.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        reason = f"the host does not resolve ({exc})"
        raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = _Parser(prog="orderwatch", description="Keeps marketplace orders and parcels straight.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = sub.add_parser("serve", help="migrate, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    serve.add_argument("--no-worker", action="store_true", help="do not run outbox jobs in this process")
    serve.add_argument("--no-poll", action="store_true", help="do not run the pollers in this process")
    sub.add_parser("migrate", help="apply Alembic migrations to ORDERWATCH_DATABASE_URL")
    sub.add_parser("poll", help="run the pollers only (the Shopee reconciliation poll)")
    demo = sub.add_parser("demo", help="serve against the built-in Shopee sandbox, which makes orders")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=_port, default=8000)
    demo.add_argument("--pace", type=float, default=4.0, help="seconds between new orders (default 4)")
    worker = sub.add_parser("worker", help="apply stored pushes and run outbox jobs ('serve --no-worker')")
    worker.add_argument("--idle", type=float, default=0.2, help="seconds between looks when idle")
    worker.add_argument(
        "--nice",
        type=int,
        default=WORKER_NICE,
        help=f"lower the worker's CPU priority by this much, so that a web process on the same "
        f"machine answers first (default {WORKER_NICE}; 0 keeps it)",
    )
    add_journal_commands(sub, _Parser)
    shops = sub.add_parser("shops", help="list shops, or link an Instant Mart outlet shop to its main shop")
    shop_sub = shops.add_subparsers(dest="shops_command", required=True, parser_class=_Parser)
    listing = shop_sub.add_parser("list", help="the known shops, outlets with their main shop")
    listing.add_argument("--platform", choices=("shopee", "coupang"), default=None)
    linking = shop_sub.add_parser("link", help="make OUTLET an outlet shop of MAIN (its orders too)")
    linking.add_argument("outlet", help="the outlet shop id")
    linking.add_argument("main", help="the main shop id")
    linking.add_argument("--platform", choices=("shopee", "coupang"), default="shopee")
    policy = shop_sub.add_parser("arrange-at", help="when SHOP's shipments are arranged")
    policy.add_argument("shop", help="the shop id")
    policy.add_argument("state", choices=("approved", "ready_to_ship"), help="approved: no warehouse steps")
    policy.add_argument("--platform", choices=("shopee", "coupang"), default="shopee")
    acknowledging = shop_sub.add_parser(
        "acknowledge", help="whether orderwatch acknowledges the Coupang VENDOR's new order sheets"
    )
    acknowledging.add_argument("vendor", help="the Coupang vendor id, e.g. A00012345")
    acknowledging.add_argument("mode", choices=("auto", "manual"), help="manual: the seller does it in Wing")
    authorize = shop_sub.add_parser(
        "authorize",
        help="store SHOP's API tokens, read from standard input: access token, then refresh token",
    )
    authorize.add_argument("shop", help="the shop id")
    authorize.add_argument("--expires-in", type=int, default=4 * 3600, help="seconds the access token lives")
    unlinking = shop_sub.add_parser("unlink", help="make OUTLET a shop of its own again")
    unlinking.add_argument("outlet", help="the outlet shop id")
    unlinking.add_argument("--platform", choices=("shopee", "coupang"), default="shopee")
    for market in installed():  # each sets its commands' run (set_defaults)
        if market.add_commands is not None:
            market.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ()
    except ConfigurationError as exc:
        print(f"orderwatch: {exc}", file=sys.stderr)
        return 2
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        print(
            f"orderwatch: ORDERWATCH_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
            f"(got {settings.log_level[:40]!r})",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)
    try:
        run = COMMANDS.get(args.command) or args.run
        return int(run(settings, args) or 0)
    except ConfigurationError as exc:
        print(f"orderwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for operators
        log.debug("failure", exc_info=True)
        reason = _database_unreachable(exc)
        if reason is not None:
            print(f"orderwatch: {args.command}: cannot reach the database: {reason}", file=sys.stderr)
            return 2
        print(f"orderwatch: {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _database_unreachable(exc: BaseException) -> str | None:
    """The one-line reason when ``exc`` says the database cannot be reached, else None."""
    import sqlalchemy.exc

    if not isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return None
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return (text.splitlines() or ["no reason given"])[0][:300]


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from service.migrate import upgrade

    upgrade(settings.database_url)
    log.info("database migrated")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app

    sock = listen(args.host, args.port)
    try:
        if not args.no_migrate:
            _migrate(settings, args)
        from service.stream import Server

        app = create_app(settings, pollers=not args.no_poll, worker=not args.no_worker)
        # orderwatch's server: its shutdown ends open event streams (GET /v1/stream) first.
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=settings.log_level.lower())
        Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _authorize(db: Database, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from handlers.shopee.tokens import set_tokens

    if not args.shop.isdigit():
        raise ConfigurationError(f"shop ids are numbers, not {args.shop!r}")
    # From standard input, not the command line: arguments show in every process list.
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        raise ConfigurationError("give the access token (and the refresh token) on standard input")
    expires = datetime.now(UTC) + timedelta(seconds=args.expires_in)
    set_tokens(db, args.shop, lines[0], lines[1] if len(lines) > 1 else None, expires)
    print(f"shopee shop {args.shop}: tokens stored (the access token expires {expires:%Y-%m-%d %H:%M} UTC)")
    return 0


def _poll(settings: Settings, _args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from service.db import Database
    from service.pollers import poll_forever

    db = Database(settings.database_url)

    async def run() -> None:
        # Its own handlers, as the worker's: SIGINT is honoured even where the process was
        # started with it ignored (in the background of a non-interactive shell), and
        # SIGTERM stops it as cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, name), stop.set)
        await poll_forever(settings, db, installed(), stop)

    try:
        asyncio.run(run())
    finally:
        db.dispose()
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    from service.actions import running_outbox
    from service.db import Database
    from service.inbox import Applier
    from service.marketplace import open_clients, push_parsers

    if not args.idle > 0:
        raise ConfigurationError("--idle must be more than 0 seconds")
    if not 0 <= args.nice <= 19:
        raise ConfigurationError("--nice must be from 0 to 19")
    if args.nice and hasattr(os, "nice"):
        # Applying and running jobs can wait a little; acknowledging a push, or answering
        # the team, should not wait for them when both share the machine's cores.
        os.nice(args.nice)
    db = Database(settings.database_url)
    markets = installed()
    applier = Applier(db, push_parsers(markets), idle=args.idle)

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, name), stop.set)
        applier.start()
        log.info("worker: applying stored pushes and running outbox jobs")
        try:
            # The worker writes most of what the database's WAL holds: it checkpoints too.
            async with contextlib.AsyncExitStack() as stack:
                stack.enter_context(db.checkpoints())
                clients = open_clients(markets, settings, stack)
                outbox = await stack.enter_async_context(
                    running_outbox(settings, db, markets, clients, idle=args.idle)
                )
                await stop.wait()
        finally:
            await asyncio.to_thread(applier.stop)
        log.info("worker stopped after applying %d pushes; jobs %s", applier.applied, outbox.counts)
        return 0

    try:
        return asyncio.run(run())
    finally:
        db.dispose()


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from service.demo import run_demo

    if not args.pace > 0:
        raise ConfigurationError("--pace must be more than 0 seconds")
    listen(args.host, args.port).close()  # a busy port or a bad host: one line and exit 2
    asyncio.run(run_demo(settings, args.host, args.port, args.pace))
    return 0


def _shops(settings: Settings, args: argparse.Namespace) -> int:
    from service import shops
    from service.db import Database

    db = Database(settings.database_url)
    try:
        if args.shops_command == "list":
            for shop in shops.list_shops(db, args.platform):
                role = f"outlet of {shop.main_shop_id}" if shop.main_shop_id else "main or independent shop"
                print(f"{shop.platform}\t{shop.shop_id}\t{role}")
            return 0
        if args.shops_command == "authorize":
            return _authorize(db, args)
        if args.shops_command == "acknowledge":
            from handlers.coupang.policy import set_acknowledge

            set_acknowledge(db, args.vendor, args.mode)
            print(f"coupang vendor {args.vendor}: new order sheets are acknowledged {args.mode}")
            return 0
        if args.shops_command == "arrange-at":
            if not args.shop.isdigit():
                raise ConfigurationError(f"shop ids are numbers, not {args.shop!r}")
            shops.set_arrange_at(db, args.platform, args.shop, args.state)
            print(f"{args.platform} shop {args.shop}: shipments are arranged at {args.state}")
            return 0
        for shop_id in [args.outlet, *([args.main] if args.shops_command == "link" else [])]:
            if not shop_id.isdigit():
                raise ConfigurationError(f"shop ids are numbers, not {shop_id!r}")
        main: str | None = args.main if args.shops_command == "link" else None
        if main == args.outlet:
            raise ConfigurationError("a shop cannot be its own main shop")
        changed = shops.link(db, args.platform, args.outlet, main)
    finally:
        db.dispose()
    what = f"an outlet of {main}" if main else "a shop of its own"
    print(f"{args.platform} shop {args.outlet} is now {what}; {changed} of its orders changed")
    return 0


COMMANDS = {
    "serve": _serve,
    "migrate": _migrate,
    "poll": _poll,
    "demo": _demo,
    "worker": _worker,
    "replay": run_replay,
    "reapply": run_reapply,
    "pushes": run_pushes,
    "shops": _shops,
}  # and each marketplace's commands (build_parser)
