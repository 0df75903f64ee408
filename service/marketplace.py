"""The marketplace port: what one marketplace plugs into the service, named once here.

Each marketplace package fills it in (``handlers/<marketplace>/marketplace.py``:
``MARKETPLACE = Marketplace(...)``) and service/marketplaces.py lists the installed ones;
the core loops over them and never imports a marketplace. A marketplace that is not
``configured`` (its API credentials unset) still serves its routes and parses its stored
pushes, but opens no client, runs no job and starts no poller.

Its clients are opened once per process, in the lifespan (or the worker's or poller's
run), and shared by its routes (``app.state.clients``), its outbox jobs (``ctx.resources``)
and its pollers; each marketplace keys them by names of its own (``shopee``,
``coupang_sheets``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from service.db import Database
from service.outbox import Handler
from service.settings import Settings
from statemachines.events import Event

Clients = Mapping[str, Any]
Poller = Callable[[asyncio.Event], Coroutine[Any, Any, None]]  # runs until the event is set


class ParsedPush(Protocol):
    """What the inbox needs of a parsed push: its events."""

    @property
    def events(self) -> Sequence[Event]: ...


# A stored push's JSON body into its events; raises ValueError when it cannot.
PushParser = Callable[[Mapping[str, Any]], ParsedPush]


@dataclass(frozen=True)
class Marketplace:
    """What one marketplace plugs into the service.

    ``fast_paths`` are POST paths the app serves before its middleware and router (a push
    receiver's hot path), each an ASGI app that answers its own errors; the same path is
    among ``routes`` for the app's other callers. ``add_commands`` adds the marketplace's
    CLI subcommands, each with ``set_defaults(run=<(settings, args) -> exit code>)``."""

    platform: str
    configured: Callable[[Settings], bool]
    open_clients: Callable[[Settings, AsyncExitStack], Clients] = lambda *_: {}
    job_handlers: Mapping[str, Handler] = field(default_factory=dict)
    push_parser: PushParser | None = None
    routes: Sequence[BaseRoute] = ()
    fast_paths: Mapping[str, ASGIApp] = field(default_factory=dict)
    pollers: Callable[[Settings, Database, Clients], Sequence[Poller]] = lambda *_: ()
    add_commands: Callable[[argparse._SubParsersAction[Any]], None] | None = None


def open_clients(marketplaces: Iterable[Marketplace], settings: Settings, stack: AsyncExitStack) -> Clients:
    """The clients of every configured marketplace, closed when ``stack`` closes."""
    found: dict[str, Any] = {}
    for market in marketplaces:
        if market.configured(settings):
            found.update(market.open_clients(settings, stack))
    return found


def push_parsers(marketplaces: Iterable[Marketplace]) -> dict[str, PushParser]:
    """The push parser of each marketplace that has one, by platform; configured or not, a
    stored push is applied."""
    return {market.platform: market.push_parser for market in marketplaces if market.push_parser}
