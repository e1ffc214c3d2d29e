"""The local payment provider: a separate, Stripe-like HTTP service for development and tests.

Run it with ``ticketmaster sandbox``; talk to it through
:class:`ticketmaster.adapters.payments.sandbox.SandboxPaymentProvider`.
"""

from ticketmaster.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
