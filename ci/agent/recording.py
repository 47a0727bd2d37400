"""What a runner observes, recorded as its runs' transitions when it is news.

On start the agent reconciles: a run the database places on the runner whose object the runner
no longer knows was deleted while nobody watched; it fails with reason `Missing` (a run being
stopped is stopped), as Polyaxon does. While a run runs, its logs are followed into the database
when the runner can follow them (`ci.agent.logs_follow`). A finished run's logs are read from
the runner before its row is locked (and kept whole in the artifacts store, as
`logs/attempt-<n>.log`, once its transition commits): a slow read holds up neither the run's row
nor the other runs' transitions. A failure with retries left, on a runner that leaves retries to
the core, is recorded as `retrying` and the run is started again (`ci.runs.retries`). Once a
run's end is recorded, with its logs, the runner is told it may let go of the run's objects
(`recorded`); an end seen again after that (an agent that starts again) tells it once more. A
transition is never timestamped before the one recorded before it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from ci.agent.logs_follow import MAX_LOG_CHARS
from ci.artifacts import store
from ci.runs import lifecycle, retries
from ci.runtime import Runtime
from ci.store.db import after_commit
from ci.store.models import Condition, Run
from runners.base import Observation, Runner
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
S = RunStatus


def apply(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    """Record `observation` as a transition if it is news; returns whether it was."""
    return bool(_apply(rt, runner, observation))


def _apply(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """As `apply`; None when no run has the observation's external id (yet)."""
    logs = None
    if observation.status in DONE:
        # Read before the row is locked: reading may take the runner a while.
        news = _is_news(rt, runner, observation)
        if news is False and _has_ended(rt, runner, observation):
            # Recorded before (by this agent, or one that stopped before it let go).
            _let_go(runner, observation)
        if not news:
            return news
        logs = runner.logs(observation.external_id)
    recorded = _record(rt, runner, observation, logs)
    if recorded and observation.status in DONE:
        _let_go(runner, observation)
    return recorded


def _record(rt: Runtime, runner: Runner, observation: Observation, logs: str | None) -> bool | None:
    # The latest transition's time comes with the locked row: one round trip, not two.
    latest = select(func.max(Condition.at)).where(Condition.run_id == Run.id).scalar_subquery()
    with rt.db.session() as session:
        found = session.execute(
            select(Run, latest)
            .where(Run.runner == runner.name, Run.external_id == observation.external_id)
            .with_for_update(of=Run)
        ).first()
        if found is None:
            return None
        run, last_at = found
        if not _news_for(run, observation):
            return False
        if logs:
            uuid, attempt, text = run.uuid, run.attempt, logs
            after_commit(session, lambda: keep_logs(rt, uuid, attempt, text))
        if logs is not None:
            # A run deleted with its pods has nothing left to read: keep what was followed.
            logs = logs[-MAX_LOG_CHARS:]
            if logs or run.logs is None:
                # PostgreSQL text cannot hold NUL; a job may well print one.
                run.logs = logs.replace("\x00", "\ufffd")
        if retries.due(run, runner, observation):
            retries.retry(session, run, observation)
            return True
        lifecycle.transition(
            session,
            run,
            RunStatus(observation.status),
            observation.reason,
            observation.message,
            _not_before(last_at, observation.at),
        )
        return True


def _not_before(latest: datetime | None, at: datetime | None) -> datetime | None:
    """`at`, or the run's latest transition's time if `at` is earlier: a runner may see a run
    start before the worker that submitted it has recorded `scheduled`, and the history must
    read in the order it was recorded."""
    if at is None or latest is None:
        return at
    return latest if latest > at else at


def _has_ended(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    with rt.db.session() as session:
        status = session.scalar(
            select(Run.status).where(
                Run.runner == runner.name, Run.external_id == observation.external_id
            )
        )
        return status in DONE


def _let_go(runner: Runner, observation: Observation) -> None:
    """Tell the runner the run's end is recorded; a failure only delays the cleanup."""
    try:
        runner.recorded(observation.external_id)
    except Exception:  # the object stays, and the next agent start lets go of it again
        log.warning("letting go of %s failed", observation.external_id, exc_info=True)


def keep_logs(rt: Runtime, uuid: str, attempt: int, text: str) -> None:
    """A finished run's whole logs, kept in the artifacts store beside the database's tail;
    a store that fails loses this copy only."""
    try:
        store.for_settings(rt.settings).put_bytes(
            uuid, f"logs/attempt-{attempt}.log", text.encode(errors="replace")
        )
    except (OSError, store.ArtifactError) as exc:
        log.warning("logs of run %s were not kept in the artifacts store: %s", uuid, exc)


def _is_news(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """Whether the observation would change its run now; None when no run has its id."""
    with rt.db.session() as session:
        run = session.scalar(
            select(Run).where(Run.runner == runner.name, Run.external_id == observation.external_id)
        )
        return None if run is None else _news_for(run, observation)


def _news_for(run: Run, observation: Observation) -> bool:
    if run.status == observation.status:
        return False
    if not lifecycle.can_transition(run.status, observation.status):
        # Observations can arrive late (a `running` after we recorded `stopping`).
        log.debug("run %s: ignoring %s while %s", run.uuid, observation.status, run.status)
        return False
    return True


def reconcile(rt: Runtime, runner: Runner) -> list[str]:
    """End the runs the database places on `runner` whose objects it no longer knows.

    Only for runners that can list what they hold (`known_ids()`). Returns the ids ended.
    """
    with rt.db.session() as session:
        believed = session.execute(
            select(Run.id, Run.external_id).where(
                Run.runner == runner.name,
                Run.status.in_(ON_RUNNER),
                Run.external_id.is_not(None),
            )
        ).all()
    if not believed:
        return []
    # Asked after the query: a run submitted meanwhile had its object before its id was stored.
    known = runner.known_ids()
    if known is None:  # this runner cannot list what it holds
        return []
    ended = []
    for run_id, external_id in believed:
        if external_id not in known and _end_missing(rt, runner, run_id, str(external_id)):
            ended.append(str(external_id))
    return ended


def _end_missing(rt: Runtime, runner: Runner, run_id: int, external_id: str) -> bool:
    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in ON_RUNNER or run.external_id != external_id:
            return False  # it moved on while we looked
        gone = f"{external_id} is no longer on the {runner.name} runner"
        if run.status == S.STOPPING:
            lifecycle.transition(session, run, S.STOPPED, "Stopped", f"{gone}; it was stopped")
        else:
            message = f"{gone}: it was deleted while no agent was watching"
            lifecycle.transition(session, run, S.FAILED, "Missing", message)
        log.warning("run %s: %s", run.uuid, gone)
        return True
