"""GenerationFloors (adapters/redis/generations.py): a process's floor per event, read from
PostgreSQL before the first decision, refreshed in the background, raised by what the
gate's scripts return. PostgreSQL is an in-memory fake of the port here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from ticketmaster.adapters.redis.generations import GenerationFloors


@dataclass
class FakeGenerations:
    acknowledged: dict[str, int] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    failing: bool = False

    async def acknowledged_generation(self, event_id: str) -> int:
        self.reads.append(event_id)
        if self.failing:
            raise ConnectionError("PostgreSQL is down")
        return self.acknowledged.get(event_id, 0)

    async def record_generation(self, event_id: str, generation: int) -> None:
        if self.failing:
            raise ConnectionError("PostgreSQL is down")
        self.acknowledged[event_id] = max(self.acknowledged.get(event_id, 0), generation)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    """Let background refreshes run to their end (they await nothing slow here)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_first_floor_of_an_event_is_read_from_postgresql_once() -> None:
    source = FakeGenerations({"evt_a": 41})
    floors = GenerationFloors(source, clock=Clock())

    assert await asyncio.gather(*(floors.floor("evt_a") for _ in range(20))) == [41] * 20
    assert source.reads == ["evt_a"]


async def test_a_floor_is_refreshed_in_the_background_after_the_period() -> None:
    source = FakeGenerations({"evt_a": 5})
    clock = Clock()
    floors = GenerationFloors(source, refresh_s=0.5, clock=clock)
    assert await floors.floor("evt_a") == 5
    source.acknowledged["evt_a"] = 9  # another process acknowledged more

    clock.now += 0.4
    assert await floors.floor("evt_a") == 5
    await settle()
    assert source.reads == ["evt_a"]  # not yet due

    clock.now += 0.2
    assert await floors.floor("evt_a") == 5  # answered at once, refreshed behind
    await settle()
    assert await floors.floor("evt_a") == 9
    assert source.reads == ["evt_a", "evt_a"]


async def test_what_a_script_returns_raises_the_floor_and_a_refresh_never_lowers_it() -> None:
    source = FakeGenerations({"evt_a": 5})
    clock = Clock()
    floors = GenerationFloors(source, refresh_s=0.5, clock=clock)
    await floors.floor("evt_a")

    floors.saw("evt_a", 12)
    floors.saw("evt_a", 7)
    assert await floors.floor("evt_a") == 12
    clock.now += 1
    await floors.floor("evt_a")
    await settle()
    assert await floors.floor("evt_a") == 12


async def test_recording_raises_the_floor_first_then_writes_it_durably() -> None:
    source = FakeGenerations()
    floors = GenerationFloors(source, clock=Clock())
    await floors.floor("evt_a")
    source.failing = True

    with pytest.raises(ConnectionError):
        await floors.record("evt_a", 30)

    assert await floors.floor("evt_a") == 30  # this process's own calls keep it
    source.failing = False
    await floors.record("evt_a", 31)
    assert source.acknowledged == {"evt_a": 31}


async def test_a_failed_refresh_keeps_the_last_floor_and_a_failed_first_read_refuses() -> None:
    source = FakeGenerations({"evt_a": 5})
    clock = Clock()
    floors = GenerationFloors(source, refresh_s=0.5, clock=clock)
    await floors.floor("evt_a")
    source.failing = True

    clock.now += 1
    assert await floors.floor("evt_a") == 5
    await settle()
    assert await floors.floor("evt_a") == 5
    with pytest.raises(ConnectionError):
        await floors.floor("evt_b")  # no floor at all: no decision on a guess


async def test_floors_are_kept_for_a_bounded_number_of_events() -> None:
    source = FakeGenerations({f"evt_{i}": i for i in range(10)})
    floors = GenerationFloors(source, capacity=3, clock=Clock())
    for i in range(10):
        await floors.floor(f"evt_{i}")
    source.reads.clear()

    await floors.floor("evt_9")
    assert source.reads == []  # kept
    await floors.floor("evt_0")
    assert source.reads == ["evt_0"]  # dropped, read again


async def test_a_record_made_inside_a_transaction_raises_the_floor_now_and_writes_it_behind() -> None:
    source = FakeGenerations()
    floors = GenerationFloors(source, clock=Clock())
    assert floors.known("evt_a") == 0  # never read: no question to PostgreSQL either
    await floors.floor("evt_a")

    floors.record_soon("evt_a", 17)

    assert floors.known("evt_a") == 17
    assert source.acknowledged == {}
    await settle()
    assert source.acknowledged == {"evt_a": 17}
    source.failing = True
    floors.record_soon("evt_a", 18)  # a failed write is logged, never raised into the loop
    await settle()
    assert floors.known("evt_a") == 18
    assert source.acknowledged == {"evt_a": 17}
