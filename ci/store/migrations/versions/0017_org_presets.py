"""org presets: presets kept per organization beside a project's own, and who made a connection

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "org_presets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", json, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("org_id", "name", name="uq_org_presets_org_name"),
    )
    # Rows made before this column say nobody: who made them is not known.
    op.add_column(
        "connections",
        sa.Column("created_by", sa.String(length=256), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("created_by")
    op.drop_table("org_presets")
