"""The worker process: every background job of the system, run side by side.

Jobs are safe to run in several processes at once (leases, SKIP LOCKED, idempotent
scripts). ``ticketmaster worker`` runs them alone; ``ticketmaster run`` runs them inside
the API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from ticketmaster import bootstrap
from ticketmaster.adapters.postgres.holds import PostgresExpiryRepository
from ticketmaster.bootstrap import Container, make_expiry, make_provider, make_reconciler, make_warmup
from ticketmaster.config import Settings
from ticketmaster.entrypoints.worker.admission import AdmissionTicker
from ticketmaster.entrypoints.worker.expiry import ExpiryListener, PostgresSweeper, RedisSweeper
from ticketmaster.runtime import settle_heap
from ticketmaster.services.purchase_processing import PurchaseProcessor

log = logging.getLogger(__name__)


async def _reconcile_forever(container: Container, stop: asyncio.Event) -> None:
    reconciler = make_reconciler(container)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), container.settings.reconcile_interval_seconds)
        if stop.is_set():
            return
        try:
            for line in await reconciler.run_once():
                log.warning("reconcile: %s", line)
        except Exception:
            log.warning("periodic reconcile failed; retrying next round", exc_info=True)


async def run_jobs(container: Container, stop: asyncio.Event) -> None:
    """Run every background job until ``stop`` is set; a crashed job is restarted."""
    settings = container.settings
    assert settings.database_url is not None
    provider = make_provider(settings)
    processor = PurchaseProcessor(
        container.purchase_repo,
        container.gate,
        provider,
        provider_name=settings.payment_provider,
        lease_seconds=settings.worker_lease_seconds,
    )
    expire = make_expiry(container)
    sweeper = RedisSweeper(container.redis, container.keys, expire, settings.redis_sweep_interval_seconds)
    jobs: dict[str, Callable[[], Awaitable[None]]] = {
        "purchases": lambda: processor.run(stop),
        "pending-purchases-gauge": lambda: processor.watch_pending(stop),
        "redis-sweeper": lambda: sweeper.run(stop),
        "postgres-sweeper": lambda: PostgresSweeper(
            PostgresExpiryRepository(container.pool), expire, settings.postgres_sweep_interval_seconds
        ).run(stop),
    }
    jobs["reconciler"] = lambda: _reconcile_forever(container, stop)
    jobs["admission"] = lambda: AdmissionTicker(
        container.queues, container.catalog, settings.hold_ttl_seconds, settings.queue_tick_seconds
    ).run(stop)
    if settings.warmup_seconds > 0:
        jobs["warmup"] = lambda: make_warmup(container, load_seats=True).run(stop)
    if settings.expiry_notifications:
        jobs["expiry-listener"] = lambda: ExpiryListener(
            container.redis, container.keys, expire, sweeper=sweeper
        ).run(stop)

    async def supervise(name: str) -> None:
        while not stop.is_set():
            try:
                await jobs[name]()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s crashed; restarting in 1s", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    try:
        await asyncio.gather(*(supervise(name) for name in jobs))
    finally:
        close = getattr(provider, "aclose", None)
        if close is not None:
            await close()


async def worker_main(settings: Settings) -> None:
    container = await bootstrap.build(settings)
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started")
    try:
        await run_jobs(container, stop)
    finally:
        await container.close()
        log.info("worker stopped")
