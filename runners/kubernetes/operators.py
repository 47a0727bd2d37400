"""Spark, Dask and Ray runs as their operators' objects: pure functions from a run to a body.

`spark` → sparkoperator.k8s.io/v1beta2 SparkApplication (`operators_spark`): the driver's
image, `type`, `mainApplicationFile`, `mainClass`, `arguments`, Spark and Hadoop conf; the
driver's and the executors' resources become cores, coreLimit and memory (`1Gi` → `1g`);
maxRetries becomes `restartPolicy: OnFailure` with that many retries. `daskjob` →
kubernetes.dask.org/v1 DaskJob: the job runner pod (container `job`) and its cluster's
scheduler (with the Service the operator requires) and workers, their images the job's unless
given. `daskcluster` → DaskCluster, the scheduler and workers alone. `rayjob` → ray.io/v1
RayJob: `entrypoint` (else the head's command) submitted to a cluster made of the head
(`ray-head`) and the worker groups (`ray-worker`), kept after the job ends
(`shutdownAfterJobFinishes: false`) so that the head's log stays until Axon has recorded it
(`cleanup`). `raycluster` → RayCluster. Every pod template carries the run's labels, so its
pods are found as a Job's are.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

import yaml

from runners.base import RunSpec
from runners.kubernetes.operators_kinds import OPERATORS, Operator
from runners.kubernetes.operators_spark import spark_application
from runners.kubernetes.pods import ManifestError, PodOptions, PodPlan, main_container, pod_template
from runners.kubernetes.queues import Queue

Obj = dict[str, Any]
KEEP = "axon.dev/ttl-seconds"  # cleanup.KEEP, which imports what imports this
DASK_PORTS = (("tcp-comm", 8786), ("http-dashboard", 8787))


class Parts:
    """What every object of a run shares: its metadata, labels and annotations, and limits."""

    def __init__(
        self,
        spec: RunSpec,
        queue: Queue,
        options: PodOptions,
        metadata: Obj,
        termination: Mapping[str, int | None],
    ) -> None:
        self.spec, self.queue, self.options = spec, queue, options
        self.metadata, self.termination = metadata, termination
        self.labels: Mapping[str, str] = metadata["labels"]
        self.annotations: Mapping[str, str] = metadata["annotations"]

    def template(
        self,
        section: Mapping[str, Any],
        name: str,
        where: str,
        argv: list[str] | None,
        completes: bool = True,
        image: str = "",
    ) -> Obj:
        """A pod template for one replica: the main container `name`, the run's labels."""
        container = section.get("container") or {}
        main = main_container(container, name, image or self.spec.image, argv, self.spec.env, where)
        plan = PodPlan(
            section,
            main,
            where,
            git=self.spec.git,
            restart_policies=("Never", "OnFailure", "Always"),
            default_restart="Never" if completes else None,
            native_sidecars=completes,
        )
        return pod_template(plan, self.queue, self.options, self.labels, self.annotations)


def compile_operator(
    spec: RunSpec,
    run: Mapping[str, Any],
    queue: Queue,
    options: PodOptions,
    metadata: Obj,
    termination: Mapping[str, int | None],
) -> tuple[str, Obj]:
    """The plural and body of the object that runs `run` (its `kind` one of OPERATORS)."""
    kind = str(run["kind"])
    operator = OPERATORS[kind]
    parts = Parts(spec, queue, options, metadata, termination)
    builders = {
        "spark": spark_application,
        "daskjob": _dask_job,
        "daskcluster": _dask_cluster,
        "rayjob": _ray_job,
        "raycluster": _ray_cluster,
    }
    body: Obj = {
        "apiVersion": operator.api_version,
        "kind": operator.kind,
        "metadata": metadata,
        "spec": builders[kind](run, parts, operator),
    }
    ttl = termination.get("ttlSecondsAfterFinished")
    # Kept as `cleanup` keeps every run's: an annotation read once the run's end is recorded.
    if ttl is not None:
        metadata.setdefault("annotations", {})[KEEP] = str(int(ttl))
    return operator.plural, body


def unsupported(component: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, reason) for each field of a compiled component its operator cannot carry out."""
    run = component.get("run") or {}
    kind = run.get("kind")
    found: list[tuple[str, str]] = []
    if kind == "spark" and (component.get("termination") or {}).get("timeout"):
        found.append(("termination.timeout", "the Spark operator gives an application no deadline"))
    if kind == "daskcluster" and run.get("job"):
        found.append(("run.job", "a daskcluster runs no job of its own; use kind: daskjob"))
    if kind == "raycluster" and run.get("entrypoint"):
        found.append(("run.entrypoint", "a raycluster runs no entrypoint; use kind: rayjob"))
    return found


# -- Dask ------------------------------------------------------------------------------------


def _dask_job(run: Mapping[str, Any], parts: Parts, operator: Operator) -> Obj:
    job = run.get("job") or {}
    template = parts.template(job, "job", "run.job", parts.spec.command)
    deadline = parts.termination.get("activeDeadlineSeconds")
    if deadline:
        template["spec"]["activeDeadlineSeconds"] = deadline
    image = template["spec"]["containers"][0]["image"]
    name = str(parts.metadata["name"])
    return {
        "job": template,
        "cluster": {"spec": _dask_cluster_spec(run, parts, name, image)},
    }


def _dask_cluster(run: Mapping[str, Any], parts: Parts, operator: Operator) -> Obj:
    if run.get("job"):
        raise ManifestError("run.job: a daskcluster runs no job of its own; use kind: daskjob")
    primary = run.get("scheduler") or run.get("worker") or {}
    image = (primary.get("container") or {}).get("image") or parts.spec.image
    return _dask_cluster_spec(run, parts, str(parts.metadata["name"]), image)


def _dask_cluster_spec(run: Mapping[str, Any], parts: Parts, name: str, image: str) -> Obj:
    scheduler = _dask_pod(run.get("scheduler"), parts, "scheduler", image, ["dask", "scheduler"])
    scheduler["spec"]["containers"][0]["ports"] = [
        {"name": port_name, "containerPort": port, "protocol": "TCP"}
        for port_name, port in DASK_PORTS
    ]
    worker_args = ["dask", "worker", "--name", "$(DASK_WORKER_NAME)"]
    worker = _dask_pod(run.get("worker"), parts, "worker", image, worker_args)
    selector = {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
    scheduler["service"] = {
        "type": "ClusterIP",
        "selector": selector,
        "ports": [
            {"name": port_name, "protocol": "TCP", "port": port, "targetPort": port_name}
            for port_name, port in DASK_PORTS
        ],
    }
    worker["replicas"] = int((run.get("worker") or {}).get("replicas") or 1)
    return {"scheduler": scheduler, "worker": worker}


def _dask_pod(
    section: Mapping[str, Any] | None, parts: Parts, name: str, image: str, default: list[str]
) -> Obj:
    """A scheduler or the workers: the spec's container, or the image's dask command."""
    section = dict(section or {})
    container = dict(section.get("container") or {})
    container.setdefault("image", image)
    written = container.get("command") or container.get("args")
    section["container"] = container
    argv = None if written else default
    return parts.template(section, name, f"run.{name}", argv, completes=False)


# -- Ray -------------------------------------------------------------------------------------


def _ray_job(run: Mapping[str, Any], parts: Parts, operator: Operator) -> Obj:
    entrypoint = str(run.get("entrypoint") or shlex.join(parts.spec.command))
    if not entrypoint:
        raise ManifestError("run.entrypoint: required (or a command in run.head.container)")
    out: Obj = {
        "entrypoint": entrypoint,
        "shutdownAfterJobFinishes": False,
        "rayClusterSpec": _ray_cluster_spec(run, parts, head_argv=[]),
    }
    if run.get("runtimeEnv"):
        out["runtimeEnvYAML"] = yaml.safe_dump(run["runtimeEnv"], sort_keys=True)
    if run.get("metadata"):
        out["metadata"] = {str(k): str(v) for k, v in run["metadata"].items()}
    deadline = parts.termination.get("activeDeadlineSeconds")
    if deadline:
        out["activeDeadlineSeconds"] = deadline
    retries = int(parts.termination.get("backoffLimit") or 0)
    if retries:
        out["backoffLimit"] = retries
    return out


def _ray_cluster(run: Mapping[str, Any], parts: Parts, operator: Operator) -> Obj:
    if run.get("entrypoint"):
        raise ManifestError(
            "run.entrypoint: a raycluster runs no entrypoint of its own; use kind: rayjob"
        )
    return _ray_cluster_spec(run, parts, head_argv=parts.spec.command)


def _ray_cluster_spec(run: Mapping[str, Any], parts: Parts, head_argv: list[str]) -> Obj:
    head = run.get("head") or {}
    template = parts.template(head, "ray-head", "run.head", head_argv, completes=False)
    out: Obj = {
        "headGroupSpec": {
            "rayStartParams": dict(head.get("rayStartParams") or {}),
            "template": template,
        },
    }
    if run.get("rayVersion"):
        out["rayVersion"] = str(run["rayVersion"])
    image = template["spec"]["containers"][0]["image"]
    groups = []
    for group, worker in sorted((run.get("workers") or {}).items()):
        worker = dict(worker)
        container = dict(worker.get("container") or {})
        container.setdefault("image", image)
        worker["container"] = container
        where = f"run.workers.{group}"
        replicas = int(worker["replicas"] if worker.get("replicas") is not None else 1)
        low, high = worker.get("minReplicas"), worker.get("maxReplicas")
        groups.append(
            {
                "groupName": group,
                "replicas": replicas,
                "minReplicas": int(low if low is not None else replicas),
                "maxReplicas": int(high if high is not None else max(replicas, low or 0)),
                "rayStartParams": dict(worker.get("rayStartParams") or {}),
                "template": parts.template(worker, "ray-worker", where, None, completes=False),
            }
        )
    if groups:
        out["workerGroupSpecs"] = groups
    return out
