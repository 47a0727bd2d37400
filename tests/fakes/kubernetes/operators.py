"""The Spark, Dask and Ray operators, simulated: their objects' pods and status as they write them.

Admission: each object is checked against `operator_crds.json` (the fields Axon writes, after
each operator's CRD), and its pod templates as pods are. The operators:

- SparkApplication: `SUBMITTED` with the driver pod `<app>-driver` (`spark-role=driver`,
  container `spark-kubernetes-driver`); `RUNNING` with executors `<app>-exec-<n>` once the
  driver runs; `COMPLETED` or `FAILED` (errorMessage from the driver's exit) when it ends, the
  executors deleted. Reruns (`restartPolicy: OnFailure`) are not simulated.
- DaskCluster: scheduler pod and Service, `default` worker group pods; phase Created → Pending →
  Running once the scheduler runs. DaskJob: jobStatus JobCreated, its DaskCluster
  (ClusterCreated), then the job runner pod `<job>-runner` (`dask.org/component=job-runner`)
  once the scheduler runs; Running, then Successful or Failed with endTime, the cluster deleted.
- RayCluster: head pod `<cluster>-head` (`ray.io/node-type=head`) and worker pods; state `ready`
  once all run. RayJob: jobDeploymentStatus Initializing with its RayCluster, Running with
  jobStatus PENDING then RUNNING as the submitter pod `<job>-submitter` starts (a plain pod of
  the operator's, without the run's labels), then Complete / SUCCEEDED or Failed / FAILED
  (reason `AppFailed`) as it ends. The cluster stays (`shutdownAfterJobFinishes: false`).

Every pod is owned by the object that made it, so deleting the object takes them along.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from tests.fakes.kubernetes.status import Cause, Invalid
from tests.fakes.kubernetes.store import Change, Obj
from tests.fakes.kubernetes.validation import check_pod_spec

if TYPE_CHECKING:
    from tests.fakes.kubernetes.admission import Admission
    from tests.fakes.kubernetes.cluster import Cluster

SCHEMA = Path(__file__).with_name("operator_crds.json")
PLURALS = ("sparkapplications", "daskjobs", "daskclusters", "rayjobs", "rayclusters")
PLURAL_OF = {
    "SparkApplication": "sparkapplications",
    "DaskJob": "daskjobs",
    "DaskCluster": "daskclusters",
    "RayJob": "rayjobs",
    "RayCluster": "rayclusters",
}
_POLICIES = ("Always", "OnFailure", "Never")
_TIMES = ("startTime", "endTime", "terminationTime")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def default(admission: Admission, obj: Obj, update: bool = False) -> None:
    pass


def rules(obj: Obj, problems: Invalid) -> None:
    """The CRD's schema, then each pod template as the pod it becomes."""
    for error in sorted(_validator().iter_errors(obj), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.path)
        problems.causes.append(Cause(path, f"Invalid value: {error.message}"))
    if problems.causes:
        return
    for where, pod_spec in _pod_specs(obj):
        check_pod_spec(pod_spec, where, problems, _POLICIES)


def _pod_specs(obj: Obj) -> list[tuple[str, Obj]]:
    spec = obj.get("spec") or {}
    found: list[tuple[str, Obj]] = []
    if obj["kind"] in ("DaskJob", "DaskCluster"):
        cluster = spec["cluster"]["spec"] if obj["kind"] == "DaskJob" else spec
        if obj["kind"] == "DaskJob":
            found.append(("spec.job.spec", spec["job"]["spec"]))
        found.append(("spec.scheduler.spec", cluster["scheduler"]["spec"]))
        found.append(("spec.worker.spec", cluster["worker"]["spec"]))
    elif obj["kind"] in ("RayJob", "RayCluster"):
        cluster = spec.get("rayClusterSpec") or {} if obj["kind"] == "RayJob" else spec
        if cluster:
            found.append(
                ("headGroupSpec.template.spec", cluster["headGroupSpec"]["template"]["spec"])
            )
            for index, group in enumerate(cluster.get("workerGroupSpecs") or ()):
                found.append(
                    (f"workerGroupSpecs[{index}].template.spec", group["template"]["spec"])
                )
    return found


class Operators:
    """The three operators' controllers, reconciling on any change of their objects or pods."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self._reconcilers: dict[str, Callable[[Obj], None]] = {
            "sparkapplications": self._spark,
            "daskjobs": self._dask_job,
            "daskclusters": self._dask_cluster,
            "rayjobs": self._ray_job,
            "rayclusters": self._ray_cluster,
        }

    def on_change(self, change: Change) -> None:
        if change.type == "DELETED":
            return
        meta = change.obj["metadata"]
        self.reconcile_soon(change.resource.plural, meta["namespace"], meta["name"])

    def reconcile_soon(self, plural: str, namespace: str, name: str) -> None:
        self.cluster.soon(
            ("operator", plural, namespace, name), lambda: self.reconcile(plural, namespace, name)
        )

    def reconcile(self, plural: str, namespace: str, name: str) -> None:
        obj = self.store.get(plural, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        self._reconcilers[plural](obj)

    # -- Spark -------------------------------------------------------------------------------

    def _spark(self, app: Obj) -> None:
        state = ((app.get("status") or {}).get("applicationState") or {}).get("state")
        if state in ("COMPLETED", "FAILED"):
            return
        spec, name = app["spec"], app["metadata"]["name"]
        driver_name = f"{name}-driver"
        driver = self._pod(driver_name, app) or self._make_pod(
            app, driver_name, "spark-kubernetes-driver", spec.get("driver") or {},
            {"spark-role": "driver", "sparkoperator.k8s.io/app-name": name},
        )  # fmt: skip
        phase = _phase(driver)
        if phase == "Running":
            executor = spec.get("executor") or {}
            for index in range(1, int(executor.get("instances") or 1) + 1):
                pod_name = f"{name}-exec-{index}"
                if self._pod(pod_name, app) is None:
                    labels = {"spark-role": "executor", "sparkoperator.k8s.io/app-name": name}
                    self._make_pod(app, pod_name, "spark-kubernetes-executor", executor, labels)
        status: Obj = {"sparkApplicationId": f"spark-{app['metadata']['uid'][:8]}"}
        if phase in ("Succeeded", "Failed"):
            self._delete_pods(
                app, lambda p: p["metadata"]["labels"].get("spark-role") == "executor"
            )
            error = "" if phase == "Succeeded" else _exit_message(driver, "driver container")
            new = "COMPLETED" if phase == "Succeeded" else "FAILED"
            status["applicationState"] = {"state": new, "errorMessage": error}
            status["terminationTime"] = self.clock.timestamp()
        else:
            status["applicationState"] = {"state": "RUNNING" if phase == "Running" else "SUBMITTED"}
        self._write(app, status)

    # -- Dask --------------------------------------------------------------------------------

    def _dask_cluster(self, cluster: Obj) -> None:
        spec, name = cluster["spec"], cluster["metadata"]["name"]
        base = {"dask.org/cluster-name": name}
        scheduler_name = f"{name}-scheduler"
        scheduler = self._pod(scheduler_name, cluster) or self._make_pod(
            cluster, scheduler_name, None, spec["scheduler"],
            {**base, "dask.org/component": "scheduler"},
        )  # fmt: skip
        namespace = cluster["metadata"]["namespace"]
        if self.store.get("services", namespace, scheduler_name) is None:
            service = {
                "metadata": {
                    "name": scheduler_name,
                    "labels": base,
                    "ownerReferences": [_owner(cluster)],
                },
                "spec": copy.deepcopy(spec["scheduler"]["service"]),
            }
            self.cluster.create("services", service, namespace)
        worker = spec["worker"]
        for index in range(int(worker.get("replicas") or 0)):
            pod_name = f"{name}-default-worker-{index}"
            if self._pod(pod_name, cluster) is None:
                labels = {
                    **base,
                    "dask.org/component": "worker",
                    "dask.org/workergroup-name": "default",
                }
                self._make_pod(cluster, pod_name, None, worker, labels)
        phase = "Running" if _phase(scheduler) == "Running" else "Pending"
        self._write(cluster, {"phase": phase})

    def _dask_job(self, job: Obj) -> None:
        status = job.get("status") or {}
        if status.get("jobStatus") in ("Successful", "Failed"):
            return
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        cluster = self.store.get("daskclusters", namespace, name)
        if cluster is None:
            body = {
                "apiVersion": "kubernetes.dask.org/v1",
                "kind": "DaskCluster",
                "metadata": {"name": name, "ownerReferences": [_owner(job)]},
                "spec": copy.deepcopy(job["spec"]["cluster"]["spec"]),
            }
            self.cluster.create("daskclusters", body, namespace)
            self._write(job, {"jobStatus": "JobCreated", "clusterName": name})
            return
        runner_name = f"{name}-runner"
        runner = self._pod(runner_name, job)
        if runner is None:
            if (cluster.get("status") or {}).get("phase") != "Running":
                self._write(job, {"jobStatus": "ClusterCreated"})
                return
            labels = {"dask.org/cluster-name": name, "dask.org/component": "job-runner"}
            runner = self._make_pod(job, runner_name, None, job["spec"]["job"], labels)
        phase = _phase(runner)
        if phase in ("Succeeded", "Failed"):
            self.cluster.delete("daskclusters", namespace, name, "Background")
            done = "Successful" if phase == "Succeeded" else "Failed"
            self._write(job, {"jobStatus": done, "endTime": self.clock.timestamp()})
        elif phase == "Running":
            self._write(job, {"jobStatus": "Running", "startTime": self.clock.timestamp()})

    # -- Ray ---------------------------------------------------------------------------------

    def _ray_cluster(self, cluster: Obj) -> None:
        spec, name = cluster["spec"], cluster["metadata"]["name"]
        base = {"ray.io/cluster": name}
        head = spec["headGroupSpec"]
        pods = [
            self._pod(f"{name}-head", cluster)
            or self._make_pod(
                cluster, f"{name}-head", None, head["template"],
                {**base, "ray.io/node-type": "head", "ray.io/group": "headgroup"},
            )
        ]  # fmt: skip
        for group in spec.get("workerGroupSpecs") or ():
            for index in range(int(group.get("replicas") or 0)):
                pod_name = f"{name}-{group['groupName']}-worker-{index}"
                labels = {**base, "ray.io/node-type": "worker", "ray.io/group": group["groupName"]}
                pods.append(
                    self._pod(pod_name, cluster)
                    or self._make_pod(cluster, pod_name, None, group["template"], labels)
                )
        ready = all(_phase(p) == "Running" for p in pods)
        self._write(cluster, {"state": "ready"} if ready else {})

    def _ray_job(self, job: Obj) -> None:
        status = job.get("status") or {}
        if status.get("jobDeploymentStatus") in ("Complete", "Failed"):
            return
        name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
        cluster_name = f"{name}-raycluster"
        cluster = self.store.get("rayclusters", namespace, cluster_name)
        if cluster is None:
            body = {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "metadata": {"name": cluster_name, "ownerReferences": [_owner(job)]},
                "spec": copy.deepcopy(job["spec"]["rayClusterSpec"]),
            }
            self.cluster.create("rayclusters", body, namespace)
            self._write(
                job, {"jobDeploymentStatus": "Initializing", "rayClusterName": cluster_name}
            )
            return
        if (cluster.get("status") or {}).get("state") != "ready":
            return
        submitter = self._pod(f"{name}-submitter", job)
        if submitter is None:
            template = {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "ray-job-submitter", "image": "rayproject/ray"}],
                }
            }
            labels = {"ray.io/originated-from-cr-name": name}
            submitter = self._make_pod(job, f"{name}-submitter", None, template, labels, own=False)
        phase = _phase(submitter)
        if phase == "Succeeded":
            end = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}
            self._write(job, {**end, "endTime": self.clock.timestamp()})
        elif phase == "Failed":
            failed = {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed"}
            message = _exit_message(submitter, "the entrypoint")
            self._write(job, {**failed, "message": message, "endTime": self.clock.timestamp()})
        else:
            job_status = "RUNNING" if phase == "Running" else "PENDING"
            self._write(job, {"jobDeploymentStatus": "Running", "jobStatus": job_status})

    # -- shared ------------------------------------------------------------------------------

    def _pod(self, name: str, owner: Obj) -> Obj | None:
        pod = self.store.get("pods", owner["metadata"]["namespace"], name)
        refs = (pod or {}).get("metadata", {}).get("ownerReferences") or []
        return pod if any(r["uid"] == owner["metadata"]["uid"] for r in refs) else None

    def _make_pod(
        self,
        owner: Obj,
        name: str,
        container: str | None,
        template: Obj,
        labels: dict[str, str],
        own: bool = True,
    ) -> Obj:
        """A pod from a pod template (`metadata`, `spec`) or a SparkPodSpec (`container` named)."""
        if container is not None:  # Spark: the operator writes the pod from a few fields
            image = template.get("image") or owner["spec"]["image"]
            main = {"name": container, "image": image, "env": template.get("env") or []}
            spec: Obj = {"restartPolicy": "Never", "containers": [main]}
            meta_labels = dict(template.get("labels") or {})
            annotations = dict(template.get("annotations") or {})
        else:
            spec = copy.deepcopy(template.get("spec") or {})
            given = template.get("metadata") or {}
            meta_labels = dict(given.get("labels") or {})
            annotations = dict(given.get("annotations") or {})
        meta = {
            "name": name,
            "labels": {**(meta_labels if own else {}), **labels},
            "annotations": annotations if own else {},
            "ownerReferences": [_owner(owner)],
        }
        pod = self.cluster.create(
            "pods", {"metadata": meta, "spec": spec}, owner["metadata"]["namespace"]
        )
        self.cluster.recorder.record(owner, "Created", f"Created pod: {name}", component="operator")
        return pod

    def _delete_pods(self, owner: Obj, which: Callable[[Obj], bool]) -> None:
        for pod in self.cluster.dependents(owner["metadata"]["uid"], "pods"):
            if which(pod) and not pod["metadata"].get("deletionTimestamp"):
                self.cluster.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _write(self, obj: Obj, fields: dict[str, Any]) -> None:
        """Merge `fields` into the object's status, writing only when something changes; a
        time already written stays."""
        current = obj.get("status") or {}
        times = {k: v for k, v in fields.items() if k in _TIMES and not current.get(k)}
        changed = {k: v for k, v in fields.items() if k not in _TIMES and current.get(k) != v}
        if not times and not changed:
            return
        meta = obj["metadata"]

        def edit(found: Obj) -> None:
            found.setdefault("status", {}).update({**changed, **times})

        self.store.update(PLURAL_OF[obj["kind"]], meta["namespace"], meta["name"], edit)


def _owner(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _exit_message(pod: Obj, what: str) -> str:
    for container in (pod.get("status") or {}).get("containerStatuses") or ():
        ended = (container.get("state") or {}).get("terminated") or {}
        if ended:
            code, reason = ended.get("exitCode"), ended.get("reason")
            return f"{what} failed with ExitCode: {code}, Reason: {reason}"
    return f"{what} failed"
