"""Copy Coupang's published API pages into the conformance corpus (tests/conformance/samples/coupang).

Run by hand when the corpus should grow or be refreshed; the tests read the files it writes, never the
source repository. The source is optionalg/coupang-developers.github.io, a public copy (2019) of Coupang's
developer portal whose pages are TypeScript object literals
(`assets/docs/season-2/<api>/ko/<page>.document.ts`: `apiInfo` with the method and path,
`parameters`, `errorSpec`, `responseSpec`, `sample`); pass a clone (or a bare git directory) of it:

    python -m tests.conformance.extract_coupang <git dir of optionalg/coupang-developers.github.io>

Each file keeps, for one page: its path and method; the request and response field tables (name, type,
required, description, children: the descriptions hold many of the rules); the request sample; the response
sample, verbatim (`text`) and parsed (`json`); every error of the page's error spec (`error_list`), and, where
the error spec quotes an answer's envelope, that envelope as an error example. A sample that is not valid
JSON as published is parsed after the smallest repair, and the repair is named (`repairs`).

The pages of the current portal (developers.coupangcorp.com: the v5 order sheets, the v6 return requests,
the notice of the new versions, the timeout page's request sample) are not in that repository: their
corpus files (`*.v5.json`, `*.v6.json`, `portal.*.json`) are transcribed by hand from the copies named in
each file's `source`, and this script leaves them alone. What the current portal says of a page copied
here is added as `current_page` (:data:`CURRENT`); where it names another method, that is the entry's
`method` (what a call must send now) and the copy's is kept in `method_note`.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPOSITORY = "optionalg/coupang-developers.github.io"
HERE = Path(__file__).parent / "samples" / "coupang"
DOCS = "assets/docs/season-2"

# Every Coupang page orderwatch's clients call: corpus name -> page in the repository.
PAGES = {
    "ordersheets.list_per_day.v4": "delivery-api/ko/lookup-order-list-per-day",
    "ordersheets.by_shipment_box.v4": "delivery-api/ko/lookup-order-book",
    "ordersheets.by_order.v4": "delivery-api/ko/lookup-order-by-orderid",
    "ordersheets.acknowledgement.v4": "delivery-api/ko/product-preparation-processing",
    "orders.invoices.v4": "delivery-api/ko/invoice-upload-processing",
    "returnRequests.list_per_day.v4": "return-api/ko/lookup-return-request-list-per-day",
    "seller-products.create.v1": "product-api/ko/create-seller-product",
    "seller-products.get.v1": "product-api/ko/lookup-seller-product",
    "seller-products.histories.v1": "product-api/ko/lookup-product-modify-history",
}

# What the current portal page says where it differs from the 2019 copy (the pages search corpus keeps the
# portal's pages).
CURRENT = {
    "ordersheets.acknowledgement.v4": {
        "url": "https://developers.coupangcorp.com/hc/en-us/articles/360033792994",
        "method": "PUT",
        "note": "The page shows the method as PATCH struck out, then PUT. It also says: an order being"
        " refunded (partly or wholly cancelled) answers \"Unable to change the delivery status. Check the"
        " order history.\"; after changing to Product in Preparation, look up the single order again"
        " (the buyer may have changed the address).",
    },
}

_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<line>//[^\n]*)|(?P<block>/\*.*?\*/)|(?P<tick>`(?:\\.|[^`\\])*`)"""
    r"""|(?P<dq>"(?:\\.|[^"\\])*")|(?P<sq>'(?:\\.|[^'\\])*')"""
    r"""|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<ident>[A-Za-z_$][\w$]*)|(?P<punct>[{}\[\]:,;=])""",
    re.S,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot read the page at {text[pos:pos + 40]!r}")
        kind = match.lastgroup or ""
        if kind not in ("ws", "line", "block"):
            found.append((kind, match.group()))
        pos = match.end()
    return found


class _Literal:
    """A reader of the JavaScript object literal a page is (keys unquoted, backtick strings, comments,
    trailing commas)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.at]
        if value is not None and token[1] != value:
            raise ValueError(f"expected {value!r}, found {token[1]!r}")
        self.at += 1
        return token

    def value(self) -> Any:
        kind, text = self.take()
        if text == "{":
            return self._object()
        if text == "[":
            return self._array()
        if kind == "tick":
            return text[1:-1].replace("\\`", "`")
        if kind == "dq":
            return json.loads(text)
        if kind == "sq":
            return json.loads('"' + text[1:-1].replace('"', '\\"') + '"')
        if kind == "num":
            return json.loads(text)
        if kind == "ident":
            return {"true": True, "false": False, "null": None}.get(text, text)
        raise ValueError(f"unexpected {text!r}")

    def _object(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.peek()[1] != "}":
            kind, key = self.take()
            name = json.loads(key) if kind == "dq" else key.strip("'`")
            self.take(":")
            out[name] = self.value()
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return out

    def _array(self) -> list[Any]:
        out: list[Any] = []
        while self.peek()[1] != "]":
            out.append(self.value())
            if self.peek()[1] == ",":
                self.take()
        self.take("]")
        return out


def read_page(text: str) -> dict[str, Any]:
    """The page's object (``export const xDocument = {...}``)."""
    reader = _Literal(text[text.index("=", text.index("export const")) + 1 :])
    page: dict[str, Any] = reader.value()
    return page


def _text(*parts: Any) -> str:
    """HTML prose as plain text: tags become separators, entities are decoded."""
    words = []
    for part in parts:
        if not isinstance(part, str) or not part.strip():
            continue
        plain = re.sub(r"<br\s*/?>|</(?:tr|p|li)>", "\n", part)
        plain = re.sub(r"</t[dh]>", " | ", plain)
        plain = html.unescape(re.sub(r"<[^>]+>", " ", plain))
        plain = "\n".join(" ".join(line.split()) for line in plain.splitlines())
        words.append(re.sub(r"\n+", "\n", plain).strip())
    return "\n".join(w for w in words if w)


def _fields(table: Any) -> list[dict[str, Any]]:
    if not isinstance(table, list):
        return []
    return [
        {
            "name": str(field.get("name", "")),
            "type": str(field.get("type", "")),
            "required": str(field.get("require", "")),
            "description": _text(
                field.get("_description"), field.get("_referenceInfo"), field.get("_warning")
            ),
            "children": _fields(field.get("children")),
        }
        for field in table
        if isinstance(field, dict)
    ]


def _sample(value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return {"type": "text", "text": value, "json": json.loads(value)}
        except ValueError:
            return {"type": "text", "text": value, "json": None}
    return {"type": "json", "text": json.dumps(value, ensure_ascii=False, indent=1), "json": value}


_ENVELOPE = re.compile(r'"code"\s*:\s*"(?P<code>[^"]*)"\s*,\s*"message"\s*:\s*"(?P<message>[^"]*)"')


def _errors(spec: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The error list, and the answers its descriptions quote (``"code" : ..., "message" : ...``)."""
    listed, examples = [], []
    for entry in spec if isinstance(spec, list) else []:
        text = _text(entry.get("_description"), entry.get("_referenceInfo"), entry.get("_warning"))
        listed.append({"status": entry.get("status"), "description": text})
        quoted = _ENVELOPE.search(text)
        if quoted:
            examples.append(
                {
                    "type": f"HTTP {entry.get('status')}",
                    "text": quoted.group(),
                    "json": {"code": quoted["code"], "message": quoted["message"]},
                    "repairs": ["the error spec quotes the envelope's members; the braces are added"],
                }
            )
    return listed, examples


def _method(name: str, copied: str) -> dict[str, str]:
    """The page's method: the current page's where it differs from the 2019 copy's, which is then noted
    (the acknowledgement page now shows PATCH struck out, then PUT: a call must send what it says now)."""
    current = CURRENT.get(name, {}).get("method", "")
    if not current or current == copied:
        return {"method": copied}
    note = f"{current} as the current page shows it ({CURRENT[name]['url']}); the 2019 copy says {copied}"
    return {"method": current, "method_note": note}


def entry(name: str, page: dict[str, Any], source: dict[str, str]) -> dict[str, Any]:
    """The corpus file of one page."""
    info, params = page.get("apiInfo") or {}, page.get("parameters") or {}
    sample = page.get("sample") or {}
    requests = []
    if sample.get("endpoint"):
        requests.append({"type": "endpoint", "text": sample["endpoint"], "json": None})
    for code in sample.get("code") or []:
        made = _sample(code.get("codeblock"))
        if made:
            requests.append(made)
    error_list, error_examples = _errors(page.get("errorSpec"))
    response = _sample(sample.get("response"))
    return {
        "source": source,
        "api_name": name,
        "title": (page.get("documentInfo") or {}).get("name", ""),
        "path": info.get("path", ""),
        **_method(name, str(info.get("httpMethod", ""))),
        "define": _text(info.get("_description"), info.get("_referenceInfo"), info.get("_warning")),
        "request_fields": {
            "path": _fields(params.get("pathSegmentParameters")),
            "query": _fields(params.get("queryStringParameters")),
            "body": _fields(params.get("bodyParameters")),
        },
        "response_fields": _fields(page.get("responseSpec")),
        "request_samples": requests,
        "response_samples": [response] if response else [],
        "error_examples": error_examples,
        "error_list": error_list,
        **({"current_page": CURRENT[name]} if name in CURRENT else {}),
    }


def main(git_dir: str) -> None:
    commit = subprocess.run(
        ["git", "--git-dir", git_dir, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    HERE.mkdir(parents=True, exist_ok=True)
    for name, page_name in PAGES.items():
        path = f"{DOCS}/{page_name}.document.ts"
        shown = ["git", "--git-dir", git_dir, "show", f"{commit}:{path}"]
        text = subprocess.run(shown, check=True, capture_output=True, text=True).stdout
        doc = entry(name, read_page(text), {"repository": REPOSITORY, "path": path, "commit": commit})
        (HERE / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        print(f"{name}: {doc['method']} {doc['path']}, {len(doc['response_samples'])} sample(s), "
              f"{len(doc['error_list'])} error(s)")


if __name__ == "__main__":
    main(sys.argv[1])
