"""Factories for import files and loaded catalogs, with ids unique to each call."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from ticketmaster.adapters.postgres.catalog import PostgresCatalogStore
from ticketmaster.domain.catalog import parse_catalog
from ticketmaster.services.catalog_import import import_catalog


def uid() -> str:
    return secrets.token_hex(4)


def venue(
    venue_id: str | None = None,
    *,
    city: str = "NYC",
    sections: int = 2,
    rows: int = 2,
    seats: int = 10,
    name: str = "Arena",
) -> dict[str, Any]:
    vid = venue_id or f"ven_{uid()}"
    return {
        "id": vid,
        "name": name,
        "city": city,
        "sections": [
            {
                "id": f"sec{s}",
                "name": f"Section {s}",
                "rows": [{"id": chr(ord("A") + r), "seats": seats} for r in range(rows)],
            }
            for s in range(sections)
        ],
    }


def event(
    venue_data: dict[str, Any],
    *,
    event_id: str | None = None,
    title: str = "Band",
    when: str = "2027-05-10T20:00:00Z",
    on_sale_at: str = "2026-01-01T10:00:00Z",
    waiting_room: bool = False,
    price_cents: int = 9900,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uid()}",
        "title": title,
        "datetime": when,
        "venueId": venue_data["id"],
        "onSaleAt": on_sale_at,
        "waitingRoom": waiting_room,
        "priceTiers": [
            {
                "id": "pt_1",
                "name": "Standard",
                "priceCents": price_cents,
                "currency": "USD",
                "sections": [s["id"] for s in venue_data["sections"]],
            }
        ],
        **extra,
    }


async def load(pool: asyncpg.Pool, data: dict[str, Any]) -> None:
    """Import a catalog dict through the real import use case."""
    await import_catalog(PostgresCatalogStore(pool), parse_catalog(data))
