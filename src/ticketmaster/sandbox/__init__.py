"""The local payment provider: a separate, Stripe-like HTTP service for development and tests.

Run it with ``ticketmaster sandbox``; build it with
:func:`ticketmaster.sandbox.app.create_sandbox_app`; talk to it through
:class:`ticketmaster.adapters.payments.sandbox.SandboxPaymentProvider`. (Nothing is imported
here, so CLI commands that only read :mod:`ticketmaster.sandbox.config` stay light.)
"""
