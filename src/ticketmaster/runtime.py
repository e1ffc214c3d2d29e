"""Process-level tuning of the long-running entry points (API server, worker)."""

from __future__ import annotations

import gc

# Young collections every 20,000 net allocations instead of CPython's 700: a request
# allocates hundreds of short-lived objects, so at thousands of requests a second the
# default ran the collector hundreds of times a second. Older generations are collected
# as rarely as the defaults relative to that.
GC_THRESHOLDS = (20_000, 20, 100)


def settle_heap() -> None:
    """Call once start-up is done: what exists now (modules, the container, settings) lives
    as long as the process, so it is moved out of the collector's sight (gc.freeze) instead
    of being traversed by every full collection, and the collection thresholds are raised.

    Measured on the hold benchmark (50 clients, 2 cores): hold p99 ~100 ms -> ~30 ms and
    seat-map p99 ~110-140 ms -> ~40-60 ms, mostly from shorter and fewer collector pauses.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
