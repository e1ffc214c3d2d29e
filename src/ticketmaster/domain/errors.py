"""Typed domain errors; the HTTP layer maps each ``code`` to a status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller can act on; ``extra`` fields go into the error body."""

    code = "invalid_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidRequest(DomainError):
    code = "invalid_request"


class MalformedRequest(InvalidRequest):
    """The request itself is unusable (e.g. a required header is missing): HTTP 400."""


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class NotOnSale(DomainError):
    code = "not_on_sale"


class AdmissionRequired(DomainError):
    code = "admission_required"


class SeatsUnavailable(DomainError):
    code = "seats_unavailable"


class HoldLimitExceeded(DomainError):
    code = "hold_limit"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class HoldNotActive(DomainError):
    code = "hold_not_active"


class RateLimited(DomainError):
    code = "rate_limited"


class Overloaded(DomainError):
    code = "overloaded"


class Unavailable(DomainError):
    """PostgreSQL or Redis could not be reached; nothing was written."""

    code = "unavailable"


class CommitInDoubt(Unavailable):
    """The write reached PostgreSQL but its commit was never confirmed (the connection
    broke): it may or may not have happened."""
