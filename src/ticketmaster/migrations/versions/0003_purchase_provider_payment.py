"""Purchases remember the provider payment they created and when charging began.

``provider_payment_id`` (a Stripe PaymentIntent id) is written before the payment is
confirmed, so an unknown outcome is learned by retrieving that payment, never by creating
another one. ``charge_started_at`` is set before the first provider call that may move
money: a purchase without it, past its deadline, was never charged and needs no provider.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE purchases ADD COLUMN provider_payment_id text")
    op.execute("ALTER TABLE purchases ADD COLUMN charge_started_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE purchases DROP COLUMN charge_started_at")
    op.execute("ALTER TABLE purchases DROP COLUMN provider_payment_id")
