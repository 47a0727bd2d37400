"""Kubeflow training-operator objects (kubeflow.org/v1 PyTorchJob, TFJob, MPIJob), simulated.

Admission: the operator's webhook rules (replica types, the `pytorch`/`tensorflow` container,
one Master/Chief/Launcher) and defaults (replicas 1, restartPolicy, cleanPodPolicy Running).
The operator: pods and headless services `<job>-<type>-<index>`, conditions Created → Running
→ Succeeded/Failed (Running turns False at the end), replicaStatuses, cleanPodPolicy,
runPolicy.backoffLimit / activeDeadlineSeconds / ttlSecondsAfterFinished.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fakes.kubernetes.status import Cause, Invalid
from tests.fakes.kubernetes.store import Change, Obj
from tests.fakes.kubernetes.validation import check_pod_spec

if TYPE_CHECKING:
    from tests.fakes.kubernetes.admission import Admission
    from tests.fakes.kubernetes.cluster import Cluster

LABEL = "training.kubeflow.org/"
_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")


@dataclass(frozen=True)
class Flavor:
    kind: str
    specs: str  # the spec key holding the replica specs
    types: tuple[str, ...]
    container: str | None  # the container the operator requires and configures
    port: int | None
    leaders: tuple[str, ...]  # a replica type whose success is the job's
    restart_policy: str


FLAVORS = {
    "pytorchjobs": Flavor(
        "PyTorchJob",
        "pytorchReplicaSpecs",
        ("Master", "Worker"),
        "pytorch",
        23456,
        ("Master",),
        "OnFailure",
    ),
    "tfjobs": Flavor(
        "TFJob",
        "tfReplicaSpecs",
        ("Chief", "Master", "PS", "Worker", "Evaluator"),
        "tensorflow",
        2222,
        ("Chief", "Master"),
        "Never",
    ),
    "mpijobs": Flavor(
        "MPIJob", "mpiReplicaSpecs", ("Launcher", "Worker"), None, None, ("Launcher",), "Never"
    ),
}
PLURALS = tuple(FLAVORS)
_BY_KIND = {flavor.kind: flavor for flavor in FLAVORS.values()}


def default(admission: Admission, obj: Obj, update: bool = False) -> None:
    flavor = _BY_KIND[obj["kind"]]
    spec = obj.setdefault("spec", {})
    for replica in (spec.get(flavor.specs) or {}).values():
        if isinstance(replica, dict):
            replica.setdefault("replicas", 1)
            replica.setdefault("restartPolicy", flavor.restart_policy)
    spec.setdefault("runPolicy", {}).setdefault("cleanPodPolicy", "Running")


def rules(obj: Obj, problems: Invalid) -> None:
    flavor = _BY_KIND[obj["kind"]]
    specs = (obj.get("spec") or {}).get(flavor.specs)
    path = f"spec.{flavor.specs}"
    if not isinstance(specs, dict) or not specs:
        problems.causes.append(Cause(path, "Required value", "FieldValueRequired"))
        return
    for kind, replica in specs.items():
        where = f"{path}[{kind}]"
        if kind not in flavor.types:
            supported = ", ".join(f'"{t}"' for t in flavor.types)
            problems.causes.append(
                Cause(
                    path,
                    f'Unsupported value: "{kind}": supported values: {supported}',
                    "FieldValueNotSupported",
                )
            )
            continue
        if kind in flavor.leaders and replica.get("replicas", 1) != 1:
            problems.causes.append(
                Cause(f"{where}.replicas", "Forbidden: must be 1", "FieldValueForbidden")
            )
        if replica.get("restartPolicy", flavor.restart_policy) not in _POLICIES:
            problems.causes.append(
                Cause(
                    f"{where}.restartPolicy",
                    f'Unsupported value: "{replica.get("restartPolicy")}": supported values: '
                    + ", ".join(f'"{p}"' for p in _POLICIES),
                    "FieldValueNotSupported",
                )
            )
        pod_spec = (replica.get("template") or {}).get("spec") or {}
        check_pod_spec(pod_spec, f"{where}.template.spec", problems, _POLICIES)
        names = [c.get("name") for c in pod_spec.get("containers") or []]
        if flavor.container and pod_spec.get("containers") and flavor.container not in names:
            problems.causes.append(
                Cause(
                    f"{where}.template.spec.containers",
                    f'Required value: must have a container named "{flavor.container}"',
                    "FieldValueRequired",
                )
            )


class TrainingOperator:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self._started: dict[str, float] = {}

    def on_change(self, change: Change) -> None:
        if change.type == "DELETED":
            self._started.pop(change.obj["metadata"]["uid"], None)
        elif change.old is None or change.old.get("spec") != change.obj.get("spec"):
            meta = change.obj["metadata"]
            self.reconcile_soon(change.resource.plural, meta["namespace"], meta["name"])

    def reconcile_soon(self, plural: str, namespace: str, name: str) -> None:
        self.cluster.soon(
            (plural, namespace, name), lambda: self.reconcile(plural, namespace, name)
        )

    def reconcile(self, plural: str, namespace: str, name: str) -> None:
        job = self.store.get(plural, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        flavor, uid = FLAVORS[plural], job["metadata"]["uid"]
        conditions = (job.get("status") or {}).get("conditions") or []
        if any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True" for c in conditions):
            return
        if uid not in self._started:
            self._started[uid] = self.clock.now()
            deadline = job["spec"]["runPolicy"].get("activeDeadlineSeconds")
            if deadline is not None:
                self.cluster.scheduler.after(
                    deadline, lambda: self.reconcile_soon(plural, namespace, name)
                )
        pods = {p["metadata"]["name"]: p for p in self.cluster.dependents(uid, "pods")}
        expected = list(_replicas(job, flavor))
        for kind, index in expected:
            pod_name = f"{name}-{kind.lower()}-{index}"
            if pod_name not in pods and self.store.get("pods", namespace, pod_name) is None:
                pods[pod_name] = self._create(job, flavor, kind, index, pod_name)
        state, message = self._verdict(job, flavor, pods, expected)
        self._write_status(job, flavor, pods, state, message)
        if state in ("Succeeded", "Failed"):
            self._clean(job, pods)

    def _verdict(
        self, job: Obj, flavor: Flavor, pods: dict[str, Obj], expected: list[tuple[str, int]]
    ) -> tuple[str, str]:
        name, kind = job["metadata"]["name"], flavor.kind
        by_type: dict[str, list[Obj]] = {}
        for pod in pods.values():
            replica = pod["metadata"]["labels"][LABEL + "replica-type"]
            by_type.setdefault(replica, []).append(pod)
        run_policy = job["spec"]["runPolicy"]
        deadline = run_policy.get("activeDeadlineSeconds")
        if (
            deadline is not None
            and self.clock.now() >= self._started[job["metadata"]["uid"]] + deadline
        ):
            return (
                "Failed",
                f"{kind} {name} has failed because it has reached the specified active deadline",
            )
        restarts = sum(
            s.get("restartCount", 0)
            for p in pods.values()
            for s in p["status"].get("containerStatuses") or []
        )
        if run_policy.get("backoffLimit") is not None and restarts > run_policy["backoffLimit"]:
            return (
                "Failed",
                f"{kind} {name} has failed because it has reached the specified backoff limit",
            )
        for replica in sorted({k for k, _ in expected}):
            failed = [
                p for p in by_type.get(replica.lower(), []) if p["status"].get("phase") == "Failed"
            ]
            if failed:
                return (
                    "Failed",
                    f"{kind} {name} is failed because {len(failed)} {replica} replica(s) failed.",
                )
        leaders = [k for k in flavor.leaders if any(e[0] == k for e in expected)]
        deciding = leaders[:1] or ["Worker"]
        decided = [p for k in deciding for p in by_type.get(k.lower(), [])]
        wanted = sum(1 for e in expected if e[0] in deciding)
        done = [p for p in decided if p["status"].get("phase") == "Succeeded"]
        if wanted and len(done) >= wanted:
            return "Succeeded", f"{kind} {name} is successfully completed."
        if any(p["status"].get("phase") == "Running" for p in pods.values()):
            return "Running", f"{kind} {name} is running."
        return "Created", f"{kind} {name} is created."

    def _create(self, job: Obj, flavor: Flavor, kind: str, index: int, pod_name: str) -> Obj:
        meta = job["metadata"]
        replica = job["spec"][flavor.specs][kind]
        template = copy.deepcopy(replica.get("template") or {})
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            LABEL + "job-name": meta["name"],
            LABEL + "operator-name": f"{flavor.kind.lower()}-controller",
            LABEL + "replica-type": kind.lower(),
            LABEL + "replica-index": str(index),
        }
        if kind in flavor.leaders:
            labels[LABEL + "job-role"] = "master"
        spec = template.get("spec") or {}
        policy = replica.get("restartPolicy", flavor.restart_policy)
        spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        for container in spec.get("containers") or []:
            if container.get("name") == flavor.container:
                container.setdefault("env", []).extend(_env(job, flavor, kind, index))
        owner = {
            "apiVersion": job["apiVersion"],
            "kind": job["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        pod_meta = {**(template.get("metadata") or {}), "name": pod_name, "labels": labels}
        pod_meta["ownerReferences"] = [owner]
        pod = self.cluster.create("pods", {"metadata": pod_meta, "spec": spec}, meta["namespace"])
        if flavor.port and self.store.get("services", meta["namespace"], pod_name) is None:
            port = {"name": f"{flavor.kind.lower()}-port", "port": flavor.port}
            service = {
                "metadata": {"name": pod_name, "labels": labels, "ownerReferences": [owner]},
                "spec": {"clusterIP": "None", "selector": labels, "ports": [port]},
            }
            self.cluster.create("services", service, meta["namespace"])
        self.cluster.recorder.record(
            job,
            "SuccessfulCreatePod",
            f"Created pod: {pod_name}",
            component=f"{flavor.kind.lower()}-controller",
        )
        return pod

    def _write_status(
        self, job: Obj, flavor: Flavor, pods: dict[str, Obj], state: str, message: str
    ) -> None:
        now, meta = self.clock.timestamp(), job["metadata"]
        replica_statuses: dict[str, Any] = {}
        for kind in job["spec"][flavor.specs]:
            counts = {"active": 0, "succeeded": 0, "failed": 0}
            for pod in pods.values():
                if pod["metadata"]["labels"][LABEL + "replica-type"] == kind.lower():
                    phase = pod["status"].get("phase")
                    key = {"Running": "active", "Succeeded": "succeeded", "Failed": "failed"}
                    if phase in key:
                        counts[key[phase]] += 1
            replica_statuses[kind] = {k: v for k, v in counts.items() if v}

        def edit(job: Obj) -> None:
            status = job.setdefault("status", {})
            conditions = status.setdefault("conditions", [])
            _condition(
                conditions, "Created", flavor.kind, f"{flavor.kind} {meta['name']} is created.", now
            )
            if state != "Created":
                _condition(conditions, state, flavor.kind, message, now)
            if state in ("Succeeded", "Failed"):
                for condition in conditions:
                    if condition["type"] == "Running" and condition["status"] == "True":
                        condition.update(status="False", lastUpdateTime=now, lastTransitionTime=now)
                status["completionTime"] = now
            status["replicaStatuses"] = replica_statuses
            status.setdefault("startTime", self.clock.timestamp(self._started[meta["uid"]]))

        self.store.update(FLAVOR_PLURAL[flavor.kind], meta["namespace"], meta["name"], edit)
        if state in ("Succeeded", "Failed"):
            self.cluster.recorder.record(
                job,
                f"{flavor.kind}{state}",
                message,
                type="Normal" if state == "Succeeded" else "Warning",
                component=f"{flavor.kind.lower()}-controller",
            )

    def _clean(self, job: Obj, pods: dict[str, Obj]) -> None:
        run_policy, meta = job["spec"]["runPolicy"], job["metadata"]
        policy = run_policy.get("cleanPodPolicy", "Running")
        for pod in pods.values():
            running = pod["status"].get("phase") not in ("Succeeded", "Failed")
            if policy == "All" or (policy == "Running" and running):
                self.cluster.delete("pods", meta["namespace"], pod["metadata"]["name"])
        ttl = run_policy.get("ttlSecondsAfterFinished")
        if ttl is not None:
            plural = FLAVOR_PLURAL[job["kind"]]

            def expire() -> None:
                current = self.store.get(plural, meta["namespace"], meta["name"])
                if current is not None and current["metadata"]["uid"] == meta["uid"]:
                    self.cluster.delete(plural, meta["namespace"], meta["name"], "Background")

            self.cluster.scheduler.after(ttl, expire)


FLAVOR_PLURAL = {flavor.kind: plural for plural, flavor in FLAVORS.items()}


def _replicas(job: Obj, flavor: Flavor) -> list[tuple[str, int]]:
    specs = job["spec"][flavor.specs]
    order = sorted(specs, key=lambda k: (k not in flavor.leaders, flavor.types.index(k)))
    return [(kind, index) for kind in order for index in range(specs[kind].get("replicas", 1))]


def _env(job: Obj, flavor: Flavor, kind: str, index: int) -> list[Obj]:
    name, specs = job["metadata"]["name"], job["spec"][flavor.specs]
    if flavor.kind == "PyTorchJob":
        world = sum(spec.get("replicas", 1) for spec in specs.values())
        rank = index if kind == "Master" else index + ("Master" in specs)
        values = {
            "MASTER_PORT": str(flavor.port),
            "MASTER_ADDR": f"{name}-master-0",
            "WORLD_SIZE": str(world),
            "RANK": str(rank),
            "PYTHONUNBUFFERED": "1",
        }
        return [{"name": k, "value": v} for k, v in values.items()]
    if flavor.kind == "TFJob":
        cluster = {
            t.lower(): [
                f"{name}-{t.lower()}-{i}.{job['metadata']['namespace']}.svc:{flavor.port}"
                for i in range(s.get("replicas", 1))
            ]
            for t, s in specs.items()
        }
        config = {"cluster": cluster, "task": {"type": kind.lower(), "index": index}}
        return [{"name": "TF_CONFIG", "value": json.dumps(config)}]
    return []


def _condition(conditions: list[Obj], kind: str, prefix: str, message: str, now: str) -> None:
    if any(c["type"] == kind and c["status"] == "True" for c in conditions):
        return
    conditions[:] = [c for c in conditions if c["type"] != kind]
    conditions.append(
        {
            "type": kind,
            "status": "True",
            "reason": f"{prefix}{kind}",
            "message": message,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
        }
    )
