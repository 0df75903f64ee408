"""The OpenAPI document is true: schemathesis against the live app over real HTTP finds no
server error and no answer that the document does not describe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from starlette.routing import Route

from service.app import create_app
from service.auth import parse_tokens
from service.db import Database
from service.ingest import ingest
from service.openapi import document
from service.settings import Secret, Settings
from tests.factories import order_event, package_event
from tests.live_server import serve
from tests.shopee_pushes import KEY

OPERATOR = "operator-secret-for-schemathesis"
# The event stream never ends by itself: tests/service/test_stream.py tests it.
SCHEMA = schemathesis.openapi.from_dict(document()).exclude(path="/v1/stream")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@dataclass
class Live:
    base: str


@pytest.fixture
def live(db: Database, database_url: str) -> Iterator[Live]:
    """The app on loopback with an operator token, a few orders, packages and an alert."""
    ingest(
        db,
        [
            order_event("SCHEMA1", "READY_TO_SHIP", 1),
            package_event("SCHEMA1", "PKG1", "LOGISTICS_PICKUP_DONE", 5),
            order_event("SCHEMA2", "IN_CANCEL", 2),
            order_event("SCHEMA3", "UNPAID", 3, shop_id="2002"),
        ],
    )
    settings = Settings(
        database_url=database_url,
        api_tokens=parse_tokens(f"ops:{OPERATOR}:operator"),
        shopee_partner_keys=(Secret(KEY),),
    )
    with serve(create_app(settings, db)) as base:
        yield Live(base)


@SCHEMA.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_app_answers_as_its_openapi_document_says(case: schemathesis.Case[Any], live: Live) -> None:
    case.call_and_validate(
        base_url=live.base, headers={"Authorization": f"Bearer {OPERATOR}"}, checks=CHECKS, timeout=10
    )


def test_every_route_and_method_is_in_the_document() -> None:
    paths = document()["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}
    routes = [r for r in create_app(Settings()).routes if isinstance(r, Route)]  # core's and marketplaces'
    served = {(route.path, method) for route in routes for method in route.methods or () if method != "HEAD"}
    assert {"/webhooks/shopee", "/v1/products"} <= {path for path, _ in served}
    assert served - documented == set()


def test_the_document_is_served_as_openapi_3_1(live: Live) -> None:
    answer = httpx.get(f"{live.base}/openapi.json")
    assert answer.status_code == 200
    served = answer.json()
    assert served["openapi"] == "3.1.0"
    assert served["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert "/v1/orders" in served["paths"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/orders?shop_id=%00", 400),
        ("/v1/orders?cursor=bzoxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw", 400),  # o:10**30
        ("/v1/orders?updated_since=0001-01-01T00:00:00%2B05:00", 400),  # before year 1 in UTC
        ("/v1/orders/shopee/a%00b", 404),
        ("/v1/packages/shopee/a%00b", 404),
        ("/v1/packages/shopee/a%00b/airway-bill", 404),
    ],
)
def test_inputs_that_once_made_server_errors_are_refused_in_the_error_shape(
    live: Live, path: str, status: int
) -> None:
    answer = httpx.get(f"{live.base}{path}", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert answer.status_code == status
    assert answer.json()["error"]["code"] in {"bad_query", "not_found"}
