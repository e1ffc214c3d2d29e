"""One whole deployment on the demo catalog, shared by the API-wide tests (the OpenAPI
conformance run, the authorisation matrix): a database and a Redis namespace of its own,
seeded as an operator seeds it (``ticketmaster seed --demo``), a payment sandbox, and
``ticketmaster serve --workers 2`` beside two ``ticketmaster worker`` processes, so
purchases complete and waiting rooms admit. Two of each because that is how the service
is accepted (issue 16): every request of the API-wide tests may land on either API
process, and either worker may take its jobs. Other end-to-end tests empty the shared
database before each test; this one keeps its catalog for the whole session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import RUN_ID, ServerProcess, engine_env, forget_namespace, own_database
from tests.fleet import CLI, LEAN_POOL, Sandbox
from ticketmaster.adapters.tokens import TokenSigner

WAITING_ROOM_EVENT = "evt_0001"  # the demo's stadium show: waiting room on
OPEN_EVENT = "evt_0002"  # an arena show without a waiting room, on sale
DEMO_EVENTS = 24
API_PROCESSES = 2  # serve --workers N
WORKERS = 2


@dataclass(frozen=True, slots=True)
class DemoStack:
    url: str
    env: dict[str, str]
    server_pid: int  # the ``serve --workers`` supervisor
    worker_pids: tuple[int, ...]

    @property
    def signer(self) -> TokenSigner:
        """Signs tokens with the deployment's own key (expired ones, for the refusal tests)."""
        return TokenSigner(self.env["TICKETMASTER_SECRET_KEY"])


@pytest.fixture(scope="session")
def demo_stack(
    engine_urls: tuple[str, str], namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoStack]:
    server_url, redis_url = engine_urls
    data_dir = tmp_path_factory.mktemp("demo-stack")
    own_namespace = f"{namespace}demo"
    with own_database(server_url, f"tm_test_{RUN_ID}_demo") as database_url:
        sandbox = Sandbox(data_dir, latency="1:5")
        env = engine_env(database_url, redis_url, own_namespace, data_dir) | LEAN_POOL
        env |= {"TICKETMASTER_SANDBOX_URL": sandbox.url, "TICKETMASTER_QUEUE_TICK_SECONDS": "0.05"}
        processes: list[ServerProcess] = []
        try:
            subprocess.run(
                [*CLI, "seed", "--demo", "--events", str(DEMO_EVENTS)],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
                timeout=120,
            )
            processes = [ServerProcess(env, args=("--workers", str(API_PROCESSES)))]
            processes += [ServerProcess(env, command="worker") for _ in range(WORKERS)]
            sandbox.wait_ready()
            processes[0].wait_ready(timeout=60)
            pids = tuple(p.process.pid for p in processes[1:])
            yield DemoStack(processes[0].url, env, processes[0].process.pid, pids)
        finally:
            for process in reversed(processes):
                process.stop()
            sandbox.stop()
            forget_namespace(env)
