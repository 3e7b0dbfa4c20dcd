"""the instance a delivery's lease is held by, so that its restart can release them at once

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_holder")
