"""The tables: projects, sources, subscriptions, deliveries and their decisions, runs."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    insert,
)
from sqlalchemy import Connection as DbConnection
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ci.store.db import Base, UTCDateTime, utcnow
from schemas.status import DeliveryStatus, RunStatus, ScheduleState

Json = JSON().with_variant(JSONB(), "postgresql")


def new_uuid() -> str:
    return secrets.token_hex(16)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Its org's members get their org role on it (ci.identity.roles); migration 0013 puts the
    # projects made before orgs existed in the "default" org.
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )


class Source(Base):
    """A webhook endpoint: `/webhooks/<provider>/<name>`, with the secret it is signed with
    (its own, or a project connection's)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(String(512), default="")
    allow_legacy_signatures: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set instead of `secret`: deliveries are verified with this connection's value `secret`,
    # read at each delivery (ci.connections.signing), so replacing it takes effect at once.
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", name="fk_sources_connection_id"), nullable=True
    )

    project: Mapped[Project] = relationship()
    connection: Mapped[Connection | None] = relationship()
    __table_args__ = (UniqueConstraint("provider", "name", name="uq_sources_provider_name"),)


class Subscription(Base):
    """On these events, run this operation, and report there; `spec` is the document as given."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A new value on every write, given by the database (migration 0009's triggers), so that
    # a process recompiles only the subscriptions that changed (ci.runs.indexes).
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")

    project: Mapped[Project] = relationship()
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_subscriptions_name"),)


class SubscriptionVersion(Base):
    """A new `version` in the transaction of every write to a project's subscriptions, whoever
    writes (the database's triggers, migration 0009): one cheap read tells a process whether
    its compiled copy of them is current. A project without a row has never had one."""

    __tablename__ = "subscription_versions"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger)


class ProfileVersion(Base):
    """One row whose `version` changes in the transaction of every write to presets, org
    presets or quotas, whoever writes (the database's triggers, migration 0020): one cheap read
    tells a process whether what it knows of them (ci.runs.profiles) is current."""

    __tablename__ = "profile_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (CheckConstraint("id = 1", name="profile_versions_one_row"),)


class Delivery(Base):
    """One webhook request, stored before it is answered; also the outbox of its processing."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(32))
    # NULL for rejected deliveries: an unsigned copy must not block the genuine one.
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    event_name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # DeliveryStatus: ci.intake.delivery_state
    reason: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # The body's size as received: a refused delivery keeps only the first bytes of it.
    body_size: Mapped[int | None] = mapped_column(Integer)
    # Indexed for the retention prune, which deletes by age.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[Source | None] = relationship()
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="delivery", order_by="Decision.id"
    )
    __table_args__ = (UniqueConstraint("source_id", "dedupe_key", name="uq_deliveries_dedupe"),)


class OutboxEntry(Base):
    """A delivery stored as received whose task the outbox relay has yet to publish.

    Its own table, not a column of `deliveries`: the relay deletes these rows, and the
    deliveries' rows (bodies, four indexes) are not written again for it. Intake inserts one
    in the statement that stores the delivery (ci.intake.receipt); a `Delivery` added through
    the ORM as received and not yet enqueued gets one on flush (below).
    """

    __tablename__ = "delivery_outbox"

    delivery_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


@event.listens_for(Delivery, "after_insert")
def _waits_for_relay(_mapper: Any, connection: DbConnection, delivery: Delivery) -> None:
    if delivery.status == DeliveryStatus.RECEIVED and delivery.enqueued_at is None:
        connection.execute(insert(OutboxEntry), {"delivery_id": delivery.id})


class Decision(Base):
    """Why one subscription did or did not start a run for one event of a delivery."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    event_index: Mapped[int] = mapped_column(Integer, default=0)
    event: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    subscription_name: Mapped[str] = mapped_column(String(128), default="")
    matched: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="decisions")
    run: Mapped[Run | None] = relationship()


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


class Notification(Base):
    """One report of one condition to one target; unique so a retried task sends it once."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    condition_id: Mapped[int] = mapped_column(ForeignKey("conditions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))  # NotificationState: ci.reporting.attempts
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # While `retrying`: when the next attempt is due. Kept here, so that neither a re-sent task
    # nor a restarted worker starts the target's retry budget over.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    receipt: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "condition_id", "target", name="uq_notifications_once"),
    )


class Schedule(Base):
    """One entry of a subscription's `on.schedule`, with the next slot a scheduler must decide."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A subscription's `on.schedule` entry, or an operation's own `schedule:` (its controller run).
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    entry: Mapped[int] = mapped_column(Integer)  # its index in `on.schedule` (0 for a run's)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    # ScheduleState, written by ci.schedules.state.
    state: Mapped[str] = mapped_column(String(16), default=ScheduleState.ACTIVE)
    # Why it is ended, or what it is waiting for; shown beside the schedule.
    reason: Mapped[str] = mapped_column(Text, default="")
    # The first slot not yet fired or skipped: what a catch-up after downtime starts from.
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a scheduler must next look: the slot plus its jitter, or when to check again.
    # NULL while paused or ended: the due-schedules query never meets those rows.
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("subscription_id", "entry", name="uq_schedules_entry"),
        UniqueConstraint("run_id", "entry", name="uq_schedules_run_entry"),
    )


class ScheduleFire(Base):
    """One slot of a schedule, fired (with its delivery) or skipped (with the reason)."""

    __tablename__ = "schedule_fires"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the slot, before any jitter
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The slot's one row: two schedulers cannot both fire it.
    __table_args__ = (UniqueConstraint("schedule_id", "fire_at", name="uq_schedule_fires_slot"),)


class NotificationAttempt(Base):
    """One try at reporting one status to one target: the notification log the API serves.

    `notifications` keeps each (run, status, target) once, with its receipt; this keeps every
    attempt, including the retried, the refused and the skipped, each with its reason.
    """

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    condition_id: Mapped[int] = mapped_column(ForeignKey("conditions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(64))
    notifier: Mapped[str] = mapped_column(String(32), default="")
    # What asked for it: "report" (the subscription), "hooks[0]", "plugins.notifications[1]".
    via: Mapped[str] = mapped_column(String(64), default="report")
    status: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))  # NotificationState: ci.reporting.attempts
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    receipt_id: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BrokerProbe(Base):
    """A message the sweeper sent down the task queue behind the work it suspects is lost.

    The queue is first in, first out: once a worker has seen a probe, every message published
    before it was delivered, so work older than the probe that is still not done was lost, not
    merely waiting behind a backlog.
    """

    __tablename__ = "broker_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class ProgressReport(Base):
    """When a running run's progress last went to one target, and when the next is due: the
    throttle of ci.reporting.progress, kept here so that a restarted worker still sends the
    last progress a window held back."""

    __tablename__ = "progress_reports"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: nothing waits. Else the send of the latest progress is due then.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The last progress send's receipt, when it differs from the running status's (a message
    # posted anew because the old one was deleted): later sends edit that one.
    receipt: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Connection(Base):
    """A project's named connection: its kind and plain settings (`schema`), and its secret
    values, kept as one Fernet token (ci.connections.crypto) that only a run's launch opens."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    schema: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # The names are not secret: answers list them so a user sees what a run will get.
    secret_keys: Mapped[list[str]] = mapped_column(Json, default=list)
    secret: Mapped[str] = mapped_column(Text, default="")
    mount_path: Mapped[str] = mapped_column(String(512), default="")
    env: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Who made it (a principal's label); empty for rows older than migration 0017.
    created_by: Mapped[str] = mapped_column(String(256), default="", server_default="")

    project: Mapped[Project] = relationship()
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_connections_project_name"),)


class Preset(Base):
    """A project's named preset: a partial operation merged into each operation naming it in
    `presets:`, or into every operation of the project when it is a default."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_presets_project_name"),)


class OrgPreset(Base):
    """An org's named preset, for every project of the org: a project's preset of the same
    name overrides it, and an org default is merged into each of the org's runs."""

    __tablename__ = "org_presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_org_presets_org_name"),)


class RunQueue(Base):
    """A project's queue: the higher its priority, the sooner its waiting runs are admitted."""

    __tablename__ = "run_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_run_queues_project_name"),)


class Quota(Base):
    """Limits on what the runs of one scope (an org, a team or a project) hold at once; a null
    limit is no limit. CPU is in cores, memory in bytes."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_name: Mapped[str] = mapped_column(String(128))
    runs: Mapped[int | None] = mapped_column(Integer)
    cpu: Mapped[float | None] = mapped_column(Float)
    memory: Mapped[int | None] = mapped_column(BigInteger)
    gpu: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("scope_kind", "scope_name", name="uq_quotas_scope"),)


class Organization(Base):
    """Who owns projects: its members' org role applies on every one of its projects."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A person (or a robot account); `is_admin` is a server admin, allowed everything."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str] = mapped_column(String(256), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by an admin: the user's tokens and sessions are refused until it is cleared again.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserLogin(Base):
    """An identity at an OpenID Connect provider (its issuer and verified `sub`) that signs in
    as `user_id`; one user may have several."""

    __tablename__ = "user_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_user_logins_issuer_subject"),)


class OrgMember(Base):
    """A user's role in an org: member, admin or owner (ci.identity.roles.Role)."""

    __tablename__ = "org_members"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_teams_org_name"),)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ProjectMember(Base):
    """A user's or a team's role on one project: viewer, member, admin or owner."""

    __tablename__ = "project_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", name="uq_project_members_user"),
        UniqueConstraint("project_id", "team_id", name="uq_project_members_team"),
    )


class AccessToken(Base):
    """A personal access token: only its sha256 is kept (ci.identity.tokens says why that
    suffices); `prefix` lets its owner tell tokens apart; `scopes` narrow what it may do."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # {"projects": [names] or null for all the user's, "actions": ["read", "write", "admin"]}
    scopes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class AuditEntry(Base):
    """Who changed what, and when: never a body, so never a secret value."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    project: Mapped[str] = mapped_column(String(128), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[int] = mapped_column(Integer)
