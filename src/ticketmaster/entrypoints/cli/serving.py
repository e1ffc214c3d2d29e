"""Serving the HTTP API: one process, or N processes on one port (``--workers N``).

Contract of ``--workers N`` (N >= 2), built on uvicorn's own supervisor (``Multiprocess``):

- the parent binds the port once and starts N API processes that accept on that socket
  (the kernel spreads connections over them); it serves nothing itself;
- a process that dies or stops answering the supervisor's health check is killed and
  replaced, while the others keep serving the port;
- SIGTERM or SIGINT (Ctrl-C) to the parent stops every process gracefully (each drains
  its requests and closes its container), then the parent returns;
- a process that cannot start (a broken configuration fails every one the same way)
  stops the parent, which exits 1;
- metrics: the processes write prometheus-client's multiprocess files into a directory
  the parent creates empty and deletes at exit, and every ``/metrics`` answer covers all
  processes (see ``entrypoints/http/metrics.py``).

With ``TICKETMASTER_INTERNAL_PORT`` the server listens on a second socket, the internal
port, bound once like the first and served by every process (entrypoints/http/internal.py
tells the two apart by the connection's local port).

The processes are spawned (a fresh interpreter), so they read their settings from the
environment; the parent exports the engine URLs it resolved (embedded engines and
``run --local-cluster``'s cluster included) and whether Redis is a Cluster.
"""

from __future__ import annotations

import os
import socket
import tempfile
from typing import TYPE_CHECKING, Any

from ticketmaster.config import PREFIX, Settings
from ticketmaster.entrypoints.http.metrics import MULTIPROC_DIR_ENV

if TYPE_CHECKING:
    from fastapi import FastAPI

_FACTORIES = {
    False: "ticketmaster.entrypoints.http.app:api_from_env",
    True: "ticketmaster.entrypoints.cli.serving:api_with_worker_from_env",
}


def api_with_worker_from_env() -> FastAPI:
    """As ``api_from_env``, with the worker's jobs in each process (``run --workers N``)."""
    from ticketmaster.entrypoints.http.app import api_from_env
    from ticketmaster.entrypoints.worker.runner import run_jobs

    return api_from_env(background=run_jobs)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    from ticketmaster.entrypoints.http.parser_refusal import JsonRefusalProtocol

    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": JsonRefusalProtocol,  # httptools, refusing unparsable requests in JSON
        "ws": "none",  # no WebSocket endpoint (live seats are Server-Sent Events)
        "log_config": None,
        "access_log": False,
        # The per-client limits read X-Forwarded-For themselves, and only from the trusted
        # proxies (entrypoints/http/clients.py); the socket's peer stays the peer.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
        # Under --workers the supervisor kills a process whose health-check thread does not
        # answer in this time; uvicorn's 5 s also caught processes merely starved of CPU
        # while starting on a loaded host.
        "timeout_worker_healthcheck": 20,
    }


def _sockets(config: Any, settings: Settings) -> list[socket.socket]:
    """The public socket, and the internal one when ``TICKETMASTER_INTERNAL_PORT`` is set."""
    import uvicorn

    sockets = [config.bind_socket()]
    if settings.internal_port is not None:
        internal = uvicorn.Config(config.app, host=settings.internal_host, port=settings.internal_port)
        sockets.append(internal.bind_socket())
    return sockets


def serve_api(settings: Settings, *, workers: int, with_worker: bool = False) -> int:
    """Serve until stopped; with ``with_worker`` each process also runs the background jobs
    (every job is safe with several). Returns the command's exit status."""
    import uvicorn

    if workers == 1:
        from ticketmaster.entrypoints.http.app import create_app
        from ticketmaster.entrypoints.worker.runner import run_jobs

        app = create_app(settings, background=run_jobs if with_worker else None)
        config = uvicorn.Config(app, **_uvicorn_options(settings))
        uvicorn.Server(config).run(sockets=_sockets(config, settings))
        return 0
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    assert settings.database_url is not None
    assert settings.redis_url is not None
    with tempfile.TemporaryDirectory(prefix="ticketmaster-metrics-") as metrics_dir:
        os.environ[MULTIPROC_DIR_ENV] = metrics_dir
        os.environ[PREFIX + "DATABASE_URL"] = settings.database_url
        os.environ[PREFIX + "REDIS_URL"] = settings.redis_url
        os.environ[PREFIX + "REDIS_CLUSTER"] = "true" if settings.redis_cluster else "false"
        config = uvicorn.Config(
            _FACTORIES[with_worker], factory=True, workers=workers, **_uvicorn_options(settings)
        )
        supervisor = Multiprocess(config, sockets=_sockets(config, settings))
        supervisor.run()
    return 1 if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes) else 0
