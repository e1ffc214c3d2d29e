"""The sell-out check of bench.best_available: a 409 counts as wrong exactly when, at the
version it was decided at (the change log replayed), the reference rule finds a block."""

from __future__ import annotations

import pytest
from bench.best_available import SellOut, fitting_refusals
from bench.loadgen import LoadResult

from ticketmaster.domain.layout import SectionLayout, VenueLayout

LAYOUT = VenueLayout("ven", (SectionLayout("s", "s", (("A", 6),)),))
# Loaded at version 5; 3-4 held at 6 (1 2 _ _ 5 6), the rest at 7; 4 released at 8.
LOG = [
    (5, {}),
    (6, {"s-A-3": "h1", "s-A-4": "h1"}),
    (7, {"s-A-1": "h2", "s-A-2": "h2", "s-A-5": "h3", "s-A-6": "h3"}),
    (8, {"s-A-4": ""}),
]


def sale(refused: list[tuple[int, int]]) -> SellOut:
    return SellOut(LoadResult(1.0, 1), refused, LOG)


def test_a_refusal_counts_only_when_a_block_fitted_at_its_version() -> None:
    fine = [(3, 6), (4, 6), (1, 7), (2, 8)]
    wrong = [(2, 5), (2, 6), (1, 8)]

    assert fitting_refusals(LAYOUT, sale(fine)) == (0, 5)
    assert fitting_refusals(LAYOUT, sale(fine + wrong + [(2, 6)])) == (4, 5)


@pytest.mark.parametrize("version", [4, 9])
def test_a_refusal_outside_the_log_is_an_error(version: int) -> None:
    with pytest.raises(RuntimeError, match="409"):
        fitting_refusals(LAYOUT, sale([(1, version)]))
