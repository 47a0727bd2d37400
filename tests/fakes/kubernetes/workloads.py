"""The Deployment and ReplicaSet controllers, simulated: a service's pods and its Available state.

A Deployment gets a ReplicaSet `<name>-<template hash>` whose pods (`<rs>-xxxxx`) it keeps at
`replicas`; the Deployment is Available once enough pods are Ready, and Progressing turns
False with ProgressDeadlineExceeded when they are not within progressDeadlineSeconds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from tests.fakes.kubernetes.clock import parse_timestamp
from tests.fakes.kubernetes.jobs import owner_reference
from tests.fakes.kubernetes.store import Change, Obj

if TYPE_CHECKING:
    from tests.fakes.kubernetes.cluster import Cluster

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REVISION = "deployment.kubernetes.io/revision"


class DeploymentController:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self._deadlines: set[tuple[str, int]] = set()  # (deployment uid, generation) armed

    def on_change(self, change: Change) -> None:
        if change.type == "DELETED":
            return
        if change.old is None or change.old.get("spec") != change.obj.get("spec"):
            meta = change.obj["metadata"]
            self.reconcile_soon(change.resource.plural, meta["namespace"], meta["name"])

    def reconcile_soon(self, plural: str, namespace: str, name: str) -> None:
        act = self._deployment if plural == "deployments" else self._replicaset
        self.cluster.soon((plural, namespace, name), lambda: act(namespace, name))

    # -- Deployment --------------------------------------------------------------------------

    def _deployment(self, namespace: str, name: str) -> None:
        deployment = self.store.get("deployments", namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        spec, uid = deployment["spec"], deployment["metadata"]["uid"]
        template_hash = _hash(spec["template"])
        current = f"{name}-{template_hash}"
        sets = self.cluster.dependents(uid, "replicasets")
        new_set = next((rs for rs in sets if rs["metadata"]["name"] == current), None)
        if new_set is None:
            new_set = self._create_set(deployment, current, template_hash, len(sets) + 1)
        elif new_set["spec"]["replicas"] != spec["replicas"]:
            self._scale(deployment, new_set, spec["replicas"])
        for old in sets:
            if old is not new_set and old["spec"]["replicas"]:
                self._scale(deployment, old, 0)
        generation = deployment["metadata"]["generation"]
        if (uid, generation) not in self._deadlines:
            self._deadlines.add((uid, generation))
            self.cluster.scheduler.after(
                spec.get("progressDeadlineSeconds", 600),
                lambda: self.reconcile_soon("deployments", namespace, name),
            )
        self._deployment_status(deployment, new_set, sets)

    def _create_set(self, deployment: Obj, name: str, template_hash: str, revision: int) -> Obj:
        spec, meta = deployment["spec"], deployment["metadata"]
        template = copy.deepcopy(spec["template"])
        labels = {**(template.get("metadata") or {}).get("labels", {})}
        labels["pod-template-hash"] = template_hash
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        replica_set = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": spec["replicas"], "selector": selector, "template": template},
        }
        created = self.cluster.create("replicasets", replica_set, meta["namespace"])
        self.cluster.recorder.record(
            deployment,
            "ScalingReplicaSet",
            f"Scaled up replica set {name} from 0 to {spec['replicas']}",
            component="deployment-controller",
        )
        return created

    def _scale(self, deployment: Obj, replica_set: Obj, replicas: int) -> None:
        meta, before = replica_set["metadata"], replica_set["spec"]["replicas"]
        self.store.update(
            "replicasets",
            meta["namespace"],
            meta["name"],
            lambda rs: rs["spec"].__setitem__("replicas", replicas),
        )
        direction = "up" if replicas > before else "down"
        self.cluster.recorder.record(
            deployment,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {meta['name']} from {before} to {replicas}",
            component="deployment-controller",
        )

    def _deployment_status(self, deployment: Obj, new_set: Obj, sets: list[Obj]) -> None:
        spec, meta = deployment["spec"], deployment["metadata"]
        sets = [new_set, *[rs for rs in sets if rs is not new_set]]
        counts = {
            key: sum((rs.get("status") or {}).get(key, 0) for rs in sets)
            for key in ("replicas", "readyReplicas", "availableReplicas")
        }
        updated = (new_set.get("status") or {}).get("replicas", 0)
        wanted = spec["replicas"]
        unavailable = max(wanted - counts["availableReplicas"], 0)
        available = counts["availableReplicas"] >= wanted - _max_unavailable(spec, wanted)
        complete = updated == wanted and counts["availableReplicas"] >= wanted
        name, now = new_set["metadata"]["name"], self.clock.timestamp()
        created = parse_timestamp(meta["creationTimestamp"])
        overdue = self.clock.now() >= created + spec.get("progressDeadlineSeconds", 600)

        def edit(deployment: Obj) -> None:
            status = deployment.setdefault("status", {})
            status["observedGeneration"] = deployment["metadata"]["generation"]
            for key, value in (("updatedReplicas", updated), *counts.items()):
                _count(status, key, value)
            _count(status, "unavailableReplicas", unavailable)
            conditions = status.setdefault("conditions", [])
            if available:
                _condition(
                    conditions,
                    "Available",
                    "True",
                    now,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                )
            else:
                _condition(
                    conditions,
                    "Available",
                    "False",
                    now,
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            if complete:
                _condition(
                    conditions,
                    "Progressing",
                    "True",
                    now,
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{name}" has successfully progressed.',
                )
            elif overdue:
                _condition(
                    conditions,
                    "Progressing",
                    "False",
                    now,
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{name}" has timed out progressing.',
                )
            else:
                _condition(
                    conditions,
                    "Progressing",
                    "True",
                    now,
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{name}" is progressing.',
                )

        self.store.update("deployments", meta["namespace"], meta["name"], edit)

    # -- ReplicaSet --------------------------------------------------------------------------

    def _replicaset(self, namespace: str, name: str) -> None:
        replica_set = self.store.get("replicasets", namespace, name)
        if replica_set is None or replica_set["metadata"].get("deletionTimestamp"):
            return
        pods = [
            pod
            for pod in self.cluster.dependents(replica_set["metadata"]["uid"], "pods")
            if not pod["metadata"].get("deletionTimestamp")
            and pod["status"].get("phase") not in ("Succeeded", "Failed")
        ]
        wanted = replica_set["spec"]["replicas"]
        for _ in range(wanted - len(pods)):
            pods.append(self._create_pod(replica_set))
        for pod in pods[wanted:]:
            self.cluster.delete("pods", namespace, pod["metadata"]["name"])
        pods = pods[:wanted]
        ready = sum(1 for pod in pods if _ready(pod))

        def edit(rs: Obj) -> None:
            status = rs.setdefault("status", {})
            status["replicas"] = len(pods)
            status["fullyLabeledReplicas"] = len(pods)
            _count(status, "readyReplicas", ready)
            _count(status, "availableReplicas", ready)
            status["observedGeneration"] = rs["metadata"]["generation"]

        self.store.update("replicasets", namespace, name, edit)

    def _create_pod(self, replica_set: Obj) -> Obj:
        meta = replica_set["metadata"]
        template = copy.deepcopy(replica_set["spec"]["template"])
        pod_meta = template.get("metadata") or {}
        pod_meta.update(
            generateName=f"{meta['name']}-", ownerReferences=[owner_reference(replica_set)]
        )
        pod = self.cluster.create(
            "pods", {"metadata": pod_meta, "spec": template["spec"]}, meta["namespace"]
        )
        self.cluster.recorder.record(
            replica_set,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            component="replicaset-controller",
        )
        return pod


def _hash(template: Obj) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[byte % len(_HASH_ALPHABET)] for byte in digest[:10])


def _max_unavailable(spec: Obj, replicas: int) -> int:
    value: Any = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", 0)
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(replicas * int(value[:-1]) / 100)
    return int(value)


def _count(status: Obj, key: str, value: int) -> None:
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def _condition(
    conditions: list[Obj], kind: str, status: str, now: str, reason: str, message: str
) -> None:
    found = next((c for c in conditions if c["type"] == kind), None)
    if found is None:
        conditions.append(
            {
                "type": kind,
                "status": status,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
        )
        return
    if found["status"] != status:
        found["lastTransitionTime"] = now
    if (found["status"], found["reason"], found["message"]) != (status, reason, message):
        found.update(status=status, reason=reason, message=message, lastUpdateTime=now)


def _ready(pod: Obj) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
