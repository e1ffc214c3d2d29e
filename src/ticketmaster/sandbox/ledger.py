"""The sandbox's ledger: every payment it answered, every refund, and the journal that keeps them.

Two kinds of payment live here: :class:`Payment` (one ``POST /v1/payments``, final at once)
and :class:`Intent` (a Stripe-style PaymentIntent, whose status moves; see
:mod:`ticketmaster.sandbox.intents`), plus the answers stored for Stripe-style idempotency
keys (:class:`StoredAnswer`).

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

from ticketmaster.domain.times import rfc3339

PaymentStatus = Literal["succeeded", "declined"]
# What a ledger reader sees of an intent's status: Stripe's, with the two money-meaning ones
# renamed as a Payment's (a declined intent is back to requires_payment_method with an error).
_INTENT_LEDGER_STATUS = {"succeeded": "succeeded", "canceled": "canceled"}
_REFUND_FIELDS = frozenset({"refunded", "refundId", "refundedAt"})


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def utc_now() -> str:
    """RFC 3339 UTC with a ``Z``, millisecond precision."""
    return rfc3339(datetime.now(UTC), millis=True)


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """The parameters an idempotency key is bound to; equal requests are the same request."""

    amount_cents: int
    currency: str
    payment_token: str
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "amountCents": self.amount_cents,
            "currency": self.currency,
            "paymentToken": self.payment_token,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ChargeRequest:
        return cls(raw["amountCents"], raw["currency"], raw["paymentToken"], dict(raw["metadata"]))


def _refund_fields(refund: Refund | None) -> dict[str, Any]:
    return {
        "refunded": refund is not None,
        "refundId": refund.id if refund else None,
        "refundedAt": refund.created_at if refund else None,
    }


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
            **self.request.to_json(),
            "idempotencyKey": self.idempotency_key,
            "declineCode": self.decline_code,
            "createdAt": self.created_at,
            **_refund_fields(self.refund),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Payment:
        return cls(
            id=raw["id"],
            idempotency_key=raw["idempotencyKey"],
            request=ChargeRequest.from_json(raw),
            status=raw["status"],
            decline_code=raw["declineCode"],
            created_at=raw["createdAt"],
        )


@dataclass(slots=True)
class Intent:
    """A Stripe-style PaymentIntent: ``status`` is Stripe's, ``history`` every status it had."""

    id: str
    idempotency_key: str | None  # of the request that created it
    request: ChargeRequest
    status: str
    created_at: str
    history: list[str] = field(default_factory=list)
    last_error: dict[str, str] | None = None  # type, code, message (and decline_code)
    settles_at: float | None = None  # epoch seconds when a processing intent succeeds
    refund: Refund | None = None

    @property
    def ledger_status(self) -> str:
        if self.status == "requires_payment_method" and self.last_error is not None:
            return "declined"
        return _INTENT_LEDGER_STATUS.get(self.status, self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_intent",
            "status": self.ledger_status,
            "intentStatus": self.status,
            "statusHistory": list(self.history),
            **self.request.to_json(),
            "idempotencyKey": self.idempotency_key,
            "declineCode": (self.last_error or {}).get("decline_code"),
            "lastPaymentError": self.last_error,
            "settlesAt": self.settles_at,
            "createdAt": self.created_at,
            **_refund_fields(self.refund),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Intent:
        return cls(
            id=raw["id"],
            idempotency_key=raw["idempotencyKey"],
            request=ChargeRequest.from_json(raw),
            status=raw["intentStatus"],
            created_at=raw["createdAt"],
            history=list(raw["statusHistory"]),
            last_error=raw["lastPaymentError"],
            settles_at=raw["settlesAt"],
        )


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first answer to a Stripe-style idempotency key, replayed to every retry of it."""

    fingerprint: str  # method, path and parameters of the request that was answered
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "body": self.body,
            "headers": self.headers,
        }


class Ledger:
    """Payments and intents by id, charge idempotency keys, refund keys, stored answers and
    spent test faults.

    Every mutator writes its journal line (when journaling) and updates memory without
    awaiting, so in one event loop each change is atomic with respect to every request.
    """

    def __init__(self, journal: Path | None = None) -> None:
        self._journal = journal
        self._file: BinaryIO | None = None
        self._payments: dict[str, Payment] = {}
        self._intents: dict[str, Intent] = {}
        self._order: list[str] = []  # payment and intent ids, as they were created
        self._answers: dict[str, StoredAnswer] = {}
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

    def entries(self) -> Iterator[Payment | Intent]:
        """Every payment and intent, in the order they were created."""
        for entry_id in self._order:
            yield self._payments.get(entry_id) or self._intents[entry_id]

    def intent(self, intent_id: str) -> Intent | None:
        return self._intents.get(intent_id)

    def record_intent(self, intent: Intent) -> None:
        """Journal a new intent or a change of one (the whole intent; the last line wins)."""
        if intent.history[-1:] != [intent.status]:
            intent.history.append(intent.status)
        self._append({"kind": "intent", "intent": intent.to_json()})
        self._add_intent(intent)

    def answer(self, idempotency_key: str) -> StoredAnswer | None:
        return self._answers.get(idempotency_key)

    def store_answer(self, idempotency_key: str, answer: StoredAnswer) -> None:
        self._append({"kind": "answer", "idempotencyKey": idempotency_key, "answer": answer.to_json()})
        self._answers[idempotency_key] = answer

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
        payment = self._payments.get(refund.payment_id) or self._intents[refund.payment_id]
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
        self._order.append(payment.id)
        self._by_key[payment.idempotency_key] = payment.id

    def _add_intent(self, intent: Intent) -> None:
        known = self._intents.get(intent.id)
        if known is None:
            self._order.append(intent.id)
        elif known is not intent:
            intent.refund = known.refund  # a replayed line carries no refund: it has a line of its own
        self._intents[intent.id] = intent

    def _add_refund(self, refund: Refund) -> None:
        (self._payments.get(refund.payment_id) or self._intents[refund.payment_id]).refund = refund
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
                elif kind == "intent":
                    self._add_intent(Intent.from_json(entry["intent"]))
                elif kind == "answer":
                    self._answers[entry["idempotencyKey"]] = StoredAnswer(**entry["answer"])
                elif kind == "fault":
                    self._spent_faults.add(entry["idempotencyKey"])
                else:
                    raise ValueError(f"unknown entry kind {kind!r}")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{journal}:{number}: corrupt ledger journal line: {exc}") from exc
