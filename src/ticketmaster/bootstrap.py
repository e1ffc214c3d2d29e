"""Composition root: builds the adapters once and hands them to the entry points."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg

from ticketmaster.adapters.payments.sandbox import fetch_ledger
from ticketmaster.adapters.postgres.consistency import PostgresConsistencyReader
from ticketmaster.adapters.postgres.events import PostgresEventCatalog
from ticketmaster.adapters.postgres.holds import HoldWriter, PostgresExpiryRepository, PostgresHoldRepository
from ticketmaster.adapters.postgres.pool import create_pool
from ticketmaster.adapters.postgres.purchases import PostgresPurchaseRepository
from ticketmaster.adapters.postgres.replicas import ReplicaReader
from ticketmaster.adapters.postgres.users import PostgresUserRepository
from ticketmaster.adapters.redis.catalog_cache import CatalogCache
from ticketmaster.adapters.redis.client import RedisClient, create_client
from ticketmaster.adapters.redis.cluster_pipes import hot_pipe
from ticketmaster.adapters.redis.keys import RedisKeys
from ticketmaster.adapters.redis.rate_limit import RedisRateLimiter
from ticketmaster.adapters.redis.seat_gate import RedisSeatGate
from ticketmaster.adapters.redis.waiting_room import RedisWaitingRoom
from ticketmaster.adapters.tokens import TokenSigner
from ticketmaster.config import ConfigError, Settings
from ticketmaster.domain.holds import MAX_SEATS_PER_USER_PER_EVENT
from ticketmaster.observability import record_queue_view
from ticketmaster.services.audit import Auditor
from ticketmaster.services.expiry import ExpireHolds
from ticketmaster.services.holds import HoldService
from ticketmaster.services.ports import PaymentProvider
from ticketmaster.services.purchases import PurchaseService
from ticketmaster.services.reconcile import Reconciler
from ticketmaster.services.seat_map import SeatMapRenderer
from ticketmaster.services.seat_streams import SeatStreams
from ticketmaster.services.waiting_room import AdmissionVerifier, WaitingRoomService
from ticketmaster.services.warmup import OnSaleWarmup

CLIENT_LIMITED_ACTIONS = ("guest", "queue_join")


@dataclass
class Container:
    """Everything a process needs, wired once; ``close`` releases it all."""

    settings: Settings
    pool: asyncpg.Pool
    replicas: ReplicaReader
    redis: RedisClient
    keys: RedisKeys
    signer: TokenSigner
    events: PostgresEventCatalog
    users: PostgresUserRepository
    hold_repo: PostgresHoldRepository
    group_commit: HoldWriter
    catalog: CatalogCache
    gate: RedisSeatGate
    holds: HoldService
    seat_maps: SeatMapRenderer
    seat_streams: SeatStreams
    purchase_repo: PostgresPurchaseRepository
    purchases: PurchaseService
    queues: RedisWaitingRoom
    waiting_room: WaitingRoomService
    rate_limiter: RedisRateLimiter
    client_limiters: dict[str, RedisRateLimiter]
    """Per-client-address buckets by action (``guest``, ``queue_join``); empty when off."""

    async def close(self) -> None:
        await self.seat_streams.close()
        await self.holds.close()
        await self.queues.close()
        await self.group_commit.stop()
        await self.redis.aclose()
        await self.replicas.close()
        await self.pool.close()


async def build(settings: Settings) -> Container:
    """Wire every adapter; must run inside the event loop that will use them."""
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("build() needs both engine URLs; start the embedded engines first")
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    replicas = await ReplicaReader.connect(
        pool, settings.database_replica_urls, max_size=settings.db_pool_size
    )
    client = create_client(settings.redis_url, cluster=settings.redis_cluster)
    keys = RedisKeys(settings.redis_namespace)
    hold_repo = PostgresHoldRepository(pool)
    writer = HoldWriter(hold_repo)
    writer.start()
    catalog = CatalogCache(client, keys, hold_repo)
    gate = RedisSeatGate(client, keys, hold_repo, max_seats_per_user=MAX_SEATS_PER_USER_PER_EVENT)
    purchase_repo = PostgresPurchaseRepository(pool)
    signer = TokenSigner(settings.secret_key)
    queues = RedisWaitingRoom(
        client,
        keys,
        heartbeat_timeout_seconds=settings.queue_heartbeat_timeout_seconds,
        on_view=record_queue_view,
    )
    return Container(
        settings=settings,
        pool=pool,
        replicas=replicas,
        redis=client,
        keys=keys,
        signer=signer,
        events=PostgresEventCatalog(replicas),
        users=PostgresUserRepository(pool),
        hold_repo=hold_repo,
        group_commit=writer,
        catalog=catalog,
        gate=gate,
        holds=HoldService(
            catalog, gate, hold_repo, writer, settings.hold_ttl_seconds, admission=AdmissionVerifier(signer)
        ),
        seat_maps=SeatMapRenderer(gate, catalog),
        seat_streams=SeatStreams(gate),
        purchase_repo=purchase_repo,
        purchases=PurchaseService(purchase_repo, gate),
        queues=queues,
        waiting_room=WaitingRoomService(
            catalog, queues, signer, settings.hold_ttl_seconds, settings.token_ttl_seconds
        ),
        rate_limiter=RedisRateLimiter(
            client, keys, rate_per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst
        ),
        client_limiters=_client_limiters(client, keys, settings),
    )


def _client_limiters(client: RedisClient, keys: RedisKeys, settings: Settings) -> dict[str, RedisRateLimiter]:
    """One bucket per client address and action; 0 for the rate or the burst switches them off."""
    if settings.client_rate_limit_per_second <= 0 or settings.client_rate_limit_burst <= 0:
        return {}
    return {
        action: RedisRateLimiter(
            client,
            keys,
            rate_per_second=settings.client_rate_limit_per_second,
            burst=settings.client_rate_limit_burst,
            bucket=partial(keys.client_rate_limit, action),
        )
        for action in CLIENT_LIMITED_ACTIONS
    }


def make_provider(settings: Settings) -> PaymentProvider:
    """The configured payment provider (the worker charges and refunds through it)."""
    if settings.payment_provider == "stripe":
        from ticketmaster.adapters.payments.stripe_provider import StripePaymentProvider

        if not settings.stripe_api_key:
            raise ConfigError(
                "TICKETMASTER_STRIPE_API_KEY is required with TICKETMASTER_PAYMENT_PROVIDER=stripe"
            )
        return StripePaymentProvider(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            timeout=settings.payment_timeout_seconds,
        )
    from ticketmaster.adapters.payments.sandbox import SandboxPaymentProvider

    return SandboxPaymentProvider(settings.sandbox_url, timeout=settings.payment_timeout_seconds)


def make_warmup(container: Container, *, load_seats: bool) -> OnSaleWarmup:
    """The on-sale warm-up of one process: seat state and caches (worker) or caches only (API)."""
    client = container.redis

    async def prime_pipe() -> None:
        await hot_pipe(client).prime()

    return OnSaleWarmup(
        container.events,
        container.catalog,
        container.gate,
        container.settings.warmup_seconds,
        load_seats=load_seats,
        primers=(container.hold_repo.prime, prime_pipe),
    )


def make_expiry(container: Container) -> ExpireHolds:
    return ExpireHolds(PostgresExpiryRepository(container.pool), container.gate)


def make_reconciler(container: Container) -> Reconciler:
    return Reconciler(
        container.gate,
        PostgresConsistencyReader(container.pool),
        make_expiry(container),
    )


def _same_origin(a: str | None, b: str) -> bool:
    return a is not None and a.rstrip("/") == b.rstrip("/")


def make_auditor(container: Container, *, grace_seconds: float = 5.0) -> Auditor:
    settings = container.settings
    ledger = None
    # The sandbox's ledger is the account's truth whenever the sandbox is the provider: as
    # itself, or speaking Stripe's API to the Stripe adapter.
    stripe_on_sandbox = settings.payment_provider == "stripe" and _same_origin(
        settings.stripe_api_base, settings.sandbox_url
    )
    if settings.payment_provider == "sandbox" or stripe_on_sandbox:
        sandbox_url = settings.sandbox_url

        async def ledger_source() -> list[dict[str, Any]]:
            return await fetch_ledger(sandbox_url)

        ledger = ledger_source
    return Auditor(
        PostgresConsistencyReader(container.pool),
        container.gate,
        ledger,
        grace_seconds=grace_seconds,
    )
