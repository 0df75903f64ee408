"""The structural checker (tests/conformance/fields.py) against Shopee's own published samples: each
sample passes its page's table, less the disagreements written down in ``SAMPLE_QUIRKS``; and the checker
does refuse what disagrees."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from tests.conformance import corpus, fields

ENTRIES = {entry["api_name"]: entry for entry in corpus.entries("shopee")}


def _walk(table: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for field in table:
        yield field
        yield from _walk(field.get("children") or [])


def _is_error(sample: Any) -> bool:
    return isinstance(sample, dict) and sample.get("error") not in fields.NO_ERROR


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_type_in_the_response_tables_is_one_the_checker_knows(name: str) -> None:
    kinds = {field["type"] for field in _walk(ENTRIES[name]["response_fields"])}
    assert kinds - {"file"} <= fields.TYPES


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_published_success_sample_passes_its_own_table_less_its_written_down_quirks(name: str) -> None:
    entry = ENTRIES[name]
    successes = [s["json"] for s in entry["response_samples"] if not _is_error(s["json"])]
    if fields.is_file_api(entry):
        # download_shipping_document's "response sample" is an error answer with a placeholder name
        # ("logistics.xxxxx", in prose); its success is the file itself (the table's one member: file).
        assert successes == []
        assert [s["json"]["error"] for s in entry["response_samples"]] == ["logistics.xxxxx"]
        return
    assert successes, f"{name}: no success sample"
    found = [p for s in successes for p in fields.check_success(s, entry, quirks=False)]
    shown = {fields.without_indices(p) for p in found}
    assert shown == set(fields.SAMPLE_QUIRKS.get(name, ()))
    assert all(fields.check_success(s, entry) == [] for s in successes)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_published_error_example_passes_the_error_envelope_and_names_a_listed_error(name: str) -> None:
    for example in corpus.error_examples("shopee", name):
        assert fields.check_error(example, ENTRIES[name]) == []


def test_the_common_errors_are_in_the_error_lists_of_at_least_half_the_pages() -> None:
    counts = Counter(name for entry in ENTRIES.values() for name in {e["name"] for e in entry["error_list"]})
    assert {name for name in fields.COMMON_ERRORS if counts[name] * 2 < len(ENTRIES)} == set()


def _detail() -> tuple[dict[str, Any], dict[str, Any]]:
    return ENTRIES["v2.order.get_order_detail"], corpus.response_sample("shopee", "v2.order.get_order_detail")


def test_a_member_not_in_the_table_is_reported_with_its_place() -> None:
    entry, sample = _detail()
    sample["response"]["order_list"][0]["order_state"] = "READY_TO_SHIP"
    problems = fields.check_success(sample, entry)
    assert problems == ["response.order_list[0].order_state: not in the field table"]


def test_a_wrong_type_is_reported_at_every_depth() -> None:
    entry, sample = _detail()
    order = sample["response"]["order_list"][0]
    order["create_time"] = "1712601591"
    order["cod"] = 1
    order["item_list"][0]["item_id"] = 2.5
    order["package_list"][0]["item_list"] = {"item_id": 1}
    order["pending_terms"] = ["a", 3]
    assert sorted(fields.check_success(sample, entry)) == [
        "response.order_list[0].cod: boolean expected, got integer",
        "response.order_list[0].create_time: timestamp expected, got string",
        "response.order_list[0].item_list[0].item_id: int64 expected, got number",
        "response.order_list[0].package_list[0].item_list: object[] expected, got object",
        "response.order_list[0].pending_terms: string[] expected, an element is integer",
    ]


def test_a_whole_number_is_a_float_and_null_stands_for_anything() -> None:
    entry, sample = _detail()
    order = sample["response"]["order_list"][0]
    order["total_amount"], order["recipient_address"], order["item_list"] = 12, None, None
    assert fields.check_success(sample, entry) == []


def test_the_envelope_is_checked_whatever_the_table_says() -> None:
    entry = ENTRIES["v2.shop.get_shop_info"]  # its table names neither error nor message
    sample = corpus.response_sample("shopee", "v2.shop.get_shop_info")
    del sample["request_id"]
    sample["message"] = 0
    sample["error"] = "error_auth"
    assert sorted(fields.check_success(sample, entry)) == [
        "error: 'error_auth' in a success answer",
        "message: string expected, got integer",
        "request_id: missing (the envelope)",
    ]


def test_an_error_answer_must_name_a_listed_or_common_error_and_hold_only_the_envelope() -> None:
    entry = ENTRIES["v2.logistics.get_tracking_number"]
    signed = {"request_id": "r", "error": "error_sign", "message": "Wrong sign."}
    assert fields.check_error(signed, entry) == []
    made_up = {"request_id": "r", "error": "invalid_acceess_token", "message": "m", "detail": 1}
    assert fields.check_error(made_up, entry) == [
        "error: 'invalid_acceess_token' is neither in the API's error list nor a common error",
        "detail: not in an error answer",
    ]
    assert fields.check_error({"request_id": "r", "error": "", "message": ""}, entry) == [
        "error: '' is not an error name"
    ]


def test_a_batch_answer_names_each_orders_failure_from_the_error_list() -> None:
    entry = ENTRIES["v2.logistics.get_shipping_document_result"]
    published = corpus.error_examples("shopee", "v2.logistics.get_shipping_document_result")[0]
    assert fields.result_failures(published) == ["logistics.order_not_exist"]
    published["response"]["result_list"][0]["fail_error"] = "logistics.shipping_document_not_exist"
    assert fields.check_error(published, entry) == [
        "response.result_list: fail_error 'logistics.shipping_document_not_exist' is neither in the API's"
        " error list nor a common error"
    ]


def test_a_table_with_a_type_the_checker_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="does not know"):
        fields.check_fields({"a": 1}, [{"name": "a", "type": "integer", "required": "", "children": []}])


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_published_error_example_pairs_its_name_and_message_as_the_lists_do(name: str) -> None:
    others = list(ENTRIES.values())
    for example in corpus.error_examples("shopee", name):
        assert fields.check_message(example, ENTRIES[name], others) == []


def test_a_message_that_the_lists_give_another_name_is_reported() -> None:
    entry, others = ENTRIES["v2.push.get_lost_push_message"], list(ENTRIES.values())
    bad_partner = {"request_id": "r", "error": "error_auth", "message": "Invalid partner_id."}
    assert fields.check_message(bad_partner, entry, others) == [
        "error: 'error_auth' with the message 'Invalid partner_id.', which the lists give ['error_param']"
    ]
    assert fields.check_message({**bad_partner, "error": "error_param"}, entry, others) == []
    assert fields.check_message({**bad_partner, "message": "Something else."}, entry, others) == []
