"""run tree: ops of a pipeline, approval, clones (restart, resume, copy, cache), attempts,
cache keys; schedules owned by a schedule controller run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("op_name", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("pending", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("original_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cloning_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("meta", json, nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("advance_asked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("report_asked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_runs_original_id", "runs", ["original_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_unique_constraint("uq_runs_op", ["parent_id", "op_name"])
        batch_op.create_index("ix_runs_parent_id", ["parent_id"])
        batch_op.create_index("ix_runs_cache_key", ["project_id", "cache_key"])
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch_op.alter_column("subscription_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            "fk_schedules_run_id", "runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_unique_constraint("uq_schedules_run_entry", ["run_id", "entry"])


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_constraint("uq_schedules_run_entry", type_="unique")
        batch_op.drop_constraint("fk_schedules_run_id", type_="foreignkey")
        batch_op.alter_column("subscription_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("run_id")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_cache_key")
        batch_op.drop_index("ix_runs_parent_id")
        batch_op.drop_constraint("uq_runs_op", type_="unique")
        batch_op.drop_constraint("fk_runs_original_id", type_="foreignkey")
        for column in (
            "report_asked_at",
            "advance_asked_at",
            "meta",
            "cache_key",
            "attempt",
            "cloning_kind",
            "original_id",
            "pending",
        ):
            batch_op.drop_column(column)
        batch_op.drop_column("op_name")
