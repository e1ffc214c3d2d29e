"""``python -m tests.e2e.seat_watcher REDIS_URL SEATS_KEY [cluster]``: watch one event's seats hash.

A process of its own (own interpreter, own Redis connection), so the test's event loop
cannot delay its reads. It reads the hash in a tight loop (every ~5 ms) and prints one line
per hold as soon as a read no longer shows the hold on a seat it was seen holding:
``released <hold id> <wall time of that read's reply>``. It prints ``ready`` after its
first read, and on stdin's end ``gap <longest time between two reads>`` and exits.
"""

from __future__ import annotations

import sys
import threading
import time

import redis
from redis.cluster import RedisCluster


def watch(url: str, key: str, *, cluster: bool = False) -> None:
    client: redis.Redis | RedisCluster = (
        RedisCluster.from_url(url, decode_responses=True)
        if cluster
        else redis.Redis.from_url(url, decode_responses=True)
    )
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    holding: dict[str, str] = {}  # seat -> hold id last seen on it
    released: set[str] = set()
    last = time.time()
    gap = 0.0
    first = True
    while not done.is_set():
        states = client.hgetall(key)
        now = time.time()
        gap = max(gap, now - last) if not first else 0.0
        last = now
        current = {s: raw.rpartition("|")[0] for s, raw in states.items() if raw != "SOLD"}
        lines = []
        for seat, hold_id in list(holding.items()):
            if current.get(seat) != hold_id:
                del holding[seat]
                if hold_id not in released:
                    released.add(hold_id)
                    lines.append(f"released {hold_id} {now:.6f}")
        for seat, hold_id in current.items():
            if hold_id not in released and holding.get(seat) != hold_id:
                holding[seat] = hold_id
                lines.append(f"held {hold_id} {now:.6f}")
        if first:
            lines.append("ready")
            first = False
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        time.sleep(0.005)
    sys.stdout.write(f"gap {gap:.6f}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    watch(sys.argv[1], sys.argv[2], cluster=sys.argv[3:] == ["cluster"])
