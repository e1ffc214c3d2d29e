"""settle_heap: start-up objects frozen out of the collector, thresholds raised."""

from __future__ import annotations

import gc

from ticketmaster.runtime import GC_THRESHOLDS, settle_heap


def test_settling_freezes_what_exists_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    survivor = {"long": "lived"}
    try:
        settle_heap()

        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert all(o is not survivor for o in gc.get_objects())  # frozen: no longer traversed
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
