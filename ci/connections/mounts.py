"""A run's connections opened at launch into what its runner mounts: variables and files.

A name the project has a connection of, in `run.connections` or an init step's `connection:`,
becomes a SecretMount: its secret values as files under its `mount_path` when it has one (and
the variables its `env` maps), else as variables (its `env` mapping, or each secret value under
its own name); an init step gets the variables, and a git step without a url takes the
connection's `schema.url`. A name no connection has stays for the runner: on Kubernetes it is an
existing Secret, as before connections were kept here. The values are opened only here, at
launch, and never stored in the run.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.connections import crypto
from ci.runtime import Runtime
from ci.store.models import Connection
from runners.base import SecretMount


def resolve(
    rt: Runtime, session: Session, project_id: int, component: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[SecretMount, ...]]:
    """`component` without the connections this project has, and those opened as mounts."""
    rest, uses = _split(session, project_id, component)
    return rest, tuple(mount(rt, row, main, steps) for row, (main, steps) in uses.items())


def without_known(
    session: Session, project_id: int, component: Mapping[str, Any]
) -> dict[str, Any]:
    """`component` less the connections this project has: what a runner must find elsewhere."""
    return _split(session, project_id, component)[0]


Uses = dict[Connection, tuple[bool, tuple[int, ...]]]  # a row: named by the run, by which steps


def _split(
    session: Session, project_id: int, component: Mapping[str, Any]
) -> tuple[dict[str, Any], Uses]:
    run = component.get("run")
    if not isinstance(run, Mapping):
        return dict(component), {}
    named = [str(name) for name in run.get("connections") or ()]
    steps = [s if isinstance(s, Mapping) else {} for s in run.get("init") or ()]
    by_steps = [str(s["connection"]) if s.get("connection") else None for s in steps]
    wanted = list(dict.fromkeys([*named, *filter(None, by_steps)]))
    if not wanted:
        return dict(component), {}
    found = session.scalars(
        select(Connection).where(Connection.project_id == project_id, Connection.name.in_(wanted))
    )
    rows = {row.name: row for row in found}
    if not rows:
        return dict(component), {}
    rest = copy.deepcopy(dict(run))
    left = [name for name in dict.fromkeys(named) if name not in rows]
    rest.pop("connections", None)
    if left:
        rest["connections"] = left
    for index, name in enumerate(by_steps):
        if name in rows:
            step = rest["init"][index]
            del step["connection"]
            if isinstance(step.get("git"), dict) and not step["git"].get("url"):
                step["git"]["url"] = (rows[name].schema or {}).get("url") or ""
    uses = {
        rows[name]: (name in named, tuple(i for i, by in enumerate(by_steps) if by == name))
        for name in wanted
        if name in rows
    }
    return {**component, "run": rest}, uses


def mount(
    rt: Runtime, row: Connection, main: bool = True, init_steps: tuple[int, ...] = ()
) -> SecretMount:
    """The connection's values as its mount says: files at its path, or variables."""
    values = crypto.unseal(rt, row.secret, f"connection {row.name!r}")
    mapped = {variable: values[key] for variable, key in (row.env or {}).items() if key in values}
    if row.mount_path:
        files, env = values, mapped
    else:
        files, env = {}, mapped if row.env else values
    return SecretMount(
        row.name, env=env, files=files, path=row.mount_path, main=main, init_steps=init_steps
    )
