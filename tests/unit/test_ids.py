"""new_id: prefixed, URL-safe, never repeated, and a forked child does not replay its
parent's buffered randomness."""

from __future__ import annotations

import os
import re

from ticketmaster.domain.ids import new_id


def test_ids_are_prefixed_url_safe_and_distinct() -> None:
    ids = [new_id("hold") for _ in range(20_000)]  # several refills of the buffer

    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"hold_[A-Za-z0-9_-]{16}", i) for i in ids)


def test_a_forked_child_draws_fresh_randomness() -> None:
    new_id("x")  # the buffer holds the parent's next ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id("x").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)

    assert child != new_id("x")
