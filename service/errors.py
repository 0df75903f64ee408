"""HTTP errors: one place maps failures to ``{"error": {"code", "message"}}`` answers.

Exception tree::

    ApiError                 an answer with a status and a snake_case code
    service.db.StorageUnavailable   -> 503 storage_unavailable
    service.views.BadQuery          -> 400 bad_query
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.db import StorageUnavailable
from service.views import BadQuery

log = logging.getLogger("orderwatch.http")


class ApiError(Exception):
    """An error answer: HTTP ``status``, a snake_case ``code`` and a human message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra  # more fields of the error object (e.g. a 409's allowed commands)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The contract's error shape (``extra`` adds fields to the error object)."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, **exc.extra)


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    db = getattr(request.app.state, "db", None)
    if db is not None:
        db.outage.refused(exc)
    else:
        log.warning("storage unavailable: %s", exc)
    return error_response(503, "storage_unavailable", "the database is unavailable; retry later")


async def bad_query(_request: Request, exc: Exception) -> Response:
    return error_response(400, "bad_query", str(exc))


async def http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


async def server_error(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "internal error")


HANDLERS = {
    ApiError: api_error,
    StorageUnavailable: storage_unavailable,
    BadQuery: bad_query,
    HTTPException: http_exception,
    Exception: server_error,
}
