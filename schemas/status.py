"""The states of runs (as Polyaxon names them), deliveries, notifications and schedules."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    CREATED = "created"
    RESUMING = "resuming"
    ON_SCHEDULE = "on_schedule"
    COMPILED = "compiled"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    STARTING = "starting"
    RUNNING = "running"
    PROCESSING = "processing"
    STOPPING = "stopping"
    FAILED = "failed"
    STOPPED = "stopped"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    WARNING = "warning"
    UNSCHEDULABLE = "unschedulable"
    UPSTREAM_FAILED = "upstream_failed"
    RETRYING = "retrying"
    UNKNOWN = "unknown"


DONE: frozenset[RunStatus] = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.STOPPED,
        RunStatus.SKIPPED,
        RunStatus.UPSTREAM_FAILED,
    }
)
# Statuses in which a runner may hold resources for the run.
ON_RUNNER: frozenset[RunStatus] = frozenset(
    {
        RunStatus.SCHEDULED,
        RunStatus.STARTING,
        RunStatus.RUNNING,
        RunStatus.PROCESSING,
        RunStatus.WARNING,
        RunStatus.UNSCHEDULABLE,
        RunStatus.RETRYING,
        RunStatus.UNKNOWN,
        RunStatus.STOPPING,
    }
)


class DeliveryStatus(StrEnum):
    """A webhook delivery's (or a schedule slot's) way through intake and dispatch."""

    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    MALFORMED = "malformed"
    REJECTED = "rejected"


class NotificationState(StrEnum):
    """What came of telling one target of one status."""

    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    RETRYING = "retrying"


class ScheduleState(StrEnum):
    """Whether one entry of a subscription's `on.schedule` fires."""

    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
