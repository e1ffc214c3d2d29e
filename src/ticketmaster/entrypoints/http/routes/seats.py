"""The live seat map of an event (Redis + cached layout; no PostgreSQL on this path)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Header, Request
from starlette.responses import Response, StreamingResponse

from ticketmaster.domain.errors import InvalidRequest, NotFound
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import ContainerDep, HotRoute, container
from ticketmaster.entrypoints.http.responses import etag_matches
from ticketmaster.observability import SEAT_MAP_LATENCY

router = APIRouter(tags=["seats"])


async def get_seat_map(request: Request) -> Response:
    """``GET /events/{event_id}/seats`` as a plain Starlette endpoint (see seat_map_route)."""
    started = time.perf_counter()
    try:
        c = await container(request)
        rendered = await c.seat_maps.seat_map(request.path_params["event_id"])
        headers = {"ETag": rendered.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if etag_matches(request.headers.get("if-none-match"), rendered.etag):
            return Response(status_code=304, headers=headers)
        if rendered.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(rendered.gzipped, headers=headers, media_type="application/json")
        return Response(rendered.body, headers=headers, media_type="application/json")
    finally:
        SEAT_MAP_LATENCY.observe(time.perf_counter() - started)


async def seat_map(event_id: openapi.EventId) -> None:
    """Declares the request for the schema; get_seat_map answers it."""


seat_map_route = HotRoute(
    "/events/{event_id}/seats",
    seat_map,
    handler=get_seat_map,
    methods=["GET"],
    tags=["seats"],
    summary="Every seat of an event with its status",
    description="Every seat by section, AVAILABLE, HELD or SOLD, with its price tier; `version` "
    "grows with every change and is the ETag.",
    responses=openapi.answers(
        200,
        bodies.SeatMap,
        openapi.NO_EVENT,
        *openapi.SERVED,
        description="the seat map; the ETag reflects its version",
        not_modified=True,
        links={
            "HoldFirstSeat": openapi.link(
                "create_hold",
                "hold the map's first seat",
                event_id="$request.path.event_id",
                body={"seatIds": ["$response.body#/sections/0/seats/0/id"]},
            )
        },
    ),
    generate_unique_id_function=openapi.operation_id,
)
"""The seat map: every buyer of an on-sale reloads it, and its work is a cached render;
FastAPI's dependency resolution would cost more."""


@router.get(
    "/events/{event_id}/seats/stream",
    summary="Live seat updates (Server-Sent Events)",
    response_class=StreamingResponse,
    responses=openapi.answers(
        200, None, openapi.NO_EVENT, openapi.INVALID, openapi.STREAMS_FULL, *openapi.SERVED
    )
    | {200: {"content": {"text/event-stream": {}}, "description": "one event per batch of changes"}},
)
async def seat_stream(
    event_id: openapi.EventId,
    c: ContainerDep,
    last_event_id: str | None = Header(
        default=None, alias="Last-Event-ID", description="resume after this version (sent by EventSource)"
    ),
) -> StreamingResponse:
    """``{"version", "changes": [{"seatId", "status"}]}`` per batch; see services/seat_streams.py."""
    resume = None
    if last_event_id is not None:
        if not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18):
            raise InvalidRequest("Last-Event-ID must be a seat-map version", field="Last-Event-ID")
        resume = int(last_event_id)
    if await c.catalog.event_info(event_id) is None:
        raise NotFound(f"event {event_id!r} does not exist")
    body = await c.seat_streams.open(event_id, resume)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
