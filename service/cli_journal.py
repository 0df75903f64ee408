"""The ``orderwatch`` commands that go over what is already stored: ``replay`` and ``reapply``
(the event journal) and ``pushes`` (the stored pushes that failed to apply).

Apart from :mod:`service.cli` so that it stays short; they reach no marketplace but through
:func:`service.marketplaces.installed`, and share the exit codes of :mod:`service.cli`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from service.marketplaces import installed
from service.settings import Settings


def add_journal_commands(
    sub: argparse._SubParsersAction[Any], parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``replay``, ``reapply`` and ``pushes`` to ``sub``, the subparsers of ``orderwatch``;
    ``parser_class`` is the command line's parser, for the nested ``pushes`` subcommands."""
    replay = sub.add_parser("replay", help="rebuild every order and package from the event journal")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    reapply = sub.add_parser("reapply", help="apply again the journaled events that failed")
    reapply.add_argument("event_ids", nargs="*", type=int, help="only these journal ids")
    pushes = sub.add_parser("pushes", help="stored pushes that failed to apply: list them, apply them again")
    push_sub = pushes.add_subparsers(dest="pushes_command", required=True, parser_class=parser_class)
    push_sub.add_parser("failed", help="the failed pushes, oldest first: id, platform, code, order, error")
    again = push_sub.add_parser("reapply", help="apply failed pushes again, after a fix (exactly once)")
    again.add_argument("push_ids", nargs="*", type=int, help="only these pushes (default: every failed one)")


def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    """``orderwatch replay``: 0 when every order rebuilt, else 1."""
    from tqdm import tqdm

    from service.db import Database
    from service.replay import replay

    db = Database(settings.database_url)
    try:
        with tqdm(unit="order", disable=args.no_progress, desc="replay") as bar:

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            report = replay(db, progress=advance)
    finally:
        db.dispose()
    print(f"replayed {report.events} events into {report.orders} orders; {report.failed} failed")
    return 0 if report.failed == 0 else 1


def run_reapply(settings: Settings, args: argparse.Namespace) -> int:
    """``orderwatch reapply``: the outcomes counted on one line."""
    from collections import Counter

    from service.db import Database
    from service.ingest import reapply

    db = Database(settings.database_url)
    try:
        results = reapply(db, args.event_ids or None)
    finally:
        db.dispose()
    counts = Counter(r.outcome for r in results.values())
    print(
        f"reapplied {len(results)} events: "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
    )
    return 0


def _cli_actor() -> str:
    """Who runs a command line command, for the journal: ``cli:<login>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:100]
    except (OSError, KeyError):  # no login name in the environment nor the password database
        return "cli"


def run_pushes(settings: Settings, args: argparse.Namespace) -> int:
    """``orderwatch pushes failed|reapply``: 1 when a push could not be applied again."""
    from service import inbox, push_failures
    from service.db import Database
    from service.marketplace import push_parsers

    db = Database(settings.database_url)
    try:
        if args.pushes_command == "failed":
            with db.read() as conn:
                page = push_failures.list_failed(conn, limit=push_failures.MAX_LIMIT)
            for push in page["pushes"]:
                print(f"{push['id']}\t{push['platform']}\t{push['code']}\t{push['ordersn'] or '-'}\t"
                      f"{push['received_at']}\t{push['error']}")  # fmt: skip
            if page["next_cursor"]:
                print(f"(the first {push_failures.MAX_LIMIT}; GET /v1/pushes?state=failed pages them all)")
            return 0
        # Journaled as the one who ran it, as an API command is as its token's name.
        done = inbox.reapply(db, push_parsers(installed()), args.push_ids or None, actor=_cli_actor())
    finally:
        db.dispose()
    for result in done:
        if result.outcome != "applied":
            print(f"push {result.push_id}: {result.outcome.replace('_', ' ')}" + (
                f": {result.error}" if result.error else ""), file=sys.stderr)  # fmt: skip
    applied = [r for r in done if r.outcome == "applied"]
    print(f"re-applied {len(applied)} of {len(done)} pushes ({sum(r.events for r in applied)} events)")
    return 0 if len(applied) == len(done) else 1
