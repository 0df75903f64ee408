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
Made-up parts are listed in docs/platforms.md.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from handlers.sandbox_faults import SandboxError
from handlers.shopee.sandbox_api import ShopeeApiError
from handlers.shopee.sandbox_carrier import Carrier
from handlers.shopee.sandbox_state import Order, Package

if TYPE_CHECKING:
    from handlers.shopee.sandbox_state import ShopeeSandbox

MODES = ("pickup", "dropoff", "non_integrated")
DOCUMENT_TYPES = (
    "NORMAL_AIR_WAYBILL",
    "THERMAL_AIR_WAYBILL",
    "NORMAL_JOB_AIR_WAYBILL",
    "THERMAL_JOB_AIR_WAYBILL",
)
FAULTS = ("500", "429", "hang")  # before acting
LOSSES = ("500", "drop", "hang")  # after acting: the answer is lost
NEEDED = {
    "pickup": ["address_id", "pickup_time_id"],
    "dropoff": ["branch_id"],
    "non_integrated": ["tracking_number"],
}
ALREADY = (
    "logistics.package_already_shipped",
    "This package has already been arranged shipment and you can't call this API again.",
)
ADDRESSES = (
    {"address_id": 4001, "address": "12 Kallang Avenue #04-01", "zipcode": "339511",
     "address_flag": ["default_address", "pickup_address", "return_address"]},
    {"address_id": 4002, "address": "3 Tuas South Street 5", "zipcode": "637331", "address_flag": []},
)  # fmt: skip
BRANCHES = (
    {"branch_id": 7001, "address": "SPX Drop-off Point, 1 Jurong West Central 2", "zipcode": "648886"},
    {"branch_id": 7002, "address": "SPX Drop-off Point, 23 Serangoon Central", "zipcode": "556083"},
)  # fmt: skip
SLOT_DAYS = 3


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
    """The modes packages allow, the delays of tracking numbers and airway bills (sandbox
    seconds), whether airway bills fail, and how many idempotency keys are remembered."""

    modes: tuple[str, ...] = ("pickup", "dropoff")
    tracking_delay: int = 0
    document_delay: int = 2
    fail_documents: bool = False
    memory: int = 1000

    def check(self) -> None:
        """Refuse impossible settings."""
        if not self.modes or any(mode not in MODES for mode in self.modes):
            raise SandboxError(f"modes must be some of {', '.join(MODES)}")
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

    def __init__(self, sandbox: ShopeeSandbox, seed: int = 0) -> None:
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
                setattr(target, name, tuple(value) if name == "modes" else value)
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
        modes = self.settings.modes
        response: dict[str, Any] = {"info_needed": {mode: list(NEEDED[mode]) for mode in modes}}
        if "dropoff" in modes:
            response["dropoff"] = {"branch_list": [_place(b) for b in BRANCHES], "slug_list": []}
        if "pickup" in modes:
            slots = [] if self.arrangement(order, package) else _slots(self.sandbox.clock.now())
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
                raise ShopeeApiError("logistics.error_status_limit", "logistic status not ready to ship")
            if order.order_status != "READY_TO_SHIP":
                raise ShopeeApiError("logistics.order_finalized", "Order is already in finalized status.")
            if mode not in self.settings.modes:
                raise _param(f"{mode} is not available for this order")
            where = self._check_choice(mode, choice)
            self._bookings[key] += 1
            now = self.sandbox.clock.now()
            number = (
                str(choice["tracking_number"]) if mode == "non_integrated" else f"SPXID{self._digits(12)}"
            )
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
        """One order of ``create_shipping_document``: ``(fail_error, fail_message)``, empty on success."""
        with self.sandbox.lock:
            arranged = self.arrangement(order, package)
            if arranged is None or package.logistics_status != "LOGISTICS_REQUEST_CREATED":
                return "logistics.error_status_limit", "Order status does not support awb printing"
            if not arranged.released or tracking not in (None, "", arranged.tracking_number):
                return "logistics.tracking_number_invalid", "The tracking number is invalid."
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

    def _check_choice(self, mode: str, choice: Mapping[str, Any]) -> str:
        """Check the mode's choices; where the parcel is handed over."""
        if mode == "pickup":
            address = next((a for a in ADDRESSES if a["address_id"] == choice.get("address_id")), None)
            if address is None:
                raise _param("address_id is invalid")
            now = self.sandbox.clock.now()
            valid = {s["pickup_time_id"] for s in _slots(now) + _slots(now - 86400)}
            if choice.get("pickup_time_id") not in valid:
                raise _param("pickup_time_id is invalid")
            return str(address["address"])
        if mode == "dropoff":
            branch = next((b for b in BRANCHES if b["branch_id"] == choice.get("branch_id")), None)
            if branch is None:
                raise _param("branch_id is invalid")
            return str(branch["address"])
        number = choice.get("tracking_number")
        if not isinstance(number, str) or not number.strip():
            raise _param("tracking_number is required for a non-integrated channel")
        return "The seller handed the parcel to their own carrier"

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


def _slots(now: int) -> list[dict[str, Any]]:
    """Pickup slots: 09:00 UTC on each of the next days; the id is the slot's time, as in
    Shopee's example (``"pickup_time_id": "1639472400"``)."""
    first = (now // 86400 + 1) * 86400 + 9 * 3600
    dates = [first + day * 86400 for day in range(SLOT_DAYS)]
    return [{"date": d, "time_text": "09:00-18:00", "pickup_time_id": str(d)} for d in dates]
