"""Seat-gate benchmark: the production Redis Lua gate against three PostgreSQL gates,
side by side in one run under the same contention (SPEC §5: Redis >= 5x the successful
holds/s of the PostgreSQL row-lock gate).

Gates. Each takes one hold as one atomic all-or-nothing decision behind the same small
interface (``try_hold(user, seat_ids)`` -> held or conflict, ``release(hold)``):
  * ``redis``: ``RedisSeatGate`` exactly as the API uses it (hold.lua / release.lua,
    the production client factory, a fresh event per run, a unique idempotency key and
    hold id per attempt);
  * ``for-update``: BEGIN; SELECT the seat rows ... ORDER BY seat_id FOR UPDATE; all
    AVAILABLE? UPDATE them to HELD; COMMIT (else ROLLBACK: conflict);
  * ``cond-update``: BEGIN; one ``UPDATE ... WHERE seat_id = ANY(..) AND status =
    'AVAILABLE'``; COMMIT when it changed every seat, else ROLLBACK (conflict);
  * ``optimistic``: read the seats and their versions without locks; all AVAILABLE? then
    in one transaction one ``UPDATE ... WHERE seat_id = .. AND version = <read>`` per seat;
    a seat that changed meanwhile rolls the transaction back and the attempt starts over
    (at most ``--retries`` times; every retry is counted, running out is a conflict).
The PostgreSQL gates share an asyncpg pool built by the production ``create_pool`` with
``--pool-size`` connections: clients beyond it wait for a connection, and that wait is
part of the measured latency. A release is one autocommit statement locking the hold's
rows in seat order and freeing them (PostgreSQL), or release.lua (Redis); it only frees
seats still held by that hold.

Load. ``--clients`` closed-loop clients in one process (uvloop when installed), each with
its own user id, repeat: pick 1-4 contiguous seats of ``--seats`` (``--hot``: 50 seats),
try to hold them; a successful hold is released at once with probability ``-p``,
otherwise kept in the client's cart and released after the client's next ``--keep``
attempts. So every client holds at most ``--keep + 1`` holds, the share of seats held
stays bounded and the contention stays the same for the whole run instead of selling out.
Every gate starts each run from a fresh event with every seat AVAILABLE.

Window and figures. Attempts completing in the first ``--warmup`` seconds are discarded,
then the next ``--duration`` seconds are measured: successful holds/s, conflicts/s
(seats taken, including optimistic attempts that ran out of retries), optimistic
retries/s, errors (deadlocks, timeouts ...; they count as neither), latency p50/p99 of a
hold attempt (held or conflict, from the first pool wait or Redis call to the answer),
the client process CPU and the database server CPU in % of one core (Redis: the whole
server from INFO, other users of a shared server included; PostgreSQL: the pool's
backend processes, WAL writer and checkpointer left out), and their sum per successful
hold, which other processes taking CPU on a shared machine disturb less than holds/s.
Every hold also goes through a double-hold check: a seat granted twice at once is a gate
bug. With ``--hot`` few seats are ever free, so successful holds/s mostly measures how
fast holders come back to release them; conflicts/s then shows the gate's capacity.

Rounds. ``--repeat`` rounds run the gates interleaved (a b c d, a b c d, ...), so slow
drifts of a noisy machine hit every gate alike. Table figures are medians over rounds;
the ratio column is the median of the per-round ratios of successful holds/s to the
FOR UPDATE gate of the same round. Results also go to
``bench/results/gates-<timestamp>.json``.

Each run creates its own database (dropped afterwards) and its own Redis key namespace
(deleted afterwards). Exit status 1 on a double hold, with ``--smoke`` also when a gate
made no hold or hit an error, with ``--strict`` also when the 5x target is missed.

Examples::

    .venv/bin/python -m bench.gates                  # 200 clients, 5,000 seats, 3 x 4 x 11 s
    .venv/bin/python -m bench.gates --hot            # 200 clients fighting over 50 seats
    .venv/bin/python -m bench.gates --smoke          # CI: 1 s per gate, 10 clients
"""
