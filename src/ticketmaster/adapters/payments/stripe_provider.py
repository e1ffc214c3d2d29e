"""``StripePaymentProvider``: the :class:`PaymentProvider` port on the official ``stripe`` SDK.

A charge is one ``POST /v1/payment_intents`` with ``confirm=true`` and our idempotency key
(Stripe keeps keys 24 hours); a refund is ``POST /v1/refunds`` for the PaymentIntent. The
SDK's async methods (``create_async``) are used, so no thread is tied up per call. The SDK's
own network retries are off by default: retrying is the caller's job, with the same key.
Calls go through :class:`_AsyncHttpxTransport`, so ``timeout`` bounds each request.

``payment_token`` is passed as ``payment_method`` (a ``pm_…`` id; in test mode e.g.
``pm_card_visa``). Confirmation is server-side, so a card that demands 3-D Secure
(``requires_action``) is reported as declined with code ``authentication_required``.

Error mapping: ``CardError`` → :class:`CardDeclined`; ``IdempotencyError`` →
:class:`IdempotencyMismatch`; ``APIConnectionError`` (timeouts included) →
:class:`PaymentTimeout`; ``APIError``/``RateLimitError``/other 5xx → :class:`ProviderError`;
``AuthenticationError``/``PermissionError`` → non-retryable :class:`ProviderError`;
``InvalidRequestError`` → :class:`PaymentRejected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import httpx
import stripe
from stripe.params import PaymentIntentCreateParams, RefundCreateParams

from ticketmaster.adapters.payments.provider import (
    CardDeclined,
    Charge,
    IdempotencyMismatch,
    PaymentError,
    PaymentRejected,
    PaymentTimeout,
    ProviderError,
    Refund,
)

DEFAULT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")


class _AsyncHttpxTransport(stripe.HTTPClient):
    """The SDK's async transport on an ``httpx.AsyncClient`` of our own (async calls only).

    The SDK's bundled ``HTTPXClient`` hands its form body to httpx as ``data=<str>``, which
    httpx deprecates with a warning on every request; this sends it as ``content=``.
    """

    name = "ticketmaster-httpx"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._client = httpx.AsyncClient(timeout=timeout)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            # Sent or not, the outcome is unknown to us: the SDK's "connection error".
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]  # SDK leaves it unannotated
                f"network error talking to Stripe: {exc!r}", should_retry=True
            ) from exc
        return response.content, response.status_code, response.headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._client.aclose()


class StripePaymentProvider:
    """Charges through Stripe (or any server speaking its API at ``api_base``)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_network_retries: int = 0,
    ) -> None:
        self._http = _AsyncHttpxTransport(timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def charge(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_token: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Charge:
        params: PaymentIntentCreateParams = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "payment_method": payment_token,
            # Server-side confirmation can neither redirect nor run 3-D Secure: fail those instead.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "error_on_requires_action": True,
            "confirm": True,
            "metadata": dict(metadata or {}),
        }
        intent = await _mapped(
            self._client.v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})
        )
        if intent.status == "succeeded":
            return Charge(id=intent.id, status="succeeded")
        if intent.status == "processing":
            return Charge(id=intent.id, status="processing")
        if intent.status == "requires_action":
            raise CardDeclined(
                "the card requires authentication", code="authentication_required", charge_id=intent.id
            )
        if intent.status in ("requires_payment_method", "canceled"):
            last = intent.last_payment_error
            code = (last.code if last else None) or "card_declined"
            raise CardDeclined(
                (last.message if last else None) or "payment failed", code=code, charge_id=intent.id
            )
        raise ProviderError(
            f"PaymentIntent {intent.id} is in unexpected status {intent.status!r}",
            code="unexpected_status",
            retryable=False,
        )

    async def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        params: RefundCreateParams = {"payment_intent": charge_id}
        refund = await _mapped(
            self._client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key})
        )
        return Refund(id=refund.id, charge_id=charge_id, status=refund.status or "pending")

    async def aclose(self) -> None:
        await self._http.close_async()

    async def __aenter__(self) -> StripePaymentProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _mapped(call: Awaitable[T]) -> T:
    """Await a Stripe SDK call, turning its exceptions into the port's typed errors."""
    try:
        return await call
    except stripe.StripeError as exc:
        raise map_stripe_error(exc) from exc


def map_stripe_error(exc: stripe.StripeError) -> PaymentError:
    """The port's error for a Stripe SDK error (see the module docstring)."""
    message = exc.user_message or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.CardError):
        intent = exc.error.payment_intent if exc.error else None
        return CardDeclined(
            message, code=exc.code or "card_declined", charge_id=intent.id if intent else None
        )
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyMismatch(message)
    if isinstance(exc, stripe.APIConnectionError):
        return PaymentTimeout(message)
    if isinstance(exc, stripe.RateLimitError):
        return ProviderError(message, code="rate_limited")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderError(message, code="provider_auth", retryable=False)
    if isinstance(exc, stripe.InvalidRequestError):
        return PaymentRejected(message, code=exc.code or "invalid_request")
    return ProviderError(message, code=exc.code or "provider_error")
