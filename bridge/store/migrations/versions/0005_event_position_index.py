"""index on the event position alone: the stream's tail across accounts, and its max

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 12:30:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_position", "events", ["position"])


def downgrade() -> None:
    op.drop_index("ix_events_position", table_name="events")
