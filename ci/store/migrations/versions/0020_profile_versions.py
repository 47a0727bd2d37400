"""profile_versions: one row whose version the database changes in the transaction of any write
to presets, org presets or quotas

Starting a run asks whether its project has presets (its own or its org's) and whether any quota
exists; most projects have none. A process keeps the answers (ci.runs.profiles) and reads this
one row per admission to know whether they are current. Triggers write it rather than the
application, so that every writer is covered: the API, a migration, a hand-written UPDATE, a
project's or an org's deletion cascading. On PostgreSQL the version comes from a sequence, once
per statement; SQLite has neither statement triggers nor sequences: a row trigger stores
random() (a collision is a 1 in 2**64 chance).

A later migration that rebuilds one of these tables on SQLite (batch mode copies the table)
drops its triggers with it and must create them again (`create_sqlite_triggers`).

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-05
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SEQUENCE = "profile_revisions"
TABLES = ("presets", "org_presets", "quotas")

PG_FUNCTION = f"""
CREATE FUNCTION profile_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE profile_versions SET version = nextval('{SEQUENCE}') WHERE id = 1;
    RETURN NULL;
END $$;
"""


def _pg_trigger(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_profile AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION profile_changed()"
    )


def _sqlite_triggers(table: str) -> list[str]:
    bump = "UPDATE profile_versions SET version = random() WHERE id = 1;"
    return [
        f"CREATE TRIGGER {table}_profile_{verb.lower()} AFTER {verb} ON {table} BEGIN {bump} END"
        for verb in ("INSERT", "UPDATE", "DELETE")
    ]


def create_sqlite_triggers() -> None:
    for table in TABLES:
        for statement in _sqlite_triggers(table):
            op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "profile_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="profile_versions_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # A random start: a database dropped and made again under the same URL never repeats the
    # versions a process kept answers for.
    start = secrets.randbelow(2**62) + 1
    op.execute(f"INSERT INTO profile_versions (id, version) VALUES (1, {start - 1})")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE} START {start}")
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(_pg_trigger(table))
    else:
        create_sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_profile ON {table}")
        op.execute("DROP FUNCTION profile_changed()")
        op.execute(f"DROP SEQUENCE {SEQUENCE}")
    else:
        for table in TABLES:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_profile_{verb}")
    op.drop_table("profile_versions")
