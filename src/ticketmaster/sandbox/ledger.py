"""The sandbox's ledger: every payment it answered, every refund, and the journal that keeps them.

Contract: the ledger is the sandbox's whole memory, including its idempotency keys.
Without a journal file it lives in process memory and is lost on exit, by design: a fresh
sandbox is a fresh test account. With a journal file every change is appended as one JSON
line and flushed before the HTTP answer leaves, and the file is replayed at start, so a
restarted sandbox keeps its payments, refunds, idempotency keys and spent test faults. The
journal is append-only; a torn last line (a crash mid-write) is cut off at load. Flushing
hands the line to the OS, which survives a killed process but not a power cut (no fsync:
this is a sandbox, not a bank).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

PaymentStatus = Literal["succeeded", "declined"]
_REFUND_FIELDS = frozenset({"refunded", "refundId", "refundedAt"})


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def utc_now() -> str:
    """RFC 3339 UTC with a ``Z``, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """The parameters an idempotency key is bound to; equal requests are the same request."""

    amount_cents: int
    currency: str
    payment_token: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refund:
    """A full refund of one succeeded payment (a payment has at most one)."""

    id: str
    payment_id: str
    amount_cents: int
    currency: str
    idempotency_key: str | None
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "paymentId": self.payment_id,
            "amountCents": self.amount_cents,
            "currency": self.currency,
            "status": "succeeded",
            "idempotencyKey": self.idempotency_key,
            "createdAt": self.created_at,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Refund:
        return cls(
            id=raw["id"],
            payment_id=raw["paymentId"],
            amount_cents=raw["amountCents"],
            currency=raw["currency"],
            idempotency_key=raw["idempotencyKey"],
            created_at=raw["createdAt"],
        )


@dataclass(slots=True)
class Payment:
    """One executed charge attempt: succeeded (money moved) or declined (none did)."""

    id: str
    idempotency_key: str
    request: ChargeRequest
    status: PaymentStatus
    decline_code: str | None
    created_at: str
    refund: Refund | None = None

    @property
    def net_cents(self) -> int:
        """What the account keeps from this payment: its amount if succeeded and not refunded."""
        return self.request.amount_cents if self.status == "succeeded" and self.refund is None else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "amountCents": self.request.amount_cents,
            "currency": self.request.currency,
            "paymentToken": self.request.payment_token,
            "metadata": self.request.metadata,
            "idempotencyKey": self.idempotency_key,
            "declineCode": self.decline_code,
            "refunded": self.refund is not None,
            "refundId": self.refund.id if self.refund else None,
            "createdAt": self.created_at,
            "refundedAt": self.refund.created_at if self.refund else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Payment:
        return cls(
            id=raw["id"],
            idempotency_key=raw["idempotencyKey"],
            request=ChargeRequest(
                amount_cents=raw["amountCents"],
                currency=raw["currency"],
                payment_token=raw["paymentToken"],
                metadata=dict(raw["metadata"]),
            ),
            status=raw["status"],
            decline_code=raw["declineCode"],
            created_at=raw["createdAt"],
        )


class Ledger:
    """Payments by id and by charge idempotency key, refund keys, and spent test faults.

    Every mutator writes its journal line (when journaling) and updates memory without
    awaiting, so in one event loop each change is atomic with respect to every request.
    """

    def __init__(self, journal: Path | None = None) -> None:
        self._journal = journal
        self._file: BinaryIO | None = None
        self._payments: dict[str, Payment] = {}
        self._by_key: dict[str, str] = {}
        self._refund_keys: dict[str, str] = {}
        self._spent_faults: set[str] = set()
        if journal is not None and journal.exists():
            self._replay(journal)

    @property
    def journal(self) -> Path | None:
        return self._journal

    def payments(self) -> Iterator[Payment]:
        """Every payment in the order it was executed."""
        return iter(self._payments.values())

    def payment(self, payment_id: str) -> Payment | None:
        return self._payments.get(payment_id)

    def payment_for_key(self, idempotency_key: str) -> Payment | None:
        payment_id = self._by_key.get(idempotency_key)
        return None if payment_id is None else self._payments[payment_id]

    def refunded_payment_for_key(self, idempotency_key: str) -> str | None:
        """The payment a refund idempotency key was first used to refund, if any."""
        return self._refund_keys.get(idempotency_key)

    def fault_spent(self, idempotency_key: str) -> bool:
        return idempotency_key in self._spent_faults

    def spend_fault(self, idempotency_key: str) -> None:
        """Record that this key's one injected failure (timeout or 500) has happened."""
        self._append({"kind": "fault", "idempotencyKey": idempotency_key})
        self._spent_faults.add(idempotency_key)

    def record_payment(self, payment: Payment) -> None:
        if payment.idempotency_key in self._by_key:
            raise ValueError(f"idempotency key {payment.idempotency_key!r} already has a payment")
        # The payment as executed; its refund, if any, gets a line of its own.
        executed = {k: v for k, v in payment.to_json().items() if k not in _REFUND_FIELDS}
        self._append({"kind": "payment", "payment": executed})
        self._add_payment(payment)

    def record_refund(self, refund: Refund) -> None:
        payment = self._payments[refund.payment_id]
        if payment.status != "succeeded" or payment.refund is not None:
            raise ValueError(f"payment {payment.id} cannot be refunded")
        self._append({"kind": "refund", "refund": refund.to_json()})
        self._add_refund(refund)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _add_payment(self, payment: Payment) -> None:
        self._payments[payment.id] = payment
        self._by_key[payment.idempotency_key] = payment.id

    def _add_refund(self, refund: Refund) -> None:
        self._payments[refund.payment_id].refund = refund
        if refund.idempotency_key is not None:
            self._refund_keys.setdefault(refund.idempotency_key, refund.payment_id)

    def _append(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            return
        if self._file is None:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._journal.open("ab")
        self._file.write(orjson.dumps(entry) + b"\n")
        self._file.flush()

    def _replay(self, journal: Path) -> None:
        data = journal.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            # A crash mid-write left a torn line: drop it so appends start on a clean line.
            with journal.open("r+b") as fh:
                fh.truncate(complete)
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
                kind = entry["kind"]
                if kind == "payment":
                    self._add_payment(Payment.from_json(entry["payment"]))
                elif kind == "refund":
                    self._add_refund(Refund.from_json(entry["refund"]))
                elif kind == "fault":
                    self._spent_faults.add(entry["idempotencyKey"])
                else:
                    raise ValueError(f"unknown entry kind {kind!r}")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{journal}:{number}: corrupt ledger journal line: {exc}") from exc
