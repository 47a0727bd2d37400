"""What a run's status is, read from its main object and its pods: the one mapping table.

| The cluster shows | Status | Reason | Message |
|---|---|---|---|
| the main object exists; no pod, or pods Pending | starting | `Created`, waiting reason | pod |
| a pod `PodScheduled=False`, `Unschedulable` | unschedulable (1) | `Unschedulable` | scheduler's |
| a container waiting on its image or config (2) | warning | that reason | kubelet's |
| a pod Running (main container started) | running | `Running` | pod |
| a pod failed, the Job will retry (3) | retrying | `PodFailed` (3) | the failure |
| a Job's pod deleted before it ended, and replaced (6) | retrying | `PodDeleted` | which pod |
| the same, with no retries left (6) | failed | `PodDeleted` | which pod |
| Job `Complete=True`; Kubeflow `Succeeded=True` | succeeded | `Completed` | condition's |
| Job `Failed=True`; Kubeflow `Failed=True` | failed | pod's reason (4) | failure; condition |
| Job `Failed=True`, reason `DeadlineExceeded` | failed (5) | `DeadlineExceeded` | condition's |
| Deployment `Progressing=False` | warning | condition's | condition's |
| Spark, Dask and Ray objects | their table (`operators_status`) | | |
| Job `Suspended=True` (Kueue and the like) | starting | `Suspended` | condition's |
| main object deleted before its end, by Axon's stop | stopped | `Stopped` | |
| main object deleted before its end, by anyone else | stopped | `Deleted` | |
| main object deleted after its end (ttlSecondsAfterFinished) | nothing new | | |

(1) `warning` instead once the run has been running: a replacement pod that cannot be placed.
(2) `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, `CreateContainerConfigError`,
    `CreateContainerError`; the message names the container.
(3) Also a container in `CrashLoopBackOff` (reason `CrashLoopBackOff`) and a Kubeflow job's
    `Restarting` condition (reason `Restarting`). A Job whose failures exceed its backoffLimit
    is about to fail: it reports nothing new until its Failed condition arrives.
(4) `OOMKilled`, `Error`, `Evicted`… with the exit code (also the observation's exit_code),
    container and pod, then the condition's reason (BackoffLimitExceeded…) and message; the
    condition's own reason when no failed pod is known.
(5) A run that outlives its `timeout` (activeDeadlineSeconds) failed, as in Polyaxon.
(6) Someone deleted a running pod. Before 1.26 the Job controller does not count it as a
    failure and starts the pod again, whatever backoffLimit says; from 1.26 it counts as a failed
    pod. Either way the deletion spends one of the run's retries (`termination.maxRetries`), and
    a run without one left fails `PodDeleted` (its Job is then deleted, so the replacement stops).
    A Job that fails by itself after such a deletion names the deleted pod as its reason.

Completion is read from `status.conditions` only, never from the counters. With several pods
(a service's replicas, a Kubeflow job's workers) the most telling pod wins, in the order
unschedulable, warning, retrying, running, starting. What one pod says is read in `pod_status`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from runners.kubernetes import operators_status
from runners.kubernetes.manifests import STOP_REQUESTED, retries_allowed
from runners.kubernetes.pod_status import (
    Failure,
    Obj,
    Verdict,
    condition,
    conditions,
    parse_time,
    phase,
    pod_verdict,
)
from schemas.status import RunStatus

S = RunStatus

# Among several pods, the most telling status wins.
PRIORITY = (S.UNSCHEDULABLE, S.WARNING, S.RETRYING, S.RUNNING, S.STARTING)
TERMINAL_JOB = {"Complete": S.SUCCEEDED, "Failed": S.FAILED}
TERMINAL_KUBEFLOW = {"Succeeded": S.SUCCEEDED, "Failed": S.FAILED}


@dataclass
class RunView:
    """What is known of one run: its main object (last state), its pods, and a failure seen."""

    plural: str = ""
    owner: Obj | None = None
    deleted: bool = False
    pods: dict[str, Obj] = field(default_factory=dict)
    failure: Failure | None = None
    doomed: set[str] = field(default_factory=set)  # pods being deleted, not yet gone
    vanished: list[str] = field(default_factory=list)  # a Job's pods deleted before they ended
    replaced: int = 0  # how many of those the Job controller started again


def terminal(view: RunView) -> Verdict | None:
    """Succeeded or failed, from the main object's conditions; None while it goes on."""
    owner, table = view.owner, TERMINAL_JOB
    if owner is None or view.plural == "deployments":
        return None
    if operators_status.is_operator(view.plural):
        return _operator_end(view)
    if view.plural != "jobs":
        table = TERMINAL_KUBEFLOW
        ends = [
            c for c in conditions(owner) if c.get("status") == "True" and c.get("type") in table
        ]
        found = ends[-1] if ends else None
    else:
        found = next((c for kind in table if (c := condition(owner, kind))), None)
    if found is None:
        return None
    status, at = table[str(found["type"])], parse_time(found.get("lastTransitionTime"))
    reason, message = str(found.get("reason") or found["type"]), str(found.get("message") or "")
    if status == S.SUCCEEDED:
        return Verdict(S.SUCCEEDED, "Completed", message, at, 0)
    if reason == "DeadlineExceeded":
        deadline = (owner.get("spec") or {}).get("activeDeadlineSeconds")
        limit = f" (timeout {deadline}s)" if deadline else ""
        return Verdict(S.FAILED, reason, f"{message}{limit}", at)
    failure = view.failure
    if failure is None:
        return Verdict(S.FAILED, reason, message, at)
    return Verdict(
        S.FAILED,
        failure.reason,
        f"{failure.describe()}; {reason}: {message}",
        at,
        failure.exit_code,
    )


def verdict(view: RunView) -> Verdict | None:
    """The run's status now; None when there is nothing to say (an object about to fail)."""
    done = terminal(view)
    if done is not None:
        return done
    if operators_status.is_operator(view.plural):
        return _operator_verdict(view)
    owner = view.owner or {}
    if view.plural == "jobs" and (held := condition(owner, "Suspended")):
        return Verdict(S.STARTING, "Suspended", str(held.get("message") or ""))
    if view.plural not in ("jobs", "deployments"):
        true = [c for c in conditions(owner) if c.get("status") == "True"]
        if true and true[-1].get("type") == "Restarting":
            last = true[-1]
            return Verdict(S.RETRYING, "Restarting", str(last.get("message") or ""))
    if view.replaced and retries_used(view) > retries_allowed(owner):
        return Verdict(S.FAILED, "PodDeleted", _deleted_message(view, failed=True))
    found = pods_verdict(view)
    if found.status == S.STARTING and (view.doomed or len(view.vanished) > view.replaced):
        return None  # a pod deleted as it ran: its controller decides what comes next
    # A Job retries a failed pod; the operators and controllers report their own restarts.
    if found.status == S.RETRYING and found.reason == "PodFailed" and view.plural != "jobs":
        return None
    if found.status == S.RETRYING and view.plural == "jobs" and _retries_spent(view):
        return None
    stalled = condition(owner, "Progressing", "False") if view.plural == "deployments" else None
    if stalled is not None and found.status in (S.STARTING, S.RUNNING):
        reason = str(stalled.get("reason") or "Progressing")
        return Verdict(S.WARNING, reason, str(stalled.get("message") or ""))
    return found


def pods_verdict(view: RunView) -> Verdict:
    """The status the pods tell, the most telling pod first."""
    pods = [p for p in view.pods.values() if not (p.get("metadata") or {}).get("deletionTimestamp")]
    live = [p for p in pods if phase(p) not in ("Succeeded", "Failed")]
    found = [pod_verdict(p) for p in live]
    best = min(found, key=lambda v: PRIORITY.index(v.status)) if found else None
    if best is not None and best.status != S.STARTING:
        return best
    if best is None and any(phase(p) == "Succeeded" for p in pods):
        return Verdict(S.RUNNING, "Running", "finishing")
    failure = view.failure
    if any(phase(p) == "Failed" for p in pods) and failure is not None:
        # A replacement that has not started yet is still part of the retry.
        return Verdict(S.RETRYING, "PodFailed", failure.describe(), failure.at, failure.exit_code)
    if view.replaced and view.plural == "jobs":
        return Verdict(S.RETRYING, "PodDeleted", _deleted_message(view, failed=False))
    if best is not None:
        return best
    return Verdict(S.STARTING, "Created", "")


def ran(view: RunView) -> bool:
    """Whether a main container of the run has ever started."""
    done = terminal(view)
    if done is not None and done.status == S.SUCCEEDED:
        return True
    if operators_status.is_operator(view.plural):
        said = operators_status.reading(view.plural, view.owner)
        if said is not None and said.status == S.RUNNING:
            return True
    if view.plural not in ("jobs", "deployments") and any(
        c.get("type") == "Running" for c in conditions(view.owner)
    ):
        return True
    if view.failure is not None and view.failure.exit_code is not None:
        return True
    for pod in view.pods.values():
        for container in (pod.get("status") or {}).get("containerStatuses") or ():
            states = (container.get("state") or {}, container.get("lastState") or {})
            if any("running" in s or "terminated" in s for s in states):
                return True
    return False


def started_at(view: RunView) -> datetime | None:
    times = [
        parse_time(((c.get("state") or {}).get("running") or {}).get("startedAt"))
        or parse_time(((c.get("state") or {}).get("terminated") or {}).get("startedAt"))
        for pod in view.pods.values()
        for c in (pod.get("status") or {}).get("containerStatuses") or ()
    ]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def retries_used(view: RunView) -> int:
    """The retries a Job has spent: failed pods, restarts in place, and pods deleted under it.

    A 1.26+ server counts a deleted pod in `status.failed` and an older one does not; both
    counts hold the failed pods it still has, so the larger one is right on either.
    """
    failed = int(((view.owner or {}).get("status") or {}).get("failed") or 0)
    kept = sum(
        1 for name, p in view.pods.items() if phase(p) == "Failed" and name not in view.vanished
    )
    restarts = sum(
        int(c.get("restartCount") or 0)
        for p in view.pods.values()
        for c in (p.get("status") or {}).get("containerStatuses") or ()
    )
    return max(failed, kept + len(view.vanished)) + restarts


def job_going(view: RunView) -> bool:
    """Whether the run is a Job that nobody is deleting and that has not ended by itself
    (completed, or past its deadline): a pod deleted under it now was cut short by someone else.

    A Job already Failed still counts: a 1.26+ server may count the deleted pod, and fail the
    Job, before the pod's own deletion reaches the watch.
    """
    owner = view.owner or {}
    meta = owner.get("metadata") or {}
    if view.plural != "jobs" or not owner or view.deleted or meta.get("deletionTimestamp"):
        return False
    failed = condition(owner, "Failed") or {}
    ended = condition(owner, "Complete") or failed.get("reason") == "DeadlineExceeded"
    return STOP_REQUESTED not in (meta.get("annotations") or {}) and not ended


def _deleted_message(view: RunView, failed: bool) -> str:
    allowed, pod = retries_allowed(view.owner or {}), view.vanished[-1]
    said = f"pod {pod} was deleted before it ended"
    if failed:
        return f"{said}, and no retry is left (maxRetries {allowed})"
    return f"{said}; the Job runs it again (retry {retries_used(view)} of {allowed})"


def _retries_spent(view: RunView) -> bool:
    """Whether the Job has failed more often than its run's retries allow: it is ending."""
    return retries_used(view) > retries_allowed(view.owner or {})


def _operator_end(view: RunView) -> Verdict | None:
    """A Spark, Dask or Ray run's end, with the failed pod's reason when one is known."""
    said = operators_status.terminal(view.plural, view.owner)
    if said is None:
        return None
    at = parse_time(said.at)
    if said.status == S.SUCCEEDED:
        return Verdict(S.SUCCEEDED, said.reason, said.message, at, 0)
    failure = view.failure
    if said.status != S.FAILED or failure is None:
        return Verdict(said.status, said.reason, said.message, at)
    detail = f"; {said.reason}: {said.message}" if said.message else ""
    return Verdict(S.FAILED, failure.reason, f"{failure.describe()}{detail}", at, failure.exit_code)


def _operator_verdict(view: RunView) -> Verdict | None:
    """What the operator's object says, unless a pod that cannot start says more."""
    said = operators_status.reading(view.plural, view.owner)
    if said is None:
        return None
    pods = pods_verdict(view)
    if pods.status in (S.UNSCHEDULABLE, S.WARNING):
        return pods
    at = pods.at if said.status == pods.status else None
    return Verdict(said.status, said.reason, said.message or pods.message, at)
