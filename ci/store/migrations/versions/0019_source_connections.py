"""source connection: a webhook source may verify its deliveries with a project connection's
secret instead of holding its own

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("connection_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_sources_connection_id", "connections", ["connection_id"], ["id"]
        )


def downgrade() -> None:
    # A source that named a connection would be left without any secret: refuse rather than
    # leave endpoints that accept nothing, or everything.
    bind = op.get_bind()
    using = bind.execute(
        sa.text("SELECT provider, name FROM sources WHERE connection_id IS NOT NULL")
    ).all()
    if using:
        names = ", ".join(f"{provider}/{name}" for provider, name in using)
        raise RuntimeError(
            f"sources verified with a connection ({names}): give each a secret of its own first"
        )
    with op.batch_alter_table("sources") as batch:
        batch.drop_constraint("fk_sources_connection_id", type_="foreignkey")
        batch.drop_column("connection_id")
