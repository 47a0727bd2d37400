"""Reuse a finished run's results: Polyaxon's cache, keyed on what a run would do.

The key hashes, as Polyaxon's cache state does, the run's kind, its component's reference
(hubRef, pathRef, urlRef, dagRef), presets and runPatch, the `sections` of its run that count
(`init`, `connections` and `containers`: each container's image, command and args; all three
unless `cache.sections` names fewer) and the values of its io (every param, or only those named
by `cache.io`). The component is taken as written when the operation carries it inline, so a
run's own uuid and paths do not count; a referenced component is taken as compiled, with the
run's uuid masked.

Defaults, as Polyaxon's: on for a run inside a pipeline (a dag's op, a matrix's trial), off for
an independent run and a schedule's runs; `cache.disable` overrides either way. A hit is the
newest succeeded run of the project with the same key, within `cache.ttl` seconds when given,
that was not itself a hit: the run ends `succeeded`, reason `CacheHit`, with that run's outputs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ci.compile.compiler import CompiledRun
from ci.runs import lifecycle
from ci.runs.kinds import CONTROLLERS
from ci.store.db import utcnow
from ci.store.models import Run
from schemas.status import RunStatus

S = RunStatus
# Parents whose children cache by default: a pipeline and a search's trials.
PIPELINES = frozenset({"dag", "matrix"})
SECTIONS = ("init", "connections", "containers")
REFERENCES = ("hubRef", "pathRef", "urlRef", "dagRef")


def policy(spec: dict[str, Any], compiled: CompiledRun) -> dict[str, Any]:
    """The run's `cache:` settings: the operation's over its component's."""
    from_component = compiled.component.get("cache") or {}
    return {**from_component, **(spec.get("cache") or {})}


def enabled(session: Session, run: Run, settings: dict[str, Any]) -> bool:
    if settings.get("disable") is not None:
        return not settings["disable"]
    if run.parent_id is None:
        return False
    parent = session.get(Run, run.parent_id)
    return parent is not None and parent.kind in PIPELINES


def key(run: Run, compiled: CompiledRun, settings: dict[str, Any]) -> str:
    """The hash of what the run would do, as the module docstring says."""
    spec = run.spec or {}
    written = spec.get("component")
    component = written if isinstance(written, dict) else compiled.component
    body = component.get("run") or {}
    sections = settings.get("sections") or SECTIONS
    state: dict[str, Any] = {
        "kind": compiled.kind,
        "references": {name: spec.get(name) for name in REFERENCES if spec.get(name)},
        "presets": spec.get("presets"),
        "runPatch": spec.get("runPatch"),
    }
    if "init" in sections:
        state["init"] = body.get("init")
    if "connections" in sections:
        state["connections"] = body.get("connections")
    if "containers" in sections:
        state["containers"] = list(_containers(body))
    names = settings.get("io") or settings.get("inputs")
    params = compiled.params
    state["io"] = params if names is None else {n: params.get(n) for n in sorted(names)}
    text = json.dumps(state, sort_keys=True, default=str)
    if component is not written:
        text = text.replace(run.uuid, "{{ globals.uuid }}")
    return hashlib.sha256(text.encode()).hexdigest()


def _containers(value: Any) -> Any:
    """Each container of a run (a job's, a service's, every replica's): image, command, args."""
    if isinstance(value, dict):
        for name, item in sorted(value.items()):
            if name == "container" and isinstance(item, dict):
                yield {k: item.get(k) for k in ("image", "command", "args")}
            elif name != "init":
                yield from _containers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _containers(item)


def lookup(session: Session, run: Run, compiled: CompiledRun) -> Run | None:
    """Store the run's cache key; return the run whose results it may reuse, if any. A
    controller (dag, matrix, schedule) is never cached: its children are."""
    settings = policy(run.spec or {}, compiled)
    controller = compiled.kind in CONTROLLERS or (run.spec or {}).get("schedule") is not None
    if settings.get("disable") or controller:
        run.cache_key = None  # disabled: neither reuses nor is reused
        return None
    run.cache_key = key(run, compiled, settings)
    if not enabled(session, run, settings):
        return None
    query = (
        select(Run)
        .where(
            Run.project_id == run.project_id,
            Run.cache_key == run.cache_key,
            Run.status == S.SUCCEEDED,
            Run.id != run.id,
            or_(Run.cloning_kind.is_(None), Run.cloning_kind != "cache"),
        )
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(1)
    )
    if settings.get("ttl") is not None:
        query = query.where(Run.finished_at >= utcnow() - timedelta(seconds=int(settings["ttl"])))
    return session.scalar(query)


def reuse(session: Session, run: Run, original: Run) -> None:
    """End `run` as a cache hit of `original`: succeeded, with its outputs."""
    run.outputs = dict(original.outputs or {})
    run.original_id = original.id
    run.cloning_kind = "cache"
    finished = f"{original.finished_at:%Y-%m-%d %H:%M:%S} UTC" if original.finished_at else "-"
    message = f"reused the outputs of run {original.uuid} ({original.name or '-'}, {finished})"
    lifecycle.transition(session, run, S.SUCCEEDED, "CacheHit", message)
