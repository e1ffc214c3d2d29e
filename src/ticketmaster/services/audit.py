"""Use case: verify invariants I1-I5 over PostgreSQL, Redis and the payment ledger.

Read-only and safe during a sale. Findings that depend on Redis are confirmed by a
second look a moment later, so a sale or hold caught half-way (PostgreSQL committed,
Redis not yet updated) is not reported; what persists is a violation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ticketmaster.domain.reconcile import holder, plan
from ticketmaster.domain.seats import SeatState
from ticketmaster.services.ports import ConsistencyReader, GateInspector

LedgerSource = Callable[[], Awaitable[list[dict[str, Any]]]]
# Ledger statuses of a payment that holds money without having settled: an authorisation
# (Stripe's requires_capture) or a payment still processing.
_HOLDING = frozenset({"requires_capture", "processing"})
INVARIANTS = ("I1", "I2", "I3", "I4", "I5")


@dataclass
class AuditReport:
    violations: dict[str, list[str]] = field(default_factory=lambda: {i: [] for i in INVARIANTS})
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def lines(self) -> list[str]:
        out = []
        for invariant in INVARIANTS:
            found = self.violations[invariant]
            out.append(f"{invariant}: {'ok' if not found else f'{len(found)} violation(s)'}")
            out += [f"  - {v}" for v in found]
        out += [f"note: {n}" for n in self.notes]
        return out


@dataclass
class Auditor:
    reader: ConsistencyReader
    gate: GateInspector
    ledger: LedgerSource | None
    grace_seconds: float = 5.0
    recheck_seconds: float = 1.0

    async def run(self) -> AuditReport:
        report = AuditReport()
        v = report.violations
        v["I1"] += [
            f"seat {e}/{s} is in {n} live bookings" for e, s, n in await self.reader.seats_sold_twice()
        ]
        v["I1"] += [
            f"seat {e}/{s} is sold yet held by live hold {h}" for e, s, h in await self.reader.held_and_sold()
        ]
        v["I2"] += [
            f"seat {e}/{s} is covered by live holds {', '.join(h)}"
            for e, s, h in await self.reader.seats_held_twice()
        ]
        v["I3"] += await self.reader.purchases_vs_bookings()
        await self._ledger(report)
        v["I4"] += [
            f"hold {h} is ACTIVE {late:.1f}s past its expiry"
            for h, late in await self.reader.overdue_active_holds(self.grace_seconds)
        ]
        first = await self._redis_findings()
        if first:
            await asyncio.sleep(self.recheck_seconds)
            second = await self._redis_findings()
            for invariant, finding in sorted(first & second):
                v[invariant].append(finding)
        return report

    async def _ledger(self, report: AuditReport) -> None:
        if self.ledger is None:
            report.notes.append(
                "no payment ledger to compare (not the sandbox provider): I3 checked in the database only"
            )
            return
        payments = await self.ledger()
        booked = await self.reader.succeeded_purchases()
        net: Counter[str] = Counter()
        amounts: dict[str, int] = {}
        for p in payments:
            purchase_id = str((p.get("metadata") or {}).get("purchaseId", ""))
            if p.get("status") == "succeeded" and not p.get("refunded"):
                net[purchase_id] += 1
                amounts[purchase_id] = int(p.get("amountCents", 0))
        v = report.violations["I3"]
        for purchase_id, amount in sorted(booked.items()):
            if net[purchase_id] == 0:
                v.append(f"purchase {purchase_id} has a booking but no net charge (ticket without charge)")
            elif amounts[purchase_id] != amount:
                v.append(f"purchase {purchase_id} was charged {amounts[purchase_id]} for a {amount} booking")
        for purchase_id, count in sorted(net.items()):
            if count > 1:
                v.append(f"purchase {purchase_id or '?'} was charged {count} times")
            if purchase_id not in booked:
                v.append(
                    f"purchase {purchase_id or '?'} was charged without a booking (charge without ticket)"
                )
        v += await self._money_held(payments)

    async def _money_held(self, payments: list[dict[str, Any]]) -> list[str]:
        """Payments still holding the buyer's money (an authorisation, or processing) for a
        purchase no worker will look at again. The ledger is read a second time after the
        purchases: a worker cancels a payment before it fails the purchase, so what is still
        held then is left behind for good."""
        held = {str((p.get("metadata") or {}).get("purchaseId", "")): p["id"] for p in payments if _holds(p)}
        if not held:
            return []
        statuses = await self.reader.purchase_statuses(sorted(held))
        done = {pid for pid in held if statuses.get(pid) != "PENDING"}
        if not done:
            return []
        assert self.ledger is not None
        still = {p["id"]: p for p in await self.ledger() if _holds(p)}
        return [
            f"purchase {pid or '?'} is {statuses.get(pid, 'unknown')} but its payment {held[pid]} is still"
            f" {still[held[pid]]['status']} (money held without a ticket)"
            for pid in sorted(done)
            if held[pid] in still
        ]

    async def _redis_findings(self) -> set[tuple[str, str]]:
        findings: set[tuple[str, str]] = set()
        for event_id in await self.reader.live_event_ids():
            if not await self.gate.is_loaded(event_id):
                continue  # rebuilt from PostgreSQL on first touch
            # Same read order as the reconciler (Redis, known holds, truth): see services/reconcile.py.
            snapshot = await self.gate.snapshot(event_id)
            referenced = sorted({holder(raw) or "" for raw in snapshot.states.values()} - {""})
            known = frozenset(await self.reader.existing_holds(referenced)) if referenced else frozenset()
            truth = await self.reader.event_truth(event_id)
            repairs = plan(truth.sold, truth.live_holds, snapshot.states, known)
            for fix in repairs.seat_fixes:
                if fix.kind == "sold_missing":
                    findings.add(
                        ("I5", f"{event_id}/{fix.seat_id} is sold in PostgreSQL but not SOLD in Redis")
                    )
                elif fix.kind == "sold_unbacked":
                    findings.add(("I1", f"{event_id}/{fix.seat_id} is SOLD in Redis without a live booking"))
                else:
                    # Only a hold that still blocks the seat matters: a lapsed one is free already.
                    if SeatState.parse(fix.expected).blocks_at(snapshot.taken_at_ms):
                        findings.add(("I4", f"{event_id}/{fix.seat_id} is blocked in Redis: {fix.detail}"))
            for hold_id in repairs.recreate:
                findings.add(("I5", f"{event_id}: live hold {hold_id} is missing from Redis"))
            for conflict in repairs.conflicts:
                findings.add(("I2", f"{event_id}: {conflict}"))
            # The availability index must say what the seat states say, or best available
            # would pass over free seats (a lapsed hold's among them: I4). A seat found wrong
            # above is that drift already: its repair goes through the index too.
            explained = {f.seat_id for f in repairs.seat_fixes}
            explained |= {s for h in repairs.recreate for s in truth.live_holds[h].seat_ids}
            explained |= {s for pairs in repairs.suspects.values() for s, _ in pairs}
            for row, problem in sorted((await self.gate.index_problems(event_id)).items()):
                if not problem.seats or not set(problem.seats) <= explained:
                    findings.add(("I4", f"{event_id}: availability index row {row} {problem}"))
        return findings


def _holds(payment: dict[str, Any]) -> bool:
    return payment.get("status") in _HOLDING
