"""A run, its status history, and what its job says of it: metric and system series, events,
tags, a description and progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json, new_uuid
from ci.store.models.projects import Project, Subscription
from schemas.status import RunStatus


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uuid)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256), default="")
    # job, service, dag, matrix, schedule: what the run is, not where it runs.
    kind: Mapped[str] = mapped_column(String(16), default="job")
    status: Mapped[str] = mapped_column(String(24), default=RunStatus.CREATED, index=True)
    # The run that made this one: a dag (its ops), a matrix (its trials), a schedule controller
    # (its fired runs). `op_name` is its name there, unique per parent: an op is created once.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    op_name: Mapped[str | None] = mapped_column(String(256))
    # What the run waits for before it may be queued, as Polyaxon's `pending`: "approval".
    pending: Mapped[str | None] = mapped_column(String(16))
    # The run this one restarts, resumes, copies or reuses the results of (`cloning_kind`).
    original_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    cloning_kind: Mapped[str | None] = mapped_column(String(16))
    # Tries so far beyond the first: retries after a failure, and resumes.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # Polyaxon's cache key of the compiled run; a later run with the same key may reuse it.
    cache_key: Mapped[str | None] = mapped_column(String(64))
    # What a controller run keeps of its own progress (a dag's plan, a schedule's count).
    meta: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # When a controller's advance, or a tree's report, was asked for and not yet begun: while
    # set, the next ask publishes nothing (a burst of ends makes one advance, one report pass).
    advance_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    # What caused the run, unique per subscription: a redelivery cannot start it twice.
    event_key: Mapped[str | None] = mapped_column(String(160))
    event: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    compiled: Mapped[dict[str, Any] | None] = mapped_column(Json)
    inputs: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    runner: Mapped[str] = mapped_column(String(32), default="local")
    external_id: Mapped[str | None] = mapped_column(String(256))
    # The rendered group of the subscription's `concurrency`: one of its runs goes at a time.
    concurrency_group: Mapped[str | None] = mapped_column(String(256))
    logs: Mapped[str | None] = mapped_column(Text)
    # Reporting: the last condition every target has heard of, and who is reporting now.
    report_cursor: Mapped[int] = mapped_column(Integer, default=0)
    report_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the sweeper last sent this run's start, stop or turn again, and how many times since
    # its state last changed; the next re-send waits twice as long as the one before.
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resent_count: Mapped[int] = mapped_column(Integer, default=0)
    # The same for its report; cleared whenever reporting gets further.
    report_resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_resent_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[Project] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    conditions: Mapped[list[Condition]] = relationship(
        back_populates="run", order_by="Condition.id", cascade="all, delete-orphan"
    )
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_key", name="uq_runs_cause"),
        Index("ix_runs_runner_external_id", "runner", "external_id"),
        Index("ix_runs_concurrency_group", "project_id", "concurrency_group"),
        UniqueConstraint("parent_id", "op_name", name="uq_runs_op"),
        Index("ix_runs_cache_key", "project_id", "cache_key"),
    )

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Condition(Base):
    """One status a run went through: the status history, written only by ci.runs.lifecycle."""

    __tablename__ = "conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="conditions")


class MetricChunk(Base):
    """Up to `CHUNK` points of one of a run's series (ci.runs.series): a metric its job
    reported (`kind` "metric") or a sample of its resources (`kind` "system").

    Point `step` lives in chunk `step // CHUNK`, packed as (step, time, value) triples of 8-byte
    numbers in step order: 24 bytes a point, NaN and infinities kept as they are, one row for a
    thousand points. A re-sent step replaces its point.
    """

    __tablename__ = "metric_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8), default="metric")
    name: Mapped[str] = mapped_column(String(128))
    chunk: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("run_id", "kind", "name", "chunk", name="uq_metric_chunks_chunk"),
    )


class RunEvent(Base):
    """Something a job said happened (a checkpoint saved, a phase begun), with its data."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunTracking(Base):
    """What a job says of its run beside inputs and outputs: tags, a description, progress."""

    __tablename__ = "run_tracking"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[dict[str, Any] | None] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
