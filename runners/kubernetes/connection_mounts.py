"""A run's connections in its pods: variables and files read from the run's own Secret.

The core hands the runner each connection's values (`RunSpec.mounts`). Their variables join
the run's env and, like `AXON_RUN_TOKEN`, are moved into the run's `<object>-env` Secret
(`secrets.take_secrets`), so no value stands in the Job or pod spec. Files become keys of that
Secret too (`file.<connection>.<name>`), mounted read-only at the connection's path in each
container that carries the run's env (the main ones, not sidecars or init steps), and
`AXON_CONNECTION_<NAME>_PATH` says where. An init step that names a connection gets its
variables the same way (a git step's credentials), and only that step does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from runners.base import RunSpec, SecretMount

Obj = dict[str, Any]


def with_env(spec: RunSpec) -> tuple[RunSpec, frozenset[str]]:
    """`spec` with its mounts' variables in its env (its own win on a clash), and the names of
    those that hold secret values."""
    env: dict[str, str] = {}
    secret: set[str] = set()
    for mount in (m for m in spec.mounts if m.main):
        env.update(mount.env)
        secret.update(mount.env)
        if mount.files:
            env[mount.path_variable] = mount.path
    secret -= set(spec.env)
    return dataclasses.replace(spec, env={**env, **spec.env}), frozenset(secret)


def mount_files(body: Obj, mounts: tuple[SecretMount, ...], secret_name: str) -> dict[str, str]:
    """Mount each connection's files in `body`'s pods from the Secret `secret_name`; the
    Secret's entries that hold them."""
    data: dict[str, str] = {}
    for index, mount in enumerate(m for m in mounts if m.files and m.main):
        volume = f"connection-{index}"
        items = []
        for name, content in mount.files.items():
            key = f"file.{mount.name}.{name}"
            data[key] = content
            items.append({"key": key, "path": name})
        for pod, containers in _pods(body.get("spec") or {}, mount.path_variable):
            source = {"secretName": secret_name, "items": items, "defaultMode": 0o400}
            pod.setdefault("volumes", []).append({"name": volume, "secret": source})
            for container in containers:
                mounted = {"name": volume, "mountPath": mount.path, "readOnly": True}
                container.setdefault("volumeMounts", []).append(mounted)
    return data


def init_env(body: Obj, mounts: tuple[SecretMount, ...], secret_name: str) -> dict[str, str]:
    """Give each init step that names a connection (`init[i].connection`) its variables, read
    from the Secret `secret_name` (a git step's GIT_TOKEN, GIT_USERNAME, GIT_PASSWORD); the
    Secret's entries that hold them."""
    data: dict[str, str] = {}
    for mount in mounts:
        for index in mount.init_steps:
            for container in _init_containers(body.get("spec") or {}, f"init-{index}-"):
                env = container.setdefault("env", [])
                for variable, value in mount.env.items():
                    key = f"init.{mount.name}.{variable}"
                    data[key] = value
                    ref = {"secretKeyRef": {"name": secret_name, "key": key}}
                    env.append({"name": variable, "valueFrom": ref})
    return data


def _init_containers(node: Any, prefix: str) -> Iterator[Obj]:
    if isinstance(node, dict):
        for container in node.get("initContainers") or ():
            if str(container.get("name", "")).startswith(prefix):
                yield container
        for key, value in node.items():
            if key not in ("containers", "initContainers"):
                yield from _init_containers(value, prefix)
    elif isinstance(node, list):
        for value in node:
            yield from _init_containers(value, prefix)


def _pods(node: Any, variable: str) -> Iterator[tuple[Obj, list[Obj]]]:
    """Each pod spec under `node` with its containers that carry `variable`."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            carrying = [
                c
                for c in node["containers"]
                if any(e.get("name") == variable for e in c.get("env") or ())
            ]
            if carrying:
                yield node, carrying
            return
        for value in node.values():
            yield from _pods(value, variable)
    elif isinstance(node, list):
        for value in node:
            yield from _pods(value, variable)
