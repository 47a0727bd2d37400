"""Turns watch events into observations: one view per run, news only, milestones in order.

The tracker keeps each run's main object and pods as last seen, asks `status.verdict` what
they mean, and yields an Observation only when the status changes. Before a later status it
yields the milestones a watcher may have missed (`starting`, then `running` if a container
ran), so a fast job and a job that ended while nobody watched both read starting → running →
succeeded. A run that ended is forgotten, apart from its key and its object's uid: its late
events change nothing, while a new object for the same run (submitted again) is followed.
A run is keyed by its attempt (the `axon.dev/attempt` label beside its uuid): a resumed or
retried run's new object and pods are followed apart from the old attempt's, which may still
be on the cluster.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runners.base import Observation
from runners.kubernetes import built_images
from runners.kubernetes.manifests import (
    KUBEFLOW,
    MAIN,
    STOP_REQUESTED,
    Workload,
    attempt_selector,
)
from runners.kubernetes.operators_kinds import LOG_CONTAINERS
from runners.kubernetes.pod_status import Failure, Obj, Verdict, ended_phase, pod_failure
from runners.kubernetes.status import RunView, job_going, ran, started_at, terminal, verdict
from schemas.status import DONE, RunStatus

S = RunStatus
Key = tuple[str, str]  # (namespace, label selector of one attempt's objects and pods)
MAIN_CONTAINERS = (
    MAIN,
    *(flavor.container for flavor in KUBEFLOW.values()),
    *LOG_CONTAINERS,
)
FORGET_AFTER = 10_000  # ended runs remembered, so their late events change nothing
SETTLE = 1.0  # seconds a failure waits for the pod event that gives its reason
PodLookup = Callable[[str, str], Sequence[Obj]]  # (namespace, attempt selector) → its pods
Clock = Callable[[], float]  # seconds; only differences count, so time.monotonic serves


@dataclass
class _Tracked:
    view: RunView = field(default_factory=RunView)
    emitted: set[RunStatus] = field(default_factory=set)
    last: RunStatus | None = None
    held_until: float | None = None  # a failure waiting for its pod's reason


class Tracker:
    """Runs by key, fed with objects; `live` once every kind has been listed.

    `clock` times the settle wait; a test hands in a clock it moves itself.
    """

    def __init__(
        self,
        lookup_pods: PodLookup | None = None,
        settle: float = SETTLE,
        clock: Clock = time.monotonic,
    ) -> None:
        self.runs: dict[Key, _Tracked] = {}
        self.ended: OrderedDict[Key, str] = OrderedDict()  # run → the uid of its ended object
        self.live = False
        self.lookup_pods = lookup_pods
        self.settle = settle
        self.clock = clock

    # -- feeding -----------------------------------------------------------------------------

    def sync(self, plural: str, namespace: str, objects: Iterable[Obj]) -> list[Observation]:
        """A fresh list of every object of `plural` in `namespace`: what it lacks was deleted."""
        listed: dict[tuple[Key, str], Obj] = {}
        for obj in objects:
            if (key := _key(obj)) is not None:
                listed[(key, obj["metadata"]["name"])] = obj
        out: list[Observation] = []
        for key, tracked in list(self.runs.items()):
            view = tracked.view
            if key[0] != namespace:
                continue
            if plural == "pods":
                for name, pod in list(view.pods.items()):
                    if (key, name) not in listed:
                        out += self.apply("DELETED", "pods", pod)
            elif view.plural == plural and view.owner is not None and not view.deleted:
                if (key, view.owner["metadata"]["name"]) not in listed:
                    out += self.apply("DELETED", plural, view.owner)
        for obj in listed.values():
            out += self.apply("MODIFIED", plural, obj)
        return out

    def apply(self, kind: str, plural: str, obj: Obj) -> list[Observation]:
        """One watch event (ADDED, MODIFIED or DELETED) for an object of `plural`."""
        key = _key(obj)
        if key is None:
            return []
        if key in self.ended:
            if plural == "pods" or str(obj["metadata"].get("uid") or "") == self.ended[key]:
                return []
            del self.ended[key]  # the run was submitted again: a new object
        tracked = self.runs.setdefault(key, _Tracked())
        view, name = tracked.view, str(obj["metadata"]["name"])
        if plural == "pods":
            _follow_deletions(view, kind, obj)
            if kind == "DELETED":
                view.pods.pop(name, None)
            else:
                view.pods[name] = obj
            view.failure = _latest(view.failure, pod_failure(obj, MAIN_CONTAINERS))
            if view.owner is None and not view.pods:
                del self.runs[key]
                return []
        else:
            view.plural, view.owner = plural, obj
            view.deleted = kind == "DELETED"
        return self._news(key) if self.live else []

    def go_live(self) -> list[Observation]:
        """Every kind is listed: the current state of every run, milestones first."""
        self.live = True
        out: list[Observation] = []
        for key in list(self.runs):
            out += self._news(key, settled=True)
        return out

    def due(self) -> list[Observation]:
        """Failures held for their pod's reason whose wait is over: as they are now."""
        now, out = self.clock(), []
        for key, tracked in list(self.runs.items()):
            if tracked.held_until is not None and now >= tracked.held_until:
                out += self._news(key, settled=True)
        return out

    def tracked_ids(self) -> set[str]:
        """The external ids of the runs whose main object has been seen and not yet ended."""
        return {
            _external_id(key, tracked.view)
            for key, tracked in self.runs.items()
            if tracked.view.owner is not None
        }

    # -- deciding ----------------------------------------------------------------------------

    def _news(self, key: Key, settled: bool = False) -> list[Observation]:
        tracked = self.runs[key]
        view = tracked.view
        if view.owner is None:
            return []  # pods seen before their owner: wait for it
        if not settled and self._hold(tracked):
            return []
        found = self._verdict(key, view)
        if found is None:
            return []
        external_id = _external_id(key, view)
        out: list[Observation] = []
        if found.status != S.STOPPED:
            if S.STARTING not in tracked.emitted and found.status != S.STARTING:
                out.append(_observation(external_id, Verdict(S.STARTING, "Created")))
            later = found.status not in (S.STARTING, S.RUNNING, S.UNSCHEDULABLE)
            if later and S.RUNNING not in tracked.emitted and ran(view):
                out.append(
                    _observation(external_id, Verdict(S.RUNNING, "Running", at=started_at(view)))
                )
            if found.status == S.UNSCHEDULABLE and S.RUNNING in tracked.emitted:
                found = Verdict(S.WARNING, found.reason, found.message, found.at)
        if found.status != tracked.last:
            built = self._built(key, view) if found.status == S.SUCCEEDED else None
            out.append(_observation(external_id, found, built))
        for observation in out:
            tracked.emitted.add(observation.status)
            tracked.last = observation.status
        if found.status in DONE:
            self._end(key, str(view.owner["metadata"].get("uid") or ""))
        return out

    def _hold(self, tracked: _Tracked) -> bool:
        """Whether a failure should wait a moment for its pod's reason.

        The pod watch and the owner's are separate streams: the pod that failed may arrive
        just after the condition saying so, or be deleted (a Kubeflow job's cleanPodPolicy)
        before anyone could ask for it.
        """
        view = tracked.view
        done = terminal(view)
        if done is None or done.status != S.FAILED or view.failure is not None:
            return False
        if done.reason == "DeadlineExceeded":
            return False
        if tracked.held_until is None:
            tracked.held_until = self.clock() + self.settle
        return self.clock() < tracked.held_until

    def _verdict(self, key: Key, view: RunView) -> Verdict | None:
        done = terminal(view)
        if done is not None and done.status == S.FAILED and view.failure is None:
            if self.lookup_pods is not None and done.reason != "DeadlineExceeded":
                # The pod watch may lag the owner's: ask once for the pod's reason.
                for pod in self.lookup_pods(*key):
                    view.failure = _latest(view.failure, pod_failure(pod, MAIN_CONTAINERS))
            if view.failure is None and view.vanished and done.reason != "DeadlineExceeded":
                # A 1.26+ server counts a pod deleted as it ran as the Job's failure.
                reason = "deleted before it ended"
                view.failure = Failure(view.vanished[-1], "", "PodDeleted", None, message=reason)
            done = terminal(view)
        if done is not None:
            return done
        if view.deleted:
            annotations = view.owner and view.owner["metadata"].get("annotations") or {}
            if STOP_REQUESTED in annotations:
                return Verdict(S.STOPPED, "Stopped", "stopped by request", _now())
            kind = (view.owner or {}).get("kind", "object")
            return Verdict(S.STOPPED, "Deleted", f"the {kind} was deleted before it ended", _now())
        return verdict(view)

    def _built(self, key: Key, view: RunView) -> dict[str, Any] | None:
        """A builder's pushed image; the pod watch may lag the Job's: then ask for the pods."""
        template = ((view.owner or {}).get("spec") or {}).get("template") or {}
        if not built_images.is_builder([template]):
            return None
        found = built_images.built_image(view.pods.values())
        if found is None and self.lookup_pods is not None:
            found = built_images.built_image(self.lookup_pods(*key))
        return found

    def _end(self, key: Key, uid: str) -> None:
        self.runs.pop(key, None)
        self.ended[key] = uid
        while len(self.ended) > FORGET_AFTER:
            self.ended.popitem(last=False)


def _follow_deletions(view: RunView, kind: str, pod: Obj) -> None:
    """Note a Job's pod deleted by someone else as it ran, and the pod started after it.

    Whether the Job was going is judged when the deletion is first seen: the pod itself may
    only go (its finalizer removed) after the Job has counted it and failed. The Job controller
    starts the next pod as soon as the deletion begins, before the pod is gone.
    """
    name = str(pod["metadata"]["name"])
    before = view.pods.get(name)
    deleting = kind == "DELETED" or bool(pod["metadata"].get("deletionTimestamp"))
    last = before if before is not None or kind == "DELETED" else pod  # its state as it ran
    if deleting and name not in view.vanished and last is not None and not ended_phase(last):
        if job_going(view):
            view.vanished.append(name)
    if kind == "DELETED":
        view.doomed.discard(name)
    elif deleting:
        view.doomed.add(name)
    elif before is None and len(view.vanished) > view.replaced:
        view.replaced += 1


def _external_id(key: Key, view: RunView) -> str:
    return Workload(key[0], view.plural, str((view.owner or {})["metadata"]["name"])).external_id


def _key(obj: Obj) -> Key | None:
    meta = obj.get("metadata") or {}
    selector = attempt_selector(meta.get("labels") or {})
    return (str(meta.get("namespace") or ""), selector) if selector else None


def _latest(known: Failure | None, seen: Failure | None) -> Failure | None:
    if seen is None:
        return known
    if known is None or (seen.at or _now()) >= (known.at or datetime.min.replace(tzinfo=UTC)):
        return seen
    return known


def _observation(
    external_id: str, found: Verdict, outputs: dict[str, Any] | None = None
) -> Observation:
    return Observation(
        external_id=external_id,
        status=found.status,
        reason=found.reason,
        message=found.message,
        at=found.at or _now(),
        exit_code=found.exit_code,
        outputs=outputs,
    )


def _now() -> datetime:
    return datetime.now(UTC)
