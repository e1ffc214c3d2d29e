"""The one place where domain errors and framework errors become HTTP error bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from ticketmaster.adapters.postgres.pool import CONNECTION_ERRORS
from ticketmaster.adapters.redis.client import REDIS_DOWN, connection_broke
from ticketmaster.domain import errors
from ticketmaster.entrypoints.http.responses import json_response

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidRequest: 422,
    errors.MalformedRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotOnSale: 403,
    errors.AdmissionRequired: 403,
    errors.NotFound: 404,
    errors.SeatsUnavailable: 409,
    errors.HoldLimitExceeded: 409,
    errors.HoldNotActive: 409,
    errors.IdempotencyConflict: 422,
    errors.RateLimited: 429,
    errors.Overloaded: 503,
    errors.Unavailable: 503,
}
RETRY_AFTER_SECONDS = {errors.RateLimited: "1", errors.Overloaded: "1", errors.Unavailable: "2"}

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, /, **extra: object
) -> Response:
    """An error body; ``extra`` fields may use any name (e.g. a hold's ``status``)."""
    return json_response({"error": code, "message": message, **extra}, status, headers)


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.DomainError)
    return domain_error_response(exc, request.method, request.url.path)


def domain_error_response(exc: errors.DomainError, method: str, path: str) -> Response:
    """The HTTP answer to a domain error (hot routes return it instead of raising)."""
    status = STATUS.get(type(exc)) or next((c for t, c in STATUS.items() if isinstance(exc, t)), 422)
    headers = {}
    extra = dict(exc.extra)
    retry = extra.pop("retry_after", None) or RETRY_AFTER_SECONDS.get(type(exc))
    if retry is not None:
        headers["Retry-After"] = str(retry)
    if isinstance(exc, errors.Unavailable):
        log.warning("dependency unavailable on %s %s: %s", method, path, exc)
    return error_response(status, exc.code, exc.message, headers, **extra)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request" if exc.status_code < 500 else "internal")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in {"body", "query"}),
            "problem": e.get("msg", "invalid"),
        }
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": "", "problem": "invalid"}
    message = f"{first['field'] or 'request'}: {first['problem']}"
    return error_response(422, "invalid_request", message, problems=problems)


async def _dependency_down(request: Request, exc: Exception) -> Response:
    log.warning("dependency down on %s %s: %r", request.method, request.url.path, exc)
    return error_response(
        503,
        "unavailable",
        "a dependency (PostgreSQL or Redis) is unreachable; nothing was written",
        {"Retry-After": RETRY_AFTER_SECONDS[errors.Unavailable]},
    )


async def _maybe_dependency_down(request: Request, exc: Exception) -> Response:
    """A Redis connection that broke inside redis-py (a Cluster node gone mid-request) is a
    dependency down; anything else of these types is a bug of ours."""
    if connection_broke(exc):
        return await _dependency_down(request, exc)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    for exc_type in dict.fromkeys(CONNECTION_ERRORS + REDIS_DOWN):
        app.add_exception_handler(exc_type, _dependency_down)
    # Handled here, not by the catch-all below, which Starlette re-raises to the server.
    for exc_type in (RuntimeError, AttributeError, TypeError):
        app.add_exception_handler(exc_type, _maybe_dependency_down)
    app.add_exception_handler(Exception, _unexpected)
