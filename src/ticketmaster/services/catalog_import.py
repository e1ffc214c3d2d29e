"""Use case: import a catalog file, all-or-nothing and idempotent."""

from __future__ import annotations

from ticketmaster.domain.catalog import (
    Catalog,
    CatalogError,
    ImportReport,
    Progress,
    Venue,
    check_tiers_against_venue,
)
from ticketmaster.services.ports import CatalogStore


def _shape(venue: Venue) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    return tuple((s.id, tuple((r.id, r.seats) for r in s.rows)) for s in venue.sections)


async def import_catalog(
    store: CatalogStore, catalog: Catalog, progress: Progress | None = None
) -> ImportReport:
    """Check the catalog against what is stored, then write it in one transaction.

    Raises CatalogError (nothing written) when a venue's stored seat layout would change,
    an event names an unknown venue, or an event would move to another venue: seats that
    may already be held or sold never change identity under a buyer.
    """
    async with store.importing() as tx:
        in_file = {v.id: v for v in catalog.venues}
        stored = await tx.stored_venues(in_file.keys() | {e.venue_id for e in catalog.events})
        for i, venue in enumerate(catalog.venues):
            old = stored.get(venue.id)
            if old is not None and _shape(old) != _shape(venue):
                raise CatalogError(
                    f"venues[{i}].sections",
                    f"differs from the stored layout of venue {venue.id!r}; seat layouts "
                    "cannot change once imported",
                )
        for i, event in enumerate(catalog.events):
            if event.venue_id in in_file:
                continue
            known = stored.get(event.venue_id)
            if known is None:
                raise CatalogError(f"events[{i}].venueId", f"unknown venue {event.venue_id!r}")
            check_tiers_against_venue(event, known, f"events[{i}]")
        moved = await tx.stored_event_venues([e.id for e in catalog.events])
        for i, event in enumerate(catalog.events):
            if moved.get(event.id, event.venue_id) != event.venue_id:
                raise CatalogError(
                    f"events[{i}].venueId",
                    f"event {event.id!r} is already at venue {moved[event.id]!r} and cannot move",
                )
        cities = {vid: v.city for vid, v in (stored | in_file).items()}
        return await tx.write(
            catalog,
            new_venue_ids=set(in_file) - set(stored),
            cities=cities,
            progress=progress,
        )
