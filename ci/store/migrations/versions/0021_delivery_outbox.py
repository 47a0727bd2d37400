"""delivery_outbox: the deliveries waiting for the outbox relay, in a table of their own

The relay used to claim a delivery by setting its `enqueued_at`, an UPDATE on the deliveries
table that PostgreSQL cannot do in place (the column is in the predicate of the partial index
`ix_deliveries_waiting`): each claim wrote a new copy of the row, bodies included, and an entry
in each of the table's indexes. Now the statement that stores a delivery also inserts its id
here, and the relay deletes the ids it publishes; a stored delivery's row is not written again
until a worker processes it. The partial index has nothing left to serve.

Deliveries waiting when this runs are moved into the new table.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

WAITING = sa.text("status = 'received' AND enqueued_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "delivery_outbox",
        sa.Column("delivery_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.execute(
        "INSERT INTO delivery_outbox (delivery_id) "
        "SELECT id FROM deliveries WHERE status = 'received' AND enqueued_at IS NULL"
    )
    op.drop_index("ix_deliveries_waiting", table_name="deliveries")


def downgrade() -> None:
    # The relay before this one publishes every `received` delivery whose `enqueued_at` is
    # NULL: those it published since are sent again, which their tasks are safe to take.
    op.create_index(
        "ix_deliveries_waiting",
        "deliveries",
        ["id"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )
    op.drop_table("delivery_outbox")
