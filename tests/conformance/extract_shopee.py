"""Copy Shopee's published API reference into the conformance corpus (tests/conformance/samples/shopee).

Run by hand when the corpus should grow or be refreshed; the tests read the files it writes, never the
source repository. The source is lazykern/ecommerce-api-docs, a public scrape of Shopee's Open Platform
API reference (`data/raw/shopee/apis/<module>/<api>.json`); pass a clone (or a bare git directory) of it:

    python -m tests.conformance.extract_shopee <git dir of lazykern/ecommerce-api-docs>

Each file keeps, for one API: its path, method and type; the request and response field tables (name,
type, required, description, children: the descriptions hold many of the rules); the request sample; every
response sample and error example, verbatim (`text`) and parsed (`json`); and the error list. A sample that
is not valid JSON as published is parsed after the smallest repair, and the repair is named (`repairs`).
The `source` names the repository, the path and the commit the file was copied from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPOSITORY = "lazykern/ecommerce-api-docs"
HERE = Path(__file__).parent / "samples" / "shopee"

# Every Shopee API orderwatch calls, and the ones the open issues will call (cancellations, returns).
APIS = [
    "order/v2.order.get_order_list",
    "order/v2.order.get_order_detail",
    "order/v2.order.cancel_order",
    "order/v2.order.handle_buyer_cancellation",
    "shop/v2.shop.get_shop_info",
    "public/v2.public.refresh_access_token",
    "public/v2.public.get_access_token",
    "push/v2.push.get_lost_push_message",
    "push/v2.push.confirm_consumed_lost_push_message",
    "logistics/v2.logistics.get_shipping_parameter",
    "logistics/v2.logistics.ship_order",
    "logistics/v2.logistics.get_tracking_number",
    "logistics/v2.logistics.get_shipping_document_parameter",
    "logistics/v2.logistics.create_shipping_document",
    "logistics/v2.logistics.get_shipping_document_result",
    "logistics/v2.logistics.download_shipping_document",
    "logistics/v2.logistics.get_tracking_info",
    "returns/v2.returns.get_return_list",
    "returns/v2.returns.get_return_detail",
    "returns/v2.returns.confirm",
    "returns/v2.returns.dispute",
]

METHODS = {1: "POST", 2: "GET"}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True).stdout


def _fields(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": field["name"],
            "type": field.get("type", ""),
            "required": field.get("required", ""),
            "description": field.get("description", ""),
            "children": _fields(field.get("children") or []),
        }
        for field in table
    ]


def _parse(text: str) -> tuple[Any, list[str]]:
    """The sample as JSON, after the smallest repair a published typo needs (named in the list)."""
    try:
        return json.loads(text), []
    except ValueError:
        pass
    repairs: list[str] = []
    fixed = text
    if not fixed.lstrip().startswith(("{", "[")) and "{" in fixed:
        fixed = fixed[fixed.index("{"): fixed.rindex("}") + 1]
        repairs.append("took the JSON object out of the prose around it")
    if re.match(r"\s*\{\s*\{", fixed):
        fixed = re.sub(r"^\s*\{", "", fixed, count=1)
        repairs.append("removed a doubled opening brace")
    no_commas = re.sub(r",(\s*[}\]])", r"\1", fixed)
    if no_commas != fixed:
        fixed = no_commas
        repairs.append("removed trailing commas")
    with_commas = re.sub(r'("|\d|true|false|null)([ \t]*\n\s*")', r"\1,\2", fixed)
    if with_commas != fixed:
        try:
            json.loads(with_commas)
            fixed = with_commas
            repairs.append("inserted a missing comma between two members")
        except ValueError:
            pass
    try:
        return json.loads(fixed), repairs
    except ValueError as exc:
        return None, [*repairs, f"not JSON as published ({exc})"]


def _samples(raw: str) -> list[dict[str, Any]]:
    out = []
    for sample in json.loads(raw or "[]") or []:
        if sample.get("type") not in ("JSON", "Payload"):
            continue  # the code snippets (Java, PHP, cURL, Python) repeat the payload
        parsed, repairs = _parse(sample["value"])
        entry: dict[str, Any] = {"type": sample["type"], "text": sample["value"], "json": parsed}
        if repairs:
            entry["repairs"] = repairs
        out.append(entry)
    return out


def extract(git_dir: str, api: str, commit: str) -> dict[str, Any]:
    path = f"data/raw/shopee/apis/{api}.json"
    doc = json.loads(_git(git_dir, "show", f"{commit}:{path}"))
    params = json.loads(doc["params"])
    return {
        "source": {"repository": REPOSITORY, "path": path, "commit": commit},
        "api_name": doc["api_name"],
        "path": doc["path"],
        "method": METHODS[doc["method"]],
        "api_type": doc["api_type"],
        "define": doc.get("define", ""),
        "request_fields": _fields(params.get("request_params") or []),
        "response_fields": _fields(params.get("response_params") or []),
        "request_samples": _samples(doc.get("request_sample") or "[]"),
        "response_samples": _samples(doc.get("response_sample") or "[]"),
        "error_examples": _samples(doc.get("error_example") or "[]"),
        "error_list": [{"name": e["name"], "description": e["description"]}
                       for e in doc.get("error_list") or []],
    }


def main(argv: list[str]) -> int:
    git_dir = argv[0]
    commit = _git(git_dir, "rev-parse", "HEAD").strip()
    HERE.mkdir(parents=True, exist_ok=True)
    for api in APIS:
        entry = extract(git_dir, api, commit)
        target = HERE / f"{entry['api_name']}.json"
        target.write_text(json.dumps(entry, indent=1, ensure_ascii=False) + "\n")
        print(f"{target.name}: {len(entry['response_samples'])} samples, "
              f"{len(entry['error_examples'])} error examples")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
