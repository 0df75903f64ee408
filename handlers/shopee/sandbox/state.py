"""The Shopee sandbox's world: a clock, shops with their tokens, orders with their packages.

Every change to an order moves its ``update_time`` (never backwards) and hands the pushes
Shopee would send to the push engine: an order_status_push (code 3) when the order's
status changes, an order_trackingno_push (code 4) when a package gets a tracking number.
A change of a package's logistics status alone sends nothing, as with Shopee, whose
package push (code 30) orderwatch does not read; it shows in ``get_order_detail``.

Thread-safe: the HTTP handlers (on uvicorn's loop) and tests (on their own thread) share it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from handlers.sandbox_common import ApiFaults, FaultScript, SandboxClock, SandboxError
from handlers.shopee.sandbox.push import PushEngine, PushFaults

_OPEN = {"UNPAID", "PENDING", "READY_TO_SHIP", "PROCESSED", "RETRY_SHIP", "SHIPPED", "INVOICE_PENDING"}
_CLOSING = {"TO_CONFIRM_RECEIVE", "IN_CANCEL", "CANCELLED", "TO_RETURN", "COMPLETED"}
ORDER_STATUSES = frozenset(_OPEN | _CLOSING)
# Shopee's data definition spells the first one LOGISTICS_NOT_START; an SDK spells it
# LOGISTICS_NOT_STARTED (docs/platforms.md). Both are accepted; the sandbox starts with
# Shopee's own spelling.
_BEFORE = ("NOT_START", "NOT_STARTED", "PENDING_ARRANGE", "READY", "REQUEST_CREATED", "COD_REJECTED")
_AFTER = ("PICKUP_DONE", "PICKUP_RETRY", "PICKUP_FAILED", "DELIVERY_DONE", "DELIVERY_FAILED", "LOST")
_CANCELLED = ("REQUEST_CANCELED", "INVALID")
LOGISTICS_STATUSES = frozenset(f"LOGISTICS_{name}" for name in _BEFORE + _AFTER + _CANCELLED)
INITIAL_LOGISTICS_STATUS = "LOGISTICS_NOT_START"
TOKEN_LIFETIME = 4 * 3600  # access_token: 4 hours
RETIRED_TOKEN_GRACE = 5 * 60  # the old access_token still works 5 minutes after a refresh
ORDER_STATUS_PUSH, TRACKING_NUMBER_PUSH = 3, 4


@dataclass
class Shop:
    """An authorized shop, its current tokens, and its Mart shop when it is an outlet."""

    shop_id: int
    access_token: str
    refresh_token: str
    expires_at: int
    mart_shop_id: int | None = None
    shop_name: str = ""
    region: str = "SG"
    cross_border: bool = False
    retired_token: str | None = None
    retired_until: int = 0

    def to_json(self) -> dict[str, Any]:
        """The shop as the control endpoints show it (tokens included: it is a sandbox)."""
        return {
            "shop_id": self.shop_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expire_in": TOKEN_LIFETIME,
            "mart_shop_id": self.mart_shop_id,
            "cross_border": self.cross_border,
        }


@dataclass
class Package:
    """A package (parcel) of an order."""

    package_number: str
    logistics_status: str = INITIAL_LOGISTICS_STATUS
    shipping_carrier: str = "Standard Delivery"
    tracking_no: str | None = None
    forder_id: str = ""


DEFAULT_ADDRESS = {
    "name": "Tan Ah Kow",
    "phone": "6591234567",
    "town": "",
    "district": "",
    "city": "Singapore",
    "state": "",
    "region": "SG",
    "zipcode": "238859",
    "full_address": "1 Orchard Road, #01-01, Singapore 238859",
}


@dataclass
class Order:
    """An order of a shop."""

    order_sn: str
    shop_id: int
    order_status: str
    create_time: int
    update_time: int
    days_to_ship: int = 2
    ship_by_date: int = 0
    packages: list[Package] = field(default_factory=list)
    # As get_order_detail's recipient_address shows it; tests blank fields to make it bad.
    recipient_address: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ADDRESS))

    def to_json(self) -> dict[str, Any]:
        """The order as the control endpoints show it, tracking numbers included."""
        return {
            "order_sn": self.order_sn,
            "shop_id": self.shop_id,
            "order_status": self.order_status,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "ship_by_date": self.ship_by_date,
            "days_to_ship": self.days_to_ship,
            "packages": [vars(p).copy() for p in self.packages],
        }


class ShopeeWorld:
    """Shops, orders and tokens of a pretend Shopee, and the pushes its changes send: the world
    the desks build on (:class:`handlers.shopee.sandbox.shipping.ShopeeSandbox` adds logistics)."""

    def __init__(
        self,
        partner_id: int,
        partner_key: str,
        *,
        push_url: str | None = None,
        seed: int = 0,
        clock: SandboxClock | None = None,
        faults: PushFaults | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.partner_key = partner_key
        self.clock = clock or SandboxClock()
        self.shops: dict[int, Shop] = {}
        self.orders: dict[str, Order] = {}
        self.api_faults = ApiFaults()
        self.pushes = PushEngine(partner_key, push_url, seed=seed, faults=faults)
        self._lock = threading.RLock()
        self._ids = random.Random(f"{seed}:ids")
        self._api_script = FaultScript(self._lock, random.Random(f"{seed}:api"))

    @property
    def lock(self) -> threading.RLock:
        """The lock every change of the sandbox's world holds (re-entrant)."""
        return self._lock

    # -- shops and tokens -----------------------------------------------------------------

    def add_shop(
        self,
        shop_id: int,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        mart_shop_id: int | None = None,
        shop_name: str = "",
        cross_border: bool = False,
    ) -> Shop:
        """Authorize a shop (an outlet of ``mart_shop_id`` when given; a cross-border shop's
        parcels pass customs); the shop."""
        if shop_id <= 0 or (mart_shop_id is not None and mart_shop_id <= 0):
            raise SandboxError("shop ids are positive integers")
        with self._lock:
            shop = Shop(
                shop_id=shop_id,
                access_token=access_token or self._hex(),
                refresh_token=refresh_token or self._hex(),
                expires_at=self.clock.now() + TOKEN_LIFETIME,
                mart_shop_id=mart_shop_id,
                shop_name=shop_name or f"sandbox shop {shop_id}",
                cross_border=cross_border,
            )
            self.shops[shop_id] = shop
            return shop

    def outlets(self, shop_id: int) -> list[int]:
        """The outlet shops whose Mart shop is ``shop_id``."""
        with self._lock:
            return sorted(s.shop_id for s in self.shops.values() if s.mart_shop_id == shop_id)

    def token_is_valid(self, shop: Shop, token: str) -> bool:
        """True for the shop's current access token, or the previous one just after a refresh."""
        now = self.clock.now()
        with self._lock:
            if token == shop.access_token:
                return now <= shop.expires_at
            return token == shop.retired_token and now <= shop.retired_until

    def refresh(self, shop: Shop, refresh_token: str) -> Shop | None:
        """Spend ``refresh_token`` for a new pair; None when it is not the shop's current one."""
        with self._lock:
            if refresh_token != shop.refresh_token:
                return None
            now = self.clock.now()
            shop.retired_token, shop.retired_until = shop.access_token, now + RETIRED_TOKEN_GRACE
            shop.access_token, shop.refresh_token = self._hex(), self._hex()
            shop.expires_at = now + TOKEN_LIFETIME
            return shop

    # -- orders ---------------------------------------------------------------------------

    def create_order(
        self,
        shop_id: int,
        *,
        order_sn: str | None = None,
        status: str = "UNPAID",
        packages: int = 1,
        days_to_ship: int = 2,
        shipping_carrier: str = "Standard Delivery",
    ) -> Order:
        """A new order of the shop, with ``packages`` packages; pushes its status."""
        _check(status, ORDER_STATUSES, "order status")
        with self._lock:
            if shop_id not in self.shops:
                raise SandboxError(f"no shop {shop_id}; add it first", 404)
            if order_sn is not None and order_sn in self.orders:
                raise SandboxError(f"order {order_sn} exists already", 409)
            now = self.clock.now()
            order = Order(order_sn or self._order_sn(now), shop_id, status, now, now, days_to_ship)
            for _ in range(packages):
                order.packages.append(self._package(shipping_carrier))
            if status != "UNPAID":
                order.ship_by_date = now + days_to_ship * 86400
            self.orders[order.order_sn] = order
            self._status_push(order)
            return order

    def move(
        self,
        order_sn: str,
        *,
        status: str | None = None,
        packages: Sequence[Mapping[str, Any]] = (),
        advance: int = 0,
    ) -> Order:
        """Change an order's status and its packages; each change is pushed as Shopee would.

        A package change names its package by ``package_number`` (created if unknown) or
        ``index`` (default 0), or asks for a ``new`` one; it may set ``logistics_status``,
        ``shipping_carrier`` and ``tracking_no`` (``true`` makes one up).
        """
        if status is not None:
            _check(status, ORDER_STATUSES, "order status")
        with self._lock:
            order = self.order(order_sn)
            if advance:
                self.clock.advance(advance)
            tracked = [self._apply(order, change) for change in packages]
            new_status = status is not None and status != order.order_status
            if not new_status and not packages:
                return order
            order.update_time = max(self.clock.now(), order.update_time)
            if new_status:
                assert status is not None
                order.order_status = status
                if not order.ship_by_date and status != "UNPAID":
                    order.ship_by_date = order.update_time + order.days_to_ship * 86400
                self._status_push(order)
            for package in tracked:
                if package is not None:
                    self._tracking_push(order, package)
            return order

    def order(self, order_sn: str) -> Order:
        """The order, or a 404 :class:`SandboxError`."""
        with self._lock:
            try:
                return self.orders[order_sn]
            except KeyError:
                raise SandboxError(f"no order {order_sn}", 404) from None

    def list_orders(self, shop_id: int | None = None) -> list[Order]:
        """Orders (of one shop), oldest first."""
        with self._lock:
            found = [o for o in self.orders.values() if shop_id is None or o.shop_id == shop_id]
        return sorted(found, key=lambda o: (o.create_time, o.order_sn))

    def orders_in_window(self, shop_id: int, field_name: str, start: int, end: int) -> list[Order]:
        """The shop's orders whose ``field_name`` time is in ``[start, end]``, newest first."""
        with self._lock:
            found = [
                o
                for o in self.orders.values()
                if o.shop_id == shop_id and start <= getattr(o, field_name) <= end
            ]
        return sorted(found, key=lambda o: (getattr(o, field_name), o.order_sn), reverse=True)

    # -- API faults -----------------------------------------------------------------------

    def fail_next(self, kinds: Iterable[str]) -> None:
        """Make the next API calls fail in this order (500, 429 or hang), then go on as before."""
        self._api_script.fail_next(kinds)

    def next_api_fault(self) -> str | None:
        """The fault this API call suffers, if any (scripted first, then by rate)."""
        return self._api_script.next_fault(self.api_faults)

    # -- internals ------------------------------------------------------------------------

    def _apply(self, order: Order, change: Mapping[str, Any]) -> Package | None:
        """Apply one package change; the package when it got a new tracking number."""
        number = change.get("package_number")
        package: Package | None
        if change.get("new"):
            package = self._package(str(change.get("shipping_carrier") or "Standard Delivery"))
            order.packages.append(package)
        elif number is not None:
            package = next((p for p in order.packages if p.package_number == number), None)
            if package is None:
                package = Package(str(number), forder_id=self._digits(19))
                order.packages.append(package)
        else:
            index = int(change.get("index", 0))
            if not 0 <= index < len(order.packages):
                raise SandboxError(f"order {order.order_sn} has no package {index}")
            package = order.packages[index]
        if change.get("logistics_status") is not None:
            package.logistics_status = _check(change["logistics_status"], LOGISTICS_STATUSES, "status")
        if change.get("shipping_carrier"):
            package.shipping_carrier = str(change["shipping_carrier"])
        tracking = change.get("tracking_no")
        if tracking is True:
            tracking = "SPXID" + self._digits(12)
        if isinstance(tracking, str) and tracking and tracking != package.tracking_no:
            package.tracking_no = tracking
            return package
        return None

    def _status_push(self, order: Order) -> None:
        # The members, in their order, of the push inside get_lost_push_message's published sample
        # (lazykern/ecommerce-api-docs data/raw/shopee/apis/push/v2.push.get_lost_push_message.json):
        # items [] and completed_scenario "" as the sample has them, the sandbox knowing no others.
        data = {
            "items": [],
            "ordersn": order.order_sn,
            "status": order.order_status,
            "completed_scenario": "",
            "update_time": order.update_time,
        }
        self._push(order.shop_id, ORDER_STATUS_PUSH, data)

    def _tracking_push(self, order: Order, package: Package) -> None:
        data = {
            "ordersn": order.order_sn,
            "forder_id": package.forder_id,
            "package_number": package.package_number,
            "tracking_no": package.tracking_no,
        }
        self._push(order.shop_id, TRACKING_NUMBER_PUSH, data)

    def _push(self, shop_id: int, code: int, data: Mapping[str, Any]) -> None:
        body = {"data": data, "shop_id": shop_id, "code": code, "timestamp": self.clock.now()}
        self.pushes.submit(orjson.dumps(body))

    def _package(self, carrier: str) -> Package:
        return Package("OFG" + self._digits(15), shipping_carrier=carrier, forder_id=self._digits(19))

    def _order_sn(self, now: int) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        while True:
            sn = time.strftime("%y%m%d", time.gmtime(now)) + "".join(self._ids.choices(alphabet, k=8))
            if sn not in self.orders:
                return sn

    def _digits(self, n: int) -> str:
        return "".join(self._ids.choices("0123456789", k=n))

    def _hex(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"


def _check(value: object, allowed: frozenset[str], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SandboxError(f"unknown {what}: {value!r}")
    return value
