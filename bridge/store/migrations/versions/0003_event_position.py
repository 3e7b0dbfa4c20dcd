"""event position: commit order across conferences, for the resumable event stream

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    op.create_index("ix_events_account_id_position", "events", ["account_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_events_account_id_position", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("position")
