"""The Job controller, simulated (batch/v1), as of the server's version (`versions`).

Creates `<job>-xxxxx` pods (labels, ownerReferences, the job-tracking finalizer), counts each
finished pod once, replaces failed pods after an exponential back-off, and ends the Job with
the interim condition first (SuccessCriteriaMet / FailureTarget) and the terminal one
(Complete / Failed) once no pod is left running. Also: backoffLimit (under OnFailure the Job
fails when its containers' restarts reach it, as the real controller does),
activeDeadlineSeconds (it wins over backoffLimit), podFailurePolicy (onExitCodes), suspend,
and ttlSecondsAfterFinished.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from tests.fakes.kubernetes.pod_status import TERMINAL
from tests.fakes.kubernetes.store import Change, Obj
from tests.fakes.kubernetes.versions import (
    INTERIM_CONDITIONS,
    READY,
    REPLACEMENT_POLICY,
    TRACKING_FINALIZER,
    UNCOUNTED,
)

if TYPE_CHECKING:
    from tests.fakes.kubernetes.cluster import Cluster

TRACKING = "batch.kubernetes.io/job-tracking"
_BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
_DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
_COMPLETED = ("CompletionsReached", "Reached expected number of succeeded pods")


class JobController:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self._started: dict[str, float] = {}  # job uid -> when it started (or resumed)
        self._not_before: dict[str, float] = {}  # job uid -> earliest next pod (back-off)
        self._excused: set[str] = set()  # pods stopped by a suspension: not failures
        self._counted: set[str] = set()  # finished pods counted, where no finalizer says so
        self.server = cluster.admission.server
        self.tracking = self.server.has(TRACKING_FINALIZER)

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        if change.type == "DELETED" or meta.get("deletionTimestamp"):
            # A Job being deleted lets go of its pods: they must not wait on a tracker that is gone.
            for pod in self.cluster.dependents(meta["uid"], "pods"):
                if TRACKING in pod["metadata"].get("finalizers", []):
                    where = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                    self.cluster.soon(("untrack", *where), lambda where=where: self._untrack(where))
        if change.type == "DELETED":
            self._started.pop(meta["uid"], None)
            self._not_before.pop(meta["uid"], None)
            return
        spec_changed = change.old is None or change.old.get("spec") != change.obj.get("spec")
        if spec_changed:
            self.reconcile_soon(meta["namespace"], meta["name"])

    def _untrack(self, where: tuple[str, str]) -> None:
        if self.store.get("pods", *where) is not None:
            self.store.update("pods", *where, _drop_tracking)

    def reconcile_soon(self, namespace: str, name: str) -> None:
        self.cluster.soon(("jobs", namespace, name), lambda: self.reconcile(namespace, name))

    # -- the control loop --------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> None:
        job = self.store.get("jobs", namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        uid, spec = job["metadata"]["uid"], job["spec"]
        pods = self.cluster.dependents(uid, "pods")
        succeeded, failed, fail_reason = self._count(job, pods)
        status = job.get("status") or {}
        succeeded += status.get("succeeded", 0)
        failed += status.get("failed", 0)
        live = [p for p in pods if p["status"].get("phase") not in TERMINAL]
        active = [p for p in live if not p["metadata"].get("deletionTimestamp")]
        terminating = len(live) - len(active)
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        finishing = "FailureTarget" in conditions or "SuccessCriteriaMet" in conditions
        ending: tuple[str, str, str] | None = None
        if not finishing and not _finished(conditions):
            if spec.get("suspend"):
                self._started.pop(uid, None)  # activeDeadlineSeconds counts again on resume
                stop = active
            else:
                ending = self._ending(job, succeeded, failed, fail_reason, active)
                stop = active if ending is not None and ending[0] == "FailureTarget" else []
                if ending is None:
                    active += self._start_pods(job, succeeded, len(active))
            for pod in stop:
                self._delete_pod(job, pod, excused=bool(spec.get("suspend")))
            active = [pod for pod in active if pod not in stop]
            terminating += len(stop)
        self._write_status(job, succeeded, failed, active, terminating, ending)

    def _count(self, job: Obj, pods: list[Obj]) -> tuple[int, int, tuple[str, str] | None]:
        """Finished pods not yet counted (still holding the finalizer): count them, release them."""
        succeeded = failed = 0
        reason = None
        for pod in pods:
            meta = pod["metadata"]
            if pod["status"].get("phase") not in TERMINAL or self._was_counted(pod):
                continue
            if meta["uid"] in self._excused:
                self._excused.discard(meta["uid"])
            elif pod["status"]["phase"] == "Succeeded":
                succeeded += 1
            else:
                action, why = _pod_failure_policy(job, pod)
                failed += action != "Ignore"
                reason = reason or (why if action == "FailJob" else None)
            if self.tracking:
                self.store.update("pods", meta["namespace"], meta["name"], _drop_tracking)
            else:
                self._counted.add(meta["uid"])
        if failed:
            timing = self.cluster.timing
            total = failed + (job.get("status") or {}).get("failed", 0)
            delay = timing.backoff(timing.pod_backoff, timing.pod_backoff_cap, total)
            self._not_before[job["metadata"]["uid"]] = self.clock.now() + delay
        return succeeded, failed, reason

    def _was_counted(self, pod: Obj) -> bool:
        """Whether a finished pod is counted already. Before tracking finalizers (1.26) a pod
        deleted by someone before the controller saw it finish is never counted, only replaced."""
        meta = pod["metadata"]
        if self.tracking:
            return TRACKING not in meta.get("finalizers", [])
        return meta["uid"] in self._counted or bool(meta.get("deletionTimestamp"))

    def _ending(
        self,
        job: Obj,
        succeeded: int,
        failed: int,
        policy_reason: tuple[str, str] | None,
        active: list[Obj],
    ) -> tuple[str, str, str] | None:
        spec, uid = job["spec"], job["metadata"]["uid"]
        deadline = spec.get("activeDeadlineSeconds")
        started = self._started.get(uid)
        if deadline is not None and started is not None and self.clock.now() >= started + deadline:
            return ("FailureTarget", *_DEADLINE)
        if policy_reason is not None:
            return ("FailureTarget", *policy_reason)
        restarts = sum(
            s.get("restartCount", 0)
            for p in active
            for s in p["status"].get("containerStatuses") or []
        )
        # As pastBackoffLimitOnFailure: restarts in place reach the limit (pass 0 when it is 0).
        limit = spec.get("backoffLimit", 6)
        on_failure = spec["template"]["spec"].get("restartPolicy") == "OnFailure"
        if failed > limit or (on_failure and restarts >= max(limit, 1)):
            return ("FailureTarget", *_BACKOFF)
        completions = spec.get("completions")
        if completions is not None and succeeded >= completions:
            return ("SuccessCriteriaMet", *_COMPLETED)
        if completions is None and succeeded and not active:
            return ("SuccessCriteriaMet", *_COMPLETED)
        return None

    def _start_pods(self, job: Obj, succeeded: int, running: int) -> list[Obj]:
        spec, meta = job["spec"], job["metadata"]
        remaining = (spec.get("completions") or spec.get("parallelism", 1)) - succeeded
        wanted = min(spec.get("parallelism", 1), remaining) - running
        if wanted <= 0:
            return []
        not_before = self._not_before.get(meta["uid"], 0.0)
        if self.clock.now() < not_before:
            self.cluster.scheduler.at(
                not_before, lambda: self.reconcile(meta["namespace"], meta["name"])
            )
            return []
        if meta["uid"] not in self._started:
            self._started[meta["uid"]] = self.clock.now()
            self._arm_deadline(job)
        return [self._create_pod(job) for _ in range(wanted)]

    def _create_pod(self, job: Obj) -> Obj:
        meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
        pod_meta = template.get("metadata") or {}
        pod_meta.update(generateName=f"{meta['name']}-")
        if self.tracking:
            pod_meta["finalizers"] = [TRACKING]
        pod_meta["ownerReferences"] = [owner_reference(job)]
        pod = {"metadata": pod_meta, "spec": template["spec"]}
        created = self.cluster.create("pods", pod, meta["namespace"])
        self.cluster.recorder.record(
            job,
            "SuccessfulCreate",
            f"Created pod: {created['metadata']['name']}",
            component="job-controller",
        )
        return created

    def _delete_pod(self, job: Obj, pod: Obj, excused: bool = False) -> None:
        meta = pod["metadata"]
        if excused:
            self._excused.add(meta["uid"])
        self.cluster.delete("pods", meta["namespace"], meta["name"])
        self.cluster.recorder.record(
            job, "SuccessfulDelete", f"Deleted pod: {meta['name']}", component="job-controller"
        )

    def _arm_deadline(self, job: Obj) -> None:
        deadline = job["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            meta = job["metadata"]
            self.cluster.scheduler.after(
                deadline, lambda: self.reconcile_soon(meta["namespace"], meta["name"])
            )

    # -- status ------------------------------------------------------------------------------

    def _write_status(
        self,
        job: Obj,
        succeeded: int,
        failed: int,
        active: list[Obj],
        terminating: int,
        ending: tuple[str, str, str] | None,
    ) -> None:
        now, meta = self.clock.timestamp(), job["metadata"]
        counters = {"active": len(active), "succeeded": succeeded, "failed": failed}
        events: list[tuple[str, str, str]] = []

        def edit(job: Obj) -> None:
            status = job.setdefault("status", {})
            conditions = status.setdefault("conditions", [])
            suspended = job["spec"].get("suspend", False)
            _suspension(conditions, suspended, now, events)
            if suspended:
                status.pop("startTime", None)
            elif meta["uid"] in self._started and "startTime" not in status:
                status["startTime"] = self.clock.timestamp(self._started[meta["uid"]])
            if ending is not None and ending[0] == "FailureTarget":
                events.append((ending[1], ending[2], "Warning"))
            if ending is not None and self.server.has(INTERIM_CONDITIONS):
                conditions.append(_job_condition(*ending, now))
            elif ending is not None:  # before 1.31 the terminal condition comes at once
                final = _job_condition(_FINAL[ending[0]], ending[1], ending[2], now)
                self._finish(job, final, events)
            interim = next((c for c in conditions if c["type"] in _FINAL), None)
            if interim and not terminating and not active and not _finished_list(conditions):
                final = _job_condition(
                    _FINAL[interim["type"]], interim["reason"], interim["message"], now
                )
                self._finish(job, final, events)
            for name, value in counters.items():
                if value:
                    status[name] = value
                else:
                    status.pop(name, None)
            if self.server.has(READY):
                status["ready"] = sum(1 for pod in active if _ready(pod))
            if self.server.has(REPLACEMENT_POLICY):
                status["terminating"] = terminating
            if self.server.has(UNCOUNTED):
                status["uncountedTerminatedPods"] = {}
            if not conditions:
                del status["conditions"]

        self.store.update("jobs", meta["namespace"], meta["name"], edit)
        for reason, message, kind in events:
            self.cluster.recorder.record(
                job, reason, message, type=kind, component="job-controller"
            )

    def _finish(self, job: Obj, final: Obj, events: list[tuple[str, str, str]]) -> None:
        status = job["status"]
        status["conditions"].append(final)
        if final["type"] == "Complete":
            status["completionTime"] = final["lastTransitionTime"]
            events.append(("Completed", "Job completed", "Normal"))
        self._arm_ttl(job)

    def _arm_ttl(self, job: Obj) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        meta = job["metadata"]

        def expire() -> None:
            current = self.store.get("jobs", meta["namespace"], meta["name"])
            if current is not None and current["metadata"]["uid"] == meta["uid"]:
                self.cluster.delete("jobs", meta["namespace"], meta["name"], "Background")

        self.cluster.scheduler.after(ttl, expire)


_FINAL = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}


def _drop_tracking(pod: Obj) -> None:
    pod["metadata"]["finalizers"] = [
        f for f in pod["metadata"].get("finalizers", []) if f != TRACKING
    ]


def owner_reference(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _job_condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _finished(conditions: dict[str, Obj]) -> bool:
    return any(conditions.get(k, {}).get("status") == "True" for k in ("Complete", "Failed"))


def _finished_list(conditions: list[Obj]) -> bool:
    return _finished({c["type"]: c for c in conditions})


def _suspension(conditions: list[Obj], suspended: bool, now: str, events: list[Any]) -> None:
    found = next((c for c in conditions if c["type"] == "Suspended"), None)
    if suspended and (found is None or found["status"] != "True"):
        if found is not None:
            conditions.remove(found)
        conditions.append(_job_condition("Suspended", "JobSuspended", "Job suspended", now))
        events.append(("Suspended", "Job suspended", "Normal"))
    elif not suspended and found is not None and found["status"] == "True":
        found.update(status="False", reason="JobResumed", message="Job resumed")
        found.update(lastTransitionTime=now, lastProbeTime=now)
        events.append(("Resumed", "Job resumed", "Normal"))


def _ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod["status"].get("conditions") or []
    )


def _pod_failure_policy(job: Obj, pod: Obj) -> tuple[str, tuple[str, str] | None]:
    """The first matching rule's action for a failed pod ("Count" when none matches)."""
    rules = (job["spec"].get("podFailurePolicy") or {}).get("rules") or []
    statuses = pod["status"].get("containerStatuses") or []
    for index, rule in enumerate(rules):
        on_codes = rule.get("onExitCodes")
        if on_codes:
            for status in statuses:
                code = (status["state"].get("terminated") or {}).get("exitCode")
                if code in (None, 0) or on_codes.get("containerName") not in (None, status["name"]):
                    continue
                inside = code in on_codes.get("values", [])
                if inside == (on_codes.get("operator") == "In"):
                    message = (
                        f"Container {status['name']} for pod {pod['metadata']['namespace']}/"
                        f"{pod['metadata']['name']} failed with exit code {code} matching "
                        f"{rule['action']} rule at index {index}"
                    )
                    return rule["action"], ("PodFailurePolicy", message)
        for wanted in rule.get("onPodConditions") or []:
            for condition in pod["status"].get("conditions") or []:
                expected = (wanted["type"], wanted.get("status", "True"))
                if (condition["type"], condition["status"]) == expected:
                    message = (
                        f"Pod {pod['metadata']['namespace']}/{pod['metadata']['name']} has "
                        f"condition {wanted['type']} matching {rule['action']} rule at index "
                        f"{index}"
                    )
                    return rule["action"], ("PodFailurePolicy", message)
    return "Count", None
