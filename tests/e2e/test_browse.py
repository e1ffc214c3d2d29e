"""Browsing over real HTTP: filters, ordering, pagination, search, caching, error shapes."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests import factories
from ticketmaster.adapters.tokens import TokenSigner

SUMMARY_FIELDS = {"id", "title", "datetime", "venueId", "venueName", "city"}


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["events"]]


async def collect(http: httpx.AsyncClient, params: dict[str, Any]) -> tuple[list[str], int]:
    """Follow nextCursor to the end; returns every id served and the number of pages."""
    served: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/events", params=query)
        served += ids(response)
        pages += 1
        cursor = response.json()["nextCursor"]
        if cursor is None:
            return served, pages
        assert pages < 50, "pagination does not end"


class World:
    """Three cities, events spread over days, some sharing a start time."""

    def __init__(self) -> None:
        p = factories.uid()
        self.nyc = factories.venue(city="New York", name="Garden")
        self.bos = factories.venue(city="Boston", name="Harbor Arena")
        self.lis = factories.venue(city="Lisbon", name="Coliseu")
        # (id, venue, title, start): ids share a prefix so id order is plain string order.
        spec = [
            ("a01", self.nyc, "Taylor Swift: The Eras Tour", "2027-05-10T20:00:00Z"),
            ("a02", self.bos, "Coldplay: Live", "2027-05-10T20:00:00Z"),
            ("a03", self.nyc, "Knicks vs Celtics", "2027-05-09T23:59:59Z"),
            ("a04", self.nyc, "Hamilton", "2027-05-10T00:00:00Z"),
            ("a05", self.lis, "Fado Night", "2027-05-10T23:59:59Z"),
            ("a06", self.nyc, "Swan Lake", "2027-05-11T00:00:00Z"),
            ("a07", self.bos, "Taylor Swift: The Eras Tour", "2027-05-12T19:30:00Z"),
            ("a08", self.lis, "Metallica: World Tour", "2027-05-12T19:30:00Z"),
            ("a09", self.nyc, "Adele: Live", "2027-05-12T19:30:00Z"),
            ("a10", self.bos, "Hozier: Acoustic Night", "2027-05-13T21:00:00Z"),
            ("a11", self.nyc, "Billie Eilish: Arena Tour", "2027-05-14T20:00:00Z"),
            ("a12", self.lis, "Dua Lipa: Summer Nights", "2027-05-15T20:00:00Z"),
        ]
        self.events = [
            factories.event(venue, event_id=f"evt_{p}_{key}", title=title, when=when)
            for key, venue, title, when in spec
        ]
        self.by_key = {key: e["id"] for (key, *_), e in zip(spec, self.events, strict=True)}
        self.ordered = [e["id"] for e in sorted(self.events, key=lambda e: (e["datetime"], e["id"]))]

    def data(self) -> dict[str, Any]:
        return {"venues": [self.nyc, self.bos, self.lis], "events": self.events}

    def keys(self, *keys: str) -> list[str]:
        return [self.by_key[k] for k in keys]


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    w = World()
    await factories.load(pool, w.data())
    return w


async def test_the_listing_is_ordered_by_datetime_then_id(http: httpx.AsyncClient, world: World) -> None:
    response = await http.get("/events", params={"limit": 100})

    assert ids(response) == world.ordered
    assert ids(response)[:4] == world.keys("a03", "a04", "a01", "a02")
    body = response.json()
    assert body["nextCursor"] is None
    first = body["events"][0]
    assert set(first) >= SUMMARY_FIELDS
    assert first == {
        "id": world.by_key["a03"],
        "title": "Knicks vs Celtics",
        "datetime": "2027-05-09T23:59:59Z",
        "venueId": world.nyc["id"],
        "venueName": "Garden",
        "city": "New York",
    }


@pytest.mark.parametrize("city", ["New York", "new york", "NEW YORK", "  new York "])
async def test_city_matches_whatever_the_case(http: httpx.AsyncClient, world: World, city: str) -> None:
    assert ids(await http.get("/events", params={"city": city})) == world.keys(
        "a03", "a04", "a01", "a06", "a09", "a11"
    )


async def test_an_unknown_city_is_an_empty_page(http: httpx.AsyncClient, world: World) -> None:
    response = await http.get("/events", params={"city": "Atlantis"})
    assert response.json() == {"events": [], "nextCursor": None}


async def test_date_is_one_whole_utc_day(http: httpx.AsyncClient, world: World) -> None:
    assert ids(await http.get("/events", params={"date": "2027-05-10"})) == world.keys(
        "a04", "a01", "a02", "a05"
    )


async def test_date_from_and_to_include_both_days(http: httpx.AsyncClient, world: World) -> None:
    got = ids(await http.get("/events", params={"dateFrom": "2027-05-11", "dateTo": "2027-05-12"}))
    assert got == world.keys("a06", "a07", "a08", "a09")
    assert ids(await http.get("/events", params={"dateFrom": "2027-05-14"})) == world.keys("a11", "a12")
    assert ids(await http.get("/events", params={"dateTo": "2027-05-09"})) == world.keys("a03")


async def test_date_bounds_may_be_exact_times(http: httpx.AsyncClient, world: World) -> None:
    got = ids(
        await http.get(
            "/events", params={"dateFrom": "2027-05-10T20:00:00Z", "dateTo": "2027-05-12T21:30:00+02:00"}
        )
    )
    assert got == world.keys("a01", "a02", "a05", "a06", "a07", "a08", "a09")


async def test_q_matches_title_words(http: httpx.AsyncClient, world: World) -> None:
    assert ids(await http.get("/events", params={"q": "swift"})) == world.keys("a01", "a07")
    assert ids(await http.get("/events", params={"q": "live"})) == world.keys("a02", "a09")
    assert ids(await http.get("/events", params={"q": "eras taylor"})) == world.keys("a01", "a07")
    assert ids(await http.get("/events", params={"q": "taylor coldplay"})) == []


@pytest.mark.parametrize("q", ["swfit", "SWIFT", "Swift", "tay", "swif", "taylr", "tailor"])
async def test_q_tolerates_case_prefixes_and_one_typo(http: httpx.AsyncClient, world: World, q: str) -> None:
    assert ids(await http.get("/events", params={"q": q})) == world.keys("a01", "a07")


@pytest.mark.parametrize("q", ["sqoft", "tyalro", "xyzzy"])
async def test_q_with_two_typos_or_no_likeness_matches_nothing(
    http: httpx.AsyncClient, world: World, q: str
) -> None:
    assert ids(await http.get("/events", params={"q": q})) == []


async def test_filters_combine(http: httpx.AsyncClient, world: World) -> None:
    assert ids(await http.get("/events", params={"city": "boston", "q": "swift"})) == world.keys("a07")
    assert ids(await http.get("/events", params={"city": "new york", "date": "2027-05-10"})) == world.keys(
        "a04", "a01"
    )
    assert ids(
        await http.get(
            "/events",
            params={"city": "NEW YORK", "dateFrom": "2027-05-10", "dateTo": "2027-05-12", "q": "tour"},
        )
    ) == world.keys("a01")
    assert ids(
        await http.get("/events", params={"city": "lisbon", "date": "2027-05-12", "q": "metalica"})
    ) == (world.keys("a08"))
    assert ids(await http.get("/events", params={"date": "2027-05-10", "dateFrom": "2027-05-11"})) == []


async def test_pages_of_three_serve_every_event_exactly_once(http: httpx.AsyncClient, world: World) -> None:
    served, pages = await collect(http, {"limit": 3})

    assert served == world.ordered
    assert len(set(served)) == len(served) == 12
    assert pages == 4


async def test_paging_with_filters_serves_every_match_exactly_once(
    http: httpx.AsyncClient, world: World
) -> None:
    served, pages = await collect(http, {"limit": 3, "city": "new york"})
    assert served == world.keys("a03", "a04", "a01", "a06", "a09", "a11")
    assert pages == 2

    served, pages = await collect(http, {"limit": 3, "dateFrom": "2027-05-10", "dateTo": "2027-05-13"})
    assert served == world.keys("a04", "a01", "a02", "a05", "a06", "a07", "a08", "a09", "a10")
    assert pages == 3

    served, _ = await collect(http, {"limit": 1, "q": "tour"})
    assert served == world.keys("a01", "a07", "a08", "a11")


async def test_many_events_at_one_instant_page_by_id(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    v = factories.venue()
    p = factories.uid()
    events = [factories.event(v, event_id=f"evt_{p}_{n:02d}", when="2027-06-01T20:00:00Z") for n in range(10)]
    await factories.load(pool, {"venues": [v], "events": list(reversed(events))})

    served, pages = await collect(http, {"limit": 3})

    assert served == [e["id"] for e in events]
    assert pages == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "eyJub3QiOiAiYSBjdXJzb3IifQ"}, "cursor"),
        ({"date": "10-05-2027"}, "date"),
        ({"dateFrom": "2027-05-12", "dateTo": "2027-05-11"}, "dateFrom"),
        ({"dateTo": "2027-05-12T20:00:00"}, "dateTo"),
    ],
)
async def test_bad_parameters_get_422_invalid_request(
    http: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await http.get("/events", params=params)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["field"] == field


async def test_a_non_numeric_limit_gets_the_error_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/events", params={"limit": "ten"})

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "limit" in body["message"]


async def test_limit_100_is_allowed(http: httpx.AsyncClient, world: World) -> None:
    assert len(ids(await http.get("/events", params={"limit": 100}))) == 12


async def test_an_event_detail(http: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    v = factories.venue(city="Oslo", name="Spektrum", sections=2, rows=2, seats=10)
    e = factories.event(
        v,
        title="Aurora",
        when="2027-05-10T22:00:00+02:00",
        on_sale_at="2027-01-01T09:00:00Z",
        waiting_room=True,
    )
    e["priceTiers"] = [
        {"id": "pt_a", "name": "Front", "priceCents": 15000, "currency": "NOK", "sections": ["sec0"]},
        {"id": "pt_b", "name": "Back", "priceCents": 8000, "currency": "NOK", "sections": ["sec1"]},
    ]
    await factories.load(pool, {"venues": [v], "events": [e]})

    response = await http.get(f"/events/{e['id']}")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in (*SUMMARY_FIELDS, "priceTiers", "waitingRoom", "onSaleAt")} == {
        "id": e["id"],
        "title": "Aurora",
        "datetime": "2027-05-10T20:00:00Z",
        "venueId": v["id"],
        "venueName": "Spektrum",
        "city": "Oslo",
        "priceTiers": [
            {"id": "pt_a", "name": "Front", "priceCents": 15000, "currency": "NOK"},
            {"id": "pt_b", "name": "Back", "priceCents": 8000, "currency": "NOK"},
        ],
        "waitingRoom": True,
        "onSaleAt": "2027-01-01T09:00:00Z",
    }


@pytest.mark.parametrize("path", ["/events", "/events?city=boston&limit=2"])
async def test_listings_carry_cache_headers_and_answer_304(
    http: httpx.AsyncClient, world: World, path: str
) -> None:
    first = await http.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200
    assert "max-age" in first.headers["Cache-Control"]

    again = await http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag

    assert (await http.get(path, headers={"If-None-Match": '"something-else"'})).status_code == 200
    assert (await http.get(path, headers={"If-None-Match": f'"x", W/{etag}'})).status_code == 304


async def test_an_event_detail_answers_304_and_its_etag_follows_a_reimport(
    http: httpx.AsyncClient, pool: asyncpg.Pool, world: World
) -> None:
    detail_path = f"/events/{world.by_key['a05']}"
    detail = await http.get(detail_path)
    listing = await http.get("/events", params={"city": "lisbon"})
    assert detail.status_code == listing.status_code == 200
    assert "max-age" in detail.headers["Cache-Control"]
    detail_etag, listing_etag = detail.headers["ETag"], listing.headers["ETag"]
    assert (await http.get(detail_path, headers={"If-None-Match": detail_etag})).status_code == 304

    fado = next(e for e in world.events if e["id"] == world.by_key["a05"])
    await factories.load(pool, {"events": [{**fado, "title": "Fado Gala"}]})

    changed = await http.get(detail_path, headers={"If-None-Match": detail_etag})
    assert changed.status_code == 200
    assert changed.json()["title"] == "Fado Gala"
    assert changed.headers["ETag"] != detail_etag
    relisted = await http.get("/events", params={"city": "lisbon"}, headers={"If-None-Match": listing_etag})
    assert relisted.status_code == 200
    assert relisted.headers["ETag"] != listing_etag
    assert (
        await http.get(detail_path, headers={"If-None-Match": changed.headers["ETag"]})
    ).status_code == 304


async def test_an_unknown_event_is_404_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/events/evt_does_not_exist")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "evt_does_not_exist" in response.json()["message"]


async def test_an_unknown_route_is_404_with_the_error_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/no/such/thing")

    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert isinstance(body["message"], str)


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", "/events"), ("POST", "/events/evt_1"), ("GET", "/auth/guest")]
)
async def test_a_wrong_method_is_405_with_the_error_shape(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http.request(method, path)

    assert response.status_code == 405
    body = response.json()
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["message"], str)
    assert "Allow" in response.headers


async def test_a_guest_gets_a_token_and_a_user_id(
    http: httpx.AsyncClient, pool: asyncpg.Pool, server_env: dict[str, str]
) -> None:
    first = await http.post("/auth/guest")
    second = await http.post("/auth/guest")

    assert first.status_code == second.status_code == 201
    body = first.json()
    assert body["userId"].startswith("usr_")
    assert isinstance(body["token"], str)
    assert body["userId"] != second.json()["userId"]
    claims = TokenSigner(server_env["TICKETMASTER_SECRET_KEY"]).verify(body["token"], "access")
    assert claims["sub"] == body["userId"]
    assert await pool.fetchval("SELECT kind FROM users WHERE id = $1", body["userId"]) == "guest"


async def test_docs_and_the_openapi_schema_are_served(http: httpx.AsyncClient) -> None:
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]

    schema = await http.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/events", "/events/{event_id}", "/auth/guest"} <= set(paths)
