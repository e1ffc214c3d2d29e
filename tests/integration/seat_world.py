"""The seat-gate tests' world: one small event with its gate, repository and Redis keys,
and helpers to make holds and sales in PostgreSQL (the `world` fixture is in conftest)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from tests import factories
from ticketmaster.adapters.postgres.holds import PostgresHoldRepository
from ticketmaster.adapters.postgres.users import PostgresUserRepository
from ticketmaster.adapters.redis.client import RedisClient
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.domain.gate import GateResult
from ticketmaster.domain.holds import MAX_SEATS_PER_USER_PER_EVENT, Hold, HoldStatus, fingerprint
from ticketmaster.domain.ids import new_id

TTL_MS = 60_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class World:
    pool: asyncpg.Pool
    redis: RedisClient
    keys: RedisKeys
    repo: PostgresHoldRepository
    gate: RedisSeatGate
    event_id: str
    seats: list[str]

    async def hold(
        self, seats: list[str], *, user: str = "usr_a", key: str | None = None, hold_id: str | None = None
    ) -> GateResult:
        hold_id = hold_id or new_id("hold")
        fp = fingerprint(self.event_id, tuple(seats))
        return await self.gate.hold(
            self.event_id, hold_id, user, tuple(seats), TTL_MS, fp, key or secrets.token_hex(6)
        )

    async def states(self) -> dict[str, str]:
        return dict(await self.redis.hgetall(self.keys.seats(self.event_id)))

    async def version(self) -> int:
        return int(await self.redis.get(self.keys.version(self.event_id)) or 0)

    async def wipe(self) -> None:
        """Lose every Redis key of the event, as a Redis restart without persistence would."""
        pattern = f"{self.keys.event_tag(self.event_id)}:*"
        keys = [k async for k in self.redis.scan_iter(match=pattern, count=1000)]
        assert keys
        await self.redis.delete(*keys)


async def make_world(pool: asyncpg.Pool, redis_client: RedisClient, namespace: str) -> World:
    """One event of 20 seats (sec0-A-1 .. sec0-B-10) with its gate, repository and keys."""
    v = factories.venue(sections=1, rows=2, seats=10)
    e = factories.event(v)
    await factories.load(pool, {"venues": [v], "events": [e]})
    seats = [f"sec0-{row}-{n}" for row in ("A", "B") for n in range(1, 11)]
    keys = RedisKeys(namespace)
    repo = PostgresHoldRepository(pool)
    gate = RedisSeatGate(redis_client, keys, repo, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT)
    return World(pool, redis_client, keys, repo, gate, e["id"], seats)


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def at_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


async def users(pool: asyncpg.Pool, count: int) -> list[str]:
    repo = PostgresUserRepository(pool)
    ids = [new_id("usr") for _ in range(count)]
    for user_id in ids:
        await repo.add_guest(user_id)
    return ids


def a_hold(
    event_id: str,
    user_id: str,
    seats: list[str],
    *,
    expires_at: datetime,
    status: HoldStatus = HoldStatus.ACTIVE,
    hold_id: str | None = None,
) -> Hold:
    return Hold(
        id=hold_id or new_id("hold"),
        event_id=event_id,
        user_id=user_id,
        seat_ids=tuple(sorted(seats)),
        status=status,
        expires_at=expires_at,
        fingerprint=fingerprint(event_id, tuple(seats)),
    )


async def sell(pool: asyncpg.Pool, hold: Hold, *, live: bool) -> None:
    """Record a purchase and a booking of the hold's seats (voided unless ``live``)."""
    purchase_id, booking_id = new_id("pur"), new_id("bkg")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO purchases (id, hold_id, user_id, status, payment_token, amount_cents, currency)
            VALUES ($1, $2, $3, $4, 'tok_visa', 9900, 'USD')
            """,
            purchase_id,
            hold.id,
            hold.user_id,
            "SUCCEEDED" if live else "FAILED",
        )
        await conn.execute(
            """
            INSERT INTO bookings (id, purchase_id, event_id, user_id, amount_cents, currency, status)
            VALUES ($1, $2, $3, $4, 9900, 'USD', $5)
            """,
            booking_id,
            purchase_id,
            hold.event_id,
            hold.user_id,
            "CONFIRMED" if live else "VOIDED",
        )
        await conn.executemany(
            "INSERT INTO booking_seats (booking_id, event_id, seat_id, live) VALUES ($1, $2, $3, $4)",
            [(booking_id, hold.event_id, seat, live) for seat in hold.seat_ids],
        )
