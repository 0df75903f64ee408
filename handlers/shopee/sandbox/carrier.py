"""The Shopee sandbox's carrier: checkpoints of arranged parcels, and their way to the buyer.

A parcel arranged by ``ship_order`` waits for pickup (``LOGISTICS_REQUEST_CREATED``). Once
picked up — by :meth:`Carrier.pickup`, or on its own in auto mode — it follows a plan, one
step per :meth:`Carrier.advance`: picked up (``LOGISTICS_PICKUP_DONE``; the order goes
SHIPPED once all its parcels are), in-transit checkpoints, customs hold and release for a
cross-border shop's parcels (the logistics status stays in transit), out for delivery,
optional failed attempts (worded checkpoints; the parcel stays ``LOGISTICS_PICKUP_DONE``,
then goes out for delivery again),
delivered (``LOGISTICS_DELIVERY_DONE``; the order goes TO_CONFIRM_RECEIVE once all its
parcels are), and after ``complete_beats`` more steps the order is COMPLETED. Order status
changes are pushed by :meth:`ShopeeWorld.move` as any other change.

Checkpoints carry Shopee's tracking statuses (``ORDER_CREATED``, ``PICKED_UP``,
``DELIVERY_PENDING``, ``FAILED_DELIVERED``, ``DELIVERED``: TrackingLogisticsStatus in
Shopee's data definitions), as ``get_tracking_info`` shows them, oldest first. Invented: the
plan itself (hubs, customs, how many steps) and the checkpoints' words; the reference
describes only the statuses. Auto mode runs a daemon thread that calls
:meth:`Carrier.beat` every ``pace_seconds``; demo mode also creates orders (UNPAID, paid
on the next beat) and leaves arranging their shipment to orderwatch.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handlers.sandbox_common import SandboxError

if TYPE_CHECKING:
    from handlers.shopee.sandbox.state import Order, Package, ShopeeWorld

log = logging.getLogger("orderwatch.sandbox")

PickedUp = ("LOGISTICS_PICKUP_DONE", "LOGISTICS_DELIVERY_FAILED", "LOGISTICS_DELIVERY_DONE")
_HUBS = ("the origin sorting centre", "the line-haul hub", "the destination delivery hub")


@dataclass(frozen=True)
class Step:
    """One checkpoint to come, and the package's new ``LOGISTICS_*`` status if it changes."""

    track_status: str
    description: str
    logistics_status: str | None = None


@dataclass
class CarrierSettings:
    """How parcels travel: transit checkpoints, the share of parcels with failed delivery
    attempts (and how many at most), beats before an auto pickup and before completion."""

    transit_steps: int = 2
    failed_attempts: float = 0.0
    max_failed_attempts: int = 1
    auto_pickup_beats: int = 1
    complete_beats: int = 1
    demo_max_waiting: int = 20

    def check(self) -> None:
        """Refuse impossible settings."""
        counts = (self.transit_steps, self.max_failed_attempts, self.auto_pickup_beats, self.complete_beats)
        if min(counts) < 0 or self.demo_max_waiting < 1:
            raise SandboxError("carrier counts cannot be negative")
        if not 0.0 <= self.failed_attempts <= 1.0:
            raise SandboxError("failed_attempts is a share between 0 and 1")


class Carrier:
    """Moves a sandbox's arranged parcels along and keeps their checkpoints."""

    def __init__(self, sandbox: ShopeeWorld, seed: int = 0) -> None:
        self.sandbox = sandbox
        self.settings = CarrierSettings()
        self.hooks: list[Callable[[], None]] = []  # run first at every beat
        self.pace_seconds = 0.0
        self.create_orders = False
        self.demo_shop: int | None = None
        self._rng = random.Random(f"{seed}:carrier")
        self._checkpoints: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._plans: dict[tuple[str, str], deque[Step]] = {}
        self._waiting: dict[tuple[str, str], int] = {}
        self._confirming: dict[str, int] = {}
        self._unpaid: list[str] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoints(self, order_sn: str, package_number: str) -> list[dict[str, Any]]:
        """The package's checkpoints so far, oldest first."""
        with self.sandbox.lock:
            return [dict(c) for c in self._checkpoints.get((order_sn, package_number), [])]

    def arranged(self, order: Order, package: Package, mode: str, where: str) -> None:
        """Record an arrangement; a non-integrated parcel counts as picked up at once."""
        with self.sandbox.lock:
            key = (order.order_sn, package.package_number)
            verb = {"pickup": "awaits pickup at", "dropoff": "will be dropped off at"}.get(mode)
            text = f"The seller arranged shipment; the parcel {verb} {where}" if verb else where
            self._note(key, Step("ORDER_CREATED", text))
            if mode == "non_integrated":
                self._plans[key] = self._plan(order)
                self._after_pickup(order)
            else:
                self._waiting[key] = 0

    # -- movement -------------------------------------------------------------------------

    def pickup(self, order_sn: str, package_number: str | None = None) -> Order:
        """The carrier picks up the order's arranged parcels (or one of them)."""
        with self.sandbox.lock:
            order = self.sandbox.order(order_sn)
            keys = [k for k in self._waiting if k[0] == order_sn and package_number in (None, k[1])]
            if not keys:
                raise SandboxError(f"order {order_sn} has no parcel waiting for pickup", 409)
            for key in keys:
                self._pick(order, key)
            return order

    def advance(self, order_sn: str | None = None) -> int:
        """One step for every parcel on its way (of one order); how many moves were made."""
        with self.sandbox.lock:
            moves = 0
            for sn, beats in list(self._confirming.items()):
                if order_sn not in (None, sn):
                    continue
                if beats + 1 < self.settings.complete_beats:
                    self._confirming[sn] = beats + 1
                    continue
                del self._confirming[sn]
                if self.sandbox.order(sn).order_status == "TO_CONFIRM_RECEIVE":
                    self.sandbox.move(sn, status="COMPLETED")  # the buyer confirms receipt
                    moves += 1
            for key, plan in list(self._plans.items()):
                if order_sn not in (None, key[0]):
                    continue
                self._step(key, plan.popleft())
                moves += 1
                if not plan:
                    del self._plans[key]
            return moves

    def beat(self) -> None:
        """One beat of auto mode: hooks, pickups due, one step for every parcel, demo orders."""
        for hook in list(self.hooks):
            hook()
        with self.sandbox.lock:
            self.advance()
            for key, beats in list(self._waiting.items()):
                if beats + 1 >= self.settings.auto_pickup_beats:
                    self._pick(self.sandbox.order(key[0]), key)
                else:
                    self._waiting[key] = beats + 1
            if self.create_orders:
                self._demo_orders()

    # -- auto and demo modes --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Auto mode is on."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, pace_seconds: float, *, create_orders: bool = False, shop_id: int | None = None) -> None:
        """Beat every ``pace_seconds`` on a thread (orders created too when ``create_orders``)."""
        if not pace_seconds > 0:
            raise SandboxError("pace_seconds must be positive")
        with self.sandbox.lock:
            if create_orders:
                shop_id = shop_id if shop_id is not None else min(self.sandbox.shops, default=None)
                if shop_id is None or shop_id not in self.sandbox.shops:
                    raise SandboxError("demo mode needs a shop: add one first", 409)
            self.pace_seconds, self.create_orders, self.demo_shop = pace_seconds, create_orders, shop_id
            if self.running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
            self._thread.name = "shopee-sandbox-carrier"
            self._thread.start()

    def stop(self) -> None:
        """Stop auto mode (and demo mode)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.create_orders = False

    def to_json(self) -> dict[str, Any]:
        """Auto and demo mode as the control endpoints show them."""
        return {
            "running": self.running,
            "pace_seconds": self.pace_seconds,
            "create_orders": self.create_orders and self.running,
            "shop_id": self.demo_shop,
        }

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.pace_seconds):
            try:
                self.beat()
            except Exception:  # one bad beat must not end the demo
                log.exception("sandbox carrier beat failed")

    def _demo_orders(self) -> None:
        for sn in self._unpaid:
            if self.sandbox.order(sn).order_status == "UNPAID":
                self.sandbox.move(sn, status="READY_TO_SHIP")  # the buyer paid
        self._unpaid = []
        waiting = [o for o in self.sandbox.list_orders(self.demo_shop) if o.order_status == "READY_TO_SHIP"]
        if self.demo_shop is not None and len(waiting) < self.settings.demo_max_waiting:
            self._unpaid.append(self.sandbox.create_order(self.demo_shop).order_sn)

    # -- internals ------------------------------------------------------------------------

    def _pick(self, order: Order, key: tuple[str, str]) -> None:
        del self._waiting[key]
        self._step(key, Step("PICKED_UP", "The carrier picked up the parcel", "LOGISTICS_PICKUP_DONE"))
        self._plans[key] = self._plan(order)
        self._after_pickup(order)

    def _plan(self, order: Order) -> deque[Step]:
        settings = self.settings
        steps = [
            Step("PICKED_UP", f"The parcel arrived at {_HUBS[i % len(_HUBS)]}")
            for i in range(settings.transit_steps)
        ]
        shop = self.sandbox.shops.get(order.shop_id)
        if shop is not None and shop.cross_border:
            customs = [
                Step("PICKED_UP", "The parcel is held by customs for inspection"),
                Step("PICKED_UP", "The parcel was released by customs"),
            ]
            steps[min(1, len(steps)) : min(1, len(steps))] = customs
        steps.append(Step("DELIVERY_PENDING", "The parcel is out for delivery"))
        failures = 0
        if settings.max_failed_attempts and self._rng.random() < settings.failed_attempts:
            failures = self._rng.randint(1, settings.max_failed_attempts)
        for _ in range(failures):
            # Invented: a failed attempt tried again. Shopee's data definitions have no status
            # for it (LOGISTICS_DELIVERY_FAILED is "order cancelled due to 3PL delivery failed",
            # and get_tracking_info's sample pairs it with a FAILED_DELIVERED checkpoint of a
            # parcel on its way back), so the parcel stays LOGISTICS_PICKUP_DONE, pending
            # delivery, and only the words say the attempt failed.
            text = "Delivery attempt failed: the recipient was not available; the carrier will try again"
            steps.append(Step("DELIVERY_PENDING", text))
            steps.append(Step("DELIVERY_PENDING", "The parcel is out for delivery again"))
        steps.append(Step("DELIVERED", "The parcel was delivered", "LOGISTICS_DELIVERY_DONE"))
        return deque(steps)

    def _step(self, key: tuple[str, str], step: Step) -> None:
        self._note(key, step)
        if step.logistics_status is not None:
            change = {"package_number": key[1], "logistics_status": step.logistics_status}
            self.sandbox.move(key[0], packages=[change])
        order = self.sandbox.order(key[0])
        delivered = all(p.logistics_status == "LOGISTICS_DELIVERY_DONE" for p in order.packages)
        if (
            step.logistics_status == "LOGISTICS_DELIVERY_DONE"
            and delivered
            and order.order_status == "SHIPPED"
        ):
            self.sandbox.move(order.order_sn, status="TO_CONFIRM_RECEIVE")
            self._confirming[order.order_sn] = 0

    def _after_pickup(self, order: Order) -> None:
        if order.order_status == "PROCESSED" and all(p.logistics_status in PickedUp for p in order.packages):
            self.sandbox.move(order.order_sn, status="SHIPPED")

    def _note(self, key: tuple[str, str], step: Step) -> None:
        notes = self._checkpoints.setdefault(key, [])
        when = max([self.sandbox.clock.now(), *(n["update_time"] for n in notes[-1:])])
        notes.append(
            {"update_time": when, "description": step.description, "logistics_status": step.track_status}
        )
