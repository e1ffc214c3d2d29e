"""``StripePaymentProvider``: the :class:`PaymentProvider` port on the official ``stripe`` SDK.

One PaymentIntent per purchase; the intent's own state machine keeps money moving at most
once (an intent succeeds at most once, whatever is retried):

    (none) --create, unconfirmed, key = the purchase's--> requires_confirmation
           its id goes into the purchase's PaymentRecord before anything can move money
    requires_confirmation --confirm by id--> succeeded | processing | requires_payment_method
           (declined) | requires_action | requires_capture
    processing --settled later by Stripe--> succeeded | requires_payment_method
    requires_action | requires_capture | anything else --cancel--> canceled (PaymentCancelled)

Unknown outcomes. Stripe stores the first answer to an idempotency key, 500s included, and
replays it to every retry under that key, so re-POSTing never reveals what happened: a
confirm or cancel whose answer is lost (timeout, 5xx, 409, "unexpected state") is resolved
by *retrieving* the intent. ``Stripe-Should-Retry: false`` says the key's answer is final,
so the next request of that step takes a fresh key — safe, because an unconfirmed create
moves no money and a second confirm cannot charge one intent twice; otherwise the key is
reused. Keys are derived (``K``, ``K:2``…, ``K:confirm``, ``K:confirm:2``…, ``K:cancel``…), so
a worker taking a purchase over walks the same sequence and meets the same intent.

``payment_token`` is passed as ``payment_method`` (a ``pm_…`` id in Stripe's test mode; the
sandbox's ``tok_…`` names). The SDK's own network retries are off: retrying is the caller's
job. Calls go through :class:`_AsyncHttpxTransport`, so ``timeout`` bounds each request.

Error mapping: ``CardError`` → :class:`CardDeclined`; ``IdempotencyError`` →
:class:`IdempotencyMismatch`; ``APIConnectionError`` (timeouts included) →
:class:`PaymentTimeout`; ``APIError``/``RateLimitError``/other 5xx → :class:`ProviderError`;
``AuthenticationError``/``PermissionError`` → non-retryable :class:`ProviderError`;
``InvalidRequestError`` → :class:`PaymentRejected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, Literal, TypeVar

import httpx
import stripe
from stripe.params import PaymentIntentCreateParams, RefundCreateParams

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

DEFAULT_TIMEOUT_SECONDS = 5.0
# Fresh keys one step may take in one call when Stripe says each answer is final.
KEYS_PER_STEP = 4
# Statuses from which a cancel is possible (Stripe refuses it for processing/succeeded).
_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)
T = TypeVar("T")
Action = Literal["confirm", "cancel"]


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
        record: PaymentRecord | None = None,
    ) -> Charge:
        record = record if record is not None else InMemoryPaymentRecord()
        if record.payment_id is not None:
            intent = await self._retrieve(record.payment_id)
        else:
            params: PaymentIntentCreateParams = {
                "amount": amount_cents,
                "currency": currency.lower(),
                "payment_method": payment_token,
                # Server-side confirmation can neither redirect nor run 3-D Secure.
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "metadata": dict(metadata or {}),
            }
            created = await self._create(params, idempotency_key)
            kept = await record.remember(created.id)
            # Another worker's intent got there first: that one is the purchase's (ours is unconfirmed).
            intent = created if kept == created.id else await self._retrieve(kept)
        if intent.status == "requires_confirmation":
            intent = await self._act("confirm", intent.id, idempotency_key)
        return await self._outcome(intent, idempotency_key)

    async def abandon(
        self,
        *,
        idempotency_key: str,
        amount_cents: int,
        currency: str,
        payment_token: str,
        metadata: Mapping[str, str] | None = None,
        record: PaymentRecord | None = None,
    ) -> Charge | None:
        if record is None or record.payment_id is None:
            return None  # no intent on record: none was confirmed, and none will be
        intent = await self._retrieve(record.payment_id)
        if intent.status in _CANCELABLE:
            intent = await self._act("cancel", intent.id, idempotency_key)
        if intent.status == "canceled":
            return None
        charge = _charge(intent)
        if charge is not None:
            return charge
        raise ProviderError(
            f"PaymentIntent {intent.id} is {intent.status!r} after cancelling", code="unexpected_status"
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

    async def _outcome(self, intent: stripe.PaymentIntent, key: str) -> Charge:
        """What a settled-for-now intent means for the purchase; cancels what we never ask for."""
        charge = _charge(intent)
        if charge is not None:
            return charge
        last = intent.last_payment_error
        if intent.status == "requires_payment_method" and last is not None:
            # Stripe leaves out the fields an error does not have: read them with defaults.
            message, code = getattr(last, "message", None), getattr(last, "code", None)
            raise CardDeclined(message or "payment failed", code=code or "card_declined", charge_id=intent.id)
        seen = intent.status
        if seen != "canceled":
            # requires_action, requires_capture (an authorisation on the card), or anything
            # new: cancel it, so nothing stays held or can complete later.
            intent = await self._act("cancel", intent.id, key)
            charge = _charge(intent)
            if charge is not None:
                return charge
        raise PaymentCancelled(
            f"PaymentIntent {intent.id} was {seen!r}, which we never ask for; it is cancelled",
            status=seen,
            charge_id=intent.id,
        )

    async def _create(self, params: PaymentIntentCreateParams, key: str) -> stripe.PaymentIntent:
        for step_key in _keys(key):
            try:
                return await self._client.v1.payment_intents.create_async(
                    params, {"idempotency_key": step_key}
                )
            except stripe.StripeError as exc:
                if not (isinstance(exc, stripe.APIError) and _should_retry(exc) is False):
                    raise map_stripe_error(exc) from exc
                # A stored failure: this key's answer is final. An unconfirmed create moves
                # no money, so the next key is safe.
        raise ProviderError(f"every create key of {key!r} answered a stored failure", code="provider_error")

    async def _act(self, action: Action, intent_id: str, key: str) -> stripe.PaymentIntent:
        """Confirm or cancel; an answer lost or stored as a failure is resolved by retrieving
        the intent, which is returned once it has left the statuses ``action`` starts from."""
        intents = self._client.v1.payment_intents
        call = intents.confirm_async if action == "confirm" else intents.cancel_async
        for step_key in _keys(f"{key}:{action}"):
            try:
                return await call(intent_id, None, {"idempotency_key": step_key})
            except stripe.CardError as exc:
                declined = exc.error.payment_intent if exc.error else None
                return declined if declined is not None else await self._retrieve(intent_id)
            except stripe.StripeError as exc:
                if not _outcome_unknown(exc):
                    raise map_stripe_error(exc) from exc
                intent = await self._retrieve(intent_id)
                if not _still_to_do(action, intent.status):
                    return intent
                if _should_retry(exc) is not False:
                    raise map_stripe_error(exc) from exc  # try again later, under the same key
        raise ProviderError(f"every {action} key of {key!r} answered a stored failure", code="provider_error")

    async def _retrieve(self, intent_id: str) -> stripe.PaymentIntent:
        return await _mapped(self._client.v1.payment_intents.retrieve_async(intent_id))


def _charge(intent: stripe.PaymentIntent) -> Charge | None:
    """The port's charge for an intent that moved money or is moving it; None otherwise."""
    if intent.status == "succeeded":
        return Charge(id=intent.id, status="succeeded")
    if intent.status == "processing":
        return Charge(id=intent.id, status="processing")
    return None


def _keys(base: str) -> Iterator[str]:
    yield base
    for n in range(2, KEYS_PER_STEP + 1):
        yield f"{base}:{n}"


def _still_to_do(action: Action, status: str) -> bool:
    return status == "requires_confirmation" if action == "confirm" else status in _CANCELABLE


def _should_retry(exc: stripe.StripeError) -> bool | None:
    """Stripe's advice on repeating this request under its key (header ``Stripe-Should-Retry``)."""
    headers = exc.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "stripe-should-retry"), None)
    return None if value is None else value == "true"


def _outcome_unknown(exc: stripe.StripeError) -> bool:
    """Whether the request may have changed the intent without us learning how."""
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        return True
    return isinstance(exc, stripe.InvalidRequestError) and exc.code == "payment_intent_unexpected_state"


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
