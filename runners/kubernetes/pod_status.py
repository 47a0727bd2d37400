"""What one pod says: a live pod's status and how a pod failed (a run's status is `status`).

Also the Verdict and Failure they are told in, and the readers of conditions and times that
`status` reads a run's main object with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.status import RunStatus

S = RunStatus
Obj = Mapping[str, Any]

WAITING_PROBLEMS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


@dataclass(frozen=True)
class Verdict:
    """A status with its reason and message, when it happened, and an exit code if any."""

    status: RunStatus
    reason: str = ""
    message: str = ""
    at: datetime | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Failure:
    """How a pod's main container (or the pod) last failed."""

    pod: str
    container: str
    reason: str
    exit_code: int | None
    at: datetime | None = None
    message: str = ""

    def describe(self) -> str:
        code = f" (exit code {self.exit_code})" if self.exit_code is not None else ""
        where = f"container {self.container} of pod {self.pod}" if self.container else self.pod
        detail = f": {self.message}" if self.message else ""
        return f"{self.reason}{code} in {where}{detail}"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def conditions(obj: Obj | None) -> list[Obj]:
    return list(((obj or {}).get("status") or {}).get("conditions") or [])


def condition(obj: Obj | None, kind: str, status: str = "True") -> Obj | None:
    """The condition `kind` when its status is `status`."""
    return next(
        (c for c in conditions(obj) if c.get("type") == kind and c.get("status") == status), None
    )


def pod_verdict(pod: Obj) -> Verdict:
    """What one live (Pending or Running) pod says."""
    name = str(pod["metadata"]["name"])
    status = pod.get("status") or {}
    scheduled = condition(pod, "PodScheduled", "False")
    if scheduled is not None and scheduled.get("reason") == "Unschedulable":
        at = parse_time(scheduled.get("lastTransitionTime"))
        return Verdict(S.UNSCHEDULABLE, "Unschedulable", str(scheduled.get("message") or ""), at)
    containers = [
        *(status.get("initContainerStatuses") or ()),
        *(status.get("containerStatuses") or ()),
    ]
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in WAITING_PROBLEMS:
            message = (
                f"container {container['name']}: {waiting.get('message') or waiting['reason']}"
            )
            return Verdict(S.WARNING, str(waiting["reason"]), message)
    for container in status.get("containerStatuses") or ():
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            failure = container_failure(name, container)
            message = failure.describe() if failure else str(waiting.get("message") or "")
            return Verdict(
                S.RETRYING,
                "CrashLoopBackOff",
                message,
                exit_code=failure.exit_code if failure else None,
            )
    if phase(pod) == "Running":
        started = [
            parse_time(((c.get("state") or {}).get("running") or {}).get("startedAt"))
            for c in status.get("containerStatuses") or ()
        ]
        return Verdict(S.RUNNING, "Running", f"pod {name}", next((t for t in started if t), None))
    waiting_reasons = [
        str(((c.get("state") or {}).get("waiting") or {}).get("reason") or "") for c in containers
    ]
    return Verdict(S.STARTING, next((r for r in waiting_reasons if r), "Pending"), f"pod {name}")


def container_failure(pod: str, container: Obj, current: bool = True) -> Failure | None:
    """The container's latest non-zero exit: now (unless not `current`), or before its last
    restart."""
    states = (container.get("state"), container.get("lastState"))
    for state in states if current else states[1:]:
        ended = (state or {}).get("terminated") or {}
        if ended and ended.get("exitCode", 0) != 0:
            return Failure(
                pod,
                str(container["name"]),
                str(ended.get("reason") or "Error"),
                int(ended["exitCode"]),
                parse_time(ended.get("finishedAt")),
                str(ended.get("message") or ""),
            )
    return None


def pod_failure(pod: Obj, main: Iterable[str]) -> Failure | None:
    """How the pod failed: its main container's exit, else the pod's own reason (Evicted…)."""
    name, status = str(pod["metadata"]["name"]), pod.get("status") or {}
    # A pod being deleted was killed by whoever deleted it (a controller cleaning up, a stop):
    # that is no failure of the run, though what it did before may be.
    deleting = bool(pod["metadata"].get("deletionTimestamp"))
    wanted = set(main)
    statuses = status.get("containerStatuses") or ()
    for container in sorted(statuses, key=lambda c: c.get("name") not in wanted):
        found = container_failure(name, container, current=not deleting)
        if found is not None:
            return found
    if status.get("phase") == "Failed" and not deleting:
        reason = str(status.get("reason") or "Failed")
        return Failure(name, "", reason, None, None, str(status.get("message") or ""))
    return None


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def ended_phase(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")
