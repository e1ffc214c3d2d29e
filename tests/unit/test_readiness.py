"""CachedReadiness: one engine check per second however many ask, shared while it runs,
and a failing engine seen within that second."""

from __future__ import annotations

import asyncio

from ticketmaster.entrypoints.http.readiness import CachedReadiness, Readiness

UP = Readiness("ok", "ok")
REDIS_DOWN = Readiness("ok", "down: ConnectionError")


class Engines:
    """A check that counts its calls and waits for ``release`` before answering ``state``."""

    def __init__(self) -> None:
        self.calls = 0
        self.state = UP
        self.release = asyncio.Event()
        self.release.set()

    async def check(self) -> Readiness:
        self.calls += 1
        await self.release.wait()
        return self.state


async def test_a_flood_shares_one_check_per_second_and_sees_a_failure_within_it() -> None:
    engines, now = Engines(), [100.0]
    readiness = CachedReadiness(engines.check, ttl_s=1.0, clock=lambda: now[0])
    engines.release.clear()
    flood = [asyncio.create_task(readiness.get()) for _ in range(500)]
    await asyncio.sleep(0)
    engines.release.set()
    assert set(await asyncio.gather(*flood)) == {UP}
    assert engines.calls == 1  # 500 callers while one check ran: one round trip per engine

    engines.state = REDIS_DOWN
    now[0] += 0.9
    assert [await readiness.get() for _ in range(100)] == [UP] * 100  # still the same second
    assert engines.calls == 1
    now[0] += 0.1
    assert await readiness.get() == REDIS_DOWN  # a second after the last check: checked again
    assert not (await readiness.get()).ready
    assert engines.calls == 2


async def test_a_caller_that_leaves_does_not_cancel_the_shared_check() -> None:
    engines = Engines()
    readiness = CachedReadiness(engines.check, ttl_s=1.0)
    engines.release.clear()
    leaving = asyncio.create_task(readiness.get())
    staying = asyncio.create_task(readiness.get())
    await asyncio.sleep(0)
    leaving.cancel()
    engines.release.set()
    assert await staying == UP
    assert engines.calls == 1
