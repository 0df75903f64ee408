"""The conformance corpus: the marketplaces' own published samples, as kept in tests/conformance/samples.

The samples decide what is right; the sandboxes are checked against them, never the other way round.
Shopee's files come from tests/conformance/extract_shopee.py (each names its source repository, path and
commit). Tests take a sample's parsed JSON and may adapt ids and times to their world, never its shape.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "samples"


@cache
def _load(platform: str, name: str) -> dict[str, Any]:
    path = SAMPLES / platform / f"{name}.json"
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def api(platform: str, name: str) -> dict[str, Any]:
    """The corpus entry of one API (a deep copy: tests may adapt it freely)."""
    return copy.deepcopy(_load(platform, name))


def shopee(name: str) -> dict[str, Any]:
    """Shopee's entry by API name, e.g. ``shopee("v2.logistics.ship_order")``."""
    return api("shopee", name)


def response_sample(platform: str, name: str, index: int = 0) -> Any:
    """The parsed JSON of a published success sample."""
    return api(platform, name)["response_samples"][index]["json"]


def error_examples(platform: str, name: str) -> list[Any]:
    """The parsed JSON of every published error example."""
    return [example["json"] for example in api(platform, name)["error_examples"]]


def entries(platform: str) -> list[dict[str, Any]]:
    """Every entry of a platform's corpus."""
    return [api(platform, path.stem) for path in sorted((SAMPLES / platform).glob("*.json"))]


def by_path(platform: str) -> dict[str, dict[str, Any]]:
    """A platform's entries by their API path (``/api/v2/...`` for Shopee)."""
    return {entry["path"]: entry for entry in entries(platform)}
