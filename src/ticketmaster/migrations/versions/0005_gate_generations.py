"""The gate's generations (adapters/redis/generations.py): each hold row records the event
generation its grant reached in Redis, and ``event_generations`` the highest one a purchase
start or a sale reached, so the service can tell that an event's Redis state lacks changes
it acknowledged (a promoted replica that missed writes) and rebuild it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE holds ADD COLUMN gate_generation bigint")
    op.execute("CREATE INDEX holds_generation_by_event ON holds (event_id, gate_generation)")
    op.execute(
        """
        CREATE TABLE event_generations (
            event_id   text PRIMARY KEY REFERENCES events (id),
            generation bigint NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE event_generations")
    op.execute("DROP INDEX holds_generation_by_event")
    op.execute("ALTER TABLE holds DROP COLUMN gate_generation")
