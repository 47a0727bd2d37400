"""A run started by hand from a polyaxonfile (`axon run`, `POST /projects/<p>/runs`), no event.

The document is checked as `axon check` checks it (every problem, with field, line and column)
before anything is stored; the run is then created like a subscription's, without a
subscription or delivery: its event context is `{"kind": "manual", "actor": ...}`. Presets are
applied over the operation here (as `-f` files are), so the stored spec is what runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ci.cli.spec import check_operation, load_text
from ci.compile.patching import dump, patch, with_params
from ci.config import Settings
from ci.runs import kinds, lifecycle, routing
from ci.store.models import Project, Run
from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Operation, load_operation

# Keys of a preset that describe the preset itself rather than what it patches.
_PRESET_ONLY = ("version", "kind", "isPreset", "patchStrategy")
MANUAL = "manual"


@dataclass
class ManualRun:
    """What a user asks to run: a polyaxonfile, presets over it, param values, a name."""

    content: str | bytes | Mapping[str, Any]
    presets: Sequence[str | bytes | Mapping[str, Any]] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    actor: str = "api"


def prepare(
    request: ManualRun, options: Mapping[str, Any], runner: str, settings: Settings | None = None
) -> tuple[dict[str, Any], str]:
    """The operation to store (presets and params applied) and the run's kind.

    Raises SpecErrors naming every problem, as `axon check` would (`options` are how references
    are followed: ci.compile.refs.ref_options), and a run kind `runner` cannot run; with
    `settings`, the runner its queue picks (ci.runs.routing), and a queue none owns.
    """
    op = load_text(_as_text(request.content), "polyaxonfile")
    data = dump(op)
    for index, given in enumerate(request.presets):
        preset = load_text(_as_text(given), f"presets[{index}]", is_preset=True)
        changes = {k: v for k, v in dump(preset).items() if k not in _PRESET_ONLY}
        data = patch(data, changes, preset.patch_strategy or "post_merge")
    data = with_params(data, request.params)
    if request.name:
        data["name"] = request.name
    final = load_operation(data, "polyaxonfile")
    final._source = op._source  # errors still point at the user's lines
    if final.is_preset:
        raise SpecErrors([SpecError("isPreset", "a preset only patches operations; run one")])
    compiled = check_operation(final, **options)
    if settings is not None and compiled:
        try:
            runner = settings.runner_kind(routing.route(settings, compiled[0].queue, runner))
        except routing.RoutingError as exc:
            raise SpecErrors([SpecError("queue", str(exc))]) from exc
    refused = [
        SpecError(kinds.dotted(path), why)
        for run in compiled[:1]
        for path, why in kinds.refusals(runner, run.component, ("component",))
    ]
    if refused:
        raise SpecErrors(refused)
    return data, _kind(final, compiled[0].kind if compiled else "job")


def create(
    session: Session, project: Project, spec: dict[str, Any], kind: str, actor: str, runner: str
) -> Run:
    """A `created` run of `spec` in `project`, started by `actor`; the caller starts it after
    commit (the `axon.start_run` task)."""
    run = Run(
        project_id=project.id,
        name=str(spec.get("name") or (spec.get("component") or {}).get("name") or "run"),
        kind=kind,
        event={"kind": MANUAL, "actor": actor},
        spec=spec,
        runner=runner,
    )
    lifecycle.create(session, run, "ManualRun", f"started by {actor}")
    session.flush()
    return run


def _kind(op: V1Operation, run_kind: str) -> str:
    """What the run is: a controller (matrix, schedule) or what its component runs."""
    if op.matrix is not None:
        return "matrix"
    if op.schedule is not None:
        return "schedule"
    return run_kind


def _as_text(content: str | bytes | Mapping[str, Any]) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    # A parsed document: JSON is YAML, so it loads as the text would.
    return json.dumps(content).encode()
