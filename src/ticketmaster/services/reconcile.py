"""Use case: heal drift between Redis and PostgreSQL for every live event.

Heals, per event: sold seats missing in Redis, Redis SOLD without a live booking, Redis
holds that PostgreSQL does not know (after a grace period: a hold's row is written just
after the gate says yes) or no longer considers live, live PostgreSQL holds missing from
Redis, ACTIVE holds past expiry, and rows of the availability index (best available) that
disagree with the seat states. An event Redis has not loaded needs no repair: its
state is rebuilt from PostgreSQL on first touch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ticketmaster.domain.gate import RetimeResult
from ticketmaster.domain.holds import HoldStatus
from ticketmaster.domain.reconcile import SeatFix, holder, plan
from ticketmaster.observability import RECONCILE_FIXES
from ticketmaster.services.expiry import ExpireHolds
from ticketmaster.services.ports import ConsistencyReader, GateInspector

log = logging.getLogger(__name__)

SUSPECT_GRACE_SECONDS = 2.0


@dataclass
class Reconciler:
    gate: GateInspector
    reader: ConsistencyReader
    expire: ExpireHolds
    grace_seconds: float = SUSPECT_GRACE_SECONDS

    async def run_once(self) -> list[str]:
        """Reconcile every live event; returns one line per fix made."""
        changes: list[str] = []
        for event_id in await self.reader.live_event_ids():
            changes += await self.reconcile_event(event_id)
        return changes

    async def reconcile_event(self, event_id: str) -> list[str]:
        changes: list[str] = []
        truth = await self.reader.event_truth(event_id)
        for hold_id in truth.overdue_active:
            if await self.expire.expire(hold_id, "reconcile"):
                changes.append(self._count(event_id, "expired_active", f"hold {hold_id} was past expiry"))
        if not await self.gate.is_loaded(event_id):
            return changes
        # Read order matters: Redis, then which of its holds PostgreSQL knows, then the truth.
        # A hold the snapshot shows and PostgreSQL knows was committed before the truth was
        # read, so the truth has its current status; any other hold is only a suspect.
        snapshot = await self.gate.snapshot(event_id)
        referenced = sorted({holder(raw) or "" for raw in snapshot.states.values()} - {""})
        known = frozenset(await self.reader.existing_holds(referenced)) if referenced else frozenset()
        truth = await self.reader.event_truth(event_id)
        repairs = plan(truth.sold, truth.live_holds, snapshot.states, known)
        for conflict in repairs.conflicts:
            log.error("reconcile %s: %s (cannot be repaired automatically)", event_id, conflict)
            changes.append(f"{event_id}: CONFLICT {conflict}")
        fixes = list(repairs.seat_fixes)
        if repairs.suspects:
            await asyncio.sleep(self.grace_seconds)
            still_unknown = set(repairs.suspects) - set(
                await self.reader.existing_holds(list(repairs.suspects))
            )
            fixes += [
                SeatFix("orphan_hold", seat, raw, "", f"hold {hold_id} has no row in PostgreSQL")
                for hold_id in sorted(still_unknown)
                for seat, raw in repairs.suspects[hold_id]
            ]
        if fixes:
            applied = await self.gate.apply_seat_fixes(event_id, fixes)
            changes += [
                self._count(event_id, f.kind, f"seat {f.seat_id}: {f.detail}")
                for f in fixes
                if f.seat_id in applied
            ]
        for hold_id in sorted(repairs.recreate):
            hold = truth.live_holds[hold_id]
            result = await self.gate.retime(
                event_id,
                hold.id,
                hold.user_id,
                hold.seat_ids,
                status=hold.status,
                expires_at_ms=hold.blocks_until_ms,
                require_live=False,
            )
            if result is RetimeResult.DONE:
                changes.append(self._count(event_id, "hold_missing", f"hold {hold_id} restored in Redis"))
                # Cancelled or sold while we worked? Then the restored copy must go again.
                status = (await self.reader.existing_holds([hold_id])).get(hold_id)
                if status not in (HoldStatus.ACTIVE, HoldStatus.PURCHASING):
                    await self.gate.release(event_id, hold.id, hold.user_id, hold.seat_ids)
            else:
                changes.append(f"{event_id}: CONFLICT hold {hold_id} could not be restored ({result.name})")
        # Last, once the seat states are right: the availability index must say what they say.
        problems = await self.gate.index_problems(event_id)
        if problems:
            await self.gate.rebuild_index_rows(event_id, problems)
            changes += [
                self._count(event_id, "index_row", f"availability index row {row} {problem}: rebuilt")
                for row, problem in sorted(problems.items())
            ]
        return changes

    @staticmethod
    def _count(event_id: str, kind: str, detail: str) -> str:
        RECONCILE_FIXES.labels(kind).inc()
        return f"{event_id}: {kind}: {detail}"
