"""Payment providers (services.ports.PaymentProvider): the local sandbox client and the
Stripe adapter; their vocabulary is domain/payments.py."""

from ticketmaster.domain.payments import (
    CardDeclined,
    Charge,
    IdempotencyMismatch,
    InMemoryPaymentRecord,
    PaymentCancelled,
    PaymentError,
    PaymentRecord,
    PaymentRejected,
    PaymentTimeout,
    ProviderError,
    Refund,
)

__all__ = [
    "CardDeclined",
    "Charge",
    "IdempotencyMismatch",
    "InMemoryPaymentRecord",
    "PaymentCancelled",
    "PaymentError",
    "PaymentRecord",
    "PaymentRejected",
    "PaymentTimeout",
    "ProviderError",
    "Refund",
]
