"""What of a compiled component the local runner cannot carry out, each with the field's path.

The local runner runs the main container's command and args as a process on the host, with the
container's env (name and value), in the run's checkout; the image stays a name (the host has
what the host has). It treats cpu and memory `resources` and `resizePolicy` as scheduling
hints: a process on the host is neither placed by them nor capped. A container's `ports` only
document what it listens on (Kubernetes publishes none of them for a job). Everything else a
component can ask for (volumes, mounts, secrets, placement, identity, probes, init steps,
sidecars, other resources such as GPUs) would be silently missing: such a run is refused. The
project's own connections are mounted (`runners.local_mounts`); the core leaves only the names
it has no connection of in `connections`, which the local runner cannot resolve.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

AWAY = "run it on kubernetes"

# The main container's fields the local runner carries out (or may ignore: see above).
CARRIED = frozenset(
    {"name", "image", "imagePullPolicy", "command", "args", "env", "resources", "ports",
     "resizePolicy"}
)  # fmt: skip
HINTS = frozenset({"cpu", "memory"})  # resources a process on the host is given no share of
# What the local runner cannot do with the fields it refuses; any field not named here gets
# the generic reason.
CANNOT = {
    "connections": "resolve connections",
    "volumes": "provide volumes",
    "init": "run init steps",
    "sidecars": "run sidecars",
    "envFrom": "fill env from secrets or config maps",
    "valueFrom": "fill an env variable from a secret or a field",
    "workingDir": "change to a working directory (a run starts in its checkout)",
    "volumeMounts": "mount volumes",
    "volumeDevices": "attach devices",
    "securityContext": "set a security context (a run is a process of the worker's user)",
    "livenessProbe": "probe a process",
    "readinessProbe": "probe a process",
    "startupProbe": "probe a process",
    "lifecycle": "run lifecycle hooks",
    "stdin": "attach a stdin",
    "stdinOnce": "attach a stdin",
    "tty": "allocate a tty",
    "terminationMessagePath": "read a termination message",
    "terminationMessagePolicy": "read a termination message",
    "claims": "claim resources",
}


# The same for each field of the run's `environment` (its pod's settings).
PLACEMENT = "choose the node a run goes to"
ENVIRONMENT = {
    "labels": "label a pod",
    "annotations": "annotate a pod",
    "nodeSelector": PLACEMENT,
    "affinity": PLACEMENT,
    "tolerations": PLACEMENT,
    "nodeName": PLACEMENT,
    "schedulerName": PLACEMENT,
    "priorityClassName": "give a run a priority",
    "priority": "give a run a priority",
    "serviceAccountName": "run as a service account",
    "securityContext": "set a security context (a run is a process of the worker's user)",
    "hostAliases": "add host aliases",
    "hostNetwork": "choose the network of a run (it has the host's)",
    "hostPID": "choose the process namespace of a run (it has the host's)",
    "dnsPolicy": "set the DNS of a run",
    "dnsConfig": "set the DNS of a run",
    "imagePullSecrets": "pull images",
    "restartPolicy": "restart a process (the core retries a failed run: termination.maxRetries)",
}


def unsupported(component: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, reason) for each field of `component` (a compiled component, camelCase) that the
    local runner would have to ignore; paths start at `component`."""
    run = component.get("run")
    if not isinstance(run, Mapping):
        return []
    return list(_run_fields(run, "component.run"))


def _run_fields(run: Mapping[str, Any], at: str) -> Iterator[tuple[str, str]]:
    for key, value in run.items():
        if key in ("kind", "container") or _empty(value):
            continue
        if key == "environment" and isinstance(value, Mapping):
            for field, setting in value.items():
                if not _empty(setting):
                    what = ENVIRONMENT.get(field, f"set a pod's {field}")
                    yield f"{at}.environment.{field}", _reason(what)
            continue
        yield f"{at}.{key}", _reason(CANNOT.get(key, f"carry out {key}"))
    container = run.get("container")
    if isinstance(container, Mapping):
        yield from _container_fields(container, f"{at}.container")


def _container_fields(container: Mapping[str, Any], at: str) -> Iterator[tuple[str, str]]:
    for key, value in container.items():
        if key not in CARRIED and not _empty(value):
            yield f"{at}.{key}", _reason(CANNOT.get(key, f"carry out a container's {key}"))
    for index, variable in enumerate(container.get("env") or ()):
        if isinstance(variable, Mapping) and variable.get("valueFrom"):
            yield f"{at}.env[{index}].valueFrom", _reason(CANNOT["valueFrom"])
    resources = container.get("resources")
    if isinstance(resources, Mapping):
        for section, amounts in resources.items():
            if section == "claims" and not _empty(amounts):
                yield f"{at}.resources.claims", _reason(CANNOT["claims"])
                continue
            named = amounts if isinstance(amounts, Mapping) else {}
            for name in named:
                if name not in HINTS:
                    yield f"{at}.resources.{section}.{name}", _reason(f"give a run {name}")


def _reason(what: str) -> str:
    return f"the local runner cannot {what}: {AWAY}"


def _empty(value: Any) -> bool:
    # `stdin: false` or `volumes: []` asks for nothing.
    return value is None or value is False or value == [] or value == {}
