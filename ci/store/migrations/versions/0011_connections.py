"""connections: a project's named connections, their secret values kept as one Fernet token;
webhook sources' secrets encrypted the same way (downgrading decrypts them)

The key is the process's (ci.connections.crypto: AXON_SECRETS_KEY, or the one derived from the
secret key), read only when there is a source to convert; `axon db upgrade` and `axon serve`
run this with the settings the server then uses.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from ci import runtime
from ci.connections import crypto

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("schema", json, nullable=False),
        sa.Column("secret_keys", json, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("mount_path", sa.String(length=512), nullable=False),
        sa.Column("env", json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_connections_project_name"),
    )
    _convert_sources(lambda rt, value: crypto.seal_text(rt, value))


def downgrade() -> None:
    _convert_sources(lambda rt, token: crypto.unseal_text(rt, token, "a source's secret"))
    op.drop_table("connections")


def _convert_sources(convert: Callable[[runtime.Runtime, str], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, secret FROM sources WHERE secret <> ''")).all()
    if not rows:
        return
    rt = runtime.get()
    update = sa.text("UPDATE sources SET secret = :secret WHERE id = :id")
    for row_id, secret in rows:
        bind.execute(update, {"id": row_id, "secret": convert(rt, secret)})
