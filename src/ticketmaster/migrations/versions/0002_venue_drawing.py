"""The venue drawing: each section's place and turn, the venue's stage, a layout revision.

All optional and presentation only (the seats stay immutable); a re-import that changes a
section's name or the drawing raises ``venues.layout_revision``, the key under which
every process caches the layout.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE sections
        ADD COLUMN x        double precision,
        ADD COLUMN y        double precision,
        ADD COLUMN rotation double precision,
        ADD CONSTRAINT sections_geometry_whole
            CHECK ((x IS NULL) = (y IS NULL) AND (x IS NULL) = (rotation IS NULL))
    """,
    """
    ALTER TABLE venues
        ADD COLUMN stage_x         double precision,
        ADD COLUMN stage_y         double precision,
        ADD COLUMN stage_width     double precision CHECK (stage_width > 0),
        ADD COLUMN stage_height    double precision CHECK (stage_height > 0),
        ADD COLUMN layout_revision int NOT NULL DEFAULT 0,
        ADD CONSTRAINT venues_stage_whole CHECK (
            (stage_x IS NULL) = (stage_y IS NULL)
            AND (stage_x IS NULL) = (stage_width IS NULL)
            AND (stage_x IS NULL) = (stage_height IS NULL))
    """,
]

DOWNGRADE = [
    "ALTER TABLE sections DROP COLUMN x, DROP COLUMN y, DROP COLUMN rotation",
    """
    ALTER TABLE venues DROP COLUMN stage_x, DROP COLUMN stage_y, DROP COLUMN stage_width,
        DROP COLUMN stage_height, DROP COLUMN layout_revision
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
