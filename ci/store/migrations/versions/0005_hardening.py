"""hardening: delivery retention and bounded bodies, re-send marks, notification retry budgets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # deliveries: the size of a body of which only a prefix is kept; age index for the prune.
    op.add_column("deliveries", sa.Column("body_size", sa.Integer(), nullable=True))
    op.create_index("ix_deliveries_received_at", "deliveries", ["received_at"], unique=False)
    # runs: the sweeper's re-send marks; notifications: when a retrying report is next due.
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("resent_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("report_resent_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("report_resent_count", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    # The sweeper's probes down the task queue (ci.agent.sweeper).
    op.create_table(
        "broker_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("broker_probes")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for column in ("report_resent_count", "report_resent_at", "resent_count", "resent_at"):
            batch_op.drop_column(column)
    op.drop_index("ix_deliveries_received_at", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("body_size")
