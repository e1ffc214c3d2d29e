"""Faults injected into a started system at given times after onSaleAt, and how long the
sale took to recover from each.

Faults (``KIND@T`` seconds after the opening; the payment outage ``payment-outage@T1-T2``):

- ``redis-kill``: SIGKILL of the harness's redis-server, started again EMPTY after
  ``DOWN_S`` (no persistence): every event is rebuilt from PostgreSQL;
- ``worker-kill``: SIGKILL of a worker, a new one started after ``DOWN_S`` (its claimed
  purchases are taken over when their lease lapses);
- ``api-kill``: SIGKILL of one API process (with ``--api-processes`` >= 2 the others keep
  serving and uvicorn's supervisor replaces it; with one, it is started again);
- ``pg-restart``: ``pg_ctl stop -m immediate`` of the harness's PostgreSQL, then start;
- ``payment-outage``: the sandbox is SIGKILLed at T1 and started again at T2.

Recovery of a fault = from the moment the component is back (restored) to the first
success after it of the requests the fault hurts (holds and queue polls for Redis,
PostgreSQL and the API; a purchase that SUCCEEDED for a worker kill or a payment outage).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from bench.onsale.stack import Stack

log = logging.getLogger(__name__)
DOWN_S = 1.0
KINDS = ("redis-kill", "worker-kill", "api-kill", "pg-restart", "payment-outage")


@dataclass
class Fault:
    kind: str
    at_s: float
    until_s: float | None = None
    started: float | None = None
    """Journal time the fault was injected."""
    restored: float | None = None
    """Journal time the component was back."""

    @classmethod
    def parse(cls, text: str) -> Fault:
        kind, sep, when = text.partition("@")
        if kind not in KINDS or not sep:
            raise ValueError(f"{text!r}: expected one of {', '.join(KINDS)} followed by @SECONDS")
        if kind == "payment-outage":
            start, dash, end = when.partition("-")
            if not dash or float(end) <= float(start):
                raise ValueError(f"{text!r}: expected payment-outage@T1-T2 with T1 < T2")
            return cls(kind, float(start), float(end))
        return cls(kind, float(when))


async def inject(fault: Fault, stack: Stack, open_at: float, now: object, latency_ms: str) -> None:
    """Sleep until the fault's time (journal clock ``now``), inject it, restore the component."""
    assert callable(now)
    await asyncio.sleep(max(0.0, open_at + fault.at_s - now()))
    fault.started = now()
    log.warning("chaos: %s at %.1f s", fault.kind, fault.started - open_at)
    if fault.kind == "redis-kill":
        stack.kill_redis()
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(stack.start_redis)
    elif fault.kind == "worker-kill":
        victim = stack.workers.pop(0)
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait)
        await asyncio.sleep(DOWN_S)
        stack.start_worker()
    elif fault.kind == "api-kill":
        children = stack.api_children()
        assert stack.api is not None
        if children == [stack.api.pid]:
            stack.api.send_signal(signal.SIGKILL)
            await asyncio.to_thread(stack.api.wait)
            await asyncio.sleep(DOWN_S)
            await asyncio.to_thread(stack.start_api, 1)
        else:
            os.kill(children[0], signal.SIGKILL)  # a child of the serve process we started
    elif fault.kind == "pg-restart":
        await asyncio.to_thread(stack.restart_postgres)
    else:
        stack.kill_sandbox()
        assert fault.until_s is not None
        await asyncio.sleep(max(0.0, open_at + fault.until_s - now()))
        await asyncio.to_thread(stack.start_sandbox, latency_ms)
    fault.restored = now()
