"""``ticketmaster serve --workers N``: N API processes on one port under uvicorn's
supervisor. Requests reach every process, ``/metrics`` adds all of them up (and keeps the
counts of a process that died), a killed process is replaced while the port keeps
answering, and SIGTERM or a terminal's Ctrl-C stops every process. The API-wide tests'
demo deployment runs that way too (with two workers)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import factories
from tests.conftest import ServerProcess, free_port
from tests.e2e.api_pool import FRESH_CONNECTIONS, api_processes, environment, metric, running, served_by
from tests.e2e.buyers import hold, new_buyer, seat_statuses
from tests.e2e.demo_stack import API_PROCESSES, WORKERS, DemoStack
from tests.e2e.test_hold_api import one_event
from tests.fleet import LEAN_POOL, eventually

HEALTHZ_OK = {"route": "/healthz", "status": "200"}
STREAMS = 8


def start_pool(server_env: dict[str, str], *, session: bool = False) -> ServerProcess:
    server = ServerProcess({**server_env, **LEAN_POOL}, args=("--workers", "2"), session=session)
    server.wait_ready(timeout=60)
    return server


@pytest.fixture(scope="module")
def two(server_env: dict[str, str]) -> Iterator[ServerProcess]:
    server = start_pool(server_env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def fresh(two: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=two.url, timeout=10, limits=FRESH_CONNECTIONS) as client:
        yield client


async def both_answer(http: httpx.AsyncClient, parent: int) -> Counter[int]:
    """Requests until both API processes of ``parent`` have answered; how many each did."""
    answered: Counter[int] = Counter()

    async def both() -> Counter[int] | None:
        answered.update(await asyncio.gather(*(served_by(http) for _ in range(4))))
        return answered if set(answered) == api_processes(parent) else None

    return await eventually(both, within=30, what="both API processes to answer")


async def test_requests_reach_both_processes_and_metrics_count_them_all(
    two: ServerProcess, fresh: httpx.AsyncClient
) -> None:
    assert len(api_processes(two.process.pid)) == 2
    before = await metric(fresh, "http_responses_total", HEALTHZ_OK)

    answered = await both_answer(fresh, two.process.pid)

    assert all(count > 0 for count in answered.values())
    expected = before + sum(answered.values())
    # A process counts a response just after sending it: wait for the last counts to land.
    await eventually(
        lambda: at(fresh, "http_responses_total", expected, HEALTHZ_OK), within=10, what="counts"
    )
    for _ in range(6):  # whichever process answers /metrics, it reports both processes
        assert await metric(fresh, "http_responses_total", HEALTHZ_OK) == expected


async def test_a_killed_process_is_replaced_while_the_port_keeps_answering(
    two: ServerProcess, fresh: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    parent = two.process.pid
    event_id, _ = await one_event(pool)
    originals = api_processes(parent)
    counted = await metric(fresh, "http_responses_total", HEALTHZ_OK)
    counted += sum((await both_answer(fresh, parent)).values())
    async with AsyncExitStack() as streams:
        ended = await open_streams(streams, two.url, event_id)
        await eventually(
            lambda: at(fresh, "ticketmaster_seat_streams", STREAMS), within=10, what="every stream counted"
        )
        await eventually(
            lambda: at(fresh, "http_responses_total", counted, HEALTHZ_OK), within=10, what="counts"
        )

        for victim in sorted(originals):
            os.kill(victim, signal.SIGKILL)
            await eventually(lambda v=victim: gone(v), within=10, what="the kill")
            # From here on every request is answered, by the survivor and then the replacement.
            answers = await until_replaced(fresh, parent, victim)
            assert victim not in answers
            counted += sum(answers.values())
            # The dead process's requests still count; its open streams no longer do.
            await eventually(
                lambda c=counted: at(fresh, "http_responses_total", c, HEALTHZ_OK), within=10, what="counts"
            )
            await eventually(
                lambda: at(fresh, "ticketmaster_seat_streams", STREAMS - sum(e.is_set() for e in ended)),
                within=10,
                what="the dead process's streams to leave the gauge",
            )
        assert all(e.is_set() for e in ended)  # every stream was served by one of the originals
    assert api_processes(parent).isdisjoint(originals)


async def until_replaced(http: httpx.AsyncClient, parent: int, victim: int) -> Counter[int]:
    """Who answered rounds of requests (each must succeed) until two processes run, none of
    them ``victim``, and both answered: a replacement serves."""
    answers: Counter[int] = Counter()
    deadline = time.monotonic() + 60
    while True:
        answers.update(await asyncio.gather(*(served_by(http) for _ in range(4))))
        current = api_processes(parent)
        if len(current) == 2 and victim not in current and current <= set(answers):
            return answers
        assert time.monotonic() < deadline, f"no replacement answered; processes now {current}"
        await asyncio.sleep(0.05)  # pacing between rounds, not synchronisation


async def gone(pid: int) -> bool | None:
    return None if running(pid) else True


async def at(
    http: httpx.AsyncClient, name: str, value: float, labels: dict[str, str] | None = None
) -> bool | None:
    return True if await metric(http, name, labels) == value else None


async def open_streams(stack: AsyncExitStack, url: str, event_id: str) -> list[asyncio.Event]:
    """STREAMS seat streams, each on a connection of its own; each event is set when its
    stream is cut."""
    ended = []
    for _ in range(STREAMS):
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=None))
        response = await stack.enter_async_context(client.stream("GET", f"/events/{event_id}/seats/stream"))
        assert response.status_code == 200
        done = asyncio.Event()
        ended.append(done)
        task = asyncio.create_task(drain(response, done))
        stack.callback(task.cancel)
    return ended


async def drain(response: httpx.Response, done: asyncio.Event) -> None:
    try:
        async for _ in response.aiter_bytes():
            pass
    except httpx.HTTPError:
        pass
    done.set()


@pytest.mark.parametrize("how", ["SIGTERM to the parent", "Ctrl-C to the process group"])
def test_a_stop_signal_stops_every_process(server_env: dict[str, str], how: str) -> None:
    server = start_pool(server_env, session=True)
    try:
        children = api_processes(server.process.pid)
        assert len(children) == 2
        metrics_dir = Path(environment(min(children))["PROMETHEUS_MULTIPROC_DIR"])
        assert metrics_dir.is_dir()

        if how.startswith("SIGTERM"):
            server.process.send_signal(signal.SIGTERM)
        else:
            os.killpg(server.process.pid, signal.SIGINT)
        code = server.process.wait(60)

        assert code == 0
        assert not any(running(pid) for pid in children)
        assert not metrics_dir.exists()
    finally:
        server.stop()


async def test_the_api_wide_tests_run_on_two_api_processes_and_two_workers(demo_stack: DemoStack) -> None:
    """The demo deployment of the OpenAPI conformance run and the authorisation matrix is
    the accepted configuration: ``serve --workers 2`` and two workers, both API processes
    answering on the one port."""
    assert len(api_processes(demo_stack.server_pid)) == API_PROCESSES
    assert len(demo_stack.worker_pids) == WORKERS
    assert all(running(pid) for pid in demo_stack.worker_pids)
    async with httpx.AsyncClient(base_url=demo_stack.url, timeout=10, limits=FRESH_CONNECTIONS) as http:
        await both_answer(http, demo_stack.server_pid)


@pytest.mark.parametrize("command", ["serve", "run"])
async def test_web_concurrency_is_the_process_count_of_serve_and_run(
    server_env: dict[str, str], pool: asyncpg.Pool, command: str
) -> None:
    """``TICKETMASTER_WEB_CONCURRENCY`` stands in for ``--workers`` under both commands; under
    ``run`` every API process also runs the worker's jobs (a hold expires without a worker)."""
    venue = factories.venue(sections=1, rows=1, seats=4)
    event = factories.event(venue)
    await factories.load(pool, {"venues": [venue], "events": [event]})  # `run` then seeds nothing
    env = {
        **server_env,
        **LEAN_POOL,
        "TICKETMASTER_WEB_CONCURRENCY": "2",
        "TICKETMASTER_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",  # `run` starts it there
        "TICKETMASTER_HOLD_TTL_SECONDS": "1",
    }
    server = ServerProcess(env, command, session=True)
    try:
        await asyncio.to_thread(server.wait_ready, 60)
        parent = server.process.pid
        assert len(api_processes(parent)) == 2
        async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=FRESH_CONNECTIONS) as http:
            await both_answer(http, parent)
            if command == "run":
                buyer = await new_buyer(http)
                held = await hold(http, buyer, event["id"], ["sec0-A-1"])
                assert held.status_code == 201, held.text

                async def released() -> bool | None:
                    statuses = await seat_statuses(http, event["id"])
                    return True if statuses["sec0-A-1"] == "AVAILABLE" else None

                await eventually(released, within=20, what="the in-process expiry to release the hold")
    finally:
        server.stop()
    assert server.process.returncode == 0
