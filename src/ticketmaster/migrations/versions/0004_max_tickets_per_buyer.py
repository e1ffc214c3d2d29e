"""Events may set how many seats one buyer may hold or buy (``maxTicketsPerBuyer``).

NULL means the default (8, domain/holds.MAX_SEATS_PER_USER_PER_EVENT).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN max_tickets_per_buyer int CHECK (max_tickets_per_buyer > 0)")


def downgrade() -> None:
    op.execute("ALTER TABLE events DROP COLUMN max_tickets_per_buyer")
