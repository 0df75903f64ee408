"""Every marketplace endpoint the clients call has a corpus entry, with a published success sample and its
source named; a call added without one fails here, with the list of what is missing.

The endpoints are found two ways, and both must be backed: the API paths the client modules name (their
``/api/v2/…`` and ``/v2/providers/…`` string constants), and the paths requested while every client call
is driven against a recording transport (Coupang's paths are built from a base and the ids, so only the
recording sees them). Shopee's entries are matched by ``path``; Coupang's by ``path`` as a template whose
``{…}`` segments stand for any one segment, and by ``method`` where the entry names one.

The clients' default configuration must be wholly backed. Coupang's clients also speak opt-in versions
(``ordersheets_version``, ``returns_version``): each is driven too, and what it calls without a success
sample must be exactly what ``handlers.coupang.client.UNVERIFIED`` lists for it, so that an unsampled
call can be neither a default nor an opt-in nobody named.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import anyio
import httpx
import orjson
import pytest

import handlers.coupang
import handlers.shopee
from handlers.coupang.client import ORDERSHEETS_VERSIONS, RETURNS_VERSIONS, UNVERIFIED, CoupangClient
from handlers.coupang.ordersheets import OrderSheets
from handlers.coupang.products import calls as product_calls
from handlers.coupang.returnrequests import ReturnRequests
from handlers.shopee import lost_pushes
from handlers.shopee.client import ShopeeClient
from handlers.shopee.logistics import Pickup, ShopeeLogistics
from tests.conformance import corpus, fields

VENDOR = "A00012345"
PDF = b"%PDF-1.4\n%made-up bytes: the download's published sample is prose, not a file\n%%EOF\n"


@dataclass
class Recorder:
    """An httpx transport that records every request and answers the corpus's sample for its path."""

    platform: str
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        entry = _entry_for(self.platform, request.method, request.url.path)
        if entry is not None and fields.is_file_api(entry):
            return httpx.Response(200, content=PDF, headers={"Content-Type": "application/pdf"})
        sample = _success_json(entry) if entry is not None else None
        if sample is None:  # no entry: a plain answer, so that the call goes on and is recorded
            sample = {"error": "", "message": "", "request_id": "r"} if self.platform == "shopee" else {}
        return httpx.Response(200, content=orjson.dumps(sample), headers={"Content-Type": "application/json"})


def _success_json(entry: Mapping[str, Any]) -> Any:
    for sample in entry.get("response_samples") or []:
        if _is_success(sample.get("json")):
            return sample["json"]
    return None


def _is_success(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if "error" in doc:  # Shopee's envelope
        return doc["error"] in fields.NO_ERROR
    code = str(doc.get("code", 200)).strip().upper()  # Coupang's
    return code in {"200", "SUCCESS", "OK"}


def _template(path: str) -> re.Pattern[str]:
    parts = (r"[^/]+" if re.fullmatch(r"\{[^}]*\}", part) else re.escape(part) for part in path.split("/"))
    return re.compile("/".join(parts) + "/?")


def _entry_for(platform: str, method: str | None, path: str) -> dict[str, Any] | None:
    """The corpus entry of an API path (a path as sent, or a constant with ``{…}`` segments)."""
    for entry in corpus.entries(platform):
        wanted = str(entry.get("path") or "")
        if not wanted:
            continue
        if method is not None and entry.get("method") and str(entry["method"]).upper() != method:
            continue
        if wanted == path or _template(wanted).fullmatch(path) or _template(path).fullmatch(wanted):
            return entry
    return None


def _constants(package: Any, prefix: str) -> set[str]:
    """The API paths the package's client modules (not its sandbox) name as string constants."""
    found: set[str] = set()
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("sandbox"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        found |= {v for v in vars(module).values() if isinstance(v, str) and v.startswith(prefix)}
    return found


Drive = Callable[[], Awaitable[object]]


def _shopee_calls(client: ShopeeClient) -> dict[str, Drive]:
    shop, token, sn, number = "322300222", "token", "220810QSK8S7BX", "2537708677189632625"
    logistics = ShopeeLogistics(client)
    return {
        "ShopeeClient.get_order_list": lambda: client.get_order_list(shop, token, time_from=1, time_to=3600),
        "ShopeeClient.get_order_detail": lambda: client.get_order_detail(shop, token, [sn]),
        "ShopeeClient.get_shop_relation": lambda: client.get_shop_relation(shop, token),
        "ShopeeClient.refresh_access_token": lambda: client.refresh_access_token(shop, "refresh"),
        "ShopeeLogistics.get_shipping_parameter": lambda: logistics.get_shipping_parameter(shop, token, sn),
        "ShopeeLogistics.ship_order": lambda: logistics.ship_order(shop, token, sn, pickup=Pickup(123, "t")),
        "ShopeeLogistics.get_tracking_number": lambda: logistics.get_tracking_number(shop, token, sn),
        "ShopeeLogistics.get_shipping_document_parameter": lambda: logistics.get_shipping_document_parameter(
            shop, token, sn, number
        ),
        "ShopeeLogistics.create_shipping_document": lambda: logistics.create_shipping_document(
            shop, token, sn, number
        ),
        "ShopeeLogistics.get_shipping_document_result": lambda: logistics.get_shipping_document_result(
            shop, token, sn, number
        ),
        "ShopeeLogistics.download_shipping_document": lambda: logistics.download_shipping_document(
            shop, token, sn, number
        ),
        "ShopeeLogistics.get_tracking_info": lambda: logistics.get_tracking_info(shop, token, sn),
        "lost_pushes.get_lost_pushes": lambda: lost_pushes.get_lost_pushes(client),
        "lost_pushes.confirm_lost_pushes": lambda: lost_pushes.confirm_lost_pushes(client, 176610),
    }


def _coupang_calls(client: CoupangClient) -> dict[str, Drive]:
    sheets, returns, day = OrderSheets(client), ReturnRequests(client), date(2025, 1, 2)
    dto = {"shipmentBoxId": 1, "orderId": 2, "vendorItemId": 3, "deliveryCompanyCode": "CJGLS"}
    return {
        "OrderSheets.list_page": lambda: sheets.list_page("ACCEPT", day),
        "OrderSheets.sheet": lambda: sheets.sheet(642538970006401429),
        "OrderSheets.order": lambda: sheets.order(500004398),
        "OrderSheets.acknowledge": lambda: sheets.acknowledge([642538970006401429]),
        "OrderSheets.upload_invoices": lambda: sheets.upload_invoices([{**dto, "invoiceNumber": "1"}]),
        "ReturnRequests.list_page": lambda: returns.list_page("RU", day),
        "products.calls.register": lambda: product_calls.register(client, {"sellerProductName": "x"}),
        "products.calls.get_product": lambda: product_calls.get_product(client, "427011919"),
        "products.calls.history": lambda: product_calls.history(client, "427011919"),
    }


def _drive(calls: dict[str, Drive], recorder: Recorder) -> dict[str, list[tuple[str, str]]]:
    """Each call's requests; a call that fails on the sample's answer still shows what it asked."""
    made: dict[str, list[tuple[str, str]]] = {}

    async def run() -> None:
        for name, call in calls.items():
            before = len(recorder.seen)
            with contextlib.suppress(Exception):  # what the call asked for is the point, not its result
                await call()
            made[name] = recorder.seen[before:]

    anyio.run(run)
    return made


def _recorded(platform: str, **options: Any) -> dict[str, list[tuple[str, str]]]:
    """Each client call's requests, the client made with ``options`` (Coupang's versions)."""
    recorder = Recorder(platform)
    transport = httpx.MockTransport(recorder)
    if platform == "shopee":
        shopee = ShopeeClient("http://shopee.test", 2001887, "key", transport=transport, attempts=1)
        return _drive(_shopee_calls(shopee), recorder)
    coupang = CoupangClient("http://coupang.test", "ak", "sk", vendor_id=VENDOR, transport=transport,
                            attempts=1, **options)  # fmt: skip
    return _drive(_coupang_calls(coupang), recorder)


# Not API calls of their own: the transport-level calls every other goes through, and the round
# that drives the lost-push calls (beside them in handlers/shopee/lost_pushes.py).
NOT_CALLS = frozenset(
    {"call", "call_for_file", "request", "aclose", "__aenter__", "__aexit__", "recover_lost_pushes"}
)
# Not client modules: they drive the calls (the outbox actions, Shopee's push receiver, its
# reconciliation poll and its tokens' refresh, Coupang's order poll and report endpoint, its
# product approval poll and the product routes), and the tests of each drive them. Modules of
# a subpackage are named from the marketplace package down (``products.approval``).
NOT_CLIENT_MODULES = frozenset(
    {"actions", "receiver", "reconcile", "tokens", "poll", "webhook", "products.approval", "products.routes"}
)


def _public_calls(package: Any) -> set[str]:
    """The public coroutines of the client modules, subpackages' too (``Class.method``,
    ``module.function``, ``subpackage.module.function``)."""
    names: set[str] = set()
    for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        relative = module_info.name.removeprefix(f"{package.__name__}.")
        if relative.startswith("sandbox") or relative in NOT_CLIENT_MODULES:
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__ or name.startswith("_"):
                continue
            if isinstance(value, type):
                names |= {f"{name}.{m}" for m, f in vars(value).items() if _is_call(m, f)}
            elif _is_call(name, value):
                names.add(f"{relative}.{name}")
    return names


def _is_call(name: str, value: object) -> bool:
    return not name.startswith("_") and name not in NOT_CALLS and inspect.iscoroutinefunction(value)


def _called_paths(platform: str, **options: str) -> Iterator[tuple[str | None, str, str]]:
    """(method or None, path, who calls it) for every endpoint found."""
    if platform == "shopee":  # Coupang's constants are bases that the calls extend
        for constant in sorted(_constants(handlers.shopee, "/api/v2/")):
            yield None, constant, "a constant of the client code"
    for call, requests in _recorded(platform, **options).items():
        for method, path in requests:
            yield method, path, call


@dataclass(frozen=True)
class Unbacked:
    """A request no corpus entry backs with a success sample, and why."""

    method: str
    path: str  # as sent, the vendor id shown as {vendorId}
    why: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.why})"


def _unbacked(platform: str, **options: str) -> set[Unbacked]:
    """What the clients (made with ``options``) ask for that the corpus does not back."""
    missing: set[Unbacked] = set()
    for method, path, who in _called_paths(platform, **options):
        entry = _entry_for(platform, method, path)
        shown = re.sub(rf"\b{VENDOR}\b", "{vendorId}", path)
        other = _entry_for(platform, None, path) if entry is None else None
        if other is not None:
            why = f"{who}: the corpus documents it as {other['method']} ({other['api_name']})"
        elif entry is None:
            why = f"{who}: no corpus entry"
        elif not _has_success_sample(entry):
            why = f"{who}: its entry ({entry['api_name']}) has no success sample"
        else:
            continue
        missing.add(Unbacked(method or "*", shown, why))
    return missing


def _has_success_sample(entry: Mapping[str, Any]) -> bool:
    if _success_json(entry) is not None:
        return True
    # A file answer's only published sample is prose ("If Success, this api will return a waybill file"),
    # with a field table of one member of type file.
    texts = " ".join(str(s.get("text") or "") for s in entry.get("response_samples") or [])
    return fields.is_file_api(entry) and "return a waybill file" in texts


@pytest.mark.parametrize("platform", ["shopee", "coupang"])
def test_every_endpoint_the_clients_call_has_a_corpus_entry_with_a_success_sample(platform: str) -> None:
    lacking = "\n".join(sorted(map(str, _unbacked(platform))))
    assert lacking == "", f"tests/conformance/samples/{platform}/ does not back:\n{lacking}"


COUPANG_OPTIONS = [("ordersheets_version", v) for v in ORDERSHEETS_VERSIONS] + [
    ("returns_version", v) for v in RETURNS_VERSIONS
]


@pytest.mark.parametrize(("option", "version"), COUPANG_OPTIONS)
def test_each_coupang_version_calls_unsampled_only_what_unverified_names(option: str, version: str) -> None:
    unbacked = _unbacked("coupang", **{option: version})
    found = sorted((u.method, u.path) for u in unbacked)
    named = UNVERIFIED.get((option, version))
    if named is None:
        lacking = "\n".join(sorted(map(str, unbacked)))
        assert found == [], (
            f"{option}={version} calls without a published success sample (back them, or name them in "
            f"handlers/coupang/client.py's UNVERIFIED and the docs as opt-in, unverified):\n{lacking}"
        )
        return
    method, template = named
    assert found, f"{option}={version} is backed now: take it out of UNVERIFIED and the docs' unverified"
    assert all(m == method and _template(template).fullmatch(p) for m, p in found), (
        f"{option}={version}: UNVERIFIED names {method} {template}, but these are unbacked: {found}"
    )
    assert all("has no success sample" in u.why for u in unbacked)  # in the corpus, without an answer


def test_unverified_names_only_opt_ins_never_a_default() -> None:
    choices = {"ordersheets_version": set(ORDERSHEETS_VERSIONS), "returns_version": set(RETURNS_VERSIONS)}
    defaults = CoupangClient("http://coupang.test", "ak", "sk")
    for option, version in UNVERIFIED:
        assert version in choices[option], (option, version)
        assert getattr(defaults, option) != version, f"{option}={version} is unverified: not a default"


@pytest.mark.parametrize("platform", ["shopee", "coupang"])
def test_every_client_call_is_driven_and_asks_for_something(platform: str) -> None:
    package = handlers.shopee if platform == "shopee" else handlers.coupang
    recorded = _recorded(platform)
    undriven = sorted(_public_calls(package) - set(recorded))
    assert undriven == [], "client calls this test does not drive (add them to _shopee_calls, _coupang_calls)"
    silent = sorted(name for name, requests in recorded.items() if not requests)
    assert silent == [], "calls that asked nothing"


@pytest.mark.parametrize("platform", ["shopee", "coupang"])
def test_every_corpus_entry_names_its_source(platform: str) -> None:
    unnamed = []
    for entry in corpus.entries(platform):
        source = entry.get("source") or {}
        named = bool(source.get("url")) or bool(source.get("repository") and source.get("path"))
        if not named:
            unnamed.append(entry.get("api_name") or entry.get("path"))
    assert unnamed == []
