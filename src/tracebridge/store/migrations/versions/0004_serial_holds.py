"""serial holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:30:00

A unit (GTIN + serial) can be on hold while the rest of its lot is not. Its movement
status stays what it was; ``on_hold`` says whether it is blocked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("serial") as batch:
        batch.add_column(
            sa.Column("on_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("serial") as batch:
        batch.drop_column("on_hold")
