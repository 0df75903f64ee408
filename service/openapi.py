"""``GET /openapi.json``: the OpenAPI 3.1 document of the HTTP contract, built once.

Each endpoint is one entry of ``PATHS``, written with the helpers of
service/openapi_parts.py (``get``, ``post``, ``param``, ``content``, ``errors``); shapes are
in its ``SCHEMAS`` and referenced with ``ref``. tests/service/test_openapi.py runs
schemathesis against the live app with this document, so an endpoint added to
``service.app.ROUTES`` belongs here too.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.openapi_parts import (
    ERROR_TEXT,
    ORDER_ID_PARAM,
    ORDER_STATE,
    PACKAGE_ID_PARAM,
    PLATFORM,
    PLATFORM_PARAM,
    SCHEMAS,
    STRING,
    TIME,
    Json,
    content,
    errors,
    get,
    nullable,
    obj,
    param,
    post,
    ref,
)
from statemachines.listing import LISTING_STATES


def html(description: str) -> Json:
    """An HTML answer."""
    return {"description": description, "content": {"text/html": {"schema": STRING}}}


HTML_PAGE = {
    "200": html("The page"),
    "401": html("A sign-in page: a viewer or operator token is needed"),
    "403": html("No tokens are configured and the client is not loopback"),
    "503": content(ref("Error"), ERROR_TEXT[503]),
}

_SIGNED_PUSH = {
    "parameters": [
        param(
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

_FAILED_PUSH = obj(
    {
        "id": {"type": "integer"},
        "platform": STRING,
        "code": {"type": "integer"},
        "shop_id": nullable(STRING),
        "ordersn": nullable(STRING),
        "received_at": TIME,
        "failed_at": nullable(TIME),
        "error": nullable(STRING),
        "state": {"type": "string", "enum": ["failed", "applied", "unapplied"]},
    }
)

PATHS: dict[str, Json] = {
    "/webhooks/shopee": {
        "post": {
            "summary": "A Shopee push (order status, tracking number, …), signed with the partner key",
            **_SIGNED_PUSH,
            "responses": {
                "200": {"description": "Stored durably (or already stored); empty body"},
                **errors(400, 401, 413, 503),
            },
        }
    },
    "/webhooks/coupang": {
        "post": {
            "summary": (
                "Coupang order sheets (a list or single-sheet answer, or a bare sheet) or a product, "
                "in Coupang's own shapes, from a seller's own poller; signed with ORDERWATCH_INGEST_SECRET"
            ),
            **_SIGNED_PUSH,
            "responses": {
                "200": {"description": "Stored and ingested durably (or already stored); empty body"},
                **errors(400, 401, 413, 503),
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "The process is alive",
            "security": [],
            "responses": {"200": content(ref("Status"), "Alive")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "The database is reachable",
            "security": [],
            "responses": {"200": content(ref("Status"), "Ready"), **errors(503)},
        }
    },
    "/v1/orders": get(
        "Orders with their packages (no histories), oldest id first, keyset-paginated",
        content(ref("OrderPage"), "A page of orders; follow next_cursor for the next"),
        [
            param("state", "query", ORDER_STATE, "only orders in this state"),
            param("platform", "query", PLATFORM, "only this marketplace"),
            param("shop_id", "query", STRING, "only this shop (or outlets of this main shop)"),
            param("updated_since", "query", TIME, "only orders updated at or after this time"),
            param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            param("cursor", "query", STRING, "next_cursor of the previous page"),
        ],
        (400,),
    ),
    "/v1/orders/{platform}/{order_id}": get(
        "One order with its packages (each with history and checkpoints) and its history",
        content(ref("OrderDetail"), "The order"),
        [PLATFORM_PARAM, ORDER_ID_PARAM],
        (404,),
    ),
    "/v1/packages/{platform}/{package_id}": get(
        "One package with its history and checkpoints",
        content(ref("PackageDetail"), "The package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
        (404,),
    ),
    "/v1/packages/{platform}/{package_id}/airway-bill": get(
        "The package's airway bill (shipping document) as the marketplace made it",
        {
            "description": "The document (PDF as a rule)",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
        (404,),
    ),
    "/v1/alerts": get(
        "Alerts, newest first",
        content(obj({"alerts": {"type": "array", "items": ref("Alert")}}), "The alerts"),
        [param("state", "query", {"type": "string", "enum": ["open", "resolved"]}, "only these")],
        (400,),
    ),
    "/v1/jobs": get(
        "Outbox jobs (marketplace actions, alert deliveries) with their tries, newest first",
        content(obj({"jobs": {"type": "array", "items": ref("Job")}}), "The jobs"),
        [
            param(
                "state",
                "query",
                {"type": "string", "enum": ["pending", "running", "done", "dead"]},
                "only these",
            )
        ],
        (400,),
    ),
    "/v1/pushes": get(
        "Stored (acknowledged) pushes that failed to apply, oldest first, keyset-paginated; no "
        "bodies, the body's data.ordersn stands for it",
        content(
            obj({"pushes": {"type": "array", "items": _FAILED_PUSH}, "next_cursor": nullable(STRING)}),
            "A page of failed pushes; follow next_cursor for the next",
        ),
        [
            param("state", "query", {"type": "string", "enum": ["failed"]}, "failed (the default)"),
            param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            param("cursor", "query", STRING, "next_cursor of the previous page"),
        ],
        (400,),
    ),
    "/v1/pushes/{push_id}/reapply": {
        "post": {
            "summary": "Apply a failed push again after a fix (operator), exactly once in effect: its "
            "events are journaled under their dedupe keys with the token's name as actor; the "
            "push_failed alert resolves once none of its pushes is left failed",
            "parameters": [param("push_id", "path", {"type": "string", "pattern": "^[0-9]+$"}, "push id")],
            "responses": {
                "200": content(
                    obj({"push": _FAILED_PUSH, "events": {"type": "integer"}}),
                    "Applied: the push as it is now (state applied) and how many events it held",
                ),
                "409": content(ref("Error"), "push_not_failed: the push is applied, or not tried yet"),
                "422": content(ref("Error"), "push_still_fails: it failed again (the message says why)"),
                **errors(401, 403, 404, 503),
            },
        }
    },
    "/v1/products": {
        **get(
            "Coupang products followed through their approval (vendorItemIds once approved), newest first",
            content(obj({"products": {"type": "array", "items": ref("Product")}}), "The products"),
            [param("state", "query", {"type": "string", "enum": list(LISTING_STATES)}, "only these")],
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
                "200": content(ref("Product"), "Already followed"),
                "201": content(ref("Product"), "Registered (or now followed)"),
                "422": content(
                    ref("Error"),
                    "The body breaks Coupang's limits (error.fields: [{field, message}]; nothing was "
                    "sent), or Coupang refused it",
                ),
                "502": content(ref("Error"), "Coupang refused orderwatch's credentials"),
                **errors(400, 401, 403, 413, 503),
            },
        },
    },
    "/v1/products/{seller_product_id}": get(
        "One followed Coupang product with its approval history",
        content(ref("Product"), "The product"),
        [param("seller_product_id", "path", STRING, "Coupang sellerProductId")],
        (404,),
    ),
    "/v1/orders/{platform}/{order_id}/commands": post(
        "Fire an operator command (a trigger) on an order; it is journaled with the token's name "
        "and the reason (operator). 409 names the allowed commands (error.allowed)",
        obj({"command": STRING}, {"reason": STRING}),
        content(ref("OrderDetail"), "The updated order"),
        [PLATFORM_PARAM, ORDER_ID_PARAM],
    ),
    "/v1/packages/{platform}/{package_id}/commands": post(
        "Fire an operator command (hold, release, cancel, lose) on a package (operator)",
        obj({"command": STRING}, {"reason": STRING}),
        content(ref("PackageDetail"), "The updated package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
    ),
    "/v1/packages/{platform}/{package_id}/tracking": post(
        "Give a package its carrier and tracking number (operator); it moves to ready_for_pickup",
        obj({"carrier": STRING, "tracking_number": STRING}),
        content(ref("PackageDetail"), "The updated package"),
        [PLATFORM_PARAM, PACKAGE_ID_PARAM],
    ),
    "/v1/changes": get(
        "Every state change and new checkpoint in commit order, after a cursor",
        content(
            obj({"changes": {"type": "array", "items": ref("Change")}, "next": STRING}),
            "A page of changes; resume with after=next",
        ),
        [
            param(
                "after", "query", {"type": "string", "pattern": "^[0-9]+$"}, "a cursor (0: from the start)"
            ),
            param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
        ],
        (400,),
    ),
    "/v1/stream": get(
        "The change feed as server-sent events (event: change, id: cursor, data: a Change); resumes "
        "after Last-Event-ID or ?after=, else starts at the current end; keep-alive comments",
        {"description": "An endless event stream", "content": {"text/event-stream": {"schema": STRING}}},
        [
            param("after", "query", {"type": "string", "pattern": "^[0-9]+$"}, "a cursor"),
            param("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]+$"}, "the last id seen"),
        ],
        (400,),
    ),
    "/": {
        "get": {
            "summary": "The dashboard: counts per platform, shop and state, open alerts, and the order "
            "list (search by order id prefix, shop, state, platform; keyset pages). Viewer: a Bearer "
            "token, the sign-in cookie (POST /sign-in), or loopback when no tokens are configured",
            "parameters": [
                param("q", "query", STRING, "order id or its start"),
                param("shop", "query", STRING, "shop id (or main shop id)"),
                param("state", "query", STRING, "an order state (others are ignored)"),
                param("platform", "query", STRING, "shopee or coupang (others are ignored)"),
                param("cursor", "query", STRING, "the next page link's cursor"),
                param("partial", "query", STRING, "1: only the live part of the page"),
            ],
            "responses": HTML_PAGE,
        }
    },
    "/sign-in": {
        "post": {
            "summary": "The dashboard's sign-in form: the token is checked and kept in a cookie "
            "(HttpOnly, SameSite=Strict), never taken from an address",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string", "description": "a viewer or operator token"},
                                "next": {"type": "string", "description": "this site's page to go back to"},
                            },
                            "required": ["token"],
                        }
                    }
                },
            },
            "responses": {
                "303": {"description": "Signed in: the cookie is set; back to `next`"},
                "401": html("The token was refused: the sign-in page again"),
                "403": html("No tokens are configured and the client is not loopback"),
                "413": html("The form is larger than 4 KiB"),
            },
        }
    },
    "/orders/{platform}/{order_id}": {
        "get": {
            "summary": "The dashboard's order page: packages, checkpoints and the timeline",
            "parameters": [
                param("platform", "path", STRING, "shopee or coupang"),
                ORDER_ID_PARAM,
                param("partial", "query", STRING, "1: only the live part of the page"),
            ],
            "responses": {**HTML_PAGE, "404": html("No such order")},
        }
    },
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
            "responses": {"200": content({"type": "object"}, "OpenAPI 3.1")},
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
