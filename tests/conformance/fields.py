"""A structural check of a JSON answer against a corpus field table (names, types, nesting, envelope).

The corpus keeps, per API, Shopee's published response field table (``response_fields``: name, type,
required, children) and its ``error_list``. :func:`check_success` and :func:`check_error` answer the list
of every place an answer disagrees with them, as readable strings (an empty list: it agrees):

- a member whose name is not in the table (at any depth);
- a value whose JSON type is not the table's type (``string``, ``int``/``int32``/``int64``/``uint64``,
  ``float``, ``boolean``, ``timestamp``, ``object``, ``object[]``, ``string[]``, ``int32[]``: every type
  the corpus uses; a table naming any other type is refused, so a new one is not waved through);
- the envelope: ``request_id``, ``error`` and ``message`` as Shopee's "API calls" guide lists them; an
  error answer names an error of the API's ``error_list`` or a common one (:data:`COMMON_ERRORS`).

Two allowances, both because Shopee's own samples need them (tests/conformance/test_fields.py shows
where): ``null`` stands for any value (the samples send ``"dropoff": null``, ``"merchant_id": null``,
``"warning": null``, ``"time_slot_list": null``), and a number with a fraction is never an ``int`` but
a whole number is a ``float`` (``"estimated_shipping_fee": 5000``). The table's ``required`` column is
empty in every response table of the corpus, so it is checked only where it says "True".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# The members of every answer, as Shopee's guide "API calls" (getting-started/api-calls, "API response
# parameters") lists them: request_id and error always, message, warning and response when there is one.
# A table that names one of them decides its type; else these do (warning's type differs between pages).
ENVELOPE: dict[str, str] = {"request_id": "string", "error": "string", "message": "string"}
ENVELOPE_FREE = frozenset({"warning", "response"})

# Error names that appear in the error lists of most of Shopee's API pages (tests/conformance/
# test_fields.py checks each is in at least half of the corpus's lists): an API may answer them although
# its own page leaves them out (the lost-push pages list only error_data, error_param, error_server).
COMMON_ERRORS = frozenset(
    {
        "error_param",
        "error_auth",
        "error_sign",
        "error_server",
        "error_network",
        "error_data",
        "error_shop",
        "error_permission",
        "error_not_found",
    }
)

# "No error" as the pages write it: empty, or "-" (the push pages), or " " (the returns pages).
NO_ERROR = frozenset({"", "-", " "})

# Where a published success sample disagrees with its own page's field table (paths with list indices
# written "[]"). The sample is what Shopee answered, so an answer that does the same is not refused for it;
# tests/conformance/test_fields.py checks that each sample shows exactly these.
SAMPLE_QUIRKS: dict[str, frozenset[str]] = {
    # The table types product_location_id as string; the sample answers a list of strings.
    # The table names parcel_chargeable_weight; the sample answers parcel_chargeable_weight_gram.
    "v2.order.get_order_detail": frozenset(
        {
            "response.order_list[].item_list[].product_location_id: string expected, got array",
            "response.order_list[].package_list[].parcel_chargeable_weight_gram: not in the field table",
        }
    ),
    # The sample's second order fails with logistics.order_not_exist, which the page's error list lacks.
    "v2.logistics.get_shipping_document_parameter": frozenset(
        {
            "response.result_list: fail_error 'logistics.order_not_exist' is neither in the API's error list"
            " nor a common error"
        }
    ),
}

_INTEGERS = frozenset({"int", "int32", "int64", "uint64", "timestamp"})
SCALARS = frozenset({"string", "float", "boolean", *_INTEGERS})
TYPES = frozenset({*SCALARS, "object", "object[]", *(f"{t}[]" for t in SCALARS)})

Table = Sequence[Mapping[str, Any]]


def type_problem(value: Any, kind: str) -> str | None:
    """Why ``value`` is not of the table's ``kind``, or None when it is."""
    if kind not in TYPES:
        raise ValueError(f"the field table has a type this checker does not know: {kind!r}")
    if value is None:
        return None
    if kind.endswith("[]"):
        if not isinstance(value, list):
            return f"{kind} expected, got {_json_type(value)}"
        element = kind[:-2]
        for item in value:
            if item is not None and type_problem(item, element) is not None:
                return f"{kind} expected, an element is {_json_type(item)}"
        return None
    if _is_kind(value, kind):
        return None
    return f"{kind} expected, got {_json_type(value)}"


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, bool):
        return False
    if kind == "float":
        return isinstance(value, int | float)
    return isinstance(value, int)  # the integer kinds and timestamp


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def check_fields(value: Mapping[str, Any], table: Table, where: str = "") -> list[str]:
    """Every disagreement of an object's members (and theirs, recursively) with a field table."""
    problems: list[str] = []
    fields = {field["name"]: field for field in table}
    for name, member in value.items():
        at = f"{where}.{name}" if where else name
        field = fields.get(name)
        if field is None:
            problems.append(f"{at}: not in the field table")
            continue
        problems += _check_member(member, field, at)
    for name, field in fields.items():
        if str(field.get("required")) == "True" and name not in value:
            problems.append(f"{where}.{name}: required, missing" if where else f"{name}: required, missing")
    return problems


def _check_member(member: Any, field: Mapping[str, Any], at: str) -> list[str]:
    kind = field["type"]
    wrong = type_problem(member, kind)
    if wrong is not None:
        return [f"{at}: {wrong}"]
    children = field.get("children") or []
    if not children:
        return []
    if kind == "object" and isinstance(member, dict):
        return check_fields(member, children, at)
    if kind == "object[]" and isinstance(member, list):
        problems: list[str] = []
        for index, item in enumerate(member):
            if isinstance(item, dict):
                problems += check_fields(item, children, f"{at}[{index}]")
        return problems
    return []


def is_file_api(entry: Mapping[str, Any]) -> bool:
    """Whether the API answers a file on success (its table is one ``file`` member)."""
    return any(field.get("type") == "file" for field in entry["response_fields"])


def _with_envelope(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The response table, with the guide's envelope members it leaves out."""
    table = [field for field in entry["response_fields"] if field.get("type") != "file"]
    named = {field["name"] for field in table}
    extra: list[Mapping[str, Any]] = [
        {"name": name, "type": kind, "required": "", "children": []}
        for name, kind in ENVELOPE.items()
        if name not in named
    ]
    return table + extra


def _free(entry: Mapping[str, Any]) -> frozenset[str]:
    """Envelope members of free type that the table does not name."""
    return ENVELOPE_FREE - {field["name"] for field in entry["response_fields"]}


def _envelope_problems(answer: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(answer, dict):
        return None, [f"the answer is {_json_type(answer)}, not an object"]
    problems = [f"{name}: missing (the envelope)" for name in ("request_id", "error") if name not in answer]
    return answer, problems


def check_success(answer: Any, entry: Mapping[str, Any], *, quirks: bool = True) -> list[str]:
    """Every disagreement of a success answer with its API's table and the envelope; with ``quirks``,
    less those its published sample shows too (:data:`SAMPLE_QUIRKS`)."""
    doc, problems = _envelope_problems(answer)
    if doc is None:
        return problems
    if isinstance(doc.get("error"), str) and doc["error"] not in NO_ERROR:
        problems.append(f"error: {doc['error']!r} in a success answer")
    free = _free(entry)
    checked = {name: value for name, value in doc.items() if name not in free}
    problems += check_fields(checked, _with_envelope(entry)) + _failure_names(doc, entry)
    return _less_quirks(problems, entry) if quirks else problems


def without_indices(problem: str) -> str:
    """A problem with its list indices written ``[]``, as :data:`SAMPLE_QUIRKS` holds them."""
    return re.sub(r"\[\d+\]", "[]", problem)


def _less_quirks(problems: list[str], entry: Mapping[str, Any]) -> list[str]:
    allowed = SAMPLE_QUIRKS.get(entry["api_name"], frozenset())
    return [problem for problem in problems if without_indices(problem) not in allowed]


def check_error(answer: Any, entry: Mapping[str, Any]) -> list[str]:
    """Every disagreement of an error answer with the envelope and the API's error list.

    An error answer is the envelope (request_id, error, message), maybe a ``response`` (a batch call's
    ``common.batch_api_all_failed`` puts each order's reason in ``response.result_list``) and a warning;
    the members it has are checked against the table too."""
    doc, problems = _envelope_problems(answer)
    if doc is None:
        return problems
    if "message" not in doc:
        problems.append("message: missing (the envelope)")
    error = doc.get("error")
    if not isinstance(error, str) or error in NO_ERROR:
        problems.append(f"error: {error!r} is not an error name")
    elif error not in error_names(entry):
        problems.append(f"error: {error!r} is neither in the API's error list nor a common error")
    for name in doc:
        if name not in {*ENVELOPE, *ENVELOPE_FREE}:
            problems.append(f"{name}: not in an error answer")
    free = _free(entry)
    checked = {name: value for name, value in doc.items() if name not in free and name in ENVELOPE}
    if "response" in doc and "response" not in free:
        checked["response"] = doc["response"]
    return problems + check_fields(checked, _with_envelope(entry)) + _failure_names(doc, entry)


def error_names(entry: Mapping[str, Any]) -> frozenset[str]:
    """The error names an API may answer: its own list and the common ones."""
    # strip(): ship_order's list publishes " logistics.package_already_shipped" with a leading space.
    return frozenset(error["name"].strip() for error in entry["error_list"]) | COMMON_ERRORS


def check_message(
    answer: Mapping[str, Any], entry: Mapping[str, Any], others: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Whether an error answer's name goes with its message, as the error lists pair them: a message that
    is word for word an error's description in the API's list (else in the lists of ``others``) must come
    with that error's name (the sandbox once answered "Invalid partner_id." as error_auth, which the lists
    name error_param)."""
    error, message = answer.get("error"), answer.get("message")
    if not isinstance(error, str) or not isinstance(message, str) or not message.strip():
        return []
    for entries in ([entry], others):
        listed = (e for one in entries for e in one["error_list"])
        names = {e["name"].strip() for e in listed if e["description"] == message}
        if names:
            if error in names:
                return []
            return [f"error: {error!r} with the message {message!r}, which the lists give {sorted(names)}"]
    return []


def _failure_names(doc: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    known = error_names(entry)
    return [
        f"response.result_list: fail_error {name!r} is neither in the API's error list nor a common error"
        for name in result_failures(doc)
        if name not in known
    ]


def result_failures(answer: Mapping[str, Any]) -> list[str]:
    """The ``fail_error`` names of a batch answer's ``response.result_list`` (empty ones left out)."""
    response = answer.get("response")
    results = response.get("result_list") if isinstance(response, dict) else None
    if not isinstance(results, list):
        return []
    return [str(r["fail_error"]) for r in results if isinstance(r, dict) and r.get("fail_error")]
