"""Product bodies against Coupang's documented limits: every problem, named by field."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.coupang.products.rules import validate, wire_body
from tests.handlers.coupang.product_bodies import valid_body


def _fields(body: Any) -> dict[str, str]:
    return {e.field: e.message for e in validate(body)}


def test_a_body_within_every_limit_passes() -> None:
    assert validate(valid_body()) == []


def test_a_body_that_is_not_an_object_is_refused_as_a_whole() -> None:
    assert [e.as_dict() for e in validate([1, 2])] == [
        {"field": "", "message": "the product body must be a JSON object"}
    ]


@pytest.mark.parametrize(
    ("length", "ok"), [(14, False), (15, True), (100, True), (101, False)], ids=lambda v: str(v)
)
def test_seller_product_name_is_15_to_100_characters(length: int, ok: bool) -> None:
    body = valid_body(name="가" * length)

    assert ("sellerProductName" not in _fields(body)) is ok


def test_missing_names_and_times_are_named() -> None:
    body = valid_body()
    del body["sellerProductName"]
    body["displayProductName"] = "short"
    body["saleEndedAt"] = "2099-01-01 23:59"

    fields = _fields(body)

    assert fields["sellerProductName"] == "sellerProductName is required"
    assert fields["displayProductName"] == "displayProductName must be 15 to 100 characters"
    assert "yyyy-MM-dd'T'HH:mm:ss" in fields["saleEndedAt"]


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        (2499, False),
        (2500, True),
        ("800000", True),
        (800001, False),
        (9990.5, False),
        (True, False),
        (None, False),
    ],
    ids=repr,
)
def test_sale_price_is_whole_won_from_2500_to_800000(price: object, ok: bool) -> None:
    body = valid_body()
    body["items"][0]["salePrice"] = price

    assert ("items[0].salePrice" not in _fields(body)) is ok


@pytest.mark.parametrize(
    ("count", "ok"), [(99_999, True), (100_000, False), (-1, False), ("12", True)], ids=repr
)
def test_maximum_buy_count_is_at_most_99999(count: object, ok: bool) -> None:
    body = valid_body()
    body["items"][0]["maximumBuyCount"] = count

    assert ("items[0].maximumBuyCount" not in _fields(body)) is ok


def test_item_name_and_search_tags_have_limits() -> None:
    body = valid_body(items=2)
    body["items"][1]["itemName"] = "x" * 151
    body["items"][1]["searchTags"] = [f"tag{n}" for n in range(21)]
    body["items"][0]["searchTags"] = ["ok", "y" * 21]

    fields = _fields(body)

    assert fields["items[1].itemName"] == "itemName must be at most 150 characters, not 151"
    assert fields["items[1].searchTags"] == "at most 20 searchTags, not 21"
    assert fields["items[0].searchTags[1]"] == "a search tag must be 1 to 20 characters"
    assert "items[0].itemName" not in fields


def test_images_need_one_representation_and_at_most_nine_details() -> None:
    body = valid_body(items=2)
    body["items"][0]["images"] = [
        {"imageType": "DETAIL", "vendorPath": f"http://img.example.com/{n}.jpg"} for n in range(10)
    ]
    body["items"][1]["images"] = []

    fields = _fields(body)

    assert fields["items[0].images"] in {
        "exactly one REPRESENTATION image is needed, not 0",
        "at most 9 DETAIL images, not 10",
    }
    messages = [e.message for e in validate(body) if e.field == "items[0].images"]
    assert messages == [
        "exactly one REPRESENTATION image is needed, not 0",
        "at most 9 DETAIL images, not 10",
    ]
    assert "one of them REPRESENTATION" in fields["items[1].images"]


def test_image_paths_formats_and_hinted_sizes_are_checked() -> None:
    body = valid_body()
    body["items"][0]["images"] = [
        {"imageType": "REPRESENTATION", "vendorPath": "http://img.example.com/" + "a" * 140 + ".jpg"},
        {"imageType": "DETAIL"},
        {"imageType": "DETAIL", "vendorPath": "http://img.example.com/pic.gif"},
        {"imageType": "DETAIL", "cdnPath": "x/ok.png", "width": 800, "height": 600},
        {"imageType": "DETAIL", "cdnPath": "x/ok.png", "width": 400, "height": 400, "bytes": 4_000_000},
        {"imageType": "BANNER", "cdnPath": "x/ok.png", "width": 1000, "height": 1000, "bytes": 1000},
    ]

    fields = _fields(body)

    assert fields["items[0].images[0].vendorPath"] == "vendorPath must be at most 150 characters"
    assert fields["items[0].images[1]"] == "an image needs a cdnPath or a vendorPath"
    assert fields["items[0].images[2].vendorPath"] == "images must be JPG or PNG files"
    assert fields["items[0].images[3].width"] == "the image must be square, not 800x600"
    assert fields["items[0].images[4].width"] == "the image must be 500 to 5,000 pixels a side, not 400x400"
    assert fields["items[0].images[4].bytes"] == "the image must be at most 3 MB"
    assert fields["items[0].images[5].imageType"].startswith("imageType must be one of")
    assert "items[0].images[5].width" not in fields


def test_every_problem_is_reported_at_once() -> None:
    body = valid_body()
    body["sellerProductName"] = "short"
    body["items"][0]["salePrice"] = 100
    body["items"][0]["maximumBuyCount"] = 1_000_000

    assert set(_fields(body)) == {"sellerProductName", "items[0].salePrice", "items[0].maximumBuyCount"}


def test_the_wire_body_drops_only_the_orderwatch_image_hints() -> None:
    body = valid_body()
    body["items"][0]["images"][0].update(width=1000, height=1000, bytes=12345)

    sent = wire_body(body)

    assert sent["items"][0]["images"][0] == {
        "imageOrder": 0,
        "imageType": "REPRESENTATION",
        "vendorPath": "http://img.example.com/a.jpg",
    }
    assert body["items"][0]["images"][0]["width"] == 1000  # the caller's body is untouched
    assert {k: v for k, v in sent.items() if k != "items"} == {k: v for k, v in body.items() if k != "items"}
