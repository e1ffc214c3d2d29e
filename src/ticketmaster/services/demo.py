"""A deterministic, realistic demo catalog: a stadium, arenas, theatres and clubs in a
dozen cities, drawn to scale (services/demo_venues.py), and a few hundred events over
half a year with varied price tiers."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from ticketmaster.domain.catalog import (
    Catalog,
    Event,
    PriceTier,
    Row,
    SaleSettings,
    Section,
    Venue,
)
from ticketmaster.services.demo_venues import DRAWINGS

DEFAULT_START = date(2027, 1, 8)
ON_SALE_SINCE = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)

_ARTISTS = [
    "Taylor Swift",
    "Beyoncé",
    "Coldplay",
    "Bad Bunny",
    "Billie Eilish",
    "The Weeknd",
    "Olivia Rodrigo",
    "Kendrick Lamar",
    "Dua Lipa",
    "Ed Sheeran",
    "Metallica",
    "Adele",
    "Harry Styles",
    "SZA",
    "Foo Fighters",
    "Arctic Monkeys",
    "Lady Gaga",
    "Bruno Mars",
    "Imagine Dragons",
    "Hozier",
    "Phoebe Bridgers",
    "Khruangbin",
    "Fleetwood Tribute",
    "The National",
    "Vampire Weekend",
    "Lizzo",
    "Post Malone",
    "Chris Stapleton",
    "Tame Impala",
    "Rosalía",
    "Karol G",
    "Stray Kids",
    "Mumford & Sons",
    "Norah Jones",
]
_TOURS = [
    "World Tour",
    "Live",
    "The Eras Tour",
    "Stadium Tour",
    "Arena Tour",
    "Acoustic Night",
    "Greatest Hits",
    "In Concert",
    "Farewell Tour",
    "Summer Nights",
]
_SHOWS = [
    "Hamilton",
    "The Lion King",
    "Wicked",
    "Swan Lake",
    "The Nutcracker",
    "Les Misérables",
    "Phantom of the Opera",
    "Chicago",
    "Cirque du Soleil: Alegría",
]
_GAMES = ["Knicks vs Celtics", "Lakers vs Warriors", "Bulls vs Heat", "Rangers vs Bruins", "Liberty vs Aces"]

# (venue id, name, city, kind)
_VENUES = [
    ("ven_empire_stadium", "Empire Stadium", "New York", "stadium"),
    ("ven_harbor_arena", "Harbor Arena", "Boston", "arena"),
    ("ven_sunset_arena", "Sunset Arena", "Los Angeles", "arena"),
    ("ven_lakeside_arena", "Lakeside Arena", "Chicago", "arena"),
    ("ven_royal_theatre", "Royal Theatre", "London", "theatre"),
    ("ven_opera_house", "Harbour Opera House", "Sydney", "theatre"),
    ("ven_grand_hall", "Grand Hall", "Berlin", "theatre"),
    ("ven_lumiere", "Salle Lumière", "Paris", "theatre"),
    ("ven_blue_note", "Blue Room", "Austin", "club"),
    ("ven_warehouse", "The Warehouse", "Toronto", "club"),
    ("ven_moon_club", "Moon Club", "Tokyo", "club"),
    ("ven_riverside", "Riverside Club", "Nashville", "club"),
]

# kind -> (sections, rows per section, seats per row)
_SHAPES = {
    "stadium": (40, 26, 50),  # 52,000 seats
    "arena": (24, 20, 36),  # 17,280 seats
    "theatre": (6, 18, 20),  # 2,160 seats
    "club": (2, 12, 25),  # 600 seats
}
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def _row_id(index: int) -> str:
    if index < len(_ROW_LETTERS):
        return _ROW_LETTERS[index]
    return _ROW_LETTERS[index // len(_ROW_LETTERS) - 1] + _ROW_LETTERS[index % len(_ROW_LETTERS)]


def _venue(venue_id: str, name: str, city: str, kind: str) -> Venue:
    n_sections, n_rows, n_seats = _SHAPES[kind]
    drawn, stage = DRAWINGS[kind](n_sections, n_rows, n_seats)
    sections = tuple(
        Section(
            id=f"s{i + 1:02d}",
            name=section_name,
            rows=tuple(Row(id=_row_id(r), seats=n_seats) for r in range(n_rows)),
            geometry=geometry,
        )
        for i, (section_name, geometry) in enumerate(drawn)
    )
    return Venue(id=venue_id, name=name, city=city, sections=sections, stage=stage)


def _tiers(venue: Venue, kind: str, rng: random.Random) -> tuple[PriceTier, ...]:
    """Cheaper the further from the stage: section groups priced in 2-4 tiers."""
    names = ["Premium", "Standard", "Balcony", "Upper"]
    n_tiers = {"stadium": 4, "arena": 3, "theatre": 3, "club": 2}[kind]
    base = {"stadium": 9500, "arena": 7500, "theatre": 6500, "club": 3500}[kind]
    base = int(base * rng.uniform(0.7, 1.6)) // 100 * 100
    ids = [s.id for s in venue.sections]
    size = -(-len(ids) // n_tiers)
    currency = {
        "London": "GBP",
        "Paris": "EUR",
        "Berlin": "EUR",
        "Sydney": "AUD",
        "Tokyo": "JPY",
        "Toronto": "CAD",
    }.get(venue.city, "USD")
    return tuple(
        PriceTier(
            id=f"pt_{t + 1}",
            name=names[t],
            price_cents=base * (n_tiers - t) // 2 + 1500,
            currency=currency,
            sections=tuple(ids[t * size : (t + 1) * size]),
        )
        for t in range(n_tiers)
        if ids[t * size : (t + 1) * size]
    )


def _title(kind: str, rng: random.Random) -> str:
    if kind == "theatre" and rng.random() < 0.6:
        return rng.choice(_SHOWS)
    if kind == "arena" and rng.random() < 0.2:
        return rng.choice(_GAMES)
    return f"{rng.choice(_ARTISTS)}: {rng.choice(_TOURS)}"


def demo_catalog(*, events: int = 240, start: date = DEFAULT_START, seed: int = 7) -> Catalog:
    """Same arguments, same catalog: ids, titles, dates and prices are all seeded."""
    rng = random.Random(seed)
    venues = [_venue(*spec) for spec in _VENUES]
    kinds = {spec[0]: spec[3] for spec in _VENUES}
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    out: list[Event] = []
    for n in range(events):
        venue = venues[n % len(venues)]
        kind = kinds[venue.id]
        day = begin + timedelta(days=int(n * 182 / events))
        starts_at = day.replace(hour=rng.choice([18, 19, 19, 20, 20, 21]), minute=rng.choice([0, 30]))
        title = "Taylor Swift: The Eras Tour" if n == 0 else _title(kind, rng)
        hot = kind == "stadium" or title.startswith("Taylor Swift")
        # A few on-sales are still ahead, so "not on sale yet" shows up in the demo too.
        on_sale = starts_at - timedelta(days=30) if n % 17 == 16 else ON_SALE_SINCE
        out.append(
            Event(
                id=f"evt_{n + 1:04d}",
                title=title,
                starts_at=starts_at,
                venue_id=venue.id,
                on_sale_at=on_sale,
                price_tiers=_tiers(venue, kind, rng),
                sale=SaleSettings(waiting_room=hot),
            )
        )
    return Catalog(venues=tuple(venues), events=tuple(out))
