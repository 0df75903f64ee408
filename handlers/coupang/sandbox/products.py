"""The Coupang sandbox's product endpoints: registration, reading, status history.

Mounted on the Coupang sandbox app (:func:`handlers.coupang.sandbox.create_sandbox` with
``extra_routes=product_routes()``, then :func:`attach`), so the API calls meet the same
faults, CEA signature and vendor checks as the order calls
(:func:`handlers.coupang.sandbox.api.endpoint`). A registered product answers "being
registered, retry later" for ``registering_seconds`` of the sandbox clock (seed 003),
then ``임시저장`` (``승인대기중`` when the body asked for approval, ``requested: true``).
The control endpoints move a product along Coupang's approval::

    POST /sandbox/products                        {"sellerProductName"?, "items"?: [names],
                                                   "statusName"?} -> the product
    POST /sandbox/products/{sellerProductId}/status  {"status": "승인반려" | "rejected",
                                                   "reason"?, "approved"?: [item positions]}

Approval gives ``vendorItemId``s (to every item for 승인완료, to ``approved`` or the first
item for 부분승인완료); a reason becomes the status history's ``comment``, where Coupang
keeps why a product was rejected. docs/platforms.md says what is made up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from handlers.coupang.products.calls import PRODUCTS_PATH
from handlers.coupang.products.rules import validate
from handlers.coupang.sandbox.api import CoupangApiError, _json_body, endpoint
from handlers.coupang.sandbox.control import control
from handlers.coupang.sandbox.returns import CoupangSandbox
from handlers.sandbox_common import SandboxError
from statemachines.listing import COUPANG_STATUS

# Invented: the wording and status of "being registered, retry later" (seed 003; no published answer).
NOT_READY_MESSAGE = (
    "상품 등록 중입니다. 잠시 후 다시 조회해 주세요. (the product is being registered, retry later)"
)
FIRST_PRODUCT_ID = 427011919  # the create page's example answer; Invented: the counting from it
STATE_NAMES = {target.state: name for name, target in COUPANG_STATUS.items() if name != "임시저장중"}


@dataclass
class SandboxItem:
    """An item (option) of a sandbox product."""

    seller_product_item_id: int
    item_name: str
    vendor_item_id: int | None = None


@dataclass
class SandboxProduct:
    """A product as the sandbox keeps it."""

    seller_product_id: int
    name: str
    status_name: str
    items: list[SandboxItem]
    registered_at: int
    history: list[dict[str, str]] = field(default_factory=list)  # newest first


class ProductSandbox:
    """The vendor's products; ``clock`` is the sandbox's (seconds)."""

    def __init__(self, vendor_id: str, clock: Callable[[], int], *, registering_seconds: int = 0) -> None:
        self.vendor_id = vendor_id
        self.clock = clock
        self.registering_seconds = registering_seconds
        self.products: dict[int, SandboxProduct] = {}
        self._next_id = FIRST_PRODUCT_ID
        self._next_item = 3_000_000_001
        self._lock = threading.Lock()

    def add(self, name: str, item_names: list[str], status_name: str = "임시저장") -> SandboxProduct:
        """A new product with these items, in ``status_name``."""
        if status_name not in COUPANG_STATUS:
            raise SandboxError(f"unknown statusName {status_name!r}")
        with self._lock:
            product_id, self._next_id = self._next_id, self._next_id + 1
            items = [SandboxItem(self._next_item + n, name) for n, name in enumerate(item_names)]
            self._next_item += len(items)
            product = SandboxProduct(product_id, name, "임시저장", items, self.clock())
            self.products[product_id] = product
        self._note(product, "임시저장", "판매자 임시저장")
        if status_name != "임시저장":
            self.move(product_id, status_name)
        return product

    def move(self, product_id: int, status_name: str, reason: str | None = None,
             approved: list[int] | None = None) -> SandboxProduct:  # fmt: skip
        """Put a product in ``status_name`` (a Coupang name or a listing state)."""
        status_name = STATE_NAMES.get(status_name, status_name)
        if status_name not in COUPANG_STATUS:
            raise SandboxError(f"unknown status {status_name!r}")
        with self._lock:
            product = self.products.get(product_id)
            if product is None:
                raise SandboxError(f"no product {product_id}", 404)
            if status_name in ("승인완료", "부분승인완료"):
                everything = list(range(len(product.items)))
                chosen = (
                    approved if approved is not None else everything if status_name == "승인완료" else [0]
                )
                if any(not 0 <= n < len(product.items) for n in chosen):
                    raise SandboxError("approved names an item the product does not have")
                for n in chosen:
                    item = product.items[n]
                    item.vendor_item_id = item.vendor_item_id or item.seller_product_item_id + 7_000_000_000
            product.status_name = status_name
        self._note(product, status_name, reason or status_name)
        return product

    def _note(self, product: SandboxProduct, status_name: str, comment: str) -> None:
        when = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # Coupang's document names the field statusName, its example status: give both.
        entry = {"statusName": status_name, "status": status_name, "comment": comment}
        product.history.insert(0, {**entry, "createdBy": "쿠팡 셀러 시스템", "createdAt": when})

    def answer(self, product: SandboxProduct) -> dict[str, Any]:
        """The product in the shape of Coupang's product query."""
        return {
            "sellerProductId": product.seller_product_id,
            "statusName": product.status_name,
            "sellerProductName": product.name,
            "vendorId": self.vendor_id,
            "items": [
                {
                    "sellerProductItemId": item.seller_product_item_id,
                    "itemName": item.item_name,
                    "vendorItemId": item.vendor_item_id,
                }
                for item in product.items
            ],
        }


def products_of(request: Request) -> ProductSandbox:
    """The product state of the app serving ``request``."""
    found: ProductSandbox = request.app.state.coupang_products
    return found


def _ready(request: Request) -> SandboxProduct:
    state = products_of(request)
    raw = str(request.path_params["sellerProductId"])
    product = state.products.get(int(raw)) if raw.isdigit() else None
    if product is None:
        raise CoupangApiError(400, f"업체상품 {raw} 을(를) 찾을 수 없습니다. (no such sellerProductId)")
    if state.clock() - product.registered_at < state.registering_seconds:
        raise CoupangApiError(400, NOT_READY_MESSAGE)
    return product


async def _create_product(request: Request, _sandbox: CoupangSandbox) -> dict[str, Any]:
    state = products_of(request)
    body = await _json_body(request)
    problems = validate(body)
    if problems:
        raise CoupangApiError(400, f"{problems[0].field}: {problems[0].message}")
    if str(body.get("vendorId") or "") != state.vendor_id:
        raise CoupangApiError(400, f"vendorId {body.get('vendorId')!r} is not this vendor")
    names = [str(item.get("itemName")) for item in body["items"]]
    wanted = "승인대기중" if body.get("requested") is True else "임시저장"
    product = state.add(str(body["sellerProductName"]), names, wanted)
    # As the published example answer nests it (seller-products.create.v1 in the conformance corpus).
    return {"data": {"code": "SUCCESS", "message": "", "data": product.seller_product_id}}


async def _get_product(request: Request, _sandbox: CoupangSandbox) -> dict[str, Any]:
    return {"data": products_of(request).answer(_ready(request))}


async def _product_history(request: Request, _sandbox: CoupangSandbox) -> dict[str, Any]:
    return {"data": list(_ready(request).history), "nextToken": ""}


async def _control_add(request: Request, _sandbox: CoupangSandbox) -> dict[str, Any]:
    state = products_of(request)
    body = await _json_body(request) if await request.body() else {}
    product = state.add(
        str(body.get("sellerProductName") or "샌드박스 상품 이름 열다섯 글자 이상"),
        [str(n) for n in body.get("items") or ["기본 옵션"]],
        str(body.get("statusName") or "임시저장"),
    )
    return state.answer(product)


async def _control_move(request: Request, _sandbox: CoupangSandbox) -> dict[str, Any]:
    state = products_of(request)
    raw = str(request.path_params["sellerProductId"])
    if not raw.isdigit():
        raise SandboxError("sellerProductId must be a number")
    body = await _json_body(request)
    approved = body.get("approved")
    if approved is not None and not (
        isinstance(approved, list) and all(isinstance(n, int) for n in approved)
    ):
        raise SandboxError("approved must be a list of item positions")
    product = state.move(int(raw), str(body.get("status") or ""), body.get("reason"), approved)
    return state.answer(product)


def product_routes() -> list[BaseRoute]:
    """The product API and control routes, for ``create_sandbox(extra_routes=...)``."""
    one = PRODUCTS_PATH + "/{sellerProductId}"
    return [
        Route(PRODUCTS_PATH, endpoint(_create_product, action=True, code="200"), methods=["POST"]),
        Route(one, endpoint(_get_product, code="SUCCESS"), methods=["GET"], name="get_product"),
        Route(one + "/histories", endpoint(_product_history, code="200"), methods=["GET"]),
        Route("/sandbox/products", control(_control_add, 201), methods=["POST"]),
        Route("/sandbox/products/{sellerProductId}/status", control(_control_move), methods=["POST"]),
    ]


def attach(app: Starlette, *, registering_seconds: int = 0) -> ProductSandbox:
    """Give a sandbox app made with :func:`product_routes` its product state."""
    sandbox: CoupangSandbox = app.state.sandbox
    state = ProductSandbox(sandbox.vendor_id, sandbox.clock.now, registering_seconds=registering_seconds)
    app.state.coupang_products = state
    return state
