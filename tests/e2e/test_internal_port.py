"""The internal port over real HTTP (TICKETMASTER_INTERNAL_PORT): ``/metrics`` and the API
docs are served there and 404 on the public port, which keeps serving the API; the
internal port serves nothing else but the probes. Under ``serve`` and ``serve --workers 2``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tests.fleet import LEAN_POOL

OPERATOR_PATHS = ("/metrics", "/docs", "/redoc", "/openapi.json", "/static-offline-docs/swagger-ui.css")


@pytest.fixture(params=[1, 2], ids=["serve", "serve --workers 2"])
def internal_server(request: pytest.FixtureRequest, server_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = server_env | LEAN_POOL | {"TICKETMASTER_INTERNAL_PORT": str(port)}
    server = ServerProcess(env, "serve", ("--workers", str(request.param)))
    try:
        server.wait_ready()
        yield server.url, f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def test_operator_endpoints_live_on_the_internal_port_only(internal_server: tuple[str, str]) -> None:
    public, internal = internal_server
    async with httpx.AsyncClient(timeout=10) as http:
        for path in OPERATOR_PATHS:
            hidden = await http.get(public + path)
            assert hidden.status_code == 404, path
            assert hidden.json()["error"] == "not_found"
            assert (await http.get(internal + path)).status_code == 200, path
        assert "http_request_duration_seconds" in (await http.get(internal + "/metrics")).text
        assert (await http.get(public + "/events")).status_code == 200  # the API is public
        assert (await http.post(public + "/auth/guest")).status_code == 201
        assert (await http.get(internal + "/events")).status_code == 404  # and only public
        assert (await http.post(internal + "/auth/guest")).status_code == 404
        for probe in ("/healthz", "/readyz"):
            assert (await http.get(public + probe)).status_code == 200
            assert (await http.get(internal + probe)).status_code == 200
