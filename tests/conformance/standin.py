"""A Shopee stand-in that answers only Shopee's published samples, over loopback HTTP.

Where the sandbox (handlers/shopee/sandbox*.py) is our own model of Shopee, this knows nothing but the
corpus (tests/conformance/samples/shopee): each API path is answered with its page's published success
sample, or a published error example, or an error of the page's error list with its published
description as the message, where the flow calls for one. Samples are adapted in their ids and times
(order_sn, package_number, shop_id, partner_id, tokens, tracking number, message ids, times) and in the
values that follow the world's orders (an order's status, the orders a list holds), never in shape:
every member of the sample stays, with its type, and no member is added.

Requests are checked as Shopee's guide "API calls" documents: ``partner_id``, ``timestamp`` and ``sign``
in the query of every call, plus ``access_token`` and ``shop_id`` for a Shop API, ``sign`` being the hex
HMAC-SHA256 under the partner key of partner_id + path + timestamp (+ access_token + shop_id).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conformance import corpus, fields

# The published download_shipping_document sample is prose ("If Success, this api will return a waybill
# file."): these bytes are made up, a small valid one-page PDF, since no file is published.
WAYBILL = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 420] >>\nendobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n0000000115 00000 n \n"
    b"trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n186\n%%EOF\n"
)
# Invented: Shopee's reference gives no HTTP status for an error answer; the stand-in answers 400.
ERROR_STATUS = 400
TIMESTAMP_WINDOW = 5 * 60  # Invented: the guide asks for a current timestamp but states no window here


def shopee_sign(
    key: str, partner: int | str, path: str, timestamp: int, token: str = "", shop: int | str = ""
) -> str:
    """``sign`` as Shopee's guide gives it (a Public API signs partner_id, path and timestamp only)."""
    base = f"{partner}{path}{timestamp}{token}{shop}"
    return hmac.new(key.encode(), base.encode(), hashlib.sha256).hexdigest()


@dataclass
class Order:
    """An order of the stand-in's world: its ids and what has been done to it."""

    order_sn: str
    package_number: str
    status: str = "READY_TO_SHIP"
    time: int = field(default_factory=lambda: int(time.time()))
    tracking_number: str = ""
    documents: bool = False  # create_shipping_document was called


@dataclass
class StandIn:
    """The world the samples are adapted to, and what was asked of it."""

    partner_id: int
    partner_key: str
    shop_id: int
    access_token: str
    orders: dict[str, Order] = field(default_factory=dict)
    lost: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (message id, push envelope)
    calls: list[str] = field(default_factory=list)  # API names, in order
    refused: list[str] = field(default_factory=list)  # why requests were refused
    misshapen: list[str] = field(default_factory=list)  # answers that left their page's table (a bug here)
    on_confirm: Callable[[int], None] | None = None  # called before confirm_consumed answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_order(self, order_sn: str, package_number: str, status: str = "READY_TO_SHIP") -> Order:
        with self.lock:
            order = self.orders[order_sn] = Order(order_sn, package_number, status)
            return order

    def lose(self, envelope: dict[str, Any]) -> int:
        """Keep a push as lost; its message id."""
        with self.lock:
            message_id = (self.lost[-1][0] if self.lost else 176609) + 1
            self.lost.append((message_id, envelope))
            return message_id


def sample(name: str) -> dict[str, Any]:
    """The page's published success sample (a deep copy)."""
    doc: dict[str, Any] = corpus.response_sample("shopee", name)
    return doc


def published_error(name: str, error: str) -> dict[str, Any]:
    """An error of the page's error list, with its published description as the message; a common error
    the page leaves out (the lost-push pages list no error_sign) as the other pages publish it."""
    pages = [corpus.shopee(name), *corpus.entries("shopee")]
    for entry in (e for page in pages for e in page["error_list"]):
        if entry["name"].strip() == error:
            return {"error": error, "message": entry["description"], "request_id": _request_id()}
    raise KeyError(f"no page lists {error}")


def _request_id() -> str:
    return hashlib.md5(str(time.monotonic_ns()).encode()).hexdigest()  # noqa: S324 - an id, not a digest


class Refused(Exception):
    """A request refused with a published error."""

    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__(doc["error"])
        self.doc = doc


def _check_request(stand: StandIn, name: str, request: Request) -> None:
    entry = corpus.shopee(name)
    query = request.query_params
    for needed in ("partner_id", "timestamp", "sign"):
        if not query.get(needed):
            missing = {"message": f"There is no {needed} in query."}
            raise Refused(published_error(name, "error_param") | missing)
    if query["partner_id"] != str(stand.partner_id):
        raise Refused(published_error(name, "error_param") | {"message": "Invalid partner_id."})
    timestamp = int(query["timestamp"]) if query["timestamp"].isdigit() else 0
    if abs(time.time() - timestamp) > TIMESTAMP_WINDOW:
        raise Refused(published_error(name, "error_param") | {"message": "Invalid timestamp."})
    token, shop = "", ""
    if entry["api_type"] == "Shop":
        token, shop = query.get("access_token", ""), query.get("shop_id", "")
    wanted = shopee_sign(stand.partner_key, stand.partner_id, request.url.path, timestamp, token, shop)
    if not hmac.compare_digest(wanted, query["sign"]):
        raise Refused(published_error(name, "error_sign"))
    if entry["api_type"] == "Shop" and (shop != str(stand.shop_id) or token != stand.access_token):
        raise Refused(published_error(name, "error_auth") | {"message": "Invalid access_token."})


Answer = Callable[[StandIn, Request, dict[str, Any]], Any]


def _order_list(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    doc = sample("v2.order.get_order_list")
    entry = doc["response"]["order_list"][0]
    doc["response"]["order_list"] = [{**entry, "order_sn": sn} for sn in stand.orders]
    doc["response"].update(more=False, next_cursor="")
    return doc


def _order_detail(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    wanted = [sn for sn in request.query_params.get("order_sn_list", "").split(",") if sn]
    if not wanted or any(sn not in stand.orders for sn in wanted):
        return _error(corpus.error_examples("shopee", "v2.order.get_order_detail")[0])
    doc = sample("v2.order.get_order_detail")
    published = doc["response"]["order_list"][0]
    doc["response"]["order_list"] = [_detail(copy.deepcopy(published), stand.orders[sn]) for sn in wanted]
    return doc


def _detail(detail: dict[str, Any], order: Order) -> dict[str, Any]:
    # The sample is a COMPLETED order whose parcel was delivered; the world's order is where it is now.
    shift = order.time - detail["create_time"]
    for name in ("create_time", "update_time", "pay_time", "ship_by_date", "pickup_done_time"):
        detail[name] = detail[name] + shift
    detail.update(order_sn=order.order_sn, order_status=order.status, pickup_done_time=0)
    package = detail["package_list"][0]
    shipped = "LOGISTICS_REQUEST_CREATED" if order.tracking_number else "LOGISTICS_READY"
    package.update(package_number=order.package_number, logistics_status=shipped)
    return detail


def _shop_info(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return sample("v2.shop.get_shop_info")


def _refresh(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    doc = sample("v2.public.refresh_access_token")
    doc.update(partner_id=stand.partner_id, shop_id=stand.shop_id, access_token=stand.access_token)
    return doc


def _lost(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    doc = sample("v2.push.get_lost_push_message")
    message = doc["response"]["push_message_list"][0]
    with stand.lock:
        lost = list(stand.lost)
    messages = []
    for _, push in lost:
        # The message's data is the whole push envelope, as a string (the sample's data).
        shown = {**message, "shop_id": push["shop_id"], "code": push["code"], "timestamp": push["timestamp"]}
        messages.append({**shown, "data": json.dumps(push, separators=(",", ":"))})
    doc["response"].update(push_message_list=messages, has_next_page=False)
    doc["response"]["last_message_id"] = lost[-1][0] if lost else 0  # Invented: its value with nothing lost
    return doc


def _confirm(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    last = body.get("last_message_id")
    if not isinstance(last, int):
        return _error(published_error("v2.push.confirm_consumed_lost_push_message", "error_param"))
    if stand.on_confirm is not None:
        stand.on_confirm(last)
    with stand.lock:
        stand.lost = [(i, push) for i, push in stand.lost if i > last]
    return sample("v2.push.confirm_consumed_lost_push_message")


def _target(stand: StandIn, args: dict[str, Any]) -> Order | None:
    return stand.orders.get(str(args.get("order_sn") or ""))


def _shipping_parameter(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    if _target(stand, dict(request.query_params)) is None:
        return _error(corpus.error_examples("shopee", "v2.logistics.get_shipping_parameter")[0])
    return sample("v2.logistics.get_shipping_parameter")


def _ship(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    order = _target(stand, body)
    if order is None:
        return _error(published_error("v2.logistics.ship_order", "error_not_found"))
    with stand.lock:
        order.tracking_number = order.tracking_number or f"SG{order.package_number[-10:]}IT"
        order.status = "PROCESSED"
    return sample("v2.logistics.ship_order")


def _tracking_number(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    order = _target(stand, dict(request.query_params))
    if order is None:
        return _error(corpus.error_examples("shopee", "v2.logistics.get_tracking_number")[0])
    doc = sample("v2.logistics.get_tracking_number")
    doc["response"]["tracking_number"] = order.tracking_number  # "" until the order is shipped
    return doc


def _each(
    name: str, stand: StandIn, body: dict[str, Any], when: Callable[[Order], dict[str, Any] | None]
) -> dict[str, Any]:
    """A shipping-document call: the sample's first result adapted to each order asked; ``when`` answers
    the published error instead (the whole answer, as one order is all orderwatch asks for)."""
    doc = sample(name)
    published = doc["response"]["result_list"][0]
    results = []
    for entry in body.get("order_list") or []:
        order = _target(stand, entry)
        if order is None:
            return _error(_unknown_order_in_batch(entry))
        refused = when(order)
        if refused is not None:
            return refused
        result = {**published, "order_sn": order.order_sn}
        if "package_number" in result:
            result["package_number"] = order.package_number
        results.append(result)
    doc["response"]["result_list"] = results
    if isinstance(doc.get("warning"), list):
        doc["warning"] = []  # the sample warns of its failed order; none failed here
    return doc


def _unknown_order_in_batch(entry: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = corpus.error_examples("shopee", "v2.logistics.get_shipping_document_result")[0]
    result = doc["response"]["result_list"][0]
    sn = str(entry.get("order_sn") or "")
    result.update(order_sn=sn, fail_message=f"The order_sn {sn} is not exist.")
    return doc


def _document_parameter(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return _each("v2.logistics.get_shipping_document_parameter", stand, body, lambda order: None)


def _create_document(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    def create(order: Order) -> None:
        with stand.lock:
            order.documents = True

    return _each("v2.logistics.create_shipping_document", stand, body, create)


def _document_result(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    def before_creation(order: Order) -> dict[str, Any] | None:
        if order.documents:
            return None
        # Published: the all-failed form of the error example, its entry's reason the sample's own
        # for a package whose document was not created (shipping_document_should_print_first).
        doc = corpus.error_examples("shopee", "v2.logistics.get_shipping_document_result")[0]
        failed = sample("v2.logistics.get_shipping_document_result")["response"]["result_list"][2]
        failed.update(order_sn=order.order_sn, package_number=order.package_number)
        doc["response"]["result_list"] = [failed]
        return _error(doc)

    return _each("v2.logistics.get_shipping_document_result", stand, body, before_creation)


def _download(stand: StandIn, request: Request, body: dict[str, Any]) -> Any:
    entries = body.get("order_list") or []
    orders = [_target(stand, entry) for entry in entries]
    if not orders or any(order is None or not order.documents for order in orders):
        doc = corpus.error_examples("shopee", "v2.logistics.download_shipping_document")[0]
        shown = ",".join(str(entry.get("order_sn")) for entry in entries)
        doc["message"] = doc["message"].replace("220725D58XURJS", shown)
        return _error(doc)
    return Response(WAYBILL, media_type="application/pdf")


def _tracking_info(stand: StandIn, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    order = _target(stand, dict(request.query_params))
    if order is None:
        return _error(corpus.error_examples("shopee", "v2.logistics.get_tracking_info")[0])
    doc = sample("v2.logistics.get_tracking_info")
    doc["response"]["order_sn"] = order.order_sn
    return doc


def _error(doc: dict[str, Any]) -> dict[str, Any]:
    return {"__error__": True, **doc, "request_id": doc.get("request_id") or _request_id()}


ANSWERS: dict[str, Answer] = {
    "v2.order.get_order_list": _order_list,
    "v2.order.get_order_detail": _order_detail,
    "v2.shop.get_shop_info": _shop_info,
    "v2.public.refresh_access_token": _refresh,
    "v2.push.get_lost_push_message": _lost,
    "v2.push.confirm_consumed_lost_push_message": _confirm,
    "v2.logistics.get_shipping_parameter": _shipping_parameter,
    "v2.logistics.ship_order": _ship,
    "v2.logistics.get_tracking_number": _tracking_number,
    "v2.logistics.get_shipping_document_parameter": _document_parameter,
    "v2.logistics.create_shipping_document": _create_document,
    "v2.logistics.get_shipping_document_result": _document_result,
    "v2.logistics.download_shipping_document": _download,
    "v2.logistics.get_tracking_info": _tracking_info,
}


def _endpoint(name: str, answer: Answer) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        stand: StandIn = request.app.state.standin
        with stand.lock:
            stand.calls.append(name)
        raw = await request.body()
        try:
            _check_request(stand, name, request)
            body = json.loads(raw) if raw else {}
            result = answer(stand, request, body if isinstance(body, dict) else {})
        except Refused as exc:
            with stand.lock:
                stand.refused.append(f"{name}: {exc.doc['error']} {exc.doc['message']}")
            return JSONResponse(exc.doc, status_code=ERROR_STATUS)
        if isinstance(result, Response):
            return result
        failed = bool(result.pop("__error__", False))
        entry = corpus.shopee(name)
        problems = fields.check_error(result, entry) if failed else fields.check_success(result, entry)
        with stand.lock:
            stand.misshapen += [f"{name}: {problem}" for problem in problems]
        return JSONResponse(result, status_code=ERROR_STATUS if failed else 200)

    return serve


def create_standin(stand: StandIn) -> Starlette:
    """The stand-in app: one route per published API path it answers."""
    routes = [
        Route(corpus.shopee(name)["path"], _endpoint(name, answer), methods=[corpus.shopee(name)["method"]])
        for name, answer in ANSWERS.items()
    ]
    app = Starlette(routes=routes)
    app.state.standin = stand
    return app
