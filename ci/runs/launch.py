"""Compile a created run, queue it and hand it to its runner; stop it when asked."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from ci.compile import builds
from ci.compile.compiler import CompiledRun, compile_matrix, compile_operation
from ci.compile.refs import ref_options
from ci.connections import mounts as connection_mounts
from ci.runs import (
    approval,
    cache,
    capacity,
    kinds,
    lifecycle,
    pipeline_children,
    presets,
    profiles,
    quotas,
    retries,
    routing,
    searches,
    services,
    upstream,
)
from ci.runtime import Runtime
from ci.schedules import controller as schedule_controller
from ci.store.models import Project, Run
from runners.base import GitCheckout, Runner, RunnerUnavailable, RunSpec
from runners.registry import OUTPUTS_PATHS
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
    # Its project comes in the same statement, held by the run for the whole step: compile_run,
    # the quotas and the runner's spec read it from the session instead of once each; so does
    # its subscription, which the spec reads after compiling: loaded then, it would cost a
    # round trip and flush the compile's writes in round trips of their own. And the presets'
    # version, which the compile's admission would read in a round trip of its own. Only the
    # run's row is locked.
    found = session.execute(_START_ONE, {"run_id": run_id}).first()
    if found is not None:
        profiles.noted(session, found[1])
        _start(rt, session, found[0])


def start_runs(rt: Runtime, session: Session, run_ids: list[int]) -> None:
    """`start_run` for each of `run_ids` (a dag's ops released together), in one transaction:
    their rows locked by one statement, in id order, and what they share (their dag and
    upstreams, the presets' version) read once. Each is judged as `start_run` judges it, in
    turn, so a quota or a queue limit the first ones fill holds the next ones queued."""
    query = (
        select(Run, profiles.VERSION)
        .where(Run.id.in_(sorted(set(run_ids))))
        .order_by(Run.id)
        .options(*_WITH_PROJECT)
        .with_for_update(of=Run)
    )
    found = session.execute(query).all()
    if found:
        profiles.noted(session, found[0][1])
    with _Batch() as batch:
        for run, _version in found:
            _start(rt, session, run, batch)


class _Batch(contextlib.ExitStack):
    """The runners a batch submitted to, each inside its `submitting`: their submits may still be
    in flight until the batch ends, which is before its transaction commits."""

    def __init__(self) -> None:
        super().__init__()
        self.runners: set[int] = set()

    def hold(self, runner: Runner) -> None:
        if id(runner) not in self.runners:
            self.enter_context(runner.submitting())
            self.runners.add(id(runner))


def _start(rt: Runtime, session: Session, run: Run, batch: _Batch | None = None) -> None:
    if run.pending:  # a dag's op waiting for its upstreams, or a run for its approval
        return
    if run.status == S.CREATED:
        compile_run(rt, session, run)
        if run.pending:  # compiled, and now waiting for its approval
            return
    if run.status == S.COMPILED and schedule_controller.is_scheduled(run):
        # An operation's own `schedule:`: its slots' runs are its children; no runner holds it.
        schedule_controller.start(rt, session, run)
        return
    if run.status == S.COMPILED and pipeline_children.is_dag(run):
        # A dag: its ops are its children (ci.runs.pipeline_children); no runner holds it.
        pipeline_children.begin_dag(rt, session, run)
        return
    if retries.waiting(run):
        lifecycle.transition(session, run, S.QUEUED, "Retrying", _attempt(run))
    if run.status not in (S.COMPILED, S.QUEUED):
        return
    runner: Runner | None = None
    try:
        runner = rt.runner(run.runner)
        full = capacity.full(session, runner, run)
        over = None if full else quotas.check(session, run)
        if run.status == S.COMPILED:
            who = approval.approved_by(run)
            approved = f"approved by {who}" if who else ""
            said = over.reason if over else ""
            why = "; ".join(filter(None, (f"runner {run.runner}", approved, full, said)))
            lifecycle.transition(session, run, S.QUEUED, "Queued", why)
        if over and (over.final or quotas.refuses(run)):
            lifecycle.transition(session, run, S.FAILED, "QuotaExceeded", over.reason)
            return
        if full or over:
            capacity.waiting(run, full or (over.reason if over else ""))
            return
        if batch is not None:
            batch.hold(runner)
        run.external_id = runner.submit(_run_spec(rt, session, run))
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


_WITH_PROJECT = (joinedload(Run.project, innerjoin=True),)
# Built once: building it, and its cache key, cost a cold worker more than the round trip.
_START_ONE = (
    select(Run, profiles.VERSION)
    .where(Run.id == bindparam("run_id"))
    .options(*_WITH_PROJECT, joinedload(Run.subscription))
    .with_for_update(of=Run)
)


def _globals(rt: Runtime, run: Run, project: Project) -> dict[str, Any]:
    outputs = Path(rt.settings.runs_dir) / run.uuid / "outputs"
    return {
        "uuid": run.uuid,
        "name": run.name,
        "project_name": project.name,
        "owner_name": project.name,
        # Where the job writes what is collected to `outputs/` when it ends.
        "run_outputs_path": OUTPUTS_PATHS.get(_kind(rt, run)) or str(outputs),
        "run_artifacts_path": str(outputs.parent / "artifacts"),
        "artifacts_path": str(outputs.parent / "artifacts"),
        # Where Axon serves a service run (Polyaxon's name; `AXON_SERVICE_BASE_URL` in its env).
        "base_url": services.base_path(run.uuid).rstrip("/"),
        "created_at": run.created_at.isoformat(),
        "schedule_at": (run.event or {}).get("scheduled_at") or None,
        "iteration": None,
    }


def _kind(rt: Runtime, run: Run) -> str:
    """The runner kind the run's written queue most likely sends it to (routed for sure once
    compiled, when a templated queue is known too)."""
    return rt.settings.runner_kind(routing.likely(rt.settings, run.spec, run.runner))


def compile_run(rt: Runtime, session: Session, run: Run) -> None:
    """Compile a created or held (`on_schedule`) run: compiled, or failed with the errors."""
    project = session.get(Project, run.project_id)
    assert project is not None
    unbuildable = kinds.build_refusal(rt.settings.runner_kind(run.runner), run.spec or {})
    if unbuildable:  # the last guard: refused at creation when the operation could be read
        lifecycle.transition(session, run, S.FAILED, "CompilationError", f"build: {unbuildable}")
        return
    try:
        op = upstream.with_joins(rt, session, run, load_operation(run.spec))
        context, globals_ = {"event": run.event}, _globals(rt, run, project)
        # A pipeline's child reads its upstreams (`refs`); a trial gets its matrix values.
        linked = upstream.compile_options(rt, session, run)
        profile = presets.compile_options(session, project.id)
        scheduled = op.schedule is not None  # a controller: its fired runs make the trials
        if op.matrix is not None and not scheduled and "matrix_values" not in linked:
            # A grid, random or mapping matrix: a controller whose children are its trials.
            options = {**ref_options(rt.settings), **profile, "refs": linked.get("refs") or {}}
            pipeline_children.begin_matrix(rt, session, run, op, context, globals_, options)
            return
        given = {**linked, **ref_options(rt.settings), **profile}
        if scheduled and searches.is_search_matrix(op):  # each fired run is a search
            compiled = searches.first_trial(op, run.id, context=context, globals_=globals_, **given)
        elif scheduled:  # its matrix is checked here, whole; each fired run expands it again
            compiled = compile_matrix(op, context=context, globals_=globals_, **given)[0]
        else:
            compiled = compile_operation(op, context=context, globals_=globals_, **given)
        holds = upstream.condition_holds(op, compiled, linked.get("refs") or {})
    except (SpecError, SpecErrors) as exc:
        lifecycle.transition(session, run, S.FAILED, "CompilationError", str(exc))
        return
    if not holds:
        why = f"conditions {op.conditions!r} rendered false"
        lifecycle.transition(session, run, S.SKIPPED, "ConditionFalse", why)
        return
    try:  # the queue picks the runner configuration (several clusters: ci.runs.routing)
        run.runner = routing.route(rt.settings, compiled.queue, run.runner)
    except routing.RoutingError as exc:
        lifecycle.transition(session, run, S.FAILED, "CompilationError", f"queue: {exc}")
        return
    runner_kind = rt.settings.runner_kind(run.runner)
    if runner_kind not in kinds.BUILDERS and builds.is_build_pipeline(compiled.component):
        # A build its component asked for (a hubRef or pathRef one), seen only once resolved.
        said = kinds.build_refusal(runner_kind, {"build": True})
        lifecycle.transition(session, run, S.FAILED, "CompilationError", f"build: {said}")
        return
    run.compiled = _as_json(compiled)
    run.inputs = dict(compiled.inputs)
    refused = kinds.refusal(rt.settings.runner_kind(run.runner), compiled.kind)
    if refused:  # the last guard: refused at creation when the component could be read
        lifecycle.transition(session, run, S.FAILED, "CompilationError", f"run.kind: {refused}")
        return
    # A field the runner would have to ignore (a volume mount on the local runner) is refused.
    # A connection the project has is mounted by any runner; other names are the runner's.
    carried = connection_mounts.without_known(session, project.id, compiled.component)
    refused = kinds.field_refusal(rt.settings.runner_kind(run.runner), compiled.kind, carried)
    if refused:
        lifecycle.transition(session, run, S.FAILED, "CompilationError", refused)
        return
    lifecycle.transition(session, run, S.COMPILED, "Compiled", f"image {compiled.image or '-'}")
    hit = cache.lookup(session, run, compiled)
    if hit is not None:
        cache.reuse(session, run, hit)
    elif approval.required(run.spec or {}, compiled.component):
        approval.hold(run)


def _attempt(run: Run) -> str:
    return f"attempt {run.attempt + 1} of {retries.max_retries(run) + 1}"


def _as_json(compiled: CompiledRun) -> dict[str, Any]:
    data = asdict(compiled)
    data["command"] = list(compiled.command)
    return data


def _run_spec(rt: Runtime, session: Session, run: Run) -> RunSpec:
    compiled = run.compiled or {}
    env = dict(compiled.get("env") or {})
    env.update(
        AXON_RUN_UUID=run.uuid,
        AXON_RUN_NAME=run.name,
        AXON_API_URL=rt.settings.public_url,
        AXON_RUN_TOKEN=rt.run_token(run.uuid),
    )
    if services.facts(compiled) is not None:
        env[services.BASE_URL_VARIABLE] = services.base_path(run.uuid).rstrip("/")
    event = run.event or {}
    # A pipeline's op has no subscription: its pipeline kept the subscription's choice in meta.
    checkout = (
        run.subscription.spec.get("checkout", True)
        if run.subscription
        else (run.meta or {}).get("checkout", True)
    )
    git = None
    if checkout and event.get("clone_url") and event.get("sha"):
        git = GitCheckout(url=event["clone_url"], sha=event["sha"], ref=event.get("ref", ""))
    component, mounts = connection_mounts.resolve(
        rt, session, run.project_id, compiled.get("component") or {}
    )
    return RunSpec(
        uuid=run.uuid,
        name=run.name,
        project=run.project.name,
        command=list(compiled.get("command") or []),
        image=compiled.get("image") or "",
        env=env,
        timeout=compiled.get("timeout"),
        git=git,
        component=component,
        attempt=run.attempt,
        mounts=mounts,
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
    run.pending = None  # a stopped run waits for nothing: not its upstreams, not an approval
    lifecycle.transition(session, run, S.STOPPED, "StopRequested", f"{why}; before it started")
    return False


def stop_run(rt: Runtime, session: Session, run_id: int) -> None:
    run = session.get(Run, run_id)
    if run is None or run.status != S.STOPPING or not run.external_id:
        return
    rt.runner(run.runner).cancel(run.external_id)
