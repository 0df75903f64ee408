"""The Shopee sandbox's seller side of logistics: arranging shipment, tracking numbers,
airway bills, the faults of logistics calls, and the idempotency keys it remembers.

``ship_order`` checks the package (``package_number`` only for split orders, as Shopee
asks), the mode and its choices against the shipping parameter, and that the package is
not arranged already (``logistics.package_already_shipped``). Then it counts a booking,
sets the package to ``LOGISTICS_REQUEST_CREATED`` (``LOGISTICS_PICKUP_DONE`` for a
non-integrated channel, as Shopee's guide says), the order to PROCESSED once all its
packages are arranged, and gives the package a tracking number that
``get_tracking_number`` shows — and a code-4 push announces — after ``tracking_delay``
seconds. Airway bills are READY ``document_delay`` seconds after they are created.

The shapes and error names follow Shopee's published reference
(tests/conformance/samples/shopee/v2.logistics.*.json): ``info_needed`` names the fields
Shopee's field table lists (``tracking_no`` for drop-off and non-integrated, ``tracking_number``
for pickup, ``sender_real_name``, ``slug``), an address may have no time slots
(``"time_slot_list": null``; then ``pickup_time_id`` is not needed), and ship_order's
refusals use names from its error list. What the reference does not describe is marked
"Invented:" where it is done.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from handlers.sandbox_common import SandboxClock, SandboxError
from handlers.shopee.sandbox.api import ShopeeApiError
from handlers.shopee.sandbox.carrier import Carrier
from handlers.shopee.sandbox.handover import ADDRESSES, BRANCHES, SLUGS, UNSUPPORTED, check_choice, slots_at
from handlers.shopee.sandbox.push import PushFaults
from handlers.shopee.sandbox.state import Order, Package, ShopeeWorld

MODES = ("pickup", "dropoff", "non_integrated")
DOCUMENT_TYPES = (
    "NORMAL_AIR_WAYBILL",
    "THERMAL_AIR_WAYBILL",
    "NORMAL_JOB_AIR_WAYBILL",
    "THERMAL_JOB_AIR_WAYBILL",
    "THERMAL_UNPACKAGED_LABEL",
)
FAULTS = ("500", "429", "hang")  # before acting
LOSSES = ("500", "drop", "hang")  # after acting: the answer is lost
NEEDED = {
    "pickup": ["address_id", "pickup_time_id"],
    "dropoff": ["branch_id"],
    "non_integrated": ["tracking_no"],
}
# What info_needed may list per mode (get_shipping_parameter's field table).
NEEDABLE = {
    "pickup": ("address_id", "pickup_time_id", "tracking_number"),
    "dropoff": ("branch_id", "sender_real_name", "tracking_no", "slug"),
    "non_integrated": ("tracking_no",),
}
ALREADY = (
    "logistics.package_already_shipped",
    "This package has already been arranged shipment and you can't call this API again.",
)


@dataclass(frozen=True)
class LogisticsFaults:
    """Shares of logistics calls that fail before acting (``rate``, as ``kinds``: 500, 429,
    hang) and that act but lose their answer (``lose_rate``, as ``lose_kinds``: 500, drop,
    hang); a hang lasts ``hang_seconds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ("500",)
    hang_seconds: float = 2.0
    lose_rate: float = 0.0
    lose_kinds: tuple[str, ...] = ("500",)

    def __post_init__(self) -> None:
        if not (0.0 <= self.rate <= 1.0 and 0.0 <= self.lose_rate <= 1.0):
            raise SandboxError("rates must be between 0 and 1")
        if not self.kinds or any(kind not in FAULTS for kind in self.kinds):
            raise SandboxError(f"kinds must be some of {', '.join(FAULTS)}")
        if not self.lose_kinds or any(kind not in LOSSES for kind in self.lose_kinds):
            raise SandboxError(f"lose_kinds must be some of {', '.join(LOSSES)}")
        if self.hang_seconds < 0:
            raise SandboxError("hang_seconds cannot be negative")


@dataclass
class LogisticsSettings:
    """The modes packages allow, the fields ``info_needed`` lists per mode (``needs``: the
    defaults of :data:`NEEDED` where a mode is not named), whether pickup addresses offer
    time slots, the airway bill types (the first is suggested), the delays of tracking
    numbers and airway bills (sandbox seconds), whether airway bills fail, and how many
    idempotency keys are remembered."""

    modes: tuple[str, ...] = ("pickup", "dropoff")
    needs: dict[str, list[str]] = field(default_factory=dict)
    pickup_slots: bool = True
    document_types: tuple[str, ...] = ("THERMAL_AIR_WAYBILL", "NORMAL_AIR_WAYBILL")
    tracking_delay: int = 0
    document_delay: int = 2
    fail_documents: bool = False
    memory: int = 1000

    def needed(self, mode: str) -> list[str]:
        """What ``info_needed`` lists for ``mode``."""
        return list(self.needs.get(mode, NEEDED[mode]))

    def check(self) -> None:
        """Refuse impossible settings."""
        if not self.modes or any(mode not in MODES for mode in self.modes):
            raise SandboxError(f"modes must be some of {', '.join(MODES)}")
        for mode, names in self.needs.items():
            if mode not in MODES or any(name not in NEEDABLE[mode] for name in names):
                raise SandboxError(f"needs: {mode} may list some of {', '.join(NEEDABLE.get(mode, ()))}")
        if not self.document_types or any(kind not in DOCUMENT_TYPES for kind in self.document_types):
            raise SandboxError(f"document_types must be some of {', '.join(DOCUMENT_TYPES)}")
        if min(self.tracking_delay, self.document_delay) < 0 or self.memory < 1:
            raise SandboxError("delays cannot be negative and memory must be at least 1")


@dataclass
class Arrangement:
    """A package's arranged shipment and its tracking number (shown from ``tracking_at``)."""

    mode: str
    at: int
    tracking_number: str
    tracking_at: int
    released: bool = False


@dataclass(frozen=True)
class Remembered:
    """The first answer given to an idempotency key, and the request it answered."""

    digest: str
    status: int
    body: bytes
    media_type: str


class SandboxLogistics:
    """A sandbox's logistics: arrangements, bookings, airway bills, faults, and its carrier."""

    def __init__(self, sandbox: ShopeeWorld, seed: int = 0) -> None:
        self.sandbox = sandbox
        self.settings = LogisticsSettings()
        self.faults = LogisticsFaults()
        self.carrier = Carrier(sandbox, seed)
        self.carrier.hooks.append(self.release_due)
        self._ids = random.Random(f"{seed}:tracking")
        self._rng = random.Random(f"{seed}:logistics")
        self._scripted: deque[str] = deque()
        self._losses: deque[str] = deque()
        self._bookings: Counter[tuple[str, str]] = Counter()
        self._arranged: dict[tuple[str, str], Arrangement] = {}
        self._documents: dict[tuple[str, str, str], tuple[int, bool]] = {}
        self._memory: OrderedDict[tuple[int, str, str], Remembered] = OrderedDict()

    def configure(self, **changes: Any) -> LogisticsSettings:
        """Change settings (these or the carrier's, by name); the settings, checked."""
        mine = {f.name for f in fields(LogisticsSettings)}
        carriers = {f.name for f in fields(type(self.carrier.settings))}
        unknown = set(changes) - mine - carriers
        if unknown:
            raise SandboxError(f"unknown settings: {', '.join(sorted(unknown))}")
        with self.sandbox.lock:
            for name, value in changes.items():
                target = self.settings if name in mine else self.carrier.settings
                tupled = name in ("modes", "document_types")
                setattr(target, name, tuple(value) if tupled else value)
            self.settings.check()
            self.carrier.settings.check()
            return self.settings

    # -- bookings -------------------------------------------------------------------------

    def bookings(self, order_sn: str, package_number: str | None = None) -> int:
        """How many times ``ship_order`` arranged the package (or any of the order's)."""
        with self.sandbox.lock:
            return sum(
                n for (sn, pn), n in self._bookings.items() if sn == order_sn and package_number in (None, pn)
            )

    def booking_counts(self) -> dict[str, int]:
        """Every package's bookings, keyed ``<order_sn>/<package_number>``."""
        with self.sandbox.lock:
            return {f"{sn}/{pn}": n for (sn, pn), n in sorted(self._bookings.items())}

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, kinds: Iterable[str]) -> None:
        """Make the next logistics calls fail before acting (500, 429 or hang), in this order."""
        self._script(self._scripted, kinds, FAULTS)

    def lose_next(self, kinds: Iterable[str]) -> None:
        """Make the next logistics calls act, then lose their answers (500, drop or hang)."""
        self._script(self._losses, kinds, LOSSES)

    def next_fault(self) -> str | None:
        """The fault this call suffers before acting, if any."""
        return self._draw(self._scripted, self.faults.rate, self.faults.kinds)

    def next_loss(self) -> str | None:
        """How this call's answer is lost after acting, if it is."""
        return self._draw(self._losses, self.faults.lose_rate, self.faults.lose_kinds)

    # -- idempotency keys -----------------------------------------------------------------

    def recall(self, shop_id: int, path: str, key: str, body: bytes) -> Remembered | None:
        """The first answer given to this key, or None; another request under it is refused."""
        with self.sandbox.lock:
            found = self._memory.get((shop_id, path, key))
        if found is not None and found.digest != hashlib.sha256(body).hexdigest():
            raise _param("the idempotency key was used for another request")
        return found

    def remember(
        self, shop_id: int, path: str, key: str, body: bytes, answer: tuple[int, bytes, str]
    ) -> None:
        """Keep the first answer (status, body, media type) to ``key``; the oldest keys are
        forgotten beyond ``memory``."""
        with self.sandbox.lock:
            digest = hashlib.sha256(body).hexdigest()
            self._memory.setdefault((shop_id, path, key), Remembered(digest, *answer))
            while len(self._memory) > self.settings.memory:
                self._memory.popitem(last=False)

    # -- the calls ------------------------------------------------------------------------

    def shipping_parameter(self, order: Order, package: Package) -> dict[str, Any]:
        """``get_shipping_parameter``'s response for the package."""
        settings = self.settings
        modes = settings.modes
        response: dict[str, Any] = {"info_needed": {mode: settings.needed(mode) for mode in modes}}
        dropoff = settings.needed("dropoff") if "dropoff" in modes else []
        # As in Shopee's sample, "dropoff" is null when there is nothing to choose from.
        response["dropoff"] = None
        if "branch_id" in dropoff or "slug" in dropoff:
            branches = [_place(b) for b in BRANCHES] if "branch_id" in dropoff else []
            response["dropoff"] = {
                "branch_list": branches,
                "slug_list": list(SLUGS) if "slug" in dropoff else [],
            }
        if "pickup" in modes:
            slots: list[dict[str, Any]] | None = None  # a channel without time slots
            if settings.pickup_slots:
                slots = [] if self.arrangement(order, package) else slots_at(self.sandbox.clock.now())
            addresses = [{**_place(a), "time_slot_list": slots} for a in ADDRESSES]
            response["pickup"] = {"address_list": addresses}
        return response

    def arrangement(self, order: Order, package: Package) -> Arrangement | None:
        """The package's arrangement, if it has one."""
        with self.sandbox.lock:
            return self._arranged.get((order.order_sn, package.package_number))

    def ship(self, order: Order, package: Package, mode: str, choice: Mapping[str, Any]) -> None:
        """``ship_order``: arrange the package's shipment (raises Shopee's errors)."""
        with self.sandbox.lock:
            key = (order.order_sn, package.package_number)
            if key in self._arranged:
                raise ShopeeApiError(*ALREADY)
            if order.order_status in ("UNPAID", "PENDING"):
                raise ShopeeApiError(
                    "logistics.ship_order_not_ready_to_ship", "The order is not ready to ship."
                )
            if order.order_status != "READY_TO_SHIP":
                message = "Operation is not allow with current order status."
                raise ShopeeApiError("logistics.error_order_state", message)
            if mode not in self.settings.modes:
                raise ShopeeApiError(f"logistics.ship_order_unsupport_{mode}", UNSUPPORTED[mode])
            where = check_choice(self.settings, self.sandbox.clock.now(), mode, choice)
            self._bookings[key] += 1
            now = self.sandbox.clock.now()
            given = str(choice.get("tracking_number") or "")
            # Invented: the numbers the sandbox's carrier makes up (SPXID and 12 digits).
            number = given if mode == "non_integrated" or given else f"SPXID{self._digits(12)}"
            delay = 0 if mode == "non_integrated" else self.settings.tracking_delay
            self._arranged[key] = Arrangement(mode, now, number, now + delay)
            status = "LOGISTICS_PICKUP_DONE" if mode == "non_integrated" else "LOGISTICS_REQUEST_CREATED"
            done = all((order.order_sn, p.package_number) in self._arranged for p in order.packages)
            change = {"package_number": package.package_number, "logistics_status": status}
            self.sandbox.move(order.order_sn, status="PROCESSED" if done else None, packages=[change])
            self.carrier.arranged(order, package, mode, where)
            self.release_due()

    def release_due(self) -> None:
        """Give packages the tracking numbers now due (each is pushed, code 4)."""
        with self.sandbox.lock:
            now = self.sandbox.clock.now()
            for (order_sn, package_number), arranged in self._arranged.items():
                if not arranged.released and arranged.tracking_at <= now:
                    arranged.released = True
                    change = {"package_number": package_number, "tracking_no": arranged.tracking_number}
                    self.sandbox.move(order_sn, packages=[change])

    def tracking_number(self, order: Order, package: Package) -> str:
        """``get_tracking_number``: the number, or "" while there is none (not arranged yet, or
        arranged and waiting for the carrier's number)."""
        self.release_due()
        arranged = self.arrangement(order, package)
        return arranged.tracking_number if arranged is not None and arranged.released else ""

    def create_document(self, order: Order, package: Package, kind: str, tracking: object) -> tuple[str, str]:
        """One order of ``create_shipping_document``: ``(fail_error, fail_message)``, empty on
        success (the names are create_shipping_document's error list)."""
        with self.sandbox.lock:
            arranged = self.arrangement(order, package)
            if arranged is None or package.logistics_status != "LOGISTICS_REQUEST_CREATED":
                return "logistics.order_status_error", "Order status does not support awb printing."
            if kind not in self.settings.document_types:
                message = (
                    "The shipping_document_type is not invalid. Please check the shipping_document_type."
                )
                return "logistics.shipping_document_type_invalid", message
            if not arranged.released:
                return "logistics.package_can_not_print", "The package can not print now."
            if tracking not in (None, "", arranged.tracking_number):
                message = "The tracking number is invalid. Please check the tracking number."
                return "logistics.tracking_number_invalid", message
            ready_at = self.sandbox.clock.now() + self.settings.document_delay
            self._documents[(order.order_sn, package.package_number, kind)] = (
                ready_at,
                self.settings.fail_documents,
            )
            return "", ""

    def document_status(self, order: Order, package: Package, kind: str) -> str | None:
        """READY, PROCESSING or FAILED; None when no airway bill was asked for."""
        with self.sandbox.lock:
            found = self._documents.get((order.order_sn, package.package_number, kind))
        if found is None:
            return None
        ready_at, failed = found
        if ready_at > self.sandbox.clock.now():
            return "PROCESSING"
        return "FAILED" if failed else "READY"

    # -- internals ------------------------------------------------------------------------

    def _script(self, queue: deque[str], kinds: Iterable[str], allowed: tuple[str, ...]) -> None:
        kinds = list(kinds)
        if any(kind not in allowed for kind in kinds):
            raise SandboxError(f"kinds must be some of {', '.join(allowed)}")
        with self.sandbox.lock:
            queue.extend(kinds)

    def _draw(self, queue: deque[str], rate: float, kinds: tuple[str, ...]) -> str | None:
        with self.sandbox.lock:
            if queue:
                return queue.popleft()
            if rate and self._rng.random() < rate:
                return self._rng.choice(kinds)
            return None

    def _digits(self, n: int) -> str:
        return "".join(self._ids.choices("0123456789", k=n))


def _param(detail: str) -> ShopeeApiError:
    return ShopeeApiError("error_param", f"Wrong parameters, detail: {detail}.")


def _place(place: Mapping[str, Any]) -> dict[str, Any]:
    common = {"region": "SG", "state": "", "city": "Singapore", "district": "", "town": ""}
    return {**{k: v for k, v in place.items() if k != "address_flag"}, **common, **_flags(place)}


def _flags(place: Mapping[str, Any]) -> dict[str, Any]:
    return {"address_flag": list(place["address_flag"])} if "address_flag" in place else {}


class ShopeeSandbox(ShopeeWorld):
    """The world and its logistics desk, composed above both (the world never imports a desk)."""

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
        super().__init__(partner_id, partner_key, push_url=push_url, seed=seed, clock=clock, faults=faults)
        self.logistics = SandboxLogistics(self, seed)

    def start_demo(self, pace_seconds: float = 4.0, shop_id: int | None = None) -> None:
        """Demo mode: every ``pace_seconds`` a new order of the shop (UNPAID, paid on the next
        beat) and one step for every parcel on its way; arranging shipment is left to orderwatch."""
        self.logistics.carrier.start(pace_seconds, create_orders=True, shop_id=shop_id)

    def stop_demo(self) -> None:
        """Stop demo mode (and the carrier's auto mode)."""
        self.logistics.carrier.stop()
