"""deliveries: a partial index of the deliveries waiting for the outbox relay

The relay claims `status = 'received' AND enqueued_at IS NULL ORDER BY id LIMIT n`. The status
index alone does not fit it: a delivery stays `received` after it was claimed, until a worker
has processed it, so behind a backlog the relay read every claimed row again on each claim.
This index holds only the rows still to claim: a claim reads what it takes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WAITING = sa.text("status = 'received' AND enqueued_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_waiting",
        "deliveries",
        ["id"],
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_waiting", table_name="deliveries")
