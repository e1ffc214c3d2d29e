"""What ``/openapi.json`` says each operation can answer, in one table.

Every refusal of the API is a :class:`Refusal` below (status, code, when, an example
body); each route passes :func:`answers` its success and the refusals it can give, so the
schema lists every status code with the one error body (:class:`bodies.ErrorBody`) and an
example per code. Refusals that whole families of operations share (load shedding, an
engine down, the bearer token, a write's rate limit and body checks) are the sets
``SERVED``, ``AUTHED`` and ``WRITE``; those of the HTTP parser and the edge middlewares
(headers too large, a bad query, a body too large or not JSON), ``EDGE``, are added to
every operation. Links between operations (a hold's id to its purchase, and so on) let
Swagger UI and schemathesis's stateful phase follow the buyer's journey. The schemathesis
test (tests/e2e/test_openapi_conformance.py) keeps this table true to what a running
server answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Path
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ticketmaster.domain.holds import IDEMPOTENCY_KEY
from ticketmaster.entrypoints.http import parser_refusal
from ticketmaster.entrypoints.http.bodies import ErrorBody, json_pattern

Responses = dict[int | str, dict[str, Any]]

EventId = Annotated[str, Path(description="an event id", examples=["evt_0002"])]
HoldId = Annotated[str, Path(description="a hold id of the caller")]
PurchaseId = Annotated[str, Path(description="a purchase id of the caller")]
BookingId = Annotated[str, Path(description="a booking id of the caller")]

IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {"pattern": json_pattern(IDEMPOTENCY_KEY), "examples": ["try-1"]}
"""``json_schema_extra`` of an Idempotency-Key header (the use cases check it: 400 otherwise)."""

BEARER_SCHEME = "bearerAuth"
BEARER: dict[str, Any] = {"security": [{BEARER_SCHEME: []}]}
"""``openapi_extra`` of a route that needs ``Authorization: Bearer <token>`` (from POST /auth/guest)."""


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body that the route checks itself (inline schema)."""
    schema = {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}
    return {"requestBody": {"required": True, "content": {"application/json": schema}}}


_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}


@dataclass(frozen=True, slots=True, eq=False)
class Refusal:
    """One error answer: HTTP status, ``error`` code, when it is given, an example body
    (compared by identity: each constant below is one refusal)."""

    status: int
    code: str
    when: str
    example: dict[str, Any]


def _refusal(http_status: int, code: str, when: str, message: str, **extra: Any) -> Refusal:
    return Refusal(http_status, code, when, {"error": code, "message": message, **extra})


MALFORMED = _refusal(
    400,
    "invalid_request",
    "a required header is missing, or a header or the body cannot be parsed",
    "Idempotency-Key must be 1-255 printable ASCII characters without spaces",
    field="Idempotency-Key",
)
MISSING_QUEUE_TOKEN = _refusal(
    400,
    "invalid_request",
    "the X-Queue-Token header is missing",
    "missing X-Queue-Token header (join the queue first)",
)
UNAUTHORIZED = _refusal(
    401,
    "unauthorized",
    "the bearer token is missing, expired, tampered with or of another kind",
    "missing bearer token (Authorization: Bearer <token>)",
)
QUEUE_TOKEN_REFUSED = _refusal(
    403,
    "forbidden",
    "the queue token is invalid, expired, another buyer's or event's, or of a line the waiting "
    "room lost (Redis reset): join again",
    "this queue token belongs to another buyer or event",
)
NOT_ON_SALE = _refusal(
    403, "not_on_sale", "before the event's onSaleAt", "tickets go on sale at 2027-01-01T10:00:00Z"
)
ADMISSION_REQUIRED = _refusal(
    403,
    "admission_required",
    "the event has a waiting room and X-Admission-Token is missing, expired, or another buyer's or event's",
    "this event has a waiting room: join the queue and send the admission token as X-Admission-Token",
)
NO_EVENT = _refusal(404, "not_found", "no such event", "event 'evt_9999' does not exist")
NO_HOLD = _refusal(
    404, "not_found", "no such hold of the caller (another buyer's too)", "hold 'hld_x' does not exist"
)
NO_PURCHASE = _refusal(
    404,
    "not_found",
    "no such purchase of the caller (another buyer's too)",
    "purchase 'pur_x' does not exist",
)
NO_BOOKING = _refusal(
    404, "not_found", "no such booking of the caller (another buyer's too)", "booking 'bkg_x' does not exist"
)
NO_WAITING_ROOM = _refusal(
    422,
    "invalid_request",
    "the event has no waiting room (hold seats directly)",
    "event 'evt_0002' has no waiting room; hold seats directly",
)
SEATS_UNAVAILABLE = _refusal(
    409,
    "seats_unavailable",
    "a requested seat is not AVAILABLE (or nothing fits the best-available choice); nothing is held",
    "some of these seats are not available",
    seatIds=["s01-B-1"],
)
HOLD_LIMIT = _refusal(
    409,
    "hold_limit",
    "the buyer would have more seats of the event held or bought than maxTicketsPerBuyer",
    "at most 8 seats of one event per buyer",
)
HOLD_NOT_ACTIVE = _refusal(
    409,
    "hold_not_active",
    "the hold is expired, cancelled, being paid for or purchased",
    "hold is EXPIRED",
    status="EXPIRED",
)
INVALID = _refusal(
    422,
    "invalid_request",
    "a parameter or the body is invalid",
    "limit must be between 1 and 100",
    field="limit",
)
IDEMPOTENCY_CONFLICT = _refusal(
    422,
    "idempotency_conflict",
    "this Idempotency-Key was used with a different request",
    "this Idempotency-Key was used with a different request",
)
RATE_LIMITED = _refusal(
    429,
    "rate_limited",
    "too many requests from this buyer or client address (Retry-After)",
    "too many write requests; retry after the Retry-After delay",
)
HEADERS_TOO_LARGE = _refusal(
    400,
    "invalid_request",
    "a header line is over 8 KiB or the headers over 32 KiB",
    "request headers exceed 32768 bytes",
)
NOT_HTTP = _refusal(
    400,
    "invalid_request",
    "the HTTP parser refused the request (a control character in a header value)",
    parser_refusal.MESSAGE,
)
BAD_QUERY = _refusal(
    422,
    "invalid_request",
    "a query parameter is not UTF-8 text or carries a control character",
    "query parameter 'city' carries a control character",
)
PAYLOAD_TOO_LARGE = _refusal(
    413, "payload_too_large", "the body is over 16 KiB", "the request body must be at most 16384 bytes"
)
UNSUPPORTED_MEDIA_TYPE = _refusal(
    415,
    "unsupported_media_type",
    "the body is not application/json",
    "the request body must be application/json",
)
STREAMS_FULL = _refusal(
    503,
    "overloaded",
    "the process, or this client address, has as many seat streams open as allowed (Retry-After)",
    "this client address has as many seat streams open as it may; close one or retry later",
)
OVERLOADED = _refusal(
    503,
    "overloaded",
    "the process is at capacity (load shedding; Retry-After)",
    "the server is at capacity; retry after the Retry-After delay",
)
UNAVAILABLE = _refusal(
    503,
    "unavailable",
    "PostgreSQL or Redis is unreachable; nothing was written (Retry-After)",
    "a dependency (PostgreSQL or Redis) is unreachable; nothing was written",
)

# Every operation behind the load shedder, and every one that reads an engine.
SERVED = (OVERLOADED, UNAVAILABLE)
# Every operation of a buyer: the bearer token.
AUTHED = (UNAUTHORIZED, *SERVED)
# Every write of a buyer (POST, DELETE): the per-buyer rate limit.
WRITE = (UNAUTHORIZED, RATE_LIMITED, *SERVED)
# Every operation, answered before routing by the HTTP parser (parser_refusal.py) and the
# edge middlewares (guard.py, body_limit.py); install() adds them to each operation.
EDGE = (NOT_HTTP, HEADERS_TOO_LARGE, BAD_QUERY, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE)


def answers(
    status: int,
    body: type[BaseModel] | None,
    *refusals: Refusal,
    description: str = "",
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
    not_modified: bool = False,
) -> Responses:
    """The ``responses=`` of a route: its success ``status`` (with ``body``), a 304 when
    ``not_modified``, and one entry per refusal status with an example per error code."""
    success: dict[str, Any] = {"description": description or "OK"}
    if body is not None:
        success["model"] = body
    if headers:
        success["headers"] = headers
    if links:
        success["links"] = links
    documented: Responses = {status: success}
    if not_modified:
        documented[304] = {
            "description": "Not modified: the If-None-Match ETag is current (no body)",
            "headers": {"ETag": {"schema": {"type": "string"}}},
        }
    for refusal in dict.fromkeys(refusals):
        _describe(documented.setdefault(refusal.status, {"model": ErrorBody, "description": ""}), refusal)
    return documented


def _describe(entry: dict[str, Any], refusal: Refusal) -> None:
    """Add ``refusal`` to the response ``entry`` of its status: its line, its example."""
    said = f"`{refusal.code}`: {refusal.when}"
    entry["description"] = f"{entry['description']}; {said}" if entry.get("description") else said
    examples = entry.setdefault("content", {}).setdefault("application/json", {}).setdefault("examples", {})
    examples[refusal.when] = {"summary": refusal.code, "value": refusal.example}
    if refusal.status in (429, 503):
        entry["headers"] = _RETRY_AFTER


def link(operation_id: str, description: str, *, body: Any = None, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation_id``: its parameters (``header.X-Queue-Token=...``
    style names pass through ``**{...}``) and request ``body`` as runtime expressions."""
    found: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        found["parameters"] = parameters
    if body is not None:
        found["requestBody"] = body
    return found


def install(app: FastAPI) -> None:
    """Finish the generated schema: declare the bearer scheme (Swagger UI's Authorize
    button then fills the Authorization header of every (auth) operation), drop the
    framework's own 422 bodies, which this API never answers, and add the refusals of
    the edge middlewares to every operation."""
    generate = app.openapi

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # FastAPI keeps it as app.openapi_schema
            _drop_framework_validation_errors(document)
            _add_edge_refusals(document)
            document.setdefault("components", {})["securitySchemes"] = {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "the token of POST /auth/guest",
                }
            }
        return app.openapi_schema or generate()

    app.openapi = schema  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def _add_edge_refusals(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for refusal in EDGE:
                entry = responses.setdefault(str(refusal.status), {"description": ""})
                content = entry.setdefault("content", {}).setdefault("application/json", {})
                content.setdefault("schema", {"$ref": "#/components/schemas/ErrorBody"})
                _describe(entry, refusal)


_FRAMEWORK_422 = "HTTPValidationError"


def _drop_framework_validation_errors(document: dict[str, Any]) -> None:
    """FastAPI lists a 422 with its own body on every route with parameters; ours answer
    :class:`ErrorBody` (errors.py), and each route lists INVALID where a 422 can happen."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if _FRAMEWORK_422 in str(answer.get("content", "")):
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in (_FRAMEWORK_422, "ValidationError"):
        schemas.pop(name, None)


def operation_id(route: APIRoute) -> str:
    """An operation's id is its route function's name (links refer to operations by it)."""
    return route.name
