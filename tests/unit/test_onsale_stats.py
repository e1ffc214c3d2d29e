"""The on-sale report's timeline (bench/onsale/stats.py): per second after the opening, what
the harness sent and how long it waited for its connections."""

from __future__ import annotations

import math

from bench.onsale.stats import timeline


def test_the_timeline_counts_requests_sent_per_endpoint_and_their_connection_waits_per_second() -> None:
    open_at = 10.0
    entries = [
        (9.5, "queue_join", 201, 0.01),  # before the opening: not in the timeline
        (10.2, "queue_status", 200, 0.01),
        (10.7, "queue_status", 200, 0.01),
        (11.1, "hold", 201, 0.05),
        (11.4, "hold", 409, 0.02),
        (12.9, "seat_map", 200, 0.03),
    ]
    waits = [(9.5, 0.0), (10.2, 0.1), (10.7, 0.3), (11.1, 2.0), (11.4, 4.0), (11.6, 3.0), (12.9, 1.0)]

    per = timeline(entries, open_at, bought_at=[12.5], slot_waits=waits)

    assert per["sent_queue_status"] == [2, 0, 0]
    assert per["sent_hold"] == [0, 2, 0]
    assert per["sent_seat_map"] == [0, 0, 1]
    assert "sent_queue_join" not in per
    assert per["hold_201"] == [0, 1, 0]
    assert per["hold_409"] == [0, 1, 0]
    assert per["bought"] == [0, 0, 1]
    assert per["connection_wait_p50_ms"][1] == 3000.0  # the middle of 2, 4 and 3 s
    assert per["connection_wait_p50_ms"][2] == 1000.0
    assert math.isnan(per["hold_p50_ms"][0])
