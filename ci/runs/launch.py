"""Compile a created run, queue it and hand it to its runner; stop it when asked."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ci.compile.compiler import CompiledRun, compile_operation
from ci.compile.refs import ref_options
from ci.runs import capacity, lifecycle
from ci.runtime import Runtime
from ci.store.models import Project, Run
from runners.base import GitCheckout, Runner, RunnerUnavailable, RunSpec
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
S = RunStatus


def start_run(rt: Runtime, session: Session, run_id: int) -> None:
    """Take the run as far as it can go: created → compiled → queued → scheduled.

    Each step checks where an earlier attempt got to, so a retried task resumes there. A run
    whose queue is full stays queued; `ci.runs.capacity` sends its start again when room frees up.
    """
    run = session.get(Run, run_id, with_for_update=True)
    if run is None:
        return
    if run.status == S.CREATED:
        compile_run(rt, session, run)
    if run.status not in (S.COMPILED, S.QUEUED):
        return
    runner: Runner | None = None
    try:
        runner = rt.runner(run.runner)
        full = capacity.full(session, runner, run)
        if run.status == S.COMPILED:
            why = "; ".join(filter(None, (f"runner {run.runner}", full)))
            lifecycle.transition(session, run, S.QUEUED, "Queued", why)
        if full:
            capacity.waiting(run, full)
            return
        run.external_id = runner.submit(_run_spec(rt, run))
    except RunnerUnavailable:
        raise
    except Exception as exc:
        if runner is not None and isinstance(exc, runner.transient_errors):
            raise
        # Retrying cannot fix a refused spec or an unknown runner: say why, where users look.
        log.exception("run %s could not be submitted", run.uuid)
        lifecycle.transition(session, run, S.FAILED, "SubmitFailed", f"{type(exc).__name__}: {exc}")
        return
    lifecycle.transition(session, run, S.SCHEDULED, "Submitted", f"{run.runner}: {run.external_id}")


def _globals(rt: Runtime, run: Run, project: Project) -> dict[str, Any]:
    outputs = Path(rt.settings.runs_dir) / run.uuid / "outputs"
    return {
        "uuid": run.uuid,
        "name": run.name,
        "project_name": project.name,
        "owner_name": project.name,
        "run_outputs_path": str(outputs),
        "run_artifacts_path": str(outputs.parent / "artifacts"),
        "artifacts_path": str(outputs.parent / "artifacts"),
        "created_at": run.created_at.isoformat(),
        "schedule_at": (run.event or {}).get("scheduled_at") or None,
        "iteration": None,
    }


def compile_run(rt: Runtime, session: Session, run: Run) -> None:
    """Compile a created or held (`on_schedule`) run: compiled, or failed with the errors."""
    project = session.get(Project, run.project_id)
    assert project is not None
    try:
        compiled = compile_operation(
            load_operation(run.spec),
            context={"event": run.event},
            globals_=_globals(rt, run, project),
            **ref_options(rt.settings),
        )
    except (SpecError, SpecErrors) as exc:
        lifecycle.transition(session, run, S.FAILED, "CompilationError", str(exc))
        return
    run.compiled = _as_json(compiled)
    run.inputs = dict(compiled.inputs)
    lifecycle.transition(session, run, S.COMPILED, "Compiled", f"image {compiled.image or '-'}")


def _as_json(compiled: CompiledRun) -> dict[str, Any]:
    data = asdict(compiled)
    data["command"] = list(compiled.command)
    return data


def _run_spec(rt: Runtime, run: Run) -> RunSpec:
    compiled = run.compiled or {}
    env = dict(compiled.get("env") or {})
    env.update(
        AXON_RUN_UUID=run.uuid,
        AXON_RUN_NAME=run.name,
        AXON_API_URL=rt.settings.public_url,
        AXON_RUN_TOKEN=rt.run_token(run.uuid),
    )
    event = run.event or {}
    checkout = run.subscription.spec.get("checkout", True) if run.subscription else True
    git = None
    if checkout and event.get("clone_url") and event.get("sha"):
        git = GitCheckout(url=event["clone_url"], sha=event["sha"], ref=event.get("ref", ""))
    return RunSpec(
        uuid=run.uuid,
        name=run.name,
        project=run.project.name,
        command=list(compiled.get("command") or []),
        image=compiled.get("image") or "",
        env=env,
        timeout=compiled.get("timeout"),
        git=git,
        component=compiled.get("component") or {},
    )


def request_stop(session: Session, run: Run, why: str = "stop requested") -> bool:
    """Stop `run`: at once if no runner holds it, else mark it stopping for `stop_run`.

    `why` lands in the run's own history (who asked, or what superseded it). Returns whether a
    runner must be told (the caller enqueues stop_run after commit).
    """
    status = RunStatus(run.status)
    if status in DONE or status == S.STOPPING:
        return False
    if status in ON_RUNNER and run.external_id:
        lifecycle.transition(session, run, S.STOPPING, "StopRequested", why)
        return True
    lifecycle.transition(session, run, S.STOPPED, "StopRequested", f"{why}; before it started")
    return False


def stop_run(rt: Runtime, session: Session, run_id: int) -> None:
    run = session.get(Run, run_id)
    if run is None or run.status != S.STOPPING or not run.external_id:
        return
    rt.runner(run.runner).cancel(run.external_id)
