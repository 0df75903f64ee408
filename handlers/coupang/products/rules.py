"""Coupang's documented limits on a product body, checked before any API call.

:func:`validate` answers every problem of a ``POST …/seller-products`` body at once, each
naming its field the way a client would point at it (``items[0].salePrice``). The limits
and their sources are in docs/platforms.md ("Coupang products"). An image's pixel size,
byte size and squareness cannot be read from the body (Coupang downloads ``vendorPath``
itself); they are checked when the image carries the orderwatch hints ``width``,
``height`` and ``bytes``, which :func:`wire_body` removes before the body is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

NAME_LENGTH = (15, 100)  # sellerProductName, displayProductName
ITEM_NAME_MAX = 150
SALE_PRICE = (2_500, 800_000)  # KRW
MAXIMUM_BUY_COUNT_MAX = 99_999
SEARCH_TAGS_MAX = 20
SEARCH_TAG_LENGTH_MAX = 20
IMAGE_PATH_MAX = 150  # cdnPath, vendorPath
IMAGE_PIXELS = (500, 5_000)
IMAGE_BYTES_MAX = 3 * 1024 * 1024
DETAIL_IMAGES_MAX = 9
IMAGE_TYPES = frozenset({"REPRESENTATION", "REP_OBLONG_ORIGIN", "DETAIL", "USED_PRODUCT"})
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGE_HINTS = ("width", "height", "bytes")
SALE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class FieldError:
    """One problem of a body: the field (``items[0].salePrice``) and what is wrong."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON shape: ``{"field": ..., "message": ...}``."""
        return {"field": self.field, "message": self.message}


class _Errors(list[FieldError]):
    def add(self, field: str, message: str) -> None:
        self.append(FieldError(field, message))


def validate(body: object) -> list[FieldError]:
    """Every documented limit ``body`` breaks; empty when it may be sent."""
    errors = _Errors()
    if not isinstance(body, Mapping):
        errors.add("", "the product body must be a JSON object")
        return errors
    _name(errors, body, "sellerProductName", required=True)
    _name(errors, body, "displayProductName", required=False)
    for field in ("saleStartedAt", "saleEndedAt"):
        _sale_time(errors, body, field)
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errors.add("items", "items must be a non-empty list of the product's options")
        return errors
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, Mapping):
            errors.add(where, "each item must be a JSON object")
            continue
        _item(errors, item, where)
    return errors


def wire_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as Coupang gets it: the orderwatch image hints removed."""
    sent = dict(body)
    items = []
    for item in body.get("items") or []:
        if isinstance(item, Mapping) and isinstance(item.get("images"), list):
            item = dict(item)
            item["images"] = [
                {k: v for k, v in image.items() if k not in IMAGE_HINTS}
                if isinstance(image, Mapping)
                else image
                for image in item["images"]
            ]
        items.append(item)
    if "items" in body:
        sent["items"] = items
    return sent


def _name(errors: _Errors, body: Mapping[str, Any], field: str, *, required: bool) -> None:
    value = body.get(field)
    if value is None:
        if required:
            errors.add(field, f"{field} is required")
        return
    low, high = NAME_LENGTH
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        errors.add(field, f"{field} must be {low} to {high} characters")


def _sale_time(errors: _Errors, body: Mapping[str, Any], field: str) -> None:
    value = body.get(field)
    if value is None:
        errors.add(field, f"{field} is required (yyyy-MM-dd'T'HH:mm:ss)")
        return
    try:
        datetime.strptime(str(value), SALE_TIME_FORMAT)
    except ValueError:
        errors.add(field, f"{field} must be a time as yyyy-MM-dd'T'HH:mm:ss, not {value!r}")


def _whole(value: object) -> int | None:
    """A whole number given as a JSON number or a string of digits (Coupang's own
    examples send both); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        return int(value.strip())
    return None


def _item(errors: _Errors, item: Mapping[str, Any], where: str) -> None:
    name = item.get("itemName")
    if not isinstance(name, str) or not name.strip():
        errors.add(f"{where}.itemName", "itemName is required")
    elif len(name) > ITEM_NAME_MAX:
        errors.add(
            f"{where}.itemName", f"itemName must be at most {ITEM_NAME_MAX} characters, not {len(name)}"
        )
    price = _whole(item.get("salePrice"))
    low, high = SALE_PRICE
    if price is None or not low <= price <= high:
        errors.add(f"{where}.salePrice", f"salePrice must be a whole number of won from {low:,} to {high:,}")
    count = _whole(item.get("maximumBuyCount"))
    if count is None or not 0 <= count <= MAXIMUM_BUY_COUNT_MAX:
        errors.add(
            f"{where}.maximumBuyCount",
            f"maximumBuyCount must be a whole number from 0 to {MAXIMUM_BUY_COUNT_MAX:,}",
        )
    _search_tags(errors, item.get("searchTags"), f"{where}.searchTags")
    _images(errors, item.get("images"), f"{where}.images")


def _search_tags(errors: _Errors, tags: object, where: str) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        errors.add(where, "searchTags must be a list of words")
        return
    if len(tags) > SEARCH_TAGS_MAX:
        errors.add(where, f"at most {SEARCH_TAGS_MAX} searchTags, not {len(tags)}")
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > SEARCH_TAG_LENGTH_MAX:
            errors.add(f"{where}[{index}]", f"a search tag must be 1 to {SEARCH_TAG_LENGTH_MAX} characters")


def _images(errors: _Errors, images: object, where: str) -> None:
    if not isinstance(images, list) or not images:
        errors.add(where, "images must list the item's images, one of them REPRESENTATION")
        return
    kinds = [image.get("imageType") if isinstance(image, Mapping) else None for image in images]
    if kinds.count("REPRESENTATION") != 1:
        errors.add(where, f"exactly one REPRESENTATION image is needed, not {kinds.count('REPRESENTATION')}")
    if kinds.count("DETAIL") > DETAIL_IMAGES_MAX:
        errors.add(where, f"at most {DETAIL_IMAGES_MAX} DETAIL images, not {kinds.count('DETAIL')}")
    for index, image in enumerate(images):
        here = f"{where}[{index}]"
        if not isinstance(image, Mapping):
            errors.add(here, "each image must be a JSON object")
            continue
        if image.get("imageType") not in IMAGE_TYPES:
            errors.add(f"{here}.imageType", f"imageType must be one of {', '.join(sorted(IMAGE_TYPES))}")
        _image_paths(errors, image, here)
        _image_hints(errors, image, here)


def _image_paths(errors: _Errors, image: Mapping[str, Any], here: str) -> None:
    paths = {key: image.get(key) for key in ("cdnPath", "vendorPath") if image.get(key) not in (None, "")}
    if not paths:
        errors.add(here, "an image needs a cdnPath or a vendorPath")
    for key, path in paths.items():
        if not isinstance(path, str) or len(path) > IMAGE_PATH_MAX:
            errors.add(f"{here}.{key}", f"{key} must be at most {IMAGE_PATH_MAX} characters")
            continue
        suffix = urlsplit(path).path.lower().rsplit("/", 1)[-1]
        if "." in suffix and not suffix.endswith(IMAGE_EXTENSIONS):
            errors.add(f"{here}.{key}", "images must be JPG or PNG files")


def _image_hints(errors: _Errors, image: Mapping[str, Any], here: str) -> None:
    width, height, size = (image.get(key) for key in IMAGE_HINTS)
    low, high = IMAGE_PIXELS
    # The oblong representative image has limits of its own (500x290 to 5,000x2,900).
    if (width is not None or height is not None) and image.get("imageType") != "REP_OBLONG_ORIGIN":
        w, h = _whole(width), _whole(height)
        if w is None or h is None:
            errors.add(f"{here}.width", "width and height, when given, must both be whole numbers of pixels")
        elif w != h:
            errors.add(f"{here}.width", f"the image must be square, not {w}x{h}")
        elif not (low <= w <= high and low <= h <= high):
            errors.add(f"{here}.width", f"the image must be {low} to {high:,} pixels a side, not {w}x{h}")
    if size is not None:
        n = _whole(size)
        if n is None or n > IMAGE_BYTES_MAX:
            errors.add(f"{here}.bytes", "the image must be at most 3 MB")
