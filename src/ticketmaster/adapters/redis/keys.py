"""Every Redis key the service uses, built in one place.

All keys of one event share the hash tag ``{evt:<id>}`` so each script (and each MULTI)
touches a single Cluster slot; venue layouts are tagged per venue. Keys that are not per
event (a user's rate-limit bucket, the cross-event work lists, the catalog generation) live
in slots of their own and are only ever used by single-key commands, never beside event
keys (tests/unit/test_redis_keys.py). No hot path lists keys (KEYS/SCAN): jobs that need
"all events" read a work list or ask PostgreSQL. The namespace prefix lets several
deployments (or test runs) share one Redis without touching each other's keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

SWEEP_SHARDS = 16  # the Redis sweeper's work lists on a Cluster (RedisKeys.events_with_holds)
_SHARD_SLOTS = REDIS_CLUSTER_HASH_SLOTS // SWEEP_SHARDS


def _shard_tags() -> tuple[str, ...]:
    """For each shard, the first hash tag "sweep:<i>" whose slot lies in its slot range."""
    tags: dict[int, str] = {}
    for i in count():
        tag = f"sweep:{i}"
        tags.setdefault(key_slot(tag.encode()) // _SHARD_SLOTS, tag)
        if len(tags) == SWEEP_SHARDS:
            return tuple(tags[shard] for shard in range(SWEEP_SHARDS))
    raise AssertionError("unreachable")


_SHARD_TAGS = _shard_tags()


@dataclass(frozen=True, slots=True)
class RedisKeys:
    namespace: str = "tm"

    def event_tag(self, event_id: str) -> str:
        return f"{self.namespace}:{{evt:{event_id}}}"

    def venue_layout(self, venue_id: str, revision: int) -> str:
        """JSON layout of a venue (sections, rows, drawing) at one layout revision, which
        never changes: a re-import that changes names or the drawing makes a new revision."""
        return f"{self.namespace}:{{ven:{venue_id}}}:layout:{revision}"

    def event_meta(self, event_id: str, generation: str) -> str:
        """JSON of event facts the hot path needs (venue, on-sale time, prices), as read at
        one catalog generation: a re-import moves readers to new keys, the old ones expire."""
        return f"{self.event_tag(event_id)}:meta:{generation}"

    def catalog_generation(self) -> str:
        """A random value replaced after every catalog import; each process polls it to drop
        event facts it cached before the import (not tagged per event: it spans events)."""
        return f"{self.namespace}:catalog:generation"

    def seats(self, event_id: str) -> str:
        """Hash seat id -> "SOLD" | "<holdId>|<expiresAtMs>"; absent means AVAILABLE."""
        return f"{self.event_tag(event_id)}:seats"

    def version(self, event_id: str) -> str:
        return f"{self.event_tag(event_id)}:version"

    def generation(self, event_id: str) -> str:
        """Int bumped by every change that must survive a failover (a hold granted, a purchase
        started, a sale: scripts/generation.lua); PostgreSQL records the generation of each,
        so a Redis state below it is known to lack them (adapters/redis/generations.py)."""
        return f"{self.event_tag(event_id)}:generation"

    def seat_changes(self, event_id: str) -> str:
        """Stream: the seat change log. Every script that bumps the version appends entry
        "<version>-0", seat id -> new raw state ("" = AVAILABLE; a "-" field when no seat
        changed); load.lua restarts it with a "*reset" entry. Trimmed to ~CHANGE_LOG_MAXLEN
        entries (seat_gate.py), so seat-map readers can catch up without a full HGETALL."""
        return f"{self.event_tag(event_id)}:changes"

    def loaded(self, event_id: str) -> str:
        """Present once the event's seat state was rebuilt from PostgreSQL."""
        return f"{self.event_tag(event_id)}:loaded"

    def loaded_staging(self, event_id: str) -> str:
        """The marker the first calls of a chunked load set instead of ``loaded``."""
        return f"{self.event_tag(event_id)}:loaded:staging"

    def loading_lock(self, event_id: str) -> str:
        return f"{self.event_tag(event_id)}:loading"

    def expiries(self, event_id: str) -> str:
        """Sorted set of hold ids by expiry (ms), for the sweepers."""
        return f"{self.event_tag(event_id)}:expiries"

    def hold_seats(self, event_id: str) -> str:
        """Hash hold id -> "<user>|<seat,seat..>" of holds with seats in the view: what expiry
        needs once the hold key is gone, and the gate's proof that a hold is live."""
        return f"{self.event_tag(event_id)}:holdseats"

    def holders(self, event_id: str) -> str:
        """Hash user id -> "<holdId>:<n>:<expiresAtMs>,..." of the buyer's holds on the event
        (the per-buyer limit; stale entries are dropped as the scripts meet them)."""
        return f"{self.event_tag(event_id)}:holders"

    def seat_rows(self, event_id: str) -> str:
        """Hash: the availability index, the event's seat states by row in rank order
        (scripts/seat_state.lua, domain/availability.py)."""
        return f"{self.event_tag(event_id)}:rows"

    def row_fits(self, event_id: str) -> str:
        """Sorted set: each row's summary, which counts of adjacent seats fit it and whether
        without stranding a seat (scripts/seat_state.lua)."""
        return f"{self.event_tag(event_id)}:rowfits"

    def row_due(self, event_id: str) -> str:
        """Sorted set: row index by the next hold expiry on it, when its summary is redone."""
        return f"{self.event_tag(event_id)}:rowdue"

    def bought(self, event_id: str) -> str:
        """Hash user id -> seats of the event the buyer bought (live bookings), for the
        per-buyer limit: kept by sell.lua, rebuilt from PostgreSQL by load.lua."""
        return f"{self.event_tag(event_id)}:bought"

    def hold(self, event_id: str, hold_id: str) -> str:
        """Hash of one live hold; it expires (PEXPIREAT) when the hold does."""
        return f"{self.event_tag(event_id)}:hold:{hold_id}"

    def idempotency(self, event_id: str, user_id: str, key: str) -> str:
        """The hold created for (user, Idempotency-Key) on this event."""
        return f"{self.event_tag(event_id)}:idem:{user_id}:{key}"

    def events_with_holds(self, shard: int | None = None) -> str:
        """Set of event ids that may have live holds: the Redis sweeper's work list. On one
        Redis a single set; on a Cluster ``shard`` n of SWEEP_SHARDS, the list of the events
        whose slots are in the n-th range of SWEEP_SHARDS equal ranges, itself tagged into
        that range, so it mostly lives on the primary of those events (it fails over with
        them, and a dead primary stalls only its own lists). Only plain set commands touch it."""
        if shard is None:
            return f"{self.namespace}:sweep:events"
        return f"{self.namespace}:{{{_SHARD_TAGS[shard]}}}:sweep:events:{shard}"

    def sweep_list(self, event: str, *, cluster: bool) -> str:
        """The work list the event ``event`` goes on (on a Cluster, its slot range's)."""
        if not cluster:
            return self.events_with_holds()
        return self.events_with_holds(key_slot(self.event_tag(event).encode()) // _SHARD_SLOTS)

    def sweep_lists(self, *, cluster: bool) -> list[str]:
        """Every work list of the Redis sweeper."""
        if not cluster:
            return [self.events_with_holds()]
        return [self.events_with_holds(shard) for shard in range(SWEEP_SHARDS)]

    def hold_key_pattern(self) -> str:
        """A glob (Redis PSUBSCRIBE/SCAN syntax) matching the hold keys of this namespace."""
        namespace = "".join("\\" + c if c in "*?[]\\" else c for c in self.namespace)
        return f"{namespace}:{{evt:*}}:hold:*"

    def parse_hold_key(self, key: str) -> tuple[str, str] | None:
        """(event id, hold id) of a hold key, or None for any other key."""
        head = f"{self.namespace}:{{evt:"
        if not key.startswith(head):
            return None
        event_id, sep, rest = key[len(head) :].partition("}:hold:")
        if not sep or not rest:
            return None
        return event_id, rest

    # --- waiting room (per event, so under the event's tag) ----------------------------

    def queue_issued(self, event_id: str) -> str:
        """The one counter that numbers the event's queue (INCR per first join)."""
        return f"{self.event_tag(event_id)}:queue:issued"

    def queue_members(self, event_id: str) -> str:
        """Hash user id -> queue number (rejoining returns the same number); join path only."""
        return f"{self.event_tag(event_id)}:queue:members"

    def queue_state(self, event_id: str) -> str:
        """Hash of the queue's shared state: pre-queue freeze, "admitted up to", rates."""
        return f"{self.event_tag(event_id)}:queue:state"

    def queue_log(self, event_id: str) -> str:
        """Sorted set "<upTo>:<atMs>:<admitted>" by upTo: when the counter passed each position."""
        return f"{self.event_tag(event_id)}:queue:log"

    def queue_seen(self, event_id: str, slots: int) -> list[str]:
        """The ring of heartbeat bitmaps, bit = queue position: time bucket b lives in slot
        b mod ``slots`` (scripts/heartbeats.lua)."""
        return [f"{self.event_tag(event_id)}:queue:seen:{slot}" for slot in range(slots)]

    def queue_skipped(self, event_id: str) -> str:
        """Bitmap, bit = queue position: the ticker passed it over as silent (cleared when the
        buyer's readmission lapses)."""
        return f"{self.event_tag(event_id)}:queue:skipped"

    def queue_returning(self, event_id: str) -> str:
        """Sorted set of skipped positions that polled again, scored by position, until the
        ticker readmits them or finds them silent again."""
        return f"{self.event_tag(event_id)}:queue:returning"

    def queue_readmitted(self, event_id: str) -> str:
        """Sorted set of readmitted positions scored by readmission time (ms), kept one window."""
        return f"{self.event_tag(event_id)}:queue:readmitted"

    def active_queues(self) -> str:
        """Set of event ids with a waiting-room queue, for the ticker (a tag of its own)."""
        return f"{self.namespace}:{{queues}}:active"

    # --- per user (not per event: a tag of their own) -----------------------------------

    def user_tag(self, user_id: str) -> str:
        return f"{self.namespace}:{{usr:{user_id}}}"

    def rate_limit(self, user_id: str) -> str:
        """Token bucket of the user's write requests, shared by every API process."""
        return f"{self.user_tag(user_id)}:rate"

    # --- per client address (a tag of their own) -----------------------------------------

    def client_rate_limit(self, action: str, client: str) -> str:
        """Token bucket of one client address's ``action`` (guest sign-ins, queue joins)."""
        return f"{self.namespace}:{{cli:{client}}}:rate:{action}"

    def all_keys_pattern(self) -> str:
        """SCAN pattern matching every key of this namespace (operators and tests)."""
        return f"{self.namespace}:*"
