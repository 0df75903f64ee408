"""The sandbox's Shopee shipping-document (airway bill) endpoints, in Shopee's shapes.

``get_shipping_document_parameter``, ``create_shipping_document`` and
``get_shipping_document_result`` are batch calls: ``order_list`` in, one
``response.result_list`` entry per order out, a failed entry carrying ``fail_error`` and
``fail_message`` and listed in ``warning``; when every entry fails the answer's top-level
``error`` is ``common.batch_api_all_failed`` ("Failed, please check result_list for more
details.") with the result list still in it, as the error examples of
create_shipping_document and get_shipping_document_result show. A package with no
document task is ``logistics.shipping_document_should_print_first`` (get_shipping_document_result's
sample). ``download_shipping_document`` answers the file itself (a PDF) or a JSON error.
Shapes and names: tests/conformance/samples/shopee/v2.logistics.*_document*.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from handlers.shopee.sandbox.api import ShopeeApiError
from handlers.shopee.sandbox.logistics import Handler, _param, _target, logistics_endpoint
from handlers.shopee.sandbox.shipping import DOCUMENT_TYPES, ShopeeSandbox
from handlers.shopee.sandbox.state import Order, Package, Shop

MAX_DOCUMENTS = 50
ALL_FAILED = ("common.batch_api_all_failed", "Failed, please check result_list for more details.")
PRINT_FIRST = "logistics.shipping_document_should_print_first"
PRINT_FIRST_TEXT = "The package can not print now, please create shipping document first.Detail: {detail}"


def _documents(args: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = args.get("order_list")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_DOCUMENTS:
        raise _param(f"order_list must hold 1 to {MAX_DOCUMENTS} orders")
    if not all(isinstance(entry, dict) for entry in entries):
        raise _param("order_list must hold objects")
    return entries


def _kind(sandbox: ShopeeSandbox, entry: Mapping[str, Any], args: Mapping[str, Any]) -> str:
    """The document type named, else the one Shopee suggests ("Shopee will use this as
    default shipping document type": get_shipping_document_parameter's field table)."""
    kind = entry.get("shipping_document_type") or args.get("shipping_document_type")
    kind = kind or sandbox.logistics.settings.document_types[0]
    if kind not in DOCUMENT_TYPES:
        message = "The shipping_document_type is not invalid. Please check the shipping_document_type."
        raise ShopeeApiError("logistics.shipping_document_type_invalid", message)
    return str(kind)


Act = Callable[[Order, Package, str, Mapping[str, Any]], "dict[str, Any]"]


def _each(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop, act: Act) -> dict[str, Any]:
    """A batch call's answer: one result per order, failures included; all failed is the
    top-level ``common.batch_api_all_failed``."""
    results = []
    for entry in _documents(args):
        result: dict[str, Any] = {"order_sn": entry.get("order_sn")}
        if entry.get("package_number"):
            result["package_number"] = entry["package_number"]
        try:
            order, package = _target(entry, sandbox, shop, call="document")
            result["package_number"] = package.package_number
            result.update(act(order, package, _kind(sandbox, entry, args), entry))
        except ShopeeApiError as exc:
            result.update(fail_error=exc.error, fail_message=exc.message)
        results.append(result)
    failed = [r for r in results if r.get("fail_error")]
    answer: dict[str, Any] = {"response": {"result_list": results}}
    if failed and len(failed) == len(results):
        return {"error": ALL_FAILED[0], "message": ALL_FAILED[1], **answer}
    warning = [{k: r[k] for k in ("order_sn", "package_number") if k in r} for r in failed]
    return {**answer, "warning": warning or None}


def get_shipping_document_parameter(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop
) -> dict[str, Any]:
    """``POST /api/v2/logistics/get_shipping_document_parameter``: the types of each package."""
    kinds = list(sandbox.logistics.settings.document_types)

    def parameter(order: Order, package: Package, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        return {"suggest_shipping_document_type": kinds[0], "selectable_shipping_document_type": kinds}

    return _each(args, sandbox, shop, parameter)


def create_shipping_document(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> dict[str, Any]:
    """``POST /api/v2/logistics/create_shipping_document``: airway bill tasks."""

    def create(order: Order, package: Package, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        error, message = sandbox.logistics.create_document(order, package, kind, entry.get("tracking_number"))
        if error:
            raise ShopeeApiError(error, message)
        return {}

    return _each(args, sandbox, shop, create)


def get_shipping_document_result(
    args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop
) -> dict[str, Any]:
    """``POST /api/v2/logistics/get_shipping_document_result``: READY, PROCESSING or FAILED."""

    def result(order: Order, package: Package, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        status = sandbox.logistics.document_status(order, package, kind)
        if status is None:
            raise ShopeeApiError(PRINT_FIRST, PRINT_FIRST_TEXT.format(detail="order_sn"))
        return {"status": status}

    return _each(args, sandbox, shop, result)


def download_shipping_document(args: Mapping[str, Any], sandbox: ShopeeSandbox, shop: Shop) -> Response:
    """``POST /api/v2/logistics/download_shipping_document``: the airway bill, a PDF."""
    kind = _kind(sandbox, {}, args)
    lines = [f"Shopee sandbox airway bill ({kind})"]
    for entry in _documents(args):
        order, package = _target(entry, sandbox, shop, call="document")
        status = sandbox.logistics.document_status(order, package, kind)
        if status is None:
            detail = f"these orders: {order.order_sn} should print"
            raise ShopeeApiError(PRINT_FIRST, PRINT_FIRST_TEXT.format(detail=detail))
        if status == "PROCESSING":
            message = f"Processing, please download later. Detail: {order.order_sn}"
            raise ShopeeApiError("logistics.download_later", message)
        if status == "FAILED":
            message = f"Some package failed to print, please try again later. Detail: {order.order_sn}"
            raise ShopeeApiError("logistics.package_print_failed", message)
        arranged = sandbox.logistics.arrangement(order, package)
        number = arranged.tracking_number if arranged else ""
        lines += [f"Order {order.order_sn}", f"Package {package.package_number}", f"Tracking number {number}"]
    # Invented: the file's contents (Shopee's reference says only "The waybill file").
    return Response(airway_bill(lines), media_type="application/pdf")


def airway_bill(lines: list[str]) -> bytes:
    """A small valid one-page PDF (A6) showing ``lines``."""
    shown = " T* ".join(f"({_pdf_text(line)}) Tj" for line in lines)
    stream = f"BT /F1 11 Tf 14 TL 20 390 Td {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 420] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


def _pdf_text(line: str) -> str:
    text = line.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def document_routes() -> list[Route]:
    """The shipping document routes, served like the other logistics calls (here rather than
    in :func:`handlers.shopee.sandbox.logistics.logistics_routes`: this module builds on that one)."""
    calls: list[tuple[str, Handler]] = [
        ("get_shipping_document_parameter", get_shipping_document_parameter),
        ("create_shipping_document", create_shipping_document),
        ("get_shipping_document_result", get_shipping_document_result),
        ("download_shipping_document", download_shipping_document),
    ]
    return [
        Route(f"/api/v2/logistics/{name}", logistics_endpoint(handler), methods=["POST"])
        for name, handler in calls
    ]
