"""progress reports: when a running run's progress last went to each target, and when the
next is due

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "progress_reports",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", json, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "target"),
    )
    op.create_index("ix_progress_reports_due_at", "progress_reports", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_progress_reports_due_at", table_name="progress_reports")
    op.drop_table("progress_reports")
