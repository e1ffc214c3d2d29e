"""The ASGI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from ticketmaster import bootstrap, logs
from ticketmaster.config import Settings
from ticketmaster.entrypoints.http import errors, openapi
from ticketmaster.entrypoints.http.body_limit import BodyLimit
from ticketmaster.entrypoints.http.clients import ClientAddresses
from ticketmaster.entrypoints.http.guard import RequestGuard
from ticketmaster.entrypoints.http.internal import InternalPort
from ticketmaster.entrypoints.http.metrics import MetricsMiddleware
from ticketmaster.entrypoints.http.microcache import BrowseCacheMiddleware, MicroCache
from ticketmaster.entrypoints.http.routes import auth, events, holds, ops, purchases, queue, seats
from ticketmaster.entrypoints.http.routes.docs_assets import redoc_bundle_route
from ticketmaster.entrypoints.http.routes.pages import WebApp, web_router
from ticketmaster.entrypoints.http.security_headers import SecurityHeaders
from ticketmaster.entrypoints.http.shedding import LoadShedder, StreamCap
from ticketmaster.runtime import settle_heap

BackgroundJobs = Callable[[bootstrap.Container, asyncio.Event], Coroutine[Any, Any, None]]


def create_app(settings: Settings, *, background: BackgroundJobs | None = None) -> FastAPI:
    """An app that builds its container on start-up and releases it on shutdown; with
    ``background`` (the worker's jobs, under ``ticketmaster run``) those run in this process
    too, on the same container, until shutdown sets their stop event."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await bootstrap.build(settings)
        app.state.container = container
        app.state.readiness = ops.readiness_of(container)
        container.replicas.start()  # browse replicas' health and lag, probed by API processes
        settle_heap()
        stop = asyncio.Event()
        if background is not None:
            jobs = asyncio.create_task(background(container, stop))
        elif settings.warmup_seconds > 0:
            # This process's caches only; the worker loads seat state.
            jobs = asyncio.create_task(bootstrap.make_warmup(container, load_seats=False).run(stop))
        else:
            jobs = None
        try:
            yield
        finally:
            stop.set()
            if jobs is not None:
                await jobs
            await container.close()

    # /docs (Swagger UI) and /redoc with their scripts and styles served by this app, from
    # the fastapi-offline package: the docs work with no network.
    app = FastAPIOffline(
        title="Ticketmaster",
        version="0.1.0",
        summary="Buyer-side ticketing API: browse, seat map, holds, purchases.",
        lifespan=lifespan,
        # Metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks would only look up
        # an unconfigured provider on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        generate_unique_id_function=openapi.operation_id,
        # No call to Swagger's online validator (offline); the token survives a reload.
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )
    openapi.install(app)
    errors.install(app)
    app.add_middleware(BrowseCacheMiddleware, cache=MicroCache(ttl=settings.browse_cache_seconds))
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestGuard)  # before any cache key or route sees the request
    app.add_middleware(MetricsMiddleware)
    clients = ClientAddresses.from_settings(settings)
    app.state.clients = clients  # the per-client limits of routes (deps.allow_client)
    streams = StreamCap(settings.streams_per_process, settings.streams_per_client, clients)
    app.add_middleware(LoadShedder, max_in_flight=settings.max_in_flight, streams=streams)  # sheds first
    if settings.internal_port is not None:
        app.add_middleware(InternalPort, internal_port=settings.internal_port)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, refusals included
    for module in (ops, auth, events, seats, holds, purchases, queue):
        app.include_router(module.router)
    app.include_router(web_router(WebApp()))
    # The hottest requests of an on-sale, matched first (see each route's docstring); then,
    # ahead of fastapi-offline's mount of the docs' files, Redoc's bundle without its CDN logo.
    hot = [queue.status_route, holds.hold_route, seats.seat_map_route]
    app.router.routes[:0] = [*hot, redoc_bundle_route()]
    return app


def api_from_env(background: BackgroundJobs | None = None) -> FastAPI:
    """The app of one process of ``serve --workers N``: uvicorn imports it by name in each
    process it spawns, so its settings come from the environment."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return create_app(settings, background=background)
