"""tracking: metric series packed in chunks (replacing run_metrics' row per value), the events
a job reports, and its tags, description and progress (downgrading drops the series)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import struct
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHUNK = 1024  # as ci.runs.series.CHUNK when this was written
POINT = struct.Struct("<qdd")  # step, time (seconds since the epoch), value


def upgrade() -> None:
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    chunks = op.create_table(
        "metric_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("points", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "kind", "name", "chunk", name="uq_metric_chunks_chunk"),
    )
    op.create_table(
        "run_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("data", json, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_events_run_id", "run_events", ["run_id"])
    op.create_table(
        "run_tracking",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tags", json, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("progress", json, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )
    _pack_rows(chunks)
    op.drop_index("uq_run_metrics_step", table_name="run_metrics")
    op.drop_index("ix_run_metrics_run_id", table_name="run_metrics")
    op.drop_table("run_metrics")


def _pack_rows(chunks: sa.Table) -> None:
    """Each run_metrics row becomes a point; a row without a step takes the step after the
    highest its series had, in the order the rows arrived."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT run_id, name, step, value, at FROM run_metrics "
            "ORDER BY run_id, name, step IS NULL, step, id"
        )
    )
    series: dict[tuple[int, str], dict[int, tuple[float, float]]] = defaultdict(dict)
    for run_id, name, step, value, at in rows:
        points = series[(run_id, name)]
        if step is None:
            step = max(points) + 1 if points else 0
        points[step] = (_seconds(at), value)
    packed: dict[tuple[int, str, int], list[bytes]] = defaultdict(list)
    for (run_id, name), points in series.items():
        for step in sorted(points):
            packed[(run_id, name, step // CHUNK)].append(POINT.pack(step, *points[step]))
    if packed:
        op.bulk_insert(
            chunks,
            [
                {
                    "run_id": r,
                    "kind": "metric",
                    "name": n,
                    "chunk": c,
                    "count": len(p),
                    "points": b"".join(p),
                }
                for (r, n, c), p in packed.items()
            ],
        )


def _seconds(at: object) -> float:
    timestamp = getattr(at, "timestamp", None)
    return float(timestamp()) if timestamp else 0.0


def downgrade() -> None:
    op.create_table(
        "run_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_run_metrics_run_id", "run_metrics", ["run_id", "name"])
    op.create_index(
        "uq_run_metrics_step",
        "run_metrics",
        ["run_id", "name", "step"],
        unique=True,
        postgresql_where=sa.text("step IS NOT NULL"),
        sqlite_where=sa.text("step IS NOT NULL"),
    )
    op.drop_table("run_tracking")
    op.drop_index("ix_run_events_run_id", table_name="run_events")
    op.drop_table("run_events")
    op.drop_table("metric_chunks")
