"""The on-sale model's parts (SimPy): the crowd's and the fleet's parameters, and the model
itself; :mod:`bench.simulate` documents the model, runs it, sizes the fleet and is its CLI."""

from __future__ import annotations

import bisect
import json
import math
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.onsale.arrivals import arrival_offsets
from bench.onsale.run import ROW_SEATS, ROWS

COMPONENTS = ("api", "redis", "postgres", "worker")
COUNTS = (1, 2, 2, 2, 3, 4, 4)  # seats per buyer, as bench.onsale.buyer
MAX_POLL_S, TICK_S, LOAD_STEP_S = 15.0, 0.25, 0.1
STALL_CYCLE_S = 8.0  # buyer.py without seats: 2 map reads, 2 s after each, a 2-6 s pause, join again
RATE_TIME_CONSTANT_S = 10.0  # adapters/redis/waiting_room.py RATE_TIME_CONSTANT_MS
MAP_REUSE_S = 0.25  # as bench.onsale.buyer: one seat-map parse serves every buyer this long
SLICE_S = 0.001  # Redis and PostgreSQL CPU runs in slices of this (see Model._sliced)
SECTION_SEATS = ROWS * ROW_SEATS  # the venue of bench/onsale/run.py
# bench/onsale/buyer.py, for the per-buyer crowd (Load.per_buyer):
QUEUE_ROUNDS = 100  # times a buyer goes back through the waiting room before giving up
MAP_READS, MAP_RETRY_S = 2, 2.0  # map reads (2 s apart) before "no seats" (_read_map)
NO_SEATS_PAUSE_S = (2.0, 6.0)  # the pause before joining again after "no seats"
VIEW_TTL_S = 0.25  # adapters/redis/waiting_room.py: the status path's cached queue view
MAX_STEP_CREDIT_S = 1.0  # adapters/redis/waiting_room.py MAX_STEP_CREDIT_MS: one tick's credit


# --- a request's steps on the API's event loop -------------------------------------------
# The API process is one asyncio event loop: a request runs in steps between its awaits, and
# while it waits for Redis or PostgreSQL the process serves other requests; when the reply is
# in, the request's next step is queued behind every step already runnable (the loop's ready
# queue is FIFO). The kinds of wait, from the server's code:
#   "redis": one redis-py command, script or pipeline (register_script, pipeline().execute(),
#            GET): sent at once; the reply's arrival makes the request runnable.
#   "pipe":  a script on the shared CommandPipe (adapters/redis/batching.py ScriptBatcher,
#            pipe.py): ``call`` queues the command and ``call_soon(_flush)``; ``_flush``
#            spawns the ``_send`` task that writes it: two turns of the loop before it leaves.
#            The pipe's reader task reads the reply and hands it over: one more turn before
#            the caller's.
#   "postgres": one asyncpg statement (fetch, fetchrow, execute, BEGIN, COMMIT).
#   "commit": the hold's row, written by HoldWriter's group commit (adapters/postgres/holds.py,
#            see Model._hold_writer).
# Statements run on a connection of the API process's asyncpg pool (Fleet.db_pool), taken at
# a request's first statement and given back after its last: a purchase keeps it across its
# transaction, retime.lua and the loop turns between included; the group commit takes one
# per batch. When every connection is out, a statement waits for one (Model._serve).
PIPE_TURNS_OUT, PIPE_TURNS_BACK = 2, 1  # "pipe": loop turns before the command leaves, after its reply
HOLD_WRITERS, HOLD_MAX_BATCH = 1, 128  # HoldWriter(writers=1, max_batch=128), as bootstrap.py builds it


@dataclass(frozen=True)
class Steps:
    endpoint: str
    """Whose measured costs (costs.json) the request spends."""
    waits: tuple[str, ...]
    """Its waits in order; the API runs one CPU step before the first, between each and after
    the last, and the endpoint's measured API CPU is split evenly over them (the code shows no
    step doing most of the work). Redis CPU is split over its Redis waits, PostgreSQL's over
    its PostgreSQL ones."""
    worker_statements: int = 0
    """Statements of the endpoint's measured PostgreSQL CPU that the worker runs, not the
    request (a purchase's cost is measured until it settled): that CPU is split evenly over
    the request's statements and these, and the worker's share is spent in Model._charge."""
    cost: str | None = None
    """The costs.json entry it spends when not its endpoint's (a best-available hold counts
    as a hold but spends what ``hold_best`` measured; the endpoint's when that is absent)."""
    decided_after: int = 0
    """For a request passed a ``decide`` (Model.request): the waits after which the server
    knows its outcome, and the variant (a STEPS kind) it goes on as; 0: as it reaches the
    server (the variant is served from its first step)."""
    api_share: float = 1.0
    """The share of the endpoint's measured API CPU this variant spends (a purchase refused
    at its first statements runs 7 of a purchase's 12 steps)."""

    def statements(self) -> int:
        """Its PostgreSQL statements (a hold's group commit counts as one)."""
        return sum(1 for w in self.waits if w in ("postgres", "commit"))

    def postgres_share(self) -> float:
        """The share of the endpoint's PostgreSQL CPU the request itself spends."""
        own = self.statements()
        return own / (own + self.worker_statements) if own + self.worker_statements else 0.0


STEPS: dict[str, Steps] = {
    # POST /events/{id}/queue (routes/queue.py join_queue): deps.allow_write's rate_limit.lua
    # (ScriptBatcher); allow_client passes the harness without Redis (a loopback address is
    # exempt, clients.py); services/waiting_room.py ``join``: queue_join.lua; the queue view
    # is cached (VIEW_TTL_S). The line is joined as the request is served (Model._wait_in_line).
    "queue_join": Steps("queue_join", ("pipe", "redis")),
    # ... for a place the counter passed, ``_lapsed`` reads what the ticker did with it
    # (RedisWaitingRoom.passed, one pipeline) ...
    "queue_join_passed": Steps("queue_join", ("pipe", "redis", "redis")),
    # ... and when that admission lapsed, queue_join.lua again (requeue_from).
    "queue_join_lapsed": Steps("queue_join", ("pipe", "redis", "redis", "redis")),
    # GET .../queue/status (poll_status, services/waiting_room.py ``status``): the token and
    # the cached view; a waiter's heartbeat is buffered and flushed by a background task.
    # Whether the counter passed the waiter is what the server sees as it serves the poll.
    "queue_status": Steps("queue_status", ()),
    # ... a place at or below the counter: passed(), one pipeline.
    # Its measured cost is its own (an admission token is signed on each such poll).
    "queue_status_passed": Steps("queue_status", ("redis",), cost="queue_status_passed"),
    # GET /events/{id}/seats (services/seat_map.py ``seat_map``): the gate's version (GET);
    # unchanged since the last render, the cached body answers ...
    "seat_map": Steps("seat_map", ("redis", "redis"), decided_after=1),
    "seat_map_cached": Steps("seat_map", ("redis",)),
    # ... else the request renders, whose changes_since is a pipeline: the patch and deflate
    # of the changed segments are what ``seat_map_changed`` measured beyond a cached read
    # (renders are shared: readers arriving meanwhile get the same one; see Model._map_read).
    "seat_map_changed": Steps("seat_map", ("redis", "redis"), cost="seat_map_changed"),
    # POST /events/{id}/holds (routes/holds.py HoldEndpoint, services/holds.py hold_seats):
    # rate_limit.lua and hold.lua, both ScriptBatcher (event facts, layout and the generation
    # floor are in process memory); a refusal (409, its records complete) is answered then;
    # a grant waits for its row's group commit (``_make_durable``), then answers 201.
    "hold_201": Steps("hold", ("pipe", "pipe", "commit"), decided_after=2),
    "hold_409": Steps("hold", ("pipe", "pipe")),
    # The same with ``best`` (hold_best.lua searches the availability index instead).
    "hold_best_201": Steps("hold", ("pipe", "pipe", "commit"), cost="hold_best", decided_after=2),
    "hold_best_409": Steps("hold", ("pipe", "pipe"), cost="hold_best"),
    # POST /holds/{id}/purchase (services/purchases.py ``request``): rate_limit.lua; in one
    # transaction BEGIN, lock_hold, by_key, now(), price; retime.lua (register_script);
    # ``start``'s three statements and COMMIT. The worker (services/purchase_processing.py,
    # adapters/postgres/purchases.py) then runs 15: claim's two, mark_charge_started,
    # record_payment, and confirm's transaction (BEGIN, two fetchvals, a savepoint around
    # the seats' insert, the booking's copy, two updates, the booking's read, COMMIT).
    "purchase": Steps(
        "purchase",
        ("pipe", *("postgres",) * 5, "redis", *("postgres",) * 4),
        worker_statements=15,
        decided_after=5,
    ),
    # ... a hold no longer ACTIVE (it lapsed) is found at now(): 409 hold_not_active after
    # BEGIN, lock_hold, by_key and now(), then ROLLBACK; no worker.
    "purchase_409": Steps("purchase", ("pipe", *("postgres",) * 5), api_share=7 / 12),
    # GET /purchases/{id}: one fetchrow.
    "purchase_status": Steps("purchase_status", ("postgres",)),
}
WORKER_STATEMENTS_BEFORE_CHARGE = 3  # a purchase's claim (2) and mark_charge_started


@dataclass(frozen=True)
class Load:
    buyers: int = 1_000_000
    seats: int = 20_000
    prequeue_share: float = 0.3
    lead_s: float = 60.0
    arrival_s: float = 300.0
    poll_s: float = 2.0
    queue_patience_s: float = 0.0
    best_share: float = 0.5
    front_bias: float = 0.6
    max_retries: int = 3
    abandon_share: float = 0.15
    decline_share: float = 0.1
    think_s: tuple[float, float] = (0.3, 1.5)
    hold_ttl_s: float = 600.0
    payment_ms: tuple[float, float] = (100.0, 1000.0)
    admission_per_min: float | None = None
    max_admitted: int | None = None
    admission_window_s: float | None = None
    """How long an admission lasts (None: the hold TTL, the product's default)."""
    rtt_ms: float = 1.0
    seed: int = 1
    per_buyer: bool = False
    """Each buyer one process that joins, polls and loops exactly as bench/onsale/buyer.py
    (validation against the harness); False: the crowd's joins and polls in aggregate (for
    crowds of millions)."""
    connections: int | None = None
    """The load generator's connection pool (bench/onsale/client.py, --connections): a request
    first waits for a free connection and its latency is timed from then. None: no pool (every
    buyer its own browser)."""


@dataclass(frozen=True)
class Fleet:
    api: int = 1
    redis_shards: int = 1
    postgres_cores: int = 2
    workers: int = 1
    worker_slots: int = 32
    db_pool: int = 20
    """PostgreSQL connections per API process (TICKETMASTER_DB_POOL_SIZE; bench onsale's stack
    sets DB_POOL_SIZE)."""
    shared_cores: int | None = None
    client_cpu: float = 0.0
    """Cores the load generator keeps busy on the shared machine (validation only)."""
    client_s_per_request: float = 0.0
    """The load generator's CPU per request instead (validation, per-buyer crowd): its one
    event loop (bench/onsale/client.py) handles every response, so a response waits for it,
    and that wait is inside the latency the harness measures."""


@dataclass
class Outcome:
    sell_out_s: float | None = None
    all_taken_s: float | None = None
    holds_ok: int = 0
    holds_409: int = 0
    purchase_409: int = 0
    """Retries of a declined payment answered after the hold's own expiry."""
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waits: list[float] = field(default_factory=list)
    admitted: int = 0
    left_queue: int = 0
    max_admitted_at_once: int = 0
    busy: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    busy_per_s: dict[str, dict[int, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    end_s: float = 0.0
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    commits: list[int] = field(default_factory=list)
    """The group commit's batch sizes (holds per commit)."""
    slot_waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Per endpoint, the s each request waited for a connection of the pool (Load.connections)."""


def load_costs(path: Path) -> dict[str, dict[str, float]]:
    data = json.loads(path.read_text())
    return {
        name: {c: float(v.get(f"{c}_ms", 0.0)) / 1000 for c in COMPONENTS}
        for name, v in data["endpoints"].items()
    }


@dataclass
class View:
    """A buyer's copy of the seat map: a shared snapshot, less the seats it learned are gone."""

    seats: list[int]
    removed: set[int] = field(default_factory=set)


class Model:
    def __init__(self, load: Load, fleet: Fleet, costs: dict[str, dict[str, float]]) -> None:
        import simpy

        self.simpy = simpy
        self.load, self.fleet, self.costs = load, fleet, costs
        self.env = simpy.Environment()
        self.res = {
            "api": simpy.Resource(self.env, fleet.api),
            "redis": simpy.Resource(self.env, 1),  # one event = one slot = one shard
            "postgres": simpy.Resource(self.env, fleet.postgres_cores),
            "worker": simpy.Resource(self.env, fleet.workers),
        }
        self.cores = simpy.Resource(self.env, fleet.shared_cores) if fleet.shared_cores else None
        self.worker_slots = simpy.Resource(self.env, fleet.workers * fleet.worker_slots)
        self.db_pool = simpy.Resource(self.env, fleet.api * fleet.db_pool)
        self.rng = random.Random(load.seed)
        self.out = Outcome()
        self.available = list(range(load.seats))  # seat indices in rank order (front first)
        self.sections = max(1, math.ceil(load.seats / SECTION_SEATS))
        self.sold = 0
        self.over = simpy.Event(self.env)
        self.rate = (load.admission_per_min or 10 * load.seats) / 60
        # The counter's measured speed, as queue_admit.lua keeps it (an EWMA while waiters
        # remain): the server's wait estimates, and so how often waiters poll, follow it.
        self.speed = self.rate
        self.cap = load.max_admitted or min(2 * load.seats, 10_000)
        self.shopping = 0
        # Shoppers waiting for seats to come back (each woken with the count it then wants).
        self.stalled: deque[Any] = deque()
        self._map: tuple[float, list[int]] | None = None  # (read at, available seats then)
        self._changes = self._rendered = 0  # seat changes so far, and as of the last render
        self.conns = simpy.Resource(self.env, load.connections) if load.connections else None
        self.client_loop = simpy.Resource(self.env, 1)
        # HoldWriter's queue of rows (PostgreSQL CPU, the event its hold waits on), its
        # writer tasks and those waiting for a row.
        self.commits: deque[tuple[float, Any]] = deque()
        self.writers: list[Any] = []
        self.writer_idle: deque[Any] = deque()
        # The per-buyer waiting room (Load.per_buyer), as the server keeps it: the line (buyer
        # per position), the counter (positions passed), when it passed each, each buyer's
        # current position, and the view the status path answers from.
        self.line: list[int] = []
        self.frozen = False
        self.counter = 0
        self.passed_at: list[float] = []
        self.position: dict[int, int] = {}
        self.joined_at: dict[int, float] = {}
        self._view: tuple[float, int, float] = (-math.inf, 0, self.rate)
        self.open_at = load.lead_s
        self.noticed: dict[int, tuple[float, float]] = {}
        """Buyer -> (when a poll first reported its admission, when the counter passed it)."""

    # --- service ------------------------------------------------------------------------

    def _cpu(self, component: str, seconds: float) -> Any:
        """Hold one unit of ``component`` (and of a shared core) for ``seconds`` of CPU."""
        if seconds <= 0:
            return
        with self.res[component].request() as unit:
            yield unit
            yield from self._on_a_core(seconds)
        self.out.busy[component] += seconds
        per_s, t, end = self.out.busy_per_s[component], self.env.now - seconds, self.env.now
        while t < end:  # spread over the seconds it ran in
            step = min(end, math.floor(t) + 1) - t
            per_s[int(t)] += step
            t += step

    def request(self, kind: str, decide: Callable[[], str] | None = None) -> Any:
        """One request of a STEPS ``kind`` (returns its latency, s): with a connection pool
        (Load.connections) it first waits for a free connection, untimed, as
        bench/onsale/client.py times a request from when it has one; then its steps on the
        API (see ``_serve``) and the round trip. A request whose outcome the server's state
        decides passes ``decide``, called when the server knows it (after the kind's
        ``decided_after`` waits: as a join or a poll reaches it, the map's version, hold.lua's
        reply, the purchase's now()): it takes the seats or not, finds the hold lapsed, sees
        the counter..., and returns the kind of the rest ("hold_409", "purchase_409", ...)."""
        if self.conns is None:
            return (yield from self._serve(kind, decide))
        asked = self.env.now
        with self.conns.request() as connection:
            yield connection
            self.out.slot_waits[STEPS[kind].endpoint].append(self.env.now - asked)
            return (yield from self._serve(kind, decide))

    def _serve(self, kind: str, decide: Callable[[], str] | None) -> Any:
        """The request's steps (STEPS): an API CPU step, a wait (Redis or PostgreSQL CPU on
        their queues, or the group commit), the next step queued behind the runnable ones,
        and so on. Until ``decide`` tells the outcome, steps get an even share of the
        longest variant's (a hold's 201, a purchase accepted); the rest split what is left
        evenly, so every request of an endpoint spends its measured API CPU (a variant its
        ``api_share`` of it), and each statement its share of the PostgreSQL CPU; a refused
        hold writes no row."""
        start = self.env.now
        if decide is not None and STEPS[kind].decided_after == 0:
            kind, decide = decide(), None  # what the server's state says as the request reaches it
        steps = STEPS[kind]
        endpoint, waits = steps.endpoint, steps.waits
        cost = self.costs.get(steps.cost or endpoint) or self.costs[endpoint]
        redis_waits = sum(1 for w in waits if w in ("redis", "pipe"))
        redis_s = cost["redis"] / redis_waits if redis_waits else 0.0
        # The endpoint's PostgreSQL CPU per statement, the request's and the worker's alike.
        statement_s = cost["postgres"] / max(1, steps.statements() + steps.worker_statements)
        if not redis_waits and cost["redis"]:  # flushed by a background task (heartbeats)
            self.env.process(self._cpu("redis", cost["redis"]))
        api_left, done = cost["api"], 0
        connection: Any = None  # of the pool, from the first statement to the last
        try:
            while True:
                share = api_left / (len(waits) - done + 1)
                yield from self._step(share)
                api_left -= share
                if done == len(waits):
                    break
                wait = waits[done]
                if wait == "pipe":
                    for _ in range(PIPE_TURNS_OUT):
                        yield from self._turn()
                    yield from self._sliced("redis", redis_s)
                    for _ in range(PIPE_TURNS_BACK):
                        yield from self._turn()
                elif wait == "redis":
                    yield from self._sliced("redis", redis_s)
                elif wait == "postgres":
                    if connection is None:
                        connection = self.db_pool.request()
                        yield connection
                    yield from self._sliced("postgres", statement_s)
                else:
                    yield from self._commit(statement_s)
                done += 1
                if decide is not None and done == steps.decided_after:
                    variant = STEPS[decide()]
                    waits = variant.waits
                    spends = self.costs.get(variant.cost or endpoint) or cost
                    api_left += spends["api"] * variant.api_share - cost["api"]
                if connection is not None and "postgres" not in waits[done:]:
                    self.db_pool.release(connection)
                    connection = None
        finally:
            if connection is not None:
                self.db_pool.release(connection)
        yield self.env.timeout(self.load.rtt_ms / 1000)
        if self.fleet.client_s_per_request:
            yield from self._client(self.fleet.client_s_per_request)
        self.out.requests[endpoint] += 1
        latency = self.env.now - start
        self.out.latency_ms[endpoint].append(latency * 1000)
        return latency

    def _map_read(self) -> str:
        """services/seat_map.py: a read answers from the last render while no seat changed
        since; the first read after a change renders, the readers after it share that one."""
        if self._rendered == self._changes:
            return "seat_map_cached"
        self._rendered = self._changes
        return "seat_map_changed"

    def _step(self, seconds: float) -> Any:
        """One step of a request on the API's event loop: its turn, then its CPU, unsliced
        (a step runs until the request's next await)."""
        if seconds > 0:
            yield from self._cpu("api", seconds)
        else:
            yield from self._turn()

    def _turn(self) -> Any:
        """A turn of the API's event loop that costs next to no CPU (a callback or a task's
        step that hands something on): it comes after every step already runnable."""
        with self.res["api"].request() as unit:
            yield unit

    def _commit(self, postgres_s: float) -> Any:
        """HoldWriter.write: queue the row for a writer task and wait for its batch's commit."""
        done = self.env.event()
        self.commits.append((postgres_s, done))
        if not self.writers:
            self.writers = [self.env.process(self._hold_writer()) for _ in range(HOLD_WRITERS)]
        if self.writer_idle:
            self.writer_idle.popleft().succeed()
        yield done

    def _hold_writer(self) -> Any:
        """HoldWriter._run: take the first queued row (``await queue.get()``: a turn when it
        had to wait), yield one turn (``asyncio.sleep(0)``) so holds decided meanwhile join,
        take up to HOLD_MAX_BATCH, insert them in one statement and commit (PostgreSQL CPU:
        the rows' measured costs, on one backend), then the reply's turn sets every future."""
        while True:
            if not self.commits:
                wake = self.env.event()
                self.writer_idle.append(wake)
                yield wake
                yield from self._turn()
            yield from self._turn()
            batch = [self.commits.popleft() for _ in range(min(len(self.commits), HOLD_MAX_BATCH))]
            if not batch:
                continue
            self.out.commits.append(len(batch))
            with self.db_pool.request() as connection:  # insert_many: one of the pool's
                yield connection
                yield from self._sliced("postgres", sum(pg for pg, _ in batch))
            yield from self._turn()
            for _, done in batch:
                done.succeed()

    def _client(self, seconds: float) -> Any:
        """The load generator's event loop handling a response: one loop, on a shared core."""
        with self.client_loop.request() as loop:
            yield loop
            yield from self._on_a_core(seconds)
        self.out.busy["client"] += seconds

    def _on_a_core(self, seconds: float) -> Any:
        """``seconds`` of CPU, on one of the machine's shared cores when they are modelled."""
        if self.cores is None:
            yield self.env.timeout(seconds)
            return
        with self.cores.request() as core:
            yield core
            yield self.env.timeout(seconds)

    def _sliced(self, component: str, seconds: float) -> Any:
        """CPU in slices of at most SLICE_S: PostgreSQL's backends and Redis interleave
        work, so a cheap statement waits behind a slice of a long one, not all of it."""
        slices = max(1, math.ceil(seconds / SLICE_S))
        for _ in range(slices):
            yield from self._cpu(component, seconds / slices)

    def background(self, endpoint: str, count: float) -> None:
        """``count`` requests' CPU as aggregate jobs (polls, joins): spread over the API
        processes, one job for Redis and one for PostgreSQL."""
        cost = self.costs[endpoint]
        self.out.requests[endpoint] += int(count)
        # As many jobs as keep each within one step (so the demand is served as it comes).
        jobs = max(1, min(self.fleet.api, math.ceil(count), math.ceil(cost["api"] * count / LOAD_STEP_S)))
        for _ in range(jobs):
            self.env.process(self._cpu("api", cost["api"] * count / jobs))
        self.env.process(self._cpu("redis", cost["redis"] * count))
        self.env.process(self._cpu("postgres", cost["postgres"] * count))

    # --- the crowd and the queue -----------------------------------------------------------

    def run(self) -> Outcome:
        ld = self.load
        offsets = arrival_offsets(ld.buyers, ld.prequeue_share, ld.lead_s, ld.arrival_s, ld.seed)
        arrive = [ld.lead_s + o for o in offsets]  # simulation time 0 = lead before the opening
        open_at = ld.lead_s
        early = sum(1 for o in offsets if o < 0)
        order = list(range(early))
        self.rng.shuffle(order)
        queue = order + list(range(early, ld.buyers))  # queue position -> buyer
        patience = ld.queue_patience_s
        leave = [a + self.rng.expovariate(1 / patience) if patience else math.inf for a in arrive]
        if ld.per_buyer:
            for buyer, at in enumerate(arrive):
                self.env.process(self._journey(buyer, at))
            self.env.process(self._line_ticker())
        else:
            self.env.process(self.joins_and_polls(arrive, open_at))
            self.env.process(self._ticker(arrive, leave, queue, open_at))
        if self.fleet.client_cpu and self.cores is not None and not self.fleet.client_s_per_request:
            self.env.process(self._client_load())
        self.env.run(until=self.over | self.env.timeout(open_at + 3600))
        self.out.end_s = self.env.now - open_at
        if self.out.sell_out_s is not None:
            self.out.sell_out_s -= open_at
        if self.out.all_taken_s is not None:
            self.out.all_taken_s -= open_at
        return self.out

    def _client_load(self) -> Any:
        while True:
            for _ in range(math.ceil(self.fleet.client_cpu)):
                self.env.process(
                    self._core_only(LOAD_STEP_S * self.fleet.client_cpu / math.ceil(self.fleet.client_cpu))
                )
            yield self.env.timeout(LOAD_STEP_S)

    def _core_only(self, seconds: float) -> Any:
        assert self.cores is not None
        with self.cores.request() as core:
            yield core
            yield self.env.timeout(seconds)

    def joins_and_polls(self, arrive: list[float], open_at: float) -> Any:
        """Joins and status polls of the waiting crowd, in aggregate every LOAD_STEP_S."""
        joined = 0
        early = bisect.bisect_right(arrive, open_at)  # joined before the opening
        while not self.over.triggered:
            now = self.env.now
            new = bisect.bisect_right(arrive, now) - joined
            joined += new
            if new:
                self.background("queue_join", new)
            waiting = joined - self.out.admitted - self.out.left_queue
            if waiting > 0 and now < open_at + self.load.poll_s:
                # bench/onsale/buyer.py: a waiter who joined before the opening sleeps until
                # it, then polls once within the poll interval (none poll before it).
                first = early / self.load.poll_s if now >= open_at else 0.0
                rest = self.poll_rate(max(0, joined - early), before_open=False)
                self.background("queue_status", LOAD_STEP_S * (first + rest))
            elif waiting > 0:
                self.background("queue_status", LOAD_STEP_S * self.poll_rate(waiting, before_open=False))
            stalled = len(self.stalled)
            if stalled:
                # Each goes round bench/onsale/buyer.py's loop: two map reads, a pause, a join
                # again and a status poll, once every STALL_CYCLE_S.
                cycles = LOAD_STEP_S * stalled / STALL_CYCLE_S
                self.background("seat_map", 2 * cycles)
                self.background("queue_join", cycles)
                self.background("queue_status", cycles)
                self.discover(LOAD_STEP_S / STALL_CYCLE_S)
            yield self.env.timeout(LOAD_STEP_S)

    def poll_rate(self, waiting: int, before_open: bool) -> float:
        """Polls/s of ``waiting`` waiters spread over the line, each every clamp(ahead /
        rate / 3, poll, 15) s (before the opening: none, as the harness's waiters sleep
        until it)."""
        p = self.load.poll_s
        if before_open:
            return 0.0
        speed = max(self.speed, self.rate / 100)  # the estimate's floor (domain/waiting_room.py)
        a1 = min(waiting, 3 * speed * p)
        a2 = min(waiting, 3 * speed * MAX_POLL_S)
        rate = a1 / p + (3 * speed * math.log(a2 / a1) if a2 > a1 > 0 else 0.0)
        return rate + max(0.0, waiting - a2) / MAX_POLL_S

    def _ticker(self, arrive: list[float], leave: list[float], queue: list[int], open_at: float) -> Any:
        arrive_sorted = sorted(arrive)
        yield self.env.timeout(open_at)
        admitted_at: list[float] = []  # admission times still inside the window
        window = self.load.admission_window_s or self.load.hold_ttl_s
        i, last = 0, self.env.now
        while not self.over.triggered:
            now = self.env.now
            budget = self.rate * (now - last)
            elapsed, passed_before = now - last, i
            last = now
            while admitted_at and admitted_at[0] <= now - window:
                admitted_at.pop(0)
            budget = min(budget, self.cap - len(admitted_at))
            carry = budget - int(budget)
            while budget >= 1 and i < len(queue):
                buyer = queue[i]
                if arrive[buyer] > now:
                    break  # FIFO behind the pre-queue: the next one has not joined yet
                i += 1
                if leave[buyer] <= now:
                    self.out.left_queue += 1
                    continue
                budget -= 1
                admitted_at.append(now)
                self.out.admitted += 1
                self.out.waits.append(now - max(arrive[buyer], open_at))
                self.env.process(self._shop())
            last -= carry / self.rate if self.rate else 0.0
            joined = bisect.bisect_right(arrive_sorted, now)
            if elapsed > 0 and i < joined:
                alpha = 1 - math.exp(-elapsed / RATE_TIME_CONSTANT_S)
                self.speed += alpha * ((i - passed_before) / elapsed - self.speed)
            self.out.max_admitted_at_once = max(self.out.max_admitted_at_once, self.shopping)
            yield self.env.timeout(TICK_S * self.rng.uniform(0.8, 1.2))

    # --- one admitted buyer -----------------------------------------------------------------

    def _read_map(self) -> Any:
        """One seat-map read (returns the buyer's copy): of the map as the server read it, not
        as it is when the answer arrives (behind a loaded loop that is later)."""
        served: list[View] = []

        def read() -> str:
            served.append(self.seat_map_copy())
            return self._map_read()

        yield from self.request("seat_map", read)
        return served[0]

    def seat_map_copy(self) -> View:
        """The seat map as a read serves it: the harness's buyers share one parse of it for
        MAP_REUSE_S, then choose (and retry after 409s) from their copy, not from the truth."""
        if self._map is None or self.env.now - self._map[0] > MAP_REUSE_S:
            self._map = (self.env.now, list(self.available))
        return View(self._map[1])

    def pick(self, count: int, view: View) -> list[int]:
        """Seats as bench/onsale/seats.py ``SeatView.pick`` chooses them: sections in a
        front-weighted random order, the first with a run of ``count`` adjacent seats free in
        ``view`` gives one such run at random, else ``count`` free seats at random; [] when
        fewer than ``count`` are free. Seat s is section s // SECTION_SEATS, row
        (s % SECTION_SEATS) // ROW_SEATS, as bench/onsale/run.py lays the venue out."""
        seats, removed = view.seats, view.removed
        if len(seats) - len(removed) < count:
            return []
        rng, n = self.rng, self.sections
        k = 5.0 * self.load.front_bias
        order = sorted(range(n), key=lambda i: -math.log(rng.random() or 1e-12) / math.exp(-k * i / n))
        for i in order:
            lo = bisect.bisect_left(seats, i * SECTION_SEATS)
            hi = bisect.bisect_left(seats, (i + 1) * SECTION_SEATS, lo)
            free = [s for s in seats[lo:hi] if s not in removed] if removed else seats[lo:hi]
            runs = [
                free[j]
                for j in range(len(free) - count + 1)
                if free[j + count - 1] - free[j] == count - 1
                and free[j] // ROW_SEATS == free[j + count - 1] // ROW_SEATS
            ]
            if runs:
                start = rng.choice(runs)
                return list(range(start, start + count))
        singles = [s for s in seats if s not in removed]
        return sorted(rng.sample(singles, count))

    def _best_block(self, count: int) -> list[int]:
        """What hold_best.lua picks for ``{"best": {"count": count}}`` (adjacent, the API's
        default): the front-most ``count`` consecutive free seats of one row, or nothing (a
        409) when no row has that many side by side. Seat indices are in rank order, so the
        first run found is the best-ranked; the gate's preference for a row's middle and for
        blocks that strand no seat is left out."""
        run: list[int] = []
        for s in self.available:
            if run and (s != run[-1] + 1 or s // ROW_SEATS != run[-1] // ROW_SEATS):
                run = []
            run.append(s)
            if len(run) == count:
                return run
        return []

    def _take(self, seats: list[int]) -> bool:
        positions = [bisect.bisect_left(self.available, s) for s in seats]
        if any(
            p >= len(self.available) or self.available[p] != s for p, s in zip(positions, seats, strict=True)
        ):
            return False
        for s in seats:
            self.available.pop(bisect.bisect_left(self.available, s))
        self._changes += 1
        if not self.available and self.out.all_taken_s is None:
            self.out.all_taken_s = self.env.now
        return True

    def _release_later(self, seats: list[int]) -> Any:
        yield self.env.timeout(self.load.hold_ttl_s)
        self._release(seats)

    def _release(self, seats: list[int]) -> None:
        """The seats are free again (a hold lapsed or was given back)."""
        for s in seats:
            bisect.insort(self.available, s)
        self._changes += 1

    def discover(self, share: float) -> None:
        """A ``share`` of the stalled shoppers read the map now, as each harness buyer without
        seats does once a cycle (bench/onsale/buyer.py: nobody tells it seats came back):
        each draws how many seats it wants this time (``_shop`` draws a count per try) and
        goes shopping when the map shows that many free; the others keep looping."""
        if not self.available or not self.stalled:
            return
        n = min(len(self.stalled), int(len(self.stalled) * share + self.rng.random()))
        for _ in range(n):
            wake = self.stalled.popleft()
            count = self.rng.choice(COUNTS)
            if count <= len(self.available):
                wake.succeed(count)
            else:
                self.stalled.append(wake)

    def _shop(self) -> Any:
        ld, rng = self.load, self.rng
        self.shopping += 1
        try:
            yield self.env.timeout(rng.uniform(0, 1.5 * ld.poll_s))  # noticed at the next poll
            count = rng.choice(COUNTS)
            while not self.over.triggered:
                view = yield from self._read_map()
                choice = self.pick(count, view)
                if choice:
                    yield self.env.timeout(rng.uniform(*ld.think_s))
                for _ in range(ld.max_retries + 1 if choice else 0):
                    if self.over.triggered:
                        return
                    best = rng.random() < ld.best_share
                    outcome, seats, latency = yield from self._hold(count, best, choice)
                    if outcome == "held":
                        self.out.holds_ok += 1
                        self.out.latency_ms["hold_201"].append(latency * 1000)
                        yield from self._pay_or_abandon(seats)
                        return
                    self.out.holds_409 += 1
                    view.removed.update(seats)  # as the harness drops the seats a 409 names
                    choice = self.pick(count, view)
                    if not choice:  # its copy has nothing left that fits: read the map again
                        view = yield from self._read_map()
                        choice = self.pick(count, view)
                    if not choice:
                        break
                else:
                    if choice:
                        return  # every try was a 409: the harness's buyer gives up ("conflicts")
                # No seats (all held or sold): loop as the benchmark's buyers do (map reads, a
                # pause, back through the waiting room: that load is counted in aggregate with
                # the waiters') until a map read shows enough seats (see ``discover``).
                wake = self.env.event()
                self.stalled.append(wake)
                yield wake | self.over
                if not wake.triggered:
                    return
                woken = wake.value
                assert isinstance(woken, int)
                count = woken  # the count it drew for the read that showed seats
        finally:
            self.shopping -= 1

    def _hold(self, count: int, best: bool, asked: list[int], expires: float = math.inf) -> Any:
        """A hold request: the gate takes ``asked`` (hold.lua) or the best block of ``count``
        (hold_best.lua, :meth:`_best_block`) when it answers, all or none. Returns ("held",
        its seats, latency), ("refused", the seats the 409 names, latency) or ("lapsed", [],
        latency): the admission had expired
        (services/holds.py checks it before the gate; the model at the gate's answer)."""
        result: list[Any] = ["refused", []]
        kind = "hold_best" if best else "hold"

        def gate() -> str:
            if self.env.now >= expires:
                result[0] = "lapsed"
                return f"{kind}_409"
            seats = self._best_block(count) if best else asked
            result[1] = seats
            if seats and self._take(seats):
                result[0] = "held"
                return f"{kind}_201"
            return f"{kind}_409"

        latency = yield from self.request(f"{kind}_201", gate)
        return result[0], result[1], latency

    def _pay_or_abandon(self, seats: list[int]) -> Any:
        ld, rng = self.load, self.rng
        if rng.random() < ld.abandon_share:
            self.env.process(self._release_later(seats))
            return
        # The hold lasts the TTL from the gate's answer (just now) and lapses then unless a
        # purchase of it is under way (its key is pushed to the payment deadline): the seats
        # are free from the expiry on, and a purchase that reaches the server later is a 409
        # (hold_not_active; the harness's buyer is done). Behind a saturated connection pool
        # a first purchase can come that late too, not only a retry. A declined payment hands
        # the hold back only until its expiry (services/purchase_processing.py ``_fail``):
        # declined after it, the seats are free at once. The server looks at the hold at the
        # request's now() (STEPS "purchase"), where ``decide`` settles it.
        expires = self.env.now + ld.hold_ttl_s
        hold = {"purchasing": False, "lapsed": False}
        self.env.process(self._lapse(seats, expires, hold))

        def decide() -> str:
            if hold["lapsed"]:
                return "purchase_409"
            hold["purchasing"] = True
            return "purchase"

        yield self.env.timeout(rng.uniform(*ld.think_s))
        attempts = 2 if rng.random() < ld.decline_share else 1
        for attempt in range(attempts):
            yield from self.request("purchase", decide)
            if not hold["purchasing"]:
                self.out.purchase_409 += 1
                return
            done = self.env.event()
            self.env.process(self._charge(done))
            while not done.triggered:
                yield self.env.timeout(0.3)
                yield from self.request("purchase_status")
            if attempt < attempts - 1:  # declined: the hold is the buyer's again until its expiry
                hold["purchasing"] = False
                if self.env.now >= expires:
                    hold["lapsed"] = True
                    self._release(seats)
        self.sold += len(seats)
        if self.sold >= ld.seats and not self.over.triggered:
            self.out.sell_out_s = self.env.now
            self.over.succeed()

    def _lapse(self, seats: list[int], expires: float, hold: dict[str, bool]) -> Any:
        """The hold's expiry: its seats are free again unless a purchase of it is under way."""
        yield self.env.timeout(max(0.0, expires - self.env.now))
        if not hold["purchasing"] and not hold["lapsed"]:
            hold["lapsed"] = True
            self._release(seats)

    def _charge(self, done: Any) -> Any:
        with self.worker_slots.request() as slot:
            yield slot
            cost = self.costs["purchase"]
            # The worker's statements (Steps.worker_statements): claim's two and
            # mark_charge_started before the provider's charge, the rest after it.
            steps = STEPS["purchase"]
            postgres_s = cost["postgres"] * (1 - steps.postgres_share()) / steps.worker_statements
            yield from self._cpu("worker", cost["worker"])
            yield from self._sliced("postgres", postgres_s * WORKER_STATEMENTS_BEFORE_CHARGE)
            yield self.env.timeout(self.rng.uniform(*self.load.payment_ms) / 1000)
            after = steps.worker_statements - WORKER_STATEMENTS_BEFORE_CHARGE
            yield from self._sliced("postgres", postgres_s * after)
        done.succeed()

    # --- the per-buyer crowd (Load.per_buyer): bench/onsale/buyer.py, one process each ------

    def _freeze(self) -> None:
        """The sale opened (queue_join.lua / queue_admit.lua, whichever runs first): the
        pre-queue's order is shuffled once; later joiners get FIFO positions behind it."""
        if self.frozen:
            return
        self.frozen = True
        self.rng.shuffle(self.line)
        self.position = {buyer: i for i, buyer in enumerate(self.line)}

    def _join(self, buyer: int) -> int | None:
        """The server's join (services/waiting_room.py ``join``): a buyer keeps its place
        unless the counter passed it more than a window ago (its admission lapsed: a new place
        at the back). Its position, or None for a pre-queue ticket before the opening."""
        if self.env.now >= self.open_at:
            self._freeze()
        place = self.position.get(buyer)
        if place is None and buyer in self.joined_at and not self.frozen:
            return None  # joined again before the opening: the same pre-queue ticket
        window = self.load.admission_window_s or self.load.hold_ttl_s
        lapsed = place is not None and place < self.counter and self.passed_at[place] + window <= self.env.now
        if place is None or lapsed:
            self.line.append(buyer)
            if not self.frozen:
                return None
            place = self.position[buyer] = len(self.line) - 1
        return place

    def _join_kind(self, buyer: int) -> str:
        """The STEPS of the buyer's join (services/waiting_room.py ``join``): a place the
        counter passed is looked up (``_lapsed``), and joined again when its admission lapsed."""
        place = self.position.get(buyer)
        if not self.frozen or place is None or place >= self.counter:
            return "queue_join"
        window = self.load.admission_window_s or self.load.hold_ttl_s
        lapsed = self.passed_at[place] + window <= self.env.now
        return "queue_join_lapsed" if lapsed else "queue_join_passed"

    def _queue_view(self) -> tuple[int, float]:
        """(counter, measured speed) as the status path sees them: a copy refreshed at most
        every VIEW_TTL_S (adapters/redis/waiting_room.py)."""
        if self.env.now - self._view[0] > VIEW_TTL_S:
            self._view = (self.env.now, self.counter, self.speed)
        return self._view[1], self._view[2]

    def _estimate(self, place: int | None) -> float:
        """The wait the server tells a waiter at ``place`` (domain/waiting_room.py
        ``estimate_wait_seconds``, shown in whole seconds): positions ahead over the counter's
        measured speed, floored at 1 % of the configured rate; 0 once passed."""
        if place is None:
            return 0.0  # before the opening the harness sleeps until it whatever it is told
        counter, speed = self._queue_view()
        ahead = place + 1 - counter
        if ahead <= 0:
            return 0.0
        return float(int(ahead / max(speed, self.rate / 100) + 0.5))

    def _line_ticker(self) -> Any:
        """queue_admit.lua every TICK_S: the counter moves over at most rate x elapsed
        positions (elapsed credited up to MAX_STEP_CREDIT_S, less than one buyer carried),
        never so that admissions younger than the window exceed the cap; the speed is an
        EWMA of its movement while positions remain behind it."""
        yield self.env.timeout(self.open_at)
        self._freeze()
        window = self.load.admission_window_s or self.load.hold_ttl_s
        last, carry = self.env.now, 0.0
        active: deque[float] = deque()  # admission times younger than the window
        while not self.over.triggered:
            now = self.env.now
            elapsed = min(max(now - last, 0.0), MAX_STEP_CREDIT_S)
            last = now
            while active and active[0] + window <= now:
                active.popleft()
            budget = carry + self.rate * elapsed
            allowance = min(int(budget), self.cap - len(active))
            before = self.counter
            admitted = 0
            while admitted < allowance and self.counter < len(self.line):
                self.passed_at.append(now)
                active.append(now)
                self.counter += 1
                admitted += 1
            carry = budget - admitted
            if carry >= 1:
                carry = 0.0
            if elapsed > 0 and self.counter < len(self.line):
                alpha = 1 - math.exp(-elapsed / RATE_TIME_CONSTANT_S)
                self.speed += alpha * ((self.counter - before) / elapsed - self.speed)
            self.out.max_admitted_at_once = max(self.out.max_admitted_at_once, self.shopping)
            yield self.env.timeout(TICK_S * self.rng.uniform(0.8, 1.2))

    def _journey(self, buyer: int, arrive_at: float) -> Any:
        """bench/onsale/buyer.py ``journey``: through the waiting room, then shop; an admission
        that lapsed sends it back to the queue, "no seats" too after a 2-6 s pause."""
        yield self.env.timeout(arrive_at)
        for _ in range(QUEUE_ROUNDS):
            expires = yield from self._wait_in_line(buyer)
            if expires is None:
                return
            self.shopping += 1
            try:
                end = yield from self._shop_once(expires)
            finally:
                self.shopping -= 1
            if end == "done":
                return
            if end == "no seats":
                yield self.env.timeout(self.rng.uniform(*NO_SEATS_PAUSE_S))

    def _wait_in_line(self, buyer: int) -> Any:
        """Join, then poll as bench/onsale/buyer.py ``_wait_in_line``: every U(0.5, 1.5) x
        clamp(estimate / 3, poll, 15) s, or (before the opening) once in the poll interval
        after it. Returns when the admission expires (None: the sale is over). The queue
        wait is timed as the harness times it: first join (or the opening) to the poll that
        reported the first admission."""
        ld, rng = self.load, self.rng
        window = ld.admission_window_s or ld.hold_ttl_s
        # What the server answers is decided as it serves the request (Steps.decided_after 0),
        # not when the buyer started waiting for a connection: behind a saturated pool that is
        # seconds later, and the counter has moved on.
        place: int | None = None
        estimate = 0.0
        expires: float | None = None  # the admission's end, once a poll reported it

        def join() -> str:
            nonlocal place, estimate
            kind = self._join_kind(buyer)
            place = self._join(buyer)
            estimate = self._estimate(place)
            return kind

        def poll() -> str:
            nonlocal place, estimate, expires
            if place is None:
                place = self.position.get(buyer)
            counter, _ = self._queue_view()
            passed = place is not None and place < counter
            if place is not None and passed and self.passed_at[place] + window > self.env.now:
                expires = self.passed_at[place] + window
            # Waiting (or, passed and lapsed, told so with no estimate: the harness polls on).
            estimate = self._estimate(place)
            return "queue_status_passed" if passed else "queue_status"

        yield from self.request("queue_join", join)
        self.joined_at.setdefault(buyer, self.env.now)
        while not self.over.triggered:
            wait = rng.uniform(0.5, 1.5) * min(max(ld.poll_s, estimate / 3), MAX_POLL_S)
            if self.env.now < self.open_at:
                wait = self.open_at - self.env.now + rng.uniform(0.0, ld.poll_s)
            yield self.env.timeout(wait)
            yield from self.request("queue_status", poll)
            if expires is not None and place is not None:
                if buyer not in self.noticed:
                    self.noticed[buyer] = (self.env.now, self.passed_at[place])
                    self.out.admitted += 1
                    self.out.waits.append(self.env.now - max(self.joined_at[buyer], self.open_at))
                return expires
        return None

    def _read_map_until(self, count: int) -> Any:
        """bench/onsale/buyer.py ``_read_map``: the map, read again 2 s later while it shows
        fewer than ``count`` free seats; None ("no seats") 2 s after the MAP_READS-th read."""
        for _ in range(MAP_READS):
            view = yield from self._read_map()
            if len(view.seats) >= count:
                return view
            yield self.env.timeout(MAP_RETRY_S)  # after the last read too, then "no seats"
        return None

    def _shop_once(self, expires: float) -> Any:
        """bench/onsale/buyer.py ``_shop``: read the map, think, hold (other seats of its copy
        after a 409, up to k times, re-reading the map when its copy has none that fit).
        "done" (held, or every try a 409: the harness's "conflicts"), "no seats", or
        "lapsed" (the hold was refused for an expired admission: back to the queue)."""
        ld, rng = self.load, self.rng
        count = rng.choice(COUNTS)
        view = yield from self._read_map_until(count)
        if view is None:
            return "no seats"
        yield self.env.timeout(rng.uniform(*ld.think_s))
        for _ in range(ld.max_retries + 1):
            if self.over.triggered:
                return "done"
            best = rng.random() < ld.best_share
            choice: list[int] = []
            if not best:
                choice = self.pick(count, view)
                if not choice:
                    view = yield from self._read_map_until(count)
                    if view is None:
                        return "no seats"
                    choice = self.pick(count, view)
                view.removed.update(choice)
            outcome, seats, latency = yield from self._hold(count, best, choice, expires)
            if outcome == "lapsed":
                return "lapsed"  # 403 admission_required: the admission token expired
            if outcome == "held":
                self.out.holds_ok += 1
                self.out.latency_ms["hold_201"].append(latency * 1000)
                yield from self._pay_or_abandon(seats)
                return "done"
            self.out.holds_409 += 1
        return "done"
