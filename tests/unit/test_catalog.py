"""parse_catalog: a valid import file parses; every malformed field is named by its path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ticketmaster.domain.catalog import (
    ALWAYS_ON_SALE,
    CatalogError,
    PriceTier,
    Row,
    Section,
    Venue,
    check_tiers_against_venue,
    parse_catalog,
)

Doc = dict[str, Any]
Mutation = Callable[[Doc], None]


def base() -> Doc:
    """A valid file: one venue of two sections, one event pricing both."""
    return {
        "venues": [
            {
                "id": "ven_1",
                "name": "Arena",
                "city": "NYC",
                "sections": [
                    {
                        "id": "sec_A",
                        "name": "Floor",
                        "rows": [{"id": "A", "seats": 20}, {"id": "B", "seats": 10}],
                    },
                    {"id": "sec_B", "name": "Balcony", "rows": [{"id": "A", "seats": 5}]},
                ],
            }
        ],
        "events": [
            {
                "id": "evt_1",
                "title": "Band",
                "datetime": "2026-05-10T20:00:00Z",
                "venueId": "ven_1",
                "onSaleAt": "2026-04-01T10:00:00Z",
                "waitingRoom": False,
                "priceTiers": [
                    {
                        "id": "pt_1",
                        "name": "Floor",
                        "priceCents": 9900,
                        "currency": "USD",
                        "sections": ["sec_A"],
                    },
                    {
                        "id": "pt_2",
                        "name": "Balcony",
                        "priceCents": 4900,
                        "currency": "USD",
                        "sections": ["sec_B"],
                    },
                ],
            }
        ],
    }


def _parent(doc: Any, keys: tuple[str | int, ...]) -> Any:
    for key in keys[:-1]:
        doc = doc[key]
    return doc


def put(*keys: str | int, value: Any) -> Mutation:
    def mutate(doc: Doc) -> None:
        _parent(doc, keys)[keys[-1]] = value

    return mutate


def drop(*keys: str | int) -> Mutation:
    def mutate(doc: Doc) -> None:
        del _parent(doc, keys)[keys[-1]]

    return mutate


def append_copy(*keys: str | int) -> Mutation:
    """Append a deep copy of the element at ``keys`` to its list (a duplicate id)."""

    def mutate(doc: Doc) -> None:
        items = _parent(doc, keys)
        items.append(copy.deepcopy(items[keys[-1]]))

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(doc: Doc) -> None:
        for m in mutations:
            m(doc)

    return mutate


V = ("venues", 0)
S = (*V, "sections", 0)
R = (*S, "rows", 0)
E = ("events", 0)
T = (*E, "priceTiers", 0)

BAD: list[Any] = [
    # --- root ---
    pytest.param(put("extra", value=1), "$.extra", id="unknown-top-level-field"),
    pytest.param(put("venues", value={"id": "ven_1"}), "venues", id="venues-not-array"),
    pytest.param(put("events", value="evt_1"), "events", id="events-not-array"),
    # --- venue ---
    pytest.param(put(*V, value="ven_1"), "venues[0]", id="venue-not-object"),
    pytest.param(drop(*V, "id"), "venues[0].id", id="venue-id-missing"),
    pytest.param(put(*V, "id", value=""), "venues[0].id", id="venue-id-empty"),
    pytest.param(put(*V, "id", value=7), "venues[0].id", id="venue-id-int"),
    pytest.param(put(*V, "id", value="ven 1"), "venues[0].id", id="venue-id-space"),
    pytest.param(put(*V, "id", value="v" * 65), "venues[0].id", id="venue-id-too-long"),
    pytest.param(append_copy("venues", 0), "venues[1].id", id="venue-id-duplicate"),
    pytest.param(drop(*V, "name"), "venues[0].name", id="venue-name-missing"),
    pytest.param(put(*V, "name", value=""), "venues[0].name", id="venue-name-empty"),
    pytest.param(put(*V, "name", value="   "), "venues[0].name", id="venue-name-blank"),
    pytest.param(put(*V, "name", value=["Arena"]), "venues[0].name", id="venue-name-list"),
    pytest.param(put(*V, "name", value="n" * 201), "venues[0].name", id="venue-name-too-long"),
    pytest.param(drop(*V, "city"), "venues[0].city", id="city-missing"),
    pytest.param(put(*V, "city", value=""), "venues[0].city", id="city-empty"),
    pytest.param(put(*V, "city", value=None), "venues[0].city", id="city-null"),
    pytest.param(put(*V, "city", value=12), "venues[0].city", id="city-int"),
    pytest.param(put(*V, "city", value="c" * 101), "venues[0].city", id="city-too-long"),
    # --- sections ---
    pytest.param(drop(*V, "sections"), "venues[0].sections", id="sections-missing"),
    pytest.param(put(*V, "sections", value=[]), "venues[0].sections", id="sections-empty"),
    pytest.param(put(*V, "sections", value="sec_A"), "venues[0].sections", id="sections-string"),
    pytest.param(put(*S, value=["sec_A"]), "venues[0].sections[0]", id="section-not-object"),
    pytest.param(drop(*S, "id"), "venues[0].sections[0].id", id="section-id-missing"),
    pytest.param(put(*S, "id", value=""), "venues[0].sections[0].id", id="section-id-empty"),
    pytest.param(put(*S, "id", value=1), "venues[0].sections[0].id", id="section-id-int"),
    pytest.param(put(*S, "id", value="sec/A"), "venues[0].sections[0].id", id="section-id-slash"),
    pytest.param(
        put(*V, "sections", 1, "id", value="sec_A"), "venues[0].sections[1].id", id="section-id-duplicate"
    ),
    pytest.param(drop(*S, "name"), "venues[0].sections[0].name", id="section-name-missing"),
    pytest.param(put(*S, "name", value=""), "venues[0].sections[0].name", id="section-name-empty"),
    # --- rows ---
    pytest.param(drop(*S, "rows"), "venues[0].sections[0].rows", id="rows-missing"),
    pytest.param(put(*S, "rows", value=[]), "venues[0].sections[0].rows", id="rows-empty"),
    pytest.param(put(*S, "rows", value={"id": "A"}), "venues[0].sections[0].rows", id="rows-object"),
    pytest.param(put(*R, value=20), "venues[0].sections[0].rows[0]", id="row-not-object"),
    pytest.param(drop(*R, "id"), "venues[0].sections[0].rows[0].id", id="row-id-missing"),
    pytest.param(put(*R, "id", value=""), "venues[0].sections[0].rows[0].id", id="row-id-empty"),
    pytest.param(put(*R, "id", value=None), "venues[0].sections[0].rows[0].id", id="row-id-null"),
    pytest.param(
        put(*S, "rows", 1, "id", value="A"), "venues[0].sections[0].rows[1].id", id="row-id-duplicate"
    ),
    # --- seats per row ---
    pytest.param(drop(*R, "seats"), "venues[0].sections[0].rows[0].seats", id="seats-missing"),
    pytest.param(put(*R, "seats", value=0), "venues[0].sections[0].rows[0].seats", id="seats-zero"),
    pytest.param(put(*R, "seats", value=-3), "venues[0].sections[0].rows[0].seats", id="seats-negative"),
    pytest.param(put(*R, "seats", value=1001), "venues[0].sections[0].rows[0].seats", id="seats-over-1000"),
    pytest.param(put(*R, "seats", value=True), "venues[0].sections[0].rows[0].seats", id="seats-bool"),
    pytest.param(put(*R, "seats", value="20"), "venues[0].sections[0].rows[0].seats", id="seats-string"),
    pytest.param(put(*R, "seats", value=20.0), "venues[0].sections[0].rows[0].seats", id="seats-float"),
    pytest.param(put(*R, "seats", value=None), "venues[0].sections[0].rows[0].seats", id="seats-null"),
    # --- seat-id collisions: "x-1" + row "1" + seat 1 and "x" + row "1-1" + seat 1 are both "x-1-1-1" ---
    pytest.param(
        put(
            *V,
            "sections",
            value=[
                {"id": "x", "name": "X", "rows": [{"id": "1-1", "seats": 1}]},
                {"id": "x-1", "name": "X1", "rows": [{"id": "1", "seats": 1}]},
            ],
        ),
        "venues[0].sections",
        id="seat-id-collision-across-sections",
    ),
    pytest.param(
        both(
            put(*S, "id", value="a-b"),
            put(*S, "rows", value=[{"id": "c", "seats": 2}]),
            put(*V, "sections", 1, "id", value="a"),
            put(*V, "sections", 1, "rows", value=[{"id": "b-c", "seats": 3}]),
        ),
        "venues[0].sections",
        id="seat-id-collision-later-section",
    ),
    # --- event ---
    pytest.param(put(*E, value=[]), "events[0]", id="event-not-object"),
    pytest.param(drop(*E, "id"), "events[0].id", id="event-id-missing"),
    pytest.param(put(*E, "id", value=""), "events[0].id", id="event-id-empty"),
    pytest.param(put(*E, "id", value=1), "events[0].id", id="event-id-int"),
    pytest.param(append_copy("events", 0), "events[1].id", id="event-id-duplicate"),
    pytest.param(drop(*E, "title"), "events[0].title", id="title-missing"),
    pytest.param(put(*E, "title", value=""), "events[0].title", id="title-empty"),
    pytest.param(put(*E, "title", value=42), "events[0].title", id="title-int"),
    pytest.param(put(*E, "title", value="t" * 201), "events[0].title", id="title-too-long"),
    pytest.param(drop(*E, "venueId"), "events[0].venueId", id="venue-id-ref-missing"),
    pytest.param(put(*E, "venueId", value=1), "events[0].venueId", id="venue-id-ref-int"),
    pytest.param(put(*E, "venueId", value=""), "events[0].venueId", id="venue-id-ref-empty"),
    # --- datetimes ---
    pytest.param(drop(*E, "datetime"), "events[0].datetime", id="datetime-missing"),
    pytest.param(put(*E, "datetime", value="tomorrow"), "events[0].datetime", id="datetime-garbage"),
    pytest.param(
        put(*E, "datetime", value="2026-05-10T20:00:00"), "events[0].datetime", id="datetime-no-timezone"
    ),
    pytest.param(put(*E, "datetime", value="2026-05-10"), "events[0].datetime", id="datetime-date-only"),
    pytest.param(
        put(*E, "datetime", value="2026-13-10T20:00:00Z"), "events[0].datetime", id="datetime-month-13"
    ),
    pytest.param(put(*E, "datetime", value=1778443200), "events[0].datetime", id="datetime-epoch-int"),
    pytest.param(put(*E, "datetime", value=None), "events[0].datetime", id="datetime-null"),
    pytest.param(put(*E, "onSaleAt", value="soon"), "events[0].onSaleAt", id="on-sale-garbage"),
    pytest.param(
        put(*E, "onSaleAt", value="2026-04-01T10:00:00"), "events[0].onSaleAt", id="on-sale-no-timezone"
    ),
    pytest.param(put(*E, "onSaleAt", value=None), "events[0].onSaleAt", id="on-sale-null"),
    pytest.param(
        put(*E, "onSaleAt", value="2026-05-10T20:00:01Z"), "events[0].onSaleAt", id="on-sale-after-datetime"
    ),
    pytest.param(
        # 22:00+02:00 is 20:00Z: equal instants are fine, one second later is not.
        put(*E, "onSaleAt", value="2026-05-10T22:00:01+02:00"),
        "events[0].onSaleAt",
        id="on-sale-after-datetime-other-offset",
    ),
    # --- sale settings ---
    pytest.param(put(*E, "waitingRoom", value="false"), "events[0].waitingRoom", id="waiting-room-string"),
    pytest.param(put(*E, "waitingRoom", value=0), "events[0].waitingRoom", id="waiting-room-int"),
    pytest.param(put(*E, "waitingRoom", value=None), "events[0].waitingRoom", id="waiting-room-null"),
    pytest.param(
        put(*E, "admissionRatePerMinute", value=0),
        "events[0].admissionRatePerMinute",
        id="admission-rate-zero",
    ),
    pytest.param(put(*E, "maxAdmitted", value="10"), "events[0].maxAdmitted", id="max-admitted-string"),
    pytest.param(
        put(*E, "admissionWindowSeconds", value=-1),
        "events[0].admissionWindowSeconds",
        id="admission-window-negative",
    ),
    pytest.param(
        put(*E, "maxTicketsPerBuyer", value=0), "events[0].maxTicketsPerBuyer", id="max-tickets-zero"
    ),
    pytest.param(
        put(*E, "maxTicketsPerBuyer", value="8"), "events[0].maxTicketsPerBuyer", id="max-tickets-string"
    ),
    pytest.param(
        put(*E, "maxTicketsPerBuyer", value=10_001), "events[0].maxTicketsPerBuyer", id="max-tickets-huge"
    ),
    # --- price tiers ---
    pytest.param(drop(*E, "priceTiers"), "events[0].priceTiers", id="tiers-missing"),
    pytest.param(put(*E, "priceTiers", value=[]), "events[0].priceTiers", id="tiers-empty"),
    pytest.param(put(*E, "priceTiers", value={}), "events[0].priceTiers", id="tiers-object"),
    pytest.param(put(*T, value="pt_1"), "events[0].priceTiers[0]", id="tier-not-object"),
    pytest.param(drop(*T, "id"), "events[0].priceTiers[0].id", id="tier-id-missing"),
    pytest.param(put(*T, "id", value=""), "events[0].priceTiers[0].id", id="tier-id-empty"),
    pytest.param(
        put(*E, "priceTiers", 1, "id", value="pt_1"), "events[0].priceTiers[1].id", id="tier-id-duplicate"
    ),
    pytest.param(drop(*T, "name"), "events[0].priceTiers[0].name", id="tier-name-missing"),
    pytest.param(put(*T, "name", value=False), "events[0].priceTiers[0].name", id="tier-name-bool"),
    pytest.param(drop(*T, "priceCents"), "events[0].priceTiers[0].priceCents", id="price-missing"),
    pytest.param(put(*T, "priceCents", value=-1), "events[0].priceTiers[0].priceCents", id="price-negative"),
    pytest.param(put(*T, "priceCents", value=99.5), "events[0].priceTiers[0].priceCents", id="price-float"),
    pytest.param(
        put(*T, "priceCents", value="9900"), "events[0].priceTiers[0].priceCents", id="price-string"
    ),
    pytest.param(put(*T, "priceCents", value=True), "events[0].priceTiers[0].priceCents", id="price-bool"),
    pytest.param(
        put(*T, "priceCents", value=10**9 + 1), "events[0].priceTiers[0].priceCents", id="price-too-large"
    ),
    pytest.param(drop(*T, "currency"), "events[0].priceTiers[0].currency", id="currency-missing"),
    pytest.param(put(*T, "currency", value="usd"), "events[0].priceTiers[0].currency", id="currency-lower"),
    pytest.param(put(*T, "currency", value="USDX"), "events[0].priceTiers[0].currency", id="currency-4"),
    pytest.param(put(*T, "currency", value="US"), "events[0].priceTiers[0].currency", id="currency-2"),
    pytest.param(put(*T, "currency", value="U$D"), "events[0].priceTiers[0].currency", id="currency-symbol"),
    pytest.param(put(*T, "currency", value=840), "events[0].priceTiers[0].currency", id="currency-numeric"),
    pytest.param(put(*T, "currency", value=""), "events[0].priceTiers[0].currency", id="currency-empty"),
    pytest.param(drop(*T, "sections"), "events[0].priceTiers[0].sections", id="tier-sections-missing"),
    pytest.param(put(*T, "sections", value=[]), "events[0].priceTiers[0].sections", id="tier-sections-empty"),
    pytest.param(
        put(*T, "sections", value="sec_A"), "events[0].priceTiers[0].sections", id="tier-sections-string"
    ),
    pytest.param(
        put(*T, "sections", value=[{"id": "sec_A"}]),
        "events[0].priceTiers[0].sections[0]",
        id="tier-section-not-string",
    ),
    pytest.param(
        put(*T, "sections", value=["sec_Z"]),
        "events[0].priceTiers[0].sections[0]",
        id="tier-section-not-in-venue",
    ),
    pytest.param(
        put(*E, "priceTiers", 1, "sections", value=["sec_B", "sec_A"]),
        "events[0].priceTiers[1].sections[1]",
        id="section-priced-by-two-tiers",
    ),
    pytest.param(
        put(*T, "sections", value=["sec_A", "sec_A"]),
        "events[0].priceTiers[0].sections[1]",
        id="section-listed-twice-in-one-tier",
    ),
    pytest.param(drop(*E, "priceTiers", 1), "events[0].priceTiers", id="section-left-unpriced"),
    # `$` would match before a final newline: an id must match whole.
    pytest.param(put(*E, "id", value="evt_1\n"), "events[0].id", id="id-with-trailing-newline"),
    pytest.param(
        both(
            put(*E, "venueId", value="ven_2"),
            append_copy("venues", 0),
            put("venues", 1, "id", value="ven_2"),
            put("venues", 1, "sections", 0, "id", value="sec_C"),
        ),
        "events[0].priceTiers[0].sections[0]",
        id="tier-priced-against-the-named-venue",
    ),
]


def assert_refused_at(doc: Doc, path: str) -> None:
    """parse_catalog refuses ``doc`` naming ``path``, with a message."""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(doc)

    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.message


@pytest.mark.parametrize(("mutate", "path"), BAD)
def test_a_bad_field_is_refused_by_its_path(mutate: Mutation, path: str) -> None:
    doc = base()
    mutate(doc)
    assert_refused_at(doc, path)


@pytest.mark.parametrize("root", [[], "catalog", None, 3, [base()]])
def test_a_root_that_is_not_an_object_is_refused(root: Any) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(root)
    assert caught.value.path == "$"


def test_an_unpriced_section_is_named_in_the_message() -> None:
    doc = base()
    del doc["events"][0]["priceTiers"][1]
    with pytest.raises(CatalogError, match="sec_B"):
        parse_catalog(doc)


def test_the_valid_file_parses_into_the_model() -> None:
    catalog = parse_catalog(base())

    (venue,) = catalog.venues
    assert venue == Venue(
        id="ven_1",
        name="Arena",
        city="NYC",
        sections=(
            Section(id="sec_A", name="Floor", rows=(Row(id="A", seats=20), Row(id="B", seats=10))),
            Section(id="sec_B", name="Balcony", rows=(Row(id="A", seats=5),)),
        ),
    )
    assert venue.seat_count == 35
    seats = venue.seat_rows()
    assert len(seats) == 35
    assert seats[0] == ("sec_A-A-1", "sec_A", "A", 1)
    assert seats[19] == ("sec_A-A-20", "sec_A", "A", 20)
    assert seats[20] == ("sec_A-B-1", "sec_A", "B", 1)
    assert seats[-1] == ("sec_B-A-5", "sec_B", "A", 5)
    assert len({s[0] for s in seats}) == 35

    (event,) = catalog.events
    assert event.id == "evt_1"
    assert event.title == "Band"
    assert event.venue_id == "ven_1"
    assert event.starts_at == datetime(2026, 5, 10, 20, 0, tzinfo=UTC)
    assert event.on_sale_at == datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    assert event.sale.waiting_room is False
    assert event.sale.admission_rate_per_minute is None
    assert event.price_tiers == (
        PriceTier(id="pt_1", name="Floor", price_cents=9900, currency="USD", sections=("sec_A",)),
        PriceTier(id="pt_2", name="Balcony", price_cents=4900, currency="USD", sections=("sec_B",)),
    )


def test_optional_fields_take_their_defaults() -> None:
    doc = base()
    del doc["events"][0]["onSaleAt"]
    del doc["events"][0]["waitingRoom"]

    (event,) = parse_catalog(doc).events

    assert event.on_sale_at == ALWAYS_ON_SALE
    assert event.sale.waiting_room is False
    assert event.sale.max_tickets_per_buyer is None


def test_an_event_may_set_its_own_per_buyer_limit() -> None:
    doc = base()
    doc["events"][0]["maxTicketsPerBuyer"] = 4

    (event,) = parse_catalog(doc).events

    assert event.sale.max_tickets_per_buyer == 4


def test_an_empty_document_is_an_empty_catalog() -> None:
    catalog = parse_catalog({})
    assert catalog.venues == ()
    assert catalog.events == ()


ACCEPTED: list[Any] = [
    pytest.param(put(*E, "onSaleAt", value="2026-05-10T20:00:00Z"), id="on-sale-at-the-start"),
    pytest.param(put(*E, "onSaleAt", value="2026-05-10T22:00:00+02:00"), id="on-sale-same-instant-offset"),
    pytest.param(put(*R, "seats", value=1000), id="seats-exactly-1000"),
    pytest.param(put(*R, "seats", value=1), id="seats-exactly-1"),
    pytest.param(put(*T, "priceCents", value=0), id="free-tier"),
    pytest.param(put(*E, "waitingRoom", value=True), id="waiting-room-on"),
    pytest.param(put(*V, "id", value="v" * 64), id="id-of-64-characters"),
    pytest.param(put(*V, "id", value="ven:1.a-b_c"), id="id-punctuation"),
    pytest.param(put(*E, "title", value="t" * 200), id="title-of-200-characters"),
    pytest.param(
        put(
            *E, "priceTiers", value=[{**base()["events"][0]["priceTiers"][0], "sections": ["sec_A", "sec_B"]}]
        ),
        id="one-tier-for-all-sections",
    ),
    pytest.param(
        put(*S, "rows", value=[{"id": "A", "seats": 1}, {"id": "A-1", "seats": 1}, {"id": "B", "seats": 1}]),
        id="row-ids-with-dashes-that-do-not-collide",
    ),
]


@pytest.mark.parametrize("mutate", ACCEPTED)
def test_edge_values_within_bounds_are_accepted(mutate: Mutation) -> None:
    doc = base()
    mutate(doc)
    catalog = parse_catalog(doc)
    assert len(catalog.events) == 1


def test_times_keep_their_instant_whatever_the_offset() -> None:
    doc = base()
    doc["events"][0]["datetime"] = "2026-05-10T22:00:00+02:00"
    (event,) = parse_catalog(doc).events
    assert event.starts_at == datetime(2026, 5, 10, 20, 0, tzinfo=UTC)
    assert event.starts_at.utcoffset() == timedelta(hours=2)
    assert event.starts_at.tzinfo == timezone(timedelta(hours=2))


def test_strings_are_trimmed() -> None:
    doc = base()
    doc["venues"][0]["name"] = "  Arena  "
    doc["events"][0]["title"] = " Band "
    catalog = parse_catalog(doc)
    assert catalog.venues[0].name == "Arena"
    assert catalog.events[0].title == "Band"


def test_an_event_may_name_a_venue_outside_the_file_and_is_priced_later() -> None:
    doc = base()
    doc["events"][0]["venueId"] = "ven_stored"
    doc["events"][0]["priceTiers"][0]["sections"] = ["sec_unknown_here"]

    (event,) = parse_catalog(doc).events

    assert event.venue_id == "ven_stored"
    stored = parse_catalog(base()).venues[0]
    with pytest.raises(CatalogError) as caught:
        check_tiers_against_venue(event, stored, "events[3]")
    assert caught.value.path == "events[3].priceTiers[0].sections[0]"


def test_tiers_checked_against_a_stored_venue_pass_when_they_fit() -> None:
    catalog = parse_catalog(base())
    check_tiers_against_venue(catalog.events[0], catalog.venues[0], "events[0]")
    missing_balcony = Venue(
        id="ven_1",
        name="Arena",
        city="NYC",
        sections=(*catalog.venues[0].sections, Section(id="sec_C", name="Roof", rows=(Row("A", 1),))),
    )
    with pytest.raises(CatalogError) as caught:
        check_tiers_against_venue(catalog.events[0], missing_balcony, "events[0]")
    assert caught.value.path == "events[0].priceTiers"
    assert "sec_C" in caught.value.message


def test_the_first_of_several_events_with_a_bad_field_is_named() -> None:
    doc = base()
    second = copy.deepcopy(doc["events"][0])
    second["id"] = "evt_2"
    second["priceTiers"][0]["currency"] = "eur"
    doc["events"].append(second)

    with pytest.raises(CatalogError) as caught:
        parse_catalog(doc)
    assert caught.value.path == "events[1].priceTiers[0].currency"
