"""Run statuses and their sets, as Polyaxon names them."""

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
