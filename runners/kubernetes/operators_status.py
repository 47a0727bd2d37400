"""What the Spark, Dask and Ray operators say of a run: their states mapped to Axon's.

| Object | Field | Value | Status | Reason |
|---|---|---|---|---|
| SparkApplication | `status.applicationState.state` | none, `SUBMITTED` | starting | `Submitted` |
| | | `RUNNING`, `SUCCEEDING` | running | `Running` |
| | | `PENDING_RERUN`, `INVALIDATING` | retrying | the state |
| | | `FAILING` | nothing new (failed follows) | |
| | | `COMPLETED` | succeeded | `Completed` |
| | | `FAILED` | failed | `Failed` |
| | | `SUBMISSION_FAILED` | failed | `SubmissionFailed` |
| | | `UNKNOWN` | warning | `Unknown` |
| DaskJob | `status.jobStatus` | none yet, `JobCreated`, `ClusterCreated` | starting | the value |
| | | `Running` | running | `Running` |
| | | `Successful` | succeeded | `Completed` |
| | | `Failed` | failed | `Failed` |
| DaskCluster | `status.phase` | none yet, `Created`, `Pending` | starting | the value |
| | | `Running` | running | `Running` |
| RayJob | `status.jobDeploymentStatus` | none, `Initializing`, `Waiting` | starting | the value |
| | | `Suspending`, `Suspended` | starting | `Suspended` |
| | | `Running` with `status.jobStatus` `PENDING` | starting | `Pending` |
| | | `Running` with `jobStatus` `RUNNING` (or none) | running | `Running` |
| | | `Retrying` | retrying | `Retrying` |
| | `status.jobStatus` | `SUCCEEDED` | succeeded | `Completed` |
| | | `FAILED` | failed | `Failed` |
| | | `STOPPED` | stopped | `Stopped` |
| | `status.jobDeploymentStatus` | `Failed` (no job status) | failed | `status.reason` |
| | | `Complete` (no job status) | succeeded | `Completed` |
| RayCluster | `status.state` | none yet | starting | `Created` |
| | | `ready` | running | `Running` |
| | | `suspended` | starting | `Suspended` |
| | | `failed` | failed | `status.reason` |

A DaskCluster and a RayCluster run until they are stopped, like a service. Whatever the object
says, a pod that cannot be placed or whose image cannot be pulled tells more (`status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runners.kubernetes.operators_kinds import BY_PLURAL
from schemas.status import RunStatus

S = RunStatus
Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Reading:
    """The status an operator's object tells, with its reason and message; `at` as written."""

    status: RunStatus
    reason: str
    message: str = ""
    at: str | None = None


SPARK: dict[str, tuple[RunStatus, str] | None] = {
    "": (S.STARTING, "Submitted"),
    "NEW": (S.STARTING, "Submitted"),
    "SUBMITTED": (S.STARTING, "Submitted"),
    "RUNNING": (S.RUNNING, "Running"),
    "SUCCEEDING": (S.RUNNING, "Running"),
    "PENDING_RERUN": (S.RETRYING, "PendingRerun"),
    "INVALIDATING": (S.RETRYING, "Invalidating"),
    "FAILING": None,
    "COMPLETED": (S.SUCCEEDED, "Completed"),
    "FAILED": (S.FAILED, "Failed"),
    "SUBMISSION_FAILED": (S.FAILED, "SubmissionFailed"),
    "UNKNOWN": (S.WARNING, "Unknown"),
}
DASK_JOB: dict[str, tuple[RunStatus, str]] = {
    "": (S.STARTING, "Created"),
    "JobCreated": (S.STARTING, "JobCreated"),
    "ClusterCreated": (S.STARTING, "ClusterCreated"),
    "Running": (S.RUNNING, "Running"),
    "Successful": (S.SUCCEEDED, "Completed"),
    "Failed": (S.FAILED, "Failed"),
}
DASK_CLUSTER: dict[str, tuple[RunStatus, str]] = {
    "": (S.STARTING, "Created"),
    "Created": (S.STARTING, "Created"),
    "Pending": (S.STARTING, "Pending"),
    "Running": (S.RUNNING, "Running"),
}
RAY_JOB_DEPLOYMENT: dict[str, tuple[RunStatus, str]] = {
    "": (S.STARTING, "Created"),
    "Initializing": (S.STARTING, "Initializing"),
    "Waiting": (S.STARTING, "Waiting"),
    "Suspending": (S.STARTING, "Suspended"),
    "Suspended": (S.STARTING, "Suspended"),
    "Running": (S.RUNNING, "Running"),
    "Retrying": (S.RETRYING, "Retrying"),
    "Complete": (S.SUCCEEDED, "Completed"),
    "Failed": (S.FAILED, "Failed"),
}
RAY_JOB: dict[str, tuple[RunStatus, str]] = {
    "PENDING": (S.STARTING, "Pending"),
    "RUNNING": (S.RUNNING, "Running"),
    "SUCCEEDED": (S.SUCCEEDED, "Completed"),
    "FAILED": (S.FAILED, "Failed"),
    "STOPPED": (S.STOPPED, "Stopped"),
}
RAY_CLUSTER: dict[str, tuple[RunStatus, str]] = {
    "": (S.STARTING, "Created"),
    "ready": (S.RUNNING, "Running"),
    "suspended": (S.STARTING, "Suspended"),
    "failed": (S.FAILED, "Failed"),
}
FINAL = frozenset({S.SUCCEEDED, S.FAILED, S.STOPPED})


def is_operator(plural: str) -> bool:
    return plural in BY_PLURAL


def reading(plural: str, owner: Obj | None) -> Reading | None:
    """What the object of `plural` says now; None when it says nothing new (about to fail)."""
    status: Obj = (owner or {}).get("status") or {}
    kind = BY_PLURAL[plural].kind
    if kind == "SparkApplication":
        return _spark(status)
    if kind == "DaskJob":
        found = DASK_JOB.get(str(status.get("jobStatus") or ""), (S.STARTING, "Created"))
        return Reading(*found, at=status.get("endTime") if found[0] in FINAL else None)
    if kind == "DaskCluster":
        return Reading(*DASK_CLUSTER.get(str(status.get("phase") or ""), (S.STARTING, "Created")))
    if kind == "RayJob":
        return _ray_job(status)
    state = str(status.get("state") or "")
    return _ray(RAY_CLUSTER.get(state, (S.STARTING, state or "Created")), status)


def terminal(plural: str, owner: Obj | None) -> Reading | None:
    """The run's end, when the object tells it: succeeded, failed or stopped."""
    found = reading(plural, owner)
    return found if found is not None and found.status in FINAL else None


def _spark(status: Obj) -> Reading | None:
    state: Obj = status.get("applicationState") or {}
    name = str(state.get("state") or "")
    found = SPARK.get(name, (S.WARNING, name))
    if found is None:
        return None
    message = str(state.get("errorMessage") or "")
    at = status.get("terminationTime") if found[0] in FINAL else None
    return Reading(found[0], found[1], message, at)


def _ray_job(status: Obj) -> Reading:
    deployment = str(status.get("jobDeploymentStatus") or "")
    job = str(status.get("jobStatus") or "")
    if job in RAY_JOB and RAY_JOB[job][0] in FINAL:
        return _ray(RAY_JOB[job], status)
    found = RAY_JOB_DEPLOYMENT.get(deployment, (S.STARTING, deployment))
    if found[0] == S.RUNNING and job in RAY_JOB:
        found = RAY_JOB[job]
    return _ray(found, status)


def _ray(found: tuple[RunStatus, str], status: Obj) -> Reading:
    """KubeRay's own reason (`DeadlineExceeded`, `SubmissionFailed`...) names a failure."""
    status_, reason = found
    why, message = str(status.get("reason") or ""), str(status.get("message") or "")
    if status_ == S.FAILED and why:
        reason = why
    elif why and why != reason:
        message = f"{why}: {message}" if message else why
    at = status.get("endTime") if status_ in FINAL else None
    return Reading(status_, reason, message, at)
