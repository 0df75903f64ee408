"""Building blocks of the OpenAPI document: helpers that write schemas and operations, and
the shapes (``SCHEMAS``) that endpoints refer to with ``ref``."""

from __future__ import annotations

from typing import Any

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


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Json], optional: dict[str, Json] | None = None) -> Json:
    """An object schema; extra properties are allowed (fields may be added, never removed)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def content(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Json]:
    return {str(s): content(ref("Error"), ERROR_TEXT[s]) for s in statuses}


def param(name: str, where: str, schema: Json, description: str, required: bool = False) -> Json:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def get(summary: str, ok: Json, params: list[Json] | None = None, statuses: tuple[int, ...] = ()) -> Json:
    """A read of the status API: Bearer (viewer) or loopback, 401/403 besides ``statuses``."""
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": ok, **errors(*sorted({401, 403, 503, *statuses}))},
        }
    }


def post(summary: str, body: Json, ok: Json, params: list[Json]) -> Json:
    """A command of the status API: Bearer (operator) only."""
    return {
        "post": {
            "summary": summary,
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": ok, **errors(400, 401, 403, 404, 409, 413, 503)},
        }
    }


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
PLATFORM = {"type": "string", "enum": list(PLATFORMS)}
ORDER_STATE = {"type": "string", "enum": list(ORDER_STATES)}
PACKAGE_STATE = {"type": "string", "enum": list(PACKAGE_STATES)}

PLATFORM_PARAM = param("platform", "path", PLATFORM, "shopee or coupang")
ORDER_ID_PARAM = param("order_id", "path", STRING, "Shopee ordersn or Coupang orderId")
PACKAGE_ID_PARAM = param("package_id", "path", STRING, "Shopee package_number or Coupang shipmentBoxId")

SCHEMAS: dict[str, Json] = {
    "Error": obj(
        {"error": obj({"code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "message": STRING})}
    ),
    "Transition": obj(
        {
            "from": STRING,
            "to": STRING,
            "trigger": STRING,
            "at": TIME,
            "source": {"type": "string", "enum": ["push", "poll", "command", "action", "replay"]},
            "event_id": nullable({"type": "integer"}),
            "catch_up": {"type": "boolean"},
        },
        {"actor": nullable(STRING), "reason": nullable(STRING)},
    ),
    "Checkpoint": obj(
        {"at": TIME, "description": STRING, "location": nullable(STRING), "raw_status": STRING}
    ),
    "Package": obj(
        {
            "platform": PLATFORM,
            "package_id": STRING,
            "order_id": STRING,
            "state": PACKAGE_STATE,
            "carrier": nullable(STRING),
            "tracking_number": nullable(STRING),
            "updated_at": TIME,
        },
        {
            "history": {"type": "array", "items": ref("Transition")},
            "checkpoints": {"type": "array", "items": ref("Checkpoint")},
        },
    ),
    "PackageDetail": {"allOf": [ref("Package"), {"required": ["history", "checkpoints"]}]},
    "Order": obj(
        {
            "platform": PLATFORM,
            "order_id": STRING,
            "shop_id": STRING,
            "main_shop_id": nullable(STRING),
            "state": ORDER_STATE,
            "platform_status": nullable(STRING),
            "created_at": TIME,
            "updated_at": TIME,
            "packages": {"type": "array", "items": ref("Package")},
        },
        {"history": {"type": "array", "items": ref("Transition")}},
    ),
    "OrderDetail": {
        "allOf": [
            ref("Order"),
            obj(
                {
                    "packages": {"type": "array", "items": ref("PackageDetail")},
                    "history": {"type": "array", "items": ref("Transition")},
                }
            ),
        ]
    },
    "OrderPage": obj(
        {
            "orders": {"type": "array", "items": ref("Order")},
            "next_cursor": nullable(STRING),
        }
    ),
    "Alert": obj(
        {
            "id": {"type": "integer"},
            "kind": STRING,
            "platform": PLATFORM,
            "order_id": STRING,
            "package_id": nullable(STRING),
            "state": {"type": "string", "enum": ["open", "resolved"]},
            "opened_at": TIME,
            "resolved_at": nullable(TIME),
            "message": STRING,
        }
    ),
    "Job": obj(
        {
            "id": {"type": "integer"},
            "key": STRING,
            "kind": STRING,
            "platform": STRING,
            "order_id": STRING,
            "package_id": nullable(STRING),
            "state": {"type": "string", "enum": ["pending", "running", "done", "dead"]},
            "attempts": {"type": "integer", "minimum": 0},
            "run_after": TIME,
            "last_error": nullable(STRING),
            "worker": nullable(STRING),
        }
    ),
    "Status": obj({"status": STRING}),
    "Change": obj(
        {
            "cursor": STRING,
            "kind": {"type": "string", "enum": ["order", "package", "checkpoint"]},
            "platform": PLATFORM,
            "order_id": STRING,
            "package_id": nullable(STRING),
            "state": nullable(STRING),
            "at": TIME,
            "committed_at": TIME,
        },
        {
            "from": STRING,
            "to": STRING,
            "trigger": STRING,
            "source": STRING,
            "event_id": nullable({"type": "integer"}),
            "catch_up": {"type": "boolean"},
            "actor": nullable(STRING),
            "reason": nullable(STRING),
            "retracted": {"type": "boolean"},
            "checkpoint": ref("Checkpoint"),
        },
    ),
    "Product": obj(
        {
            "platform": {"type": "string", "enum": ["coupang"]},
            "seller_product_id": STRING,
            "name": nullable(STRING),
            "state": {"type": "string", "enum": list(LISTING_STATES)},
            "status_name": nullable(STRING),
            "vendor_item_ids": {"type": "array", "items": STRING},
            "items": {"type": "array", "items": {"type": "object"}},
            "rejection_reason": nullable(STRING),
            "origin": {"type": "string", "enum": ["registered", "tracked"]},
            "last_error": nullable(STRING),
            "created_at": TIME,
            "updated_at": TIME,
        },
        {"history": {"type": "array", "items": {"type": "object"}}},
    ),
}
