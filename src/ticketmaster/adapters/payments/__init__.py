"""Payment providers behind one small port: the local sandbox client and the Stripe adapter."""

from ticketmaster.adapters.payments.provider import (
    CardDeclined,
    Charge,
    IdempotencyMismatch,
    InMemoryPaymentRecord,
    PaymentCancelled,
    PaymentError,
    PaymentProvider,
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
    "PaymentProvider",
    "PaymentRecord",
    "PaymentRejected",
    "PaymentTimeout",
    "ProviderError",
    "Refund",
]
