"""Browse endpoints: event listings and event details."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ticketmaster.domain.events import EventSummary
from ticketmaster.domain.times import rfc3339
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.deps import ContainerDep
from ticketmaster.entrypoints.http.responses import cacheable_json
from ticketmaster.services import browse

router = APIRouter(tags=["browse"])
LIST_MAX_AGE = 15
DETAIL_MAX_AGE = 30


def summary_json(e: EventSummary) -> dict[str, object]:
    return {
        "id": e.id,
        "title": e.title,
        "datetime": rfc3339(e.starts_at),
        "venueId": e.venue_id,
        "venueName": e.venue_name,
        "city": e.city,
    }


# Documentation only (the browse use case checks them and answers 422 with the field).
_DATE: dict[str, object] = {"format": "date", "examples": ["2027-01-08"]}
_BOUND = "a date (a whole UTC day) or an RFC 3339 time with a zone"
_EVENT_LINKS = {
    "GetSeatMap": openapi.link("seat_map", "the event's seat map", event_id="$response.body#/id"),
    "JoinQueue": openapi.link("join_queue", "join the event's waiting room", event_id="$response.body#/id"),
}


@router.get(
    "/events",
    summary="List events by city, date and title",
    responses=openapi.answers(
        200,
        bodies.EventPage,
        openapi.INVALID,
        *openapi.SERVED,
        not_modified=True,
        links={
            "GetEvent": openapi.link("get_event", "the first event", event_id="$response.body#/events/0/id"),
            "NextPage": openapi.link("list_events", "the next page", cursor="$response.body#/nextCursor"),
        },
    ),
)
async def list_events(
    request: Request,
    c: ContainerDep,
    city: Annotated[str | None, Query(description="the city, exactly", examples=["Boston"])] = None,
    date: Annotated[str | None, Query(description="on this day (UTC)", json_schema_extra=_DATE)] = None,
    dateFrom: Annotated[
        str | None, Query(description=f"at or after: {_BOUND}", examples=["2027-01-08"])
    ] = None,
    dateTo: Annotated[str | None, Query(description=f"up to: {_BOUND}", examples=["2027-02-01"])] = None,
    q: Annotated[
        str | None, Query(description="words of the title; small typos are tolerated", examples=["swfit"])
    ] = None,
    limit: Annotated[
        int, Query(description="1 to 100", json_schema_extra={"minimum": 1, "maximum": 100})
    ] = 20,
    cursor: Annotated[str | None, Query(description="the nextCursor of the previous page")] = None,
) -> Response:
    filters = browse.build_filters(
        city=city,
        on_date=date,
        date_from=dateFrom,
        date_to=dateTo,
        q=q,
        limit=limit,
        cursor=cursor,
    )
    page, next_cursor = await browse.list_events(c.events, filters)
    body = {"events": [summary_json(e) for e in page], "nextCursor": next_cursor}
    return cacheable_json(request, body, max_age=LIST_MAX_AGE)


@router.get(
    "/events/{event_id}",
    summary="One event with its price tiers and sale settings",
    responses=openapi.answers(
        200, bodies.EventDetail, openapi.NO_EVENT, *openapi.SERVED, not_modified=True, links=_EVENT_LINKS
    ),
)
async def get_event(request: Request, event_id: openapi.EventId, c: ContainerDep) -> Response:
    event = await browse.get_event(c.events, event_id)
    body = {
        **summary_json(event.summary),
        "priceTiers": [
            {"id": t.id, "name": t.name, "priceCents": t.price_cents, "currency": t.currency}
            for t in event.price_tiers
        ],
        "waitingRoom": event.waiting_room,
        "onSaleAt": rfc3339(event.on_sale_at),
        "seatCount": event.seat_count,
    }
    return cacheable_json(request, body, max_age=DETAIL_MAX_AGE)
