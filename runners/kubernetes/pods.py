"""Pod templates from a run's pod section: the main container, init steps, sidecars, placement.

Pure functions from the compiled component (camelCase dicts, as the spec writes them) to
Kubernetes pod template dicts (the init steps are in `init_containers`). Sidecars become native
sidecars (init containers with `restartPolicy: Always`, Kubernetes 1.29+) in pods that run to
completion, so a Job ends when its main container does. An older server drops that field without
a word, and the sidecar, run as a plain init container, would keep the pod from ever starting:
there such a pod is refused, naming the server's version. A service's pods never complete, so
their sidecars are plain containers on every version. The spec's environment wins over the
queue's defaults: resources key by key, node selectors merged, tolerations added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners.base import GitCheckout
from runners.kubernetes.init_containers import (
    CODE,
    CONTEXT,
    CONTEXT_VOLUME,
    STORE_VOLUME,
    ManifestError,
    PodOptions,
    clean,
    init_containers,
    mount,
    uses_store,
)
from runners.kubernetes.queues import Queue

__all__ = ["ManifestError", "PodOptions", "PodPlan", "main_container", "pod_template"]

NATIVE_SIDECARS = (1, 29)  # the first version that runs init containers with restartPolicy Always

PLACEMENT_KEYS = (
    "nodeSelector", "affinity", "tolerations", "nodeName", "serviceAccountName", "hostAliases",
    "securityContext", "hostNetwork", "hostPID", "dnsPolicy", "dnsConfig", "schedulerName",
    "priorityClassName", "priority",
)  # fmt: skip


@dataclass(frozen=True)
class PodPlan:
    """What one pod of a run is made of, before it becomes a template."""

    section: Mapping[str, Any]  # the run (or replica) dict: environment, init, sidecars...
    main: dict[str, Any]  # the main container, finished
    where: str  # the spec path of `section`, for errors
    git: GitCheckout | None = None
    restart_policies: tuple[str, ...] = ("Never", "OnFailure")
    default_restart: str | None = "Never"
    native_sidecars: bool = True


def main_container(
    container: Mapping[str, Any],
    name: str,
    image: str,
    argv: Sequence[str] | None,
    env: Mapping[str, str],
    where: str,
) -> dict[str, Any]:
    """The main container: the spec's, named `name`, running `argv` with `env` added.

    `argv` (the compiled command line) replaces the spec's command, or its args when the spec
    gives only args (keeping the image's entrypoint); None keeps the spec's as written.
    """
    out = clean(container)
    out["name"] = name
    out["image"] = container.get("image") or image
    if not out["image"]:
        raise ManifestError(f"{where}.container.image: required")
    if argv is not None:
        out.pop("command", None)
        out.pop("args", None)
        only_args = "args" in container and "command" not in container
        if argv:
            out["args" if only_args else "command"] = list(argv)
    elif "args" in out:
        out["args"] = [arg for arg in out["args"] if arg != ""]
    declared = [dict(e) for e in container.get("env") or ()]
    variables = [{"name": k, "value": str(v)} for k, v in env.items()]
    variables += [e for e in declared if "valueFrom" in e and e["name"] not in env]
    variables += [e for e in declared if "valueFrom" not in e and e["name"] not in env]
    if variables:
        out["env"] = [_env_var(e) for e in variables]
    if "resources" in out:
        out["resources"] = _quantities(out["resources"])
    return out


def pod_template(
    plan: PodPlan,
    queue: Queue,
    options: PodOptions,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    """A pod template: metadata, then the spec with init steps, containers and placement."""
    section, where = plan.section, plan.where
    environment: Mapping[str, Any] = section.get("environment") or {}
    main = dict(plan.main)
    connections = [{"secretRef": {"name": name}} for name in section.get("connections") or ()]
    if connections:
        main["envFrom"] = [*main.get("envFrom", ()), *connections]
    main["resources"] = _merged_resources(main.get("resources") or {}, queue.resources)
    if not main["resources"]:
        del main["resources"]
    init = init_containers(section, plan.git, where, options)
    if plan.git is not None and "workingDir" not in main:
        main["workingDir"] = CODE
    sidecars = [
        _sidecar(c, i, plan.native_sidecars) for i, c in enumerate(section.get("sidecars") or ())
    ]
    if sidecars and plan.native_sidecars and options.server and options.server < NATIVE_SIDECARS:
        have = ".".join(map(str, options.server))
        raise ManifestError(
            f"{where}.sidecars: a pod that runs to completion needs native sidecars "
            f"(Kubernetes {'.'.join(map(str, NATIVE_SIDECARS))} or later) to end with its main "
            f"container; this cluster runs Kubernetes {have}"
        )
    spec: dict[str, Any] = {}
    restart = environment.get("restartPolicy") or plan.default_restart
    if restart is not None:
        if restart not in plan.restart_policies:
            choices = " or ".join(plan.restart_policies)
            raise ManifestError(
                f"{where}.environment.restartPolicy: {restart!r} here; use {choices}"
            )
        spec["restartPolicy"] = restart
    natives = [c for c in sidecars if plan.native_sidecars]
    if init or natives:
        spec["initContainers"] = [*init, *natives]
    spec["containers"] = [main, *(c for c in sidecars if not plan.native_sidecars)]
    volumes = [dict(v) for v in section.get("volumes") or ()]
    if init:
        volumes.append({"name": CONTEXT_VOLUME, "emptyDir": {}})
        mount(main, CONTEXT_VOLUME, CONTEXT)
    if any(uses_store(step) for step in section.get("init") or ()):
        claim = {"claimName": options.artifacts_claim, "readOnly": True}
        volumes.append({"name": STORE_VOLUME, "persistentVolumeClaim": claim})
    if volumes:
        spec["volumes"] = volumes
    spec.update(_placement(environment, queue))
    metadata = {
        "labels": {**queue.labels, **(environment.get("labels") or {}), **labels},
        "annotations": {
            **queue.annotations,
            **(environment.get("annotations") or {}),
            **annotations,
        },
    }
    return {"metadata": metadata, "spec": spec}


def _placement(environment: Mapping[str, Any], queue: Queue) -> dict[str, Any]:
    """Scheduling and identity: the spec's environment over the queue's defaults."""
    placed: dict[str, Any] = {}
    selector = {**queue.node_selector, **(environment.get("nodeSelector") or {})}
    if selector:
        placed["nodeSelector"] = selector
    tolerations = [*queue.tolerations, *(environment.get("tolerations") or ())]
    if tolerations:
        placed["tolerations"] = [dict(t) for t in tolerations]
    if queue.affinity:
        placed["affinity"] = dict(queue.affinity)
    if queue.priority_class_name:
        placed["priorityClassName"] = queue.priority_class_name
    if queue.service_account_name:
        placed["serviceAccountName"] = queue.service_account_name
    for key in PLACEMENT_KEYS:
        if environment.get(key) is not None and key not in ("nodeSelector", "tolerations"):
            placed[key] = environment[key]
    secrets = [*queue.image_pull_secrets, *(environment.get("imagePullSecrets") or ())]
    if secrets:
        placed["imagePullSecrets"] = [{"name": name} for name in dict.fromkeys(secrets)]
    return placed


def _sidecar(container: Mapping[str, Any], index: int, native: bool) -> dict[str, Any]:
    out = clean(container)
    out.setdefault("name", f"sidecar-{index}")
    if "resources" in out:
        out["resources"] = _quantities(out["resources"])
    if "env" in out:
        out["env"] = [_env_var(e) for e in out["env"]]
    if native:
        out["restartPolicy"] = "Always"
    return out


def _merged_resources(
    own: Mapping[str, Mapping[str, Any]], defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The container's requests and limits, each key defaulting to the queue's."""
    merged: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = {**(defaults.get(part) or {}), **(own.get(part) or {})}
        if values:
            merged[part] = values
    if own.get("claims"):
        merged["claims"] = own["claims"]
    return _quantities(merged)


def _quantities(resources: Mapping[str, Any]) -> dict[str, Any]:
    """Quantities as strings (`1`, `0.5`, `8Gi`): what the API prints, and schema-safe."""
    out = dict(resources)
    for part in ("requests", "limits"):
        if isinstance(out.get(part), Mapping):
            out[part] = {k: _quantity(v) for k, v in out[part].items()}
    return out


def _quantity(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _env_var(variable: Mapping[str, Any]) -> dict[str, Any]:
    if "valueFrom" in variable:
        return {"name": variable["name"], "valueFrom": variable["valueFrom"]}
    return {"name": variable["name"], "value": str(variable.get("value", ""))}
