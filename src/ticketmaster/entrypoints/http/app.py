"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ticketmaster import bootstrap
from ticketmaster.config import Settings
from ticketmaster.entrypoints.http import errors
from ticketmaster.entrypoints.http.metrics import MetricsMiddleware
from ticketmaster.entrypoints.http.routes import auth, events, holds, ops, seats


def create_app(settings: Settings) -> FastAPI:
    """An app that builds its container on start-up and releases it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.container = await bootstrap.build(settings)
        try:
            yield
        finally:
            await app.state.container.close()

    app = FastAPI(
        title="Ticketmaster",
        version="0.1.0",
        summary="Buyer-side ticketing API: browse, seat map, holds, purchases.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(MetricsMiddleware)
    for module in (ops, auth, events, seats, holds):
        app.include_router(module.router)
    return app
