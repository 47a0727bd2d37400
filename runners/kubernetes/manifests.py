"""Compile a RunSpec into Kubernetes manifests: pure functions from values to dicts.

`run.kind: job` → a batch/v1 Job; `service` → an apps/v1 Deployment and, with ports, a v1
Service; `tfjob` / `pytorchjob` / `mpijob` → kubeflow.org/v1 objects; `spark`, `daskjob`,
`daskcluster`, `rayjob`, `raycluster` → their operators' objects (`operators`). Every object and pod
carries the labels `axon.dev/managed=true`, `axon.dev/run-uuid`, `axon.dev/attempt`,
`axon.dev/kind`, `axon.dev/project`, `axon.dev/operation` and `axon.dev/queue` (label-safe
values) and the annotations `axon.dev/run-uuid`, `axon.dev/project`, `axon.dev/operation`
(exact values). Names come from the run uuid and its attempt (`axon-<uuid>` for the first,
`axon-<uuid>-<N>` for attempt N of a resumed or retried run, DNS-1123 safe), so a second
submit of one attempt is a 409, while a new attempt is a new object beside the old one.
A Job's main container writes its outputs to an emptyDir that a sidecar uploads to Axon when
it ends (`runners.kubernetes.outputs`).
`termination` → backoffLimit (maxRetries; 0 when unset, not Kubernetes' 6, so a failed run is
not silently run again), activeDeadlineSeconds (timeout), ttlSecondsAfterFinished (ttl). A Job
whose pods restart in place (`restartPolicy: OnFailure`) fails once its containers' restarts
reach backoffLimit, so there maxRetries N > 0 becomes backoffLimit N + 1 (`backoff_limit`); with
`Never` each failed pod counts, and N stays N.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runners.base import RunSpec
from runners.kubernetes.operators import compile_operator
from runners.kubernetes.operators_kinds import OPERATORS
from runners.kubernetes.outputs import add_outputs
from runners.kubernetes.pods import (
    ManifestError,
    PodOptions,
    PodPlan,
    main_container,
    pod_template,
)
from runners.kubernetes.queues import Queue

__all__ = [
    "ManifestError",
    "Manifest",
    "Workload",
    "attempt_selector",
    "compile_run",
    "object_name",
    "run_labels",
]

MANAGED, RUN_UUID, KIND = "axon.dev/managed", "axon.dev/run-uuid", "axon.dev/kind"
PROJECT, OPERATION, QUEUE = "axon.dev/project", "axon.dev/operation", "axon.dev/queue"
ATTEMPT = "axon.dev/attempt"  # tries before this one: each attempt's objects and pods apart
STOP_REQUESTED = "axon.dev/stop-requested"  # annotation: Axon deleted it, not someone else
SELECTOR = f"{MANAGED}=true"
KUBEFLOW_GROUP, KUBEFLOW_VERSION = "kubeflow.org", "v1"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Flavor:
    """A Kubeflow kind: its plural, where its replicas go and what the operator expects."""

    kind: str
    plural: str
    specs: str  # the spec key holding the replica specs
    replicas: Mapping[str, str]  # spec key → replica type
    container: str  # the main container's name (the operator requires it for TF and PyTorch)
    primary: tuple[str, ...]  # which replica runs the compiled command, in order of preference


KUBEFLOW: dict[str, Flavor] = {
    "tfjob": Flavor(
        "TFJob", "tfjobs", "tfReplicaSpecs",
        {"chief": "Chief", "ps": "PS", "worker": "Worker", "evaluator": "Evaluator"},
        "tensorflow", ("chief", "worker", "ps", "evaluator"),
    ),
    "pytorchjob": Flavor(
        "PyTorchJob", "pytorchjobs", "pytorchReplicaSpecs",
        {"master": "Master", "worker": "Worker"}, "pytorch", ("master", "worker"),
    ),
    "mpijob": Flavor(
        "MPIJob", "mpijobs", "mpiReplicaSpecs",
        {"launcher": "Launcher", "worker": "Worker"}, "mpi", ("launcher", "worker"),
    ),
}  # fmt: skip
# Where each run kind lives: the plural of its main object (the one watched and stopped).
PLURALS = {
    "job": "jobs",
    "service": "deployments",
    **{k: f.plural for k, f in KUBEFLOW.items()},
    **{k: o.plural for k, o in OPERATORS.items()},
}
RUN_KIND_OF = {plural: kind for kind, plural in PLURALS.items()}
KINDS = frozenset(PLURALS)  # the run kinds this runner runs
MAIN = "main"  # the main container of jobs and services


@dataclass(frozen=True)
class Workload:
    """Where a run lives: its main object. The external id is `<namespace>/<plural>/<name>`."""

    namespace: str
    plural: str
    name: str

    @property
    def external_id(self) -> str:
        return f"{self.namespace}/{self.plural}/{self.name}"

    @property
    def kind(self) -> str:
        return RUN_KIND_OF[self.plural]

    @classmethod
    def parse(cls, external_id: str) -> Workload:
        parts = external_id.split("/")
        if len(parts) != 3 or parts[1] not in RUN_KIND_OF or not all(parts):
            raise ValueError(
                f"kubernetes runner: {external_id!r} is not <namespace>/<plural>/<name>"
            )
        return cls(*parts)


@dataclass(frozen=True)
class Manifest:
    """One object to create: its plural (jobs, services, pytorchjobs…) and its body."""

    plural: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


def object_name(run_uuid: str, attempt: int = 0) -> str:
    """`axon-<uuid>`, `axon-<uuid>-<attempt>` after the first: lower case, DNS-1123 and
    DNS-1035 safe, short enough for pod names (a Job's pods add 6 characters to its name)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", run_uuid.lower()).strip("-")
    if not cleaned or len(cleaned) > 40 or cleaned != run_uuid.lower():
        cleaned = hashlib.sha256(run_uuid.encode()).hexdigest()[:32]
    return f"axon-{cleaned}-{attempt}" if attempt else f"axon-{cleaned}"


def attempt_selector(labels: Mapping[str, str]) -> str | None:
    """The label selector of one attempt's objects and pods, read from any of their labels;
    None for an object that is not a run's. Objects made before attempts were labelled
    carry no attempt: all of their run's pods are theirs."""
    uuid = labels.get(RUN_UUID)
    if not uuid:
        return None
    attempt = labels.get(ATTEMPT)
    return f"{RUN_UUID}={uuid},{ATTEMPT}={attempt}" if attempt else f"{RUN_UUID}={uuid}"


def label_value(value: str) -> str:
    """A label-safe form of `value`: 63 characters at most, alphanumeric at both ends."""
    cleaned = _LABEL_VALUE.sub("-", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def run_labels(spec: RunSpec, kind: str, queue: Queue) -> dict[str, str]:
    return {
        MANAGED: "true",
        RUN_UUID: label_value(spec.uuid),
        ATTEMPT: str(spec.attempt),
        KIND: kind,
        PROJECT: label_value(spec.project),
        OPERATION: label_value(spec.name),
        QUEUE: label_value(queue.name),
        "app.kubernetes.io/managed-by": "axon",
    }


def run_annotations(spec: RunSpec) -> dict[str, str]:
    return {RUN_UUID: spec.uuid, PROJECT: spec.project, OPERATION: spec.name}


def run_kind(spec: RunSpec) -> str:
    kind = str((spec.component.get("run") or {}).get("kind") or "job")
    if kind not in PLURALS:
        raise ManifestError(f"run.kind: {kind!r} is not supported by the kubernetes runner")
    return kind


def workload(spec: RunSpec, queue: Queue) -> Workload:
    return Workload(queue.namespace, PLURALS[run_kind(spec)], object_name(spec.uuid, spec.attempt))


def compile_run(spec: RunSpec, queue: Queue, options: PodOptions) -> list[Manifest]:
    """The objects that make up the run, its main object first."""
    kind = run_kind(spec)
    if kind == "job":
        return [_job(spec, queue, options)]
    if kind == "service":
        return _service(spec, queue, options)
    if kind in OPERATORS:
        metadata, termination = _metadata(spec, kind, queue), _termination(spec)
        termination["backoffLimit"] = termination["backoffLimit"] or 0
        plural, body = compile_operator(spec, _run(spec), queue, options, metadata, termination)
        return [Manifest(plural, body)]
    return [_kubeflow(spec, KUBEFLOW[kind], queue, options)]


def _run(spec: RunSpec) -> dict[str, Any]:
    run = dict(spec.component.get("run") or {})
    run.setdefault("kind", "job")
    run.setdefault("container", {"image": spec.image})
    return run


def _termination(spec: RunSpec) -> dict[str, int | None]:
    termination = spec.component.get("termination") or {}
    timeout = spec.timeout if spec.timeout is not None else termination.get("timeout")
    return {
        "backoffLimit": int(termination.get("maxRetries") or 0),
        "activeDeadlineSeconds": max(math.ceil(timeout), 1) if timeout else None,
        "ttlSecondsAfterFinished": termination.get("ttl"),
    }


def _metadata(spec: RunSpec, kind: str, queue: Queue) -> dict[str, Any]:
    return {
        "name": object_name(spec.uuid, spec.attempt),
        "namespace": queue.namespace,
        "labels": run_labels(spec, kind, queue),
        "annotations": run_annotations(spec),
    }


def _template(
    spec: RunSpec, queue: Queue, options: PodOptions, kind: str, plan: PodPlan
) -> dict[str, Any]:
    return pod_template(plan, queue, options, run_labels(spec, kind, queue), run_annotations(spec))


def backoff_limit(max_retries: int, restart_policy: str | None) -> int:
    """The Job's backoffLimit that allows `max_retries` retries, no fewer and no more.

    The Job controller fails a Job whose pods fail more than backoffLimit times (`Never`), or
    whose containers' restarts reach backoffLimit (`OnFailure`; with 0, at the first restart).
    """
    if restart_policy == "OnFailure" and max_retries > 0:
        return max_retries + 1
    return max_retries


def retries_allowed(job: Mapping[str, Any]) -> int:
    """The retries a Job made by `_job` allows: its run's maxRetries, read back."""
    spec = job.get("spec") or {}
    limit = int(spec.get("backoffLimit", 6))
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    return limit - 1 if policy == "OnFailure" and limit > 0 else limit


def _job(spec: RunSpec, queue: Queue, options: PodOptions) -> Manifest:
    run = _run(spec)
    main = main_container(run["container"], MAIN, spec.image, spec.command, spec.env, "run")
    plan = PodPlan(run, main, "run", git=spec.git)
    template = _template(spec, queue, options, "job", plan)
    add_outputs(template["spec"], spec.env, options)
    termination = _termination(spec)
    policy = template["spec"].get("restartPolicy")
    termination["backoffLimit"] = backoff_limit(termination["backoffLimit"] or 0, policy)
    job_spec: dict[str, Any] = {
        **{k: v for k, v in termination.items() if v is not None},
        "template": template,
    }
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(spec, "job", queue),
        "spec": job_spec,
    }
    return Manifest("jobs", body)


def _service(spec: RunSpec, queue: Queue, options: PodOptions) -> list[Manifest]:
    run = _run(spec)
    ports = [int(p) for p in run.get("ports") or ()]
    main = main_container(run["container"], MAIN, spec.image, spec.command, spec.env, "run")
    if ports:
        declared = {p.get("containerPort") for p in main.get("ports") or ()}
        extra = [{"containerPort": p} for p in ports if p not in declared]
        main["ports"] = [*(main.get("ports") or ()), *extra]
    plan = PodPlan(
        run,
        main,
        "run",
        git=spec.git,
        restart_policies=("Always",),
        default_restart="Always",
        native_sidecars=False,
    )
    metadata = _metadata(spec, "service", queue)
    selector = {MANAGED: "true", RUN_UUID: label_value(spec.uuid), ATTEMPT: str(spec.attempt)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": int(run.get("replicas") or 1),
            "selector": {"matchLabels": selector},
            "template": _template(spec, queue, options, "service", plan),
        },
    }
    manifests = [Manifest("deployments", deployment)]
    if ports:
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {
                "type": "LoadBalancer" if run.get("isExternal") else "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": f"port-{p}", "port": p, "targetPort": p, "protocol": "TCP"}
                    for p in ports
                ],
            },
        }
        manifests.append(Manifest("services", service))
    return manifests


def _kubeflow(spec: RunSpec, flavor: Flavor, queue: Queue, options: PodOptions) -> Manifest:
    run = _run(spec)
    given = [key for key in flavor.replicas if isinstance(run.get(key), Mapping)]
    if not given:
        raise ManifestError(f"run: a {run['kind']} needs one of {', '.join(flavor.replicas)}")
    primary = next(key for key in flavor.primary if key in given)
    replicas: dict[str, Any] = {}
    for key in given:
        section, where = run[key], f"run.{key}"
        argv = spec.command if key == primary else None
        main = main_container(
            section["container"], flavor.container, spec.image, argv, spec.env, where
        )
        # The operator sets each pod's restartPolicy from the replica's, so the template has none.
        plan = PodPlan(
            section,
            main,
            where,
            git=spec.git,
            restart_policies=("Never", "OnFailure", "Always", "ExitCode"),
            default_restart=None,
        )
        template = _template(spec, queue, options, run["kind"], plan)
        replica: dict[str, Any] = {"replicas": int(section.get("replicas") or 1)}
        restart = template["spec"].pop("restartPolicy", None)
        if restart:
            replica["restartPolicy"] = restart
        replica["template"] = template
        replicas[flavor.replicas[key]] = replica
    body: dict[str, Any] = {
        "apiVersion": f"{KUBEFLOW_GROUP}/{KUBEFLOW_VERSION}",
        "kind": flavor.kind,
        "metadata": _metadata(spec, run["kind"], queue),
        "spec": {"runPolicy": _run_policy(spec, run), flavor.specs: replicas},
    }
    if flavor.kind == "MPIJob" and run.get("slotsPerWorker"):
        body["spec"]["slotsPerWorker"] = int(run["slotsPerWorker"])
    if flavor.kind == "TFJob" and run.get("enableDynamicWorker") is not None:
        body["spec"]["enableDynamicWorker"] = bool(run["enableDynamicWorker"])
    return Manifest(flavor.plural, body)


def _run_policy(spec: RunSpec, run: Mapping[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = {"cleanPodPolicy": run.get("cleanPodPolicy") or "Running"}
    policy.update({k: v for k, v in _termination(spec).items() if v is not None})
    scheduling = run.get("schedulingPolicy") or {}
    wanted = ("minAvailable", "queue", "priorityClass", "scheduleTimeoutSeconds")
    if any(scheduling.get(k) is not None for k in wanted):
        policy["schedulingPolicy"] = {
            k: scheduling[k] for k in wanted if scheduling.get(k) is not None
        }
    return policy
