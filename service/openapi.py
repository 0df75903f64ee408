"""``GET /openapi.json``: the OpenAPI 3.1 document of the HTTP contract, built once.

Each endpoint is one entry of ``PATHS``, written with the helpers below (``_get``,
``_param``, ``_json``, ``_errors``); shapes are in ``SCHEMAS`` and referenced with
``_ref``. tests/service/test_openapi.py runs schemathesis against the live app with this
document, so an endpoint added to ``service.app.ROUTES`` belongs here too.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from statemachines.listing import LISTING_STATES
from statemachines.machines import ORDER_STATES, PACKAGE_STATES
from statemachines.maps import PLATFORMS

Json = dict[str, Any]

ERROR_TEXT = {
    400: "The request is malformed (the message names the parameter)",
    401: "No valid Bearer token (or, for a webhook, no valid signature)",
    403: "The token's role may not do this, or no tokens are configured and the client is not loopback",
    404: "Not found",
    409: "Not allowed from the current state",
    413: "The body is too large",
    503: "The database is unavailable; retry later",
}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(required: dict[str, Json], optional: dict[str, Json] | None = None) -> Json:
    """An object schema; extra properties are allowed (fields may be added, never removed)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Json]:
    return {str(s): _json(_ref("Error"), ERROR_TEXT[s]) for s in statuses}


def _param(name: str, where: str, schema: Json, description: str, required: bool = False) -> Json:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def _get(summary: str, ok: Json, params: list[Json] | None = None, errors: tuple[int, ...] = ()) -> Json:
    """A read of the status API: Bearer (viewer) or loopback, 401/403 besides ``errors``."""
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": ok, **_errors(*sorted({401, 403, 503, *errors}))},
        }
    }


def _post(summary: str, body: Json, ok: Json, params: list[Json]) -> Json:
    """A command of the status API: Bearer (operator) only."""
    return {
        "post": {
            "summary": summary,
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": ok, **_errors(400, 401, 403, 404, 409, 413, 503)},
        }
    }


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
PLATFORM = {"type": "string", "enum": list(PLATFORMS)}
ORDER_STATE = {"type": "string", "enum": list(ORDER_STATES)}
PACKAGE_STATE = {"type": "string", "enum": list(PACKAGE_STATES)}

PLATFORM_PARAM = _param("platform", "path", PLATFORM, "shopee or coupang")
ORDER_ID_PARAM = _param("order_id", "path", STRING, "Shopee ordersn or Coupang orderId")
PACKAGE_ID_PARAM = _param("package_id", "path", STRING, "Shopee package_number or Coupang shipmentBoxId")

SCHEMAS: dict[str, Json] = {
    "Error": _object(
        {"error": _object({"code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "message": STRING})}
    ),
    "Transition": _object(
        {
            "from": STRING,
            "to": STRING,
            "trigger": STRING,
            "at": TIME,
            "source": {"type": "string", "enum": ["push", "poll", "command", "action", "replay"]},
            "event_id": _nullable({"type": "integer"}),
            "catch_up": {"type": "boolean"},
        },
        {"actor": _nullable(STRING), "reason": _nullable(STRING)},
    ),
    "Checkpoint": _object(
        {"at": TIME, "description": STRING, "location": _nullable(STRING), "raw_status": STRING}
    ),
    "Package": _object(
        {
            "platform": PLATFORM,
            "package_id": STRING,
            "order_id": STRING,
            "state": PACKAGE_STATE,
            "carrier": _nullable(STRING),
            "tracking_number": _nullable(STRING),
            "updated_at": TIME,
        },
        {
            "history": {"type": "array", "items": _ref("Transition")},
            "checkpoints": {"type": "array", "items": _ref("Checkpoint")},
        },
    ),
    "PackageDetail": {"allOf": [_ref("Package"), {"required": ["history", "checkpoints"]}]},
    "Order": _object(
        {
            "platform": PLATFORM,
            "order_id": STRING,
            "shop_id": STRING,
            "main_shop_id": _nullable(STRING),
            "state": ORDER_STATE,
            "platform_status": _nullable(STRING),
            "created_at": TIME,
            "updated_at": TIME,
            "packages": {"type": "array", "items": _ref("Package")},
        },
        {"history": {"type": "array", "items": _ref("Transition")}},
    ),
    "OrderDetail": {
        "allOf": [
            _ref("Order"),
            _object(
                {
                    "packages": {"type": "array", "items": _ref("PackageDetail")},
                    "history": {"type": "array", "items": _ref("Transition")},
                }
            ),
        ]
    },
    "OrderPage": _object(
        {
            "orders": {"type": "array", "items": _ref("Order")},
            "next_cursor": _nullable(STRING),
        }
    ),
    "Alert": _object(
        {
            "id": {"type": "integer"},
            "kind": STRING,
            "platform": PLATFORM,
            "order_id": STRING,
            "package_id": _nullable(STRING),
            "state": {"type": "string", "enum": ["open", "resolved"]},
            "opened_at": TIME,
            "resolved_at": _nullable(TIME),
            "message": STRING,
        }
    ),
    "Job": _object(
        {
            "id": {"type": "integer"},
            "key": STRING,
            "kind": STRING,
            "platform": STRING,
            "order_id": STRING,
            "package_id": _nullable(STRING),
            "state": {"type": "string", "enum": ["pending", "running", "done", "dead"]},
            "attempts": {"type": "integer", "minimum": 0},
            "run_after": TIME,
            "last_error": _nullable(STRING),
            "worker": _nullable(STRING),
        }
    ),
    "Status": _object({"status": STRING}),
    "Change": _object(
        {
            "cursor": STRING,
            "kind": {"type": "string", "enum": ["order", "package", "checkpoint"]},
            "platform": PLATFORM,
            "order_id": STRING,
            "package_id": _nullable(STRING),
            "state": _nullable(STRING),
            "at": TIME,
            "committed_at": TIME,
        },
        {
            "from": STRING,
            "to": STRING,
            "trigger": STRING,
            "source": STRING,
            "event_id": _nullable({"type": "integer"}),
            "catch_up": {"type": "boolean"},
            "actor": _nullable(STRING),
            "reason": _nullable(STRING),
            "retracted": {"type": "boolean"},
            "checkpoint": _ref("Checkpoint"),
        },
    ),
    "Product": _object(
        {
            "platform": {"type": "string", "enum": ["coupang"]},
            "seller_product_id": STRING,
            "name": _nullable(STRING),
            "state": {"type": "string", "enum": list(LISTING_STATES)},
            "status_name": _nullable(STRING),
            "vendor_item_ids": {"type": "array", "items": STRING},
            "items": {"type": "array", "items": {"type": "object"}},
            "rejection_reason": _nullable(STRING),
            "origin": {"type": "string", "enum": ["registered", "tracked"]},
            "last_error": _nullable(STRING),
            "created_at": TIME,
            "updated_at": TIME,
        },
        {"history": {"type": "array", "items": {"type": "object"}}},
    ),
}

_SIGNED_PUSH = {
    "parameters": [
        _param(
            "Authorization",
            "header",
            STRING,
            "hex HMAC-SHA256 of `<push url>|<raw body>` under the key",
            required=True,
        )
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "security": [],
}

PATHS: dict[str, Json] = {
    "/webhooks/shopee": {
        "post": {
            "summary": "A Shopee push (order status, tracking number, …), signed with the partner key",
            **_SIGNED_PUSH,
            "responses": {
                "200": {"description": "Stored durably (or already stored); empty body"},
                **_errors(400, 401, 413, 503),
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "The process is alive",
            "security": [],
            "responses": {"200": _json(_ref("Status"), "Alive")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "The database is reachable",
            "security": [],
            "responses": {"200": _json(_ref("Status"), "Ready"), **_errors(503)},
        }
    },
    "/v1/orders": _get(
        "Orders with their packages (no histories), oldest id first, keyset-paginated",
        _json(_ref("OrderPage"), "A page of orders; follow next_cursor for the next"),
        [
            _param("state", "query", ORDER_STATE, "only orders in this state"),
            _param("platform", "query", PLATFORM, "only this marketplace"),
            _param("shop_id", "query", STRING, "only this shop (or outlets of this main shop)"),
            _param("updated_since", "query", TIME, "only orders updated at or after this time"),
            _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            _param("cursor", "query", STRING, "next_cursor of the previous page"),
        ],
        (400,),
    ),
    "/v1/orders/{platform}/{order_id}": _get(
        "One order with its packages (each with history and checkpoints) and its history",
        _json(_ref("OrderDetail"), "The order"),
        [PLATFORM_PARAM, ORDER_ID_PARAM],
        (404,),
    ),
    "/v1/packages/{platform}/{package_id}": _get(
        "One package with its history and checkpoints",
        _json(_ref("PackageDetail"), "The package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
        (404,),
    ),
    "/v1/packages/{platform}/{package_id}/airway-bill": _get(
        "The package's airway bill (shipping document) as the marketplace made it",
        {
            "description": "The document (PDF as a rule)",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
        (404,),
    ),
    "/v1/alerts": _get(
        "Alerts, newest first",
        _json(_object({"alerts": {"type": "array", "items": _ref("Alert")}}), "The alerts"),
        [_param("state", "query", {"type": "string", "enum": ["open", "resolved"]}, "only these")],
        (400,),
    ),
    "/v1/jobs": _get(
        "Outbox jobs (marketplace actions, alert deliveries) with their tries, newest first",
        _json(_object({"jobs": {"type": "array", "items": _ref("Job")}}), "The jobs"),
        [
            _param(
                "state",
                "query",
                {"type": "string", "enum": ["pending", "running", "done", "dead"]},
                "only these",
            )
        ],
        (400,),
    ),
    "/v1/products": {
        **_get(
            "Coupang products followed through their approval (vendorItemIds once approved), newest first",
            _json(_object({"products": {"type": "array", "items": _ref("Product")}}), "The products"),
            [_param("state", "query", {"type": "string", "enum": list(LISTING_STATES)}, "only these")],
            (400,),
        ),
        "post": {
            "summary": "Register a Coupang product (a seller-products body, checked against Coupang's "
            'documented limits before any call), or follow one: {"sellerProductId": n} (operator)',
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": _json(_ref("Product"), "Already followed"),
                "201": _json(_ref("Product"), "Registered (or now followed)"),
                "422": _json(
                    _ref("Error"),
                    "The body breaks Coupang's limits (error.fields: [{field, message}]; nothing was "
                    "sent), or Coupang refused it",
                ),
                "502": _json(_ref("Error"), "Coupang refused orderwatch's credentials"),
                **_errors(400, 401, 403, 413, 503),
            },
        },
    },
    "/v1/products/{seller_product_id}": _get(
        "One followed Coupang product with its approval history",
        _json(_ref("Product"), "The product"),
        [_param("seller_product_id", "path", STRING, "Coupang sellerProductId")],
        (404,),
    ),
    "/v1/orders/{platform}/{order_id}/commands": _post(
        "Fire an operator command (a trigger) on an order; it is journaled with the token's name "
        "and the reason (operator). 409 names the allowed commands (error.allowed)",
        _object({"command": STRING}, {"reason": STRING}),
        _json(_ref("OrderDetail"), "The updated order"),
        [PLATFORM_PARAM, ORDER_ID_PARAM],
    ),
    "/v1/packages/{platform}/{package_id}/commands": _post(
        "Fire an operator command (hold, release, cancel, lose) on a package (operator)",
        _object({"command": STRING}, {"reason": STRING}),
        _json(_ref("PackageDetail"), "The updated package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
    ),
    "/v1/packages/{platform}/{package_id}/tracking": _post(
        "Give a package its carrier and tracking number (operator); it moves to ready_for_pickup",
        _object({"carrier": STRING, "tracking_number": STRING}),
        _json(_ref("PackageDetail"), "The updated package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
    ),
    "/v1/changes": _get(
        "Every state change and new checkpoint in commit order, after a cursor",
        _json(
            _object({"changes": {"type": "array", "items": _ref("Change")}, "next": STRING}),
            "A page of changes; resume with after=next",
        ),
        [
            _param(
                "after", "query", {"type": "string", "pattern": "^[0-9]+$"}, "a cursor (0: from the start)"
            ),
            _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
        ],
        (400,),
    ),
    "/v1/stream": _get(
        "The change feed as server-sent events (event: change, id: cursor, data: a Change); resumes "
        "after Last-Event-ID or ?after=, else starts at the current end; keep-alive comments",
        {"description": "An endless event stream", "content": {"text/event-stream": {"schema": STRING}}},
        [
            _param("after", "query", {"type": "string", "pattern": "^[0-9]+$"}, "a cursor"),
            _param("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]+$"}, "the last id seen"),
        ],
        (400,),
    ),
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (text exposition format)",
            "security": [],
            "responses": {
                "200": {
                    "description": "The metrics",
                    "content": {"text/plain": {"schema": STRING}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
        }
    },
}


def document() -> Json:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orderwatch",
            "version": "1",
            "description": "Shopee and Coupang orders and parcels through state machines: "
            "marketplace webhooks in, the status API and change feed out. Reads take a viewer "
            "or operator Bearer token (or, with no tokens configured, come from loopback); "
            "commands take an operator token.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    """Serve the document (built once per application)."""
    state = request.app.state
    built = getattr(state, "openapi_response", None)
    if built is None:
        built = state.openapi_response = JSONResponse(document())
    return Response(built.body, media_type="application/json")
