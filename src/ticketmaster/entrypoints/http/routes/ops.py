"""Operations: liveness, readiness (both engines answer), Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import PlainTextResponse, Response

from ticketmaster.bootstrap import Container
from ticketmaster.entrypoints.http import bodies, openapi
from ticketmaster.entrypoints.http.metrics import exposition
from ticketmaster.entrypoints.http.readiness import CachedReadiness, Readiness
from ticketmaster.entrypoints.http.responses import json_response

router = APIRouter(tags=["operations"])
READY_TIMEOUT_S = 1.0
READY_CACHE_S = 1.0


@router.get("/healthz", summary="The process is up", responses=openapi.answers(200, bodies.Health))
async def healthz() -> Response:
    # Which API process answered: under `serve --workers N` they share one port.
    return json_response({"status": "ok"}, headers={"X-Process-Id": str(os.getpid())})


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"down: {type(exc).__name__}"
    return "ok"


def readiness_of(c: Container) -> CachedReadiness:
    """The process's cached readiness: both engines checked at once, each within a second."""

    async def check() -> Readiness:
        postgres, redis = await asyncio.gather(_check(c.pool.fetchval("SELECT 1")), _check(c.redis.ping()))
        return Readiness(postgres, redis)

    return CachedReadiness(check, ttl_s=READY_CACHE_S)


@router.get(
    "/readyz",
    summary="PostgreSQL and Redis both answer",
    description="Answered from one check of both engines per second and process.",
    responses=openapi.answers(200, bodies.Readiness, description="both engines answer")
    | {503: {"model": bodies.Readiness, "description": "an engine does not answer (Retry-After)"}},
)
async def readyz(request: Request) -> Response:
    readiness: CachedReadiness = request.app.state.readiness
    state = await readiness.get()
    ok = state.ready
    body = {"status": "ready" if ok else "unavailable", "postgres": state.postgres, "redis": state.redis}
    if not ok:
        body |= {"error": "unavailable", "message": "a dependency is down"}
    return json_response(body, 200 if ok else 503, None if ok else {"Retry-After": "2"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
