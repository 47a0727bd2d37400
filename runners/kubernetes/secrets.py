"""A run's secret variables live in a Secret of its own, not in its pod spec.

`AXON_RUN_TOKEN` lets the run call Axon's API as itself; as a plain `value` it could be read by
anyone allowed to read Jobs or pods. `take_secrets` moves each such variable of the main
object's containers into a Secret named `<object>-env` (the variables become `secretKeyRef`s).
The runner creates the Secret first, so no pod starts before it exists, then the main object,
then makes the object the Secret's owner: the garbage collector deletes it with the run. A
Secret the server refuses to create or to own (a Role without `secrets`) is `Refused` in the
server's words, as the main object's refusal is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from kubernetes.client.rest import ApiException

from runners.kubernetes.api import Cluster, call, refusal

SECRET_VARIABLES = frozenset({"AXON_RUN_TOKEN"})
MERGE_PATCH = "application/merge-patch+json"
Obj = dict[str, Any]


def secret_name(body: Obj) -> str:
    return f"{body['metadata']['name']}-env"


def take_secrets(
    body: Obj, variables: frozenset[str] = frozenset(), files: dict[str, str] | None = None
) -> Obj | None:
    """The Secret for the main object's secret variables (`AXON_RUN_TOKEN` and `variables`)
    and `files` (None without any), which `body`'s containers now read from it."""
    meta = body["metadata"]
    name = secret_name(body)
    found: dict[str, str] = dict(files or {})
    taken = SECRET_VARIABLES | variables
    spec = body.get("spec") or {}
    # A SparkApplication's driver and executors carry their env themselves (SparkPodSpec).
    spark = body.get("kind") == "SparkApplication"
    pods = [spec[k] for k in ("driver", "executor") if k in spec] if spark else []
    for container in [*_containers(spec), *pods]:
        for entry in container.get("env") or ():
            if entry.get("name") in taken and "value" in entry:
                found[entry["name"]] = str(entry.pop("value"))
                entry["valueFrom"] = {"secretKeyRef": {"name": name, "key": entry["name"]}}
    if not found:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": copy.deepcopy(meta.get("labels") or {})},
        "type": "Opaque",
        "stringData": found,
    }


def create_secret(cluster: Cluster, namespace: str, secret: Obj) -> None:
    """Create the run's Secret; one left by an earlier submit of the same attempt is kept."""
    try:
        call("create secrets", cluster.core.create_namespaced_secret, namespace, secret)
    except ApiException as exc:
        if exc.status != 409:
            name = secret["metadata"]["name"]
            raise refusal(f"kubernetes refused the Secret {name}", exc) from exc


def own_secret(cluster: Cluster, namespace: str, secret: Obj, owner: Obj) -> None:
    """Make the main object the Secret's owner, so that deleting the run deletes it."""
    reference = {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    name = secret["metadata"]["name"]
    try:
        call(
            "own secrets",
            cluster.core.patch_namespaced_secret,
            name,
            namespace,
            {"metadata": {"ownerReferences": [reference]}},
            _content_type=MERGE_PATCH,
        )
    except ApiException as exc:
        raise refusal(f"kubernetes refused to hand the Secret {name} to its run", exc) from exc


def delete_secret(cluster: Cluster, namespace: str, secret: Obj) -> None:
    try:
        call(
            "delete secrets",
            cluster.core.delete_namespaced_secret,
            secret["metadata"]["name"],
            namespace,
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


def _containers(node: Any) -> Iterator[Obj]:
    """Every container (and init container) of every pod template under `node`."""
    if isinstance(node, dict):
        for key in ("containers", "initContainers"):
            for container in node.get(key) or ():
                if isinstance(container, dict):
                    yield container
        for key, value in node.items():
            if key not in ("containers", "initContainers"):
                yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)
