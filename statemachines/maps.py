"""Marketplace statuses as the machine states they name (the contract's tables)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """The state a marketplace status names, and whether reaching it opens an alert."""

    state: str
    alert: bool = False


def _t(state: str, alert: bool = False) -> Target:
    return Target(state, alert)


SHOPEE_ORDER: dict[str, Target] = {
    "UNPAID": _t("pending"),
    "READY_TO_SHIP": _t("approved"),
    "PROCESSED": _t("ready_to_ship"),
    "RETRY_SHIP": _t("ready_to_ship", alert=True),
    "SHIPPED": _t("shipped"),
    "TO_CONFIRM_RECEIVE": _t("delivered"),
    "COMPLETED": _t("delivered"),
    # Not a Shopee status: a COMPLETED push with completed_scenario RRAOC, "Return/Refund
    # request raised after Order Complete" (handlers/shopee/push.py says where that is read).
    "COMPLETED_RRAOC": _t("returning", alert=True),
    "IN_CANCEL": _t("on_hold", alert=True),
    "CANCELLED": _t("cancelled"),
    "TO_RETURN": _t("returning", alert=True),
    "INVOICE_PENDING": _t("processing"),
}

# Shopee's logistics statuses as its data definitions give them (LogisticsStatus and
# PackageFulfillmentStatus in lazykern/ecommerce-api-docs
# data/processed/shopee/guides/getting-started/v2-0-data-definition.md). Five of them say the
# order was cancelled, each at another point, and none is an attempt to be tried again, so
# these differ from the contract's first table (which read them as retryable):
# - LOGISTICS_INVALID "order cancelled when order at LOGISTICS_READY": cancelled;
# - LOGISTICS_REQUEST_CANCELED "cancelled when order at LOGISTICS_REQUEST_CREATED": cancelled;
# - LOGISTICS_PICKUP_FAILED "order cancelled by 3PL due to failed pickup or picked up but not
#   able to proceed with delivery": cancelled, with an alert (the carrier, not the buyer or
#   the seller, ended it; a parcel already picked up cannot be cancelled by the machine and
#   stays where it is, its order following Shopee's CANCELLED);
# - LOGISTICS_DELIVERY_FAILED "order cancelled due to 3PL delivery failed": the parcel goes
#   back, returned_to_sender (final; an exception state, so it alerts);
# - LOGISTICS_LOST "order cancelled due to 3PL lost the order": lost (final, alerting).
# LOGISTICS_PICKUP_RETRY ("pending 3PL retry pickup") is the one retry, on hold.
SHOPEE_PACKAGE: dict[str, Target] = {
    "LOGISTICS_NOT_STARTED": _t("created"),
    "LOGISTICS_NOT_START": _t("created"),  # Shopee's data definition spells it so (docs/platforms.md)
    "LOGISTICS_PENDING_ARRANGE": _t("processing"),
    "LOGISTICS_READY": _t("processing"),
    "LOGISTICS_REQUEST_CREATED": _t("ready_for_pickup"),
    "LOGISTICS_PICKUP_DONE": _t("picked_up"),
    "LOGISTICS_PICKUP_RETRY": _t("on_hold"),
    "LOGISTICS_PICKUP_FAILED": _t("cancelled", alert=True),
    "LOGISTICS_DELIVERY_DONE": _t("delivered"),
    "LOGISTICS_DELIVERY_FAILED": _t("returned_to_sender"),
    "LOGISTICS_REQUEST_CANCELED": _t("cancelled"),
    "LOGISTICS_LOST": _t("lost"),
    "LOGISTICS_COD_REJECTED": _t("on_hold", alert=True),
    "LOGISTICS_INVALID": _t("cancelled"),
}

COUPANG_ORDER: dict[str, Target] = {
    "ACCEPT": _t("processing"),
    "INSTRUCT": _t("approved"),
    "DEPARTURE": _t("ready_to_ship"),
    "DELIVERING": _t("shipped"),
    "FINAL_DELIVERY": _t("delivered"),
    "NONE_TRACKING": _t("shipped"),
}

# The contract maps Coupang statuses to order states only. A Coupang order sheet row is
# a shipment box, i.e. a package, so the same status also names the box's state: the
# invoice upload (DEPARTURE) is the hand-over to the courier's pickup, DELIVERING means
# the parcel is travelling, NONE_TRACKING (seller's own delivery) likewise.
COUPANG_PACKAGE: dict[str, Target] = {
    "ACCEPT": _t("created"),
    "INSTRUCT": _t("processing"),
    "DEPARTURE": _t("ready_for_pickup"),
    "DELIVERING": _t("in_transit"),
    "FINAL_DELIVERY": _t("delivered"),
    "NONE_TRACKING": _t("in_transit"),
}

# Coupang's return and cancel requests (반품/취소 요청, read by handlers/coupang/returns.py),
# which the contract's table does not list: read as Shopee's IN_CANCEL, CANCELLED and
# TO_RETURN are. A stop-shipment request or a cancellation names one box: the box moves,
# and the order follows its least advanced live box as with the sheets; a partial
# cancellation holds the box for repacking. A return names the order (docs/decisions.md).
COUPANG_CLAIM_ORDER: dict[str, Target] = {
    "RELEASE_STOP_UNCHECKED": _t("on_hold", alert=True),
    "PARTIAL_CANCEL": _t("on_hold", alert=True),
    "CANCEL": _t("cancelled"),
    "STOP_SHIPMENT": _t("cancelled"),
    "RETURNS_UNCHECKED": _t("returning", alert=True),
    "VENDOR_WAREHOUSE_CONFIRM": _t("returning"),
    "REQUEST_COUPANG_CHECK": _t("returning"),
    "RETURNS_COMPLETED": _t("returned"),
}
COUPANG_CLAIM_PACKAGE: dict[str, Target] = {
    "RELEASE_STOP_UNCHECKED": _t("on_hold"),
    "PARTIAL_CANCEL": _t("on_hold"),
    "CANCEL": _t("cancelled"),
    "STOP_SHIPMENT": _t("cancelled"),
}

ORDER_MAPS: dict[str, dict[str, Target]] = {
    "shopee": SHOPEE_ORDER,
    "coupang": {**COUPANG_ORDER, **COUPANG_CLAIM_ORDER},
}
PACKAGE_MAPS: dict[str, dict[str, Target]] = {
    "shopee": SHOPEE_PACKAGE,
    "coupang": {**COUPANG_PACKAGE, **COUPANG_CLAIM_PACKAGE},
}
PLATFORMS = ("shopee", "coupang")


def order_target(platform: str, status: str) -> Target | None:
    """The order state a marketplace order status names; None when the status is unknown."""
    return ORDER_MAPS.get(platform, {}).get(status)


def package_target(platform: str, status: str) -> Target | None:
    """The package state a marketplace logistics status names; None when unknown."""
    return PACKAGE_MAPS.get(platform, {}).get(status)


# A status's place in its table: the tables list each marketplace's statuses in flow
# order, so two statuses naming one state (TO_CONFIRM_RECEIVE, then COMPLETED) reported in
# the same second are applied in the order the marketplace moves through them.
_ORDER_RANK = {p: {status: i for i, status in enumerate(table)} for p, table in ORDER_MAPS.items()}
_PACKAGE_RANK = {p: {status: i for i, status in enumerate(table)} for p, table in PACKAGE_MAPS.items()}


def status_rank(platform: str, status: str, order: bool = True) -> int:
    """Where ``status`` lies in its marketplace table (99 when unknown)."""
    ranks = (_ORDER_RANK if order else _PACKAGE_RANK).get(platform, {})
    return ranks.get(status, 99)
