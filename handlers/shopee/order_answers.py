"""What the Shopee order and shop calls answer, as frozen dataclasses, and the checks that
read them out of Shopee's JSON (a malformed answer is a :class:`MarketplaceError`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.errors import MarketplaceError

PLATFORM = "shopee"


@dataclass(frozen=True)
class OrderListPage:
    """One page of ``get_order_list``: order numbers with their statuses (None when Shopee
    left it out), and the cursor of the next page."""

    order_sns: list[str]
    more: bool
    next_cursor: str
    statuses: tuple[str | None, ...] = ()

    def status_of(self) -> dict[str, str | None]:
        """Each listed order's status."""
        statuses = self.statuses or (None,) * len(self.order_sns)
        return dict(zip(self.order_sns, statuses, strict=True))


@dataclass(frozen=True)
class PackageDetail:
    """A package of an order as ``get_order_detail`` shows it."""

    package_number: str
    logistics_status: str
    shipping_carrier: str | None


@dataclass(frozen=True)
class OrderDetail:
    """An order as ``get_order_detail`` shows it; ``raw`` is Shopee's object as received."""

    order_sn: str
    order_status: str
    update_time: int
    create_time: int
    ship_by_date: int | None
    packages: tuple[PackageDetail, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ShopRelation:
    """Instant Mart: a Mart shop lists its outlet shops; an outlet names its Mart shop."""

    shop_id: str
    is_mart_shop: bool
    is_outlet_shop: bool
    mart_shop_id: str | None
    outlet_shop_ids: tuple[str, ...]

    @property
    def main_shop_id(self) -> str | None:
        """The main shop in orderwatch's words: the Mart shop this outlet belongs to."""
        return self.mart_shop_id


@dataclass(frozen=True)
class TokenPair:
    """A new access token and the refresh token to use next time (the old one is spent)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expire_in: int


def _unexpected(name: str, what: str) -> MarketplaceError:
    return MarketplaceError(PLATFORM, f"{name}: unexpected answer: {what}")


def _member(holder: Mapping[str, Any], key: str, kind: type, name: str) -> Any:
    value = holder.get(key)
    if value is None and kind is list:
        return []
    if not isinstance(value, kind):
        raise _unexpected(name, f"{key} is not a {kind.__name__}")
    return value


def _text(holder: object, key: str, name: str) -> str:
    value = holder.get(key) if isinstance(holder, Mapping) else None
    if not isinstance(value, str) or not value:
        raise _unexpected(name, f"{key} is missing or not a string")
    return value


def _time(holder: Mapping[str, Any], key: str) -> int:
    value = holder.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _unexpected("get_order_detail", f"{key} is not an integer")
    return value


def _status_or_none(entry: object) -> str | None:
    status = entry.get("order_status") if isinstance(entry, Mapping) else None
    return status if isinstance(status, str) and status else None


def _shop_id_or_none(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    return str(value) if int(value) > 0 else None


def _order_detail(raw: object) -> OrderDetail:
    if not isinstance(raw, dict):
        raise _unexpected("get_order_detail", "an order is not an object")
    ship_by = raw.get("ship_by_date")
    if not isinstance(ship_by, int) or isinstance(ship_by, bool) or ship_by <= 0:
        ship_by = None  # 0 (or nothing) until the order is paid and has a deadline
    packages = []
    for package in _member(raw, "package_list", list, "get_order_detail"):
        carrier = package.get("shipping_carrier") if isinstance(package, dict) else None
        packages.append(
            PackageDetail(
                package_number=_text(package, "package_number", "get_order_detail"),
                logistics_status=_text(package, "logistics_status", "get_order_detail"),
                shipping_carrier=carrier if isinstance(carrier, str) and carrier else None,
            )
        )
    return OrderDetail(
        order_sn=_text(raw, "order_sn", "get_order_detail"),
        order_status=_text(raw, "order_status", "get_order_detail"),
        update_time=_time(raw, "update_time"),
        create_time=_time(raw, "create_time"),
        ship_by_date=ship_by,
        packages=tuple(packages),
        raw=raw,
    )
