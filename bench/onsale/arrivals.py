"""When buyers arrive, shared by the benchmark and the simulation (so both model one crowd).

A share ``prequeue_share`` arrives before the opening, uniformly over the ``lead`` seconds
before it; the others after it, at ``arrival_s * U**2`` seconds past the opening (U uniform):
a density ~ 1/sqrt(t), a burst in the first seconds with a tail to ``arrival_s``.
"""

from __future__ import annotations

import random


def arrival_offsets(
    buyers: int, prequeue_share: float, lead_s: float, arrival_s: float, seed: int
) -> list[float]:
    """Arrival times in seconds relative to the opening (negative = before it), sorted."""
    rng = random.Random(seed)
    early = round(buyers * prequeue_share)
    out = [-rng.uniform(0.0, lead_s) for _ in range(early)]
    out += [arrival_s * rng.random() ** 2 for _ in range(buyers - early)]
    return sorted(out)
