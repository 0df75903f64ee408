"""A pretend Coupang over real HTTP, for tests and demos.

``create_sandbox`` answers a Starlette app that serves the Open API calls orderwatch makes
for order sheets (list by status over a day in Korean time with ``maxPerPage`` and
``nextToken``, one sheet by ``shipmentBoxId`` or by ``orderId``, acknowledgement, invoice
upload) and the return/cancel request list (by the day of the requests), checking the CEA
signature, with configurable faults (500, 429, hangs, lost
answers, delays, duplicated rows). Its state, :class:`CoupangSandbox`, is
``app.state.sandbox``: tests drive it in-process, or over HTTP through the ``/sandbox``
control endpoints. The modules:

- :mod:`handlers.coupang.sandbox.sheets`: boxes and their items, as the order sheets show them;
- :mod:`handlers.coupang.sandbox.state`: clock, boxes, actions, faults, counts;
- :mod:`handlers.coupang.sandbox.returns`: the buyers' cancellations and returns;
- :mod:`handlers.coupang.sandbox.api`: the Coupang endpoints and their checks;
- :mod:`handlers.coupang.sandbox.control`: the control endpoints.

``extra_routes`` mounts further Coupang endpoints (the product calls) on the same app and
state; they wrap their handlers in :func:`handlers.coupang.sandbox.api.endpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from handlers.coupang.sandbox.api import api_routes
from handlers.coupang.sandbox.control import control_routes
from handlers.coupang.sandbox.returns import CoupangSandbox
from handlers.coupang.sandbox.sheets import Box, Item
from handlers.sandbox_common import SandboxClock, SandboxError

__all__ = ["Box", "CoupangSandbox", "Item", "SandboxClock", "SandboxError", "create_sandbox"]


def create_sandbox(
    vendor_id: str,
    access_key: str,
    secret_key: str,
    *,
    seed: int = 0,
    clock: SandboxClock | None = None,
    window_days: int = 1,
    max_per_page: int = 50,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The sandbox app; its state is ``app.state.sandbox`` (a :class:`CoupangSandbox`)."""
    sandbox = CoupangSandbox(
        vendor_id,
        access_key,
        secret_key,
        seed=seed,
        clock=clock,
        window_days=window_days,
        max_per_page=max_per_page,
    )
    app = Starlette(routes=[*extra_routes, *api_routes(), *control_routes()])
    app.state.sandbox = sandbox
    return app
