"""subscription_versions: a project's subscriptions get a new version, and each written one a
new revision, from the database itself in the transaction of the write

Triggers do it rather than the application, so that every writer is covered: the API, a
migration, a hand-written UPDATE, a project's deletion cascading. A process keeps each project's
subscriptions compiled (ci.runs.indexes) and reads the version once per delivery to know whether
its copy is current. On PostgreSQL values come from a sequence, so a rolled-back write never
leaves a value that a later one reuses; the versions are bumped once per statement (a bulk
insert of many rows writes the project's row once). SQLite has neither statement triggers nor
sequences: a row trigger stores random() (a collision is a 1 in 2**64 chance).

A later migration that rebuilds `subscriptions` on SQLite (batch mode copies the table) drops
these triggers with it and must create them again (`create_sqlite_triggers`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Every revision and version comes from here: equal values mean the same write.
SEQUENCE = "subscription_revisions"

PG_FUNCTIONS = f"""
CREATE FUNCTION subscription_revised() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := nextval('{SEQUENCE}');
    RETURN NEW;
END $$;

CREATE FUNCTION subscriptions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A project being deleted (the cascade that deletes its subscriptions) gets no row.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO subscription_versions (project_id, version)
        SELECT p.id, nextval('{SEQUENCE}') FROM projects p
        WHERE p.id IN (SELECT project_id FROM written)
        ON CONFLICT (project_id) DO UPDATE SET version = excluded.version;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO subscription_versions (project_id, version)
        SELECT p.id, nextval('{SEQUENCE}') FROM projects p
        WHERE p.id IN (SELECT project_id FROM removed)
        ON CONFLICT (project_id) DO UPDATE SET version = excluded.version;
    ELSE
        INSERT INTO subscription_versions (project_id, version)
        SELECT p.id, nextval('{SEQUENCE}') FROM projects p
        WHERE p.id IN (SELECT project_id FROM written UNION SELECT project_id FROM removed)
        ON CONFLICT (project_id) DO UPDATE SET version = excluded.version;
    END IF;
    RETURN NULL;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER subscriptions_revised BEFORE INSERT OR UPDATE ON subscriptions"
    " FOR EACH ROW EXECUTE FUNCTION subscription_revised()",
    "CREATE TRIGGER subscriptions_inserted AFTER INSERT ON subscriptions"
    " REFERENCING NEW TABLE AS written"
    " FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed()",
    "CREATE TRIGGER subscriptions_updated AFTER UPDATE ON subscriptions"
    " REFERENCING NEW TABLE AS written OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed()",
    "CREATE TRIGGER subscriptions_deleted AFTER DELETE ON subscriptions"
    " REFERENCING OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_changed()",
]

_SQLITE_BUMP = """
    INSERT INTO subscription_versions (project_id, version)
    SELECT id, random() FROM projects WHERE id IN ({projects})
    ON CONFLICT (project_id) DO UPDATE SET version = excluded.version;"""

# The revision is set by an UPDATE of that column only, which fires none of these triggers.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER subscriptions_inserted AFTER INSERT ON subscriptions BEGIN"
    " UPDATE subscriptions SET revision = random() WHERE id = NEW.id;"
    + _SQLITE_BUMP.format(projects="NEW.project_id")
    + " END",
    "CREATE TRIGGER subscriptions_updated"
    " AFTER UPDATE OF project_id, name, spec, paused ON subscriptions BEGIN"
    " UPDATE subscriptions SET revision = random() WHERE id = NEW.id;"
    + _SQLITE_BUMP.format(projects="NEW.project_id, OLD.project_id")
    + " END",
    "CREATE TRIGGER subscriptions_deleted AFTER DELETE ON subscriptions BEGIN"
    + _SQLITE_BUMP.format(projects="OLD.project_id")
    + " END",
]
TRIGGERS = [
    "subscriptions_revised",
    "subscriptions_inserted",
    "subscriptions_updated",
    "subscriptions_deleted",
]


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "subscription_versions",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.add_column(
        "subscriptions",
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE}")
        op.execute(PG_FUNCTIONS)
        for statement in PG_TRIGGERS:
            op.execute(statement)
        value = f"nextval('{SEQUENCE}')"
    else:
        create_sqlite_triggers()
        value = "random()"
    # The projects that have subscriptions already: a version, so that "no row" keeps meaning
    # "never had one".
    op.execute(
        "INSERT INTO subscription_versions (project_id, version)"
        " SELECT DISTINCT project_id, 0 FROM subscriptions"
    )
    op.execute(f"UPDATE subscription_versions SET version = {value}")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + _on_table())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION subscriptions_changed()")
        op.execute("DROP FUNCTION subscription_revised()")
        op.execute(f"DROP SEQUENCE {SEQUENCE}")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("revision")
    op.drop_table("subscription_versions")


def _on_table() -> str:
    return " ON subscriptions" if op.get_bind().dialect.name == "postgresql" else ""
