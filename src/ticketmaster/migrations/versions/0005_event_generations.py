"""Per-event generation: the newest seat-map version an acknowledged change reached in Redis.

Written in the same transaction as each acknowledged hold (the group commit) and sale (the
booking), as GREATEST(old, new); the seat gate compares it with Redis's version before it
decides, to notice a Redis state older than PostgreSQL's (scripts/new_hold.lua,
"Generations"). A row of its own per event, not a column of ``events``, so the hot upsert
never touches the catalog row that imports rewrite.

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
    op.execute(
        """
        CREATE TABLE event_generations (
            event_id   text   PRIMARY KEY REFERENCES events (id),
            generation bigint NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE event_generations")
