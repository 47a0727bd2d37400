"""Restart, resume and copy a run, as Polyaxon defines them (`cloning_kind`).

- restart: a new run of the original's operation (the same spec, compiled again against the
  same event), optionally with changed params; it links the original.
- copy: a restart whose artifacts directory (`outputs/`, `artifacts/`) starts as a copy of the
  original's.
- resume: the same run goes on: done -> resuming -> compiled -> queued, one attempt more,
  keeping its artifacts directory; refused while the run is live, and for a controller
  (dag, matrix, schedule), whose ops are resumed one by one instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ci.cli.spec import check_operation
from ci.compile.patching import with_params
from ci.compile.refs import ref_options
from ci.runs import launch, lifecycle
from ci.runs.kinds import CONTROLLERS
from ci.runtime import Runtime
from ci.store.models import Run, new_uuid
from schemas.spec import load_operation
from schemas.status import DONE, RunStatus

RESTART, RESUME, COPY = "restart", "resume", "copy"
# What a run leaves in its directory for the next one: its outputs and its artifacts. The rest
# (the local runner's spec.json, state, logs) belongs to the run that wrote it.
ARTIFACT_DIRS = ("outputs", "artifacts")


class Refused(Exception):
    """A restart, resume or copy that cannot be carried out; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def clone(
    rt: Runtime,
    session: Session,
    original: Run,
    kind: str,
    params: Mapping[str, Any] | None = None,
    actor: str = "api",
) -> Run:
    """A new `created` run restarting (or, with kind "copy", copying) `original`; the caller
    starts it after commit."""
    spec = with_params(dict(original.spec), params or {})
    if params:
        spec = _checked(rt, spec)
    run = Run(
        uuid=new_uuid(),
        project_id=original.project_id,
        name=original.name,
        kind=original.kind,
        # Same subscription: the new run reports where the original did, checks out as it did.
        subscription_id=original.subscription_id,
        delivery_id=original.delivery_id,
        event=dict(original.event or {}),
        spec=spec,
        runner=original.runner,
        original_id=original.id,
        cloning_kind=kind,
    )
    changed = f" with {_shown(params)}" if params else ""
    message = f"{kind} of run {original.uuid}{changed}, by {actor}"
    lifecycle.create(session, run, kind.capitalize(), message)
    session.flush()
    if kind == COPY:
        copy_artifacts(Path(rt.settings.runs_dir), original.uuid, run.uuid)
    return run


def resume(
    rt: Runtime,
    session: Session,
    run: Run,
    params: Mapping[str, Any] | None = None,
    actor: str = "api",
) -> None:
    """Take a finished run back to `compiled` for one attempt more; the caller starts it after
    commit (unless compiling it failed)."""
    if RunStatus(run.status) not in DONE:
        raise Refused(409, f"run {run.uuid} is {run.status}: only a finished run can be resumed")
    if run.kind in CONTROLLERS:
        raise Refused(
            409,
            f"run {run.uuid} is a {run.kind}: a {run.kind} is not resumed as a whole; "
            "resume its ops one by one, or restart it",
        )
    if params:
        run.spec = _checked(rt, with_params(dict(run.spec), params))
    run.attempt = (run.attempt or 0) + 1
    changed = f" with {_shown(params)}" if params else ""
    message = f"resumed by {actor}{changed}: attempt {run.attempt + 1}, artifacts kept"
    lifecycle.transition(session, run, RunStatus.RESUMING, "Resume", message)
    # The runner's job of the last attempt is over; the next one is a job of its own.
    run.external_id = None
    run.logs = None
    launch.compile_run(rt, session, run)


def copy_artifacts(runs_dir: Path, source_uuid: str, target_uuid: str) -> None:
    """Copy the outputs and artifacts of one run's directory into another's."""
    for name in ARTIFACT_DIRS:
        source = runs_dir / source_uuid / name
        if source.is_dir():
            shutil.copytree(source, runs_dir / target_uuid / name, dirs_exist_ok=True)


def _checked(rt: Runtime, spec: dict[str, Any]) -> dict[str, Any]:
    """`spec`, once it compiles as `axon check` compiles it; SpecErrors name each problem."""
    check_operation(load_operation(spec, "spec"), **ref_options(rt.settings))
    return spec


def _shown(params: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in (params or {}).items())
