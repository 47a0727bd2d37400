"""run_metrics: the series of values a job reports for each metric, with their steps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_metrics_run_id", "run_metrics", ["run_id", "name"])
    # A report re-sent for a step it already gave is one row; a report without a step is new.
    op.create_index(
        "uq_run_metrics_step",
        "run_metrics",
        ["run_id", "name", "step"],
        unique=True,
        postgresql_where=sa.text("step IS NOT NULL"),
        sqlite_where=sa.text("step IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_run_metrics_step", table_name="run_metrics")
    op.drop_index("ix_run_metrics_run_id", table_name="run_metrics")
    op.drop_table("run_metrics")
