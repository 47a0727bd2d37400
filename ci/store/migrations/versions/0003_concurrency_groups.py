"""runs remember their concurrency group

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concurrency_group", sa.String(length=256), nullable=True))
        batch_op.create_index(
            "ix_runs_concurrency_group", ["project_id", "concurrency_group"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_concurrency_group")
        batch_op.drop_column("concurrency_group")
