"""OIDC logins: the identities at an OpenID Connect provider (issuer, verified sub) that sign in
as an Axon user

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_logins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issuer", "subject", name="uq_user_logins_issuer_subject"),
    )
    op.create_index("ix_user_logins_user_id", "user_logins", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_logins_user_id", table_name="user_logins")
    op.drop_table("user_logins")
