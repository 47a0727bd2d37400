"""identity: organizations, users, teams, project and org membership with roles, personal
access tokens (only their sha256 kept) and the audit log; existing projects join a "default" org

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


@contextmanager
def _projects_altered() -> Iterator[BatchOperations]:
    """Alter `projects`. SQLite copies the table and renames the copy, and that rename must
    not re-check migration 0009's triggers, which name `projects` before the copy has it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = ON")
    with op.batch_alter_table("projects") as batch:
        yield batch
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False, unique=True),
        _at("created_at", nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False, unique=True),
        sa.Column("email", sa.String(length=256), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        _at("created_at", nullable=False),
    )
    op.create_table(
        "org_members",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organizations.id", ondelete="CASCADE")),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id"),
    )
    op.create_index("ix_org_members_user_id", "org_members", ["user_id"])
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "org_id",
            sa.Integer(),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_teams_org_name"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE")),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])
    op.create_table(
        "project_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE")),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("project_id", "user_id", name="uq_project_members_user"),
        sa.UniqueConstraint("project_id", "team_id", name="uq_project_members_team"),
    )
    op.create_index("ix_project_members_project_id", "project_members", ["project_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("scopes", json, nullable=False),
        _at("expires_at"),
        _at("revoked_at"),
        _at("last_used_at"),
        _at("created_at", nullable=False),
    )
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        _at("at", nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organizations.id", ondelete="SET NULL")),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_org_id", "audit_log", ["org_id"])
    with _projects_altered() as batch:
        batch.add_column(sa.Column("org_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_projects_org_id", "organizations", ["org_id"], ["id"], ondelete="RESTRICT"
        )
        batch.create_index("ix_projects_org_id", ["org_id"])
    op.execute("INSERT INTO organizations (name, created_at) VALUES ('default', CURRENT_TIMESTAMP)")
    op.execute("UPDATE projects SET org_id = (SELECT id FROM organizations WHERE name = 'default')")


def downgrade() -> None:
    with _projects_altered() as batch:
        batch.drop_index("ix_projects_org_id")
        batch.drop_constraint("fk_projects_org_id", type_="foreignkey")
        batch.drop_column("org_id")
    for table in (
        "audit_log",
        "access_tokens",
        "project_members",
        "team_members",
        "teams",
        "org_members",
        "users",
        "organizations",
    ):
        op.drop_table(table)
