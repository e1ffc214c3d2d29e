"""``SandboxPaymentProvider``: the :class:`PaymentProvider` port over the local sandbox's HTTP API.

Error mapping (the port's contract): 402 → :class:`CardDeclined`; 400 ``idempotency_error``
→ :class:`IdempotencyMismatch`; other 4xx → :class:`PaymentRejected`; 504 and a client
timeout or broken connection → :class:`PaymentTimeout`; other 5xx, 429 and "could not
connect" → :class:`ProviderError` (retryable).

The sandbox's own API has no payment object to cancel: a charge is one POST, and the one way
to learn what an idempotency key did is to send it again (the sandbox answers with the
payment the key made, or executes it if it never ran). So :meth:`abandon` asks once more
under the same key, and the caller refunds whatever that charged. (The Stripe adapter
cancels its PaymentIntent instead.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ticketmaster.domain.payments import (
    CardDeclined,
    Charge,
    IdempotencyMismatch,
    PaymentError,
    PaymentRecord,
    PaymentRejected,
    PaymentTimeout,
    ProviderError,
    Refund,
)

DEFAULT_TIMEOUT_SECONDS = 5.0


class SandboxPaymentProvider:
    """Talks to ``ticketmaster sandbox`` at ``base_url``; each call gives up after ``timeout`` s."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

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
        body = {
            "amountCents": amount_cents,
            "currency": currency,
            "paymentToken": payment_token,
            "metadata": dict(metadata or {}),
        }
        data = await self._post("/v1/payments", idempotency_key, body)
        return Charge(id=str(data["id"]), status="succeeded")

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
        try:
            return await self.charge(
                idempotency_key=idempotency_key,
                amount_cents=amount_cents,
                currency=currency,
                payment_token=payment_token,
                metadata=metadata,
            )
        except CardDeclined:
            return None

    async def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        data = await self._post(f"/v1/payments/{charge_id}/refund", idempotency_key, None)
        return Refund(id=str(data["id"]), charge_id=str(data["paymentId"]), status=str(data["status"]))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SandboxPaymentProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _post(self, path: str, idempotency_key: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, headers={"Idempotency-Key": idempotency_key})
        except httpx.ConnectError as exc:
            # Nothing was sent, but retrying the same key is the one rule either way.
            raise ProviderError(f"payment sandbox unreachable: {exc!r}", code="unreachable") from exc
        except httpx.TimeoutException as exc:
            raise PaymentTimeout(f"payment sandbox did not answer in time: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise PaymentTimeout(f"connection to the payment sandbox broke: {exc!r}") from exc
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(
                f"payment sandbox answered {response.status_code} with a non-JSON body", code="bad_response"
            ) from None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        raise _error_for(response.status_code, data)


def _error_for(status: int, data: object) -> PaymentError:
    error: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
    code = str(error.get("code") or f"http_{status}")
    message = str(error.get("message") or f"payment sandbox answered {status}")
    if status == 402:
        payment = error.get("payment")
        charge_id = str(payment["id"]) if isinstance(payment, dict) and "id" in payment else None
        return CardDeclined(message, code=code, charge_id=charge_id)
    if status == 400 and error.get("type") == "idempotency_error":
        return IdempotencyMismatch(message, code=code)
    if status == 504:
        return PaymentTimeout(message, code=code)
    if status == 429 or status >= 500:
        return ProviderError(message, code=code)
    if 400 <= status < 500:
        return PaymentRejected(message, code=code)
    return ProviderError(f"unexpected answer {status}: {message}", code=code)


async def fetch_ledger(base_url: str, *, timeout_seconds: float = 10.0) -> list[dict[str, Any]]:
    """Every payment the sandbox has seen (GET /v1/ledger), for audits."""
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_seconds) as client:
        response = await client.get("/v1/ledger")
        response.raise_for_status()
        payments: list[dict[str, Any]] = response.json()["payments"]
        return payments
