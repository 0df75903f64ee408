"""``orderwatch products``: register a Coupang product from a file, follow one by its
``sellerProductId``, list the followed ones.

A file that breaks Coupang's documented limits exits 2 with one line per problem
(``field: message``) and sends nothing; a refusal or failure of Coupang's exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.settings import ConfigurationError, Settings
from statemachines.listing import LISTING_STATES

if TYPE_CHECKING:
    from handlers.coupang.client import CoupangClient

Connect = Callable[[Settings], "CoupangClient | None"]  # None: Coupang is not configured


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``products`` subcommand to the CLI's subparsers; the parser added."""
    products = sub.add_parser("products", help="register, follow and list Coupang products")
    commands = products.add_subparsers(dest="products_command", required=True, parser_class=type(products))
    register = commands.add_parser(
        "register", help="check FILE (a Coupang product body, JSON), then register it"
    )
    register.add_argument("file", type=Path)
    track = commands.add_parser("track", help="follow the approval of a product made elsewhere")
    track.add_argument("seller_product_id")
    listing = commands.add_parser("list", help="the followed products and their approval state")
    listing.add_argument("--state", choices=LISTING_STATES, default=None)
    parser: argparse.ArgumentParser = products
    return parser


def run(settings: Settings, args: argparse.Namespace, *, connect: Connect) -> int:
    """Run ``orderwatch products …``; ``connect`` makes the client a registration uses."""
    from handlers.coupang.products import approval, read
    from handlers.coupang.products.calls import is_product_id
    from service.db import Database

    db = Database(settings.database_url)
    try:
        if args.products_command == "register":
            return _register(settings, db, args.file, connect)
        if args.products_command == "track":
            if not is_product_id(args.seller_product_id):
                raise ConfigurationError(f"a sellerProductId is a number, not {args.seller_product_id!r}")
            created = approval.track(db, args.seller_product_id, settings)
            print(
                f"coupang product {args.seller_product_id}: {'followed' if created else 'already followed'}"
            )
            return 0
        with db.read() as conn:
            for product in read.list_products(conn, state=args.state):
                ids = ",".join(product["vendor_item_ids"]) or "-"
                print(f"{product['seller_product_id']}\t{product['state']}\t{ids}\t{product['name'] or ''}")
        return 0
    finally:
        db.dispose()


def _register(settings: Settings, db: Any, path: Path, connect: Connect) -> int:
    from handlers.coupang.products import approval
    from handlers.coupang.products.rules import validate

    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not a readable JSON file: {exc}") from None
    problems = validate(body)
    if problems:
        for problem in problems:
            print(f"{problem.field or 'body'}: {problem.message}", file=sys.stderr)
        print(
            f"orderwatch: {path} breaks {len(problems)} of Coupang's limits; nothing was sent",
            file=sys.stderr,
        )
        return 2
    client = connect(settings)
    if client is None:
        raise ConfigurationError(
            "set ORDERWATCH_COUPANG_VENDOR_ID, _ACCESS_KEY and _SECRET_KEY to register products"
        )

    async def send() -> dict[str, Any]:
        async with client:
            return await approval.register(db, client, body, settings)

    found = asyncio.run(send())
    print(
        f"registered coupang product {found['seller_product_id']} ({found['name']}); following its approval"
    )
    return 0
